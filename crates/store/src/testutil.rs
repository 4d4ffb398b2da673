//! Small flow logs for tests: this crate's, and (with the `testutil` feature) other
//! backends' tests of the same [`Store`](crate::Store) answers.

use flowlens_model::{Action, EndpointType, FlowEnd, FlowLog, Protocol, Reporter};

pub fn sample_flow(i: u64, end_time: i64) -> FlowLog {
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

pub fn sample_flows(first: u64, n: u64, end_time: i64) -> Vec<FlowLog> {
    (first..first + n)
        .map(|i| sample_flow(i, end_time + i as i64))
        .collect()
}

/// Flow logs that differ from the first in one grouped column each, or only in the split
/// of the same label text into entries.
pub fn tuple_variants() -> Vec<FlowLog> {
    let base = sample_flow(0, 1_000);
    let mut out = vec![base.clone()];
    let mut vary = |f: &dyn Fn(&mut FlowLog)| {
        let mut log = base.clone();
        f(&mut log);
        out.push(log);
    };
    vary(&|l| l.source.ip = Some("10.0.0.1".parse().unwrap()));
    vary(&|l| l.dest.name = Some("app-0-abc".into()));
    vary(&|l| l.source.name_aggr = "other-*".into());
    vary(&|l| l.dest.namespace = None);
    vary(&|l| l.dest.port = None);
    vary(&|l| l.dest.port = Some(81));
    vary(&|l| l.source.endpoint_type = Some(EndpointType::Hep));
    vary(&|l| l.source.labels.clear());
    vary(&|l| {
        l.dest.labels = [("ab".to_string(), "cd=e".to_string())].into();
    });
    vary(&|l| {
        l.dest.labels = [
            ("ab".to_string(), "c".to_string()),
            ("d".to_string(), "e".to_string()),
        ]
        .into();
    });
    vary(&|l| l.proto = Protocol::Udp);
    vary(&|l| l.reporter = Reporter::Dst);
    vary(&|l| l.action = Action::Deny);
    out
}
