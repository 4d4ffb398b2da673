//! Sort order and page tokens, as the embedded store has them (`query/plan.rs`): every sort
//! ends with `record_id`, absent values sort last, and a token holds the sort and the last
//! row's sort values. Tokens are spelt exactly as the embedded store spells them.

use crate::filters::{column, literal};
use crate::sql::quote;
use flowlens_model::{FieldKind, FlowField};
use flowlens_store::{FlowSearch, Result, SortKey};
use serde::{Deserialize, Serialize};

/// The sort, with `record_id` appended so the order is total (stable pages).
pub(crate) fn effective_sort(query: &FlowSearch) -> Result<Vec<SortKey>> {
    // A field sorted on again changes no order: only its first key counts.
    let mut keys: Vec<SortKey> = Vec::new();
    for key in &query.sort {
        if !keys.iter().any(|k| k.field == key.field) {
            keys.push(*key);
        }
    }
    if keys.is_empty() {
        keys.push(SortKey::desc(FlowField::EndTime));
    }
    for key in &keys {
        if key.field.kind() == FieldKind::List {
            return Err(crate::sql::invalid(format!(
                "cannot sort by list field {}",
                key.field
            )));
        }
    }
    let last_desc = keys.last().is_some_and(|k| k.descending);
    if let Some(pos) = keys.iter().position(|k| k.field == FlowField::RecordId) {
        keys.truncate(pos + 1);
    } else {
        keys.push(SortKey {
            field: FlowField::RecordId,
            descending: last_desc,
        });
    }
    Ok(keys)
}

/// `ORDER BY` terms: absent values last either way.
pub(crate) fn order_by(keys: &[SortKey]) -> String {
    keys.iter()
        .map(|k| {
            format!(
                "{} {} NULLS LAST",
                column(k.field),
                if k.descending { "DESC" } else { "ASC" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// An opaque continuation: the sort it belongs to and the last row's sort values.
#[derive(Debug, Serialize, Deserialize)]
struct PageToken {
    sort: Vec<String>,
    values: Vec<TokenValue>,
}

/// A sort value of the last row of a page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TokenValue {
    Null,
    Int(i64),
    Uint(u64),
    Text(String),
}

fn sort_signature(keys: &[SortKey]) -> Vec<String> {
    keys.iter()
        .map(|k| format!("{}:{}", k.field, if k.descending { "desc" } else { "asc" }))
        .collect()
}

pub(crate) fn encode_token(keys: &[SortKey], values: Vec<TokenValue>) -> Result<String> {
    let json = serde_json::to_vec(&PageToken {
        sort: sort_signature(keys),
        values,
    })
    .map_err(|e| crate::sql::invalid(format!("page token: {e}")))?;
    Ok(json.iter().map(|b| format!("{b:02x}")).collect())
}

/// The condition "strictly after the token's row in the order `keys`".
pub(crate) fn after_token(keys: &[SortKey], token: &str) -> Result<String> {
    let bad = || crate::sql::invalid("page token is not one this store issued");
    if !token.len().is_multiple_of(2) || !token.is_ascii() {
        return Err(bad());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16).map_err(|_| bad()))
        .collect::<Result<Vec<u8>>>()?;
    let token: PageToken = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if token.sort != sort_signature(keys) || token.values.len() != keys.len() {
        return Err(crate::sql::invalid(
            "page token belongs to a query with another sort order; start from the first page",
        ));
    }
    let mut after = "0".to_string();
    for (key, value) in keys.iter().zip(&token.values).rev() {
        let c = column(key.field);
        let value = match value {
            TokenValue::Null => None,
            TokenValue::Int(n) => literal(key.field, &n.to_string())?,
            TokenValue::Uint(n) => literal(key.field, &n.to_string())?,
            TokenValue::Text(s) => Some(quote(s)),
        };
        after = match value {
            // Nulls sort last: after a null come only later nulls.
            None => format!("({c} IS NULL AND {after})"),
            Some(v) => {
                let beyond = format!("{c} {} {v}", if key.descending { "<" } else { ">" });
                let beyond = if key.field.is_optional() {
                    format!("({beyond} OR {c} IS NULL)")
                } else {
                    beyond
                };
                format!("({beyond} OR ({c} = {v} AND {after}))")
            }
        };
    }
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_end_with_the_record_id() {
        let mut q = FlowSearch::default();
        assert_eq!(
            effective_sort(&q).unwrap(),
            [
                SortKey::desc(FlowField::EndTime),
                SortKey::desc(FlowField::RecordId)
            ]
        );
        q.sort = vec![
            SortKey::asc(FlowField::RecordId),
            SortKey::asc(FlowField::BytesIn),
        ];
        assert_eq!(
            effective_sort(&q).unwrap(),
            [SortKey::asc(FlowField::RecordId)]
        );
        q.sort = vec![
            SortKey::desc(FlowField::BytesIn),
            SortKey::asc(FlowField::BytesIn),
        ];
        assert_eq!(
            effective_sort(&q).unwrap(),
            [
                SortKey::desc(FlowField::BytesIn),
                SortKey::desc(FlowField::RecordId)
            ]
        );
        q.sort = vec![SortKey::asc(FlowField::SourceLabels)];
        assert!(effective_sort(&q).is_err());
    }

    #[test]
    fn tokens_round_trip_and_refuse_other_sorts() {
        let keys = [
            SortKey::asc(FlowField::SourceNamespace),
            SortKey::asc(FlowField::RecordId),
        ];
        let token = encode_token(
            &keys,
            vec![TokenValue::Text("a'b".into()), TokenValue::Uint(7)],
        )
        .unwrap();
        assert_eq!(
            after_token(&keys, &token).unwrap(),
            "((source_namespace > 'a\\'b' OR source_namespace IS NULL) OR \
             (source_namespace = 'a\\'b' AND (record_id > 7 OR (record_id = 7 AND 0))))"
        );
        let other = [SortKey::desc(FlowField::RecordId)];
        assert!(after_token(&other, &token).is_err());
        assert!(after_token(&keys, "zz").is_err());
        assert!(after_token(&keys, "abc").is_err());
    }
}
