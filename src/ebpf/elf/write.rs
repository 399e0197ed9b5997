//! Writing eBPF ELF objects as clang does (`clang -O2 -target bpf -c`):
//! one executable section per program, named by its libbpf program type
//! (`xdp`, `socket`, …), a global function symbol per program and a
//! `license` section, so libbpf-based loaders (`bpftool prog load`,
//! `ip link set … xdp obj`) and [`super::load`] take it. The layout is the
//! `object` crate's.

use object::write::{Object, Symbol, SymbolSection};
use object::{
    Architecture, BinaryFormat, Endianness, SectionKind, SymbolFlags, SymbolKind, SymbolScope,
};

use super::ElfError;
use crate::ebpf::Program;

/// One program to put in an object.
#[derive(Clone, Copy, Debug)]
pub struct ProgramSection<'a> {
    /// Section name: the libbpf program type (`xdp`, `tc`, `socket`, …).
    pub section: &'a str,
    /// Function name (the program's name in `bpftool prog show`).
    pub name: &'a str,
    /// The instructions; they must not need relocations (no maps, no
    /// calls to other functions).
    pub program: &'a Program,
}

/// An ELF relocatable object holding `programs` and the `license` string.
pub fn write_object(programs: &[ProgramSection<'_>], license: &str) -> Result<Vec<u8>, ElfError> {
    if license.contains('\0') {
        return Err(ElfError("the licence string contains a NUL byte".into()));
    }
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::Bpf, Endianness::Little);
    for p in programs {
        if p.name.is_empty() || p.name.contains('\0') {
            return Err(ElfError(format!(
                "program name {:?} is empty or contains a NUL byte",
                p.name
            )));
        }
        let code = p.program.to_bytes();
        let section = obj.add_section(Vec::new(), p.section.as_bytes().to_vec(), SectionKind::Text);
        let offset = obj.append_section_data(section, &code, 8);
        obj.add_symbol(Symbol {
            name: p.name.as_bytes().to_vec(),
            value: offset,
            size: code.len() as u64,
            kind: SymbolKind::Text,
            scope: SymbolScope::Dynamic,
            weak: false,
            section: SymbolSection::Section(section),
            flags: SymbolFlags::None,
        });
    }
    let license_section = obj.add_section(Vec::new(), b"license".to_vec(), SectionKind::Data);
    let mut text = license.as_bytes().to_vec();
    text.push(0);
    let offset = obj.append_section_data(license_section, &text, 1);
    obj.add_symbol(Symbol {
        name: b"_license".to_vec(),
        value: offset,
        size: text.len() as u64,
        kind: SymbolKind::Data,
        scope: SymbolScope::Dynamic,
        weak: false,
        section: SymbolSection::Section(license_section),
        flags: SymbolFlags::None,
    });
    obj.write()
        .map_err(|e| ElfError(format!("cannot lay out the object: {e}")))
}
