//! ClickHouse SQL text: literals that carry any string exactly (values never leave a
//! literal, whatever they hold), and the few combinators the query translation needs.

use std::fmt::Write;

/// A query refused for what it asks (the embedded store's `InvalidQuery`, same words).
pub(crate) fn invalid(reason: impl Into<String>) -> flowlens_store::StoreError {
    flowlens_store::StoreError::InvalidQuery(reason.into())
}

/// `text` as a ClickHouse string literal: backslash and quote escaped, control bytes as
/// `\xHH`; every other byte as it is (ClickHouse strings are bytes, compared as bytes).
pub(crate) fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    push_quoted(&mut out, text);
    out
}

pub(crate) fn push_quoted(out: &mut String, text: &str) {
    out.push('\'');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('\'');
}

/// `[ 'a', 'b' ]`, for `hasAny` and `IN`.
pub(crate) fn quoted_list<'a>(values: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        push_quoted(&mut out, v);
    }
    out
}

/// The conjunction of `parts` (`1` when there are none).
pub(crate) fn all_of(parts: &[String]) -> String {
    match parts {
        [] => "1".to_string(),
        [one] => one.clone(),
        many => format!("({})", many.join(" AND ")),
    }
}

/// The disjunction of `parts` (`0` when there are none).
pub(crate) fn any_of(parts: &[String]) -> String {
    match parts {
        [] => "0".to_string(),
        [one] => one.clone(),
        many => format!("({})", many.join(" OR ")),
    }
}

pub(crate) fn not(expr: &str) -> String {
    format!("(NOT {expr})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_escape_what_would_end_or_bend_a_literal() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote(r"a'b\c"), r"'a\'b\\c'");
        assert_eq!(quote("tab\there\n\0"), r"'tab\x09here\x0A\x00'");
        assert_eq!(quote("ünï ?"), "'ünï ?'");
        assert_eq!(quoted_list(["a", "b'"]), r"'a', 'b\''");
        assert_eq!(all_of(&[]), "1");
        assert_eq!(any_of(&["x".into(), "y".into()]), "(x OR y)");
    }
}
