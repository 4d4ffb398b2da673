//! Flow logs back out as Calico flow-log JSON, the shape `flows.log` and Elasticsearch use,
//! so anything written for Calico can read what Flowlens produces.

use flowlens_model::{FlowField, FlowLog, Labels, PolicyHit, PolicyHitFormat};
use serde_json::{Map, Value, json};

/// Calico's `-` for absent text.
fn text(v: Option<&str>) -> Value {
    Value::String(v.unwrap_or("-").to_string())
}

fn labels(l: &Labels) -> Value {
    if l.is_empty() {
        return Value::Null;
    }
    json!({ "labels": l.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>() })
}

fn hits(h: &[PolicyHit], format: PolicyHitFormat) -> Value {
    Value::from(h.iter().map(|h| h.to_string_in(format)).collect::<Vec<_>>())
}

/// The value of `field` in a flow log's Calico JSON (`Null` for `record_id`, which a flow
/// log does not hold).
fn value(log: &FlowLog, field: FlowField, format: PolicyHitFormat) -> Value {
    use FlowField as F;
    let (s, d, svc) = (&log.source, &log.dest, log.dest_service.as_ref());
    let ip =
        |ip: Option<std::net::IpAddr>| ip.map_or(Value::Null, |ip| Value::String(ip.to_string()));
    let port = |p: Option<u16>| p.map_or(Value::Null, Value::from);
    let endpoint_type = |t: Option<flowlens_model::EndpointType>| text(t.map(|t| t.as_str()));
    match field {
        F::StartTime => log.start_time.into(),
        F::EndTime => log.end_time.into(),
        F::SourceIp => ip(s.ip),
        F::SourceName => text(s.name.as_deref()),
        F::SourceNameAggr => Value::String(s.name_aggr.clone()),
        F::SourceNamespace => text(s.namespace.as_deref()),
        F::SourcePort => port(s.port),
        F::SourceType => endpoint_type(s.endpoint_type),
        F::SourceLabels => labels(&s.labels),
        F::DestIp => ip(d.ip),
        F::DestName => text(d.name.as_deref()),
        F::DestNameAggr => Value::String(d.name_aggr.clone()),
        F::DestNamespace => text(d.namespace.as_deref()),
        F::DestPort => port(d.port),
        F::DestType => endpoint_type(d.endpoint_type),
        F::DestLabels => labels(&d.labels),
        F::DestServiceNamespace => text(svc.map(|s| s.namespace.as_str())),
        F::DestServiceName => text(svc.map(|s| s.name.as_str())),
        F::DestServicePort => text(svc.map(|s| s.port_name.as_str())),
        F::DestServicePortNum => port(svc.map(|s| s.port_num)),
        F::Proto => Value::String(log.proto.flow_log_name().into_owned()),
        F::Action => Value::String(log.action.to_string()),
        F::Reporter => Value::String(log.reporter.as_str().into()),
        F::PoliciesEnforced => hits(&log.enforced_policies, format),
        F::PoliciesPending => hits(&log.pending_policies, format),
        F::BytesIn => log.bytes_in.into(),
        F::BytesOut => log.bytes_out.into(),
        F::PacketsIn => log.packets_in.into(),
        F::PacketsOut => log.packets_out.into(),
        F::NumFlows => log.num_flows.into(),
        F::NumFlowsStarted => log.num_flows_started.into(),
        F::NumFlowsCompleted => log.num_flows_completed.into(),
        F::ProcessName => text(log.process_name.as_deref()),
        F::ProcessId => log
            .process_id
            .map_or_else(|| Value::String("-".into()), Value::from),
        F::Host => text(log.host.as_deref()),
        F::RecordId => Value::Null,
    }
}

/// One flow log as a Calico flow-log JSON object: every field of
/// [`FlowField::flow_log_fields`] under its key, the policy traces inside `policies`.
pub fn calico_json(log: &FlowLog, format: PolicyHitFormat) -> Value {
    let mut map = Map::new();
    for field in FlowField::flow_log_fields() {
        let v = value(log, field, format);
        match field.record_member() {
            Some(member) => {
                let outer = map
                    .entry(field.record_key())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(outer) = outer {
                    outer.insert(member.into(), v);
                }
            }
            None => {
                map.insert(field.name().into(), v);
            }
        }
    }
    Value::Object(map)
}

/// The value of `field` in a flow log's [`calico_json`]: labels inside their `labels`
/// member, the traces inside `policies`.
pub fn json_value(calico: &Value, field: FlowField) -> &Value {
    match (field, field.record_member()) {
        (_, Some(member)) => &calico[field.record_key()][member],
        (FlowField::SourceLabels | FlowField::DestLabels, None) => &calico[field.name()]["labels"],
        _ => &calico[field.name()],
    }
}

/// Flow-log columns as CSV writes them: Calico's fields in order, under their names;
/// `source_labels`, `dest_labels` and the two policy traces are lists, joined with `;`.
pub fn csv_columns() -> impl Iterator<Item = &'static str> {
    FlowField::flow_log_fields().map(FlowField::name)
}

/// The CSV header line for flow logs (without the line break).
pub fn csv_header() -> String {
    csv_columns().collect::<Vec<_>>().join(",")
}

/// One flow log, given as its [`calico_json`], as a CSV line (without the line break).
pub fn csv_row(calico: &Value) -> String {
    FlowField::flow_log_fields()
        .map(|field| {
            csv_cell(&match json_value(calico, field) {
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

/// A CSV cell: quoted when it holds a comma, a quote or a line break, and defused when a
/// spreadsheet would read it as a formula (it starts with `=`, `+`, `-`, `@`, a tab or a
/// carriage return): a leading `'` makes it text. Numbers and Calico's lone `-` (absent) are
/// left as they are, as no formula hides in them.
pub fn csv_cell(text: &str) -> String {
    let formula = text.starts_with(['=', '+', '-', '@', '\t', '\r'])
        && text != "-"
        && text.parse::<f64>().is_err();
    let defused;
    let text = if formula {
        defused = format!("'{text}");
        defused.as_str()
    } else {
        text
    };
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
    fn csv_cells_that_a_spreadsheet_would_run_are_defused() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+cmd|' /C calc'!A0"), "'+cmd|' /C calc'!A0");
        assert_eq!(csv_cell("-2+3"), "'-2+3");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("\t=1"), "'\t=1");
        assert_eq!(csv_cell("\r=1"), "\"'\r=1\"");
        // Numbers, Calico's absent marker and plain text stay as they are.
        for plain in ["-1", "-", "+5", "frontend", "10.0.0.1", ""] {
            assert_eq!(csv_cell(plain), plain);
        }
    }

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
        let columns: Vec<&str> = csv_columns().collect();
        let at = |name: &str| columns.iter().position(|c| *c == name).unwrap();
        assert_eq!(cells[at("start_time")], "1");
        assert_eq!(cells[at("source_ip")], "");
        assert!(row.contains("\"app=web;tier=a,b\""), "{row}");
        assert!(
            row.contains("0|t|np:ns/p|allow|0;1|t|np:ns/q|deny|-1"),
            "{row}"
        );
        assert!(row.contains("\"say \"\"hi\"\"\""), "{row}");
        assert_eq!(csv_header().split(',').count(), columns.len());
        assert!(csv_header().contains(",enforced_policies,pending_policies,"));
    }

    /// Every flow-log field is found in the JSON the encoder writes, under its name or, for
    /// the traces, inside `policies`; the JSON holds no other key.
    #[test]
    fn every_field_is_where_json_value_looks() {
        let line = r#"{"start_time":1,"end_time":2,"source_ip":"10.0.0.1","source_name":"-","source_name_aggr":"client-*","source_namespace":"shop","source_port":null,"source_type":"wep","source_labels":{"labels":["app=client"]},"dest_ip":"10.0.1.1","dest_name":"-","dest_name_aggr":"api-*","dest_namespace":"shop","dest_port":8080,"dest_type":"wep","dest_labels":{"labels":["app=api"]},"dest_service_namespace":"shop","dest_service_name":"api","dest_service_port":"http","dest_service_port_num":80,"proto":"tcp","action":"allow","reporter":"dst","policies":{"enforced_policies":["0|default|np:shop/allow-api|allow|0"],"pending_policies":["0|default|np:shop/staged-x|deny|-1"]},"bytes_in":100,"bytes_out":200,"packets_in":1,"packets_out":2,"num_flows":1,"num_flows_started":1,"num_flows_completed":1,"process_name":"curl","process_id":7,"host":"node-1"}"#;
        let log = crate::decode::decode_calico(line).unwrap();
        let calico = calico_json(&log, PolicyHitFormat::Calico);
        let mut keys: Vec<&str> = FlowField::flow_log_fields()
            .map(|f| f.record_key())
            .collect();
        keys.dedup();
        let mut have: Vec<&str> = calico
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort_unstable();
        have.sort_unstable();
        assert_eq!(have, keys);
        for field in FlowField::flow_log_fields() {
            let v = json_value(&calico, field);
            assert!(
                !v.is_null() || field == FlowField::SourcePort,
                "{field}: {calico}"
            );
        }
        assert_eq!(
            json_value(&calico, FlowField::PoliciesPending)[0],
            "0|default|np:shop/staged-x|deny|-1"
        );
        assert_eq!(json_value(&calico, FlowField::DestLabels)[0], "app=api");
    }
}
