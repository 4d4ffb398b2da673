//! Helpers shared by the integration tests.

#![allow(dead_code)]

use flowlens_model::{
    Action, EndpointType, FlowEnd, FlowLog, FlowService, HitAction, Labels, PolicyHit, PolicyKind,
    Protocol, Reporter,
};
use flowlens_store::{EmbeddedOptions, EmbeddedStore, FlowSearch, Store, TimeRange};
use std::path::Path;

pub fn options() -> EmbeddedOptions {
    EmbeddedOptions {
        background_flush: false,
        ..EmbeddedOptions::default()
    }
}

/// A deterministic pseudo-random source (xorshift): each call gives a number below `n`.
pub fn random(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut x = seed;
    move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    }
}

pub fn open(dir: &Path) -> EmbeddedStore {
    EmbeddedStore::open(dir, options()).expect("open store")
}

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn end(ns: &str, app: &str, ip: &str, port: Option<u16>) -> FlowEnd {
    FlowEnd {
        ip: Some(ip.parse().unwrap()),
        name: Some(format!("{app}-abc-{}", ip.replace(['.', ':'], ""))),
        name_aggr: format!("{app}-abc-*"),
        namespace: Some(ns.to_string()),
        port,
        endpoint_type: Some(EndpointType::Wep),
        labels: labels(&[
            ("app", app),
            ("env", if ns == "prod" { "prod" } else { "dev" }),
        ]),
    }
}

pub fn hit(
    index: u32,
    tier: &str,
    ns: Option<&str>,
    name: &str,
    action: HitAction,
    rule: i32,
) -> PolicyHit {
    let kind = if ns.is_some() {
        PolicyKind::NetworkPolicy
    } else {
        PolicyKind::GlobalNetworkPolicy
    };
    PolicyHit {
        index,
        tier: tier.into(),
        kind: Some(kind),
        namespace: ns.map(str::to_string),
        name: name.into(),
        action,
        rule,
    }
}

/// A flow from `src` (namespace, app) to `dst` at `end_time`, with `num_flows` connections.
pub fn flow(
    src: (&str, &str),
    dst: (&str, &str),
    action: Action,
    end_time: i64,
    num_flows: u64,
) -> FlowLog {
    let final_hit = match action {
        Action::Allow => hit(
            0,
            "default",
            Some(dst.0),
            &format!("allow-{}", dst.1),
            HitAction::Allow,
            0,
        ),
        Action::Deny => hit(
            0,
            "default",
            Some(dst.0),
            "default-deny",
            HitAction::Deny,
            -1,
        ),
    };
    FlowLog {
        start_time: end_time - 10,
        end_time,
        source: end(src.0, src.1, "10.0.0.1", Some(40000)),
        dest: end(dst.0, dst.1, "10.0.1.1", Some(8080)),
        dest_service: Some(FlowService {
            namespace: dst.0.into(),
            name: dst.1.into(),
            port_name: "http".into(),
            port_num: 80,
        }),
        proto: Protocol::Tcp,
        action,
        reporter: Reporter::Dst,
        enforced_policies: vec![final_hit],
        pending_policies: Vec::new(),
        bytes_in: 1000 * num_flows,
        bytes_out: 2000 * num_flows,
        packets_in: 10 * num_flows,
        packets_out: 20 * num_flows,
        num_flows,
        num_flows_started: num_flows,
        num_flows_completed: num_flows,
        process_name: None,
        process_id: None,
        host: Some("node-1".into()),
    }
}

/// Every stored flow, in insertion order.
pub async fn all_flows(store: &dyn Store) -> Vec<FlowLog> {
    let mut out = Vec::new();
    let mut query = FlowSearch::new(TimeRange::all())
        .sorted_by(flowlens_store::SortKey::asc(
            flowlens_model::FlowField::RecordId,
        ))
        .limit(flowlens_store::MAX_LIMIT);
    loop {
        let page = store.query_flows(&query).await.expect("query");
        out.extend(page.flows);
        match page.next_page_token {
            Some(token) => query.page_token = Some(token),
            None => return out,
        }
    }
}
