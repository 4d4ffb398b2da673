//! Small flow logs for unit tests.

use flowlens_model::{Action, EndpointType, FlowEnd, FlowLog, Protocol, Reporter};

pub(crate) fn sample_flow(i: u64, end_time: i64) -> FlowLog {
    let end = |ns: &str| FlowEnd {
        ip: None,
        name: None,
        name_aggr: format!("app-{}-*", i % 3),
        namespace: Some(ns.to_string()),
        port: Some(80),
        endpoint_type: Some(EndpointType::Wep),
        labels: [("app".to_string(), format!("app-{}", i % 3))].into(),
    };
    FlowLog {
        start_time: end_time - 10,
        end_time,
        source: end("src"),
        dest: end("dst"),
        dest_service: None,
        proto: Protocol::Tcp,
        action: Action::Allow,
        reporter: Reporter::Src,
        enforced_policies: Vec::new(),
        pending_policies: Vec::new(),
        bytes_in: i,
        bytes_out: i,
        packets_in: 1,
        packets_out: 1,
        num_flows: 1,
        num_flows_started: 1,
        num_flows_completed: 1,
        process_name: None,
        process_id: Some(i as i64),
        host: None,
    }
}

pub(crate) fn sample_flows(first: u64, n: u64, end_time: i64) -> Vec<FlowLog> {
    (first..first + n)
        .map(|i| sample_flow(i, end_time + i as i64))
        .collect()
}
