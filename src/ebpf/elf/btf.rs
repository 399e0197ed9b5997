//! BTF, read as the kernel documents it (Documentation/bpf/btf.rst): a
//! header, then type records, then strings. One reader for the object's
//! own `.BTF` (the map definitions of a `.maps` section, which
//! libbpf-style objects declare as BTF: `__uint(type, BPF_MAP_TYPE_HASH)`
//! is a member `int (*type)[1]`, `__type(key, T)` a member `T *key`; the
//! local types of CO-RE relocations) and for a kernel's
//! (`/sys/kernel/btf/vmlinux`, the targets of those relocations,
//! `elf/core.rs`). Records are indexed, not copied: a kernel's BTF holds
//! some 150,000 types. Every malformed record is an error naming its type
//! id. And of `.BTF.ext`, the CO-RE relocation records.

use super::ElfError;

pub(super) const MAGIC: u16 = 0xeb9f;

// Type kinds (`BTF_KIND_*`).
pub(super) const INT: u32 = 1;
pub(super) const PTR: u32 = 2;
pub(super) const ARRAY: u32 = 3;
pub(super) const STRUCT: u32 = 4;
pub(super) const UNION: u32 = 5;
pub(super) const ENUM: u32 = 6;
pub(super) const FWD: u32 = 7;
pub(super) const TYPEDEF: u32 = 8;
pub(super) const VOLATILE: u32 = 9;
pub(super) const CONST: u32 = 10;
pub(super) const RESTRICT: u32 = 11;
pub(super) const FUNC: u32 = 12;
pub(super) const FUNC_PROTO: u32 = 13;
pub(super) const VAR: u32 = 14;
pub(super) const DATASEC: u32 = 15;
pub(super) const FLOAT: u32 = 16;
pub(super) const DECL_TAG: u32 = 17;
pub(super) const TYPE_TAG: u32 = 18;
pub(super) const ENUM64: u32 = 19;

/// A kind's name as libbpf prints it (`btf_kind_str`).
pub(super) fn kind_str(kind: u32) -> &'static str {
    const NAMES: [&str; 20] = [
        "[UNKNOWN]",
        "int",
        "ptr",
        "array",
        "struct",
        "union",
        "enum",
        "fwd",
        "typedef",
        "volatile",
        "const",
        "restrict",
        "func",
        "func_proto",
        "var",
        "datasec",
        "float",
        "decl_tag",
        "type_tag",
        "enum64",
    ];
    NAMES.get(kind as usize).copied().unwrap_or("[UNKNOWN]")
}

/// How deep chains of types are followed (libbpf's `MAX_RESOLVE_DEPTH`
/// is 32; a longer chain is malformed or hostile).
const MAX_DEPTH: usize = 64;

/// A `.maps` entry: the variable's name, its offset as the DATASEC gives
/// it (0 in objects before loading), and its fields by name.
pub(super) type BtfMap = (String, u32, Vec<(String, u64)>);

/// The types of a BTF blob, by id (id 0 is `void`), read in place.
pub(super) struct Btf<'a> {
    /// What the blob is, for errors (`.BTF`, a file's path).
    label: &'a str,
    types: &'a [u8],
    strings: &'a [u8],
    /// Where each type's record starts in `types` (index = id; 0 unused).
    starts: Vec<u32>,
}

/// A member of a struct or union.
#[derive(Clone, Copy, Debug)]
pub(super) struct Member {
    pub name_off: u32,
    pub type_id: u32,
    /// Bit offset from the start of the struct.
    pub bit_offset: u32,
    /// Bit-field size (0: not a bit-field).
    pub bitfield_size: u32,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// One CO-RE relocation record of `.BTF.ext` (libbpf's `bpf_core_relo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct CoreRelo {
    /// Byte offset of the instruction in its section.
    pub insn_off: u32,
    /// The local root type.
    pub type_id: u32,
    /// The access string's offset in `.BTF`'s strings.
    pub access_str_off: u32,
    /// `BPF_CORE_*`.
    pub kind: u32,
}

/// The CO-RE relocations of one section: its name's offset in `.BTF`'s
/// strings, and its records.
pub(super) type CoreSection = (u32, Vec<CoreRelo>);

/// The CO-RE relocation records of a `.BTF.ext` section, per program
/// section (libbpf's `btf_ext_header`: magic 0xeb9f, the header's length
/// at byte 4, and from 32-byte headers on, the records' offset past the
/// header and length at bytes 24 and 28; the records are a record size,
/// then per program section its name and count and that many records).
/// An error names the byte of the section that is wrong, as libbpf
/// refuses such an object.
pub(super) fn core_relocations(ext: &[u8]) -> Result<Vec<CoreSection>, ElfError> {
    let bad = |at: usize, what: &str| ElfError(format!("section '.BTF.ext', byte {at}: {what}"));
    let word = |at: usize| {
        u32_at(ext, at)
            .map(|v| v as usize)
            .ok_or_else(|| bad(at, "past the end of the section"))
    };
    if ext.get(..2) != Some(&MAGIC.to_le_bytes()) {
        return Err(bad(0, "not BTF.ext (magic 0xeb9f, little-endian)"));
    }
    let header = word(4)?;
    if header < 32 {
        return Ok(Vec::new());
    }
    let (off, len) = (word(24)?, word(28)?);
    if len == 0 {
        return Ok(Vec::new());
    }
    let start = header
        .checked_add(off)
        .filter(|s| s.checked_add(len).is_some_and(|e| e <= ext.len()))
        .ok_or_else(|| bad(28, "CO-RE relocations past the end of the section"))?;
    let end = start + len;
    // (As libbpf: the record size must lie inside the part itself.)
    if len < 4 {
        return Err(bad(
            28,
            "CO-RE relocations too short to hold their record size",
        ));
    }
    let record = word(start)?;
    // libbpf: at least its own record's 16 bytes, in whole words.
    if record < 16 || record % 4 != 0 {
        return Err(bad(
            start,
            &format!("CO-RE relocation records of size {record} (at least 16, in whole words)"),
        ));
    }
    let mut at = start + 4;
    let mut sections = Vec::new();
    while at < end {
        if at + 8 > end {
            return Err(bad(at, "a CO-RE relocation section header cut short"));
        }
        let name = word(at)? as u32;
        let n = word(at + 4)?;
        let records = n
            .checked_mul(record)
            .filter(|&b| (at + 8).checked_add(b).is_some_and(|e| e <= end))
            .ok_or_else(|| bad(at + 4, &format!("{n} CO-RE relocations past their end")))?;
        let relos = (0..n)
            .map(|i| {
                let r = at + 8 + i * record;
                Ok(CoreRelo {
                    insn_off: word(r)? as u32,
                    type_id: word(r + 4)? as u32,
                    access_str_off: word(r + 8)? as u32,
                    kind: word(r + 12)? as u32,
                })
            })
            .collect::<Result<Vec<_>, ElfError>>()?;
        sections.push((name, relos));
        at += 8 + records;
    }
    Ok(sections)
}

/// The number of CO-RE relocation records in a `.BTF.ext` section.
#[cfg(test)]
fn core_relocation_count(ext: &[u8]) -> Result<usize, ElfError> {
    Ok(core_relocations(ext)?.iter().map(|(_, r)| r.len()).sum())
}

impl<'a> Btf<'a> {
    /// Indexes the BTF blob `bytes`; `label` names it in errors.
    pub(super) fn parse(bytes: &'a [u8], label: &'a str) -> Result<Btf<'a>, ElfError> {
        let bad = |what: &str| ElfError(format!("{label}: {what}"));
        if bytes.len() < 24 || u16::from_le_bytes([bytes[0], bytes[1]]) != MAGIC {
            return Err(bad("byte 0: no BTF header (magic 0xeb9f, little-endian)"));
        }
        let hdr_len = u32_at(bytes, 4).unwrap_or(0) as usize;
        let field = |i: usize| u32_at(bytes, 8 + 4 * i).unwrap_or(0) as usize;
        let (type_off, type_len, str_off, str_len) = (field(0), field(1), field(2), field(3));
        let types_at = hdr_len
            .checked_add(type_off)
            .ok_or_else(|| bad("type offset"))?;
        let strs_at = hdr_len
            .checked_add(str_off)
            .ok_or_else(|| bad("string offset"))?;
        let types = types_at
            .checked_add(type_len)
            .and_then(|end| bytes.get(types_at..end))
            .ok_or_else(|| bad("the type section runs past the end"))?;
        let strings = strs_at
            .checked_add(str_len)
            .and_then(|end| bytes.get(strs_at..end))
            .ok_or_else(|| bad("the string section runs past the end"))?;
        let mut starts = vec![0u32];
        let mut at = 0;
        while at < types.len() {
            let id = starts.len();
            let info =
                u32_at(types, at + 4).ok_or_else(|| bad(&format!("type {id} is cut short")))?;
            let (kind, vlen) = ((info >> 24) & 0x1f, (info & 0xffff) as usize);
            let extra = match kind {
                INT | VAR | DECL_TAG => 4,
                PTR | FWD | TYPEDEF | VOLATILE | CONST | RESTRICT | FUNC | FLOAT | TYPE_TAG => 0,
                ARRAY => 12,
                STRUCT | UNION | DATASEC | ENUM64 => 12 * vlen,
                ENUM | FUNC_PROTO => 8 * vlen,
                k => return Err(bad(&format!("type {id} has unknown kind {k}"))),
            };
            let next = at + 12 + extra;
            if next > types.len() {
                return Err(bad(&format!("type {id} is cut short")));
            }
            starts.push(at as u32);
            at = next;
        }
        Ok(Btf {
            label,
            types,
            strings,
            starts,
        })
    }

    /// How many ids there are (`void` included).
    pub(super) fn len(&self) -> u32 {
        self.starts.len() as u32
    }

    fn bad(&self, what: String) -> ElfError {
        ElfError(format!("{}: {what}", self.label))
    }

    /// Word `i` of type `id`'s record (0: name, 1: info, 2: size or type,
    /// then its kind's own words).
    #[inline]
    fn word(&self, id: u32, i: usize) -> Result<u32, ElfError> {
        let start = *self
            .starts
            .get(id as usize)
            .filter(|_| id != 0)
            .ok_or_else(|| self.bad(format!("type {id} does not exist")))?;
        u32_at(self.types, start as usize + 4 * i)
            .ok_or_else(|| self.bad(format!("type {id} is cut short")))
    }

    /// Type `id`'s kind (`void`, id 0, is kind 0).
    #[inline]
    pub(super) fn kind(&self, id: u32) -> Result<u32, ElfError> {
        if id == 0 {
            return Ok(0);
        }
        Ok((self.word(id, 1)? >> 24) & 0x1f)
    }

    /// Members, enumerators or parameters of type `id`.
    pub(super) fn vlen(&self, id: u32) -> Result<u32, ElfError> {
        if id == 0 {
            return Ok(0);
        }
        Ok(self.word(id, 1)? & 0xffff)
    }

    /// The kind flag (bit-field offsets; a union forward declaration; a
    /// signed enum).
    pub(super) fn kflag(&self, id: u32) -> Result<bool, ElfError> {
        Ok(id != 0 && self.word(id, 1)? >> 31 == 1)
    }

    /// `size` or `type`, by kind.
    pub(super) fn size_or_type(&self, id: u32) -> Result<u32, ElfError> {
        if id == 0 {
            return Ok(0);
        }
        self.word(id, 2)
    }

    /// The name's offset in the strings (0 for `void`).
    #[inline]
    pub(super) fn name_off(&self, id: u32) -> Result<u32, ElfError> {
        if id == 0 {
            return Ok(0);
        }
        self.word(id, 0)
    }

    /// The string at `off` (empty past the strings).
    pub(super) fn str_at(&self, off: u32) -> &'a [u8] {
        let s = self.strings.get(off as usize..).unwrap_or(&[]);
        &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())]
    }

    /// Type `id`'s name.
    pub(super) fn name(&self, id: u32) -> Result<&'a [u8], ElfError> {
        Ok(self.str_at(self.name_off(id)?))
    }

    /// Whether type `id`'s name starts with `prefix`.
    #[inline]
    pub(super) fn name_starts_with(&self, id: u32, prefix: &[u8]) -> Result<bool, ElfError> {
        let off = self.name_off(id)? as usize;
        // (The first byte alone rejects most names without a call.)
        let s = self.strings.get(off..).unwrap_or(&[]);
        Ok(s.first() == prefix.first() && s.starts_with(prefix))
    }

    /// An INT's encoding word: encoding in bits 24–27 (1: signed), bit
    /// offset in bits 16–23, bits in 0–7.
    pub(super) fn int_data(&self, id: u32) -> Result<u32, ElfError> {
        self.word(id, 3)
    }

    /// An ARRAY's element type and element count.
    pub(super) fn array(&self, id: u32) -> Result<(u32, u32), ElfError> {
        Ok((self.word(id, 3)?, self.word(id, 5)?))
    }

    /// Member `i` of a STRUCT or UNION.
    pub(super) fn member(&self, id: u32, i: u32) -> Result<Member, ElfError> {
        let w = 3 + 3 * i as usize;
        let offset = self.word(id, w + 2)?;
        let (bit_offset, bitfield_size) = if self.kflag(id)? {
            (offset & 0x00ff_ffff, offset >> 24)
        } else {
            (offset, 0)
        };
        Ok(Member {
            name_off: self.word(id, w)?,
            type_id: self.word(id, w + 1)?,
            bit_offset,
            bitfield_size,
        })
    }

    /// Entry `i` of a DATASEC: (variable type, offset).
    fn datasec_entry(&self, id: u32, i: u32) -> Result<(u32, u32), ElfError> {
        let w = 3 + 3 * i as usize;
        Ok((self.word(id, w)?, self.word(id, w + 1)?))
    }

    /// Enumerator `i` of an ENUM or ENUM64: its name's offset and value
    /// (an ENUM's as the 32 bits read, sign-extended when the enum is
    /// signed, as libbpf widens it).
    pub(super) fn enumerator(&self, id: u32, i: u32) -> Result<(u32, u64), ElfError> {
        if self.kind(id)? == ENUM64 {
            let w = 3 + 3 * i as usize;
            let (lo, hi) = (self.word(id, w + 1)?, self.word(id, w + 2)?);
            return Ok((self.word(id, w)?, u64::from(lo) | u64::from(hi) << 32));
        }
        let w = 3 + 2 * i as usize;
        Ok((self.word(id, w)?, u64::from(self.word(id, w + 1)?)))
    }

    /// Parameter `i`'s type of a FUNC_PROTO.
    pub(super) fn param_type(&self, id: u32, i: u32) -> Result<u32, ElfError> {
        self.word(id, 3 + 2 * i as usize + 1)
    }

    /// `id` with typedefs and qualifiers looked through.
    pub(super) fn skip_mods_and_typedefs(&self, mut id: u32) -> Result<u32, ElfError> {
        for _ in 0..MAX_DEPTH {
            match self.kind(id)? {
                TYPEDEF | VOLATILE | CONST | RESTRICT | TYPE_TAG => id = self.size_or_type(id)?,
                _ => return Ok(id),
            }
        }
        Err(self.bad(format!("type {id}: a chain of typedefs too long")))
    }

    /// The size in bytes of type `id` (libbpf's `btf__resolve_size`).
    pub(super) fn size_of(&self, id: u32) -> Result<u64, ElfError> {
        let (mut id, mut factor) = (id, 1u64);
        for _ in 0..MAX_DEPTH {
            let size = match self.kind(id)? {
                INT | STRUCT | UNION | ENUM | ENUM64 | FLOAT | DATASEC => self.size_or_type(id)?,
                PTR => 8,
                TYPEDEF | VOLATILE | CONST | RESTRICT | TYPE_TAG | VAR | DECL_TAG => {
                    id = self.size_or_type(id)?;
                    continue;
                }
                ARRAY => {
                    let (elem, n) = self.array(id)?;
                    factor = factor
                        .checked_mul(u64::from(n))
                        .filter(|&f| f <= u64::from(u32::MAX))
                        .ok_or_else(|| self.bad(format!("type {id}: an array over 4 GiB")))?;
                    id = elem;
                    continue;
                }
                k => {
                    return Err(self.bad(format!(
                        "type {id} ('{}', kind {k}) has no size",
                        String::from_utf8_lossy(self.name(id)?)
                    )))
                }
            };
            return u64::from(size)
                .checked_mul(factor)
                .filter(|&s| s <= u64::from(u32::MAX))
                .ok_or_else(|| self.bad(format!("type {id}: a size over 4 GiB")));
        }
        Err(self.bad(format!("type {id}: a chain of types too long")))
    }

    /// The map definitions of the `.maps` data section: (variable name,
    /// offset in the section, fields by name → value).
    /// A map definition's `__uint`/`__type` fields by name; `values`
    /// gives `values_offset` (where its initialisers are), and when it is
    /// `__array(values, struct …)` of a map of maps (`outer`), the inner
    /// map's fields prefixed `inner.`.
    fn map_fields(&self, map: &str, def: u32, outer: bool) -> Result<Vec<(String, u64)>, ElfError> {
        let mut fields = Vec::new();
        for i in 0..self.vlen(def)? {
            let m = self.member(def, i)?;
            let name = String::from_utf8_lossy(self.str_at(m.name_off)).into_owned();
            let t = self.skip_mods_and_typedefs(m.type_id)?;
            if name == "values" && self.kind(t)? == ARRAY {
                fields.push(("values_offset".to_string(), u64::from(m.bit_offset / 8)));
                let elem = self.skip_mods_and_typedefs(self.array(t)?.0)?;
                if self.kind(elem)? == PTR && outer {
                    let inner = self.skip_mods_and_typedefs(self.size_or_type(elem)?)?;
                    if self.kind(inner)? == STRUCT {
                        let inner = self.map_fields(&format!("{map}'s inner map"), inner, false)?;
                        fields.extend(inner.into_iter().map(|(n, v)| (format!("inner.{n}"), v)));
                    }
                }
                continue;
            }
            if self.kind(t)? != PTR {
                return Err(ElfError(format!(
                    "map '{map}': field '{name}' is not declared with __uint or __type"
                )));
            }
            let pointee = self.size_or_type(t)?;
            let target = self.skip_mods_and_typedefs(pointee)?;
            let value = match name.as_str() {
                "key" | "value" => self.size_of(pointee)?,
                _ if self.kind(target)? == ARRAY => u64::from(self.array(target)?.1),
                _ => {
                    return Err(ElfError(format!(
                        "map '{map}': field '{name}' is not declared with __uint"
                    )))
                }
            };
            fields.push((name, value));
        }
        Ok(fields)
    }

    pub(super) fn maps(&self) -> Result<Vec<BtfMap>, ElfError> {
        let mut sec = None;
        for id in 1..self.len() {
            if self.kind(id)? == DATASEC && self.name(id)? == b".maps" {
                sec = Some(id);
                break;
            }
        }
        let Some(sec) = sec else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for i in 0..self.vlen(sec)? {
            let (var, offset) = self.datasec_entry(sec, i)?;
            if self.kind(var)? != VAR {
                return Err(ElfError(format!(
                    ".BTF: .maps entry at offset {offset} is not a variable"
                )));
            }
            let name = String::from_utf8_lossy(self.name(var)?).into_owned();
            let def = self.skip_mods_and_typedefs(self.size_or_type(var)?)?;
            if self.kind(def)? != STRUCT {
                return Err(ElfError(format!(
                    "map '{name}': its BTF definition is not a struct"
                )));
            }
            let fields = self.map_fields(&name, def, true)?;
            out.push((name, offset, fields));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `.BTF.ext` of a 32-byte header and a CO-RE part of `records`
    /// (record size 16, then per section: name, count, records).
    fn btf_ext(core: &[u32]) -> Vec<u8> {
        let mut b = vec![0x9f, 0xeb, 1, 0];
        for v in [32u32, 0, 0, 0, 0, 0, 4 * core.len() as u32] {
            b.extend(v.to_le_bytes());
        }
        b.extend(core.iter().flat_map(|v| v.to_le_bytes()));
        b
    }

    #[test]
    fn core_relocations_are_counted_and_bad_ones_named_by_byte() {
        let rec = [0u32; 4];
        // Two sections: two records, then one.
        let mut core = vec![16, 7, 2];
        core.extend(rec.iter().chain(&rec));
        core.extend([9, 1]);
        core.extend(rec);
        assert_eq!(core_relocation_count(&btf_ext(&core)).unwrap(), 3);
        // No CO-RE part (a 24-byte header, as older clang writes).
        let mut old = btf_ext(&[]);
        old[4] = 24;
        assert_eq!(core_relocation_count(&old).unwrap(), 0);
        // A count past the records' end, a record size of 0, a header past
        // the section, a wrong magic.
        let e = core_relocation_count(&btf_ext(&[16, 7, 3, 0, 0, 0, 0])).unwrap_err();
        assert_eq!(
            e.0,
            "section '.BTF.ext', byte 40: 3 CO-RE relocations past their end"
        );
        let e = core_relocation_count(&btf_ext(&[0, 7, 1])).unwrap_err();
        assert_eq!(
            e.0,
            "section '.BTF.ext', byte 32: CO-RE relocation records of size 0 (at least 16, \
             in whole words)"
        );
        // (Nor one of 18 bytes: records are whole words.)
        let e = core_relocation_count(&btf_ext(&[18, 7, 0])).unwrap_err();
        assert_eq!(
            e.0,
            "section '.BTF.ext', byte 32: CO-RE relocation records of size 18 (at least 16, \
             in whole words)"
        );
        let e = core_relocation_count(&btf_ext(&[16, 7])).unwrap_err();
        assert_eq!(
            e.0,
            "section '.BTF.ext', byte 36: a CO-RE relocation section header cut short"
        );
        let mut long = btf_ext(&[16]);
        long[28] = 200;
        let e = core_relocation_count(&long).unwrap_err();
        assert_eq!(
            e.0,
            "section '.BTF.ext', byte 28: CO-RE relocations past the end of the section"
        );
        let mut short = btf_ext(&[16]);
        short[28] = 2;
        let e = core_relocation_count(&short).unwrap_err();
        assert_eq!(
            e.0,
            "section '.BTF.ext', byte 28: CO-RE relocations too short to hold their record size"
        );
        let e = core_relocation_count(&[0xeb, 0x9f, 1, 0]).unwrap_err();
        assert!(
            e.0.starts_with("section '.BTF.ext', byte 0: not BTF.ext"),
            "{e:?}"
        );
        assert!(core_relocation_count(&[0x9f, 0xeb, 1]).is_err());
    }
}
