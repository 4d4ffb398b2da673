//! Hand-written lexer and recursive-descent parser.
//!
//! The lexer mirrors Calico's tokenizer (libcalico-go `selector/tokenizer`)
//! token for token, so that exactly the same strings are accepted:
//! whitespace is only space and tab; operator words after a label are matched
//! by prefix (`a in{"x"}`, `a startswith "x"` and `a notin {}` are valid);
//! `has(`, `all(` and `global(` must have no space before the parenthesis.
//! Unlike Calico it lexes on demand, so the first problem in reading order is
//! the one reported.

use crate::ast::{Expr, ValueSet, is_key_char};
use crate::error::ParseError;

/// Deepest parenthesis nesting accepted; keeps parsing, evaluation, printing
/// and dropping of hostile input well inside the stack.
pub const MAX_NESTING: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok<'a> {
    Label(&'a str),
    Str(&'a str),
    LBrace,
    RBrace,
    Comma,
    Eq,
    Ne,
    In,
    NotIn,
    Contains,
    StartsWith,
    EndsWith,
    Not,
    All,
    Global,
    Has(&'a str),
    LParen,
    RParen,
    And,
    Or,
    Eof,
}

impl Tok<'_> {
    fn describe(&self) -> String {
        match self {
            Tok::Label(l) => format!("label '{l}'"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::LBrace => "'{'".into(),
            Tok::RBrace => "'}'".into(),
            Tok::Comma => "','".into(),
            Tok::Eq => "'=='".into(),
            Tok::Ne => "'!='".into(),
            Tok::In => "'in'".into(),
            Tok::NotIn => "'not in'".into(),
            Tok::Contains => "'contains'".into(),
            Tok::StartsWith => "'starts with'".into(),
            Tok::EndsWith => "'ends with'".into(),
            Tok::Not => "'!'".into(),
            Tok::All => "'all()'".into(),
            Tok::Global => "'global()'".into(),
            Tok::Has(l) => format!("'has({l})'"),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::And => "'&&'".into(),
            Tok::Or => "'||'".into(),
            Tok::Eof => "end of selector".into(),
        }
    }
}

const OPERATORS: &str = "==, !=, in, not in, contains, starts with, ends with";

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn err(&self, at: usize, message: impl Into<String>) -> ParseError {
        ParseError::at(self.src, at, message)
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        let trimmed = rest.trim_start_matches([' ', '\t']);
        self.pos += rest.len() - trimmed.len();
    }

    fn eat(&mut self, prefix: &str) -> bool {
        if self.rest().starts_with(prefix) {
            self.pos += prefix.len();
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Option<&'a str> {
        let rest = self.rest();
        let len = rest.bytes().take_while(|&b| is_key_char(b)).count();
        if len == 0 {
            return None;
        }
        self.pos += len;
        rest.get(..len)
    }

    /// Reads the next token. `after_label` selects Calico's operator-word
    /// mode, used only straight after a label.
    fn next(&mut self, after_label: Option<&str>) -> Result<(Tok<'a>, usize), ParseError> {
        self.skip_ws();
        let start = self.pos;
        let rest = self.rest();
        let Some(c) = rest.chars().next() else {
            return Ok((Tok::Eof, start));
        };
        let one = |lx: &mut Self, t| {
            lx.pos += 1;
            Ok((t, start))
        };
        match c {
            '(' => one(self, Tok::LParen),
            ')' => one(self, Tok::RParen),
            '{' => one(self, Tok::LBrace),
            '}' => one(self, Tok::RBrace),
            ',' => one(self, Tok::Comma),
            '"' | '\'' => {
                let body = rest.get(1..).unwrap_or("");
                match body.find(c) {
                    Some(end) => {
                        self.pos += end + 2;
                        Ok((Tok::Str(body.get(..end).unwrap_or("")), start))
                    }
                    None => Err(self.err(start, format!("unterminated string: no closing {c}"))),
                }
            }
            '=' if rest.starts_with("==") => {
                self.pos += 2;
                Ok((Tok::Eq, start))
            }
            '=' => Err(self.err(start, "expected '==' (a single '=' is not an operator)")),
            '!' if rest.starts_with("!=") => {
                self.pos += 2;
                Ok((Tok::Ne, start))
            }
            '!' => one(self, Tok::Not),
            '&' if rest.starts_with("&&") => {
                self.pos += 2;
                Ok((Tok::And, start))
            }
            '&' => Err(self.err(start, "expected '&&'")),
            '|' if rest.starts_with("||") => {
                self.pos += 2;
                Ok((Tok::Or, start))
            }
            '|' => Err(self.err(start, "expected '||'")),
            '\n' | '\r' => Err(self.err(
                start,
                "line breaks are not allowed in a selector (only spaces and tabs)",
            )),
            _ => match after_label {
                Some(label) => self.operator_word(label, start),
                None => self.word(start),
            },
        }
    }

    fn operator_word(&mut self, label: &str, start: usize) -> Result<(Tok<'a>, usize), ParseError> {
        let expected = || format!("expected an operator after label '{label}' ({OPERATORS})");
        if self.eat("contains") {
            return Ok((Tok::Contains, start));
        }
        for (first, tok) in [
            ("starts", Tok::StartsWith),
            ("ends", Tok::EndsWith),
            ("not", Tok::NotIn),
        ] {
            if self.eat(first) {
                self.skip_ws();
                let second = if tok == Tok::NotIn { "in" } else { "with" };
                if self.eat(second) {
                    return Ok((tok, start));
                }
                return Err(self.err(self.pos, format!("expected '{second}' after '{first}'")));
            }
        }
        if self.eat("in") {
            return Ok((Tok::In, start));
        }
        Err(self.err(start, expected()))
    }

    fn word(&mut self, start: usize) -> Result<(Tok<'a>, usize), ParseError> {
        if self.eat("has(") {
            self.skip_ws();
            let Some(label) = self.ident() else {
                return Err(self.err(self.pos, "expected a label name inside has(...)"));
            };
            self.skip_ws();
            if !self.eat(")") {
                return Err(self.err(self.pos, format!("expected ')' to close has({label}")));
            }
            return Ok((Tok::Has(label), start));
        }
        for (prefix, tok) in [("all(", Tok::All), ("global(", Tok::Global)] {
            if self.eat(prefix) {
                self.skip_ws();
                if !self.eat(")") {
                    return Err(self.err(self.pos, format!("expected ')' after {prefix}")));
                }
                return Ok((tok, start));
            }
        }
        match self.ident() {
            Some(label) => Ok((Tok::Label(label), start)),
            None => {
                let c = self.rest().chars().next().unwrap_or(' ');
                Err(self.err(start, format!("unexpected character {c:?}")))
            }
        }
    }
}

struct Parser<'a> {
    lx: Lexer<'a>,
    peeked: Option<(Tok<'a>, usize)>,
}

impl<'a> Parser<'a> {
    fn peek(&mut self) -> Result<(Tok<'a>, usize), ParseError> {
        match self.peeked {
            Some(t) => Ok(t),
            None => {
                let t = self.lx.next(None)?;
                self.peeked = Some(t);
                Ok(t)
            }
        }
    }

    fn bump(&mut self) -> Result<(Tok<'a>, usize), ParseError> {
        let t = self.peek()?;
        self.peeked = None;
        Ok(t)
    }

    fn err(&self, at: usize, message: impl Into<String>) -> ParseError {
        self.lx.err(at, message)
    }

    fn or_expr(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let mut operands = vec![self.and_expr(depth)?];
        while self.peek()?.0 == Tok::Or {
            self.bump()?;
            operands.push(self.and_expr(depth)?);
        }
        Ok(single_or(operands, Expr::Or))
    }

    fn and_expr(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let mut operands = vec![self.operation(depth)?];
        while self.peek()?.0 == Tok::And {
            self.bump()?;
            operands.push(self.operation(depth)?);
        }
        Ok(single_or(operands, Expr::And))
    }

    fn operation(&mut self, depth: usize) -> Result<Expr, ParseError> {
        // Like Calico, a run of `!` collapses to one negation or none.
        let mut negated = false;
        while self.peek()?.0 == Tok::Not {
            self.bump()?;
            negated = !negated;
        }
        let (tok, at) = self.bump()?;
        let expr = match tok {
            Tok::Has(key) => Expr::Has(key.to_owned()),
            Tok::All => Expr::All,
            Tok::Global => Expr::Global,
            Tok::Label(key) => self.label_operation(key, at)?,
            Tok::LParen => {
                if depth >= MAX_NESTING {
                    return Err(self.err(
                        at,
                        format!("selector is nested too deeply (more than {MAX_NESTING} levels of parentheses)"),
                    ));
                }
                let inner = self.or_expr(depth + 1)?;
                let (close, close_at) = self.bump()?;
                if close != Tok::RParen {
                    let col = ParseError::at(self.lx.src, at, "").column;
                    return Err(self.err(
                        close_at,
                        format!(
                            "expected ')' to close the '(' at column {col}, found {}",
                            close.describe()
                        ),
                    ));
                }
                inner
            }
            Tok::Eof => {
                return Err(self.err(at, "unexpected end of selector, expected an expression"));
            }
            other => {
                return Err(self.err(
                    at,
                    format!(
                        "unexpected {}, expected a label, has(...), all(), global(), '!' or '('",
                        other.describe()
                    ),
                ));
            }
        };
        Ok(if negated {
            Expr::Not(Box::new(expr))
        } else {
            expr
        })
    }

    fn label_operation(&mut self, key: &'a str, key_at: usize) -> Result<Expr, ParseError> {
        debug_assert!(self.peeked.is_none());
        let (op, op_at) = self.lx.next(Some(key))?;
        let key_owned = || key.to_owned();
        let ctor: fn(String, String) -> Expr = match op {
            Tok::Eq => |key, value| Expr::Equals { key, value },
            Tok::Ne => |key, value| Expr::NotEquals { key, value },
            Tok::Contains => |key, value| Expr::Contains { key, value },
            Tok::StartsWith => |key, value| Expr::StartsWith { key, value },
            Tok::EndsWith => |key, value| Expr::EndsWith { key, value },
            Tok::In | Tok::NotIn => {
                let values = self.set_literal(&op)?;
                return Ok(if op == Tok::In {
                    Expr::In {
                        key: key_owned(),
                        values,
                    }
                } else {
                    Expr::NotIn {
                        key: key_owned(),
                        values,
                    }
                });
            }
            Tok::LParen if matches!(key, "has" | "all" | "global") => {
                return Err(self.err(
                    key_at,
                    format!("no space is allowed between '{key}' and '('"),
                ));
            }
            Tok::LParen => {
                return Err(self.err(
                    key_at,
                    format!("unknown function '{key}()', expected has(label), all() or global()"),
                ));
            }
            other => {
                return Err(self.err(
                    op_at,
                    format!(
                        "expected an operator after label '{key}' ({OPERATORS}), found {}",
                        other.describe()
                    ),
                ));
            }
        };
        match self.bump()? {
            (Tok::Str(value), _) => Ok(ctor(key_owned(), value.to_owned())),
            (other, at) => Err(self.err(
                at,
                format!(
                    "expected a quoted string after {}, found {}",
                    op.describe(),
                    other.describe()
                ),
            )),
        }
    }

    fn set_literal(&mut self, op: &Tok<'a>) -> Result<ValueSet, ParseError> {
        let (open, open_at) = self.bump()?;
        if open != Tok::LBrace {
            return Err(self.err(
                open_at,
                format!(
                    "expected '{{' to start a set after {}, found {}",
                    op.describe(),
                    open.describe()
                ),
            ));
        }
        let mut values = Vec::new();
        // Calico accepts a trailing comma (`{"a",}`) but not a leading one.
        loop {
            match self.bump()? {
                (Tok::RBrace, _) => break,
                (Tok::Str(v), _) => {
                    values.push(v);
                    match self.bump()? {
                        (Tok::Comma, _) => {}
                        (Tok::RBrace, _) => break,
                        (other, at) => {
                            return Err(self.err(
                                at,
                                format!(
                                    "expected ',' or '}}' after a set value, found {}",
                                    other.describe()
                                ),
                            ));
                        }
                    }
                }
                (other, at) => {
                    return Err(self.err(
                        at,
                        format!(
                            "expected a quoted string or '}}' in set, found {}",
                            other.describe()
                        ),
                    ));
                }
            }
        }
        Ok(ValueSet::new(values))
    }
}

fn single_or(mut operands: Vec<Expr>, group: fn(Vec<Expr>) -> Expr) -> Expr {
    if operands.len() == 1
        && let Some(e) = operands.pop()
    {
        return e;
    }
    group(operands)
}

pub(crate) fn parse(input: &str) -> Result<Expr, ParseError> {
    let mut p = Parser {
        lx: Lexer { src: input, pos: 0 },
        peeked: None,
    };
    if p.peek()?.0 == Tok::Eof {
        return Ok(Expr::All);
    }
    let expr = p.or_expr(0)?;
    match p.bump()? {
        (Tok::Eof, _) => Ok(expr),
        (Tok::RParen, at) => Err(p.err(at, "unexpected ')' with no matching '('")),
        (other, at) => Err(p.err(
            at,
            format!(
                "unexpected {} after a complete expression, expected '&&', '||' or end of selector",
                other.describe()
            ),
        )),
    }
}
