//! The stored columns: Calico's flow log field names, one flat Arrow schema, and [`Field`],
//! the typed name of every column that queries may filter, sort or group on.

use crate::error::{Result, StoreError};
use datafusion::arrow::datatypes::{DataType, Field as ArrowField, Schema, SchemaRef};
use std::sync::{Arc, LazyLock};

/// How a column's values are typed, which decides what a filter value must look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    /// Text that is always present.
    Text,
    /// Text that may be absent (`-` in Calico's output).
    OptionalText,
    /// A signed integer that is always present (times, record ids).
    Int,
    /// A signed integer that may be absent (ports, process id).
    OptionalInt,
    /// An unsigned counter (bytes, packets, flows).
    Counter,
    /// A list of strings (labels as `key=value`, policy hits).
    List,
}

macro_rules! fields {
    ($($variant:ident => $name:literal, $kind:ident;)*) => {
        /// Every stored column, named as in Calico flow logs.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Field {
            $($variant,)*
        }

        impl Field {
            /// All fields, in storage order.
            pub const ALL: &'static [Field] = &[$(Field::$variant,)*];

            /// The column name (Calico's flow log field name).
            pub fn name(self) -> &'static str {
                match self {
                    $(Field::$variant => $name,)*
                }
            }

            pub fn kind(self) -> ColumnKind {
                match self {
                    $(Field::$variant => ColumnKind::$kind,)*
                }
            }
        }
    };
}

fields! {
    StartTime => "start_time", Int;
    EndTime => "end_time", Int;
    SourceIp => "source_ip", OptionalText;
    SourceName => "source_name", OptionalText;
    SourceNameAggr => "source_name_aggr", Text;
    SourceNamespace => "source_namespace", OptionalText;
    SourcePort => "source_port", OptionalInt;
    SourceType => "source_type", OptionalText;
    SourceLabels => "source_labels", List;
    DestIp => "dest_ip", OptionalText;
    DestName => "dest_name", OptionalText;
    DestNameAggr => "dest_name_aggr", Text;
    DestNamespace => "dest_namespace", OptionalText;
    DestPort => "dest_port", OptionalInt;
    DestType => "dest_type", OptionalText;
    DestLabels => "dest_labels", List;
    DestServiceNamespace => "dest_service_namespace", OptionalText;
    DestServiceName => "dest_service_name", OptionalText;
    DestServicePort => "dest_service_port", OptionalText;
    DestServicePortNum => "dest_service_port_num", OptionalInt;
    Proto => "proto", Text;
    Action => "action", Text;
    Reporter => "reporter", Text;
    PoliciesEnforced => "policies_enforced", List;
    PoliciesPending => "policies_pending", List;
    BytesIn => "bytes_in", Counter;
    BytesOut => "bytes_out", Counter;
    PacketsIn => "packets_in", Counter;
    PacketsOut => "packets_out", Counter;
    NumFlows => "num_flows", Counter;
    NumFlowsStarted => "num_flows_started", Counter;
    NumFlowsCompleted => "num_flows_completed", Counter;
    ProcessName => "process_name", OptionalText;
    ProcessId => "process_id", OptionalInt;
    Host => "host", OptionalText;
    RecordId => "record_id", Int;
}

impl Field {
    /// The field with this column name.
    pub fn from_name(name: &str) -> Result<Field> {
        Field::ALL
            .iter()
            .copied()
            .find(|f| f.name() == name)
            .ok_or_else(|| StoreError::UnknownField {
                name: name.to_string(),
                valid: Field::names(),
            })
    }

    /// All column names, for error messages and completion.
    pub fn names() -> Vec<&'static str> {
        Field::ALL.iter().map(|f| f.name()).collect()
    }

    /// The Arrow type this column is stored as.
    pub fn data_type(self) -> DataType {
        match self {
            Field::RecordId => DataType::UInt64,
            _ => match self.kind() {
                ColumnKind::Text | ColumnKind::OptionalText => DataType::Utf8,
                ColumnKind::Int => DataType::Int64,
                ColumnKind::OptionalInt if self == Field::ProcessId => DataType::Int64,
                ColumnKind::OptionalInt => DataType::Int32,
                ColumnKind::Counter => DataType::UInt64,
                ColumnKind::List => list_of_strings(),
            },
        }
    }

    pub fn is_nullable(self) -> bool {
        matches!(
            self.kind(),
            ColumnKind::OptionalText | ColumnKind::OptionalInt
        )
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Field {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl std::str::FromStr for Field {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Field> {
        Field::from_name(s)
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

/// Each field as [`Field`] describes it, except that `policies_pending` is null where a row's
/// pending trace is its enforced one (see `PendingBuilder` in `encode.rs`).
static RECORD_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(
        Field::ALL
            .iter()
            .map(|&f| {
                let nullable = f.is_nullable() || f == Field::PoliciesPending;
                ArrowField::new(f.name(), f.data_type(), nullable)
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

/// The columns of one flow log, in [`Field`] order: what [`encode_flows`](crate::encode_flows)
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
    static VIEWS: LazyLock<SchemaRef> = LazyLock::new(|| {
        let fields: Vec<ArrowField> = SCHEMA
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Utf8 => ArrowField::new(f.name(), DataType::Utf8View, f.is_nullable()),
                _ => f.as_ref().clone(),
            })
            .collect();
        Arc::new(Schema::new(fields))
    });
    VIEWS.clone()
}

/// Column index of a field in [`flow_schema`].
pub(crate) fn index(field: Field) -> usize {
    field as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_indexed_in_order() {
        let schema = flow_schema();
        for (i, f) in Field::ALL.iter().enumerate() {
            assert_eq!(index(*f), i);
            assert_eq!(schema.field(i).name(), f.name());
            assert_eq!(Field::from_name(f.name()).unwrap(), *f);
        }
    }

    #[test]
    fn unknown_field_lists_valid_names() {
        let err = Field::from_name("src_ns").unwrap_err().to_string();
        assert!(
            err.contains("src_ns") && err.contains("source_namespace"),
            "{err}"
        );
    }
}
