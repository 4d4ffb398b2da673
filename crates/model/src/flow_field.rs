//! The fields of a flow log, named as Calico's flow logs name them: the one list from which
//! the stored columns, the line decoder's keys, the JSON and CSV encodings, the fields
//! filters and sorts may name, and the UI's field list are derived.

/// What a field's values look like, which decides how a filter reads its value and which
/// comparisons it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldKind {
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

impl FieldKind {
    /// The kind's name in generated code and documents: `text`, `optional_text`, …
    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::OptionalText => "optional_text",
            FieldKind::Int => "int",
            FieldKind::OptionalInt => "optional_int",
            FieldKind::Counter => "counter",
            FieldKind::List => "list",
        }
    }

    /// Whether values may be absent.
    pub fn is_optional(self) -> bool {
        matches!(self, FieldKind::OptionalText | FieldKind::OptionalInt)
    }
}

macro_rules! flow_fields {
    ($($variant:ident => $name:literal $(as $column:literal)?, $kind:ident;)*) => {
        /// Every field of a stored flow log, in storage order.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum FlowField {
            $($variant,)*
        }

        impl FlowField {
            /// All fields, in storage order.
            pub const ALL: &'static [FlowField] = &[$(FlowField::$variant,)*];

            /// The name people use, as Calico's flow logs spell it: in the API's filters and
            /// sorts, the JSON keys, CSV headers and on the command line. The two policy
            /// traces are members of the JSON record's `policies` object
            /// ([`record_key`](Self::record_key)).
            pub const fn name(self) -> &'static str {
                match self {
                    $(FlowField::$variant => $name,)*
                }
            }

            /// The stored column's name, which SQL uses: the name, except for the policy
            /// traces (`policies_enforced`, `policies_pending`).
            pub const fn column(self) -> &'static str {
                match self {
                    $(FlowField::$variant => flow_fields!(@column $name $(, $column)?),)*
                }
            }

            pub const fn kind(self) -> FieldKind {
                match self {
                    $(FlowField::$variant => FieldKind::$kind,)*
                }
            }
        }
    };
    (@column $name:literal) => { $name };
    (@column $name:literal, $column:literal) => { $column };
}

flow_fields! {
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
    PoliciesEnforced => "enforced_policies" as "policies_enforced", List;
    PoliciesPending => "pending_policies" as "policies_pending", List;
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

impl FlowField {
    /// The field named `name` ([`FlowField::name`]).
    pub fn from_name(name: &str) -> Option<FlowField> {
        FlowField::ALL.iter().copied().find(|f| f.name() == name)
    }

    /// Whether the field is part of Calico's flow log: every field but `record_id`, the
    /// number storage gives each record (the API shows it as `id`).
    pub const fn in_flow_log(self) -> bool {
        !matches!(self, FlowField::RecordId)
    }

    /// The fields of Calico's flow log, in order.
    pub fn flow_log_fields() -> impl Iterator<Item = FlowField> {
        FlowField::ALL.iter().copied().filter(|f| f.in_flow_log())
    }

    /// The key of Calico's flow-log JSON record that holds the field: its name, but
    /// `policies` for both traces.
    pub const fn record_key(self) -> &'static str {
        match self {
            FlowField::PoliciesEnforced | FlowField::PoliciesPending => "policies",
            other => other.name(),
        }
    }

    /// For a field held inside the [`record_key`](Self::record_key) object, its member
    /// there: its name (`enforced_policies`).
    pub const fn record_member(self) -> Option<&'static str> {
        match self {
            FlowField::PoliciesEnforced | FlowField::PoliciesPending => Some(self.name()),
            _ => None,
        }
    }

    /// Where the field sits in a flow log's JSON record: its name, or `policies.` and its
    /// name for the traces (as Kibana shows them).
    pub fn record_path(self) -> String {
        match self.record_member() {
            Some(member) => format!("{}.{member}", self.record_key()),
            None => self.name().to_string(),
        }
    }

    pub fn is_optional(self) -> bool {
        self.kind().is_optional()
    }
}

impl std::fmt::Display for FlowField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for FlowField {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_columns_are_unique_and_the_keys_follow_the_names() {
        let mut names: Vec<_> = FlowField::ALL.iter().map(|f| f.name()).collect();
        let mut columns: Vec<_> = FlowField::ALL.iter().map(|f| f.column()).collect();
        names.sort_unstable();
        names.dedup();
        columns.sort_unstable();
        columns.dedup();
        assert_eq!(names.len(), FlowField::ALL.len());
        assert_eq!(columns.len(), FlowField::ALL.len());
        for &f in FlowField::ALL {
            assert_eq!(FlowField::from_name(f.name()), Some(f));
            assert!(!f.name().contains('.'), "{f}");
            match f.record_member() {
                Some(member) => {
                    assert_eq!(member, f.name());
                    assert_eq!(f.record_key(), "policies");
                    assert_eq!(f.record_path(), format!("policies.{f}"));
                }
                None => {
                    assert_eq!(f.record_key(), f.name());
                    assert_eq!(f.record_path(), f.name());
                    // Only the traces' columns are spelt apart from their names.
                    assert_eq!(f.column(), f.name());
                }
            }
        }
        assert_eq!(FlowField::from_name("policies_enforced"), None);
        assert_eq!(
            FlowField::flow_log_fields().count(),
            FlowField::ALL.len() - 1
        );
    }
}
