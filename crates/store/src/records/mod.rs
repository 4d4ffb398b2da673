//! Flow logs as Arrow record batches: encoding ([`encode`]), decoding ([`decode`]), reading
//! text columns in any string layout ([`texts`]), and numbering records.

pub(crate) mod decode;
pub(crate) mod encode;
pub(crate) mod texts;

use crate::error::Result;
use crate::schema::{flow_schema, index};
use datafusion::arrow::array::{ArrayRef, RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::{Field as ArrowField, Schema};
use flowlens_model::FlowField;
use std::sync::Arc;

/// `parts` (in the stored schema) with consecutive record ids from `first` on.
pub(crate) fn numbered(parts: Vec<RecordBatch>, first: u64) -> Result<Vec<RecordBatch>> {
    let mut next = first;
    parts
        .into_iter()
        .map(|part| {
            let n = part.num_rows() as u64;
            let mut columns = part.columns().to_vec();
            columns[index(FlowField::RecordId)] =
                Arc::new(UInt64Array::from_iter_values(next..next + n));
            next += n;
            Ok(RecordBatch::try_new(flow_schema(), columns)?)
        })
        .collect()
}

/// `batch` with one more column, `name` (non-null).
pub(crate) fn with_column(batch: RecordBatch, name: &str, column: ArrayRef) -> Result<RecordBatch> {
    let mut fields: Vec<ArrowField> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(ArrowField::new(name, column.data_type().clone(), false));
    let mut columns = batch.columns().to_vec();
    columns.push(column);
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}
