//! Flow logs as ClickHouse rows: the encoded batches a [`Store`](flowlens_store::Store) is
//! given (Arrow, in [`record_schema`](flowlens_store::record_schema)) → rows to insert, and
//! stored rows → flow logs. The columns are the embedded store's, in [`FlowField`] order,
//! under the same names; RowBinary carries them in that order.

use crate::paging::TokenValue;
use datafusion::arrow::array::{
    Array, AsArray, GenericListArray, Int32Array, Int64Array, RecordBatch, StringArray, UInt64Array,
};
use datafusion::arrow::datatypes::{Int32Type, Int64Type, UInt64Type};
use flowlens_model::{
    Action, EndpointType, FlowEnd, FlowField, FlowLog, FlowService, Labels, PolicyHit, Protocol,
    Reporter,
};
use flowlens_store::{Result, StoreError};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// One flow log to insert, borrowing its texts from the batch.
#[derive(clickhouse::Row, Serialize, Debug)]
pub(crate) struct FlowRow<'a> {
    pub start_time: i64,
    pub end_time: i64,
    pub source_ip: Option<&'a str>,
    pub source_name: Option<&'a str>,
    pub source_name_aggr: &'a str,
    pub source_namespace: Option<&'a str>,
    pub source_port: Option<i32>,
    pub source_type: Option<&'a str>,
    pub source_labels: Vec<&'a str>,
    pub dest_ip: Option<&'a str>,
    pub dest_name: Option<&'a str>,
    pub dest_name_aggr: &'a str,
    pub dest_namespace: Option<&'a str>,
    pub dest_port: Option<i32>,
    pub dest_type: Option<&'a str>,
    pub dest_labels: Vec<&'a str>,
    pub dest_service_namespace: Option<&'a str>,
    pub dest_service_name: Option<&'a str>,
    pub dest_service_port: Option<&'a str>,
    pub dest_service_port_num: Option<i32>,
    pub proto: &'a str,
    pub action: &'a str,
    pub reporter: &'a str,
    pub policies_enforced: Vec<&'a str>,
    pub policies_pending: Vec<&'a str>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    pub num_flows: u64,
    pub num_flows_started: u64,
    pub num_flows_completed: u64,
    pub process_name: Option<&'a str>,
    pub process_id: Option<i64>,
    pub host: Option<&'a str>,
    pub record_id: u64,
}

/// One stored flow log as read back.
#[derive(clickhouse::Row, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct StoredFlow {
    pub start_time: i64,
    pub end_time: i64,
    pub source_ip: Option<String>,
    pub source_name: Option<String>,
    pub source_name_aggr: String,
    pub source_namespace: Option<String>,
    pub source_port: Option<i32>,
    pub source_type: Option<String>,
    pub source_labels: Vec<String>,
    pub dest_ip: Option<String>,
    pub dest_name: Option<String>,
    pub dest_name_aggr: String,
    pub dest_namespace: Option<String>,
    pub dest_port: Option<i32>,
    pub dest_type: Option<String>,
    pub dest_labels: Vec<String>,
    pub dest_service_namespace: Option<String>,
    pub dest_service_name: Option<String>,
    pub dest_service_port: Option<String>,
    pub dest_service_port_num: Option<i32>,
    pub proto: String,
    pub action: String,
    pub reporter: String,
    pub policies_enforced: Vec<String>,
    pub policies_pending: Vec<String>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    pub num_flows: u64,
    pub num_flows_started: u64,
    pub num_flows_completed: u64,
    pub process_name: Option<String>,
    pub process_id: Option<i64>,
    pub host: Option<String>,
    pub record_id: u64,
}

/// The stored columns, in order: what `SELECT` lists for [`StoredFlow`].
pub(crate) fn column_list() -> String {
    FlowField::ALL
        .iter()
        .map(|f| f.column())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A batch's columns, typed as [`record_schema`](flowlens_store::record_schema) has them.
pub(crate) struct BatchColumns<'a> {
    batch: &'a RecordBatch,
}

fn wrong(field: FlowField, what: &str) -> StoreError {
    StoreError::InvalidRecord(format!("column {field} is not {what}"))
}

impl<'a> BatchColumns<'a> {
    pub fn new(batch: &'a RecordBatch) -> Result<BatchColumns<'a>> {
        if batch.num_columns() != FlowField::ALL.len() {
            return Err(StoreError::InvalidRecord(format!(
                "a batch of {} columns, not the {} of a flow log",
                batch.num_columns(),
                FlowField::ALL.len()
            )));
        }
        for (i, f) in FlowField::ALL.iter().enumerate() {
            if batch.schema().field(i).name() != f.column() {
                return Err(StoreError::InvalidRecord(format!(
                    "column {i} of the batch is {}, not {}",
                    batch.schema().field(i).name(),
                    f.column()
                )));
            }
        }
        Ok(BatchColumns { batch })
    }

    pub fn rows(&self) -> usize {
        self.batch.num_rows()
    }

    pub fn end_time(&self, row: usize) -> Result<i64> {
        self.i64(FlowField::EndTime, row)?
            .ok_or_else(|| StoreError::InvalidRecord("end_time is null".into()))
    }

    fn array(&self, f: FlowField) -> &'a dyn Array {
        self.batch.column(f as usize).as_ref()
    }

    fn text(&self, f: FlowField, row: usize) -> Result<Option<&'a str>> {
        let a: &'a StringArray = self
            .array(f)
            .as_string_opt::<i32>()
            .ok_or_else(|| wrong(f, "text"))?;
        Ok(a.is_valid(row).then(|| a.value(row)))
    }

    fn required(&self, f: FlowField, row: usize) -> Result<&'a str> {
        self.text(f, row)?
            .ok_or_else(|| StoreError::InvalidRecord(format!("{f} is null")))
    }

    fn i64(&self, f: FlowField, row: usize) -> Result<Option<i64>> {
        let a: &'a Int64Array = self
            .array(f)
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| wrong(f, "Int64"))?;
        Ok(a.is_valid(row).then(|| a.value(row)))
    }

    fn i32(&self, f: FlowField, row: usize) -> Result<Option<i32>> {
        let a: &'a Int32Array = self
            .array(f)
            .as_primitive_opt::<Int32Type>()
            .ok_or_else(|| wrong(f, "Int32"))?;
        Ok(a.is_valid(row).then(|| a.value(row)))
    }

    fn counter(&self, f: FlowField, row: usize) -> Result<u64> {
        let a: &'a UInt64Array = self
            .array(f)
            .as_primitive_opt::<UInt64Type>()
            .ok_or_else(|| wrong(f, "UInt64"))?;
        if a.is_null(row) {
            return Err(StoreError::InvalidRecord(format!("{f} is null")));
        }
        Ok(a.value(row))
    }

    /// A list's entries; `None` for a null list.
    fn list(&self, f: FlowField, row: usize) -> Result<Option<Vec<&'a str>>> {
        let list: &'a GenericListArray<i32> = self
            .array(f)
            .as_list_opt::<i32>()
            .ok_or_else(|| wrong(f, "a list"))?;
        if list.is_null(row) {
            return Ok(None);
        }
        let values: &'a StringArray = list
            .values()
            .as_string_opt::<i32>()
            .ok_or_else(|| wrong(f, "a list of text"))?;
        let offsets = list.value_offsets();
        (offsets[row] as usize..offsets[row + 1] as usize)
            .map(|i| {
                if values.is_null(i) {
                    Err(StoreError::InvalidRecord(format!("{f} has a null entry")))
                } else {
                    Ok(values.value(i))
                }
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// Row `row` to insert as record `record_id`. A null pending trace is the enforced one
    /// (how batches spare encoding it twice); stored, it is written out.
    pub fn row(&self, row: usize, record_id: u64) -> Result<FlowRow<'a>> {
        use FlowField as F;
        let enforced = self.list(F::PoliciesEnforced, row)?.unwrap_or_default();
        let pending = match self.list(F::PoliciesPending, row)? {
            Some(pending) => pending,
            None => enforced.clone(),
        };
        let time = |f| {
            self.i64(f, row)?
                .ok_or_else(|| StoreError::InvalidRecord(format!("{f} is null")))
        };
        Ok(FlowRow {
            start_time: time(F::StartTime)?,
            end_time: time(F::EndTime)?,
            source_ip: self.text(F::SourceIp, row)?,
            source_name: self.text(F::SourceName, row)?,
            source_name_aggr: self.required(F::SourceNameAggr, row)?,
            source_namespace: self.text(F::SourceNamespace, row)?,
            source_port: self.i32(F::SourcePort, row)?,
            source_type: self.text(F::SourceType, row)?,
            source_labels: self.list(F::SourceLabels, row)?.unwrap_or_default(),
            dest_ip: self.text(F::DestIp, row)?,
            dest_name: self.text(F::DestName, row)?,
            dest_name_aggr: self.required(F::DestNameAggr, row)?,
            dest_namespace: self.text(F::DestNamespace, row)?,
            dest_port: self.i32(F::DestPort, row)?,
            dest_type: self.text(F::DestType, row)?,
            dest_labels: self.list(F::DestLabels, row)?.unwrap_or_default(),
            dest_service_namespace: self.text(F::DestServiceNamespace, row)?,
            dest_service_name: self.text(F::DestServiceName, row)?,
            dest_service_port: self.text(F::DestServicePort, row)?,
            dest_service_port_num: self.i32(F::DestServicePortNum, row)?,
            proto: self.required(F::Proto, row)?,
            action: self.required(F::Action, row)?,
            reporter: self.required(F::Reporter, row)?,
            policies_enforced: enforced,
            policies_pending: pending,
            bytes_in: self.counter(F::BytesIn, row)?,
            bytes_out: self.counter(F::BytesOut, row)?,
            packets_in: self.counter(F::PacketsIn, row)?,
            packets_out: self.counter(F::PacketsOut, row)?,
            num_flows: self.counter(F::NumFlows, row)?,
            num_flows_started: self.counter(F::NumFlowsStarted, row)?,
            num_flows_completed: self.counter(F::NumFlowsCompleted, row)?,
            process_name: self.text(F::ProcessName, row)?,
            process_id: self.i64(F::ProcessId, row)?,
            host: self.text(F::Host, row)?,
            record_id,
        })
    }
}

fn invalid(what: String) -> StoreError {
    StoreError::InvalidRecord(what)
}

/// A port column's value.
pub(crate) fn port(field: FlowField, value: Option<i32>) -> Result<Option<u16>> {
    value
        .map(|v| u16::try_from(v).map_err(|_| invalid(format!("{field} {v} is not a port"))))
        .transpose()
}

pub(crate) fn ip(field: FlowField, text: Option<&str>) -> Result<Option<IpAddr>> {
    text.map(|t| {
        t.parse::<IpAddr>()
            .map_err(|_| invalid(format!("{field} {t:?} is not an IP")))
    })
    .transpose()
}

pub(crate) fn endpoint_type(field: FlowField, text: Option<&str>) -> Result<Option<EndpointType>> {
    text.map(|t| {
        EndpointType::parse(t)
            .ok_or_else(|| invalid(format!("{field} {t:?} is not wep/hep/ns/net")))
    })
    .transpose()
}

pub(crate) fn labels(field: FlowField, entries: &[String]) -> Result<Labels> {
    entries
        .iter()
        .map(|pair| {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| invalid(format!("{field} entry {pair:?} is not key=value")))?;
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

fn hits(field: FlowField, texts: &[String]) -> Result<Vec<PolicyHit>> {
    texts
        .iter()
        .map(|t| PolicyHit::parse(t).map_err(|e| invalid(format!("{field}: {e}"))))
        .collect()
}

/// Flow-log protocol names back to [`Protocol`]; numbers map to their named protocol when
/// there is one, which is what [`Protocol::flow_log_name`] wrote.
pub(crate) fn proto(text: &str) -> Result<Protocol> {
    match text.parse::<u8>() {
        Ok(n) => Ok(Protocol::from_number(n)),
        Err(_) => Protocol::parse(text).map_err(|_| invalid(format!("proto {text:?}"))),
    }
}

pub(crate) fn action(text: &str) -> Result<Action> {
    Action::parse(text).ok_or_else(|| invalid(format!("action {text:?}")))
}

pub(crate) fn reporter(text: &str) -> Result<Reporter> {
    Reporter::parse(text).ok_or_else(|| invalid(format!("reporter {text:?}")))
}

impl StoredFlow {
    /// The flow log, as the embedded store's `decode_flows` makes it.
    pub fn to_flow_log(&self) -> Result<FlowLog> {
        use FlowField as F;
        let source = FlowEnd {
            ip: ip(F::SourceIp, self.source_ip.as_deref())?,
            name: self.source_name.clone(),
            name_aggr: self.source_name_aggr.clone(),
            namespace: self.source_namespace.clone(),
            port: port(F::SourcePort, self.source_port)?,
            endpoint_type: endpoint_type(F::SourceType, self.source_type.as_deref())?,
            labels: labels(F::SourceLabels, &self.source_labels)?,
        };
        let dest = FlowEnd {
            ip: ip(F::DestIp, self.dest_ip.as_deref())?,
            name: self.dest_name.clone(),
            name_aggr: self.dest_name_aggr.clone(),
            namespace: self.dest_namespace.clone(),
            port: port(F::DestPort, self.dest_port)?,
            endpoint_type: endpoint_type(F::DestType, self.dest_type.as_deref())?,
            labels: labels(F::DestLabels, &self.dest_labels)?,
        };
        let dest_service = match &self.dest_service_namespace {
            None => None,
            Some(namespace) => {
                let required = |f: FlowField, v: &Option<String>| {
                    v.clone().ok_or_else(|| invalid(format!("{f} is null")))
                };
                Some(FlowService {
                    namespace: namespace.clone(),
                    name: required(F::DestServiceName, &self.dest_service_name)?,
                    port_name: required(F::DestServicePort, &self.dest_service_port)?,
                    port_num: port(F::DestServicePortNum, self.dest_service_port_num)?
                        .ok_or_else(|| invalid("dest_service_port_num is null".into()))?,
                })
            }
        };
        Ok(FlowLog {
            start_time: self.start_time,
            end_time: self.end_time,
            source,
            dest,
            dest_service,
            proto: proto(&self.proto)?,
            action: action(&self.action)?,
            reporter: reporter(&self.reporter)?,
            enforced_policies: hits(F::PoliciesEnforced, &self.policies_enforced)?,
            pending_policies: hits(F::PoliciesPending, &self.policies_pending)?,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            packets_in: self.packets_in,
            packets_out: self.packets_out,
            num_flows: self.num_flows,
            num_flows_started: self.num_flows_started,
            num_flows_completed: self.num_flows_completed,
            process_name: self.process_name.clone(),
            process_id: self.process_id,
            host: self.host.clone(),
        })
    }

    /// The value of a sortable field, as a page token holds it.
    pub fn sort_value(&self, field: FlowField) -> Result<TokenValue> {
        use FlowField as F;
        let text = |v: &Option<String>| match v {
            Some(s) => TokenValue::Text(s.clone()),
            None => TokenValue::Null,
        };
        let int = |v: Option<i64>| match v {
            Some(n) => TokenValue::Int(n),
            None => TokenValue::Null,
        };
        Ok(match field {
            F::StartTime => TokenValue::Int(self.start_time),
            F::EndTime => TokenValue::Int(self.end_time),
            F::SourceIp => text(&self.source_ip),
            F::SourceName => text(&self.source_name),
            F::SourceNameAggr => TokenValue::Text(self.source_name_aggr.clone()),
            F::SourceNamespace => text(&self.source_namespace),
            F::SourcePort => int(self.source_port.map(i64::from)),
            F::SourceType => text(&self.source_type),
            F::DestIp => text(&self.dest_ip),
            F::DestName => text(&self.dest_name),
            F::DestNameAggr => TokenValue::Text(self.dest_name_aggr.clone()),
            F::DestNamespace => text(&self.dest_namespace),
            F::DestPort => int(self.dest_port.map(i64::from)),
            F::DestType => text(&self.dest_type),
            F::DestServiceNamespace => text(&self.dest_service_namespace),
            F::DestServiceName => text(&self.dest_service_name),
            F::DestServicePort => text(&self.dest_service_port),
            F::DestServicePortNum => int(self.dest_service_port_num.map(i64::from)),
            F::Proto => TokenValue::Text(self.proto.clone()),
            F::Action => TokenValue::Text(self.action.clone()),
            F::Reporter => TokenValue::Text(self.reporter.clone()),
            F::BytesIn => TokenValue::Uint(self.bytes_in),
            F::BytesOut => TokenValue::Uint(self.bytes_out),
            F::PacketsIn => TokenValue::Uint(self.packets_in),
            F::PacketsOut => TokenValue::Uint(self.packets_out),
            F::NumFlows => TokenValue::Uint(self.num_flows),
            F::NumFlowsStarted => TokenValue::Uint(self.num_flows_started),
            F::NumFlowsCompleted => TokenValue::Uint(self.num_flows_completed),
            F::ProcessName => text(&self.process_name),
            F::ProcessId => int(self.process_id),
            F::Host => text(&self.host),
            F::RecordId => TokenValue::Uint(self.record_id),
            F::SourceLabels | F::DestLabels | F::PoliciesEnforced | F::PoliciesPending => {
                return Err(crate::sql::invalid(format!(
                    "cannot page on list field {field}"
                )));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clickhouse::Row;

    #[test]
    fn rows_carry_the_stored_columns_in_order() {
        let columns: Vec<&str> = FlowField::ALL.iter().map(|f| f.column()).collect();
        assert_eq!(FlowRow::COLUMN_NAMES, columns.as_slice());
        assert_eq!(StoredFlow::COLUMN_NAMES, columns.as_slice());
        assert_eq!(column_list(), columns.join(", "));
    }
}
