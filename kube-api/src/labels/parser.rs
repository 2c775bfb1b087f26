//! The string form of label selectors (`app=web,tier in (front,back),!canary`): a lexer
//! that cuts the text into tokens, and a recursive-descent parser over them. Both follow
//! upstream's `labels/selector.go` closely, so that errors read the same; the grammar is in
//! the parent module's documentation.

use super::{check_key, invalid, Operator, Requirement, SelectorError};

/// Parses a whole selector into its requirements (not yet sorted).
pub(super) fn parse(text: &str) -> Result<Vec<Requirement>, SelectorError> {
    Parser { tokens: lex(text), position: 0 }.parse()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    EndOfString,
    Identifier,
    /// `!` on its own, in front of a key.
    Not,
    Comma,
    OpenParen,
    CloseParen,
    Equals,
    DoubleEquals,
    NotEquals,
    Greater,
    Less,
    /// The words `in` and `notin`; they are keywords only where an operator is expected.
    In,
    NotIn,
}

/// Characters that end an identifier and start an operator or punctuation.
fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

fn is_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Cuts the selector into `(token, literal)` pairs, ending with `EndOfString`.
fn lex(text: &str) -> Vec<(Token, String)> {
    let mut tokens = Vec::new();
    let mut rest = text.trim_start_matches(is_whitespace);
    while let Some(first) = rest.chars().next() {
        let end = if is_special(first) {
            // The longest run of special characters that is one symbol: `!=` over `!`.
            let run: String = rest.chars().take_while(|&c| is_special(c)).take(2).collect();
            if matches!(run.as_str(), "==" | "!=") {
                2
            } else {
                1
            }
        } else {
            rest.find(|c: char| is_special(c) || is_whitespace(c)).unwrap_or(rest.len())
        };
        let literal = &rest[..end];
        let token = match literal {
            "!" => Token::Not,
            "," => Token::Comma,
            "(" => Token::OpenParen,
            ")" => Token::CloseParen,
            "=" => Token::Equals,
            "==" => Token::DoubleEquals,
            "!=" => Token::NotEquals,
            ">" => Token::Greater,
            "<" => Token::Less,
            "in" => Token::In,
            "notin" => Token::NotIn,
            _ => Token::Identifier,
        };
        tokens.push((token, literal.to_string()));
        rest = rest[end..].trim_start_matches(is_whitespace);
    }
    tokens.push((Token::EndOfString, String::new()));
    tokens
}

/// Where the parser is: reading a key or a value (`in`/`notin` are plain words there), or
/// an operator (`in`/`notin` are keywords).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Values,
    Operator,
}

struct Parser {
    tokens: Vec<(Token, String)>,
    position: usize,
}

impl Parser {
    fn peek(&self, context: Context) -> (Token, String) {
        // The token list always ends with EndOfString, and we never move past it.
        let (token, literal) = self.tokens[self.position.min(self.tokens.len() - 1)].clone();
        let token = match token {
            Token::In | Token::NotIn if context == Context::Values => Token::Identifier,
            other => other,
        };
        (token, literal)
    }

    fn next(&mut self, context: Context) -> (Token, String) {
        let item = self.peek(context);
        if self.position < self.tokens.len() - 1 {
            self.position += 1;
        }
        item
    }

    fn parse(mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut requirements = Vec::new();
        loop {
            let (token, literal) = self.peek(Context::Values);
            match token {
                Token::Identifier | Token::Not => {
                    let requirement = self
                        .requirement()
                        .map_err(|e| SelectorError::Syntax(format!("unable to parse requirement: {e}")))?;
                    requirements.push(requirement);
                    let (token, literal) = self.next(Context::Values);
                    match token {
                        Token::EndOfString => return Ok(requirements),
                        Token::Comma => {
                            let (after, literal) = self.peek(Context::Values);
                            if after != Token::Identifier && after != Token::Not {
                                return Err(syntax(format!("found '{literal}', expected: identifier after ','")));
                            }
                        }
                        _ => return Err(syntax(format!("found '{literal}', expected: ',' or 'end of string'"))),
                    }
                }
                Token::EndOfString => return Ok(requirements),
                _ => return Err(syntax(format!("found '{literal}', expected: !, identifier, or 'end of string'"))),
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        let (mut token, mut key) = self.next(Context::Values);
        let negated = token == Token::Not;
        if negated {
            (token, key) = self.next(Context::Values);
        }
        if token != Token::Identifier {
            return Err(syntax(format!("found '{key}', expected: identifier")));
        }
        if let Err(detail) = check_key(&key) {
            // Upstream validates the key here with no field path, which Go prints as "<nil>".
            return Err(SelectorError::InvalidRequirement(invalid("<nil>", &format!("{key:?}"), &detail)));
        }
        let (after, _) = self.peek(Context::Values);
        if negated || matches!(after, Token::EndOfString | Token::Comma) {
            let operator = if negated { Operator::DoesNotExist } else { Operator::Exists };
            return Requirement::new(&key, operator, Vec::new());
        }
        let (token, literal) = self.next(Context::Operator);
        let operator = match token {
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::NotEquals => Operator::NotEquals,
            Token::In => Operator::In,
            Token::NotIn => Operator::NotIn,
            Token::Greater => Operator::Gt,
            Token::Less => Operator::Lt,
            _ => return Err(syntax(format!("found '{literal}', expected: in, notin, =, ==, !=, gt, lt"))),
        };
        let values = match operator {
            Operator::In | Operator::NotIn => self.value_set()?,
            _ => self.exact_value()?,
        };
        Requirement::new(&key, operator, values)
    }

    /// `( a, b, c )`. Empty entries are the empty value: `()` and `(a,)` both hold "".
    fn value_set(&mut self) -> Result<Vec<String>, SelectorError> {
        let (token, literal) = self.next(Context::Values);
        if token != Token::OpenParen {
            return Err(syntax(format!("found '{literal}' expected: '('")));
        }
        let mut values = Vec::new();
        let mut expect_value = true;
        loop {
            let (token, literal) = self.next(Context::Values);
            match token {
                Token::Identifier if expect_value => {
                    values.push(literal);
                    expect_value = false;
                }
                Token::Comma => {
                    if expect_value {
                        values.push(String::new());
                    }
                    expect_value = true;
                }
                Token::CloseParen => {
                    if expect_value {
                        values.push(String::new());
                    }
                    return Ok(values);
                }
                _ if expect_value => return Err(syntax(format!("found '{literal}', expected: ',', or identifier"))),
                _ => return Err(syntax(format!("found '{literal}', expected: ',' or ')'"))),
            }
        }
    }

    /// The value after `=`, `!=`, `>` or `<`; nothing at all means the empty value.
    fn exact_value(&mut self) -> Result<Vec<String>, SelectorError> {
        let (token, _) = self.peek(Context::Values);
        if matches!(token, Token::EndOfString | Token::Comma) {
            return Ok(vec![String::new()]);
        }
        match self.next(Context::Values) {
            (Token::Identifier, literal) => Ok(vec![literal]),
            (_, literal) => Err(syntax(format!("found '{literal}', expected: identifier"))),
        }
    }
}

fn syntax(message: String) -> SelectorError {
    SelectorError::Syntax(message)
}
