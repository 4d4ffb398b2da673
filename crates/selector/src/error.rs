/// Why a selector string could not be parsed, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("selector error at column {column}: {message}")]
pub struct ParseError {
    /// 1-based column, counted in characters, of the offending input. One past
    /// the last character when the input ended too early.
    pub column: usize,
    /// What was wrong, without position information.
    pub message: String,
    /// The complete input that failed to parse.
    pub input: String,
}

impl ParseError {
    pub(crate) fn at(input: &str, byte_offset: usize, message: impl Into<String>) -> Self {
        // Offsets always come from the lexer, so they sit on char boundaries;
        // `get` keeps this panic-free even if that ever stops being true.
        let before = input
            .get(..byte_offset)
            .map_or(input.chars().count(), |s| s.chars().count());
        ParseError {
            column: before + 1,
            message: message.into(),
            input: input.to_owned(),
        }
    }

    /// Two lines for terminal output: the input, then a `^` under the
    /// offending column.
    ///
    /// Tabs are kept in both lines so the caret stays aligned; other control
    /// characters (e.g. line breaks, which Calico rejects) are shown as
    /// placeholders so the input stays on one line.
    pub fn caret(&self) -> String {
        let mut line = String::with_capacity(self.input.len());
        let mut pad = String::with_capacity(self.column);
        for (i, c) in self.input.chars().enumerate() {
            let shown = match c {
                '\t' => '\t',
                '\n' | '\r' => '↵',
                c if c.is_control() => '\u{fffd}',
                c => c,
            };
            line.push(shown);
            if i + 1 < self.column {
                pad.push(if c == '\t' { '\t' } else { ' ' });
            }
        }
        format!("{line}\n{pad}^")
    }
}
