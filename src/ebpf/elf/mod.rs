//! eBPF programs from clang-built ELF objects (`clang -O2 -target bpf -c`),
//! read as libbpf reads them: each global function in an executable
//! section other than `.text` is a program (its section names its type:
//! `socket`, `xdp`, `tc`, …); functions in `.text` are subprograms that
//! BPF-to-BPF calls reach through relocations, appended after the program
//! and the calls patched; the `license` section is kept.
//!
//! Not yet: maps (`.maps`, `maps`) and global data (`.data`, `.rodata`,
//! `.bss`): an instruction relocated against them is refused, naming the
//! instruction and the symbol. Parsing is the `object` crate's; every
//! malformed object gets an error naming what and where.

use std::fmt;

mod write;
pub use write::{write_object, ProgramSection};

use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget, SectionKind, SymbolKind};

use super::insn::{Insn, Program};

/// A program found in an object.
#[derive(Clone, Debug)]
pub struct ObjectProgram {
    /// The function's name.
    pub name: String,
    /// Its section's name (libbpf's program type: `socket`, `xdp`, …).
    pub section: String,
    /// The instructions, subprograms from `.text` appended and linked.
    pub program: Program,
}

/// What an object holds that this crate runs.
#[derive(Clone, Debug)]
pub struct EbpfObject {
    /// The programs, in section then address order.
    pub programs: Vec<ObjectProgram>,
    /// The `license` section's string, if any.
    pub license: Option<String>,
}

/// Why an object cannot be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfError(pub String);

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ElfError {}

/// Whether `bytes` start like an ELF file.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

const INSN_SIZE: u64 = 8;
/// `call` with `src = BPF_PSEUDO_CALL`: a BPF-to-BPF call.
const CALL: u8 = 0x85;
const PSEUDO_CALL: u8 = 1;

/// Decodes a section's bytes into instruction slots.
fn slots(data: &[u8], section: &str) -> Result<Vec<Insn>, ElfError> {
    if !data.len().is_multiple_of(INSN_SIZE as usize) {
        return Err(ElfError(format!(
            "section '{section}': {} bytes is not a whole number of 8-byte instructions",
            data.len()
        )));
    }
    Ok(data
        .chunks_exact(8)
        .map(|c| Insn::from_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect())
}

/// Reads the programs of an eBPF ELF object.
pub fn load(bytes: &[u8]) -> Result<EbpfObject, ElfError> {
    let file =
        object::File::parse(bytes).map_err(|e| ElfError(format!("not a valid ELF object: {e}")))?;
    if file.architecture() != object::Architecture::Bpf {
        return Err(ElfError(format!(
            "an ELF object for {:?}, not eBPF (build with clang -target bpf)",
            file.architecture()
        )));
    }
    if !file.is_little_endian() {
        return Err(ElfError(
            "a big-endian eBPF object (bpfeb); this crate runs little-endian eBPF".into(),
        ));
    }
    let license = file
        .section_by_name("license")
        .and_then(|s| s.data().ok())
        .map(|d| {
            let end = d.iter().position(|&b| b == 0).unwrap_or(d.len());
            String::from_utf8_lossy(&d[..end]).into_owned()
        });
    // `.text`, its relocated calls resolved within it.
    let text = file.section_by_name(".text").filter(|s| s.size() > 0);
    let text_slots = match &text {
        Some(s) => slots(
            s.data().map_err(|e| ElfError(format!(".text: {e}")))?,
            ".text",
        )?,
        None => Vec::new(),
    };
    let text_index = text.as_ref().map(|s| s.index());
    let mut programs = Vec::new();
    for section in file.sections() {
        let name = section.name().unwrap_or("").to_string();
        if section.kind() != SectionKind::Text || name == ".text" || section.size() == 0 {
            continue;
        }
        let data = section
            .data()
            .map_err(|e| ElfError(format!("section '{name}': {e}")))?;
        let insns = slots(data, &name)?;
        let mut funcs: Vec<(u64, u64, String)> = file
            .symbols()
            .filter(|s| {
                s.section_index() == Some(section.index())
                    && s.kind() == SymbolKind::Text
                    && s.is_global()
            })
            .map(|s| (s.address(), s.size(), s.name().unwrap_or("").to_string()))
            .collect();
        funcs.sort();
        if funcs.is_empty() {
            // A section with code and no global function: one program.
            funcs.push((0, data.len() as u64, name.clone()));
        }
        for (start, size, fname) in funcs {
            let (first, count) = (start / INSN_SIZE, size.max(INSN_SIZE) / INSN_SIZE);
            let last = first
                .checked_add(count)
                .filter(|&l| l <= insns.len() as u64)
                .ok_or_else(|| {
                    ElfError(format!(
                        "section '{name}': function '{fname}' runs past the section's end"
                    ))
                })?;
            let mut prog: Vec<Insn> = insns[first as usize..last as usize].to_vec();
            let text_at = prog.len();
            let mut uses_text = false;
            // Relocations inside this function, then inside `.text`.
            let relocated = |sec: &object::Section<'_, '_>,
                             lo: u64,
                             hi: u64,
                             base: usize,
                             prog: &mut Vec<Insn>,
                             uses_text: &mut bool|
             -> Result<(), ElfError> {
                let sec_name = sec.name().unwrap_or("").to_string();
                for (offset, reloc) in sec.relocations() {
                    if offset < lo * INSN_SIZE || offset >= hi * INSN_SIZE {
                        continue;
                    }
                    let pc = (offset / INSN_SIZE - lo) as usize + base;
                    let symbol = match reloc.target() {
                        RelocationTarget::Symbol(i) => file.symbol_by_index(i).map_err(|e| {
                            ElfError(format!("section '{sec_name}', instruction {pc}: {e}"))
                        })?,
                        _ => {
                            return Err(ElfError(format!(
                                "section '{sec_name}', instruction {pc}: a relocation this \
                                 loader does not handle"
                            )))
                        }
                    };
                    let sym_name = symbol.name().unwrap_or("?").to_string();
                    let insn = prog.get(pc).copied().ok_or_else(|| {
                        ElfError(format!("section '{sec_name}': relocation past the code"))
                    })?;
                    if insn.opc == CALL && insn.src == PSEUDO_CALL {
                        if symbol.section_index() != text_index || text_index.is_none() {
                            return Err(ElfError(format!(
                                "section '{sec_name}', instruction {pc}: a call to '{sym_name}', \
                                 which is not in .text"
                            )));
                        }
                        // libbpf: the callee is the symbol's slot plus imm + 1.
                        let callee =
                            (symbol.address() / INSN_SIZE) as i64 + i64::from(insn.imm) + 1;
                        if callee < 0 || callee >= text_slots.len() as i64 {
                            return Err(ElfError(format!(
                                "section '{sec_name}', instruction {pc}: a call to '{sym_name}' \
                                 outside .text"
                            )));
                        }
                        let to = text_at as i64 + callee;
                        prog[pc].imm = i32::try_from(to - pc as i64 - 1).map_err(|_| {
                            ElfError(format!("instruction {pc}: call offset out of range"))
                        })?;
                        *uses_text = true;
                    } else {
                        return Err(ElfError(format!(
                            "section '{sec_name}', instruction {pc}: relocated against \
                             '{sym_name}' (a map or global data); maps and global data are \
                             not supported yet"
                        )));
                    }
                }
                Ok(())
            };
            relocated(&section, first, last, 0, &mut prog, &mut uses_text)?;
            // Calls inside the function that leave it (no relocation: same
            // section) cannot be followed when the section holds several
            // programs.
            for (pc, insn) in prog.iter().enumerate() {
                if insn.opc == CALL && insn.src == PSEUDO_CALL {
                    let to = pc as i64 + 1 + i64::from(insn.imm);
                    let in_text = uses_text && to >= text_at as i64;
                    if !in_text && (to < 0 || to >= text_at as i64) {
                        return Err(ElfError(format!(
                            "section '{name}', function '{fname}', instruction {pc}: a call \
                             outside the function"
                        )));
                    }
                }
            }
            if uses_text {
                prog.extend_from_slice(&text_slots);
                if let Some(t) = &text {
                    let n = text_slots.len() as u64;
                    relocated(t, 0, n, text_at, &mut prog, &mut uses_text)?;
                }
            }
            programs.push(ObjectProgram {
                name: fname,
                section: name.clone(),
                program: Program::new(prog),
            });
        }
    }
    if programs.is_empty() {
        return Err(ElfError(
            "no program in the object (no executable section besides .text)".into(),
        ));
    }
    Ok(EbpfObject { programs, license })
}
