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
    map.insert("proto".into(), Value::String(log.proto.flow_log_name()));
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
