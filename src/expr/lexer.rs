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

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')
}

/// Splits an expression into tokens; errors name the column of the bad character.
pub fn tokenize(text: &str) -> Result<Vec<Token>, ExprError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
        } else if c == '$' && chars.get(i + 1).is_some_and(|n| n.is_ascii_hexdigit()) {
            // An ARCnet address: `$` and one or two hex digits.
            let mut j = i + 2;
            if chars.get(j).is_some_and(|n| n.is_ascii_hexdigit()) {
                j += 1;
            }
            tokens.push(Token {
                tok: Tok::Word(chars[i..j].iter().collect()),
                col,
            });
            i = j;
        } else if is_word_start(c) || c == '\\' || (c == ':' && chars.get(i + 1) == Some(&':')) {
            let escaped = c == '\\';
            let start = if escaped { i + 1 } else { i };
            let mut j = start;
            while j < chars.len() && is_word_char(chars[j]) {
                // A '-' or '.' only continues a word when a word character
                // follows, so `ip[2]-1` and a trailing dot still lex sanely.
                if matches!(chars[j], '-' | '.')
                    && !chars.get(j + 1).is_some_and(|&n| n.is_ascii_alphanumeric())
                {
                    break;
                }
                j += 1;
            }
            if j == start {
                return Err(ExprError::syntax(col, "expected a name after '\\'"));
            }
            let word: String = chars[start..j].iter().collect();
            // `13:2` inside `tcp[13:2]` is an offset, a colon and a size; no
            // MAC or IPv6 address has exactly one colon.
            if !escaped && word.matches(':').count() == 1 && !word.ends_with(':') {
                if let Some((offset, size)) = word.split_once(':') {
                    if !offset.is_empty() {
                        tokens.push(Token {
                            tok: Tok::Word(offset.to_string()),
                            col,
                        });
                        tokens.push(Token {
                            tok: Tok::Punct(":"),
                            col: col + offset.chars().count(),
                        });
                        tokens.push(Token {
                            tok: Tok::Word(size.to_string()),
                            col: col + offset.chars().count() + 1,
                        });
                        i = j;
                        continue;
                    }
                }
            }
            tokens.push(Token {
                tok: if escaped {
                    Tok::Escaped(word)
                } else {
                    Tok::Word(word)
                },
                col,
            });
            i = j;
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            match PUNCTS.iter().find(|p| rest.starts_with(**p)) {
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
                        format!("unexpected character '{c}'"),
                    ))
                }
            }
        }
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
    fn bad_character_names_its_column() {
        let e = tokenize("ip and $x").unwrap_err();
        assert_eq!(e.to_string(), "syntax error at 8: unexpected character '$'");
    }
}
