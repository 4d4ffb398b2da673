//! `flowlens serve --kube` against a fake Kubernetes API server started by the test: the
//! inventory follows pod churn and policy edits, survives a dropped watch and a 410, and
//! flows streamed in (from a Hubble stand-in) are stored with the pod that held the address
//! at the flow's time and the verdict of the policies then in force — late flows included.

mod common;

use common::{eventually, http_get, sigterm};
use flowlens_kube::testing::{FakeApiServer, objects};
use flowlens_sources::proto::flow as hubble;
use flowlens_sources::proto::observer::observer_server::{Observer, ObserverServer};
use flowlens_sources::proto::observer::{GetFlowsRequest, GetFlowsResponse, get_flows_response};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

type Streams = Arc<Mutex<Vec<tokio::sync::mpsc::Sender<Result<GetFlowsResponse, Status>>>>>;

/// A Hubble relay stand-in whose flows the test sends when it chooses.
#[derive(Clone, Default)]
struct Relay {
    streams: Streams,
}

#[tonic::async_trait]
impl Observer for Relay {
    type GetFlowsStream = ReceiverStream<Result<GetFlowsResponse, Status>>;

    async fn get_flows(
        &self,
        _request: Request<GetFlowsRequest>,
    ) -> Result<Response<Self::GetFlowsStream>, Status> {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        self.streams.lock().unwrap().push(tx);
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

impl Relay {
    fn connected(&self) -> bool {
        self.streams.lock().unwrap().iter().any(|s| !s.is_closed())
    }

    /// Sends one TCP connection from `src` to `dst:8080` at `time`, seen by the destination.
    fn send(&self, seq: u32, time: i64, src: &str, dst: &str) {
        let ts = prost_types::Timestamp {
            seconds: time,
            nanos: 0,
        };
        // Addresses only: who they belong to is the server's to find out.
        let flow = hubble::Flow {
            time: Some(ts),
            uuid: format!("5e3a1c00-0000-4000-8000-{seq:012}"),
            verdict: hubble::Verdict::Forwarded as i32,
            ip: Some(hubble::Ip {
                source: src.into(),
                destination: dst.into(),
                ip_version: hubble::IpVersion::IPv4 as i32,
                ..Default::default()
            }),
            l4: Some(hubble::Layer4 {
                protocol: Some(hubble::layer4::Protocol::Tcp(hubble::Tcp {
                    source_port: 40_000 + seq,
                    destination_port: 8080,
                    flags: Some(hubble::TcpFlags {
                        syn: true,
                        ..Default::default()
                    }),
                })),
            }),
            r#type: hubble::FlowType::L3L4 as i32,
            node_name: "kind/worker".into(),
            traffic_direction: hubble::TrafficDirection::Ingress as i32,
            is_reply: Some(false),
            ..Default::default()
        };
        let event = GetFlowsResponse {
            node_name: "kind/worker".into(),
            time: Some(ts),
            response_types: Some(get_flows_response::ResponseTypes::Flow(flow)),
        };
        for stream in self.streams.lock().unwrap().iter() {
            let _ = stream.blocking_send(Ok(event.clone()));
        }
    }
}

fn start_relay(runtime: &tokio::runtime::Runtime, relay: Relay) -> String {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = listener.local_addr().unwrap().to_string();
    runtime.spawn(async move {
        tonic::transport::Server::builder()
            .serve_with_incoming(
                ObserverServer::new(relay),
                tonic::transport::server::TcpIncoming::from(listener),
            )
            .await
            .unwrap();
    });
    address
}

fn stored_flows(data: &Path) -> Vec<Value> {
    let out = Command::new(assert_cmd::cargo::cargo_bin("flowlens"))
        .args([
            "flows", "--output", "json", "--limit", "1000", "--since", "1h",
        ])
        .arg("--data")
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    match serde_json::from_slice(&out.stdout).unwrap() {
        Value::Array(rows) => rows,
        other => other["flows"].as_array().cloned().unwrap_or_default(),
    }
}

/// Waits until the served inventory has a pod `name` at `ip` (or, with `None`, none named
/// `name`).
fn wait_for_pod(api: &str, name: &str, ip: Option<&str>) {
    eventually(
        api,
        "/api/inventory",
        &format!("pod {name} at {ip:?}"),
        |v| {
            let found = v["endpoints"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == name)
                .cloned();
            match (found, ip) {
                (Some(e), Some(ip)) => e["ips"].as_array().unwrap().iter().any(|i| i == ip),
                (None, None) => true,
                _ => false,
            }
        },
    );
}

/// The flows from the client as their destination logged them: (second, dest name, action).
fn to_web(flows: &[Value]) -> Vec<(i64, String, String)> {
    let mut out: Vec<(i64, String, String)> = flows
        .iter()
        .filter(|f| f["reporter"] == "dst" && f["source_name_aggr"] == "client")
        .map(|f| {
            (
                f["start_time"].as_i64().unwrap(),
                f["dest_name_aggr"].as_str().unwrap().to_string(),
                f["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn serve_follows_a_cluster_and_attributes_flows_with_the_pod_and_policies_of_their_time() {
    let runtime = runtime();
    let fake = runtime.block_on(FakeApiServer::start());
    fake.apply(objects::namespace("shop", &[]));
    fake.apply(objects::pod(
        "shop",
        "client",
        &[("app", "client")],
        &["10.0.0.10"],
    ));
    fake.apply(objects::pod(
        "shop",
        "alpha",
        &[("app", "web")],
        &["10.0.0.20"],
    ));
    fake.apply(objects::kubernetes_policy("shop", "web", "web", "client"));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, fake.kubeconfig("fake")).unwrap();
    let relay = Relay::default();
    let relay_address = start_relay(&runtime, relay.clone());
    let data = dir.path().join("data");
    let source = format!("hubble://{relay_address}");
    let served = common::serve(
        &data,
        &[
            "--no-auth",
            "--kube",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--context",
            "fake",
            "--source",
            &source,
            "--interval",
            "1s",
        ],
    );
    let api = served.addr.clone();

    // Connected and listed: the API says which cluster, and health stops saying "syncing".
    let cluster = eventually(&api, "/api/cluster", "the first listing", |v| {
        v["ready"] == true
    });
    assert_eq!(cluster["mode"], "cluster", "{cluster}");
    assert_eq!(cluster["context"], "fake", "{cluster}");
    assert_eq!(cluster["cluster"], "fake-cluster", "{cluster}");
    assert_eq!(cluster["synced"], true, "{cluster}");
    assert!(
        cluster["server"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    let pods = cluster["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["resource"] == "pods")
        .cloned()
        .unwrap();
    assert_eq!(pods["state"], "watching", "{pods}");
    assert_eq!(pods["objects"], 2, "{pods}");
    let (_, health) = http_get(&api, "/api/health");
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["mode"], "cluster", "{health}");
    wait_for_pod(&api, "alpha", Some("10.0.0.20"));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !relay.connected() {
        assert!(
            std::time::Instant::now() < deadline,
            "the Hubble source never connected"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Phase 1: alpha holds 10.0.0.20; the policy admits the client.
    let t_alpha = now();
    relay.send(1, t_alpha, "10.0.0.10", "10.0.0.20");
    std::thread::sleep(Duration::from_millis(1_100));

    // alpha goes, bravo gets its address.
    fake.delete("v1", "Pod", Some("shop"), "alpha");
    fake.apply(objects::pod(
        "shop",
        "bravo",
        &[("app", "web")],
        &["10.0.0.20"],
    ));
    wait_for_pod(&api, "bravo", Some("10.0.0.20"));
    wait_for_pod(&api, "alpha", None);
    std::thread::sleep(Duration::from_millis(1_100));
    let t_bravo = now();
    relay.send(2, t_bravo, "10.0.0.10", "10.0.0.20");
    // A flow of alpha's time that arrives only now still names alpha.
    relay.send(3, t_alpha, "10.0.0.10", "10.0.0.20");
    std::thread::sleep(Duration::from_millis(1_100));

    // The watch loses its connection, then its place (410 Gone): it lists again and
    // keeps following.
    fake.drop_watches();
    fake.apply(objects::pod(
        "shop",
        "charlie",
        &[("app", "other")],
        &["10.0.0.30"],
    ));
    wait_for_pod(&api, "charlie", Some("10.0.0.30"));
    fake.compact();
    fake.expire_watches();
    fake.apply(objects::pod(
        "shop",
        "delta",
        &[("app", "other")],
        &["10.0.0.40"],
    ));
    wait_for_pod(&api, "delta", Some("10.0.0.40"));
    let cluster = eventually(&api, "/api/cluster", "a second listing of pods", |v| {
        v["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["resource"] == "pods" && k["listings"].as_u64() >= Some(2))
    });
    assert_eq!(cluster["synced"], true, "{cluster}");

    // The policy is edited in the cluster: it now admits only app=other.
    let before_edit = now();
    std::thread::sleep(Duration::from_millis(1_100));
    fake.apply(objects::kubernetes_policy("shop", "web", "web", "other"));
    eventually(
        &api,
        "/api/policy?id=knp:shop/web",
        "the edited policy",
        |v| v["yaml"].as_str().is_some_and(|y| y.contains("other")),
    );
    std::thread::sleep(Duration::from_millis(1_100));
    let t_denied = now();
    relay.send(4, t_denied, "10.0.0.10", "10.0.0.20");
    // Late, from before the edit: allowed as it was then.
    relay.send(5, before_edit, "10.0.0.10", "10.0.0.20");

    // Wait for the last flows to be stored (buckets of a second close as the clock moves).
    eventually(
        &api,
        "/api/flows?since=1h&filter=reporter%3Ddst&filter=action%3Ddeny",
        "the denied flow",
        |v| v["total"].as_u64() >= Some(1),
    );
    std::thread::sleep(Duration::from_millis(1_500));
    sigterm(&served.child);
    let mut child = served.child;
    assert!(child.wait().unwrap().success());

    let flows = stored_flows(&data);
    let seen = to_web(&flows);
    let expect = [
        (t_alpha, "alpha", "allow"),
        (t_bravo, "bravo", "allow"),
        (before_edit, "bravo", "allow"),
        (t_denied, "bravo", "deny"),
    ];
    for (t, pod, action) in expect {
        assert!(
            seen.iter()
                .any(|(s, p, a)| *s == t && p == pod && a == action),
            "no flow at {t} to {pod} ({action}) in {seen:?}"
        );
    }
    // Both flows of alpha's second (the live one and the late one) name alpha.
    assert!(
        !seen.iter().any(|(s, p, _)| *s == t_alpha && p != "alpha"),
        "{seen:?}"
    );
    assert!(
        !seen.iter().any(|(s, p, _)| *s > t_alpha && p == "alpha"),
        "{seen:?}"
    );
    drop(fake);
}

/// `audit --kube` and `recommend --kube` list the cluster once and answer as they do for a
/// snapshot of the same objects.
#[test]
fn audit_and_recommend_read_a_cluster_as_they_read_its_snapshot() {
    let runtime = runtime();
    let fake = runtime.block_on(FakeApiServer::start());
    let cluster = [
        objects::namespace("shop", &[]),
        objects::pod("shop", "client", &[("app", "client")], &["10.0.0.10"]),
        objects::pod("shop", "web", &[("app", "web")], &["10.0.0.20"]),
        objects::pod("shop", "other", &[("app", "other")], &["10.0.0.30"]),
        objects::kubernetes_policy("shop", "web", "web", "client"),
    ];
    let dir = tempfile::tempdir().unwrap();
    // The same objects as a snapshot (JSON documents are YAML).
    let snapshot = dir.path().join("cluster.yaml");
    let documents: Vec<String> = cluster.iter().map(Value::to_string).collect();
    std::fs::write(&snapshot, documents.join("\n---\n")).unwrap();
    for o in cluster {
        fake.apply(o);
    }
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, fake.kubeconfig("fake")).unwrap();
    let data = dir.path().join("data");

    let run = |command: &str, source: &[&str]| -> Value {
        let out = Command::new(assert_cmd::cargo::cargo_bin("flowlens"))
            .arg(command)
            .arg("--data")
            .arg(&data)
            .args(source)
            .args(["--output", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{command} {source:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let kube = [
        "--kube",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--context",
        "fake",
    ];
    let from_snapshot = ["--snapshot", snapshot.to_str().unwrap()];

    let listed = run("audit", &kube);
    let read = run("audit", &from_snapshot);
    assert_eq!(listed["workloads"], read["workloads"]);
    assert_eq!(listed["cells"], read["cells"]);
    let workloads = listed["workloads"].as_array().unwrap();
    assert_eq!(workloads.len(), 3, "{listed}");
    let index = |name: &str| workloads.iter().position(|w| w["name"] == name).unwrap();
    let cell = |s: &str, d: &str| {
        listed["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["source"] == index(s) && c["dest"] == index(d))
            .cloned()
            .unwrap()
    };
    // Nothing stored: what the policy admits is allowed and unused, the rest of web denied.
    assert_eq!(
        cell("client", "web")["status"],
        "allowed_unused",
        "{listed}"
    );
    assert_eq!(
        cell("other", "web")["allowed"],
        "No Connections",
        "{listed}"
    );

    let listed = run("recommend", &kube);
    let read = run("recommend", &from_snapshot);
    assert_eq!(listed, read);
}
