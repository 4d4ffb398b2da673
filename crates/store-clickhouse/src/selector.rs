//! Calico label selectors as ClickHouse SQL over a stored label list (`Array(String)` of
//! `key=value`, in the order the flow log's labels had: sorted by key).
//!
//! The embedded store looks a label up as the first entry that starts with `key=`, and so
//! does the SQL: `arrayFirst(x -> startsWith(x, 'key='), labels)` is that entry, or `''`
//! when there is none (no entry that matches is empty). Every term of the language is
//! translated from the selector crate's tree, so the two stores answer alike; what cannot
//! be translated is an error, never an approximation.

use crate::sql::{all_of, any_of, not, quote, quoted_list};
use flowlens_selector::{Expr, NAMESPACE_LABEL, Selector};
use flowlens_store::Result;

/// Nesting the translation accepts: each level becomes a level of parentheses, and
/// ClickHouse's parser recurses on them. The selector parser stops at
/// [`flowlens_selector::MAX_NESTING`] parentheses; a tree built by hand may go deeper.
pub(crate) const MAX_DEPTH: usize = 2 * flowlens_selector::MAX_NESTING + 8;

/// The condition that `selector` matches the labels in `column`.
pub(crate) fn selector_sql(column: &str, selector: &Selector) -> Result<String> {
    translate(column, selector.expr(), 0)
}

/// The entry of label `key`, or `''`.
fn entry(column: &str, key: &str) -> String {
    format!(
        "arrayFirst(x -> startsWith(x, {}), {column})",
        quote(&format!("{key}="))
    )
}

fn translate(column: &str, expr: &Expr, depth: usize) -> Result<String> {
    if depth > MAX_DEPTH {
        return Err(crate::sql::invalid(format!(
            "selector nested more than {MAX_DEPTH} levels deep: too deep to translate into SQL"
        )));
    }
    let entry_of = |key: &str| entry(column, key);
    let key_value = |key: &str, value: &str| quote(&format!("{key}={value}"));
    // The label's value: the entry from after `key=` on (ClickHouse counts bytes from 1).
    let value_of = |key: &str| format!("substring({}, {})", entry_of(key), key.len() + 2);
    let present = |key: &str| {
        format!(
            "arrayExists(x -> startsWith(x, {}), {column})",
            quote(&format!("{key}="))
        )
    };
    Ok(match expr {
        Expr::All => "1".to_string(),
        Expr::Global => not(&present(NAMESPACE_LABEL)),
        Expr::Has(key) => present(key),
        Expr::Equals { key, value } => format!("({} = {})", entry_of(key), key_value(key, value)),
        Expr::NotEquals { key, value } => {
            format!("({} != {})", entry_of(key), key_value(key, value))
        }
        Expr::In { key, values } | Expr::NotIn { key, values } => {
            let listed = if values.is_empty() {
                "0".to_string()
            } else {
                let entries: Vec<String> = values.iter().map(|v| format!("{key}={v}")).collect();
                format!(
                    "({} IN ({}))",
                    entry_of(key),
                    quoted_list(entries.iter().map(String::as_str))
                )
            };
            if matches!(expr, Expr::NotIn { .. }) {
                not(&listed)
            } else {
                listed
            }
        }
        Expr::Contains { key, value } => format!(
            "({} AND position({}, {}) > 0)",
            present(key),
            value_of(key),
            quote(value)
        ),
        Expr::StartsWith { key, value } => {
            format!("startsWith({}, {})", entry_of(key), key_value(key, value))
        }
        Expr::EndsWith { key, value } => format!(
            "({} AND endsWith({}, {}))",
            present(key),
            value_of(key),
            quote(value)
        ),
        Expr::Not(inner) => not(&translate(column, inner, depth + 1)?),
        Expr::And(operands) => all_of(
            &operands
                .iter()
                .map(|e| translate(column, e, depth + 1))
                .collect::<Result<Vec<_>>>()?,
        ),
        Expr::Or(operands) => any_of(
            &operands
                .iter()
                .map(|e| translate(column, e, depth + 1))
                .collect::<Result<Vec<_>>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_translate() {
        let sql = |text: &str| selector_sql("l", &Selector::parse(text).unwrap()).unwrap();
        assert_eq!(sql("all()"), "1");
        assert_eq!(
            sql("app == 'web'"),
            "(arrayFirst(x -> startsWith(x, 'app='), l) = 'app=web')"
        );
        assert_eq!(
            sql("has(app)"),
            "arrayExists(x -> startsWith(x, 'app='), l)"
        );
        assert_eq!(
            sql("tier in {'a', 'b'}"),
            "(arrayFirst(x -> startsWith(x, 'tier='), l) IN ('tier=a', 'tier=b'))"
        );
        assert!(sql("global()").contains("projectcalico.org/namespace="));
        assert!(sql("!has(a) && (b == 'x' || c != \"y'\")").contains(r"'c=y\''"));
    }

    #[test]
    fn built_trees_too_deep_are_refused() {
        let mut s = Selector::label_equals("a", "b");
        for i in 0..MAX_DEPTH + 2 {
            s = Selector::any_of([s, Selector::has_label(format!("k{i}"))]).negate();
        }
        assert!(selector_sql("l", &s).is_err());
    }
}
