//! Text listings of compiled code for `disasm --native`: the final machine
//! code disassembled (x86-64, with the `native-disasm` feature), else
//! Cranelift's own listing of the instructions it emitted.

/// Disassembles `code`, loaded at `address`, in AT&T syntax.
#[cfg(all(feature = "native-disasm", target_arch = "x86_64"))]
pub(crate) fn machine_code(code: &[u8], address: u64) -> Option<String> {
    use iced_x86::{Decoder, DecoderOptions, Formatter, GasFormatter, Instruction};
    use std::fmt::Write;

    let mut decoder = Decoder::with_ip(64, code, address, DecoderOptions::NONE);
    let mut formatter = GasFormatter::new();
    let mut out = String::new();
    let mut text = String::new();
    let mut insn = Instruction::default();
    while decoder.can_decode() {
        decoder.decode_out(&mut insn);
        text.clear();
        formatter.format(&insn, &mut text);
        let start = (insn.ip() - address) as usize;
        let bytes: String = code[start..start + insn.len()]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let _ = writeln!(out, "{:4x}:  {bytes:<24} {text}", insn.ip() - address);
    }
    Some(out)
}

/// Without a disassembler for this host, callers use Cranelift's listing.
#[cfg(not(all(feature = "native-disasm", target_arch = "x86_64")))]
pub(crate) fn machine_code(_code: &[u8], _address: u64) -> Option<String> {
    None
}
