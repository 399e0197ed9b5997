//! The little of BTF that loading needs: the map definitions of a `.maps`
//! section, which libbpf-style objects declare as BTF (`__uint(type,
//! BPF_MAP_TYPE_HASH)` is a member `int (*type)[1]`, `__type(key, T)` a
//! member `T *key`). Read from the `.BTF` section as the kernel documents
//! it (Documentation/bpf/btf.rst): a header, then type records, then
//! strings. Every malformed record is an error naming its type id. And
//! of `.BTF.ext`, only how many CO-RE relocations it holds.

use super::ElfError;

const MAGIC: u16 = 0xeb9f;

// Type kinds (`BTF_KIND_*`).
const INT: u32 = 1;
const PTR: u32 = 2;
const ARRAY: u32 = 3;
const STRUCT: u32 = 4;
const UNION: u32 = 5;
const ENUM: u32 = 6;
const FWD: u32 = 7;
const TYPEDEF: u32 = 8;
const VOLATILE: u32 = 9;
const CONST: u32 = 10;
const RESTRICT: u32 = 11;
const FUNC: u32 = 12;
const FUNC_PROTO: u32 = 13;
const VAR: u32 = 14;
const DATASEC: u32 = 15;
const FLOAT: u32 = 16;
const DECL_TAG: u32 = 17;
const TYPE_TAG: u32 = 18;
const ENUM64: u32 = 19;

/// One type record.
#[derive(Clone, Debug)]
struct Type {
    name: String,
    kind: u32,
    /// `size` or `type`, by kind.
    size_or_type: u32,
    /// ARRAY: (element type, element count).
    array: Option<(u32, u32)>,
    /// STRUCT/UNION: (name, type, bit offset); DATASEC: ("", var type, offset).
    members: Vec<(String, u32, u32)>,
}

/// A `.maps` entry: the variable's name, its offset as the DATASEC gives
/// it (0 in objects before loading), and its fields by name.
pub(super) type BtfMap = (String, u32, Vec<(String, u64)>);

/// The types of a `.BTF` section, by id (id 0 is `void`).
pub(super) struct Btf {
    types: Vec<Type>,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The number of CO-RE relocation records in a `.BTF.ext` section
/// (libbpf's `btf_ext_header`: magic 0xeb9f, the header's length at byte
/// 4, and from 32-byte headers on, the records' offset past the header
/// and length at bytes 24 and 28; the records are a record size, then per
/// program section its name and count and that many records). An error
/// names the byte of the section that is wrong, as libbpf refuses such
/// an object.
pub(super) fn core_relocation_count(ext: &[u8]) -> Result<usize, ElfError> {
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
        return Ok(0);
    }
    let (off, len) = (word(24)?, word(28)?);
    if len == 0 {
        return Ok(0);
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
    if record == 0 {
        return Err(bad(start, "CO-RE relocation records of size 0"));
    }
    let (mut at, mut count) = (start + 4, 0usize);
    while at < end {
        if at + 8 > end {
            return Err(bad(at, "a CO-RE relocation section header cut short"));
        }
        let n = word(at + 4)?;
        let records = n
            .checked_mul(record)
            .filter(|&b| (at + 8).checked_add(b).is_some_and(|e| e <= end))
            .ok_or_else(|| bad(at + 4, &format!("{n} CO-RE relocations past their end")))?;
        count += n;
        at += 8 + records;
    }
    Ok(count)
}

impl Btf {
    pub(super) fn parse(bytes: &[u8]) -> Result<Btf, ElfError> {
        let bad = |what: &str| ElfError(format!(".BTF: {what}"));
        if bytes.len() < 24 || u16::from_le_bytes([bytes[0], bytes[1]]) != MAGIC {
            return Err(ElfError(
                ".BTF, byte 0: no BTF header (magic 0xeb9f)".into(),
            ));
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
        let types_bytes = types_at
            .checked_add(type_len)
            .and_then(|end| bytes.get(types_at..end))
            .ok_or_else(|| bad("the type section runs past the end"))?;
        let strings = strs_at
            .checked_add(str_len)
            .and_then(|end| bytes.get(strs_at..end))
            .ok_or_else(|| bad("the string section runs past the end"))?;
        let name = |off: u32| -> String {
            let s = strings.get(off as usize..).unwrap_or(&[]);
            let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
            String::from_utf8_lossy(&s[..end]).into_owned()
        };
        let mut types = vec![Type {
            name: String::new(),
            kind: 0,
            size_or_type: 0,
            array: None,
            members: Vec::new(),
        }];
        let mut at = 0;
        while at < types_bytes.len() {
            let id = types.len();
            let word = |i: usize| {
                u32_at(types_bytes, at + 4 * i)
                    .ok_or_else(|| bad(&format!("type {id} is cut short")))
            };
            let (name_off, info, size_or_type) = (word(0)?, word(1)?, word(2)?);
            let kind = (info >> 24) & 0x1f;
            let vlen = (info & 0xffff) as usize;
            at += 12;
            let mut t = Type {
                name: name(name_off),
                kind,
                size_or_type,
                array: None,
                members: Vec::new(),
            };
            let extra = match kind {
                INT | VAR | DECL_TAG => 4,
                PTR | FWD | TYPEDEF | VOLATILE | CONST | RESTRICT | FUNC | FLOAT | TYPE_TAG => 0,
                ARRAY => 12,
                STRUCT | UNION | DATASEC | ENUM64 => 12 * vlen,
                ENUM | FUNC_PROTO => 8 * vlen,
                k => return Err(bad(&format!("type {id} has unknown kind {k}"))),
            };
            let word = |i: usize| {
                u32_at(types_bytes, at + 4 * i)
                    .ok_or_else(|| bad(&format!("type {id} is cut short")))
            };
            match kind {
                ARRAY => t.array = Some((word(0)?, word(2)?)),
                STRUCT | UNION | DATASEC => {
                    for m in 0..vlen {
                        let (a, b, c) = (word(3 * m)?, word(3 * m + 1)?, word(3 * m + 2)?);
                        t.members.push(if kind == DATASEC {
                            (String::new(), a, b)
                        } else {
                            (name(a), b, c)
                        });
                    }
                }
                _ => {}
            }
            at += extra;
            types.push(t);
        }
        Ok(Btf { types })
    }

    fn get(&self, id: u32) -> Result<&Type, ElfError> {
        self.types
            .get(id as usize)
            .ok_or_else(|| ElfError(format!(".BTF: type {id} does not exist")))
    }

    /// `id` with typedefs and qualifiers looked through.
    fn resolve(&self, mut id: u32) -> Result<&Type, ElfError> {
        for _ in 0..64 {
            let t = self.get(id)?;
            match t.kind {
                TYPEDEF | VOLATILE | CONST | RESTRICT | TYPE_TAG => id = t.size_or_type,
                _ => return Ok(t),
            }
        }
        Err(ElfError(format!(
            ".BTF: type {id}: a chain of typedefs too long"
        )))
    }

    /// The size in bytes of type `id`.
    fn size_of(&self, id: u32) -> Result<u64, ElfError> {
        let t = self.resolve(id)?;
        match t.kind {
            INT | STRUCT | UNION | ENUM | ENUM64 | FLOAT | DATASEC => Ok(u64::from(t.size_or_type)),
            PTR => Ok(8),
            ARRAY => {
                let (elem, n) = t.array.unwrap_or((0, 0));
                Ok(self.size_of(elem)? * u64::from(n))
            }
            k => Err(ElfError(format!(
                ".BTF: type '{}' (kind {k}) has no size",
                t.name
            ))),
        }
    }

    /// The map definitions of the `.maps` data section: (variable name,
    /// offset in the section, fields by name → value).
    /// A map definition's `__uint`/`__type` fields by name; `values`
    /// gives `values_offset` (where its initialisers are), and when it is
    /// `__array(values, struct …)` of a map of maps (`outer`), the inner
    /// map's fields prefixed `inner.`.
    fn map_fields(
        &self,
        map: &str,
        def: &Type,
        outer: bool,
    ) -> Result<Vec<(String, u64)>, ElfError> {
        let mut fields = Vec::new();
        for (name, ty, bit_offset) in &def.members {
            let t = self.resolve(*ty)?;
            if name == "values" && t.kind == ARRAY {
                fields.push(("values_offset".to_string(), u64::from(bit_offset / 8)));
                let (elem, _) = t.array.unwrap_or((0, 0));
                let elem = self.resolve(elem)?;
                let inner = match elem.kind {
                    PTR => Some(self.resolve(elem.size_or_type)?),
                    _ => None,
                };
                if let Some(inner) = inner.filter(|i| i.kind == STRUCT && outer) {
                    let inner = self.map_fields(&format!("{map}'s inner map"), inner, false)?;
                    fields.extend(inner.into_iter().map(|(n, v)| (format!("inner.{n}"), v)));
                }
                continue;
            }
            if t.kind != PTR {
                return Err(ElfError(format!(
                    "map '{map}': field '{name}' is not declared with __uint or __type"
                )));
            }
            let target = self.resolve(t.size_or_type)?;
            let value = match (name.as_str(), target.array) {
                ("key" | "value", _) => self.size_of(t.size_or_type)?,
                (_, Some((_, n))) => u64::from(n),
                _ => {
                    return Err(ElfError(format!(
                        "map '{map}': field '{name}' is not declared with __uint"
                    )))
                }
            };
            fields.push((name.clone(), value));
        }
        Ok(fields)
    }

    pub(super) fn maps(&self) -> Result<Vec<BtfMap>, ElfError> {
        let Some(sec) = self
            .types
            .iter()
            .find(|t| t.kind == DATASEC && t.name == ".maps")
        else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for &(_, var, offset) in &sec.members {
            let v = self.get(var)?;
            if v.kind != VAR {
                return Err(ElfError(format!(
                    ".BTF: .maps entry at offset {offset} is not a variable"
                )));
            }
            let def = self.resolve(v.size_or_type)?;
            if def.kind != STRUCT {
                return Err(ElfError(format!(
                    "map '{}': its BTF definition is not a struct",
                    v.name
                )));
            }
            let fields = self.map_fields(&v.name, def, true)?;
            out.push((v.name.clone(), offset, fields));
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
            "section '.BTF.ext', byte 32: CO-RE relocation records of size 0"
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
