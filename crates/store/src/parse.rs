//! Text forms for the command line: filters (`source_namespace=storefront`), durations
//! (`15m`) and sort keys (`end_time:desc`).

use crate::error::{Result, StoreError};
use crate::query::{FieldFilter, FilterOp, SortKey};
use crate::schema::Field;
use std::time::Duration;

/// Operators, longest first so that `!^=` is not read as `!` + `^=`.
const OPERATORS: &[&str] = &["!^=", "!=", "^=", ">=", "<=", "=", ">", "<"];

impl FieldFilter {
    /// Parses `FIELD OP VALUE` with no spaces around the operator:
    ///
    /// | text | meaning |
    /// |---|---|
    /// | `source_namespace=storefront` | equals |
    /// | `source_namespace!=storefront` | differs (true when absent) |
    /// | `dest_name_aggr^=frontend-` | starts with |
    /// | `dest_name_aggr!^=frontend-` | does not start with |
    /// | `dest_port>1024`, `>=`, `<`, `<=` | compares (numbers for numeric columns) |
    /// | `action=in:allow,deny` | one of (comma-separated) |
    /// | `action!=in:allow,deny` | none of |
    /// | `source_namespace=-` | absent (Calico's `-`) |
    /// | `dest_labels=app=web` | the list contains `app=web` |
    pub fn parse(text: &str) -> Result<FieldFilter> {
        let start = text
            .find(['=', '!', '^', '<', '>'])
            .ok_or_else(|| StoreError::invalid(format!(
                "filter {text:?} has no operator; write FIELD=VALUE (or !=, ^=, !^=, >, >=, <, <=, =in:A,B)"
            )))?;
        let (name, rest) = text.split_at(start);
        let field = Field::from_name(name.trim())?;
        let op = OPERATORS
            .iter()
            .find(|op| rest.starts_with(**op))
            .ok_or_else(|| StoreError::invalid(format!("filter {text:?}: unknown operator")))?;
        let value = &rest[op.len()..];
        let list = |v: &str| -> Vec<String> { v.split(',').map(str::to_string).collect() };
        let op = match (*op, value.strip_prefix("in:")) {
            ("=", Some(values)) => FilterOp::In(list(values)),
            ("!=", Some(values)) => FilterOp::NotIn(list(values)),
            ("=", None) => FilterOp::Eq(value.into()),
            ("!=", None) => FilterOp::Ne(value.into()),
            ("^=", _) => FilterOp::Prefix(value.into()),
            ("!^=", _) => FilterOp::NotPrefix(value.into()),
            (">", _) => FilterOp::Gt(value.into()),
            (">=", _) => FilterOp::Ge(value.into()),
            ("<", _) => FilterOp::Lt(value.into()),
            ("<=", _) => FilterOp::Le(value.into()),
            (other, _) => return Err(StoreError::invalid(format!("unknown operator {other}"))),
        };
        Ok(FieldFilter { field, op })
    }
}

impl std::str::FromStr for FieldFilter {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<FieldFilter> {
        FieldFilter::parse(s)
    }
}

impl SortKey {
    /// `end_time`, `end_time:asc`, `end_time:desc` or `-end_time` (descending).
    pub fn parse(text: &str) -> Result<SortKey> {
        let text = text.trim();
        if let Some(name) = text.strip_prefix('-') {
            return Ok(SortKey::desc(Field::from_name(name)?));
        }
        let (name, dir) = text.split_once(':').unwrap_or((text, "asc"));
        let field = Field::from_name(name)?;
        match dir {
            "asc" => Ok(SortKey::asc(field)),
            "desc" => Ok(SortKey::desc(field)),
            other => Err(StoreError::invalid(format!(
                "sort direction {other:?}: expected asc or desc"
            ))),
        }
    }
}

/// Parses `90s`, `15m`, `1h`, `7d`, `2w` or combinations such as `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let err = || {
        StoreError::invalid(format!(
            "duration {text:?}: expected a number and a unit (s, m, h, d, w), e.g. 15m, 1h, 7d"
        ))
    };
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut any = false;
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(err()),
        };
        let n: u64 = digits.parse().map_err(|_| err())?;
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(err)?;
        digits.clear();
        any = true;
    }
    if !digits.is_empty() || !any {
        return Err(err());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(text: &str) -> FilterOp {
        FieldFilter::parse(text).unwrap().op
    }

    #[test]
    fn filters_parse() {
        let f = FieldFilter::parse("source_namespace=storefront").unwrap();
        assert_eq!(f.field, Field::SourceNamespace);
        assert_eq!(f.op, FilterOp::Eq("storefront".into()));
        assert_eq!(op("source_namespace!=a"), FilterOp::Ne("a".into()));
        assert_eq!(
            op("dest_name_aggr^=front"),
            FilterOp::Prefix("front".into())
        );
        assert_eq!(
            op("dest_name_aggr!^=front"),
            FilterOp::NotPrefix("front".into())
        );
        assert_eq!(op("dest_port>1024"), FilterOp::Gt("1024".into()));
        assert_eq!(op("dest_port>=1024"), FilterOp::Ge("1024".into()));
        assert_eq!(op("dest_port<1024"), FilterOp::Lt("1024".into()));
        assert_eq!(op("dest_port<=1024"), FilterOp::Le("1024".into()));
        assert_eq!(
            op("action=in:allow,deny"),
            FilterOp::In(vec!["allow".into(), "deny".into()])
        );
        assert_eq!(
            op("action!=in:allow"),
            FilterOp::NotIn(vec!["allow".into()])
        );
        assert_eq!(op("dest_labels=app=web"), FilterOp::Eq("app=web".into()));
    }

    #[test]
    fn bad_filters_explain() {
        let e = FieldFilter::parse("nope=1").unwrap_err().to_string();
        assert!(e.contains("source_namespace"), "{e}");
        assert!(FieldFilter::parse("source_namespace").is_err());
        assert!(FieldFilter::parse("source_namespace!x").is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86400)
        );
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(
            parse_duration("2w").unwrap(),
            Duration::from_secs(14 * 86400)
        );
        for bad in ["", "1", "h", "1x", "-1h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sort_keys_parse() {
        assert_eq!(
            SortKey::parse("-end_time").unwrap(),
            SortKey::desc(Field::EndTime)
        );
        assert_eq!(
            SortKey::parse("end_time:desc").unwrap(),
            SortKey::desc(Field::EndTime)
        );
        assert_eq!(
            SortKey::parse("bytes_in").unwrap(),
            SortKey::asc(Field::BytesIn)
        );
        assert!(SortKey::parse("bytes_in:up").is_err());
    }
}
