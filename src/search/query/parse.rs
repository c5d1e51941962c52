//! The query language's lexer and parser: what a user typed becomes
//! [`Parsed`] clauses of words, phrases and groups. Parsing never fails
//! (see the `query` module comment for the forgiving rules); deciding what
//! a parsed query means for the index is `build`'s job.

use crate::search::SearchError;

/// Groups nested deeper than this are flattened (their parentheses ignored):
/// the parser is recursive, and a user's "((((…" must not exhaust the stack.
const MAX_DEPTH: usize = 8;

/// Longer queries are a `BadQuery`; nobody types this much into a search box.
const MAX_QUERY_CHARS: usize = 1_000;

/// A parsed query: clauses that must all hold.
#[derive(Clone, Debug, PartialEq)]
pub(in crate::search) struct Parsed {
    pub clauses: Vec<Clause>,
}

/// One clause: any of its alternatives (`a OR b`), or, when negated, none.
#[derive(Clone, Debug, PartialEq)]
pub(in crate::search) struct Clause {
    pub negated: bool,
    pub alternatives: Vec<Unit>,
}

#[derive(Clone, Debug, PartialEq)]
pub(in crate::search) enum Unit {
    Word {
        text: String,
        prefix: bool,
        title: bool,
    },
    Phrase {
        text: String,
        title: bool,
    },
    Group(Parsed),
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word {
        text: String,
        negated: bool,
        title: bool,
        prefix: bool,
    },
    Phrase {
        text: String,
        negated: bool,
        title: bool,
    },
    Open {
        negated: bool,
    },
    Close,
    Or,
    And,
    Not,
}

impl Token {
    fn starts_unit(&self) -> bool {
        matches!(
            self,
            Token::Word { .. } | Token::Phrase { .. } | Token::Open { .. } | Token::Not
        )
    }
}

/// Rejects input no person would type into a search box, before parsing.
pub(in crate::search) fn check_length(input: &str) -> Result<(), SearchError> {
    if input.chars().count() > MAX_QUERY_CHARS {
        return Err(SearchError::BadQuery(format!(
            "The search is too long: use at most {MAX_QUERY_CHARS} characters."
        )));
    }
    Ok(())
}

/// Parses what a user typed. Never fails; see the `query` module comment.
pub(in crate::search) fn parse(input: &str) -> Parsed {
    let mut parser = Parser {
        tokens: lex(input),
        position: 0,
    };
    parser.sequence(0)
}

fn lex(input: &str) -> Vec<Token> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        match c {
            '(' => {
                tokens.push(Token::Open { negated: false });
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            '"' => {
                let (token, next) = phrase_token(&chars, i + 1, false, false);
                tokens.push(token);
                i = next;
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !matches!(chars[i], '"' | '(' | ')')
                {
                    i += 1;
                }
                let raw: String = chars[start..i].iter().collect();
                match raw.as_str() {
                    "OR" | "|" | "||" => {
                        tokens.push(Token::Or);
                        continue;
                    }
                    "AND" | "&" | "&&" => {
                        tokens.push(Token::And);
                        continue;
                    }
                    "NOT" => {
                        tokens.push(Token::Not);
                        continue;
                    }
                    _ => {}
                }
                let mut rest = raw.as_str();
                let mut negated = false;
                if let Some(after) = rest.strip_prefix('-') {
                    negated = true;
                    rest = after;
                } else if let Some(after) = rest.strip_prefix('+') {
                    rest = after;
                }
                let mut title = false;
                if rest.len() >= 6
                    && rest.is_char_boundary(6)
                    && rest[..6].eq_ignore_ascii_case("title:")
                {
                    title = true;
                    rest = &rest[6..];
                }
                if rest.is_empty() {
                    // "-", "title:" and friends modify what follows directly.
                    if chars.get(i) == Some(&'"') {
                        let (token, next) = phrase_token(&chars, i + 1, negated, title);
                        tokens.push(token);
                        i = next;
                    } else if chars.get(i) == Some(&'(') && !title {
                        tokens.push(Token::Open { negated });
                        i += 1;
                    }
                    continue;
                }
                let prefix = rest.ends_with('*');
                let text = rest.trim_end_matches('*');
                if !text.is_empty() {
                    tokens.push(Token::Word {
                        text: text.to_string(),
                        negated,
                        title,
                        prefix,
                    });
                }
            }
        }
    }
    tokens
}

/// A quoted phrase starting after its opening quote; `"big bad wo"*` is a
/// phrase whose last word is a prefix.
fn phrase_token(chars: &[char], start: usize, negated: bool, title: bool) -> (Token, usize) {
    let (text, next) = read_phrase(chars, start);
    if chars.get(next) == Some(&'*') && chars.get(next - 1) == Some(&'"') {
        let token = Token::Word {
            text,
            negated,
            title,
            prefix: true,
        };
        return (token, next + 1);
    }
    (
        Token::Phrase {
            text,
            negated,
            title,
        },
        next,
    )
}

/// Reads a phrase body starting after its opening quote; an unclosed quote
/// runs to the end of the input. Returns the text and the next index.
fn read_phrase(chars: &[char], start: usize) -> (String, usize) {
    let mut end = start;
    while end < chars.len() && chars[end] != '"' {
        end += 1;
    }
    let text = chars[start.min(end)..end].iter().collect();
    (text, (end + 1).min(chars.len()))
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn sequence(&mut self, depth: usize) -> Parsed {
        let mut clauses = Vec::new();
        while let Some(token) = self.peek() {
            match token {
                Token::Close if depth > 0 => break,
                Token::Close | Token::Or | Token::And => {
                    // Stray ")" at the top, or an operator with nothing on
                    // its left: ignore it.
                    self.position += 1;
                    continue;
                }
                _ => {}
            }
            let before = self.position;
            if let Some(clause) = self.clause(depth) {
                clauses.push(clause);
            }
            if self.position == before {
                self.position += 1;
            }
        }
        Parsed { clauses }
    }

    fn clause(&mut self, depth: usize) -> Option<Clause> {
        let mut alternatives = Vec::new();
        if let Some(unit) = self.unary(depth) {
            alternatives.push(unit);
        }
        while self.peek() == Some(&Token::Or) {
            self.position += 1;
            if !self.peek().is_some_and(Token::starts_unit) {
                break;
            }
            if let Some(unit) = self.unary(depth) {
                alternatives.push(unit);
            }
        }
        if alternatives.len() == 1 {
            let (negated, unit) = alternatives.remove(0);
            return Some(Clause {
                negated,
                alternatives: vec![unit],
            });
        }
        // "a OR -b" means nothing useful for a search: drop the negated side.
        let alternatives: Vec<Unit> = alternatives
            .into_iter()
            .filter(|(negated, _)| !negated)
            .map(|(_, unit)| unit)
            .collect();
        (!alternatives.is_empty()).then_some(Clause {
            negated: false,
            alternatives,
        })
    }

    /// One unit with its negation, or `None` (consuming what was skipped).
    fn unary(&mut self, depth: usize) -> Option<(bool, Unit)> {
        let mut negate = false;
        while let Some(token) = self.peek() {
            match token {
                Token::Not => negate = true,
                Token::And => {}
                _ => break,
            }
            self.position += 1;
        }
        let token = self.peek()?.clone();
        match token {
            Token::Word {
                text,
                negated,
                title,
                prefix,
            } => {
                self.position += 1;
                Some((
                    negate || negated,
                    Unit::Word {
                        text,
                        prefix,
                        title,
                    },
                ))
            }
            Token::Phrase {
                text,
                negated,
                title,
            } => {
                self.position += 1;
                Some((negate || negated, Unit::Phrase { text, title }))
            }
            Token::Open { negated } => {
                self.position += 1;
                if depth >= MAX_DEPTH {
                    return None;
                }
                let inner = self.sequence(depth + 1);
                if self.peek() == Some(&Token::Close) {
                    self.position += 1;
                }
                (!inner.clauses.is_empty()).then_some((negate || negated, Unit::Group(inner)))
            }
            Token::Close | Token::Or | Token::And | Token::Not => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str) -> Unit {
        Unit::Word {
            text: text.to_string(),
            prefix: false,
            title: false,
        }
    }

    fn must(unit: Unit) -> Clause {
        Clause {
            negated: false,
            alternatives: vec![unit],
        }
    }

    fn check(input: &str, expected: Vec<Clause>) {
        assert_eq!(parse(input).clauses, expected, "parsing {input:?}");
    }

    #[test]
    fn parses_the_documented_syntax() {
        check(
            "budget review",
            vec![must(word("budget")), must(word("review"))],
        );
        check(
            "budget 2024 OR 2025",
            vec![
                must(word("budget")),
                Clause {
                    negated: false,
                    alternatives: vec![word("2024"), word("2025")],
                },
            ],
        );
        check(
            "-draft NOT old",
            vec![
                Clause {
                    negated: true,
                    alternatives: vec![word("draft")],
                },
                Clause {
                    negated: true,
                    alternatives: vec![word("old")],
                },
            ],
        );
        check(
            "\"exact phrase\" budg* title:\"annual report\" TITLE:plan",
            vec![
                must(Unit::Phrase {
                    text: "exact phrase".to_string(),
                    title: false,
                }),
                must(Unit::Word {
                    text: "budg".to_string(),
                    prefix: true,
                    title: false,
                }),
                must(Unit::Phrase {
                    text: "annual report".to_string(),
                    title: true,
                }),
                must(Unit::Word {
                    text: "plan".to_string(),
                    prefix: false,
                    title: true,
                }),
            ],
        );
        check(
            "-(a b) c",
            vec![
                Clause {
                    negated: true,
                    alternatives: vec![Unit::Group(Parsed {
                        clauses: vec![must(word("a")), must(word("b"))],
                    })],
                },
                must(word("c")),
            ],
        );
    }

    #[test]
    fn forgives_typos() {
        check(
            "\"unclosed phrase",
            vec![must(Unit::Phrase {
                text: "unclosed phrase".to_string(),
                title: false,
            })],
        );
        check("AND AND x OR", vec![must(word("x"))]);
        check("- * -* ) ( title:", vec![]);
        check("a OR -b", vec![must(word("a"))]);
        check(
            "error: file",
            vec![must(word("error:")), must(word("file"))],
        );
        check(
            "(a (b",
            vec![must(Unit::Group(Parsed {
                clauses: vec![
                    must(word("a")),
                    must(Unit::Group(Parsed {
                        clauses: vec![must(word("b"))],
                    })),
                ],
            }))],
        );
        // Deep nesting is flattened, not recursed into.
        let deep = "(".repeat(10_000) + "x" + &")".repeat(10_000);
        assert!(!parse(&deep).clauses.is_empty());
    }
}
