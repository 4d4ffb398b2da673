//! Distinct flow tuples: the stored flow logs grouped by everything policy evaluation looks
//! at (both ends, protocol, destination port, reporter, stored action), with counts. The
//! impact preview evaluates each tuple once instead of every record.

use crate::error::{Result, StoreError};
use crate::plan::{column, row_filter};
use crate::query::FlowQuery;
use crate::schema::Field;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, UInt64Type};
use datafusion::dataframe::DataFrame;
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::logical_expr::lit;
use flowlens_model::{Action, EndpointType, FlowEnd, FlowTuple, Labels, Reporter};
use std::net::IpAddr;

/// The columns of one end: ip, name, name_aggr, namespace, port, type, labels.
type EndFields = [Field; 7];

const SOURCE: EndFields = [
    Field::SourceIp,
    Field::SourceName,
    Field::SourceNameAggr,
    Field::SourceNamespace,
    Field::SourcePort,
    Field::SourceType,
    Field::SourceLabels,
];

const DEST: EndFields = [
    Field::DestIp,
    Field::DestName,
    Field::DestNameAggr,
    Field::DestNamespace,
    Field::DestPort,
    Field::DestType,
    Field::DestLabels,
];

fn group_fields(source_ports: bool) -> Vec<Field> {
    let mut fields: Vec<Field> = SOURCE
        .iter()
        .copied()
        .filter(|f| source_ports || *f != Field::SourcePort)
        .collect();
    fields.extend(DEST);
    fields.extend([Field::Proto, Field::Reporter, Field::Action]);
    fields
}

fn bad(reason: String) -> StoreError {
    StoreError::InvalidRecord(reason)
}

struct Columns<'a>(&'a RecordBatch);

impl Columns<'_> {
    fn get(&self, name: &str, want: &DataType) -> Result<ArrayRef> {
        let array = self
            .0
            .column_by_name(name)
            .ok_or_else(|| bad(format!("tuple result lacks {name}")))?;
        Ok(if array.data_type() == want {
            array.clone()
        } else {
            cast(array, want)?
        })
    }

    fn texts(&self, f: Field) -> Result<Vec<Option<String>>> {
        let array = self.get(f.name(), &DataType::Utf8)?;
        let array = array.as_string::<i32>();
        Ok((0..array.len())
            .map(|i| array.is_valid(i).then(|| array.value(i).to_string()))
            .collect())
    }

    fn ints(&self, name: &str) -> Result<Vec<Option<i64>>> {
        let array = self.get(name, &DataType::Int64)?;
        let array = array.as_primitive::<Int64Type>();
        Ok((0..array.len())
            .map(|i| array.is_valid(i).then(|| array.value(i)))
            .collect())
    }

    fn counters(&self, name: &str) -> Result<Vec<u64>> {
        let array = self.get(name, &DataType::UInt64)?;
        let array = array.as_primitive::<UInt64Type>();
        Ok((0..array.len())
            .map(|i| if array.is_valid(i) { array.value(i) } else { 0 })
            .collect())
    }

    fn labels(&self, f: Field) -> Result<Vec<Labels>> {
        let array = self
            .0
            .column_by_name(f.name())
            .ok_or_else(|| bad(format!("tuple result lacks {f}")))?;
        let list = array
            .as_list_opt::<i32>()
            .ok_or_else(|| bad(format!("{f} is not a list")))?;
        let values = list
            .values()
            .as_string_opt::<i32>()
            .ok_or_else(|| bad(format!("{f} is not a list of text")))?;
        let offsets = list.value_offsets();
        (0..list.len())
            .map(|row| {
                if list.is_null(row) {
                    return Ok(Labels::new());
                }
                (offsets[row] as usize..offsets[row + 1] as usize)
                    .filter(|&i| values.is_valid(i))
                    .map(|i| {
                        let pair = values.value(i);
                        pair.split_once('=')
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .ok_or_else(|| bad(format!("{f} entry {pair:?} is not key=value")))
                    })
                    .collect()
            })
            .collect()
    }

    fn ends(&self, fields: EndFields, with_port: bool) -> Result<Vec<FlowEnd>> {
        let [ip, name, name_aggr, namespace, port, endpoint_type, labels] = fields;
        let ips = self.texts(ip)?;
        let names = self.texts(name)?;
        let aggrs = self.texts(name_aggr)?;
        let namespaces = self.texts(namespace)?;
        let ports = if with_port {
            Some(self.ints(port.name())?)
        } else {
            None
        };
        let types = self.texts(endpoint_type)?;
        let labels = self.labels(labels)?;
        let mut out = Vec::with_capacity(ips.len());
        for (i, ((((ip_text, name), aggr), namespace), (ty, labels))) in ips
            .into_iter()
            .zip(names)
            .zip(aggrs)
            .zip(namespaces)
            .zip(types.into_iter().zip(labels))
            .enumerate()
        {
            out.push(FlowEnd {
                ip: ip_text
                    .map(|t| {
                        t.parse::<IpAddr>()
                            .map_err(|_| bad(format!("{ip} {t:?} is not an IP")))
                    })
                    .transpose()?,
                name,
                name_aggr: aggr.unwrap_or_else(|| "-".into()),
                namespace,
                port: ports
                    .as_ref()
                    .and_then(|p| p[i])
                    .and_then(|p| u16::try_from(p).ok()),
                endpoint_type: ty.as_deref().and_then(EndpointType::parse),
                labels,
            });
        }
        Ok(out)
    }
}

/// Groups the rows of `df` matching `query` into tuples. With `source_ports` false the
/// source port is left out of the grouping (and of the tuples), which keeps the number of
/// groups down when no rule looks at source ports.
pub(crate) async fn flow_tuples(
    df: DataFrame,
    query: &FlowQuery,
    source_ports: bool,
) -> Result<Vec<FlowTuple>> {
    let matching = match row_filter(query)? {
        Some(predicate) => df.filter(predicate)?,
        None => df,
    };
    let fields = group_fields(source_ports);
    let batches = matching
        .aggregate(
            fields.iter().map(|f| column(*f)).collect(),
            vec![
                count(lit(1)).alias("flow_logs"),
                sum(column(Field::NumFlows)).alias("num_flows"),
            ],
        )?
        .collect()
        .await?;
    let mut tuples = Vec::new();
    for batch in &batches {
        let c = Columns(batch);
        let sources = c.ends(SOURCE, source_ports)?;
        let dests = c.ends(DEST, true)?;
        let protos = c.texts(Field::Proto)?;
        let reporters = c.texts(Field::Reporter)?;
        let actions = c.texts(Field::Action)?;
        let flow_logs = c.counters("flow_logs")?;
        let num_flows = c.counters("num_flows")?;
        for (i, (source, dest)) in sources.into_iter().zip(dests).enumerate() {
            let proto = protos[i].as_deref().unwrap_or_default();
            let proto = crate::decode::parse_proto(proto)
                .ok_or_else(|| bad(format!("proto {proto:?} is not a protocol")))?;
            let reporter = reporters[i].as_deref().unwrap_or_default();
            let reporter = Reporter::parse(reporter)
                .ok_or_else(|| bad(format!("reporter {reporter:?} is not src or dst")))?;
            let action = actions[i].as_deref().unwrap_or_default();
            let action = Action::parse(action)
                .ok_or_else(|| bad(format!("action {action:?} is not allow or deny")))?;
            tuples.push(FlowTuple {
                source,
                dest,
                proto,
                reporter,
                action,
                flow_logs: flow_logs[i],
                num_flows: num_flows[i],
            });
        }
    }
    Ok(tuples)
}
