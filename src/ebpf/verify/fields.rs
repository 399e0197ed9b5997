//! Rule 1 of the verifier: each instruction's opcode and fields.

use super::Rule;
use crate::ebpf::helpers::Helpers;
use crate::ebpf::insn::{op, Insn};

fn zero(field: &'static str, value: i64) -> Result<(), Rule> {
    if value == 0 {
        Ok(())
    } else {
        Err(Rule::ReservedField { field, value })
    }
}

fn reg(r: u8) -> Result<(), Rule> {
    if r > 10 {
        Err(Rule::BadRegister(r))
    } else {
        Ok(())
    }
}

fn write_reg(r: u8) -> Result<(), Rule> {
    reg(r)?;
    if r == 10 {
        Err(Rule::WritesR10)
    } else {
        Ok(())
    }
}

/// Rule 1 for the instruction at `pc`: opcode and fields.
pub(super) fn check_fields(
    insns: &[Insn],
    pc: usize,
    helpers: &Helpers,
    paths_checked: bool,
) -> Result<(), Rule> {
    let i = insns[pc];
    let unknown = Err(Rule::UnknownOpcode(i.opc));
    let (dst, src, off, imm) = (i.dst, i.src, i.off as i64, i.imm as i64);
    match i.class() {
        op::ALU | op::ALU64 => {
            let is64 = i.class() == op::ALU64;
            match i.op() {
                op::END => {
                    if is64 && i.is_src_reg() {
                        return unknown;
                    }
                    write_reg(dst)?;
                    zero("src", src as i64)?;
                    zero("off", off)?;
                    if !matches!(imm, 16 | 32 | 64) {
                        return Err(Rule::BadField {
                            field: "imm",
                            value: imm,
                        });
                    }
                }
                op::NEG => {
                    if i.is_src_reg() {
                        return unknown;
                    }
                    write_reg(dst)?;
                    zero("src", src as i64)?;
                    zero("off", off)?;
                    zero("imm", imm)?;
                }
                0xe0 | 0xf0 => return unknown,
                o => {
                    write_reg(dst)?;
                    if i.is_src_reg() {
                        reg(src)?;
                        zero("imm", imm)?;
                    } else {
                        zero("src", src as i64)?;
                    }
                    let off_ok = match o {
                        op::DIV | op::MOD => off == 0 || off == 1,
                        op::MOV if i.is_src_reg() => {
                            matches!(off, 0 | 8 | 16) || (is64 && off == 32)
                        }
                        _ => off == 0,
                    };
                    if !off_ok {
                        return Err(if o == op::DIV || o == op::MOD || o == op::MOV {
                            Rule::BadField {
                                field: "off",
                                value: off,
                            }
                        } else {
                            Rule::ReservedField {
                                field: "off",
                                value: off,
                            }
                        });
                    }
                }
            }
        }
        op::JMP | op::JMP32 => {
            let is32 = i.class() == op::JMP32;
            match i.op() {
                op::JA => {
                    if i.is_src_reg() {
                        return unknown;
                    }
                    zero("dst", dst as i64)?;
                    zero("src", src as i64)?;
                    if is32 {
                        zero("off", off)?;
                    } else {
                        zero("imm", imm)?;
                    }
                }
                op::CALL => {
                    if is32 {
                        return unknown;
                    }
                    if i.is_src_reg() {
                        // callx: the suite puts the register in dst.
                        reg(dst)?;
                        zero("src", src as i64)?;
                        zero("off", off)?;
                        zero("imm", imm)?;
                    } else {
                        zero("dst", dst as i64)?;
                        zero("off", off)?;
                        match src {
                            // A helper not served (libbpf's poisoned
                            // call among them): refused where a path
                            // reaches it, as the kernel refuses it, by the
                            // pass that follows paths.
                            op::CALL_HELPER if paths_checked => {}
                            op::CALL_HELPER => {
                                if imm < 0 || !helpers.contains(imm as u32) {
                                    return Err(Rule::UnknownHelper(imm));
                                }
                            }
                            op::CALL_LOCAL => {}
                            op::CALL_RUNTIME => {
                                return Err(Rule::Unsupported("call by BTF id (src = 2)"))
                            }
                            _ => {
                                return Err(Rule::BadField {
                                    field: "src",
                                    value: src as i64,
                                })
                            }
                        }
                    }
                }
                op::EXIT => {
                    if is32 || i.is_src_reg() {
                        return unknown;
                    }
                    zero("dst", dst as i64)?;
                    zero("src", src as i64)?;
                    zero("off", off)?;
                    zero("imm", imm)?;
                }
                0xe0 | 0xf0 => return unknown,
                _ => {
                    reg(dst)?;
                    if i.is_src_reg() {
                        reg(src)?;
                        zero("imm", imm)?;
                    } else {
                        zero("src", src as i64)?;
                    }
                }
            }
        }
        op::LD => match i.opc {
            op::LDDW => {
                write_reg(dst)?;
                if src != 0 {
                    return Err(Rule::Unsupported("lddw with src != 0 (map or pseudo load)"));
                }
                zero("off", off)?;
                let Some(second) = insns.get(pc + 1) else {
                    return Err(Rule::IncompleteLddw);
                };
                zero("second slot opcode", second.opc as i64)?;
                zero("second slot dst", second.dst as i64)?;
                zero("second slot src", second.src as i64)?;
                zero("second slot off", second.off as i64)?;
            }
            0x20 | 0x28 | 0x30 => {
                zero("dst", dst as i64)?;
                zero("src", src as i64)?;
                zero("off", off)?;
            }
            0x40 | 0x48 | 0x50 => {
                zero("dst", dst as i64)?;
                reg(src)?;
                zero("off", off)?;
            }
            _ => return unknown,
        },
        op::LDX => {
            match i.mode() {
                op::MEM => {}
                op::MEMSX if i.size_field() != op::DW => {}
                _ => return unknown,
            }
            write_reg(dst)?;
            reg(src)?;
            zero("imm", imm)?;
        }
        op::ST => {
            if i.mode() != op::MEM {
                return unknown;
            }
            reg(dst)?;
            zero("src", src as i64)?;
        }
        _ => {
            // STX
            match i.mode() {
                op::MEM => {
                    reg(dst)?;
                    reg(src)?;
                    zero("imm", imm)?;
                }
                op::ATOMIC if i.size_field() == op::W || i.size_field() == op::DW => {
                    reg(dst)?;
                    reg(src)?;
                    let base = i.imm & !op::FETCH;
                    let valid = matches!(base, 0x00 | 0x40 | 0x50 | 0xa0)
                        || i.imm == op::XCHG
                        || i.imm == op::CMPXCHG;
                    if !valid {
                        return Err(Rule::BadField {
                            field: "imm",
                            value: imm,
                        });
                    }
                    if i.imm & op::FETCH != 0 && i.imm != op::CMPXCHG {
                        write_reg(src)?;
                    }
                }
                _ => return unknown,
            }
        }
    }
    Ok(())
}
