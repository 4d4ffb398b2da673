//! Stored record batches → `FlowLog`s, the inverse of [`encode`](super::encode).
//!
//! Batches may come back from the query engine with other but compatible types (string
//! views, for example); they are cast to the stored schema first. Anything that does not
//! decode (a bad IP, an unknown action, a policy hit that does not parse) is an
//! [`StoreError::InvalidRecord`], never a panic.

use crate::error::{Result, StoreError};
use crate::schema::record_schema;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, GenericListArray, Int32Array, Int64Array, RecordBatch, StringArray,
    UInt64Array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::datatypes::{Int32Type, Int64Type, UInt64Type};
use flowlens_model::FlowField;
use flowlens_model::{
    Action, EndpointType, FlowEnd, FlowLog, FlowService, Labels, PolicyHit, Protocol, Reporter,
};
use std::net::IpAddr;

/// The record id of each row plus the decoded flow log.
pub fn decode_flows(batch: &RecordBatch) -> Result<Vec<(u64, FlowLog)>> {
    let cols = Columns::new(batch)?;
    (0..batch.num_rows()).map(|row| cols.row(row)).collect()
}

/// A batch's columns, cast to the stored types and looked up by name.
struct Columns {
    columns: Vec<ArrayRef>,
}

impl Columns {
    fn new(batch: &RecordBatch) -> Result<Columns> {
        Ok(Columns {
            columns: conform_to(batch.clone(), &record_schema())?
                .columns()
                .to_vec(),
        })
    }

    fn col(&self, f: FlowField) -> &ArrayRef {
        &self.columns[crate::schema::index(f)]
    }

    fn text(&self, f: FlowField, row: usize) -> Result<Option<&str>> {
        let array: &StringArray = self
            .col(f)
            .as_string_opt::<i32>()
            .ok_or_else(|| StoreError::invalid_record(format!("column {f} is not text")))?;
        Ok(array.is_valid(row).then(|| array.value(row)))
    }

    fn required_text(&self, f: FlowField, row: usize) -> Result<&str> {
        self.text(f, row)?
            .ok_or_else(|| StoreError::invalid_record(format!("{f} is null")))
    }

    fn i64(&self, f: FlowField, row: usize) -> Result<Option<i64>> {
        let array: &Int64Array = self
            .col(f)
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| StoreError::invalid_record(format!("column {f} is not Int64")))?;
        Ok(array.is_valid(row).then(|| array.value(row)))
    }

    fn port(&self, f: FlowField, row: usize) -> Result<Option<u16>> {
        let array: &Int32Array = self
            .col(f)
            .as_primitive_opt::<Int32Type>()
            .ok_or_else(|| StoreError::invalid_record(format!("column {f} is not Int32")))?;
        if array.is_null(row) {
            return Ok(None);
        }
        let value = array.value(row);
        u16::try_from(value)
            .map(Some)
            .map_err(|_| StoreError::invalid_record(format!("{f} {value} is not a port")))
    }

    fn counter(&self, f: FlowField, row: usize) -> Result<u64> {
        let array: &UInt64Array = self
            .col(f)
            .as_primitive_opt::<UInt64Type>()
            .ok_or_else(|| StoreError::invalid_record(format!("column {f} is not UInt64")))?;
        if array.is_null(row) {
            return Err(StoreError::invalid_record(format!("{f} is null")));
        }
        Ok(array.value(row))
    }

    fn strings(&self, f: FlowField, row: usize) -> Result<Vec<&str>> {
        let list: &GenericListArray<i32> = self
            .col(f)
            .as_list_opt::<i32>()
            .ok_or_else(|| StoreError::invalid_record(format!("column {f} is not a list")))?;
        if list.is_null(row) {
            return Ok(Vec::new());
        }
        let values = list.values().as_string_opt::<i32>().ok_or_else(|| {
            StoreError::invalid_record(format!("column {f} is not a list of text"))
        })?;
        let offsets = list.value_offsets();
        let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
        (start..end)
            .map(|i| {
                if values.is_null(i) {
                    Err(StoreError::invalid_record(format!("{f} has a null entry")))
                } else {
                    Ok(values.value(i))
                }
            })
            .collect()
    }

    fn labels(&self, f: FlowField, row: usize) -> Result<Labels> {
        self.strings(f, row)?
            .into_iter()
            .map(|pair| {
                let (k, v) = pair.split_once('=').ok_or_else(|| {
                    StoreError::invalid_record(format!("{f} entry {pair:?} is not key=value"))
                })?;
                Ok((k.to_string(), v.to_string()))
            })
            .collect()
    }

    fn hits(&self, f: FlowField, row: usize) -> Result<Vec<PolicyHit>> {
        self.strings(f, row)?
            .into_iter()
            .map(|text| {
                PolicyHit::parse(text).map_err(|e| StoreError::invalid_record(format!("{f}: {e}")))
            })
            .collect()
    }

    fn end(&self, row: usize, fields: [FlowField; 7]) -> Result<FlowEnd> {
        let [ip, name, name_aggr, namespace, port, endpoint_type, labels] = fields;
        Ok(FlowEnd {
            ip: self
                .text(ip, row)?
                .map(|t| {
                    t.parse::<IpAddr>()
                        .map_err(|_| StoreError::invalid_record(format!("{ip} {t:?} is not an IP")))
                })
                .transpose()?,
            name: self.text(name, row)?.map(str::to_string),
            name_aggr: self.required_text(name_aggr, row)?.to_string(),
            namespace: self.text(namespace, row)?.map(str::to_string),
            port: self.port(port, row)?,
            endpoint_type: self
                .text(endpoint_type, row)?
                .map(|t| {
                    EndpointType::parse(t).ok_or_else(|| {
                        StoreError::invalid_record(format!(
                            "{endpoint_type} {t:?} is not wep/hep/ns/net"
                        ))
                    })
                })
                .transpose()?,
            labels: self.labels(labels, row)?,
        })
    }

    fn row(&self, row: usize) -> Result<(u64, FlowLog)> {
        use FlowField as F;
        let source = self.end(
            row,
            [
                F::SourceIp,
                F::SourceName,
                F::SourceNameAggr,
                F::SourceNamespace,
                F::SourcePort,
                F::SourceType,
                F::SourceLabels,
            ],
        )?;
        let dest = self.end(
            row,
            [
                F::DestIp,
                F::DestName,
                F::DestNameAggr,
                F::DestNamespace,
                F::DestPort,
                F::DestType,
                F::DestLabels,
            ],
        )?;
        let dest_service = match self.text(F::DestServiceNamespace, row)? {
            None => None,
            Some(namespace) => Some(FlowService {
                namespace: namespace.to_string(),
                name: self.required_text(F::DestServiceName, row)?.to_string(),
                port_name: self.required_text(F::DestServicePort, row)?.to_string(),
                port_num: self
                    .port(F::DestServicePortNum, row)?
                    .ok_or_else(|| StoreError::invalid_record("dest_service_port_num is null"))?,
            }),
        };
        let proto_text = self.required_text(F::Proto, row)?;
        let proto = parse_proto(proto_text)
            .ok_or_else(|| StoreError::invalid_record(format!("proto {proto_text:?}")))?;
        let action_text = self.required_text(F::Action, row)?;
        let action = Action::parse(action_text)
            .ok_or_else(|| StoreError::invalid_record(format!("action {action_text:?}")))?;
        let reporter_text = self.required_text(F::Reporter, row)?;
        let reporter = Reporter::parse(reporter_text)
            .ok_or_else(|| StoreError::invalid_record(format!("reporter {reporter_text:?}")))?;
        let record_id = self.counter(F::RecordId, row)?;
        let log = FlowLog {
            start_time: self
                .i64(F::StartTime, row)?
                .ok_or_else(|| StoreError::invalid_record("start_time is null"))?,
            end_time: self
                .i64(F::EndTime, row)?
                .ok_or_else(|| StoreError::invalid_record("end_time is null"))?,
            source,
            dest,
            dest_service,
            proto,
            action,
            reporter,
            enforced_policies: self.hits(F::PoliciesEnforced, row)?,
            // Null where it is the enforced trace (see `PendingBuilder`).
            pending_policies: if self.col(F::PoliciesPending).is_null(row) {
                self.hits(F::PoliciesEnforced, row)?
            } else {
                self.hits(F::PoliciesPending, row)?
            },
            bytes_in: self.counter(F::BytesIn, row)?,
            bytes_out: self.counter(F::BytesOut, row)?,
            packets_in: self.counter(F::PacketsIn, row)?,
            packets_out: self.counter(F::PacketsOut, row)?,
            num_flows: self.counter(F::NumFlows, row)?,
            num_flows_started: self.counter(F::NumFlowsStarted, row)?,
            num_flows_completed: self.counter(F::NumFlowsCompleted, row)?,
            process_name: self.text(F::ProcessName, row)?.map(str::to_string),
            process_id: self.i64(F::ProcessId, row)?,
            host: self.text(F::Host, row)?.map(str::to_string),
        };
        Ok((record_id, log))
    }
}

/// Casts a batch to `schema`, column by column (by name; extra columns are dropped), so code
/// downstream can rely on the exact types.
pub(crate) fn conform_to(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.schema() == *schema {
        return Ok(batch);
    }
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let name = field.name();
            let array = batch
                .column_by_name(name)
                .ok_or_else(|| StoreError::invalid_record(format!("column {name} is missing")))?;
            if array.data_type() == field.data_type() {
                Ok(array.clone())
            } else {
                cast(array, field.data_type()).map_err(|e| {
                    StoreError::invalid_record(format!(
                        "column {name} has type {}: {e}",
                        array.data_type()
                    ))
                })
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Flow-log protocol names back to [`Protocol`]; numbers map to their named protocol when
/// there is one, which is exactly what [`Protocol::flow_log_name`] wrote.
pub(crate) fn parse_proto(text: &str) -> Option<Protocol> {
    match text.parse::<u8>() {
        Ok(n) => Some(Protocol::from_number(n)),
        Err(_) => Protocol::parse(text).ok(),
    }
}
