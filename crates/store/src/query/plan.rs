//! Typed queries → query-engine expressions (never SQL text, so values cannot inject
//! anything): filters, sort order, and the keyset condition behind page tokens.

use crate::error::{Result, StoreError};
use crate::parse::ABSENT;
use crate::query::udf::{ListAny, PolicyHitMatches, SelectorMatches};
use crate::types::{FieldFilter, FilterOp, FlowSearch, SortKey, TimeRange};
use datafusion::common::{Column, ScalarValue};
use datafusion::dataframe::DataFrame;
use datafusion::functions::core::expr_fn::coalesce;
use datafusion::logical_expr::expr::Like;
use datafusion::logical_expr::{Expr, SortExpr, lit, not};
use flowlens_model::{FieldKind, FlowField};
use serde::{Deserialize, Serialize};

pub(crate) fn column(field: FlowField) -> Expr {
    Expr::Column(Column::from_name(field.column()))
}

/// A column's values as the flow logs had them. Stored pending traces are null where they
/// are the enforced ones (see `PendingBuilder` in `records/encode.rs`), and read as those here; only
/// expressions that use the values pay for that.
pub(crate) fn logical(field: FlowField) -> Expr {
    match field {
        FlowField::PoliciesPending => {
            coalesce(vec![column(field), column(FlowField::PoliciesEnforced)])
        }
        _ => column(field),
    }
}

/// `from <= end_time < to`, or nothing for an unbounded range.
pub(crate) fn time_filter(range: &TimeRange) -> Option<Expr> {
    let t = || column(FlowField::EndTime);
    match (range.from == i64::MIN, range.to == i64::MAX) {
        (true, true) => None,
        (false, true) => Some(t().gt_eq(lit(range.from))),
        (true, false) => Some(t().lt(lit(range.to))),
        (false, false) => Some(t().gt_eq(lit(range.from)).and(t().lt(lit(range.to)))),
    }
}

/// Filters one query may hold. The query engine's filter push-down rebuilds the conjunction
/// of all filters as a left-deep chain of `AND`s and walks it recursively, a dozen stack
/// frames per filter: about 800 filters overflow a 2 MiB worker stack and abort the process.
pub const MAX_FILTERS: usize = 128;

/// Everything in the query that narrows rows besides time (field filters, selectors,
/// policy); the time range is applied where the table is assembled.
pub(crate) fn row_filter(query: &FlowSearch) -> Result<Option<Expr>> {
    if query.time.from >= query.time.to {
        return Err(StoreError::invalid(format!(
            "empty time range: from {} is not before to {}",
            query.time.from, query.time.to
        )));
    }
    if query.filters.len() > MAX_FILTERS {
        return Err(StoreError::invalid(format!(
            "{} filters: a query takes at most {MAX_FILTERS}",
            query.filters.len()
        )));
    }
    let mut parts: Vec<Expr> = Vec::new();
    for filter in &query.filters {
        parts.push(field_filter(filter)?);
    }
    for (field, selector) in [
        (FlowField::SourceLabels, &query.source_selector),
        (FlowField::DestLabels, &query.dest_selector),
    ] {
        if let Some(selector) = selector
            && !selector.is_all()
        {
            parts.push(SelectorMatches::with(selector.clone()).call(vec![column(field)]));
        }
    }
    if let Some(policy) = &query.policy {
        parts.push(
            PolicyHitMatches::udf(policy.clone()).call(vec![column(FlowField::PoliciesEnforced)]),
        );
    }
    // A policy-hit filter already keeps one record per connection and hit: an egress hit is
    // only in the source's trace, an ingress hit only in the destination's. Keeping only
    // destination records would lose every connection an egress rule let through.
    if query.connections_once && query.policy.is_none() {
        let outside = column(FlowField::DestType)
            .is_null()
            .or(column(FlowField::DestType).in_list(vec![lit("net"), lit("ns")], false));
        parts.push(
            column(FlowField::Reporter)
                .eq(lit("dst"))
                .or(column(FlowField::Action).eq(lit("deny")))
                .or(outside),
        );
    }
    Ok(parts.into_iter().reduce(Expr::and))
}

/// `df` narrowed by [`row_filter`].
pub(crate) fn filtered(df: DataFrame, query: &FlowSearch) -> Result<DataFrame> {
    Ok(match row_filter(query)? {
        Some(predicate) => df.filter(predicate)?,
        None => df,
    })
}

/// The typed literal for `text` in `field`, or `None` for Calico's `-` on optional columns.
fn literal(field: FlowField, text: &str) -> Result<Option<Expr>> {
    if text == ABSENT && field.is_optional() {
        return Ok(None);
    }
    let number_err =
        |kind: &str| StoreError::invalid(format!("{field} takes {kind}, not {text:?}"));
    let expr = match (field, field.kind()) {
        (FlowField::RecordId, _) | (_, FieldKind::Counter) => lit(text
            .parse::<u64>()
            .map_err(|_| number_err("a non-negative integer"))?),
        (FlowField::ProcessId, _) | (_, FieldKind::Int) => {
            lit(text.parse::<i64>().map_err(|_| number_err("an integer"))?)
        }
        (_, FieldKind::OptionalInt) => {
            lit(text.parse::<i32>().map_err(|_| number_err("an integer"))?)
        }
        _ => lit(text.to_string()),
    };
    Ok(Some(expr))
}

/// `LIKE 'prefix%'` with the pattern characters escaped; the engine prunes row groups with it.
fn starts_with(expr: Expr, prefix: &str) -> Expr {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    Expr::Like(Like::new(
        false,
        Box::new(expr),
        Box::new(lit(pattern)),
        Some('\\'),
        false,
    ))
}

fn field_filter(filter: &FieldFilter) -> Result<Expr> {
    let field = filter.field;
    let taken = FilterOp::operators_for(field.kind());
    if !taken.contains(&filter.op.symbol()) {
        let what = match field.kind() {
            FieldKind::List => "is a list (the operators test its entries)",
            FieldKind::Text | FieldKind::OptionalText => "is text",
            _ => "is a number",
        };
        return Err(StoreError::invalid(format!(
            "{field} {what}: it takes {}, not {}",
            taken.join(" "),
            filter.op.symbol()
        )));
    }
    if field.kind() == FieldKind::List {
        return list_filter(field, &filter.op);
    }
    let c = || column(field);
    let nullable = field.is_optional();
    // Negations count absent values as "not equal", as a reader of `-` expects.
    let or_null = |e: Expr| if nullable { e.or(c().is_null()) } else { e };
    let compare = |value: &str, build: fn(Expr, Expr) -> Expr| -> Result<Expr> {
        match literal(field, value)? {
            Some(v) => Ok(build(c(), v)),
            None => Err(StoreError::invalid(format!(
                "cannot compare {field} with -"
            ))),
        }
    };
    Ok(match &filter.op {
        FilterOp::Eq(v) => match literal(field, v)? {
            Some(v) => c().eq(v),
            None => c().is_null(),
        },
        FilterOp::Ne(v) => match literal(field, v)? {
            Some(v) => or_null(c().not_eq(v)),
            None => c().is_not_null(),
        },
        FilterOp::Prefix(p) => starts_with(c(), p),
        FilterOp::NotPrefix(p) => or_null(not(starts_with(c(), p))),
        FilterOp::Gt(v) => compare(v, Expr::gt)?,
        FilterOp::Ge(v) => compare(v, Expr::gt_eq)?,
        FilterOp::Lt(v) => compare(v, Expr::lt)?,
        FilterOp::Le(v) => compare(v, Expr::lt_eq)?,
        FilterOp::In(values) | FilterOp::NotIn(values) => {
            if values.is_empty() {
                return Err(StoreError::invalid(format!(
                    "{field}: in: needs at least one value"
                )));
            }
            let mut wants_null = false;
            let mut list = Vec::new();
            for v in values {
                match literal(field, v)? {
                    Some(v) => list.push(v),
                    None => wants_null = true,
                }
            }
            let negated = matches!(filter.op, FilterOp::NotIn(_));
            let listed = if list.is_empty() {
                lit(false)
            } else {
                c().in_list(list, false)
            };
            let listed = if wants_null {
                listed.or(c().is_null())
            } else {
                listed
            };
            if negated {
                // NOT IN: rows not listed; absent values count as not listed unless `-` is.
                let not_listed = not(listed);
                if nullable && !wants_null {
                    not_listed.or(c().is_null())
                } else {
                    not_listed
                }
            } else {
                listed
            }
        }
    })
}

fn list_filter(field: FlowField, op: &FilterOp) -> Result<Expr> {
    let any =
        |values: Vec<String>, prefix: bool| ListAny::udf(values, prefix).call(vec![logical(field)]);
    Ok(match op {
        FilterOp::Eq(v) => any(vec![v.clone()], false),
        FilterOp::Ne(v) => not(any(vec![v.clone()], false)),
        FilterOp::In(vs) => any(vs.clone(), false),
        FilterOp::NotIn(vs) => not(any(vs.clone(), false)),
        FilterOp::Prefix(p) => any(vec![p.clone()], true),
        FilterOp::NotPrefix(p) => not(any(vec![p.clone()], true)),
        FilterOp::Gt(_) | FilterOp::Ge(_) | FilterOp::Lt(_) | FilterOp::Le(_) => {
            return Err(StoreError::invalid(format!(
                "{field} is a list: it cannot be compared"
            )));
        }
    })
}

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
            return Err(StoreError::invalid(format!(
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

pub(crate) fn sort_exprs(keys: &[SortKey]) -> Vec<SortExpr> {
    keys.iter()
        .map(|k| column(k.field).sort(!k.descending, false))
        .collect()
}

/// An opaque continuation: the sort it belongs to and the last row's sort values.
#[derive(Debug, Serialize, Deserialize)]
struct PageToken {
    sort: Vec<String>,
    values: Vec<TokenValue>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum TokenValue {
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

pub(crate) fn encode_token(keys: &[SortKey], values: &[ScalarValue]) -> Result<String> {
    let values = values
        .iter()
        .map(|v| match v {
            v if v.is_null() => Ok(TokenValue::Null),
            ScalarValue::Int32(Some(n)) => Ok(TokenValue::Int(i64::from(*n))),
            ScalarValue::Int64(Some(n)) => Ok(TokenValue::Int(*n)),
            ScalarValue::UInt64(Some(n)) => Ok(TokenValue::Uint(*n)),
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)) => Ok(TokenValue::Text(s.clone())),
            other => Err(StoreError::invalid(format!(
                "cannot page on value {other:?}"
            ))),
        })
        .collect::<Result<Vec<_>>>()?;
    let json = serde_json::to_vec(&PageToken {
        sort: sort_signature(keys),
        values,
    })
    .map_err(|e| StoreError::invalid(format!("page token: {e}")))?;
    Ok(json.iter().map(|b| format!("{b:02x}")).collect())
}

/// Rows strictly after the token's row in the order `keys`.
pub(crate) fn after_token(keys: &[SortKey], token: &str) -> Result<Expr> {
    let bad = || StoreError::invalid("page token is not one this store issued");
    if !token.len().is_multiple_of(2) || !token.is_ascii() {
        return Err(bad());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16).map_err(|_| bad()))
        .collect::<Result<Vec<u8>>>()?;
    let token: PageToken = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if token.sort != sort_signature(keys) || token.values.len() != keys.len() {
        return Err(StoreError::invalid(
            "page token belongs to a query with another sort order; start from the first page",
        ));
    }
    let mut after = lit(false);
    for (key, value) in keys.iter().zip(&token.values).rev() {
        let c = || column(key.field);
        let value = match value {
            TokenValue::Null => None,
            TokenValue::Int(n) => literal(key.field, &n.to_string())?,
            TokenValue::Uint(n) => literal(key.field, &n.to_string())?,
            TokenValue::Text(s) => Some(lit(s.clone())),
        };
        after = match value {
            // Nulls sort last: after a null come only later nulls.
            None => c().is_null().and(after),
            Some(v) => {
                let beyond = if key.descending {
                    c().lt(v.clone())
                } else {
                    c().gt(v.clone())
                };
                let beyond = if key.field.is_optional() {
                    beyond.or(c().is_null())
                } else {
                    beyond
                };
                beyond.or(c().eq(v).and(after))
            }
        };
    }
    Ok(after)
}
