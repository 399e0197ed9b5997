//! bpf_asm source (the kernel's tools/bpf/bpf_asm, grammar of bpf_exp.l and
//! bpf_exp.y): mnemonics are case-insensitive, operands `#k`, `[k]`,
//! `[x + k]`, `4*([k]&0xf)`, `M[k]`, `len`, `x`, `a` (each `x`/`a` may be
//! written `%x`/`%a`), extensions `#proto` etc., labels `name:` (two or more
//! characters), comments `;...`, `/* ... */` and lines starting with `#`.
//!
//! Extensions over bpf_asm: `#xor_x` and libpcap's names (`#vlanp`,
//! `#random`) are accepted, and `.insn code, jt, jf, k` writes any raw
//! instruction (the printer uses it for what bpf_asm cannot express).

use super::ancillary::Ancillary;
use super::insn::{op, Insn, Program};
use super::parse::ParseError;
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Num(u32),
    Punct(char),
}

struct Token {
    tok: Tok,
    at: usize,
}

fn lex(text: &str) -> Result<Vec<Token>, ParseError> {
    let bytes = text.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let line_start = i == 0 || bytes[i - 1] == b'\n';
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b';' || (c == b'#' && line_start) {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if text[i..].starts_with("/*") {
            match text[i + 2..].find("*/") {
                Some(end) => i += end + 4,
                None => return Err(ParseError::at_text(text, i, "unterminated /* comment")),
            }
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            toks.push(Token {
                tok: Tok::Ident(text[start..i].to_string()),
                at: start,
            });
        } else if c.is_ascii_digit()
            || (c == b'-' && bytes.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let value = number(&text[start..i]).map_err(|m| ParseError::at_text(text, start, m))?;
            toks.push(Token {
                tok: Tok::Num(value),
                at: start,
            });
        } else if b":,[]()+*&%#.".contains(&c) {
            toks.push(Token {
                tok: Tok::Punct(c as char),
                at: i,
            });
            i += 1;
        } else {
            let ch = text[i..].chars().next().unwrap_or('?');
            return Err(ParseError::at_text(
                text,
                i,
                format!("unknown character `{ch}`"),
            ));
        }
    }
    Ok(toks)
}

/// A bpf_asm number: `0x` hex, `0b` binary, `0` octal or (signed) decimal,
/// fitting in 32 bits (negative values wrap, as bpf_asm's strtol does).
fn number(t: &str) -> Result<u32, String> {
    let (neg, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let lower = digits.to_ascii_lowercase();
    let parsed = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16)
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2)
    } else if lower.len() > 1 && lower.starts_with('0') {
        i64::from_str_radix(&lower[1..], 8)
    } else {
        lower.parse::<i64>()
    };
    let v = parsed.map_err(|_| format!("bad number `{t}`"))?;
    let v = if neg { -v } else { v };
    if !(i32::MIN as i64..=u32::MAX as i64).contains(&v) {
        return Err(format!("number `{t}` does not fit in 32 bits"));
    }
    Ok(v as u32)
}

/// Which jump field a label fills.
#[derive(Clone, Copy)]
enum Field {
    Jt,
    Jf,
    K,
}

struct Parser<'a> {
    text: &'a str,
    toks: Vec<Token>,
    pos: usize,
    insns: Vec<Insn>,
    labels: HashMap<String, usize>,
    /// (instruction, field, label, where the label was used).
    fixups: Vec<(usize, Field, String, usize)>,
}

const KEYWORDS: &[&str] = &[
    "ldb", "ldh", "ld", "ldi", "ldx", "ldxi", "ldxb", "st", "stx", "jmp", "ja", "jeq", "jneq",
    "jne", "jlt", "jle", "jgt", "jge", "jset", "add", "sub", "mul", "div", "mod", "neg", "and",
    "xor", "or", "lsh", "rsh", "ret", "tax", "txa",
];

fn is_reserved(name: &str) -> bool {
    let l = name.to_ascii_lowercase();
    KEYWORDS.contains(&l.as_str())
        || l == "len"
        || l == "x"
        || l == "a"
        || l == "m"
        || Ancillary::from_name(&l).is_some()
}

/// Parses bpf_asm source into a program.
pub fn parse_asm(text: &str) -> Result<Program, ParseError> {
    let toks = lex(text)?;
    let mut p = Parser {
        text,
        toks,
        pos: 0,
        insns: Vec::new(),
        labels: HashMap::new(),
        fixups: Vec::new(),
    };
    while p.pos < p.toks.len() {
        p.line()?;
    }
    p.resolve()?;
    Ok(Program::new(p.insns))
}

impl<'a> Parser<'a> {
    fn err<T>(&self, at: usize, m: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError::at_text(self.text, at, m))
    }

    /// Byte offset of the current token (end of text if none).
    fn here(&self) -> usize {
        self.toks.get(self.pos).map_or(self.text.len(), |t| t.at)
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn describe(&self) -> String {
        match self.peek() {
            None => "end of input".into(),
            Some(Tok::Ident(s)) => format!("`{s}`"),
            Some(Tok::Num(n)) => format!("number {n}"),
            Some(Tok::Punct(c)) => format!("`{c}`"),
        }
    }

    fn punct(&mut self, c: char) -> Result<(), ParseError> {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.pos += 1;
            return Ok(());
        }
        self.err(
            self.here(),
            format!("expected `{c}`, found {}", self.describe()),
        )
    }

    fn eat_punct(&mut self, c: char) -> bool {
        let hit = self.peek() == Some(&Tok::Punct(c));
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn num(&mut self) -> Result<u32, ParseError> {
        // A `+` sign is lexed as punctuation so that `[x+4]` reads as in C.
        let save = self.pos;
        if self.eat_punct('+') && !matches!(self.peek(), Some(Tok::Num(_))) {
            self.pos = save;
        }
        if let Some(Tok::Num(n)) = self.peek() {
            let n = *n;
            self.pos += 1;
            return Ok(n);
        }
        self.err(
            self.here(),
            format!("expected a number, found {}", self.describe()),
        )
    }

    /// True (and consumed) if the next token is the word `w` (any case).
    fn eat_word(&mut self, w: &str) -> bool {
        let hit = matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(w));
        if hit {
            self.pos += 1;
        }
        hit
    }

    /// `x` or `%x` (likewise `a`).
    fn eat_reg(&mut self, r: &str) -> bool {
        let save = self.pos;
        let percent = self.eat_punct('%');
        if self.eat_word(r) {
            return true;
        }
        if percent {
            self.pos = save;
        }
        false
    }

    fn emit(&mut self, code: u16, k: u32) {
        self.insns.push(Insn::stmt(code, k));
    }

    fn label_ref(&mut self, field: Field) -> Result<(), ParseError> {
        let at = self.here();
        match self.peek() {
            Some(Tok::Ident(name)) if !is_reserved(name) => {
                let name = name.clone();
                self.pos += 1;
                self.fixups.push((self.insns.len(), field, name, at));
                Ok(())
            }
            _ => self.err(at, format!("expected a label, found {}", self.describe())),
        }
    }

    fn line(&mut self) -> Result<(), ParseError> {
        let at = self.here();
        // `.insn code, jt, jf, k`: our raw-instruction extension.
        if self.eat_punct('.') {
            if !self.eat_word("insn") {
                return self.err(
                    self.here(),
                    format!("expected `insn` after `.`, found {}", self.describe()),
                );
            }
            let mut f = [0u32; 4];
            for (i, slot) in f.iter_mut().enumerate() {
                if i > 0 {
                    self.punct(',')?;
                }
                let nat = self.here();
                *slot = self.num()?;
                let max = if i == 0 {
                    u16::MAX as u32
                } else if i < 3 {
                    u8::MAX as u32
                } else {
                    u32::MAX
                };
                if *slot > max {
                    return self.err(
                        nat,
                        format!("{} does not fit in the field (max {max})", *slot),
                    );
                }
            }
            self.insns.push(Insn {
                code: f[0] as u16,
                jt: f[1] as u8,
                jf: f[2] as u8,
                k: f[3],
            });
            return Ok(());
        }
        let Some(Tok::Ident(word)) = self.peek() else {
            return self.err(
                at,
                format!(
                    "expected an instruction or label, found {}",
                    self.describe()
                ),
            );
        };
        let word = word.clone();
        self.pos += 1;
        if self.peek() == Some(&Tok::Punct(':')) {
            self.pos += 1;
            if is_reserved(&word) {
                return self.err(
                    at,
                    format!("`{word}` is a reserved word and cannot be a label"),
                );
            }
            if word.len() < 2 {
                return self.err(
                    at,
                    format!("label `{word}` is too short (labels have 2 or more characters)"),
                );
            }
            if self.labels.insert(word.clone(), self.insns.len()).is_some() {
                return self.err(at, format!("label `{word}` is defined twice"));
            }
            return Ok(());
        }
        self.instruction(&word.to_ascii_lowercase(), at)
    }

    fn instruction(&mut self, m: &str, at: usize) -> Result<(), ParseError> {
        use op::*;
        match m {
            "ld" | "ldh" | "ldb" => {
                let size = match m {
                    "ld" => W,
                    "ldh" => H,
                    _ => B,
                };
                self.load(size, m == "ld")
            }
            "ldi" | "ldxi" => {
                self.eat_punct('#');
                let k = self.num()?;
                self.emit(if m == "ldi" { LD | IMM } else { LDX | IMM }, k);
                Ok(())
            }
            "ldx" | "ldxb" => self.load_x(m == "ldx"),
            "st" | "stx" => {
                let k = self.mem()?;
                self.emit(if m == "st" { ST } else { STX }, k);
                Ok(())
            }
            "jmp" | "ja" => {
                self.label_ref(Field::K)?;
                self.emit(JMP | JA, 0);
                Ok(())
            }
            "jeq" | "jgt" | "jge" | "jset" | "jneq" | "jne" | "jlt" | "jle" => self.jump(m),
            "add" | "sub" | "mul" | "div" | "mod" | "and" | "or" | "xor" | "lsh" | "rsh" => {
                let operation = match m {
                    "add" => ADD,
                    "sub" => SUB,
                    "mul" => MUL,
                    "div" => DIV,
                    "mod" => MOD,
                    "and" => AND,
                    "or" => OR,
                    "xor" => XOR,
                    "lsh" => LSH,
                    _ => RSH,
                };
                if self.eat_reg("x") {
                    self.emit(ALU | operation | X, 0);
                } else {
                    self.punct('#')?;
                    let k = self.num()?;
                    self.emit(ALU | operation | K, k);
                }
                Ok(())
            }
            "neg" => {
                self.emit(ALU | NEG, 0);
                Ok(())
            }
            "tax" => {
                self.emit(MISC | TAX, 0);
                Ok(())
            }
            "txa" => {
                self.emit(MISC | TXA, 0);
                Ok(())
            }
            "ret" => {
                if self.eat_reg("a") {
                    self.emit(RET | A, 0);
                } else if self.eat_reg("x") {
                    // bpf_asm emits BPF_RET|BPF_X, which the kernel refuses.
                    self.emit(RET | X, 0);
                } else {
                    self.punct('#')?;
                    let k = self.num()?;
                    self.emit(RET | K, k);
                }
                Ok(())
            }
            _ => self.err(at, format!("unknown mnemonic `{m}`")),
        }
    }

    /// `M[k]`.
    fn mem(&mut self) -> Result<u32, ParseError> {
        if !self.eat_word("m") {
            return self.err(
                self.here(),
                format!("expected `M[k]`, found {}", self.describe()),
            );
        }
        self.punct('[')?;
        let k = self.num()?;
        self.punct(']')?;
        Ok(k)
    }

    /// An extension name, with or without `#`, if one is next.
    fn extension(&mut self) -> Option<Ancillary> {
        let save = self.pos;
        self.eat_punct('#');
        if let Some(Tok::Ident(name)) = self.peek() {
            if let Some(a) = Ancillary::from_name(name) {
                self.pos += 1;
                return Some(a);
            }
        }
        self.pos = save;
        None
    }

    /// `len` or `#len`, if next.
    fn eat_len(&mut self) -> bool {
        let save = self.pos;
        self.eat_punct('#');
        if self.eat_word("len") {
            return true;
        }
        self.pos = save;
        false
    }

    fn load(&mut self, size: u16, word: bool) -> Result<(), ParseError> {
        use op::*;
        if let Some(anc) = self.extension() {
            self.emit(LD | size | ABS, anc.k());
            return Ok(());
        }
        if word && self.eat_len() {
            self.emit(LD | W | LEN, 0);
            return Ok(());
        }
        if word && self.eat_punct('#') {
            let k = self.num()?;
            self.emit(LD | IMM, k);
            return Ok(());
        }
        if word && matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("m")) {
            let k = self.mem()?;
            self.emit(LD | MEM, k);
            return Ok(());
        }
        self.punct('[')?;
        if self.eat_reg("x") {
            self.punct('+')?;
            let k = self.num()?;
            self.punct(']')?;
            self.emit(LD | size | IND, k);
        } else {
            let k = self.num()?;
            self.punct(']')?;
            self.emit(LD | size | ABS, k);
        }
        Ok(())
    }

    fn load_x(&mut self, plain: bool) -> Result<(), ParseError> {
        use op::*;
        if plain && self.eat_len() {
            self.emit(LDX | W | LEN, 0);
            return Ok(());
        }
        if plain && self.eat_punct('#') {
            let k = self.num()?;
            self.emit(LDX | IMM, k);
            return Ok(());
        }
        if plain && matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("m")) {
            let k = self.mem()?;
            self.emit(LDX | MEM, k);
            return Ok(());
        }
        // 4*([k]&0xf)
        let at = self.here();
        let four = self.num()?;
        self.punct('*')?;
        self.punct('(')?;
        self.punct('[')?;
        let k = self.num()?;
        self.punct(']')?;
        self.punct('&')?;
        let mask = self.num()?;
        self.punct(')')?;
        if four != 4 || mask != 0xf {
            return self.err(at, "only 4*([k]&0xf) exists (the IPv4 header length load)");
        }
        self.emit(LDX | B | MSH, k);
        Ok(())
    }

    fn jump(&mut self, m: &str) -> Result<(), ParseError> {
        use op::*;
        // jneq/jlt/jle test the opposite and branch on false.
        let (operation, false_only) = match m {
            "jeq" => (JEQ, false),
            "jgt" => (JGT, false),
            "jge" => (JGE, false),
            "jset" => (JSET, false),
            "jneq" | "jne" => (JEQ, true),
            "jlt" => (JGE, true),
            _ => (JGT, true),
        };
        let (src, k) = if self.eat_reg("x") {
            (X, 0)
        } else {
            self.punct('#')?;
            (K, self.num()?)
        };
        self.punct(',')?;
        if false_only {
            self.label_ref(Field::Jf)?;
        } else {
            self.label_ref(Field::Jt)?;
            if self.eat_punct(',') {
                self.label_ref(Field::Jf)?;
            }
        }
        self.emit(JMP | operation | src, k);
        Ok(())
    }

    fn resolve(&mut self) -> Result<(), ParseError> {
        let fixups = std::mem::take(&mut self.fixups);
        for (i, field, name, at) in fixups {
            let Some(&target) = self.labels.get(&name) else {
                return self.err(at, format!("undefined label `{name}`"));
            };
            if target >= self.insns.len() {
                return self.err(
                    at,
                    format!("label `{name}` is not followed by an instruction"),
                );
            }
            let delta = target as i64 - i as i64 - 1;
            match field {
                Field::K => self.insns[i].k = delta as u32,
                Field::Jt | Field::Jf => {
                    if !(0..=255).contains(&delta) {
                        let m = format!("jump from instruction {i} to `{name}` (instruction {target}) is out of range (0 to 255 forward)");
                        return self.err(at, m);
                    }
                    if matches!(field, Field::Jt) {
                        self.insns[i].jt = delta as u8;
                    } else {
                        self.insns[i].jf = delta as u8;
                    }
                }
            }
        }
        Ok(())
    }
}
