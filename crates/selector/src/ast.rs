use std::fmt::{self, Write as _};

use crate::Labels;

/// The label that Calico puts on every namespaced endpoint; `global()` is
/// defined as its absence.
pub const NAMESPACE_LABEL: &str = "projectcalico.org/namespace";

/// A node of a parsed selector.
///
/// The shape mirrors Calico's AST: `&&`/`||` chains are n-ary and only nest
/// where the source had parentheses, and runs of `!` are collapsed, so the
/// printed form is the same as Calico's `String()`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Expr {
    /// `all()`: matches everything.
    All,
    /// `global()`: matches label sets without [`NAMESPACE_LABEL`], i.e.
    /// non-namespaced resources. Only meaningful in a rule's
    /// `namespaceSelector`; see [`Selector::uses_global`](crate::Selector::uses_global).
    Global,
    /// `has(key)`: the label is present, whatever its value (even empty).
    Has(String),
    /// `key == "value"`: false when the label is absent.
    Equals { key: String, value: String },
    /// `key != "value"`: TRUE when the label is absent.
    NotEquals { key: String, value: String },
    /// `key in {...}`: false when the label is absent.
    In { key: String, values: ValueSet },
    /// `key not in {...}`: TRUE when the label is absent.
    NotIn { key: String, values: ValueSet },
    /// `key contains "s"`: false when the label is absent.
    Contains { key: String, value: String },
    /// `key starts with "s"`: false when the label is absent.
    StartsWith { key: String, value: String },
    /// `key ends with "s"`: false when the label is absent.
    EndsWith { key: String, value: String },
    /// `!expr`. `!has(k)` is `Not(Has(k))`.
    Not(Box<Expr>),
    /// `a && b && ...`, with at least two operands in a [`Selector`](crate::Selector).
    And(Vec<Expr>),
    /// `a || b || ...`, with at least two operands in a [`Selector`](crate::Selector).
    Or(Vec<Expr>),
}

/// The values of an `in` / `not in` set: sorted (by bytes, like Go's
/// `sort.Strings`) and deduplicated, which is both the canonical printed
/// order and what makes lookups allocation-free binary searches.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ValueSet(Vec<String>);

impl ValueSet {
    /// Builds a set from any values; order and duplicates don't matter.
    pub fn new<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut v: Vec<String> = values.into_iter().map(Into::into).collect();
        v.sort_unstable();
        v.dedup();
        ValueSet(v)
    }

    pub fn contains(&self, value: &str) -> bool {
        self.0
            .binary_search_by(|probe| probe.as_str().cmp(value))
            .is_ok()
    }

    /// The values in canonical (sorted) order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.0.iter().map(String::as_str)
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<S: Into<String>> FromIterator<S> for ValueSet {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        ValueSet::new(iter)
    }
}

impl Expr {
    /// Evaluates this node against `labels` without allocating.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        match self {
            Expr::All => true,
            Expr::Global => labels.get_label(NAMESPACE_LABEL).is_none(),
            Expr::Has(key) => labels.get_label(key).is_some(),
            Expr::Equals { key, value } => labels.get_label(key) == Some(value.as_str()),
            Expr::NotEquals { key, value } => labels.get_label(key) != Some(value.as_str()),
            Expr::In { key, values } => labels.get_label(key).is_some_and(|v| values.contains(v)),
            Expr::NotIn { key, values } => {
                !labels.get_label(key).is_some_and(|v| values.contains(v))
            }
            Expr::Contains { key, value } => labels
                .get_label(key)
                .is_some_and(|v| v.contains(value.as_str())),
            Expr::StartsWith { key, value } => labels
                .get_label(key)
                .is_some_and(|v| v.starts_with(value.as_str())),
            Expr::EndsWith { key, value } => labels
                .get_label(key)
                .is_some_and(|v| v.ends_with(value.as_str())),
            Expr::Not(inner) => !inner.matches(labels),
            Expr::And(operands) => operands.iter().all(|e| e.matches(labels)),
            Expr::Or(operands) => operands.iter().any(|e| e.matches(labels)),
        }
    }

    /// The label key a leaf term tests; `None` for `all()`, `global()` and
    /// the boolean combinators.
    pub fn key(&self) -> Option<&str> {
        match self {
            Expr::Has(key)
            | Expr::Equals { key, .. }
            | Expr::NotEquals { key, .. }
            | Expr::In { key, .. }
            | Expr::NotIn { key, .. }
            | Expr::Contains { key, .. }
            | Expr::StartsWith { key, .. }
            | Expr::EndsWith { key, .. } => Some(key),
            Expr::All | Expr::Global | Expr::Not(_) | Expr::And(_) | Expr::Or(_) => None,
        }
    }

    /// The direct children of a combinator (empty for leaves).
    pub fn children(&self) -> &[Expr] {
        match self {
            Expr::Not(inner) => std::slice::from_ref(inner),
            Expr::And(operands) | Expr::Or(operands) => operands,
            _ => &[],
        }
    }

    pub(crate) fn any_node(&self, pred: &mut impl FnMut(&Expr) -> bool) -> bool {
        pred(self) || self.children().iter().any(|c| c.any_node(pred))
    }

    pub(crate) fn for_each_node<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        f(self);
        for c in self.children() {
            c.for_each_node(f);
        }
    }
}

/// Prints in Calico's `String()` syntax. For the tree owned by a
/// [`Selector`](crate::Selector) this is the canonical form.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::All => f.write_str("all()"),
            Expr::Global => f.write_str("global()"),
            Expr::Has(key) => write!(f, "has({key})"),
            Expr::Equals { key, value } => write_op(f, key, " == ", value),
            Expr::NotEquals { key, value } => write_op(f, key, " != ", value),
            Expr::Contains { key, value } => write_op(f, key, " contains ", value),
            Expr::StartsWith { key, value } => write_op(f, key, " starts with ", value),
            Expr::EndsWith { key, value } => write_op(f, key, " ends with ", value),
            Expr::In { key, values } => write_set(f, key, " in {", values),
            Expr::NotIn { key, values } => write_set(f, key, " not in {", values),
            // No parentheses of its own: Calico relies on &&/|| always
            // bracketing themselves, so `!(a == "x")` prints as `!a == "x"`.
            Expr::Not(inner) => write!(f, "!{inner}"),
            Expr::And(operands) => write_group(f, operands, " && "),
            Expr::Or(operands) => write_group(f, operands, " || "),
        }
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, value: &str) -> fmt::Result {
    // The language has no escapes, so the quote character is the only way to
    // carry a `"`.
    let quote = if value.contains('"') { '\'' } else { '"' };
    f.write_char(quote)?;
    f.write_str(value)?;
    f.write_char(quote)
}

fn write_op(f: &mut fmt::Formatter<'_>, key: &str, op: &str, value: &str) -> fmt::Result {
    f.write_str(key)?;
    f.write_str(op)?;
    write_quoted(f, value)
}

fn write_set(f: &mut fmt::Formatter<'_>, key: &str, op: &str, values: &ValueSet) -> fmt::Result {
    f.write_str(key)?;
    f.write_str(op)?;
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write_quoted(f, v)?;
    }
    f.write_char('}')
}

fn write_group(f: &mut fmt::Formatter<'_>, operands: &[Expr], sep: &str) -> fmt::Result {
    f.write_char('(')?;
    for (i, e) in operands.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write!(f, "{e}")?;
    }
    f.write_char(')')
}

pub(crate) fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'-')
}

pub(crate) fn is_valid_key(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(is_key_char)
}

fn is_printable_value(value: &str) -> bool {
    !(value.contains('"') && value.contains('\''))
}

/// Whether the printed form of `e` parses back to `e`.
pub(crate) fn is_expressible(e: &Expr) -> bool {
    !e.any_node(&mut |n| match n {
        Expr::Has(key) => !is_valid_key(key),
        Expr::Equals { key, value }
        | Expr::NotEquals { key, value }
        | Expr::Contains { key, value }
        | Expr::StartsWith { key, value }
        | Expr::EndsWith { key, value } => !is_valid_key(key) || !is_printable_value(value),
        Expr::In { key, values } | Expr::NotIn { key, values } => {
            !is_valid_key(key) || !values.iter().all(is_printable_value)
        }
        // Nested negations and degenerate groups are normalised away by
        // Selector's constructors, but a hand-built Expr may contain them.
        Expr::Not(inner) => matches!(**inner, Expr::Not(_)),
        Expr::And(ops) | Expr::Or(ops) => ops.len() < 2,
        Expr::All | Expr::Global => false,
    })
}
