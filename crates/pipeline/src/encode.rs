//! Flow logs back out as Calico flow-log JSON, the shape `flows.log` and Elasticsearch use,
//! so anything written for Calico can read what Flowlens produces.

use flowlens_model::{FlowEnd, FlowLog, Labels, PolicyHitFormat};
use serde_json::{Map, Value, json};

fn text(v: &Option<String>) -> Value {
    match v {
        Some(s) => Value::String(s.clone()),
        None => Value::String("-".into()),
    }
}

fn labels(l: &Labels) -> Value {
    if l.is_empty() {
        return Value::Null;
    }
    json!({ "labels": l.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>() })
}

fn end(map: &mut Map<String, Value>, prefix: &str, e: &FlowEnd) {
    let mut put = |k: &str, v: Value| {
        map.insert(format!("{prefix}_{k}"), v);
    };
    put(
        "ip",
        e.ip.map(|ip| Value::String(ip.to_string()))
            .unwrap_or(Value::Null),
    );
    put("name", text(&e.name));
    put("name_aggr", Value::String(e.name_aggr.clone()));
    put("namespace", text(&e.namespace));
    put("port", e.port.map(Value::from).unwrap_or(Value::Null));
    put(
        "type",
        e.endpoint_type
            .map(|t| Value::String(t.to_string()))
            .unwrap_or_else(|| Value::String("-".into())),
    );
    put("labels", labels(&e.labels));
}

/// One flow log as a Calico flow-log JSON object.
pub fn calico_json(log: &FlowLog, format: PolicyHitFormat) -> Value {
    let mut map = Map::new();
    map.insert("start_time".into(), log.start_time.into());
    map.insert("end_time".into(), log.end_time.into());
    end(&mut map, "source", &log.source);
    end(&mut map, "dest", &log.dest);
    let svc = log.dest_service.as_ref();
    map.insert(
        "dest_service_namespace".into(),
        text(&svc.map(|s| s.namespace.clone())),
    );
    map.insert(
        "dest_service_name".into(),
        text(&svc.map(|s| s.name.clone())),
    );
    map.insert(
        "dest_service_port".into(),
        text(&svc.map(|s| s.port_name.clone())),
    );
    map.insert(
        "dest_service_port_num".into(),
        svc.map(|s| Value::from(s.port_num)).unwrap_or(Value::Null),
    );
    map.insert(
        "proto".into(),
        Value::String(log.proto.flow_log_name().into_owned()),
    );
    map.insert("action".into(), Value::String(log.action.to_string()));
    map.insert(
        "reporter".into(),
        Value::String(log.reporter.as_str().into()),
    );
    let hits = |h: &[flowlens_model::PolicyHit]| {
        h.iter().map(|h| h.to_string_in(format)).collect::<Vec<_>>()
    };
    map.insert(
        "policies".into(),
        json!({ "enforced_policies": hits(&log.enforced_policies), "pending_policies": hits(&log.pending_policies) }),
    );
    for (k, v) in [
        ("bytes_in", log.bytes_in),
        ("bytes_out", log.bytes_out),
        ("packets_in", log.packets_in),
        ("packets_out", log.packets_out),
        ("num_flows", log.num_flows),
        ("num_flows_started", log.num_flows_started),
        ("num_flows_completed", log.num_flows_completed),
    ] {
        map.insert(k.into(), v.into());
    }
    map.insert("process_name".into(), text(&log.process_name));
    map.insert(
        "process_id".into(),
        log.process_id
            .map(Value::from)
            .unwrap_or_else(|| Value::String("-".into())),
    );
    map.insert("host".into(), text(&log.host));
    Value::Object(map)
}

/// Flow-log columns as CSV writes them, in Calico's field order; `source_labels`,
/// `dest_labels` and the two policy traces are lists, joined with `;`.
pub const CSV_COLUMNS: &[&str] = &[
    "start_time",
    "end_time",
    "source_ip",
    "source_name",
    "source_name_aggr",
    "source_namespace",
    "source_port",
    "source_type",
    "source_labels",
    "dest_ip",
    "dest_name",
    "dest_name_aggr",
    "dest_namespace",
    "dest_port",
    "dest_type",
    "dest_labels",
    "dest_service_namespace",
    "dest_service_name",
    "dest_service_port",
    "dest_service_port_num",
    "proto",
    "action",
    "reporter",
    "enforced_policies",
    "pending_policies",
    "bytes_in",
    "bytes_out",
    "packets_in",
    "packets_out",
    "num_flows",
    "num_flows_started",
    "num_flows_completed",
    "process_name",
    "process_id",
    "host",
];

/// The CSV header line for flow logs (without the line break).
pub fn csv_header() -> String {
    CSV_COLUMNS.join(",")
}

/// One flow log, given as its [`calico_json`], as a CSV line (without the line break).
pub fn csv_row(calico: &Value) -> String {
    CSV_COLUMNS
        .iter()
        .map(|c| {
            let v = match *c {
                "source_labels" | "dest_labels" => &calico[*c]["labels"],
                "enforced_policies" | "pending_policies" => &calico["policies"][*c],
                _ => &calico[*c],
            };
            csv_cell(&match v {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                Value::Array(items) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(";"),
                other => other.to_string(),
            })
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A CSV cell: quoted when it holds a comma, a quote or a line break.
pub fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_flatten_lists_and_quote_cells() {
        let calico = json!({
            "start_time": 1, "source_labels": {"labels": ["app=web", "tier=a,b"]},
            "policies": {"enforced_policies": ["0|t|np:ns/p|allow|0", "1|t|np:ns/q|deny|-1"],
                         "pending_policies": []},
            "dest_port": 80, "source_ip": null, "process_name": "say \"hi\"",
        });
        let row = csv_row(&calico);
        let cells: Vec<&str> = row.split(',').collect();
        let at = |name: &str| CSV_COLUMNS.iter().position(|c| *c == name).unwrap();
        assert_eq!(cells[at("start_time")], "1");
        assert_eq!(cells[at("source_ip")], "");
        assert!(row.contains("\"app=web;tier=a,b\""), "{row}");
        assert!(
            row.contains("0|t|np:ns/p|allow|0;1|t|np:ns/q|deny|-1"),
            "{row}"
        );
        assert!(row.contains("\"say \"\"hi\"\"\""), "{row}");
        assert_eq!(csv_header().split(',').count(), CSV_COLUMNS.len());
    }
}
