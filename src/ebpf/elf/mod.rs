//! eBPF programs from clang-built ELF objects (`clang -O2 -target bpf -c`),
//! read as libbpf reads them: each global function in an executable
//! section other than `.text` is a program (its section names its type:
//! `socket`, `xdp`, `tc`, …); functions in `.text` are subprograms that
//! BPF-to-BPF calls reach through relocations, appended after the program
//! as libbpf appends them (each the first time it is referred to, depth
//! first, and only those reached) and the calls patched; the `license`
//! section is kept.
//!
//! Maps are read from BTF-defined `.maps` (`elf/btf.rs`) and legacy `maps`
//! sections (`struct bpf_map_def`); global data sections (`.data*`,
//! `.rodata*`, `.bss*`) become one-entry array maps, as libbpf makes them.
//! An `lddw` relocated against a map becomes libbpf's `BPF_PSEUDO_MAP_FD`
//! form (src = 1, imm = the map's index in [`EbpfObject::maps`]); one
//! against global data `BPF_PSEUDO_MAP_VALUE` (src = 2, imm = the index,
//! the second slot's imm = the offset in the section); one against a
//! function of `.text` (a callback, for `bpf_loop`) `BPF_PSEUDO_FUNC`
//! (src = 4, imm = the function's first slot relative to the next
//! instruction, as a call's). Parsing is the
//! `object` crate's; every malformed object gets an error naming what and
//! where.

use std::fmt;

mod btf;
mod core_relo;
mod write;
pub use core_relo::POISONED_CALL;
pub use core_relo::{poisoned_call_refusal, CoreRelocation};
pub use write::{write_object, ProgramSection};

use super::maps::{kind_name, MapDef, MapKind, MAX_MAP_MEMORY};

/// `lddw` src: the map with this index (libbpf's `BPF_PSEUDO_MAP_FD`).
pub const PSEUDO_MAP_FD: u8 = 1;
/// `lddw` src: an address inside the map's value (`BPF_PSEUDO_MAP_VALUE`).
pub const PSEUDO_MAP_VALUE: u8 = 2;
/// `lddw` src: a function of the program (`BPF_PSEUDO_FUNC`: a callback),
/// at the instruction `imm + 1` slots after this one.
pub const PSEUDO_FUNC: u8 = 4;
const LDDW: u8 = 0x18;

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
    /// Whether the object describes its functions in BTF (a `.BTF.ext`
    /// section, from `clang -g`), which libbpf then hands the kernel:
    /// without it the kernel refuses legacy packet loads and tail calls
    /// in subprograms.
    pub btf_functions: bool,
    /// The CO-RE relocations resolved in its instructions, by slot in
    /// `program` (empty unless resolved against a kernel's types): what
    /// `disasm --ebpf` shows, and what names a poisoned instruction
    /// ([`POISONED_CALL`]) in the verifier's refusal of a reached one.
    pub core: Vec<(usize, CoreRelocation)>,
}

impl ObjectProgram {
    /// The slots poisoned by CO-RE relocations that found nothing
    /// ([`POISONED_CALL`]), each with its relocation as libbpf describes
    /// it (`<byte_off> [7] struct eth.proto (0:2 @ offset 12)`).
    pub fn poisoned(&self) -> impl Iterator<Item = (usize, &str)> {
        self.core
            .iter()
            .filter(|(_, r)| r.patched.is_none())
            .map(|(at, r)| (*at, r.spec.as_str()))
    }

    /// The relocation that poisoned slot `pc`, as [`ObjectProgram::poisoned`]
    /// describes it.
    pub fn poisoned_relocation(&self, pc: usize) -> Option<&str> {
        self.poisoned().find(|&(at, _)| at == pc).map(|(_, r)| r)
    }
}

/// What an object holds that this crate runs.
#[derive(Clone, Debug)]
pub struct EbpfObject {
    /// The programs, in section then address order.
    pub programs: Vec<ObjectProgram>,
    /// The `license` section's string, if any.
    pub license: Option<String>,
    /// The maps, global data first as its sections come, then declared
    /// maps; `lddw` map references index this.
    pub maps: Vec<MapDef>,
    /// The CO-RE relocations of `.BTF.ext` (clang's
    /// `preserve_access_index`, `bpf_core_*`).
    pub core_relocations: usize,
    /// Whether they were resolved against a kernel's types, as libbpf
    /// resolves them ([`CoreTypes::Btf`]); otherwise they are left as clang
    /// wrote them, against the object's own types (the same for the
    /// layouts packet programs read; a caller may say so when
    /// `core_relocations` is not 0).
    pub core_resolved: bool,
    /// What resolving each relocation did, in `.BTF.ext` order per
    /// section (empty when they were not resolved).
    pub core_applied: Vec<CoreRelocation>,
}

/// Whose types an object's CO-RE relocations are resolved against.
#[derive(Clone, Copy, Debug, Default)]
pub enum CoreTypes<'a> {
    /// None: they stay as clang wrote them (the object's own types).
    #[default]
    AsCompiled,
    /// A kernel's BTF, as libbpf resolves them when it loads the object:
    /// the running kernel's ([`KERNEL_BTF`]) or another's, in the raw BTF
    /// format of that file; `name` names it in errors (its path).
    Btf {
        /// The BTF's bytes.
        btf: &'a [u8],
        /// What to call it in errors.
        name: &'a str,
    },
}

/// Where Linux exposes its own BTF, which libbpf resolves CO-RE
/// relocations against.
pub const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";

impl EbpfObject {
    /// Instructions whose relocation found nothing in the kernel's types:
    /// libbpf's poisoned call ([`POISONED_CALL`]), refused by the verifier
    /// if a run can reach it (a field-exists test usually guards them).
    pub fn core_poisoned(&self) -> usize {
        self.core_applied
            .iter()
            .filter(|r| r.patched.is_none())
            .count()
    }

    /// Sets a read-only global data map's contents (`.rodata`, key 0)
    /// before the object is loaded, as libbpf's skeletons do: once loaded
    /// it is frozen (programs are checked knowing its bytes, as the kernel
    /// checks them) and [`PacketProgram::preload`] refuses it.
    ///
    /// [`PacketProgram::preload`]: crate::ebpf::runtime::PacketProgram::preload
    pub fn set_read_only(
        &mut self,
        map: &str,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), super::maps::MapUpdateError> {
        let err = |m: String| Err(super::maps::MapUpdateError(m));
        let Some(def) = self.maps.iter_mut().find(|m| m.name == map) else {
            return err(format!("the object has no map named '{map}'"));
        };
        if !def.read_only {
            return err(format!("map '{map}' is not read-only"));
        }
        if key != [0, 0, 0, 0] || value.len() != def.value_size as usize {
            return err(format!(
                "key of {} bytes and value of {} bytes; '{map}' takes key 00000000 and {} \
                 bytes",
                key.len(),
                value.len(),
                def.value_size
            ));
        }
        def.initial = Some(value.to_vec());
        Ok(())
    }
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

/// The ELF64 header's identification, checked before parsing so that the
/// common mistakes are named by their byte; a parse failure after it is in
/// the section header table, named by its place.
fn check_header(bytes: &[u8]) -> Result<(), ElfError> {
    const HEADER: usize = 64;
    if bytes.len() < HEADER {
        return Err(ElfError(format!(
            "{} bytes is shorter than an ELF64 header ({HEADER} bytes)",
            bytes.len()
        )));
    }
    if !is_elf(bytes) {
        return Err(ElfError("byte 0: no ELF magic (\\x7fELF)".into()));
    }
    match bytes[4] {
        2 => {}
        1 => {
            return Err(ElfError(
                "byte 4: a 32-bit ELF object; eBPF objects are ELF64 (clang -target bpf)".into(),
            ))
        }
        c => return Err(ElfError(format!("byte 4: unknown ELF class {c}"))),
    }
    match bytes[5] {
        1 => Ok(()),
        2 => Err(ElfError(
            "byte 5: a big-endian eBPF object (bpfeb); this crate runs little-endian eBPF".into(),
        )),
        d => Err(ElfError(format!("byte 5: unknown ELF data encoding {d}"))),
    }
}

/// Where the section header table is, as the header says (for errors).
fn section_table_place(bytes: &[u8]) -> String {
    let u16_at = |at: usize| {
        bytes
            .get(at..at + 2)
            .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]))
    };
    let shoff = bytes
        .get(0x28..0x30)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes);
    format!(
        "the section header table at byte offset {shoff} ({} entries of {} bytes, names in \
         section {})",
        u16_at(0x3c),
        u16_at(0x3a),
        u16_at(0x3e)
    )
}

/// Every relocation of a code section must fall on an instruction slot
/// inside it (one elsewhere would be silently skipped otherwise).
fn check_relocation_places(section: &object::Section<'_, '_>, name: &str) -> Result<(), ElfError> {
    for (offset, _) in section.relocations() {
        if offset >= section.size() || !offset.is_multiple_of(INSN_SIZE) {
            return Err(ElfError(format!(
                "section '{name}': a relocation at byte offset {offset}, which is not an \
                 instruction of the section ({} bytes)",
                section.size()
            )));
        }
    }
    Ok(())
}

/// A section's bytes; a failure names where its header says they are.
fn section_bytes<'d>(section: &object::Section<'d, '_>, name: &str) -> Result<&'d [u8], ElfError> {
    section.data().map_err(|e| {
        let (at, len) = section.file_range().unwrap_or((0, section.size()));
        ElfError(format!(
            "section '{name}' (byte offset {at}, {len} bytes, as its header says): {e}"
        ))
    })
}

/// Reads the programs of an eBPF ELF object.
///
/// `bytes` may start anywhere in memory (`include_bytes!`, a slice of a
/// larger buffer): the object's structures are read in place only when
/// they are 8-byte aligned, as in a file read into a `Vec`, and from an
/// aligned copy otherwise.
///
/// CO-RE relocations are left as clang wrote them ([`load_with`] resolves
/// them against a kernel's types).
pub fn load(bytes: &[u8]) -> Result<EbpfObject, ElfError> {
    load_with(bytes, CoreTypes::AsCompiled)
}

/// [`load`], with CO-RE relocations resolved against `core`'s types as
/// libbpf resolves them (a relocation libbpf would refuse is an error
/// naming its section and instruction).
pub fn load_with(bytes: &[u8], core: CoreTypes<'_>) -> Result<EbpfObject, ElfError> {
    // `object` reads ELF64 headers in place and refuses them unaligned
    // ("Invalid ELF header size or alignment").
    let misalignment = bytes.as_ptr() as usize % 8;
    if misalignment == 0 {
        return load_aligned(bytes, core);
    }
    let mut copy = vec![0u8; bytes.len() + 7];
    let pad = (8 - copy.as_ptr() as usize % 8) % 8;
    copy[pad..pad + bytes.len()].copy_from_slice(bytes);
    load_aligned(&copy[pad..pad + bytes.len()], core)
}

/// An object's CO-RE relocations by section, with the types to resolve
/// them in.
struct CoreRelocator<'a> {
    local: btf::Btf<'a>,
    target: btf::Btf<'a>,
    sections: std::collections::HashMap<String, Vec<btf::CoreRelo>>,
    candidates: std::collections::HashMap<u32, Vec<u32>>,
    /// What was done, section by section.
    applied: Vec<CoreRelocation>,
}

impl CoreRelocator<'_> {
    /// Patches the slots of section `name`.
    fn apply(&mut self, name: &str, slots: &mut [Insn]) -> Result<(), ElfError> {
        if let Some(relos) = self.sections.remove(name) {
            let applied = core_relo::relocate_section(
                name,
                slots,
                &relos,
                &self.local,
                &self.target,
                &mut self.candidates,
            )?;
            self.applied.extend(applied);
        }
        Ok(())
    }

    /// The relocations of section `name`'s slots `lo..hi`, placed at
    /// `base`.
    fn placed(
        &self,
        name: &str,
        lo: usize,
        hi: usize,
        base: usize,
    ) -> Vec<(usize, CoreRelocation)> {
        self.applied
            .iter()
            .filter(|r| r.section == name && (lo..hi).contains(&r.insn))
            .map(|r| (r.insn - lo + base, r.clone()))
            .collect()
    }
}

fn load_aligned(bytes: &[u8], core: CoreTypes<'_>) -> Result<EbpfObject, ElfError> {
    check_header(bytes)?;
    let file = object::File::parse(bytes).map_err(|e| {
        ElfError(format!(
            "not a valid ELF object: {e} (in {})",
            section_table_place(bytes)
        ))
    })?;
    if file.architecture() != object::Architecture::Bpf {
        return Err(ElfError(format!(
            "byte 18: an ELF object for {:?}, not eBPF (build with clang -target bpf)",
            file.architecture()
        )));
    }
    let license = file
        .section_by_name("license")
        .and_then(|s| s.data().ok())
        .map(|d| {
            let end = d.iter().position(|&b| b == 0).unwrap_or(d.len());
            String::from_utf8_lossy(&d[..end]).into_owned()
        });
    let maps = Maps::read(&file)?;
    let btf_ext = file.section_by_name(".BTF.ext");
    let btf_functions = btf_ext.is_some();
    let core_sections = match &btf_ext {
        Some(section) => btf::core_relocations(section_bytes(section, ".BTF.ext")?)?,
        None => Vec::new(),
    };
    let core_relocations = core_sections.iter().map(|(_, r)| r.len()).sum();
    let btf_section = file.section_by_name(".BTF");
    let mut relocator = match core {
        CoreTypes::Btf { btf: target, name } if core_relocations > 0 => {
            let local = btf_section
                .as_ref()
                .ok_or_else(|| ElfError("CO-RE relocations in .BTF.ext but no .BTF".into()))?;
            let local = btf::Btf::parse(section_bytes(local, ".BTF")?, ".BTF")?;
            let target = btf::Btf::parse(target, name)?;
            let mut sections = std::collections::HashMap::<String, Vec<btf::CoreRelo>>::new();
            for (name_off, relos) in core_sections {
                let name = String::from_utf8_lossy(local.str_at(name_off)).into_owned();
                if file.section_by_name(&name).is_none() {
                    return Err(ElfError(format!(
                        "section '.BTF.ext': CO-RE relocations for section '{name}', which the \
                         object does not have"
                    )));
                }
                sections.entry(name).or_default().extend(relos);
            }
            Some(CoreRelocator {
                local,
                target,
                sections,
                candidates: std::collections::HashMap::new(),
                applied: Vec::new(),
            })
        }
        _ => None,
    };
    // `.text`, its relocated calls resolved within it.
    let text = file.section_by_name(".text").filter(|s| s.size() > 0);
    if let Some(t) = &text {
        check_relocation_places(t, ".text")?;
    }
    let mut text_slots = match &text {
        Some(s) => slots(section_bytes(s, ".text")?, ".text")?,
        None => Vec::new(),
    };
    if let Some(r) = &mut relocator {
        r.apply(".text", &mut text_slots)?;
    }
    let text_index = text.as_ref().map(|s| s.index());
    let text_functions = match &text {
        Some(t) => functions_of(&file, t, text_slots.len())?,
        None => Vec::new(),
    };
    let mut programs = Vec::new();
    for section in file.sections() {
        let name = section.name().unwrap_or("").to_string();
        if section.kind() != SectionKind::Text || name == ".text" || section.size() == 0 {
            continue;
        }
        let data = section_bytes(&section, &name)?;
        let mut insns = slots(data, &name)?;
        if let Some(r) = &mut relocator {
            r.apply(&name, &mut insns)?;
        }
        check_relocation_places(&section, &name)?;
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
            // Relocations of `sec`'s slots `lo..hi`, placed at `base` in
            // `prog`: maps and global data are patched; calls and function
            // addresses are returned as (slot in `prog`, `.text` slot
            // referred to), for the linking below.
            let relocated = |sec: &object::Section<'_, '_>,
                             lo: u64,
                             hi: u64,
                             base: usize,
                             prog: &mut Vec<Insn>|
             -> Result<Vec<(usize, usize)>, ElfError> {
                let sec_name = sec.name().unwrap_or("").to_string();
                let mut refs = Vec::new();
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
                    if symbol.is_undefined() {
                        // libbpf resolves these against the running kernel.
                        let what = if insn.opc == CALL {
                            "a call to the kernel function"
                        } else {
                            "a reference to the kernel symbol"
                        };
                        return Err(ElfError(format!(
                            "section '{sec_name}', instruction {pc}: {what} '{sym_name}' (an \
                             extern: __ksym or __kconfig), which this runtime does not provide \
                             (no kfuncs, kernel variables or Kconfig values)"
                        )));
                    }
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
                        refs.push((pc, callee as usize));
                    } else if insn.opc == LDDW
                        && pc + 1 < prog.len()
                        && text_index.is_some()
                        && symbol.section_index() == text_index
                    {
                        // A function's address (clang: the section's symbol
                        // or the function's, plus a byte addend in imm).
                        let slot =
                            (symbol.address() as i64 + i64::from(insn.imm)) / INSN_SIZE as i64;
                        if slot < 0 || slot >= text_slots.len() as i64 {
                            return Err(ElfError(format!(
                                "section '{sec_name}', instruction {pc}: the address of \
                                 '{sym_name}' + {}, outside .text",
                                insn.imm
                            )));
                        }
                        prog[pc].src = PSEUDO_FUNC;
                        refs.push((pc, slot as usize));
                    } else if insn.opc == LDDW && pc + 1 < prog.len() {
                        let target = symbol
                            .section_index()
                            .and_then(|sec| maps.find(sec, symbol.address()));
                        let Some((index, value_offset)) = target else {
                            return Err(ElfError(format!(
                                "section '{sec_name}', instruction {pc}: relocated against \
                                 '{sym_name}', which is neither a map nor global data"
                            )));
                        };
                        match value_offset {
                            None => {
                                prog[pc].src = PSEUDO_MAP_FD;
                                prog[pc].imm = index as i32;
                            }
                            Some(at) => {
                                prog[pc].src = PSEUDO_MAP_VALUE;
                                prog[pc + 1].imm = (at as i64 + i64::from(insn.imm)) as i32;
                                prog[pc].imm = index as i32;
                            }
                        }
                    } else {
                        return Err(ElfError(format!(
                            "section '{sec_name}', instruction {pc}: a relocation against \
                             '{sym_name}' on an instruction that is neither a call nor lddw"
                        )));
                    }
                }
                Ok(refs)
            };
            let mut main_refs = relocated(&section, first, last, 0, &mut prog)?;
            main_refs.sort_unstable();
            // Calls inside the function without a relocation (same
            // section) must stay in it: they cannot be followed when the
            // section holds several programs.
            for (pc, insn) in prog.iter().enumerate() {
                if insn.opc == CALL
                    && insn.src == PSEUDO_CALL
                    && main_refs.binary_search_by_key(&pc, |r| r.0).is_err()
                {
                    let to = pc as i64 + 1 + i64::from(insn.imm);
                    if to < 0 || to >= prog.len() as i64 {
                        return Err(ElfError(format!(
                            "section '{name}', function '{fname}', instruction {pc}: a call \
                             outside the function"
                        )));
                    }
                }
            }
            let mut core = relocator.as_ref().map_or_else(Vec::new, |r| {
                r.placed(&name, first as usize, last as usize, 0)
            });
            if let Some(t) = &text {
                let relocate = |lo: u64, hi: u64, base: usize, prog: &mut Vec<Insn>| {
                    relocated(t, lo, hi, base, prog)
                };
                let placed = link_subprograms(
                    &mut prog,
                    main_refs,
                    &text_slots,
                    &text_functions,
                    &relocate,
                )?;
                if let Some(r) = &relocator {
                    for (f, base) in text_functions.iter().zip(placed) {
                        if let Some(base) = base {
                            core.extend(r.placed(".text", f.start, f.end, base));
                        }
                    }
                }
            }
            programs.push(ObjectProgram {
                name: fname,
                section: name.clone(),
                program: Program::new(prog),
                btf_functions,
                core,
            });
        }
    }
    if programs.is_empty() {
        return Err(ElfError(
            "no program in the object (no executable section besides .text)".into(),
        ));
    }
    Ok(EbpfObject {
        programs,
        license,
        maps: maps.defs,
        core_relocations,
        core_resolved: relocator.is_some(),
        core_applied: relocator.map_or_else(Vec::new, |r| r.applied),
    })
}

/// A function of `.text`: its slots.
#[derive(Clone, Copy, Debug)]
struct TextFunction {
    start: usize,
    end: usize,
}

/// The functions of `.text` (its function symbols, local or global, as
/// libbpf takes them), by first slot; the whole section as one when it
/// names none.
fn functions_of(
    file: &object::File<'_>,
    text: &object::Section<'_, '_>,
    len: usize,
) -> Result<Vec<TextFunction>, ElfError> {
    let mut symbols: Vec<(u64, u64)> = file
        .symbols()
        .filter(|s| s.section_index() == Some(text.index()) && s.kind() == SymbolKind::Text)
        .map(|s| (s.address(), s.size()))
        .collect();
    symbols.sort_unstable();
    symbols.dedup_by_key(|&mut (address, _)| address);
    if symbols.is_empty() {
        return Ok(vec![TextFunction { start: 0, end: len }]);
    }
    let mut functions = Vec::with_capacity(symbols.len());
    for (i, &(address, size)) in symbols.iter().enumerate() {
        let start = address / INSN_SIZE;
        if !address.is_multiple_of(INSN_SIZE) || start >= len as u64 {
            return Err(ElfError(format!(
                "section '.text': a function at byte offset {address}, which is not an \
                 instruction of the section ({} bytes)",
                len as u64 * INSN_SIZE
            )));
        }
        let next = symbols
            .get(i + 1)
            .map_or(len as u64, |&(a, _)| a / INSN_SIZE);
        let end = if size == 0 {
            next
        } else {
            start.saturating_add(size.div_ceil(INSN_SIZE))
        };
        if end > next {
            return Err(ElfError(format!(
                "section '.text': the function at byte offset {address} ({size} bytes) runs \
                 past the next function or the section's end"
            )));
        }
        functions.push(TextFunction {
            start: start as usize,
            end: end as usize,
        });
    }
    Ok(functions)
}

/// Relocates `.text` slots `lo..hi` placed at `base` of a program,
/// returning its references to `.text` as (slot in the program, `.text`
/// slot referred to).
type Relocate<'a> =
    dyn Fn(u64, u64, usize, &mut Vec<Insn>) -> Result<Vec<(usize, usize)>, ElfError> + 'a;

/// Links `.text` into `prog` as libbpf does: a function is appended after
/// the program the first time something refers to it (a call, or its
/// address for a callback), depth first in instruction order, and each
/// reference patched to where its function landed; functions nothing
/// reaches are left out (the kernel then sees the program libbpf loads:
/// the same instruction numbers, and no unreachable function to refuse).
/// `main_refs` are the program's own references, sorted. Returns where
/// each function landed.
fn link_subprograms(
    prog: &mut Vec<Insn>,
    main_refs: Vec<(usize, usize)>,
    slots: &[Insn],
    functions: &[TextFunction],
    relocate: &Relocate<'_>,
) -> Result<Vec<Option<usize>>, ElfError> {
    let mut placed: Vec<Option<usize>> = vec![None; functions.len()];
    // The references of the program and of each function appended, and
    // the next of each to link.
    let mut stack: Vec<(Vec<(usize, usize)>, usize)> = vec![(main_refs, 0)];
    while let Some(top) = stack.len().checked_sub(1) {
        let Some(&(pc, slot)) = stack[top].0.get(stack[top].1) else {
            stack.pop();
            continue;
        };
        stack[top].1 += 1;
        let f = functions
            .partition_point(|f| f.start <= slot)
            .checked_sub(1)
            .filter(|&f| slot < functions[f].end)
            .ok_or_else(|| {
                ElfError(format!(
                    "instruction {pc}: refers to slot {slot} of .text, which is in no function"
                ))
            })?;
        let function = functions[f];
        let mut appended = None;
        let base = match placed[f] {
            Some(base) => base,
            None => {
                let base = prog.len();
                placed[f] = Some(base);
                prog.extend_from_slice(&slots[function.start..function.end]);
                let mut refs = relocate(function.start as u64, function.end as u64, base, prog)?;
                refs.sort_unstable();
                let relocated = refs.len();
                // Calls without a relocation (to a static function of the
                // section): their offset is the section's own.
                for at in function.start..function.end {
                    let here = base + (at - function.start);
                    let insn = prog[here];
                    if insn.opc == CALL
                        && insn.src == PSEUDO_CALL
                        && refs[..relocated]
                            .binary_search_by_key(&here, |r| r.0)
                            .is_err()
                    {
                        let callee = at as i64 + 1 + i64::from(insn.imm);
                        if callee < 0 || callee >= slots.len() as i64 {
                            return Err(ElfError(format!(
                                "section '.text', instruction {at}: a call outside .text"
                            )));
                        }
                        refs.push((here, callee as usize));
                    }
                }
                refs.sort_unstable();
                appended = Some(refs);
                base
            }
        };
        let to = (base + (slot - function.start)) as i64;
        prog[pc].imm = i32::try_from(to - pc as i64 - 1)
            .map_err(|_| ElfError(format!("instruction {pc}: call offset out of range")))?;
        if let Some(refs) = appended {
            stack.push((refs, 0));
        }
    }
    Ok(placed)
}

/// The maps of an object and where their symbols are.
struct Maps {
    defs: Vec<MapDef>,
    /// (section, offset of the definition or section start) → index; data
    /// sections map their whole range.
    declared: Vec<(object::SectionIndex, u64, usize)>,
    data: Vec<(object::SectionIndex, usize)>,
}

impl Maps {
    fn read(file: &object::File<'_>) -> Result<Maps, ElfError> {
        let mut maps = Maps {
            defs: Vec::new(),
            declared: Vec::new(),
            data: Vec::new(),
        };
        // Global data: one-entry arrays holding the section.
        for section in file.sections() {
            let name = section.name().unwrap_or("");
            let is_data = [".data", ".rodata", ".bss"]
                .iter()
                .any(|p| name == *p || name.starts_with(&format!("{p}.")));
            if !is_data || section.size() == 0 {
                continue;
            }
            let size = u32::try_from(section.size())
                .map_err(|_| ElfError(format!("section '{name}' is over 4 GiB")))?;
            let initial = match section.kind() {
                SectionKind::UninitializedData => None,
                _ => Some(section_bytes(&section, name)?.to_vec()),
            };
            maps.data.push((section.index(), maps.defs.len()));
            maps.defs.push(MapDef {
                initial,
                read_only: name.starts_with(".rodata"),
                ..MapDef::new(name, MapKind::Array, 4, size, 1)
            });
        }
        // Maps declared with BTF in `.maps`.
        if let Some(section) = file.section_by_name(".maps") {
            let btf = file
                .section_by_name(".BTF")
                .ok_or_else(|| ElfError("a .maps section but no .BTF to read it with".into()))?;
            let btf = btf::Btf::parse(section_bytes(&btf, ".BTF")?, ".BTF")?;
            for (name, _, fields) in btf.maps()? {
                // The object's DATASEC offsets are left for the loader to
                // fill in (libbpf does, from the symbols): the symbol of
                // the same name says where the definition is.
                let offset = file
                    .symbols()
                    .find(|s| {
                        s.section_index() == Some(section.index()) && s.name() == Ok(name.as_str())
                    })
                    .map(|s| s.address())
                    .ok_or_else(|| ElfError(format!("map '{name}': no symbol in .maps")))?;
                if offset >= section.size() {
                    return Err(ElfError(format!(
                        "map '{name}': its symbol is at byte offset {offset} of .maps, past \
                         the section's {} bytes",
                        section.size()
                    )));
                }
                let field = |f: &str| fields.iter().find(|(n, _)| n == f).map(|&(_, v)| v);
                // A map of maps' value is a descriptor: libbpf makes it 4
                // bytes when `__array(values, …)` stands for it.
                let fd_value = field("inner.type").map(|_| 4);
                let mut def = map_def(
                    &name,
                    field("type"),
                    field("key_size").or(field("key")),
                    field("value_size").or(field("value")).or(fd_value),
                    field("max_entries"),
                    field("map_flags").unwrap_or(0),
                )?;
                if def.kind.holds_maps() {
                    def.inner = Some(Box::new(inner_map(&name, &fields)?));
                }
                match (def.kind, field("values_offset")) {
                    (MapKind::ProgArray, Some(values)) => {
                        def.programs =
                            initial_entries(file, &section, &def, offset + values, Entry::Program)?;
                    }
                    (kind, Some(values)) if kind.holds_maps() => {
                        def.maps =
                            initial_entries(file, &section, &def, offset + values, Entry::Map)?;
                    }
                    _ => {}
                }
                maps.declared
                    .push((section.index(), offset, maps.defs.len()));
                maps.defs.push(def);
            }
        }
        // Legacy `maps`: struct bpf_map_def per symbol.
        if let Some(section) = file.section_by_name("maps") {
            let data = section_bytes(&section, "maps")?;
            let mut symbols: Vec<_> = file
                .symbols()
                .filter(|s| {
                    s.section_index() == Some(section.index()) && !s.name().unwrap_or("").is_empty()
                })
                .collect();
            symbols.sort_by_key(|s| s.address());
            for sym in symbols {
                let name = sym.name().unwrap_or("?").to_string();
                let at = sym.address() as usize;
                let word = |i: usize| {
                    data.get(at + 4 * i..at + 4 * i + 4)
                        .map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                };
                if word(3).is_none() {
                    return Err(ElfError(format!(
                        "map '{name}': its bpf_map_def runs past the 'maps' section"
                    )));
                }
                let def = map_def(
                    &name,
                    word(0),
                    word(1),
                    word(2),
                    word(3),
                    word(4).unwrap_or(0),
                )?;
                if def.kind.holds_maps() {
                    return Err(ElfError(format!(
                        "map '{name}': a map of maps needs its inner map's definition, which a \
                         legacy bpf_map_def cannot give (declare it in .maps with BTF)"
                    )));
                }
                maps.declared
                    .push((section.index(), sym.address(), maps.defs.len()));
                maps.defs.push(def);
            }
        }
        if let Some(total) = super::maps::over_memory_bound(&maps.defs) {
            return Err(ElfError(format!(
                "the object's maps ({}) need {} MiB together, over the {} MiB an object's \
                 maps may take",
                maps.defs.len(),
                total >> 20,
                MAX_MAP_MEMORY >> 20
            )));
        }
        Ok(maps)
    }

    /// The map a symbol at `address` in `section` names, and for global
    /// data the offset into it.
    fn find(&self, section: object::SectionIndex, address: u64) -> Option<(usize, Option<u64>)> {
        if let Some(&(_, index)) = self.data.iter().find(|(s, _)| *s == section) {
            return Some((index, Some(address)));
        }
        self.declared
            .iter()
            .find(|&&(s, at, _)| s == section && at == address)
            .map(|&(_, _, index)| (index, None))
    }
}

/// What an `__array(values, …)` initialiser names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Entry {
    /// A program array's: a function.
    Program,
    /// A map of maps': a map of `.maps`.
    Map,
}

/// A program array's or map of maps' `__array(values, …)` initialisers:
/// the relocations of `.maps` that fall in its values, each naming a
/// function or a map.
fn initial_entries(
    file: &object::File<'_>,
    maps: &object::Section<'_, '_>,
    def: &MapDef,
    values_at: u64,
    entry: Entry,
) -> Result<Vec<(u32, String)>, ElfError> {
    let end = values_at + 8 * u64::from(def.max_entries);
    let mut out = Vec::new();
    for (offset, reloc) in maps.relocations() {
        if offset < values_at || offset >= end {
            continue;
        }
        let index = ((offset - values_at) / 8) as u32;
        let RelocationTarget::Symbol(sym) = reloc.target() else {
            continue;
        };
        let symbol = file
            .symbol_by_index(sym)
            .map_err(|e| ElfError(format!("map '{}', entry {index}: {e}", def.name)))?;
        let fits = match entry {
            Entry::Program => symbol.kind() == SymbolKind::Text,
            Entry::Map => symbol.section_index() == Some(maps.index()),
        };
        if !fits {
            return Err(ElfError(format!(
                "map '{}', entry {index}: '{}' is not a {}",
                def.name,
                symbol.name().unwrap_or("?"),
                if entry == Entry::Program {
                    "program"
                } else {
                    "map of .maps"
                }
            )));
        }
        out.push((index, symbol.name().unwrap_or("?").to_string()));
    }
    Ok(out)
}

/// A map of maps' inner template, from the `inner.` fields the BTF reader
/// gives for `__array(values, struct …)`.
fn inner_map(name: &str, fields: &[(String, u64)]) -> Result<MapDef, ElfError> {
    let field = |f: &str| {
        fields
            .iter()
            .find(|(n, _)| n.strip_prefix("inner.") == Some(f))
            .map(|&(_, v)| v)
    };
    if field("type").is_none() {
        return Err(ElfError(format!(
            "map '{name}': a map of maps needs its inner map's definition \
             (__array(values, struct {{ … }}))"
        )));
    }
    let inner = map_def(
        &format!("{name}.inner"),
        field("type"),
        field("key_size").or(field("key")),
        field("value_size").or(field("value")),
        field("max_entries"),
        field("map_flags").unwrap_or(0),
    )?;
    if inner.kind.holds_maps() {
        return Err(ElfError(format!(
            "map '{name}': its inner maps cannot hold maps themselves (one level only, \
             as the kernel)"
        )));
    }
    Ok(inner)
}

/// A map definition from its declared fields, checked as the kernel's
/// `BPF_MAP_CREATE` checks them.
fn map_def(
    name: &str,
    kind: Option<u64>,
    key_size: Option<u64>,
    value_size: Option<u64>,
    max_entries: Option<u64>,
    flags: u64,
) -> Result<MapDef, ElfError> {
    let missing = |f: &str| ElfError(format!("map '{name}': no {f}"));
    let number = kind.ok_or_else(|| missing("type"))?;
    let kind = u32::try_from(number)
        .ok()
        .and_then(MapKind::from_number)
        .ok_or_else(|| {
            ElfError(format!(
                "map '{name}': maps of type {} are not supported (hash, array, their per-CPU \
                 and LRU forms, LPM tries, program arrays, ring buffers, perf event arrays, \
                 devmaps, cpumaps, xskmaps and maps of maps are)",
                kind_name(number as u32)
            ))
        })?;
    let field = |v: Option<u64>, f: &str| -> Result<u32, ElfError> {
        let v = v.ok_or_else(|| missing(f))?;
        u32::try_from(v)
            .ok()
            .filter(|&v| v > 0)
            .ok_or_else(|| ElfError(format!("map '{name}': {f} {v} is invalid (EINVAL)")))
    };
    let (key_size, value_size, max_entries) = if kind == MapKind::RingBuf {
        // The kernel's ringbuf_map_alloc: no key or value, a size that is a
        // power of two and a whole number of pages.
        let size = field(max_entries, "max_entries")?;
        if key_size.unwrap_or(0) != 0 || value_size.unwrap_or(0) != 0 {
            return Err(ElfError(format!(
                "map '{name}': a ring buffer has no key or value size (EINVAL)"
            )));
        }
        if !size.is_power_of_two() || size % 4096 != 0 || size > 1 << 30 {
            return Err(ElfError(format!(
                "map '{name}': a ring buffer's size is a power of two and a whole number of \
                 4096-byte pages, not {size} (EINVAL)"
            )));
        }
        (0, 0, size)
    } else if kind == MapKind::PerfEventArray {
        // libbpf fills in what a perf event array leaves out: 4-byte keys
        // and values (descriptors), one entry per CPU (this runtime has one).
        let or = |v: Option<u64>, default: u64| Some(v.filter(|&v| v != 0).unwrap_or(default));
        (
            field(or(key_size, 4), "key size")?,
            field(or(value_size, 4), "value size")?,
            field(or(max_entries, 1), "max_entries")?,
        )
    } else {
        (
            field(key_size, "key size")?,
            field(value_size, "value size")?,
            field(max_entries, "max_entries")?,
        )
    };
    if kind == MapKind::LpmTrie {
        // The kernel's trie_alloc checks.
        if !(5..=4 + 256).contains(&key_size) {
            return Err(ElfError(format!(
                "map '{name}': an LPM trie's key is a u32 prefix length and 1 to 256 bytes of \
                 data, not {key_size} bytes (EINVAL)"
            )));
        }
        if flags & 1 == 0 {
            return Err(ElfError(format!(
                "map '{name}': an LPM trie needs map_flags BPF_F_NO_PREALLOC (EINVAL)"
            )));
        }
    }
    // The kernel's alloc checks of the maps whose values are descriptors
    // or small structs.
    let sizes_ok = match kind {
        MapKind::ProgArray | MapKind::PerfEventArray | MapKind::XskMap | MapKind::ArrayOfMaps => {
            key_size == 4 && value_size == 4
        }
        MapKind::HashOfMaps => value_size == 4,
        MapKind::DevMap | MapKind::DevMapHash | MapKind::CpuMap => {
            key_size == 4 && (value_size == 4 || value_size == 8)
        }
        _ => true,
    };
    if kind == MapKind::HashOfMaps && value_size != 4 {
        return Err(ElfError(format!(
            "map '{name}': a hash of maps' values are 4 bytes (descriptors), not {value_size} \
             (EINVAL)"
        )));
    }
    if !sizes_ok {
        let values = match kind {
            MapKind::DevMap | MapKind::DevMapHash | MapKind::CpuMap => "4 or 8",
            _ => "4",
        };
        return Err(ElfError(format!(
            "map '{name}': a {} map's keys are 4 bytes and its values {values}, not \
             {key_size} and {value_size} (EINVAL)",
            kind_name(kind.number())
        )));
    }
    if kind.is_array() && key_size != 4 {
        return Err(ElfError(format!(
            "map '{name}': an array's key is 4 bytes, not {key_size} (EINVAL)"
        )));
    }
    let def = MapDef {
        flags: u32::try_from(flags).unwrap_or(u32::MAX),
        ..MapDef::new(name, kind, key_size, value_size, max_entries)
    };
    // Bound what one object may make us allocate.
    if def.memory_bytes() > MAX_MAP_MEMORY {
        return Err(ElfError(format!(
            "map '{name}': {max_entries} entries of {key_size}-byte keys and {value_size}-byte \
             values need {} MiB, over the {} MiB an object's maps may take",
            def.memory_bytes() >> 20,
            MAX_MAP_MEMORY >> 20
        )));
    }
    Ok(def)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tests/xdp/subprogs.c` as clang built it (the fuzz seed): `.text`
    /// holds `bump`, `ether_type` and `classify`.
    const SUBPROGS: &[u8] = include_bytes!("../../../fuzz/seeds/elf_load/obj_subprogs.o");

    /// The object with `.text` function `name`'s symbol changed by `patch`
    /// (its value and size, as the symbol table holds them).
    fn with_symbol(name: &str, patch: impl Fn(&mut u64, &mut u64)) -> Vec<u8> {
        let original = SUBPROGS.to_vec();
        let file = object::File::parse(&original[..]).expect("parses");
        let symbol = file
            .symbols()
            .find(|s| s.name() == Ok(name))
            .expect("the symbol");
        let symtab = file.section_by_name(".symtab").expect(".symtab");
        let (at, _) = symtab.file_range().expect("in the file");
        // Elf64_Sym: name (4), info, other, shndx (2), value (8), size (8).
        let entry = at as usize + symbol.index().0 * 24;
        let mut bytes = original.clone();
        let field = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8"));
        let (mut value, mut size) = (field(&bytes, entry + 8), field(&bytes, entry + 16));
        patch(&mut value, &mut size);
        bytes[entry + 8..entry + 16].copy_from_slice(&value.to_le_bytes());
        bytes[entry + 16..entry + 24].copy_from_slice(&size.to_le_bytes());
        bytes
    }

    /// An object is read wherever its bytes start: `include_bytes!` data
    /// and a slice at every offset of a larger buffer give the programs
    /// of the file read into a `Vec`.
    #[test]
    fn objects_load_from_unaligned_memory() {
        // As a file read into a `Vec` (whose allocation is aligned).
        let file: Vec<u8> = SUBPROGS.to_vec();
        let read = load(&file).expect("loads");
        let names = |o: &EbpfObject| -> Vec<(String, Vec<crate::ebpf::Insn>)> {
            o.programs
                .iter()
                .map(|p| (p.name.clone(), p.program.insns.clone()))
                .collect()
        };
        assert!(!read.programs.is_empty());
        assert_eq!(
            names(&load(SUBPROGS).expect("include_bytes! data")),
            names(&read)
        );
        let mut buffer = vec![0u8; SUBPROGS.len() + 8];
        for offset in 0..8 {
            buffer[offset..offset + SUBPROGS.len()].copy_from_slice(SUBPROGS);
            let slice = &buffer[offset..offset + SUBPROGS.len()];
            let loaded = load(slice).unwrap_or_else(|e| panic!("at offset {offset}: {e}"));
            assert_eq!(names(&loaded), names(&read), "at offset {offset}");
        }
    }

    #[test]
    fn text_function_symbols_the_loader_cannot_place_are_refused_by_name() {
        assert!(load(SUBPROGS).is_ok());
        let off_slot = load(&with_symbol("classify", |v, _| *v += 4)).expect_err("refused");
        assert!(
            off_slot
                .0
                .contains("section '.text': a function at byte offset")
                && off_slot
                    .0
                    .contains("which is not an instruction of the section"),
            "{off_slot}"
        );
        // `bump` starts .text; with its symbol one instruction later, the
        // call to .text's first slot calls into no function.
        let headless = load(&with_symbol("bump", |v, s| {
            *v += 8;
            *s -= 8;
        }))
        .expect_err("refused");
        assert!(
            headless
                .0
                .contains("refers to slot 0 of .text, which is in no function"),
            "{headless}"
        );
        let overlong = load(&with_symbol("bump", |_, s| *s += 64)).expect_err("refused");
        assert!(
            overlong
                .0
                .contains("runs past the next function or the section's end"),
            "{overlong}"
        );
    }

    /// CO-RE relocations that libbpf would refuse to apply are refused
    /// naming the section, instruction and relocation: candidates that
    /// disagree, an instruction offset past the section, and an
    /// instruction that does not hold the value the relocation expects.
    #[test]
    fn core_relocations_libbpf_refuses_are_named() {
        // (Copied: `object` reads ELF64 headers only 8-byte aligned, as a
        // file read into a `Vec` is.)
        let owned = include_bytes!("../../../fuzz/seeds/elf_load/obj_core_kernel.o").to_vec();
        let bytes = &owned[..];
        let file = object::File::parse(bytes).unwrap();
        let own_btf = file
            .section_by_name(".BTF")
            .unwrap()
            .data()
            .unwrap()
            .to_vec();
        let (ext_at, _) = file
            .section_by_name(".BTF.ext")
            .unwrap()
            .file_range()
            .unwrap();
        let (xdp_at, _) = file.section_by_name("xdp").unwrap().file_range().unwrap();
        // Against the object's own types, its context flavour matches
        // both itself and the real `xdp_md` (from <linux/bpf.h>), at other
        // offsets: refused by libbpf's rule that candidates agree.
        let own = CoreTypes::Btf {
            btf: &own_btf,
            name: "own",
        };
        assert_eq!(
            load_with(bytes, own).unwrap_err().0,
            "section 'xdp', instruction 0: CO-RE relocation #0 (byte_off): type 19 \
             'xdp_md___swapped': field offset ambiguity: 0 != 32 bits between candidates"
        );
        // Against the running kernel's (a failure where CI runs, as the
        // tests that compare with the kernel).
        let Ok(kernel_btf) = std::fs::read(KERNEL_BTF) else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{KERNEL_BTF} missing under CI=true"
            );
            eprintln!("skipping the rest: no {KERNEL_BTF}");
            return;
        };
        let core = CoreTypes::Btf {
            btf: &kernel_btf,
            name: KERNEL_BTF,
        };
        let object = load_with(bytes, core).unwrap();
        assert!(object.core_resolved);
        assert_eq!(object.core_relocations, 28);
        // The first record: past the .BTF.ext header, the CO-RE part's
        // record size, its section's name and count.
        let word = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        let ext = ext_at as usize;
        let record = ext + word(bytes, ext + 4) as usize + word(bytes, ext + 24) as usize + 12;
        let first_insn = word(bytes, record) as usize / 8;
        let mut past = bytes.to_vec();
        past[record..record + 4].copy_from_slice(&0x10_0000u32.to_le_bytes());
        let e = load_with(&past, core).unwrap_err();
        assert_eq!(
            e.0,
            "section 'xdp', instruction 131072: CO-RE relocation #0 (byte_off): byte offset \
             1048576 is not an instruction of the section"
        );
        // The instruction's offset changed under the relocation.
        let mut moved = bytes.to_vec();
        let off_at = xdp_at as usize + first_insn * 8 + 2;
        moved[off_at..off_at + 2].copy_from_slice(&3i16.to_le_bytes());
        let e = load_with(&moved, core).unwrap_err();
        assert_eq!(
            e.0,
            format!(
                "section 'xdp', instruction {first_insn}: CO-RE relocation #0 (byte_off): the \
                 instruction's offset is 3, not the expected 0"
            )
        );
        // Relocations for a section the object lacks (the name points at
        // a type's name in .BTF's strings).
        let mut elsewhere = bytes.to_vec();
        elsewhere[record - 8..record - 4].copy_from_slice(&1u32.to_le_bytes());
        let e = load_with(&elsewhere, core).unwrap_err();
        assert!(
            e.0.starts_with("section '.BTF.ext': CO-RE relocations for section '")
                && e.0.ends_with("', which the object does not have"),
            "{e}"
        );
        // Kept as compiled, none is looked at.
        assert!(load(&past).is_ok() && load(&moved).is_ok() && load(&elsewhere).is_ok());
    }
}
