//! Flow pages: one page of the flows matching a query in its sort order, the total count,
//! and the token of the next page.

use crate::error::{Result, StoreError};
use crate::query::plan::{after_token, column, effective_sort, encode_token, filtered, sort_exprs};
use crate::records::decode::decode_flows;
use crate::types::{DEFAULT_LIMIT, FlowPage, FlowSearch, MAX_LIMIT, SortKey};
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::compute::{
    SortColumn, SortOptions, concat_batches, filter_record_batch, lexsort_to_indices,
    take_record_batch,
};
use datafusion::arrow::datatypes::UInt64Type;
use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::{Expr, lit};
use flowlens_model::FlowField;
use futures::StreamExt;

/// One page of flows, its total and the next page's token.
pub(crate) async fn flow_page(df: DataFrame, query: &FlowSearch) -> Result<FlowPage> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(StoreError::invalid(format!(
            "limit must be 1..={MAX_LIMIT}, not {limit}"
        )));
    }
    let keys = effective_sort(query)?;
    // The filter can be the costly part (a selector over every row's labels), so it runs
    // once, over the sort keys only (the last one is the record id): one pass counts the
    // matching rows and keeps the first rows of the page in sort order; then only the page's
    // rows are read whole, by record id.
    let mut columns: Vec<Expr> = keys.iter().map(|k| column(k.field)).collect();
    columns.push(
        match &query.page_token {
            Some(token) => after_token(&keys, token)?,
            None => lit(true),
        }
        .alias(PAST_TOKEN),
    );
    let skip = if query.page_token.is_some() {
        0
    } else {
        query.offset
    };
    let (total, ids) = first_rows(
        filtered(df.clone(), query)?.select(columns)?,
        &keys,
        skip.saturating_add(limit + 1),
    )
    .await?;
    let ids: Vec<Expr> = ids.into_iter().skip(skip).map(lit).collect();
    let batches = if ids.is_empty() {
        Vec::new()
    } else {
        df.filter(column(FlowField::RecordId).in_list(ids, false))?
            .sort(sort_exprs(&keys))?
            .collect()
            .await?
    };

    let mut flows = Vec::new();
    let mut record_ids = Vec::new();
    let mut last: Option<(usize, usize)> = None;
    'batches: for (b, batch) in batches.iter().enumerate() {
        for (row, (id, flow)) in decode_flows(batch)?.into_iter().enumerate() {
            if flows.len() == limit {
                break 'batches;
            }
            flows.push(flow);
            record_ids.push(id);
            last = Some((b, row));
        }
    }
    let has_more = batches.iter().map(RecordBatch::num_rows).sum::<usize>() > limit;
    let next_page_token = match (has_more, last) {
        (true, Some((b, row))) => {
            let batch = &batches[b];
            let values = keys
                .iter()
                .map(|k| {
                    let array = batch.column_by_name(k.field.column()).ok_or_else(|| {
                        StoreError::InvalidRecord(format!("column {} is missing", k.field))
                    })?;
                    Ok(ScalarValue::try_from_array(array, row)?)
                })
                .collect::<Result<Vec<_>>>()?;
            Some(encode_token(&keys, &values)?)
        }
        _ => None,
    };
    Ok(FlowPage {
        flows,
        record_ids,
        total,
        next_page_token,
    })
}

/// The column telling the rows after the page token (all rows without one).
const PAST_TOKEN: &str = "past_token";

/// Counts the rows of `df` (the sort keys of the matching rows, then [`PAST_TOKEN`]) and
/// returns the record ids of the first `k` rows past the token in `keys` order. Keeps at most
/// a few times `k` rows in memory, however many match.
async fn first_rows(df: DataFrame, keys: &[SortKey], k: usize) -> Result<(u64, Vec<u64>)> {
    let options = |key: &SortKey| SortOptions {
        descending: key.descending,
        nulls_first: false,
    };
    // The first `k` rows of `batch`, in order.
    let head = |batch: &RecordBatch| -> Result<RecordBatch> {
        let columns: Vec<SortColumn> = keys
            .iter()
            .enumerate()
            .map(|(i, key)| SortColumn {
                values: batch.column(i).clone(),
                options: Some(options(key)),
            })
            .collect();
        let order = lexsort_to_indices(&columns, Some(k))?;
        Ok(take_record_batch(batch, &order)?)
    };
    let mut stream = df.execute_stream().await?;
    let mut total = 0u64;
    let mut kept: Vec<RecordBatch> = Vec::new();
    let mut kept_rows = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        total += batch.num_rows() as u64;
        let past = batch
            .column(keys.len())
            .as_boolean_opt()
            .ok_or_else(|| StoreError::InvalidRecord(format!("{PAST_TOKEN} is not boolean")))?;
        let batch = filter_record_batch(&batch, past)?;
        kept_rows += batch.num_rows();
        kept.push(batch);
        if kept_rows > k.saturating_mul(4).max(64 * 1024) {
            let all = concat_batches(&kept[0].schema(), &kept)?;
            kept = vec![head(&all)?];
            kept_rows = kept[0].num_rows();
        }
    }
    let Some(first) = kept.first() else {
        return Ok((total, Vec::new()));
    };
    let first = head(&concat_batches(&first.schema(), &kept)?)?;
    let ids = first
        .column(keys.len() - 1)
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(|| StoreError::InvalidRecord("record_id is not UInt64".into()))?;
    Ok((total, ids.values().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::{PAST_TOKEN, first_rows};
    use crate::types::SortKey;
    use datafusion::arrow::array::{BooleanArray, Int64Array, RecordBatch, UInt64Array};
    use datafusion::arrow::datatypes::{DataType, Field as ArrowField, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;
    use flowlens_model::FlowField;
    use std::sync::Arc;

    /// The streaming selection of a page's rows against a plain sort, over more rows than
    /// it keeps between reductions, with ties on the first key and rows before the token.
    #[tokio::test]
    async fn first_rows_are_the_head_of_a_full_sort() {
        let n = 200_000u64;
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let rows: Vec<(i64, u64, bool)> = (0..n)
            .map(|id| ((next() % 5_000) as i64, id, next() % 3 != 0))
            .collect();
        let schema = Arc::new(Schema::new(vec![
            ArrowField::new(FlowField::EndTime.name(), DataType::Int64, false),
            ArrowField::new(FlowField::RecordId.name(), DataType::UInt64, false),
            ArrowField::new(PAST_TOKEN, DataType::Boolean, false),
        ]));
        let batches: Vec<RecordBatch> = rows
            .chunks(7_000)
            .map(|chunk| {
                RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(Int64Array::from_iter_values(chunk.iter().map(|r| r.0))),
                        Arc::new(UInt64Array::from_iter_values(chunk.iter().map(|r| r.1))),
                        Arc::new(BooleanArray::from_iter(chunk.iter().map(|r| Some(r.2)))),
                    ],
                )
                .unwrap()
            })
            .collect();
        let (a, b) = batches.split_at(batches.len() / 2);
        let keys = [
            SortKey::desc(FlowField::EndTime),
            SortKey::desc(FlowField::RecordId),
        ];
        let mut expected: Vec<(i64, u64, bool)> = rows.iter().copied().filter(|r| r.2).collect();
        expected.sort_by_key(|r| std::cmp::Reverse((r.0, r.1)));
        for k in [1, 101, 20_000, 150_000] {
            let table = MemTable::try_new(schema.clone(), vec![a.to_vec(), b.to_vec()]).unwrap();
            let df = SessionContext::new().read_table(Arc::new(table)).unwrap();
            let (total, ids) = first_rows(df, &keys, k).await.unwrap();
            assert_eq!(total, n);
            let want: Vec<u64> = expected.iter().take(k).map(|r| r.1).collect();
            assert_eq!(ids, want, "k = {k}");
        }
    }
}
