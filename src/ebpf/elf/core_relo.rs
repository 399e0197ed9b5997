//! CO-RE relocations (`.BTF.ext`), resolved against a kernel's BTF as
//! libbpf resolves them when it loads an object (its `relo_core.c`): each
//! record names an instruction, a local type and an access string
//! (`0:1:2`: a pointer index, then member and element indices); the
//! kernel's types with the same essential name (the part before a last
//! `___flavour`) are the candidates; the named fields and array indices
//! of the access are matched in each, and the instruction's immediate or
//! offset becomes the kernel's value (a field's offset, size, existence,
//! signedness or bit-field shifts; a type's existence, size or id; an
//! enumerator's existence or value). All candidates that match must agree.
//! What cannot be resolved becomes libbpf's poisoned call (helper
//! 0xbad2310), which the verifier refuses only if a run can reach it.
//!
//! Only the kernel's own BTF is searched (libbpf falls back to modules'
//! BTF when it has no candidate there).

use std::collections::HashMap;

use super::btf::{
    Btf, CoreRelo, ARRAY, ENUM, ENUM64, FLOAT, FUNC_PROTO, FWD, INT, PTR, STRUCT, UNION,
};
use super::ElfError;
use crate::ebpf::insn::{op, Insn};
use crate::ebpf::semantics;

/// The helper id libbpf writes into an instruction it could not relocate
/// (`0xbad2310`, "bad relo"); the kernel refuses the call if reached:
/// `invalid func unknown#195896080`.
pub const POISONED_CALL: i32 = 0x0bad_2310;

/// Why a poisoned call a run can reach is refused: the kernel's words,
/// then what they mean here; with the `relocation` that poisoned it (as
/// [`ObjectProgram::poisoned_relocation`] describes it) named as libbpf
/// names it when it rewrites the kernel's log.
///
/// [`ObjectProgram::poisoned_relocation`]: super::ObjectProgram::poisoned_relocation
pub fn poisoned_call_refusal(relocation: Option<&str>) -> String {
    match relocation {
        Some(relocation) => format!(
            "invalid func unknown#{POISONED_CALL}: failed to resolve CO-RE relocation \
             {relocation} (libbpf's poisoned call)"
        ),
        None => format!(
            "invalid func unknown#{POISONED_CALL}: a CO-RE relocation that found nothing in \
             the kernel's types (libbpf's poisoned call)"
        ),
    }
}

/// libbpf's `BPF_CORE_SPEC_MAX_LEN`.
const SPEC_MAX_LEN: usize = 64;

// Relocation kinds (`enum bpf_core_relo_kind`).
const FIELD_BYTE_OFFSET: u32 = 0;
const FIELD_BYTE_SIZE: u32 = 1;
const FIELD_EXISTS: u32 = 2;
const FIELD_SIGNED: u32 = 3;
const FIELD_LSHIFT_U64: u32 = 4;
const FIELD_RSHIFT_U64: u32 = 5;
const TYPE_ID_LOCAL: u32 = 6;
const TYPE_ID_TARGET: u32 = 7;
const TYPE_EXISTS: u32 = 8;
const TYPE_SIZE: u32 = 9;
const ENUMVAL_EXISTS: u32 = 10;
const ENUMVAL_VALUE: u32 = 11;
const TYPE_MATCHES: u32 = 12;

fn kind_name(kind: u32) -> &'static str {
    match kind {
        FIELD_BYTE_OFFSET => "byte_off",
        FIELD_BYTE_SIZE => "byte_sz",
        FIELD_EXISTS => "field_exists",
        FIELD_SIGNED => "signed",
        FIELD_LSHIFT_U64 => "lshift_u64",
        FIELD_RSHIFT_U64 => "rshift_u64",
        TYPE_ID_LOCAL => "local_type_id",
        TYPE_ID_TARGET => "target_type_id",
        TYPE_EXISTS => "type_exists",
        TYPE_SIZE => "type_size",
        ENUMVAL_EXISTS => "enumval_exists",
        ENUMVAL_VALUE => "enumval_value",
        TYPE_MATCHES => "type_matches",
        _ => "unknown",
    }
}

fn field_based(kind: u32) -> bool {
    kind <= FIELD_RSHIFT_U64
}

fn type_based(kind: u32) -> bool {
    matches!(
        kind,
        TYPE_ID_LOCAL | TYPE_ID_TARGET | TYPE_EXISTS | TYPE_SIZE | TYPE_MATCHES
    )
}

fn enumval_based(kind: u32) -> bool {
    matches!(kind, ENUMVAL_EXISTS | ENUMVAL_VALUE)
}

/// The length of a name without its flavour: `task_struct___old` is
/// `task_struct` (a last `X___Y` with X and Y not underscores).
fn essential_len(name: &[u8]) -> usize {
    let n = name.len();
    for i in (0..n.saturating_sub(4)).rev() {
        if name[i] != b'_' && &name[i + 1..i + 4] == b"___" && name[i + 4] != b'_' {
            return i + 1;
        }
    }
    n
}

fn essential(name: &[u8]) -> &[u8] {
    &name[..essential_len(name)]
}

fn is_composite(btf: &Btf<'_>, id: u32) -> Result<bool, ElfError> {
    Ok(matches!(btf.kind(id)?, STRUCT | UNION))
}

fn is_enum(kind: u32) -> bool {
    kind == ENUM || kind == ENUM64
}

/// libbpf's `btf_kind_core_compat`: the same kind, or two enums.
fn kinds_compatible(a: u32, b: u32) -> bool {
    a == b || (is_enum(a) && is_enum(b))
}

/// One step of an access: a named member, or an array index.
#[derive(Clone, Copy, Debug)]
struct Accessor<'a> {
    /// The struct (for a member) or element type.
    type_id: u32,
    idx: u32,
    name: Option<&'a [u8]>,
}

/// An access in one BTF: its named steps, the raw indices, and the bit
/// offset they reach.
#[derive(Clone, Debug, Default)]
struct Spec<'a> {
    root: u32,
    accessors: Vec<Accessor<'a>>,
    raw: Vec<u32>,
    bit_offset: u64,
}

/// The result for one relocation: the value the compiler wrote (checked
/// against the instruction), the target's, and the memory sizes for loads
/// and stores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Resolution {
    orig: u64,
    new: u64,
    poison: bool,
    validate: bool,
    orig_size: u32,
    new_size: u32,
    orig_type: u32,
    new_type: u32,
    /// The load or store would change size on a field that is not an
    /// unsigned integer or a pointer: the instruction is poisoned.
    bad_resize: bool,
}

/// Why a relocation failed: libbpf refuses the object.
type Failure = String;

/// Parses the access string of `relo` against the local BTF (libbpf's
/// `bpf_core_parse_spec`).
fn parse_spec<'a>(local: &Btf<'a>, relo: &CoreRelo) -> Result<Spec<'a>, Failure> {
    let text = local.str_at(relo.access_str_off);
    let access = std::str::from_utf8(text).map_err(|_| "an access string that is not text")?;
    let mut spec = Spec {
        root: relo.type_id,
        ..Spec::default()
    };
    if access.is_empty() || access.starts_with(':') {
        return Err(format!("the access string '{access}' is malformed"));
    }
    if type_based(relo.kind) {
        if access != "0" {
            return Err(format!(
                "the access string of a type relocation is '{access}', not '0'"
            ));
        }
        return Ok(spec);
    }
    for part in access.split(':') {
        let idx: u32 = part
            .parse()
            .ok()
            .filter(|&i| i <= i32::MAX as u32)
            .ok_or_else(|| format!("the access string '{access}' is malformed"))?;
        if spec.raw.len() == SPEC_MAX_LEN {
            return Err(format!("the access string '{access}' is too long"));
        }
        spec.raw.push(idx);
    }
    let e = |e: ElfError| e.0;
    let mut id = local.skip_mods_and_typedefs(relo.type_id).map_err(e)?;
    let first = spec.raw[0];
    spec.accessors.push(Accessor {
        type_id: id,
        idx: first,
        name: None,
    });
    if enumval_based(relo.kind) {
        if !is_enum(local.kind(id).map_err(e)?)
            || spec.raw.len() > 1
            || first >= local.vlen(id).map_err(e)?
        {
            return Err(format!(
                "an enumerator relocation with access '{access}' on a type that is not such an \
                 enum"
            ));
        }
        let (name_off, _) = local.enumerator(id, first).map_err(e)?;
        spec.accessors[0].name = Some(local.str_at(name_off));
        return Ok(spec);
    }
    if !field_based(relo.kind) {
        return Err(format!("unknown relocation kind {}", relo.kind));
    }
    let size = local.size_of(id).map_err(e)?;
    spec.bit_offset = u64::from(first) * size * 8;
    for i in 1..spec.raw.len() {
        id = local.skip_mods_and_typedefs(id).map_err(e)?;
        let idx = spec.raw[i];
        if is_composite(local, id).map_err(e)? {
            if idx >= local.vlen(id).map_err(e)? {
                return Err(format!("access '{access}': member {idx} does not exist"));
            }
            let m = local.member(id, idx).map_err(e)?;
            spec.bit_offset += u64::from(m.bit_offset);
            if m.name_off != 0 {
                let name = local.str_at(m.name_off);
                if name.is_empty() {
                    return Err(format!("access '{access}': member {idx} has no name"));
                }
                spec.accessors.push(Accessor {
                    type_id: id,
                    idx,
                    name: Some(name),
                });
            }
            id = m.type_id;
        } else if local.kind(id).map_err(e)? == ARRAY {
            let (elem, n) = local.array(id).map_err(e)?;
            let parent = spec.accessors.last().copied();
            let flex = is_flex_array(local, parent, n).map_err(e)?;
            id = local.skip_mods_and_typedefs(elem).map_err(e)?;
            if !flex && idx >= n {
                return Err(format!("access '{access}': index {idx} past the array"));
            }
            spec.accessors.push(Accessor {
                type_id: id,
                idx,
                name: None,
            });
            spec.bit_offset += u64::from(idx) * local.size_of(id).map_err(e)? * 8;
        } else {
            return Err(format!(
                "access '{access}' (at step {i}) reaches type {id}, neither a struct, a union \
                 nor an array"
            ));
        }
    }
    Ok(spec)
}

/// libbpf's `is_flex_arr`: an array of no elements that is the last
/// member of the struct named by `parent`.
fn is_flex_array(btf: &Btf<'_>, parent: Option<Accessor<'_>>, n: u32) -> Result<bool, ElfError> {
    let Some(acc) = parent.filter(|a| a.name.is_some() && n == 0) else {
        return Ok(false);
    };
    Ok(acc.idx + 1 == btf.vlen(acc.type_id)?)
}

/// libbpf's `bpf_core_fields_are_compat`.
fn fields_compatible(
    local: &Btf<'_>,
    mut local_id: u32,
    target: &Btf<'_>,
    mut target_id: u32,
) -> Result<bool, ElfError> {
    for _ in 0..SPEC_MAX_LEN {
        local_id = local.skip_mods_and_typedefs(local_id)?;
        target_id = target.skip_mods_and_typedefs(target_id)?;
        if is_composite(local, local_id)? && is_composite(target, target_id)? {
            return Ok(true);
        }
        let (lk, tk) = (local.kind(local_id)?, target.kind(target_id)?);
        if !kinds_compatible(lk, tk) {
            return Ok(false);
        }
        return match lk {
            PTR | FLOAT => Ok(true),
            FWD | ENUM | ENUM64 => {
                let (ln, tn) = (
                    essential(local.name(local_id)?),
                    essential(target.name(target_id)?),
                );
                Ok(ln.is_empty() || tn.is_empty() || ln == tn)
            }
            INT => Ok((local.int_data(local_id)? >> 16) & 0xff == 0
                && (target.int_data(target_id)? >> 16) & 0xff == 0),
            ARRAY => {
                local_id = local.array(local_id)?.0;
                target_id = target.array(target_id)?.0;
                continue;
            }
            _ => Ok(false),
        };
    }
    Err(ElfError("arrays nested too deep".into()))
}

/// libbpf's `bpf_core_match_member`: finds the local accessor's member by
/// name in `target_id`, through anonymous members, extending `spec`;
/// returns the member's type when found and compatible.
fn match_member<'t>(
    local: &Btf<'_>,
    local_acc: &Accessor<'_>,
    target: &Btf<'t>,
    target_id: u32,
    spec: &mut Spec<'t>,
    depth: usize,
) -> Result<Option<u32>, ElfError> {
    let target_id = target.skip_mods_and_typedefs(target_id)?;
    if !is_composite(target, target_id)? || depth > SPEC_MAX_LEN {
        return Ok(None);
    }
    let local_member = local.member(local_acc.type_id, local_acc.idx)?;
    let local_name = local.str_at(local_member.name_off);
    for i in 0..target.vlen(target_id)? {
        let m = target.member(target_id, i)?;
        if spec.raw.len() == SPEC_MAX_LEN {
            return Err(ElfError("the access nests too deep".into()));
        }
        spec.bit_offset += u64::from(m.bit_offset);
        spec.raw.push(i);
        let name = target.str_at(m.name_off);
        if name.is_empty() {
            // An anonymous struct or union: look inside.
            let found = match_member(local, local_acc, target, m.type_id, spec, depth + 1)?;
            if found.is_some() {
                return Ok(found);
            }
        } else if name == local_name {
            if !fields_compatible(local, local_member.type_id, target, m.type_id)? {
                return Ok(None);
            }
            spec.accessors.push(Accessor {
                type_id: target_id,
                idx: i,
                name: Some(name),
            });
            return Ok(Some(m.type_id));
        }
        spec.bit_offset -= u64::from(m.bit_offset);
        spec.raw.pop();
    }
    Ok(None)
}

/// libbpf's `bpf_core_spec_match`: the local access in the candidate
/// `target_id`, or `None` when it does not match.
fn match_spec<'t>(
    local: &Btf<'_>,
    local_spec: &Spec<'_>,
    kind: u32,
    target: &Btf<'t>,
    target_id: u32,
) -> Result<Option<Spec<'t>>, ElfError> {
    let mut spec = Spec {
        root: target_id,
        ..Spec::default()
    };
    if type_based(kind) {
        let matched = if kind == TYPE_MATCHES {
            types_match(local, local_spec.root, target, target_id, false, 32)?
        } else {
            types_compatible(local, local_spec.root, target, target_id, 32)?
        };
        return Ok(matched.then_some(spec));
    }
    if enumval_based(kind) {
        let id = target.skip_mods_and_typedefs(target_id)?;
        if !is_enum(target.kind(id)?) {
            return Ok(None);
        }
        let want = essential(local_spec.accessors[0].name.unwrap_or(&[]));
        for i in 0..target.vlen(id)? {
            let name = target.str_at(target.enumerator(id, i)?.0);
            if essential(name) == want {
                spec.accessors.push(Accessor {
                    type_id: id,
                    idx: i,
                    name: Some(name),
                });
                spec.raw.push(i);
                return Ok(Some(spec));
            }
        }
        return Ok(None);
    }
    let mut id = target_id;
    for (i, acc) in local_spec.accessors.iter().enumerate() {
        id = target.skip_mods_and_typedefs(id)?;
        if acc.name.is_some() {
            match match_member(local, acc, target, id, &mut spec, 0)? {
                Some(next) => id = next,
                None => return Ok(None),
            }
        } else {
            // The first accessor indexes the root itself (a pointer).
            if i > 0 {
                if target.kind(id)? != ARRAY {
                    return Ok(None);
                }
                let (elem, n) = target.array(id)?;
                let flex = is_flex_array(target, spec.accessors.last().copied(), n)?;
                if !flex && acc.idx >= n {
                    return Ok(None);
                }
                id = target.skip_mods_and_typedefs(elem)?;
            }
            if spec.raw.len() == SPEC_MAX_LEN {
                return Err(ElfError("the access nests too deep".into()));
            }
            spec.accessors.push(Accessor {
                type_id: id,
                idx: acc.idx,
                name: None,
            });
            spec.raw.push(acc.idx);
            spec.bit_offset += u64::from(acc.idx) * target.size_of(id)? * 8;
        }
    }
    Ok(Some(spec))
}

/// libbpf's `bpf_core_types_are_compat` (type-based relocations).
fn types_compatible(
    local: &Btf<'_>,
    local_id: u32,
    target: &Btf<'_>,
    target_id: u32,
    level: i32,
) -> Result<bool, ElfError> {
    if !kinds_compatible(local.kind(local_id)?, target.kind(target_id)?) {
        return Ok(false);
    }
    let (mut l, mut t) = (local_id, target_id);
    for _ in 0..32 {
        l = local.skip_mods_and_typedefs(l)?;
        t = target.skip_mods_and_typedefs(t)?;
        let (lk, tk) = (local.kind(l)?, target.kind(t)?);
        if !kinds_compatible(lk, tk) {
            return Ok(false);
        }
        match lk {
            0 | STRUCT | UNION | ENUM | FWD | ENUM64 => return Ok(true),
            INT => {
                return Ok((local.int_data(l)? >> 16) & 0xff == 0
                    && (target.int_data(t)? >> 16) & 0xff == 0)
            }
            PTR => {
                l = local.size_or_type(l)?;
                t = target.size_or_type(t)?;
            }
            ARRAY => {
                l = local.array(l)?.0;
                t = target.array(t)?.0;
            }
            FUNC_PROTO => {
                let n = local.vlen(l)?;
                if n != target.vlen(t)? {
                    return Ok(false);
                }
                for i in 0..n {
                    if level <= 0 {
                        return Err(ElfError("function types nested too deep".into()));
                    }
                    let lp = local.skip_mods_and_typedefs(local.param_type(l, i)?)?;
                    let tp = target.skip_mods_and_typedefs(target.param_type(t, i)?)?;
                    if !types_compatible(local, lp, target, tp, level - 1)? {
                        return Ok(false);
                    }
                }
                l = local.size_or_type(l)?;
                t = target.size_or_type(t)?;
            }
            _ => return Ok(false),
        }
    }
    Err(ElfError("types nested too deep".into()))
}

/// libbpf's `bpf_core_names_match`.
fn names_match(local: &Btf<'_>, local_off: u32, target: &Btf<'_>, target_off: u32) -> bool {
    let (l, t) = (local.str_at(local_off), target.str_at(target_off));
    if t.is_empty() {
        return l.is_empty();
    }
    essential(l) == essential(t)
}

/// libbpf's `__bpf_core_types_match` (`TYPE_MATCHES`).
fn types_match(
    local: &Btf<'_>,
    local_id: u32,
    target: &Btf<'_>,
    target_id: u32,
    mut behind_ptr: bool,
    level: i32,
) -> Result<bool, ElfError> {
    if level <= 0 {
        return Err(ElfError("types nested too deep".into()));
    }
    let (mut l, mut t) = (local_id, target_id);
    for _ in 0..32 {
        l = local.skip_mods_and_typedefs(l)?;
        t = target.skip_mods_and_typedefs(t)?;
        if !names_match(local, local.name_off(l)?, target, target.name_off(t)?) {
            return Ok(false);
        }
        let (lk, tk) = (local.kind(l)?, target.kind(t)?);
        match lk {
            0 => return Ok(tk == 0),
            FWD => {
                let lf = local.kflag(l)?;
                return Ok(if behind_ptr && lk != tk {
                    (tk == STRUCT && !lf) || (tk == UNION && lf)
                } else {
                    lk == tk && lf == target.kflag(t)?
                });
            }
            ENUM | ENUM64 => {
                if !is_enum(tk) || local.size_or_type(l)? != target.size_or_type(t)? {
                    return Ok(false);
                }
                let tn = target.vlen(t)?;
                if local.vlen(l)? > tn {
                    return Ok(false);
                }
                for i in 0..local.vlen(l)? {
                    let ln = local.enumerator(l, i)?.0;
                    let mut found = false;
                    for j in 0..tn {
                        if names_match(local, ln, target, target.enumerator(t, j)?.0) {
                            found = true;
                            break;
                        }
                    }
                    if !found {
                        return Ok(false);
                    }
                }
                return Ok(true);
            }
            STRUCT | UNION => {
                if behind_ptr {
                    if lk == tk {
                        return Ok(true);
                    }
                    return Ok(tk == FWD && (lk == UNION) == target.kflag(t)?);
                }
                if lk != tk {
                    return Ok(false);
                }
                let tn = target.vlen(t)?;
                if local.vlen(l)? > tn {
                    return Ok(false);
                }
                for i in 0..local.vlen(l)? {
                    let lm = local.member(l, i)?;
                    let mut found = false;
                    for j in 0..tn {
                        let tm = target.member(t, j)?;
                        if names_match(local, lm.name_off, target, tm.name_off)
                            && types_match(
                                local,
                                lm.type_id,
                                target,
                                tm.type_id,
                                behind_ptr,
                                level - 1,
                            )?
                        {
                            found = true;
                            break;
                        }
                    }
                    if !found {
                        return Ok(false);
                    }
                }
                return Ok(true);
            }
            INT => {
                if lk != tk {
                    return Ok(false);
                }
                let signed = |d: u32| (d >> 24) & 1;
                return Ok(local.size_or_type(l)? == target.size_or_type(t)?
                    && signed(local.int_data(l)?) == signed(target.int_data(t)?));
            }
            PTR => {
                if lk != tk {
                    return Ok(false);
                }
                behind_ptr = true;
                l = local.size_or_type(l)?;
                t = target.size_or_type(t)?;
            }
            ARRAY => {
                if lk != tk || local.array(l)?.1 != target.array(t)?.1 {
                    return Ok(false);
                }
                l = local.array(l)?.0;
                t = target.array(t)?.0;
            }
            FUNC_PROTO => {
                let n = local.vlen(l)?;
                if lk != tk || n != target.vlen(t)? {
                    return Ok(false);
                }
                for i in 0..n {
                    let (lp, tp) = (local.param_type(l, i)?, target.param_type(t, i)?);
                    if !types_match(local, lp, target, tp, behind_ptr, level - 1)? {
                        return Ok(false);
                    }
                }
                l = local.size_or_type(l)?;
                t = target.size_or_type(t)?;
            }
            _ => return Ok(false),
        }
    }
    Err(ElfError("types nested too deep".into()))
}

/// A field relocation's value in one BTF (libbpf's
/// `bpf_core_calc_field_relo`): `None` asks for the instruction to be
/// poisoned. Also the memory size a load of the field takes and its type,
/// and whether the compiler's value can be checked.
struct FieldValue {
    value: u64,
    size: u32,
    type_id: u32,
    validate: bool,
}

fn field_value(
    btf: &Btf<'_>,
    kind: u32,
    spec: Option<&Spec<'_>>,
) -> Result<Option<FieldValue>, Failure> {
    let e = |e: ElfError| e.0;
    if kind == FIELD_EXISTS {
        return Ok(Some(FieldValue {
            value: u64::from(spec.is_some()),
            size: 0,
            type_id: 0,
            validate: true,
        }));
    }
    let Some(spec) = spec else {
        return Ok(None);
    };
    let acc = spec.accessors.last().copied().ok_or("an empty access")?;
    // Element size of a (possibly multi-dimensional) array, or the size.
    let elem_size = |id: u32| -> Result<u64, ElfError> {
        let mut t = btf.skip_mods_and_typedefs(id)?;
        for _ in 0..SPEC_MAX_LEN {
            if btf.kind(t)? != ARRAY {
                break;
            }
            t = btf.skip_mods_and_typedefs(btf.array(t)?.0)?;
        }
        btf.size_of(t)
    };
    if acc.name.is_none() {
        // An array element (`a[n]`).
        let (value, size, type_id) = match kind {
            FIELD_BYTE_OFFSET => (
                spec.bit_offset / 8,
                elem_size(acc.type_id).map_err(e)?,
                acc.type_id,
            ),
            FIELD_BYTE_SIZE => (btf.size_of(acc.type_id).map_err(e)?, 0, 0),
            _ => {
                return Err(format!(
                    "a {} relocation cannot be applied to an array element",
                    kind_name(kind)
                ))
            }
        };
        return Ok(Some(FieldValue {
            value,
            size: size as u32,
            type_id,
            validate: true,
        }));
    }
    let m = btf.member(acc.type_id, acc.idx).map_err(e)?;
    let field_type = btf.skip_mods_and_typedefs(m.type_id).map_err(e)?;
    let bit_off = spec.bit_offset;
    let bitfield = m.bitfield_size > 0;
    let (byte_off, byte_size, bit_size) = if bitfield {
        let bit_size = u64::from(m.bitfield_size);
        let mut byte_size = u64::from(btf.size_or_type(field_type).map_err(e)?);
        if byte_size == 0 {
            return Err("a bit-field of a type without size".into());
        }
        let mut byte_off = bit_off / 8 / byte_size * byte_size;
        while bit_off + bit_size - byte_off * 8 > byte_size * 8 {
            if byte_size >= 8 {
                return Err("a bit-field that no 64-bit load can read".into());
            }
            byte_size *= 2;
            byte_off = bit_off / 8 / byte_size * byte_size;
        }
        (byte_off, byte_size, bit_size)
    } else {
        let size = btf.size_of(field_type).map_err(e)?;
        (bit_off / 8, size, size * 8)
    };
    let mut out = FieldValue {
        value: 0,
        size: 0,
        type_id: 0,
        // Bit-fields' placement is ambiguous between compilers.
        validate: !bitfield,
    };
    match kind {
        FIELD_BYTE_OFFSET => {
            out.value = byte_off;
            if !bitfield {
                out.size = elem_size(field_type).map_err(e)? as u32;
                out.type_id = field_type;
            }
        }
        FIELD_BYTE_SIZE => out.value = byte_size,
        FIELD_SIGNED => {
            let k = btf.kind(field_type).map_err(e)?;
            out.value = u64::from(
                (is_enum(k) && btf.kflag(field_type).map_err(e)?)
                    || (k == INT && (btf.int_data(field_type).map_err(e)? >> 24) & 1 == 1),
            );
            out.validate = true;
        }
        FIELD_LSHIFT_U64 => out.value = 64 - (bit_off + bit_size - byte_off * 8),
        FIELD_RSHIFT_U64 => {
            out.value = 64 - bit_size;
            out.validate = true;
        }
        _ => return Err(format!("unknown relocation kind {kind}")),
    }
    Ok(Some(out))
}

/// libbpf's `bpf_core_calc_relo`: the local and target values of one
/// relocation (`target` `None`: no candidate matched).
fn resolve_values(
    local: &Btf<'_>,
    target: &Btf<'_>,
    relo: &CoreRelo,
    local_spec: &Spec<'_>,
    target_spec: Option<&Spec<'_>>,
) -> Result<Resolution, Failure> {
    let e = |e: ElfError| e.0;
    let mut res = Resolution {
        validate: true,
        ..Resolution::default()
    };
    let kind = relo.kind;
    if field_based(kind) {
        let orig = field_value(local, kind, Some(local_spec))?
            .ok_or("the local access does not resolve")?;
        res.orig = orig.value;
        res.orig_size = orig.size;
        res.orig_type = orig.type_id;
        res.validate = orig.validate;
        match field_value(target, kind, target_spec)? {
            None => res.poison = true,
            Some(new) => {
                res.new = new.value;
                res.new_size = new.size;
                res.new_type = new.type_id;
                if res.orig_size != res.new_size {
                    // Only pointers and unsigned integers can be read at
                    // another width.
                    let unsigned_int = |btf: &Btf<'_>, id: u32| -> Result<bool, ElfError> {
                        Ok(btf.kind(id)? == INT && (btf.int_data(id)? >> 24) & 1 == 0)
                    };
                    let both_ptrs = local.kind(res.orig_type).map_err(e)? == PTR
                        && target.kind(res.new_type).map_err(e)? == PTR;
                    let both_unsigned = unsigned_int(local, res.orig_type).map_err(e)?
                        && unsigned_int(target, res.new_type).map_err(e)?;
                    res.bad_resize = !both_ptrs && !both_unsigned;
                }
            }
        }
    } else if type_based(kind) {
        res.orig = match kind {
            TYPE_ID_TARGET => u64::from(local_spec.root),
            TYPE_EXISTS | TYPE_MATCHES => 1,
            TYPE_SIZE => local.size_of(local_spec.root).map_err(e)?,
            _ => return Err(format!("unknown relocation kind {kind}")),
        };
        res.new = match target_spec {
            None => 0,
            Some(spec) => match kind {
                TYPE_ID_TARGET => u64::from(spec.root),
                TYPE_EXISTS | TYPE_MATCHES => 1,
                _ => target.size_of(spec.root).map_err(e)?,
            },
        };
        // A type id may change when objects are linked: not checked.
        res.validate = kind != TYPE_ID_TARGET;
    } else {
        let value = |btf: &Btf<'_>, spec: &Spec<'_>| -> Result<u64, ElfError> {
            let acc = spec.accessors[0];
            let (_, v) = btf.enumerator(acc.type_id, acc.idx)?;
            // A 32-bit enumerator is read as libbpf reads it, signed
            // (`btf_enum.val` is an `__s32`), whatever the enum's sign.
            Ok(if btf.kind(acc.type_id)? == ENUM {
                v as u32 as i32 as i64 as u64
            } else {
                v
            })
        };
        match kind {
            ENUMVAL_EXISTS => {
                res.orig = 1;
                res.new = u64::from(target_spec.is_some());
            }
            _ => {
                res.orig = value(local, local_spec).map_err(e)?;
                match target_spec {
                    Some(spec) => res.new = value(target, spec).map_err(e)?,
                    None => res.poison = true,
                }
            }
        }
    }
    Ok(res)
}

/// Resolves every CO-RE relocation of `section`'s instruction slots
/// against `target` and patches the slots as libbpf patches them; the
/// local types are `local`'s. `candidates` caches the target types per
/// local root type, across sections. Returns what was done to each slot.
pub(super) fn relocate_section(
    section: &str,
    slots: &mut [Insn],
    relos: &[CoreRelo],
    local: &Btf<'_>,
    target: &Btf<'_>,
    candidates: &mut HashMap<u32, Vec<u32>>,
) -> Result<Vec<CoreRelocation>, ElfError> {
    let mut applied = Vec::with_capacity(relos.len());
    for (n, relo) in relos.iter().enumerate() {
        let pc = relo.insn_off as usize / 8;
        let fail = |what: String| {
            ElfError(format!(
                "section '{section}', instruction {pc}: CO-RE relocation #{n} ({}): {what}",
                kind_name(relo.kind)
            ))
        };
        if relo.insn_off % 8 != 0 || pc >= slots.len() {
            return Err(fail(format!(
                "byte offset {} is not an instruction of the section",
                relo.insn_off
            )));
        }
        let res = resolve(local, target, relo, candidates).map_err(|w| {
            let name = local
                .name(relo.type_id)
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .unwrap_or_default();
            fail(format!("type {} '{name}': {w}", relo.type_id))
        })?;
        // What the instruction held, as libbpf's log shows it.
        let held = match slots[pc] {
            i if i.is_lddw() => i.imm64(slots.get(pc + 1)),
            i if matches!(i.class(), op::LDX | op::ST | op::STX) => i64::from(i.off) as u64,
            i => i64::from(i.imm) as u64,
        };
        let poisoned = patch(slots, pc, &res).map_err(fail)?;
        // (Parsed again: resolve() keeps no spec.)
        let spec = parse_spec(local, relo).map_err(fail)?;
        applied.push(CoreRelocation {
            section: section.to_string(),
            insn: pc,
            spec: describe(local, relo, &spec).map_err(|e| fail(e.0))?,
            patched: (!poisoned).then_some((held, res.new)),
        });
    }
    Ok(applied)
}

/// What resolving one CO-RE relocation did to its instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreRelocation {
    /// The instruction's section.
    pub section: String,
    /// Its slot in the section.
    pub insn: usize,
    /// The relocation as libbpf's debug log describes it: its kind, the
    /// local type, the access and its offset in the local type, e.g.
    /// `<byte_off> [7] struct eth.proto (0:2 @ offset 12)`.
    pub spec: String,
    /// The value the instruction held (the immediate, a load or store's
    /// offset, an `lddw`'s 64 bits; negative ones as 64-bit two's
    /// complement) and the resolved value that replaced it, as libbpf's
    /// log shows them; `None`: nothing matched, the instruction is
    /// libbpf's poisoned call ([`POISONED_CALL`]).
    pub patched: Option<(u64, u64)>,
}

/// A relocation in libbpf's words (`bpf_core_format_spec`): its kind, the
/// local root type, then the enumerator and its value, or the named
/// fields and array indices with the access string and the local bit
/// offset, e.g. `<byte_off> [7] struct eth.proto (0:2 @ offset 12)`.
fn describe(local: &Btf<'_>, relo: &CoreRelo, spec: &Spec<'_>) -> Result<String, ElfError> {
    use std::fmt::Write;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let root = spec.root;
    let name = local.name(root)?;
    let mut out = format!(
        "<{}> [{root}] {} {}",
        kind_name(relo.kind),
        super::btf::kind_str(local.kind(root)?),
        if name.is_empty() {
            "<anon>".to_string()
        } else {
            text(name)
        }
    );
    if enumval_based(relo.kind) {
        let id = local.skip_mods_and_typedefs(root)?;
        let (name_off, value) = local.enumerator(id, spec.raw[0])?;
        let value = match (local.kind(id)? == ENUM, local.kflag(id)?) {
            (true, true) => (value as u32 as i32).to_string(),
            (true, false) => (value as u32).to_string(),
            (false, true) => (value as i64).to_string(),
            (false, false) => value.to_string(),
        };
        let _ = write!(out, "::{} = {value}", text(local.str_at(name_off)));
    } else if field_based(relo.kind) {
        for (i, acc) in spec.accessors.iter().enumerate() {
            match acc.name {
                Some(name) => {
                    let _ = write!(out, ".{}", text(name));
                }
                None if i > 0 || acc.idx > 0 => {
                    let _ = write!(out, "[{}]", acc.idx);
                }
                None => {}
            }
        }
        let raw: Vec<String> = spec.raw.iter().map(u32::to_string).collect();
        let _ = write!(out, " ({} @ offset {}", raw.join(":"), spec.bit_offset / 8);
        if !spec.bit_offset.is_multiple_of(8) {
            let _ = write!(out, ".{}", spec.bit_offset % 8);
        }
        out.push(')');
    }
    Ok(out)
}

/// libbpf's `bpf_core_calc_relo_insn`: the resolution of one relocation.
fn resolve(
    local: &Btf<'_>,
    target: &Btf<'_>,
    relo: &CoreRelo,
    candidates: &mut HashMap<u32, Vec<u32>>,
) -> Result<Resolution, Failure> {
    let e = |e: ElfError| e.0;
    let local_spec = parse_spec(local, relo)?;
    if relo.kind == TYPE_ID_LOCAL {
        return Ok(Resolution {
            orig: u64::from(relo.type_id),
            new: u64::from(relo.type_id),
            validate: false,
            ..Resolution::default()
        });
    }
    let local_name = local.name(relo.type_id).map_err(e)?;
    if local_name.is_empty() {
        return Err("a relocation against an anonymous type".into());
    }
    let cands = match candidates.entry(relo.type_id) {
        std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
        std::collections::hash_map::Entry::Vacant(v) => {
            v.insert(find_candidates(local, relo.type_id, target).map_err(e)?)
        }
    };
    let mut kept = Vec::new();
    let mut chosen: Option<(Resolution, u64)> = None;
    for &cand in cands.iter() {
        let Some(spec) = match_spec(local, &local_spec, relo.kind, target, cand).map_err(e)? else {
            continue;
        };
        let res = resolve_values(local, target, relo, &local_spec, Some(&spec))?;
        match &chosen {
            None => chosen = Some((res, spec.bit_offset)),
            Some((_, bits)) if *bits != spec.bit_offset => {
                return Err(format!(
                    "field offset ambiguity: {} != {bits} bits between candidates",
                    spec.bit_offset
                ))
            }
            Some((first, _)) if first.poison != res.poison || first.new != res.new => {
                return Err(format!(
                    "relocation decision ambiguity: {} != {} between candidates",
                    res.new, first.new
                ))
            }
            Some(_) => {}
        }
        kept.push(cand);
    }
    // (libbpf keeps only the candidates that matched for this type's
    // later relocations, when any did.)
    if !kept.is_empty() {
        candidates.insert(relo.type_id, kept);
    }
    match chosen {
        Some((res, _)) => Ok(res),
        None => resolve_values(local, target, relo, &local_spec, None),
    }
}

/// The target's types with the essential name and a compatible kind of
/// local type `id` (libbpf's `bpf_core_add_cands`).
fn find_candidates(local: &Btf<'_>, id: u32, target: &Btf<'_>) -> Result<Vec<u32>, ElfError> {
    let kind = local.kind(id)?;
    let name = essential(local.name(id)?);
    let mut found = Vec::new();
    for t in 1..target.len() {
        if !kinds_compatible(target.kind(t)?, kind) {
            continue;
        }
        // (Most names differ in their first bytes: rejected before the
        // name's length is found; a kernel has some 150,000 types.)
        if !target.name_starts_with(t, name)? {
            continue;
        }
        let tn = target.name(t)?;
        if !tn.is_empty() && essential(tn) == name {
            found.push(t);
        }
    }
    Ok(found)
}

/// Patches the instruction at `pc` (libbpf's `bpf_core_patch_insn`);
/// true when it was poisoned.
fn patch(slots: &mut [Insn], pc: usize, res: &Resolution) -> Result<bool, String> {
    let insn = slots[pc];
    let poison = |slots: &mut [Insn]| {
        if slots[pc].is_lddw() && pc + 1 < slots.len() {
            slots[pc + 1] = poisoned_call();
        }
        slots[pc] = poisoned_call();
        true
    };
    if res.poison {
        return Ok(poison(slots));
    }
    match insn.class() {
        op::ALU | op::ALU64 => {
            if insn.is_src_reg() {
                return Err("an ALU instruction with a register operand".into());
            }
            if res.validate && i64::from(insn.imm) as u64 != res.orig {
                return Err(format!(
                    "the instruction holds {}, not the expected {}",
                    insn.imm, res.orig
                ));
            }
            slots[pc].imm = res.new as i32;
        }
        op::LDX | op::ST | op::STX => {
            if res.validate && i64::from(insn.off) as u64 != res.orig {
                return Err(format!(
                    "the instruction's offset is {}, not the expected {}",
                    insn.off, res.orig
                ));
            }
            if res.new > i16::MAX as u64 {
                return Err(format!(
                    "offset {} does not fit an instruction's 16 bits",
                    res.new
                ));
            }
            if res.bad_resize {
                // libbpf: "accesses field incorrectly": poisoned.
                return Ok(poison(slots));
            }
            slots[pc].off = res.new as i16;
            if res.new_size != res.orig_size {
                let bytes = semantics::size_bytes(insn.size_field());
                if bytes != res.orig_size as usize {
                    return Err(format!(
                        "a {bytes}-byte access where the field has {} bytes",
                        res.orig_size
                    ));
                }
                let size = match res.new_size {
                    4 => op::W,
                    2 => op::H,
                    1 => op::B,
                    8 => op::DW,
                    n => return Err(format!("the kernel's field has {n} bytes")),
                };
                slots[pc].opc = (insn.opc & !insn.size_field()) | size;
            }
        }
        op::LD if insn.is_lddw() => {
            let next = slots.get(pc + 1).copied();
            let Some(next) = next.filter(|n| {
                insn.src == 0
                    && insn.off == 0
                    && n.opc == 0
                    && n.dst == 0
                    && n.src == 0
                    && n.off == 0
            }) else {
                return Err("an lddw of an unexpected form".into());
            };
            let imm = insn.imm64(Some(&next));
            if res.validate && imm != res.orig {
                return Err(format!(
                    "the instruction holds {imm}, not the expected {}",
                    res.orig
                ));
            }
            slots[pc].imm = res.new as u32 as i32;
            slots[pc + 1].imm = (res.new >> 32) as u32 as i32;
        }
        _ => {
            return Err(format!(
                "an instruction (opcode {:#04x}) that CO-RE cannot patch",
                insn.opc
            ))
        }
    }
    Ok(false)
}

/// libbpf's poisoned instruction: a call of helper 0xbad2310.
fn poisoned_call() -> Insn {
    Insn::new(op::JMP | op::CALL, 0, 0, 0, POISONED_CALL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavours_are_cut_at_the_last_triple_underscore_between_names() {
        let cut = |n: &str| String::from_utf8(essential(n.as_bytes()).to_vec()).unwrap();
        assert_eq!(cut("task_struct___old"), "task_struct");
        assert_eq!(cut("sk_buff___a___b"), "sk_buff___a");
        assert_eq!(cut("sk_buff"), "sk_buff");
        // Not a flavour: underscores on either side, or at the start.
        assert_eq!(cut("foo____bar"), "foo____bar");
        assert_eq!(cut("foo___"), "foo___");
        assert_eq!(cut("___bar"), "___bar");
        assert_eq!(cut("a___b"), "a");
        assert_eq!(cut(""), "");
    }

    #[test]
    fn patches_check_what_the_compiler_wrote() {
        let alu = Insn {
            opc: 0xb7,
            dst: 1,
            src: 0,
            off: 0,
            imm: 8,
        };
        let res = Resolution {
            orig: 8,
            new: 176,
            validate: true,
            ..Resolution::default()
        };
        let mut slots = [alu];
        assert_eq!(patch(&mut slots, 0, &res), Ok(false));
        assert_eq!(slots[0].imm, 176);
        // The instruction no longer holds the local value: refused.
        assert_eq!(
            patch(&mut slots, 0, &res),
            Err("the instruction holds 176, not the expected 8".into())
        );
        // A load of a u64 field that is a u32 in the kernel: offset and
        // size change.
        let ldx = Insn {
            opc: 0x79,
            dst: 7,
            src: 1,
            off: 8,
            imm: 0,
        };
        let mut slots = [ldx];
        let res = Resolution {
            orig: 8,
            new: 0,
            validate: true,
            orig_size: 8,
            new_size: 4,
            ..Resolution::default()
        };
        assert_eq!(patch(&mut slots, 0, &res), Ok(false));
        assert_eq!((slots[0].opc, slots[0].off), (0x61, 0));
        // A signed field read at another width: poisoned, as libbpf does.
        let mut slots = [ldx];
        let res = Resolution {
            bad_resize: true,
            ..res
        };
        assert_eq!(patch(&mut slots, 0, &res), Ok(true));
        assert_eq!((slots[0].opc, slots[0].imm), (0x85, POISONED_CALL));
        // An lddw is poisoned in both slots.
        let lddw = Insn {
            opc: 0x18,
            dst: 1,
            src: 0,
            off: 0,
            imm: 1,
        };
        let mut slots = [lddw, Insn::default()];
        let poison = Resolution {
            poison: true,
            ..Resolution::default()
        };
        assert_eq!(patch(&mut slots, 0, &poison), Ok(true));
        assert!(slots.iter().all(|i| i.imm == POISONED_CALL));
        // Offsets past 16 bits, and jumps, are refused.
        let mut slots = [ldx];
        let far = Resolution {
            orig: 8,
            new: 40_000,
            validate: true,
            ..Resolution::default()
        };
        assert!(patch(&mut slots, 0, &far).unwrap_err().contains("16 bits"));
        let mut slots = [Insn { opc: 0x05, ..ldx }];
        assert!(patch(&mut slots, 0, &far)
            .unwrap_err()
            .contains("cannot patch"));
    }
}
