//! Assembler for the syntax of the eBPF conformance suite
//! (`lib/src/bpf_assembler.cc` there), with a few additions.
//!
//! One instruction per line; `#` starts a comment; `name:` defines a label
//! (alone or before an instruction). Registers are `%r0`–`%r10` (`r0` is
//! accepted too); operands are separated by whitespace and/or commas.
//! Immediates are decimal (`-2147483648`..`4294967295`, the upper range
//! giving the raw 32-bit pattern) or hex (`0x0`..`0xffffffff`, optionally
//! negated). Jump targets are `+N`/`-N` slots relative to the next slot, or a
//! label; the label `exit` names the first `exit` unless defined explicitly.
//!
//! Additions to the suite's syntax: `ldabsb|h|w imm` and
//! `ldindb|h|w %rS, imm` (legacy packet loads), `callx %rN` (same as
//! `call %rN`), and `.insn 0xWORD` — one raw slot as the suite's `-- raw`
//! 64-bit word — which the disassembler prints for slots that have no
//! mnemonic form, so any byte string round-trips.

use super::insn::{op, Insn, Program};
use super::MAX_INSNS;
use std::collections::HashMap;
use std::fmt;

/// An assembly error, with its 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsmError {
    /// Line number (1-based).
    pub line: usize,
    /// Column of the offending token (1-based, in characters).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for AsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for AsmError {}

/// A token and its 1-based column.
#[derive(Clone, Copy, Debug)]
struct Tok<'a> {
    text: &'a str,
    col: usize,
}

/// One source line holding an instruction.
struct Line<'a> {
    number: usize,
    toks: Vec<Tok<'a>>,
    slot: usize,
}

/// Splits on whitespace and commas, remembering columns.
fn tokenize(text: &str) -> Vec<Tok<'_>> {
    let mut toks = Vec::new();
    let mut start: Option<usize> = None;
    let mut col_of = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (n, &(byte, c)) in chars.iter().enumerate() {
        let sep = c.is_whitespace() || c == ',';
        match (sep, start) {
            (false, None) => {
                start = Some(byte);
                col_of = n + 1;
            }
            (true, Some(s)) => {
                toks.push(Tok {
                    text: &text[s..byte],
                    col: col_of,
                });
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        toks.push(Tok {
            text: &text[s..],
            col: col_of,
        });
    }
    toks
}

/// Assembles a whole program.
pub fn assemble(source: &str) -> Result<Program, AsmError> {
    let mut lines = Vec::new();
    let mut labels: HashMap<&str, usize> = HashMap::new();
    let mut first_exit = None;
    let mut slot = 0usize;
    for (idx, raw) in source.lines().enumerate() {
        let number = idx + 1;
        let code = raw.split('#').next().unwrap_or("");
        let mut toks = tokenize(code);
        while let Some(first) = toks.first() {
            let Some(name) = first.text.strip_suffix(':') else {
                break;
            };
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
            {
                return Err(err(
                    number,
                    first.col,
                    format!("invalid label '{}'", first.text),
                ));
            }
            if labels.insert(name, slot).is_some() {
                return Err(err(
                    number,
                    first.col,
                    format!("label '{name}' defined twice"),
                ));
            }
            toks.remove(0);
        }
        let Some(mnemonic) = toks.first() else {
            continue;
        };
        if mnemonic.text == "exit" && first_exit.is_none() {
            first_exit = Some(slot);
        }
        let slots = if mnemonic.text == "lddw" { 2 } else { 1 };
        if slot + slots > MAX_INSNS {
            // Stop before holding millions of lines: the verifier would
            // refuse the program anyway.
            return Err(err(
                number,
                mnemonic.col,
                format!("the program exceeds {MAX_INSNS} instruction slots (Linux's limit)"),
            ));
        }
        lines.push(Line { number, toks, slot });
        slot += slots;
    }
    if let Some(e) = first_exit {
        labels.entry("exit").or_insert(e);
    }
    let mut insns = Vec::with_capacity(slot);
    for line in &lines {
        let ctx = Ctx {
            line: line.number,
            slot: line.slot,
            labels: &labels,
        };
        insns.extend(ctx.encode(&line.toks)?);
    }
    Ok(Program::new(insns))
}

/// Assembles one instruction line with no labels in scope (jump targets
/// must be relative). Returns its slots.
pub fn assemble_line(text: &str) -> Result<Vec<Insn>, AsmError> {
    let labels = HashMap::new();
    let ctx = Ctx {
        line: 1,
        slot: 0,
        labels: &labels,
    };
    let toks = tokenize(text.split('#').next().unwrap_or(""));
    if toks.is_empty() {
        return Err(err(1, 1, "empty line".into()));
    }
    ctx.encode(&toks)
}

fn err(line: usize, column: usize, message: String) -> AsmError {
    AsmError {
        line,
        column,
        message,
    }
}

const ALU_OPS: [(&str, u8, i16); 15] = [
    ("add", op::ADD, 0),
    ("sub", op::SUB, 0),
    ("mul", op::MUL, 0),
    ("div", op::DIV, 0),
    ("sdiv", op::DIV, 1),
    ("mod", op::MOD, 0),
    ("smod", op::MOD, 1),
    ("or", op::OR, 0),
    ("and", op::AND, 0),
    ("xor", op::XOR, 0),
    ("lsh", op::LSH, 0),
    ("rsh", op::RSH, 0),
    ("arsh", op::ARSH, 0),
    ("mov", op::MOV, 0),
    ("neg", op::NEG, 0),
];

const JMP_OPS: [(&str, u8); 11] = [
    ("jeq", op::JEQ),
    ("jne", op::JNE),
    ("jgt", op::JGT),
    ("jge", op::JGE),
    ("jlt", op::JLT),
    ("jle", op::JLE),
    ("jset", op::JSET),
    ("jsgt", op::JSGT),
    ("jsge", op::JSGE),
    ("jslt", op::JSLT),
    ("jsle", op::JSLE),
];

const SIZES: [(&str, u8); 4] = [("b", op::B), ("h", op::H), ("w", op::W), ("dw", op::DW)];

const MOVSX: [(&str, u8, i16); 5] = [
    ("movsx832", op::ALU, 8),
    ("movsx1632", op::ALU, 16),
    ("movsx864", op::ALU64, 8),
    ("movsx1664", op::ALU64, 16),
    ("movsx3264", op::ALU64, 32),
];

const ATOMIC_OPS: [(&str, i32); 6] = [
    ("add", 0x00),
    ("or", 0x40),
    ("and", 0x50),
    ("xor", 0xa0),
    ("xchg", op::XCHG),
    ("cmpxchg", op::CMPXCHG),
];

struct Ctx<'a> {
    line: usize,
    slot: usize,
    labels: &'a HashMap<&'a str, usize>,
}

impl Ctx<'_> {
    fn fail<T>(&self, t: &Tok, message: String) -> Result<T, AsmError> {
        Err(err(self.line, t.col, message))
    }

    /// Checks the operand count (after the mnemonic) and returns them.
    fn operands<'t>(&self, toks: &'t [Tok<'t>], n: usize) -> Result<&'t [Tok<'t>], AsmError> {
        let ops = &toks[1..];
        if ops.len() != n {
            let at = ops.get(n).unwrap_or(&toks[0]);
            return self.fail(
                at,
                format!(
                    "'{}' takes {n} operand(s), found {}",
                    toks[0].text,
                    ops.len()
                ),
            );
        }
        Ok(ops)
    }

    fn reg(&self, t: &Tok) -> Result<u8, AsmError> {
        match parse_reg(t.text) {
            Some(r) => Ok(r),
            None => self.fail(
                t,
                format!("invalid register '{}' (expected %r0-%r10)", t.text),
            ),
        }
    }

    fn imm32(&self, t: &Tok) -> Result<i32, AsmError> {
        let v = parse_int(t.text)
            .ok_or(())
            .or_else(|_| self.fail(t, format!("invalid immediate '{}'", t.text)))?;
        if !(i32::MIN as i128..=u32::MAX as i128).contains(&v) {
            return self.fail(t, format!("immediate '{}' does not fit in 32 bits", t.text));
        }
        Ok(v as i64 as u32 as i32)
    }

    fn imm64(&self, t: &Tok) -> Result<u64, AsmError> {
        let v = parse_int(t.text)
            .ok_or(())
            .or_else(|_| self.fail(t, format!("invalid immediate '{}'", t.text)))?;
        if !(i64::MIN as i128..=u64::MAX as i128).contains(&v) {
            return self.fail(t, format!("immediate '{}' does not fit in 64 bits", t.text));
        }
        Ok(v as u64)
    }

    /// `[%rN+off]`, `[%rN-off]` or `[%rN]`.
    fn mem(&self, t: &Tok) -> Result<(u8, i16), AsmError> {
        let bad = || format!("invalid memory operand '{}' (expected [%rN+off])", t.text);
        let Some(inner) = t.text.strip_prefix('[').and_then(|s| s.strip_suffix(']')) else {
            return self.fail(t, bad());
        };
        let split = inner.find(['+', '-']).unwrap_or(inner.len());
        let (r, o) = inner.split_at(split);
        let Some(reg) = parse_reg(r) else {
            return self.fail(t, bad());
        };
        if o.is_empty() {
            return Ok((reg, 0));
        }
        let Some(v) = parse_int(o) else {
            return self.fail(t, bad());
        };
        match i16::try_from(v) {
            Ok(off) => Ok((reg, off)),
            Err(_) => self.fail(t, format!("offset in '{}' does not fit in 16 bits", t.text)),
        }
    }

    /// A jump target, as an offset relative to the next slot.
    fn target(&self, t: &Tok) -> Result<i64, AsmError> {
        if t.text.starts_with(['+', '-']) {
            return match parse_int(t.text) {
                Some(v) if (i32::MIN as i128..=i32::MAX as i128).contains(&v) => Ok(v as i64),
                _ => self.fail(t, format!("invalid jump offset '{}'", t.text)),
            };
        }
        match self.labels.get(t.text) {
            Some(&slot) => Ok(slot as i64 - (self.slot as i64 + 1)),
            None => self.fail(t, format!("unknown label '{}'", t.text)),
        }
    }

    fn target16(&self, t: &Tok) -> Result<i16, AsmError> {
        let rel = self.target(t)?;
        match i16::try_from(rel) {
            Ok(v) => Ok(v),
            Err(_) => self.fail(
                t,
                format!("jump offset {rel} does not fit in 16 bits (use ja32)"),
            ),
        }
    }

    fn encode(&self, toks: &[Tok]) -> Result<Vec<Insn>, AsmError> {
        let m = toks[0].text;
        let one = |i: Insn| Ok(vec![i]);
        // ALU, with the width suffix.
        for (name, o, off) in ALU_OPS {
            let class = if m == name || m == format!("{name}64") {
                op::ALU64
            } else if m == format!("{name}32") {
                op::ALU
            } else {
                continue;
            };
            if o == op::NEG {
                let ops = self.operands(toks, 1)?;
                return one(Insn::new(class | o, self.reg(&ops[0])?, 0, 0, 0));
            }
            let ops = self.operands(toks, 2)?;
            let dst = self.reg(&ops[0])?;
            return one(if is_reg(ops[1].text) {
                Insn::new(class | o | op::X, dst, self.reg(&ops[1])?, off, 0)
            } else {
                Insn::new(class | o, dst, 0, off, self.imm32(&ops[1])?)
            });
        }
        for (name, class, off) in MOVSX {
            if m == name {
                let ops = self.operands(toks, 2)?;
                let (d, s) = (self.reg(&ops[0])?, self.reg(&ops[1])?);
                return one(Insn::new(class | op::MOV | op::X, d, s, off, 0));
            }
        }
        for (prefix, opc) in [
            ("le", op::TO_LE),
            ("be", op::TO_BE),
            ("bswap", op::BSWAP),
            ("swap", op::BSWAP),
        ] {
            if let Some(w @ ("16" | "32" | "64")) = m.strip_prefix(prefix) {
                let ops = self.operands(toks, 1)?;
                let width = w.parse().unwrap_or(64);
                return one(Insn::new(opc, self.reg(&ops[0])?, 0, 0, width));
            }
        }
        for (name, o) in JMP_OPS {
            let class = if m == name {
                op::JMP
            } else if m == format!("{name}32") {
                op::JMP32
            } else {
                continue;
            };
            let ops = self.operands(toks, 3)?;
            let dst = self.reg(&ops[0])?;
            let off = self.target16(&ops[2])?;
            return one(if is_reg(ops[1].text) {
                Insn::new(class | o | op::X, dst, self.reg(&ops[1])?, off, 0)
            } else {
                Insn::new(class | o, dst, 0, off, self.imm32(&ops[1])?)
            });
        }
        for (sfx, size) in SIZES {
            if m == format!("ldx{sfx}") || (size != op::DW && m == format!("ldxs{sfx}")) {
                let mode = if m.starts_with("ldxs") {
                    op::MEMSX
                } else {
                    op::MEM
                };
                let ops = self.operands(toks, 2)?;
                let dst = self.reg(&ops[0])?;
                let (src, off) = self.mem(&ops[1])?;
                return one(Insn::new(op::LDX | mode | size, dst, src, off, 0));
            }
            if m == format!("st{sfx}") {
                let ops = self.operands(toks, 2)?;
                let (dst, off) = self.mem(&ops[0])?;
                return one(Insn::new(
                    op::ST | op::MEM | size,
                    dst,
                    0,
                    off,
                    self.imm32(&ops[1])?,
                ));
            }
            if m == format!("stx{sfx}") {
                let ops = self.operands(toks, 2)?;
                let (dst, off) = self.mem(&ops[0])?;
                let src = self.reg(&ops[1])?;
                return one(Insn::new(op::STX | op::MEM | size, dst, src, off, 0));
            }
            if size != op::DW && m == format!("ldabs{sfx}") {
                let ops = self.operands(toks, 1)?;
                return one(Insn::new(
                    op::LD | op::ABS | size,
                    0,
                    0,
                    0,
                    self.imm32(&ops[0])?,
                ));
            }
            if size != op::DW && m == format!("ldind{sfx}") {
                let ops = self.operands(toks, 2)?;
                let src = self.reg(&ops[0])?;
                return one(Insn::new(
                    op::LD | op::IND | size,
                    0,
                    src,
                    0,
                    self.imm32(&ops[1])?,
                ));
            }
        }
        match m {
            "lddw" => {
                let ops = self.operands(toks, 2)?;
                let dst = self.reg(&ops[0])?;
                let v = self.imm64(&ops[1])?;
                Ok(vec![
                    Insn::new(op::LDDW, dst, 0, 0, v as u32 as i32),
                    Insn::new(0, 0, 0, 0, (v >> 32) as u32 as i32),
                ])
            }
            "ja" => {
                let ops = self.operands(toks, 1)?;
                one(Insn::new(
                    op::JMP | op::JA,
                    0,
                    0,
                    self.target16(&ops[0])?,
                    0,
                ))
            }
            "ja32" | "gotol" => {
                let ops = self.operands(toks, 1)?;
                let rel = self.target(&ops[0])?;
                one(Insn::new(op::JA32, 0, 0, 0, rel as i32))
            }
            "exit" => {
                self.operands(toks, 0)?;
                one(Insn::new(op::EXIT_OP, 0, 0, 0, 0))
            }
            "callx" => {
                let ops = self.operands(toks, 1)?;
                one(Insn::new(op::CALLX, self.reg(&ops[0])?, 0, 0, 0))
            }
            "call" => self.call(toks),
            "lock" => self.lock(toks),
            ".insn" => {
                let ops = self.operands(toks, 1)?;
                one(Insn::from_u64(self.imm64(&ops[0])?))
            }
            _ => self.fail(&toks[0], format!("unknown mnemonic '{m}'")),
        }
    }

    fn call(&self, toks: &[Tok]) -> Result<Vec<Insn>, AsmError> {
        if toks.get(1).map(|t| t.text) == Some("local") {
            let ops = self.operands(toks, 2)?;
            let rel = self.target(&ops[1])?;
            return Ok(vec![Insn::new(
                op::CALL_IMM,
                0,
                op::CALL_LOCAL,
                0,
                rel as i32,
            )]);
        }
        if toks.get(1).map(|t| t.text) == Some("runtime") {
            let ops = self.operands(toks, 2)?;
            let id = self.imm32(&ops[1])?;
            return Ok(vec![Insn::new(op::CALL_IMM, 0, op::CALL_RUNTIME, 0, id)]);
        }
        let ops = self.operands(toks, 1)?;
        if is_reg(ops[0].text) {
            return Ok(vec![Insn::new(op::CALLX, self.reg(&ops[0])?, 0, 0, 0)]);
        }
        Ok(vec![Insn::new(op::CALL_IMM, 0, 0, 0, self.imm32(&ops[0])?)])
    }

    /// `lock [fetch] OP[32] [dst+off], src`.
    fn lock(&self, toks: &[Tok]) -> Result<Vec<Insn>, AsmError> {
        let fetch = toks.get(1).map(|t| t.text) == Some("fetch");
        let rest = if fetch { &toks[1..] } else { toks };
        let ops = self.operands(rest, 3)?;
        let name = ops[0].text;
        let (base, size) = match name.strip_suffix("32") {
            Some(b) => (b, op::W),
            None => (name.strip_suffix("64").unwrap_or(name), op::DW),
        };
        let Some(&(_, imm)) = ATOMIC_OPS.iter().find(|(n, _)| *n == base) else {
            return self.fail(&ops[0], format!("unknown atomic operation '{name}'"));
        };
        let imm = if fetch { imm | op::FETCH } else { imm };
        let (dst, off) = self.mem(&ops[1])?;
        let src = self.reg(&ops[2])?;
        Ok(vec![Insn::new(
            op::STX | op::ATOMIC | size,
            dst,
            src,
            off,
            imm,
        )])
    }
}

fn is_reg(text: &str) -> bool {
    text.starts_with('%') || parse_reg(text).is_some()
}

/// `%rN` or `rN` with N in 0..=10.
fn parse_reg(text: &str) -> Option<u8> {
    let n = text.strip_prefix('%').unwrap_or(text).strip_prefix('r')?;
    if n.is_empty() || n.len() > 2 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: u8 = n.parse().ok()?;
    (v <= 10).then_some(v)
}

/// Signed decimal or `0x` hex, with an optional sign; `None` if malformed
/// or beyond 128 bits.
fn parse_int(text: &str) -> Option<i128> {
    let (neg, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            u128::from_str_radix(hex, 16).ok()?
        }
        Some(_) => return None,
        None if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) => {
            body.parse::<u128>().ok()?
        }
        None => return None,
    };
    let v = i128::try_from(magnitude).ok()?;
    Some(if neg { -v } else { v })
}
