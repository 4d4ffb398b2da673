//! The Calico label-selector language: parsing, evaluation against label sets,
//! and Calico's canonical printed form.
//!
//! Selectors such as `app == "frontend" && tier in {"web", "api"} && !has(canary)`
//! appear throughout Calico `NetworkPolicy`, `GlobalNetworkPolicy`,
//! `NetworkSet` and friends. This crate accepts exactly the strings Calico's
//! own parser (libcalico-go `lib/selector`) accepts, evaluates them with the
//! same semantics (notably `!=` and `not in` are true when the label is
//! absent), and prints them the way Calico's `String()` does.
//!
//! Kubernetes `LabelSelector`s (`matchLabels` / `matchExpressions`) can be
//! expressed with the builder constructors, so the policy engine can use one
//! evaluator for both:
//!
//! | Kubernetes                    | builder                          |
//! |-------------------------------|----------------------------------|
//! | `matchLabels: {k: v}`         | [`Selector::label_equals`]       |
//! | `In`                          | [`Selector::label_in`]           |
//! | `NotIn`                       | [`Selector::label_not_in`]       |
//! | `Exists`                      | [`Selector::has_label`]          |
//! | `DoesNotExist`                | [`Selector::lacks_label`]        |
//! | the whole selector (ANDed)    | [`Selector::all_of`]             |
//!
//! ```
//! use std::collections::BTreeMap;
//! use flowlens_selector::Selector;
//!
//! let sel: Selector = "app == 'web' && !has(canary)".parse().unwrap();
//! let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
//! assert!(sel.matches(&labels));
//! assert_eq!(sel.to_string(), r#"(app == "web" && !has(canary))"#);
//! ```

mod ast;
mod error;
mod labels;
mod parser;

#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

pub use ast::{Expr, NAMESPACE_LABEL, ValueSet};
pub use error::ParseError;
pub use labels::Labels;
pub use parser::MAX_NESTING;

/// A parsed (or built) label selector.
///
/// Equality and hashing are structural on the canonical tree, so two
/// [expressible](Self::is_expressible) selectors are equal exactly when their
/// canonical strings are. Equivalent but differently written selectors
/// (`a && b` vs `b && a`) are not equal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Selector {
    // Invariants (relied on by Display being a fixed point): no `Not(Not(_))`,
    // every And/Or has at least two operands.
    expr: Expr,
}

impl Selector {
    /// Parses Calico selector syntax. An empty or blank string is `all()`.
    pub fn parse(input: &str) -> Result<Selector, ParseError> {
        parser::parse(input).map(|expr| Selector { expr })
    }

    /// `all()`: matches every label set.
    pub fn all() -> Selector {
        Selector { expr: Expr::All }
    }

    /// `global()`: matches label sets without [`NAMESPACE_LABEL`].
    pub fn global() -> Selector {
        Selector { expr: Expr::Global }
    }

    /// Wraps a hand-built tree, normalising it the way the parser would:
    /// `!!e` becomes `e`, and `&&`/`||` groups with fewer than two operands
    /// are replaced by their only operand, `all()` (empty `&&`) or `!all()`
    /// (empty `||`).
    pub fn from_expr(expr: Expr) -> Selector {
        Selector {
            expr: normalize(expr),
        }
    }

    /// The root of the tree, for callers that index or analyse terms.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    pub fn into_expr(self) -> Expr {
        self.expr
    }

    /// Evaluates the selector. Never allocates.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        self.expr.matches(labels)
    }

    /// True if this is literally `all()` (not merely equivalent to it).
    pub fn is_all(&self) -> bool {
        matches!(self.expr, Expr::All)
    }

    /// True if `global()` appears anywhere.
    ///
    /// Calico gives `global()` meaning only in a rule's `namespaceSelector`,
    /// where it selects non-namespaced endpoints (host endpoints, global
    /// network sets). Callers evaluating such a selector against a
    /// *namespace's* labels must special-case it; [`matches`](Self::matches)
    /// implements it as "has no [`NAMESPACE_LABEL`]", which is what Calico
    /// rewrites it to when evaluating against endpoint labels.
    pub fn uses_global(&self) -> bool {
        self.expr.any_node(&mut |e| matches!(e, Expr::Global))
    }

    /// Every label key whose presence or value can affect
    /// [`matches`](Self::matches), sorted and deduplicated. Includes
    /// [`NAMESPACE_LABEL`] when `global()` is used.
    pub fn label_keys(&self) -> Vec<&str> {
        let mut keys = Vec::new();
        self.expr.for_each_node(&mut |e| {
            if let Some(k) = e.key() {
                keys.push(k);
            } else if matches!(e, Expr::Global) {
                keys.push(NAMESPACE_LABEL);
            }
        });
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// False if some key or value can't be written in selector syntax (an
    /// empty key, a key with characters outside `[A-Za-z0-9_./-]`, or a
    /// value containing both `'` and `"`), in which case the printed form
    /// will not parse back. Always true for parsed selectors; only the
    /// builders can produce such terms, e.g. from an invalid manifest.
    pub fn is_expressible(&self) -> bool {
        ast::is_expressible(&self.expr)
    }

    /// Conjunction. `all()` operands vanish, and `&&` groups are merged
    /// rather than nested.
    pub fn and(self, other: Selector) -> Selector {
        Selector::all_of([self, other])
    }

    /// Disjunction. An `all()` operand makes the result `all()`, and `||`
    /// groups are merged rather than nested.
    pub fn or(self, other: Selector) -> Selector {
        Selector::any_of([self, other])
    }

    /// Negation (`!`); also available as the `!` operator. Negating a
    /// negation removes both.
    pub fn negate(self) -> Selector {
        match self.expr {
            Expr::Not(inner) => Selector { expr: *inner },
            e => Selector {
                expr: Expr::Not(Box::new(e)),
            },
        }
    }

    /// Conjunction of any number of selectors (`all()` if there are none),
    /// e.g. for the terms of a Kubernetes `LabelSelector`.
    pub fn all_of<I: IntoIterator<Item = Selector>>(selectors: I) -> Selector {
        let mut operands = Vec::new();
        for s in selectors {
            match s.expr {
                Expr::All => {}
                Expr::And(inner) => operands.extend(inner),
                e => operands.push(e),
            }
        }
        Selector::from_group(operands, Expr::And, Expr::All)
    }

    /// Disjunction of any number of selectors. With none it matches nothing
    /// (`!all()`).
    pub fn any_of<I: IntoIterator<Item = Selector>>(selectors: I) -> Selector {
        let mut operands = Vec::new();
        for s in selectors {
            match s.expr {
                Expr::All => return Selector::all(),
                Expr::Or(inner) => operands.extend(inner),
                e => operands.push(e),
            }
        }
        Selector::from_group(operands, Expr::Or, Expr::Not(Box::new(Expr::All)))
    }

    fn from_group(mut operands: Vec<Expr>, group: fn(Vec<Expr>) -> Expr, empty: Expr) -> Selector {
        let expr = match operands.len() {
            0 => empty,
            1 => operands.pop().unwrap_or(empty),
            _ => group(operands),
        };
        Selector { expr }
    }

    /// `key == "value"` (Kubernetes `matchLabels` entry).
    pub fn label_equals(key: impl Into<String>, value: impl Into<String>) -> Selector {
        Selector {
            expr: Expr::Equals {
                key: key.into(),
                value: value.into(),
            },
        }
    }

    /// `key != "value"`; true when the label is absent.
    pub fn label_not_equals(key: impl Into<String>, value: impl Into<String>) -> Selector {
        Selector {
            expr: Expr::NotEquals {
                key: key.into(),
                value: value.into(),
            },
        }
    }

    /// `key in {...}` (Kubernetes `In`); false when the label is absent.
    pub fn label_in<I, S>(key: impl Into<String>, values: I) -> Selector
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Selector {
            expr: Expr::In {
                key: key.into(),
                values: ValueSet::new(values),
            },
        }
    }

    /// `key not in {...}` (Kubernetes `NotIn`); true when the label is absent.
    pub fn label_not_in<I, S>(key: impl Into<String>, values: I) -> Selector
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Selector {
            expr: Expr::NotIn {
                key: key.into(),
                values: ValueSet::new(values),
            },
        }
    }

    /// `has(key)` (Kubernetes `Exists`).
    pub fn has_label(key: impl Into<String>) -> Selector {
        Selector {
            expr: Expr::Has(key.into()),
        }
    }

    /// `!has(key)` (Kubernetes `DoesNotExist`).
    pub fn lacks_label(key: impl Into<String>) -> Selector {
        Selector::has_label(key).negate()
    }

    /// `key contains "value"`.
    pub fn label_contains(key: impl Into<String>, value: impl Into<String>) -> Selector {
        Selector {
            expr: Expr::Contains {
                key: key.into(),
                value: value.into(),
            },
        }
    }

    /// `key starts with "value"`.
    pub fn label_starts_with(key: impl Into<String>, value: impl Into<String>) -> Selector {
        Selector {
            expr: Expr::StartsWith {
                key: key.into(),
                value: value.into(),
            },
        }
    }

    /// `key ends with "value"`.
    pub fn label_ends_with(key: impl Into<String>, value: impl Into<String>) -> Selector {
        Selector {
            expr: Expr::EndsWith {
                key: key.into(),
                value: value.into(),
            },
        }
    }
}

fn normalize(expr: Expr) -> Expr {
    match expr {
        Expr::Not(inner) => match normalize(*inner) {
            Expr::Not(e) => *e,
            e => Expr::Not(Box::new(e)),
        },
        Expr::And(ops) => {
            let ops = ops.into_iter().map(normalize).collect();
            Selector::from_group(ops, Expr::And, Expr::All).expr
        }
        Expr::Or(ops) => {
            let ops = ops.into_iter().map(normalize).collect();
            Selector::from_group(ops, Expr::Or, Expr::Not(Box::new(Expr::All))).expr
        }
        leaf => leaf,
    }
}

impl Default for Selector {
    fn default() -> Self {
        Selector::all()
    }
}

impl std::ops::Not for Selector {
    type Output = Selector;

    fn not(self) -> Selector {
        self.negate()
    }
}

/// Calico's canonical form: `&&`/`||` groups always parenthesised, `!`
/// without parentheses of its own, set values sorted and deduplicated,
/// values double-quoted unless they contain `"`.
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.expr, f)
    }
}

impl FromStr for Selector {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Selector::parse(s)
    }
}
