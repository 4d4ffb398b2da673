//! Calico flow logs: Felix `flows.log` JSON lines and Elasticsearch `_source` exports.

use super::lenient::{LabelField, OptInt, OptText};
use flowlens_model::{
    Action, EndpointType, FlowEnd, FlowLog, FlowService, PolicyHit, Protocol, Reporter,
};
use serde::Deserialize;
use std::net::IpAddr;

#[derive(Deserialize)]
struct Wrapped {
    #[serde(rename = "_source")]
    source: Record,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Policies {
    all_policies: Option<Vec<String>>,
    enforced_policies: Option<Vec<String>>,
    pending_policies: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Record {
    start_time: OptInt,
    end_time: OptInt,
    #[serde(default)]
    source_ip: OptText,
    #[serde(default)]
    source_name: OptText,
    #[serde(default)]
    source_name_aggr: OptText,
    #[serde(default)]
    source_namespace: OptText,
    #[serde(default)]
    source_port: OptInt,
    #[serde(default)]
    source_type: OptText,
    #[serde(default)]
    source_labels: LabelField,
    #[serde(default)]
    dest_ip: OptText,
    #[serde(default)]
    dest_name: OptText,
    #[serde(default)]
    dest_name_aggr: OptText,
    #[serde(default)]
    dest_namespace: OptText,
    #[serde(default)]
    dest_port: OptInt,
    #[serde(default)]
    dest_type: OptText,
    #[serde(default)]
    dest_labels: LabelField,
    #[serde(default)]
    dest_service_namespace: OptText,
    #[serde(default)]
    dest_service_name: OptText,
    #[serde(default)]
    dest_service_port: OptText,
    #[serde(default)]
    dest_service_port_num: OptInt,
    proto: OptText,
    action: OptText,
    reporter: OptText,
    #[serde(default)]
    policies: Option<Policies>,
    #[serde(default)]
    bytes_in: OptInt,
    #[serde(default)]
    bytes_out: OptInt,
    #[serde(default)]
    packets_in: OptInt,
    #[serde(default)]
    packets_out: OptInt,
    #[serde(default)]
    num_flows: OptInt,
    #[serde(default)]
    num_flows_started: OptInt,
    #[serde(default)]
    num_flows_completed: OptInt,
    #[serde(default)]
    process_name: OptText,
    #[serde(default)]
    process_id: OptInt,
    #[serde(default)]
    host: OptText,
}

/// Decodes one Calico flow log line (plain, or wrapped as `{"_source": {...}}`).
pub fn decode_calico(text: &str) -> Result<FlowLog, String> {
    let record = if text.contains("\"_source\"") {
        serde_json::from_str::<Wrapped>(text).map(|w| w.source)
    } else {
        serde_json::from_str::<Record>(text)
    }
    .map_err(|e| format!("not a Calico flow log: {e}"))?;
    convert(record)
}

fn required<T>(value: Option<T>, field: &str) -> Result<T, String> {
    value.ok_or_else(|| format!("{field} is missing"))
}

fn count(value: OptInt, field: &str) -> Result<u64, String> {
    match value.0 {
        None => Ok(0),
        Some(n) => u64::try_from(n).map_err(|_| format!("{field} is negative")),
    }
}

fn port(value: OptInt, field: &str) -> Result<Option<u16>, String> {
    value
        .0
        .map(|p| u16::try_from(p).map_err(|_| format!("{field} {p} is not a port")))
        .transpose()
}

fn ip(value: OptText, field: &str) -> Result<Option<IpAddr>, String> {
    value
        .0
        .map(|t| {
            t.parse()
                .map_err(|_| format!("{field} {t:?} is not an IP address"))
        })
        .transpose()
}

fn endpoint_type(value: OptText, field: &str) -> Result<Option<EndpointType>, String> {
    value
        .0
        .map(|t| {
            EndpointType::parse(&t)
                .ok_or_else(|| format!("{field} {t:?} is not wep, hep, ns or net"))
        })
        .transpose()
}

fn hits(list: Option<Vec<String>>, field: &str) -> Result<Vec<PolicyHit>, String> {
    list.unwrap_or_default()
        .iter()
        .map(|h| PolicyHit::parse(h).map_err(|e| format!("{field}: {e}")))
        .collect()
}

fn convert(r: Record) -> Result<FlowLog, String> {
    let start_time = required(r.start_time.0, "start_time")?;
    let end_time = required(r.end_time.0, "end_time")?;
    if end_time < start_time {
        return Err("end_time is before start_time".into());
    }
    let proto_text = required(r.proto.0, "proto")?;
    let proto = Protocol::parse(&proto_text).map_err(|e| format!("proto: {e}"))?;
    let action_text = required(r.action.0, "action")?;
    let action = Action::parse(&action_text)
        .ok_or_else(|| format!("action {action_text:?} is not allow or deny"))?;
    let reporter_text = required(r.reporter.0, "reporter")?;
    let reporter = Reporter::parse(&reporter_text)
        .ok_or_else(|| format!("reporter {reporter_text:?} is not src or dst"))?;
    let policies = r.policies.unwrap_or_default();
    // Older Calico logs carry one `all_policies` list with staged hits mixed in: the enforced
    // trace is its non-staged part, and the whole list is the closest thing to a pending one.
    let (enforced, pending) = match (
        policies.enforced_policies,
        policies.pending_policies,
        policies.all_policies,
    ) {
        (None, None, Some(all)) => {
            let all = hits(Some(all), "policies.all_policies")?;
            let enforced = all
                .iter()
                .filter(|h| !h.kind.is_some_and(|k| k.is_staged()))
                .cloned()
                .collect();
            (enforced, all)
        }
        (enforced, pending, _) => (
            hits(enforced, "policies.enforced_policies")?,
            hits(pending, "policies.pending_policies")?,
        ),
    };
    let dest_service = match (r.dest_service_namespace.0, r.dest_service_name.0) {
        (Some(namespace), Some(name)) => Some(FlowService {
            namespace,
            name,
            port_name: r.dest_service_port.0.unwrap_or_else(|| "-".into()),
            port_num: port(r.dest_service_port_num, "dest_service_port_num")?.unwrap_or(0),
        }),
        _ => None,
    };
    Ok(FlowLog {
        start_time,
        end_time,
        source: FlowEnd {
            ip: ip(r.source_ip, "source_ip")?,
            name: r.source_name.0,
            name_aggr: r.source_name_aggr.0.unwrap_or_else(|| "-".into()),
            namespace: r.source_namespace.0,
            port: port(r.source_port, "source_port")?,
            endpoint_type: endpoint_type(r.source_type, "source_type")?,
            labels: r.source_labels.0,
        },
        dest: FlowEnd {
            ip: ip(r.dest_ip, "dest_ip")?,
            name: r.dest_name.0,
            name_aggr: r.dest_name_aggr.0.unwrap_or_else(|| "-".into()),
            namespace: r.dest_namespace.0,
            port: port(r.dest_port, "dest_port")?,
            endpoint_type: endpoint_type(r.dest_type, "dest_type")?,
            labels: r.dest_labels.0,
        },
        dest_service,
        proto,
        action,
        reporter,
        enforced_policies: enforced,
        pending_policies: pending,
        bytes_in: count(r.bytes_in, "bytes_in")?,
        bytes_out: count(r.bytes_out, "bytes_out")?,
        packets_in: count(r.packets_in, "packets_in")?,
        packets_out: count(r.packets_out, "packets_out")?,
        num_flows: count(r.num_flows, "num_flows")?,
        num_flows_started: count(r.num_flows_started, "num_flows_started")?,
        num_flows_completed: count(r.num_flows_completed, "num_flows_completed")?,
        process_name: r.process_name.0,
        process_id: r.process_id.0,
        host: r.host.0,
    })
}
