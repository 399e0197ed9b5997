//! Writing classic programs in every form [`super::parse`] reads, plus
//! tcpdump's `-d` disassembly (libpcap's `bpf_image` layout, character for
//! character).

use super::ancillary::Ancillary;
use super::insn::{op, Insn, Program};
use std::collections::BTreeSet;
use std::fmt::Write;

/// tcpdump `-ddd`: the count, then `code jt jf k` per line.
pub fn ddd(prog: &Program) -> String {
    let mut s = format!("{}\n", prog.len());
    for i in &prog.insns {
        let _ = writeln!(s, "{} {} {} {}", i.code, i.jt, i.jf, i.k);
    }
    s
}

/// The one-line comma form (`4,40 0 0 12,21 0 1 2048,...`), as iptables'
/// `-m bpf --bytecode` takes it.
pub fn comma(prog: &Program) -> String {
    let mut s = prog.len().to_string();
    for i in &prog.insns {
        let _ = write!(s, ",{} {} {} {}", i.code, i.jt, i.jf, i.k);
    }
    s.push('\n');
    s
}

/// tcpdump `-dd`: `{ 0x28, 0, 0, 0x0000000c },` per line.
pub fn dd(prog: &Program) -> String {
    let mut s = String::new();
    for i in &prog.insns {
        let _ = writeln!(
            s,
            "{{ 0x{:x}, {}, {}, 0x{:08x} }},",
            i.code, i.jt, i.jf, i.k
        );
    }
    s
}

/// Raw little-endian `struct sock_filter` records.
pub fn raw(prog: &Program) -> Vec<u8> {
    prog.insns.iter().flat_map(|i| i.to_bytes()).collect()
}

/// tcpdump `-d`: one `bpf_image` line per instruction.
pub fn disasm(prog: &Program) -> String {
    let mut s = String::new();
    for (n, insn) in prog.insns.iter().enumerate() {
        s.push_str(&image(insn, n));
        s.push('\n');
    }
    s
}

/// libpcap's `bpf_image` for instruction `insn` at index `n`.
pub fn image(insn: &Insn, n: usize) -> String {
    use op::*;
    let k = insn.k;
    let ks = k as i32;
    let abs = || match Ancillary::from_k(k) {
        Some(a) => format!("[{}]", a.pcap_name()),
        None => format!("[{ks}]"),
    };
    let (name, operand): (&str, String) = match insn.code {
        c if c == RET | K => ("ret", format!("#{ks}")),
        c if c == RET | A => ("ret", String::new()),
        c if c == LD | W | ABS => ("ld", abs()),
        c if c == LD | H | ABS => ("ldh", abs()),
        c if c == LD | B | ABS => ("ldb", abs()),
        c if c == LD | W | LEN => ("ld", "#pktlen".into()),
        c if c == LDX | W | LEN => ("ldx", "#pktlen".into()),
        c if c == LD | W | IND => ("ld", format!("[x + {ks}]")),
        c if c == LD | H | IND => ("ldh", format!("[x + {ks}]")),
        c if c == LD | B | IND => ("ldb", format!("[x + {ks}]")),
        c if c == LD | IMM => ("ld", format!("#0x{k:x}")),
        c if c == LDX | IMM => ("ldx", format!("#0x{k:x}")),
        c if c == LDX | MSH | B => ("ldxb", format!("4*([{ks}]&0xf)")),
        c if c == LD | MEM => ("ld", format!("M[{ks}]")),
        c if c == LDX | MEM => ("ldx", format!("M[{ks}]")),
        c if c == ST => ("st", format!("M[{ks}]")),
        c if c == STX => ("stx", format!("M[{ks}]")),
        c if c == JMP | JA => (
            "ja",
            format!("{}", (n as u32).wrapping_add(1).wrapping_add(k) as i32),
        ),
        c if c == ALU | NEG => ("neg", String::new()),
        c if c == MISC | TAX => ("tax", String::new()),
        c if c == MISC | TXA => ("txa", String::new()),
        c => match (c & 0x07, c & 0xf0, c & 0xff08) {
            (JMP, o, s) if jmp_name(o).is_some() && (s == K || s == X) => {
                let operand = if s == X {
                    "x".into()
                } else {
                    format!("#0x{k:x}")
                };
                (jmp_name(o).unwrap_or("?"), operand)
            }
            (ALU, o, s) if alu_name(o).is_some() && (s == K || s == X) => {
                let hex = matches!(o, AND | OR | XOR);
                let operand = match (s == X, hex) {
                    (true, _) => "x".into(),
                    (false, true) => format!("#0x{k:x}"),
                    (false, false) => format!("#{ks}"),
                };
                (alu_name(o).unwrap_or("?"), operand)
            }
            _ => ("unimp", format!("0x{c:x}")),
        },
    };
    let jt = (n as u32).wrapping_add(1).wrapping_add(insn.jt as u32) as i32;
    let jf = (n as u32).wrapping_add(1).wrapping_add(insn.jf as u32) as i32;
    if insn.code & 0x07 == JMP && insn.code & 0xf0 != JA {
        format!("({n:03}) {name:<8} {operand:<16} jt {jt}\tjf {jf}")
    } else {
        format!("({n:03}) {name:<8} {operand}")
    }
}

fn jmp_name(o: u16) -> Option<&'static str> {
    Some(match o {
        op::JEQ => "jeq",
        op::JGT => "jgt",
        op::JGE => "jge",
        op::JSET => "jset",
        _ => return None,
    })
}

fn alu_name(o: u16) -> Option<&'static str> {
    Some(match o {
        op::ADD => "add",
        op::SUB => "sub",
        op::MUL => "mul",
        op::DIV => "div",
        op::MOD => "mod",
        op::AND => "and",
        op::OR => "or",
        op::XOR => "xor",
        op::LSH => "lsh",
        op::RSH => "rsh",
        _ => return None,
    })
}

/// bpf_asm source that assembles back to exactly `prog`. Jump targets get
/// labels `L<index>`; anything bpf_asm cannot express (unknown opcodes,
/// stray jt/jf/k bits, jumps leaving the program) is written with the
/// `.insn code, jt, jf, k` extension.
pub fn asm(prog: &Program) -> String {
    let len = prog.len();
    let target = |n: usize, off: u64| -> Option<usize> {
        let t = n as u64 + 1 + off;
        (t < len as u64).then_some(t as usize)
    };
    let mut lines: Vec<Option<String>> = Vec::with_capacity(len);
    let mut labels = BTreeSet::new();
    for (n, insn) in prog.insns.iter().enumerate() {
        let line = asm_line(insn, n, &target);
        if let Some(text) = &line {
            if insn.code == op::JMP | op::JA {
                labels.extend(target(n, insn.k as u64));
            } else if is_cond_jump(insn.code) && text.starts_with('j') {
                labels.extend(target(n, insn.jt as u64));
                labels.extend(target(n, insn.jf as u64));
            }
        }
        lines.push(line);
    }
    let mut s = String::new();
    for (n, (insn, line)) in prog.insns.iter().zip(lines).enumerate() {
        if labels.contains(&n) {
            let _ = write!(s, "L{n}:");
        }
        s.push('\t');
        match line {
            Some(text) => s.push_str(&text),
            None => {
                let _ = write!(
                    s,
                    ".insn 0x{:x}, {}, {}, 0x{:x}",
                    insn.code, insn.jt, insn.jf, insn.k
                );
            }
        }
        s.push('\n');
    }
    s
}

fn is_cond_jump(code: u16) -> bool {
    code & 0x07 == op::JMP && jmp_name(code & 0xf0).is_some() && code & 0xff08 == code & 0x08
}

/// One instruction in bpf_asm syntax, or `None` if bpf_asm cannot write it.
fn asm_line(insn: &Insn, n: usize, target: &dyn Fn(usize, u64) -> Option<usize>) -> Option<String> {
    use op::*;
    let (code, k, ks) = (insn.code, insn.k, insn.k as i32);
    let no_jumps = insn.jt == 0 && insn.jf == 0;
    if is_cond_jump(code) {
        let name = jmp_name(code & 0xf0)?;
        let operand = if code & X != 0 {
            if k != 0 {
                return None;
            }
            "x".to_string()
        } else {
            format!("#0x{k:x}")
        };
        let jt = target(n, insn.jt as u64)?;
        let jf = target(n, insn.jf as u64)?;
        return Some(format!("{name} {operand}, L{jt}, L{jf}"));
    }
    if !no_jumps {
        return None;
    }
    let k_zero = |text: &str| (k == 0).then(|| text.to_string());
    let abs = |name: &str| match Ancillary::from_k(k) {
        Some(a) => format!("{name} #{}", a.asm_name()),
        None => format!("{name} [{ks}]"),
    };
    Some(match code {
        c if c == RET | K => format!("ret #{k}"),
        c if c == RET | A => return k_zero("ret a"),
        c if c == RET | X => return k_zero("ret x"),
        c if c == LD | W | ABS => abs("ld"),
        c if c == LD | H | ABS => abs("ldh"),
        c if c == LD | B | ABS => abs("ldb"),
        c if c == LD | W | LEN => return k_zero("ld #len"),
        c if c == LDX | W | LEN => return k_zero("ldx #len"),
        c if c == LD | W | IND => format!("ld [x + {ks}]"),
        c if c == LD | H | IND => format!("ldh [x + {ks}]"),
        c if c == LD | B | IND => format!("ldb [x + {ks}]"),
        c if c == LD | IMM => format!("ld #0x{k:x}"),
        c if c == LDX | IMM => format!("ldx #0x{k:x}"),
        c if c == LDX | MSH | B => format!("ldxb 4*([{ks}]&0xf)"),
        c if c == LD | MEM => format!("ld M[{k}]"),
        c if c == LDX | MEM => format!("ldx M[{k}]"),
        c if c == ST => format!("st M[{k}]"),
        c if c == STX => format!("stx M[{k}]"),
        c if c == JMP | JA => format!("ja L{}", target(n, k as u64)?),
        c if c == ALU | NEG => return k_zero("neg"),
        c if c == MISC | TAX => return k_zero("tax"),
        c if c == MISC | TXA => return k_zero("txa"),
        c if c & 0x07 == ALU && c & 0xff00 == 0 => {
            let name = alu_name(c & 0xf0)?;
            if c & X != 0 {
                return k_zero(&format!("{name} x"));
            }
            format!("{name} #{k}")
        }
        _ => return None,
    })
}
