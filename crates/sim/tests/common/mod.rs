//! Helpers shared by the integration tests.
#![allow(dead_code)]

use flowlens_model::RawFlow;
use flowlens_policy::{Action, Engine, FiveTuple};
use flowlens_sim::Scenario;

pub const START: i64 = 1_700_000_000;

pub fn builtin(name: &str) -> Scenario {
    Scenario::builtin(name).unwrap_or_else(|e| panic!("built-in scenario {name}: {e}"))
}

/// What the policy engine says about a raw record, the way the pipeline will ask: the
/// destination after service DNAT, then the 5-tuple.
pub fn verdict(engine: &Engine, f: &RawFlow) -> Action {
    let (dst, dst_port) =
        match engine.service_target(f.dst_ip, f.dst_port, f.proto, u64::from(f.src_port)) {
            Some(t) => (t.endpoint_ip, t.target_port),
            None => (f.dst_ip, f.dst_port),
        };
    let query = FiveTuple {
        src: f.src_ip,
        dst,
        protocol: f.proto,
        src_port: f.src_port,
        dst_port,
        icmp: None,
    };
    engine.evaluate(&query).action
}

/// The address of a workload's first pod.
pub fn pod_ip(scenario: &Scenario, namespace: &str, workload: &str) -> std::net::IpAddr {
    scenario
        .inventory()
        .endpoints
        .iter()
        .find(|e| {
            e.namespace.as_deref() == Some(namespace)
                && e.workload.as_ref().is_some_and(|w| w.name == workload)
        })
        .and_then(|e| e.ips.first().copied())
        .unwrap_or_else(|| panic!("no pod of {namespace}/{workload}"))
}

/// All pod addresses of a workload.
pub fn pod_ips(scenario: &Scenario, namespace: &str, workload: &str) -> Vec<std::net::IpAddr> {
    scenario
        .inventory()
        .endpoints
        .iter()
        .filter(|e| {
            e.namespace.as_deref() == Some(namespace)
                && e.workload.as_ref().is_some_and(|w| w.name == workload)
        })
        .filter_map(|e| e.ips.first().copied())
        .collect()
}

pub fn service_ip(scenario: &Scenario, namespace: &str, name: &str) -> std::net::IpAddr {
    scenario
        .inventory()
        .services
        .iter()
        .find(|s| s.namespace == namespace && s.name == name)
        .and_then(|s| s.cluster_ips.first().copied())
        .unwrap_or_else(|| panic!("no service {namespace}/{name}"))
}

/// An in-memory scenario from (path, text) pairs.
pub fn from_files(files: &[(&str, &str)]) -> flowlens_sim::Result<Scenario> {
    Scenario::from_files(
        "mem",
        files.iter().map(|(p, t)| (p.to_string(), t.to_string())),
    )
}

pub const DEMO_MANIFESTS: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx
          ports:
            - {name: http, containerPort: 8080}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: demo
spec:
  replicas: 2
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
        - name: api
          image: api
          ports:
            - {name: grpc, containerPort: 9090}
---
apiVersion: v1
kind: Service
metadata:
  name: api
  namespace: demo
spec:
  selector: {app: api}
  ports:
    - {name: grpc, port: 9090, targetPort: grpc}
"#;
