//! Load errors that point at the file, document, line, column and field at fault, and the
//! collector that gathers them (with warnings) while documents are read.

use crate::node::Node;
use std::fmt;

/// One problem in one document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    pub file: String,
    /// Zero-based index of the document within the file.
    pub document: usize,
    /// One-based line, when known.
    pub line: Option<usize>,
    /// One-based column, when known.
    pub column: Option<usize>,
    /// Where in the document, e.g. `spec.ingress[0].ports[1]`; empty for the whole document.
    pub field: String,
    pub message: String,
}

impl fmt::Display for LoadError {
    /// `storefront.yaml: document 3, line 42, column 11: spec.ingress[0].ports[1]: expected …`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: document {}", self.file, self.document)?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
            if let Some(column) = self.column {
                write!(f, ", column {column}")?;
            }
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for LoadError {}

/// Every error found while loading, not just the first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadErrors(pub Vec<LoadError>);

impl LoadErrors {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, LoadError> {
        self.0.iter()
    }
}

/// One error per line.
impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadErrors {}

impl IntoIterator for LoadErrors {
    type Item = LoadError;
    type IntoIter = std::vec::IntoIter<LoadError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// A field path such as `spec.ingress[0].ports[1]`, built up while walking a document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Path(String);

impl Path {
    pub fn root() -> Path {
        Path(String::new())
    }

    pub fn key(&self, key: &str) -> Path {
        if self.0.is_empty() {
            Path(key.to_owned())
        } else {
            Path(format!("{}.{key}", self.0))
        }
    }

    pub fn index(&self, i: usize) -> Path {
        Path(format!("{}[{i}]", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Collects the errors and warnings of one document.
#[derive(Debug)]
pub(crate) struct Diag {
    pub file: String,
    pub document: usize,
    /// Prepended to every field path, e.g. `items[3]` for an item of a `kind: List`.
    pub prefix: Path,
    pub errors: Vec<LoadError>,
    pub warnings: Vec<String>,
}

impl Diag {
    pub fn new(file: &str, document: usize) -> Diag {
        Diag {
            file: file.to_owned(),
            document,
            prefix: Path::root(),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// An error at `node` (its line and column) for the field `path`.
    pub fn error(&mut self, node: &Node, path: &Path, message: impl Into<String>) {
        let line = (node.line > 0).then_some(node.line);
        let column = (node.column > 0).then_some(node.column);
        self.error_at(line, column, path, message);
    }

    pub fn error_at(
        &mut self,
        line: Option<usize>,
        column: Option<usize>,
        path: &Path,
        message: impl Into<String>,
    ) {
        let field = match (self.prefix.as_str(), path.as_str()) {
            ("", p) => p.to_owned(),
            (pre, "") => pre.to_owned(),
            (pre, p) => format!("{pre}.{p}"),
        };
        self.errors.push(LoadError {
            file: self.file.clone(),
            document: self.document,
            line,
            column,
            field,
            message: message.into(),
        });
    }

    /// A warning about the current document, prefixed with where it is.
    pub fn warn(&mut self, node: &Node, message: impl fmt::Display) {
        let at = if node.line > 0 {
            format!(
                "{}: document {}, line {}",
                self.file, self.document, node.line
            )
        } else {
            format!("{}: document {}", self.file, self.document)
        };
        self.warnings.push(format!("{at}: {message}"));
    }

    pub fn error_count(&self) -> usize {
        self.errors.len()
    }
}
