//! Tokenizer for the pcap-filter language.
//!
//! Words are kept as text: the parser decides whether `10.1`, `80`,
//! `1:2:3:4:5:6` or `tcp-syn` is an address, a number or a name, because
//! that depends on the qualifiers in front of it.

use super::ExprError;

/// What a token is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    /// A run of letters, digits and `_ . : -`: keyword, name, number or address.
    Word(String),
    /// `\name`: a name that would otherwise be a keyword (`ether proto \arp`).
    Escaped(String),
    /// An operator or bracket, as written (`&&` and `and` stay distinct here).
    Punct(&'static str),
}

/// A token and the 1-based column where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// 1-based character column of its first character.
    pub col: usize,
}

/// Operators, longest first so `<<` wins over `<`.
const PUNCTS: &[&str] = &[
    "&&", "||", "==", "!=", "<=", ">=", "<<", ">>", "(", ")", "[", "]", ":", "!", "=", "<", ">",
    "+", "-", "*", "/", "%", "&", "|", "^",
];

fn is_word_start(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn is_word_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b':' | b'-')
}

/// Splits an expression into tokens; errors name the column of the bad character.
///
/// Every token is ASCII, so the text is walked by bytes (words are copied
/// out once, at their size); only a non-ASCII character, which can only be
/// white space or an error, is decoded. Columns count characters.
pub fn tokenize(text: &str) -> Result<Vec<Token>, ExprError> {
    let bytes = text.as_bytes();
    let at = |i: usize| bytes.get(i).copied();
    let mut tokens = Vec::new();
    // Byte index, and the 1-based column of the character there.
    let (mut i, mut col) = (0, 1);
    while let Some(c) = at(i) {
        if !c.is_ascii() {
            let ch = text[i..]
                .chars()
                .next()
                .unwrap_or(char::REPLACEMENT_CHARACTER);
            if !ch.is_whitespace() {
                return Err(ExprError::syntax(
                    col,
                    format!("unexpected character '{ch}'"),
                ));
            }
            i += ch.len_utf8();
            col += 1;
            continue;
        }
        // From here on every character up to the token's end is ASCII, one
        // byte and one column each.
        let next = i;
        if char::from(c).is_whitespace() {
            i += 1;
        } else if c == b'$' && at(i + 1).is_some_and(|n| n.is_ascii_hexdigit()) {
            // An ARCnet address: `$` and one or two hex digits.
            let mut j = i + 2;
            if at(j).is_some_and(|n| n.is_ascii_hexdigit()) {
                j += 1;
            }
            tokens.push(Token {
                tok: Tok::Word(text[i..j].to_string()),
                col,
            });
            i = j;
        } else if is_word_start(c) || c == b'\\' || (c == b':' && at(i + 1) == Some(b':')) {
            let escaped = c == b'\\';
            let start = if escaped { i + 1 } else { i };
            let mut j = start;
            while let Some(w) = at(j).filter(|&w| is_word_char(w)) {
                // A '-' or '.' only continues a word when a word character
                // follows, so `ip[2]-1` and a trailing dot still lex sanely.
                if matches!(w, b'-' | b'.') && !at(j + 1).is_some_and(|n| n.is_ascii_alphanumeric())
                {
                    break;
                }
                j += 1;
            }
            if j == start {
                return Err(ExprError::syntax(col, "expected a name after '\\'"));
            }
            let word = &text[start..j];
            i = j;
            // `13:2` inside `tcp[13:2]` is an offset, a colon and a size; no
            // MAC or IPv6 address has exactly one colon.
            if !escaped && word.matches(':').count() == 1 && !word.ends_with(':') {
                if let Some((offset, size)) = word.split_once(':') {
                    if !offset.is_empty() {
                        let colon = col + offset.len();
                        tokens.push(Token {
                            tok: Tok::Word(offset.to_string()),
                            col,
                        });
                        tokens.push(Token {
                            tok: Tok::Punct(":"),
                            col: colon,
                        });
                        tokens.push(Token {
                            tok: Tok::Word(size.to_string()),
                            col: colon + 1,
                        });
                        col += i - next;
                        continue;
                    }
                }
            }
            tokens.push(Token {
                tok: if escaped {
                    Tok::Escaped(word.to_string())
                } else {
                    Tok::Word(word.to_string())
                },
                col,
            });
        } else {
            let rest = &bytes[i..];
            match PUNCTS.iter().find(|p| rest.starts_with(p.as_bytes())) {
                Some(p) => {
                    tokens.push(Token {
                        tok: Tok::Punct(p),
                        col,
                    });
                    i += p.len();
                }
                None => {
                    return Err(ExprError::syntax(
                        col,
                        format!("unexpected character '{}'", char::from(c)),
                    ))
                }
            }
        }
        col += i - next;
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_operators_and_columns() {
        let t = tokenize("tcp[13] & 2 != 0 and \\arp").unwrap();
        let shown: Vec<String> = t
            .iter()
            .map(|t| match &t.tok {
                Tok::Word(w) => format!("{w}@{}", t.col),
                Tok::Escaped(w) => format!("\\{w}@{}", t.col),
                Tok::Punct(p) => format!("{p}@{}", t.col),
            })
            .collect();
        assert_eq!(
            shown,
            ["tcp@1", "[@4", "13@5", "]@7", "&@9", "2@11", "!=@13", "0@16", "and@18", "\\arp@22"]
        );
    }

    #[test]
    fn columns_count_characters_past_non_ascii_white_space() {
        // U+00A0 and U+3000 are white space of two and three bytes.
        let t = tokenize("ip\u{a0}and\u{3000}tcp[13:2]").unwrap();
        let cols: Vec<usize> = t.iter().map(|t| t.col).collect();
        assert_eq!(cols, [1, 4, 8, 11, 12, 14, 15, 16]);
        let e = tokenize("ip\u{a0}and é").unwrap_err();
        assert_eq!(e.to_string(), "syntax error at 8: unexpected character 'é'");
        let e = tokenize("tcp and \\ ").unwrap_err();
        assert_eq!(
            e.to_string(),
            "syntax error at 9: expected a name after '\\'"
        );
    }

    #[test]
    fn bad_character_names_its_column() {
        let e = tokenize("ip and $x").unwrap_err();
        assert_eq!(e.to_string(), "syntax error at 8: unexpected character '$'");
    }
}
