//! The stored columns: one flat Arrow schema of the flow-log fields
//! ([`FlowField`](flowlens_model::FlowField), named by their SQL column names), followed by the
//! hit-id columns the store adds.

use crate::error::{Result, StoreError};
use datafusion::arrow::datatypes::{DataType, Field as ArrowField, Schema, SchemaRef};
use flowlens_model::{FieldKind, FlowField};
use std::sync::{Arc, LazyLock};

/// The field named `name` (as people name it: [`FlowField::name`]), or an error listing the
/// valid names.
pub(crate) fn field_named(name: &str) -> Result<FlowField> {
    FlowField::from_name(name).ok_or_else(|| StoreError::UnknownField {
        name: name.to_string(),
        valid: FlowField::ALL.iter().map(|f| f.name()).collect(),
    })
}

/// The Arrow type the field is stored as.
pub(crate) fn data_type(field: FlowField) -> DataType {
    match (field, field.kind()) {
        (FlowField::RecordId, _) => DataType::UInt64,
        (_, FieldKind::Text | FieldKind::OptionalText) => DataType::Utf8,
        (_, FieldKind::Int) => DataType::Int64,
        (FlowField::ProcessId, FieldKind::OptionalInt) => DataType::Int64,
        (_, FieldKind::OptionalInt) => DataType::Int32,
        (_, FieldKind::Counter) => DataType::UInt64,
        (_, FieldKind::List) => list_of_strings(),
    }
}

pub(crate) fn list_of_strings() -> DataType {
    DataType::List(Arc::new(ArrowField::new_list_field(DataType::Utf8, true)))
}

/// Acceleration columns the store adds after the record's own: each hit of
/// `policies_enforced` / `policies_pending` as an id into the store's hit dictionary
/// (`hits.dict`), so policy aggregates read small integers instead of strings. A row's
/// pending hits and their ids are null when its pending trace is its enforced one (nearly
/// every row where no policy is staged), which spares encoding the same trace twice.
pub const ENFORCED_IDS: &str = "policies_enforced_ids";
pub const PENDING_IDS: &str = "policies_pending_ids";

pub(crate) fn list_of_ids() -> DataType {
    DataType::List(Arc::new(ArrowField::new_list_field(DataType::UInt32, true)))
}

/// Each field under its column name, nullable when optional; `policies_pending` too, being
/// null where a row's pending trace is its enforced one (see `PendingBuilder` in
/// `records/encode.rs`).
static RECORD_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(
        FlowField::ALL
            .iter()
            .map(|&f| {
                let nullable = f.is_optional() || f == FlowField::PoliciesPending;
                ArrowField::new(f.column(), data_type(f), nullable)
            })
            .collect::<Vec<_>>(),
    ))
});

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields: Vec<ArrowField> = RECORD_SCHEMA
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(ArrowField::new(ENFORCED_IDS, list_of_ids(), false));
    fields.push(ArrowField::new(PENDING_IDS, list_of_ids(), true));
    Arc::new(Schema::new(fields))
});

/// The columns of one flow log, in [`FlowField`] order: what [`encode_flows`](crate::encode_flows)
/// produces and [`decode_flows`](crate::decode_flows) reads.
pub fn record_schema() -> SchemaRef {
    RECORD_SCHEMA.clone()
}

/// The schema of stored batches and Parquet files: [`record_schema`] plus the hit-id
/// columns ([`ENFORCED_IDS`], [`PENDING_IDS`]).
pub fn flow_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// [`flow_schema`] with its text columns (not the lists' entries) as `Utf8View`: how a scan
/// that only reads values asks Parquet for them without copying each string.
pub(crate) fn flow_schema_with_views() -> SchemaRef {
    static VIEWS: LazyLock<SchemaRef> = LazyLock::new(|| with_views(&SCHEMA));
    VIEWS.clone()
}

/// `schema` with its text columns (not lists' entries) as `Utf8View`.
pub(crate) fn with_views(schema: &Schema) -> SchemaRef {
    let fields: Vec<ArrowField> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 => ArrowField::new(f.name(), DataType::Utf8View, f.is_nullable()),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// Column index of a field in [`flow_schema`].
pub(crate) fn index(field: FlowField) -> usize {
    field as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_indexed_in_order() {
        let schema = flow_schema();
        for (i, f) in FlowField::ALL.iter().enumerate() {
            assert_eq!(index(*f), i);
            assert_eq!(schema.field(i).name(), f.column());
            assert_eq!(field_named(f.name()).unwrap(), *f);
        }
    }

    #[test]
    fn unknown_field_lists_valid_names() {
        let err = field_named("src_ns").unwrap_err().to_string();
        assert!(
            err.contains("src_ns") && err.contains("source_namespace"),
            "{err}"
        );
    }
}
