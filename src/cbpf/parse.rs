//! Reading classic programs: tcpdump `-ddd` (count line, then one
//! instruction per line), the comma form (`4,40 0 0 12,...` as iptables and
//! bpf_asm print it), tcpdump `-dd` C initialisers, bpf_asm source and raw
//! 8-byte `struct sock_filter` records; [`parse`] detects which.

use super::insn::{Insn, Program};
use std::fmt;

pub use super::asm::parse_asm;

/// Where in the input a parse error is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Location {
    /// A position in text; both counted from 1.
    Line {
        /// Line number.
        line: usize,
        /// Column (in characters).
        column: usize,
    },
    /// A byte offset in binary input, counted from 0.
    Byte(usize),
}

/// A malformed program: where, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ParseError {
    /// Where the problem is.
    pub location: Location,
    /// What is wrong.
    pub message: String,
}

impl ParseError {
    /// An error at byte offset `at` of `text`, reported as line and column.
    pub fn at_text(text: &str, at: usize, message: impl Into<String>) -> ParseError {
        let (line, column) = line_column(text, at);
        ParseError {
            location: Location::Line { line, column },
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Location::Line { line, column } => {
                write!(f, "line {line}, column {column}: {}", self.message)
            }
            Location::Byte(b) => write!(f, "byte {b}: {}", self.message),
        }
    }
}

impl std::error::Error for ParseError {}

/// Line and column (from 1) of byte offset `at` in `text`.
pub fn line_column(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The textual and binary forms a program can come in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Form {
    /// tcpdump `-ddd`: a count line, then `code jt jf k` lines.
    Ddd,
    /// The one-line comma form: `count,code jt jf k,...`.
    Comma,
    /// tcpdump `-dd`: `{ 0x28, 0, 0, 0x0000000c },` lines.
    Dd,
    /// bpf_asm source.
    Asm,
    /// Raw little-endian 8-byte `struct sock_filter` records.
    Raw,
}

/// Guesses the form of `input`: binary unless every byte is printable ASCII
/// or whitespace; then `{` means `-dd`, a first line with a comma the comma
/// form, a first word of digits `-ddd`, anything else bpf_asm.
pub fn detect(input: &[u8]) -> Form {
    let texty = |b: &u8| b.is_ascii_graphic() || matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    if !input.iter().all(texty) {
        return Form::Raw;
    }
    let text = String::from_utf8_lossy(input);
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        return Form::Dd;
    }
    let first_line = trimmed.lines().next().unwrap_or("");
    let first_word = first_line
        .split(|c: char| c.is_whitespace() || c == ',')
        .next();
    let numeric =
        first_word.is_some_and(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()));
    if numeric && first_line.contains(',') {
        Form::Comma
    } else if numeric {
        Form::Ddd
    } else {
        Form::Asm
    }
}

/// Parses a program in any form, detected with [`detect`].
pub fn parse(input: &[u8]) -> Result<Program, ParseError> {
    let form = detect(input);
    parse_as(input, form)
}

/// Parses a program in the given form.
pub fn parse_as(input: &[u8], form: Form) -> Result<Program, ParseError> {
    if form == Form::Raw {
        return parse_raw(input);
    }
    let text = std::str::from_utf8(input).map_err(|e| ParseError {
        location: Location::Byte(e.valid_up_to()),
        message: "input is not valid UTF-8 text".into(),
    })?;
    if text.trim().is_empty() {
        return Err(ParseError::at_text(text, 0, "empty input: no program"));
    }
    match form {
        Form::Ddd => parse_ddd(text),
        Form::Comma => parse_comma(text),
        Form::Dd => parse_dd(text),
        _ => parse_asm(text),
    }
}

/// Parses raw little-endian `struct sock_filter` records (8 bytes each).
pub fn parse_raw(input: &[u8]) -> Result<Program, ParseError> {
    let whole = input.len() - input.len() % 8;
    if whole != input.len() {
        return Err(ParseError {
            location: Location::Byte(whole),
            message: format!(
                "truncated record: {} bytes left over (raw programs are 8-byte records)",
                input.len() - whole
            ),
        });
    }
    let insns = input
        .chunks_exact(8)
        .map(|c| Insn::from_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect();
    Ok(Program::new(insns))
}

/// A token with its byte offset in the text.
struct Word<'a> {
    text: &'a str,
    at: usize,
}

/// Splits `s` (which starts at byte `base` of the text) on `sep`.
fn split_words<'a>(s: &'a str, base: usize, sep: impl Fn(char) -> bool) -> Vec<Word<'a>> {
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        if sep(c) {
            if let Some(st) = start.take() {
                words.push(Word {
                    text: &s[st..i],
                    at: base + st,
                });
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(st) = start {
        words.push(Word {
            text: &s[st..],
            at: base + st,
        });
    }
    words
}

/// A number as tcpdump `-ddd` prints it (decimal), no larger than `max`.
fn decimal(text: &str, w: &Word, what: &str, max: u64) -> Result<u64, ParseError> {
    let bad = |m: String| ParseError::at_text(text, w.at, m);
    if !w.text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(format!("{what}: `{}` is not a decimal number", w.text)));
    }
    match w.text.parse::<u64>() {
        Ok(v) if v <= max => Ok(v),
        _ => Err(bad(format!("{what}: {} is larger than {max}", w.text))),
    }
}

/// A number as C writes it: `0x` hex, `0` octal or decimal.
fn c_number(text: &str, w: &Word, what: &str, max: u64) -> Result<u64, ParseError> {
    let t = w.text;
    let parsed = if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if t.len() > 1 && t.starts_with('0') {
        u64::from_str_radix(&t[1..], 8).ok()
    } else if t.bytes().all(|b| b.is_ascii_digit()) {
        t.parse::<u64>().ok()
    } else {
        None
    };
    match parsed {
        Some(v) if v <= max => Ok(v),
        Some(_) => Err(ParseError::at_text(
            text,
            w.at,
            format!("{what}: {t} is larger than {max}"),
        )),
        None => Err(ParseError::at_text(
            text,
            w.at,
            format!("{what}: `{t}` is not a number"),
        )),
    }
}

/// Builds an instruction from its four fields, each checked by `num`.
fn fields(
    text: &str,
    words: &[Word],
    at: usize,
    num: fn(&str, &Word, &str, u64) -> Result<u64, ParseError>,
) -> Result<Insn, ParseError> {
    if words.len() != 4 {
        let m = format!("expected 4 fields (code jt jf k), found {}", words.len());
        return Err(ParseError::at_text(
            text,
            words.first().map_or(at, |w| w.at),
            m,
        ));
    }
    Ok(Insn {
        code: num(text, &words[0], "code", u16::MAX as u64)? as u16,
        jt: num(text, &words[1], "jt", u8::MAX as u64)? as u8,
        jf: num(text, &words[2], "jf", u8::MAX as u64)? as u8,
        k: num(text, &words[3], "k", u32::MAX as u64)? as u32,
    })
}

/// Checks that a count line agrees with the instructions that followed.
fn check_count(text: &str, count: &Word, n: u64, found: usize) -> Result<(), ParseError> {
    if n != found as u64 {
        let m = format!("count says {n} instructions but {found} follow");
        return Err(ParseError::at_text(text, count.at, m));
    }
    Ok(())
}

/// Parses tcpdump `-ddd` output: a count line, then `code jt jf k` lines
/// in decimal. Blank lines are ignored.
pub fn parse_ddd(text: &str) -> Result<Program, ParseError> {
    let mut count: Option<(Word, u64)> = None;
    let mut insns = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let base = offset;
        offset += line.len();
        let words = split_words(line, base, char::is_whitespace);
        if words.is_empty() {
            continue;
        }
        match count {
            None => {
                if words.len() != 1 {
                    let m = "first line must hold only the instruction count";
                    return Err(ParseError::at_text(text, words[1].at, m));
                }
                let n = decimal(text, &words[0], "instruction count", u32::MAX as u64)?;
                count = Some((
                    Word {
                        text: words[0].text,
                        at: words[0].at,
                    },
                    n,
                ));
            }
            Some(_) => insns.push(fields(text, &words, base, decimal)?),
        }
    }
    let Some((word, n)) = count else {
        return Err(ParseError::at_text(
            text,
            0,
            "empty input: no instruction count",
        ));
    };
    check_count(text, &word, n, insns.len())?;
    Ok(Program::new(insns))
}

/// Parses the comma form `count,code jt jf k,code jt jf k,...` (a trailing
/// comma, as bpf_asm prints, is allowed). The count may be left out
/// (`code jt jf k,code jt jf k`): a first part of four numbers is an
/// instruction.
pub fn parse_comma(text: &str) -> Result<Program, ParseError> {
    // Split on every comma, keeping empty parts so `,,` is reported.
    let mut parts = Vec::new();
    let mut at = 0;
    for piece in text.split(',') {
        parts.push(Word { text: piece, at });
        at += piece.len() + 1;
    }
    // A trailing comma leaves a last part of only whitespace.
    if parts.last().is_some_and(|p| p.text.trim().is_empty()) {
        parts.pop();
    }
    let Some((first, rest)) = parts.split_first() else {
        return Err(ParseError::at_text(
            text,
            0,
            "empty input: no instruction count",
        ));
    };
    let count_words = split_words(first.text, first.at, char::is_whitespace);
    let (count, instructions) = match count_words.len() {
        1 => (Some(&count_words[0]), rest),
        4 => (None, &parts[..]),
        _ => {
            let at = count_words.get(1).map_or(first.at, |w| w.at);
            return Err(ParseError::at_text(
                text,
                at,
                "expected the instruction count or an instruction (code jt jf k) \
                 before the first comma",
            ));
        }
    };
    let n = count
        .map(|w| decimal(text, w, "instruction count", u32::MAX as u64))
        .transpose()?;
    let mut insns = Vec::new();
    for part in instructions {
        let words = split_words(part.text, part.at, char::is_whitespace);
        if words.is_empty() {
            return Err(ParseError::at_text(
                text,
                part.at,
                "empty instruction between commas",
            ));
        }
        insns.push(fields(text, &words, part.at, decimal)?);
    }
    if let (Some(word), Some(n)) = (count, n) {
        check_count(text, word, n, insns.len())?;
    }
    Ok(Program::new(insns))
}

/// Parses tcpdump `-dd` output: one `{ code, jt, jf, k },` per line (C
/// numbers: hex, octal or decimal). Blank lines are ignored.
pub fn parse_dd(text: &str) -> Result<Program, ParseError> {
    let mut insns = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let base = offset;
        offset += line.len();
        let body = line.trim();
        if body.is_empty() {
            continue;
        }
        let start = base + (line.len() - line.trim_start().len());
        if !body.starts_with('{') {
            return Err(ParseError::at_text(
                text,
                start,
                "expected `{ code, jt, jf, k },`",
            ));
        }
        let Some(close) = body.find('}') else {
            return Err(ParseError::at_text(text, start + body.len(), "missing `}`"));
        };
        let after = body[close + 1..].trim();
        if !(after.is_empty() || after == ",") {
            let m = format!("unexpected `{after}` after `}}`");
            return Err(ParseError::at_text(text, start + close + 1, m));
        }
        let inner = &body[1..close];
        let words = split_words(inner, start + 1, |c| c == ',' || c.is_whitespace());
        if inner.matches(',').count() != 3 {
            let m = format!(
                "expected 4 comma-separated fields, found {} commas",
                inner.matches(',').count()
            );
            return Err(ParseError::at_text(text, start, m));
        }
        insns.push(fields(text, &words, start, c_number)?);
    }
    Ok(Program::new(insns))
}
