//! Live sources through the binary: `--source` URLs on `flowlens ingest` and `flowlens
//! serve`, fed by a real IPFIX exporter (softflowd in network namespaces), a Goldmane and a
//! Hubble server built from the same protobuf definitions, and queried through the store
//! and the API.

mod common;
#[path = "../../sources/tests/netns/mod.rs"]
mod netns;

use common::{eventually, sigterm};

use flowlens_sources::proto::flow as hubble;
use flowlens_sources::proto::goldmane;
use flowlens_sources::proto::observer::observer_server::{Observer, ObserverServer};
use flowlens_sources::proto::observer::{GetFlowsRequest, GetFlowsResponse, get_flows_response};
use goldmane::flows_server::{Flows, FlowsServer};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("flowlens")
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn malformed_source_urls_are_refused_with_what_was_expected() {
    let data = tempfile::tempdir().unwrap();
    for (url, says) in [
        ("kafka://broker:9092", "unknown scheme \"kafka\""),
        ("goldmane://goldmane", "no port"),
        (
            "ipfix://collector.example:4739",
            "expected ADDR:PORT to listen on",
        ),
        ("goldmane", "not a source URL"),
    ] {
        for command in ["ingest", "serve"] {
            let out = Command::new(bin())
                .args([command, "--data"])
                .arg(data.path())
                .args(["--source", url])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{command} {url}");
            assert!(
                stderr.contains(&format!("--source {url}")) && stderr.contains(says),
                "{command} {url}: {stderr}"
            );
        }
    }
    // A missing certificate is named before anything runs.
    let out = Command::new(bin())
        .args(["ingest", "--data"])
        .arg(data.path())
        .args([
            "--source",
            "goldmane://127.0.0.1:7443",
            "--ca",
            "/nonexistent/ca.pem",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/nonexistent/ca.pem"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The client and server pods of the netns test at their addresses, and a policy that lets
/// the client reach the server over TCP only.
fn netns_snapshot(dir: &Path) {
    std::fs::write(
        dir.join("cluster.yaml"),
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: Pod
metadata:
  name: client
  namespace: shop
  labels:
    app: client
status:
  podIP: 10.199.0.1
---
apiVersion: v1
kind: Pod
metadata:
  name: server
  namespace: shop
  labels:
    app: server
status:
  podIP: 10.199.0.2
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: server-tcp-only
  namespace: shop
spec:
  podSelector:
    matchLabels:
      app: server
  policyTypes: [Ingress]
  ingress:
    - from:
        - podSelector:
            matchLabels:
              app: client
      ports:
        - protocol: TCP
"#,
    )
    .unwrap();
}

/// Reads standard error until a line starts with `prefix`; returns the rest of that line.
fn wait_for_line(stderr: &mut impl BufRead, prefix: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "the command ended before printing {prefix:?}"
        );
        if let Some(rest) = line.trim().strip_prefix(prefix) {
            return rest.to_string();
        }
    }
}

fn stored_flows(data: &Path) -> Vec<Value> {
    let out = Command::new(bin())
        // Aggregates end with their time bucket, which may be after the wall clock when the
        // flows are read: `--since` counts back from the newest stored one.
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
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    match v {
        Value::Array(rows) => rows,
        other => other["flows"].as_array().cloned().unwrap_or_default(),
    }
}

/// softflowd exports IPFIX to `flowlens ingest --source ipfix://…` inside the namespace;
/// the stored flow logs carry the addresses, ports and byte counts, and the engine's verdict
/// for the snapshot's pods at those addresses.
#[test]
fn softflowd_ipfix_into_ingest_is_attributed_by_the_engine() {
    use netns::{Pair, SERVER, Softflowd, TCP_BYTES, can_run, make_traffic};
    if !can_run("softflowd_ipfix_into_ingest_is_attributed_by_the_engine") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let snapshot = tempfile::tempdir().unwrap();
    netns_snapshot(snapshot.path());
    let pair = Pair::new("cli");
    let mut ingest = Command::new("ip")
        .args(["netns", "exec", &pair.client])
        .arg(bin())
        .args([
            "ingest",
            "--quiet",
            "--allowed-level",
            "0",
            "--denied-level",
            "0",
        ])
        .arg("--data")
        .arg(data.path())
        .arg("--snapshot")
        .arg(snapshot.path())
        .args(["--source", "ipfix://127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(ingest.stderr.take().unwrap());
    let bound = wait_for_line(&mut stderr, "listening on ipfix://");
    let collector: std::net::SocketAddr = bound.parse().unwrap();
    let filler = Pair::inside(&pair.server, || {
        std::net::UdpSocket::bind((SERVER, 0)).unwrap()
    });
    let filler_port = filler.local_addr().unwrap().port();
    let softflowd = Softflowd::start(&pair, "10", collector);
    let traffic = make_traffic(&pair);
    // `expire-all` exports before it answers; the datagrams are then in the receiver's
    // socket, and stopping stores what the receiver has read.
    softflowd.flush(&pair, filler_port);
    drop(softflowd);
    netns::wait_until_read(&pair.client, collector.port());
    sigterm(&ingest);
    let mut out = String::new();
    ingest
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    stderr.read_to_string(&mut err).unwrap();
    let status = ingest.wait().unwrap();
    assert!(status.success(), "{out}\n{err}");
    assert!(out.contains("ipfix://127.0.0.1:"), "{out}");

    let flows = stored_flows(data.path());
    let find = |proto: &str, port: u16| {
        flows
            .iter()
            .find(|f| f["proto"] == proto && f["dest_port"] == port && f["reporter"] == "dst")
            .unwrap_or_else(|| panic!("no {proto} flow to port {port} in {flows:#?}\n{out}"))
    };
    let tcp = find("tcp", traffic.tcp_server);
    assert_eq!(tcp["source_ip"], "10.199.0.1", "{tcp}");
    assert_eq!(tcp["dest_ip"], "10.199.0.2", "{tcp}");
    assert_eq!(tcp["source_port"], traffic.tcp_client, "{tcp}");
    assert_eq!(tcp["dest_name"], "server", "{tcp}");
    assert_eq!(tcp["action"], "allow", "{tcp}");
    // The destination's record: what it received is its bytes_in.
    let bytes = tcp["bytes_in"].as_u64().unwrap();
    assert!(
        (TCP_BYTES as u64..TCP_BYTES as u64 + 2_000).contains(&bytes),
        "{tcp}"
    );
    assert_eq!(
        tcp["policies"]["enforced_policies"][0], "0|default|knp:shop/server-tcp-only|allow|0",
        "{tcp}"
    );
    let udp = find("udp", traffic.udp_server);
    assert_eq!(udp["action"], "deny", "{udp}");
    assert_eq!(
        udp["policies"]["enforced_policies"][0], "0|default|knp:shop/server-tcp-only|deny|-1",
        "{udp}"
    );
    assert_eq!(
        udp["bytes_in"].as_u64(),
        Some((netns::UDP_DATAGRAMS * (netns::UDP_PAYLOAD + 28)) as u64),
        "{udp}"
    );
}

/// `flowlens serve --no-auth` with `args` (the sources are under test here, not
/// authentication); the process and its API address.
fn serve(data: &Path, args: &[&str]) -> (Child, String) {
    let served = common::serve(data, &[&["--no-auth"], args].concat());
    (served.child, served.addr)
}

/// A Goldmane stand-in: `List` answers with its flows, `Stream` stays open.
struct FakeGoldmane {
    flows: Vec<goldmane::Flow>,
}

#[tonic::async_trait]
impl Flows for FakeGoldmane {
    async fn list(
        &self,
        _request: Request<goldmane::FlowListRequest>,
    ) -> Result<Response<goldmane::FlowListResult>, Status> {
        Ok(Response::new(goldmane::FlowListResult {
            meta: Some(goldmane::ListMetadata {
                total_pages: 1,
                total_results: self.flows.len() as i64,
            }),
            flows: self
                .flows
                .iter()
                .enumerate()
                .map(|(i, f)| goldmane::FlowResult {
                    id: i as i64,
                    flow: Some(f.clone()),
                })
                .collect(),
        }))
    }

    type StreamStream = ReceiverStream<Result<goldmane::FlowResult, Status>>;

    async fn stream(
        &self,
        _request: Request<goldmane::FlowStreamRequest>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        // Open until the client goes away.
        tokio::spawn(async move { tx.closed().await });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

fn goldmane_flow(start: i64, i: i64) -> goldmane::Flow {
    let hit = goldmane::PolicyHit {
        kind: goldmane::PolicyKind::CalicoNetworkPolicy as i32,
        namespace: "shop".into(),
        name: "allow-frontend".into(),
        tier: "default".into(),
        action: goldmane::Action::Allow as i32,
        policy_index: 0,
        rule_index: 0,
        ..Default::default()
    };
    goldmane::Flow {
        key: Some(goldmane::FlowKey {
            source_name: "frontend-*".into(),
            source_namespace: "shop".into(),
            source_type: goldmane::EndpointType::WorkloadEndpoint as i32,
            dest_name: "cart-*".into(),
            dest_namespace: "shop".into(),
            dest_type: goldmane::EndpointType::WorkloadEndpoint as i32,
            dest_port: 8080,
            proto: "tcp".into(),
            reporter: goldmane::Reporter::Dst as i32,
            action: goldmane::Action::Allow as i32,
            policies: Some(goldmane::PolicyTrace {
                enforced_policies: vec![hit.clone()],
                pending_policies: vec![hit],
            }),
            ..Default::default()
        }),
        start_time: start,
        end_time: start + 15,
        source_labels: vec!["app=frontend".into()],
        dest_labels: vec!["app=cart".into()],
        packets_in: 10,
        packets_out: 12,
        bytes_in: 1_000 + i,
        bytes_out: 2_000,
        num_connections_started: 1,
        num_connections_completed: 1,
        num_connections_live: 0,
    }
}

/// Starts `server` on a loopback port on a runtime of its own; returns its address.
fn spawn_grpc<F>(make: impl FnOnce(tokio::net::TcpListener) -> F + Send + 'static) -> String
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().to_string()).unwrap();
            make(listener).await
        });
    });
    rx.recv().unwrap()
}

#[test]
fn goldmane_flows_reach_the_api_through_serve() {
    let start = (now() / 15) * 15 - 120;
    let flows: Vec<goldmane::Flow> = (0..6).map(|i| goldmane_flow(start + i * 15, i)).collect();
    let address = spawn_grpc(move |listener| async move {
        tonic::transport::Server::builder()
            .serve_with_incoming_shutdown(
                FlowsServer::new(FakeGoldmane { flows }),
                tonic::transport::server::TcpIncoming::from(listener),
                std::future::pending::<()>(),
            )
            .await
            .unwrap();
    });
    let data = tempfile::tempdir().unwrap();
    let url = format!("goldmane://{address}");
    let (mut child, api) = serve(data.path(), &["--source", &url]);
    let answer = eventually(&api, "/api/flows?since=1h", "Goldmane's six flows", |v| {
        v["total"] == 6
    });
    let flow = &answer["flows"][0];
    assert_eq!(flow["source_name_aggr"], "frontend-*", "{flow}");
    assert_eq!(flow["dest_namespace"], "shop", "{flow}");
    assert!(
        flow.to_string()
            .contains("0|default|np:shop/allow-frontend|allow|0")
            || flow.to_string().contains("allow-frontend"),
        "{flow}"
    );
    sigterm(&child);
    assert!(child.wait().unwrap().success());
}

/// A Hubble stand-in: every `GetFlows` gets `events`, then stays open.
struct FakeHubble {
    events: Vec<GetFlowsResponse>,
}

#[tonic::async_trait]
impl Observer for FakeHubble {
    type GetFlowsStream = ReceiverStream<Result<GetFlowsResponse, Status>>;

    async fn get_flows(
        &self,
        _request: Request<GetFlowsRequest>,
    ) -> Result<Response<Self::GetFlowsStream>, Status> {
        let (tx, rx) = tokio::sync::mpsc::channel(self.events.len() + 1);
        for e in &self.events {
            let _ = tx.send(Ok(e.clone())).await;
        }
        tokio::spawn(async move { tx.closed().await });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

fn hubble_endpoint(pod: &str, labels: &[&str]) -> hubble::Endpoint {
    let mut labels: Vec<String> = labels.iter().map(|l| format!("k8s:{l}")).collect();
    labels.push("k8s:io.kubernetes.pod.namespace=default".into());
    hubble::Endpoint {
        namespace: "default".into(),
        labels,
        pod_name: pod.into(),
        ..Default::default()
    }
}

/// One packet event: `from` opens a connection to `to` on port 80, seen at `to`.
fn hubble_event(
    seq: u32,
    time: i64,
    from: (&str, &str, &[&str]),
    to: (&str, &str, &[&str]),
    verdict: hubble::Verdict,
) -> GetFlowsResponse {
    let time = prost_types::Timestamp {
        seconds: time,
        nanos: seq as i32 * 1000,
    };
    let flow = hubble::Flow {
        time: Some(time),
        uuid: format!("7c1d2e3f-0000-4000-8000-{seq:012}"),
        verdict: verdict as i32,
        ip: Some(hubble::Ip {
            source: from.1.into(),
            destination: to.1.into(),
            ip_version: hubble::IpVersion::IPv4 as i32,
            ..Default::default()
        }),
        l4: Some(hubble::Layer4 {
            protocol: Some(hubble::layer4::Protocol::Tcp(hubble::Tcp {
                source_port: 40_000 + seq,
                destination_port: 80,
                flags: Some(hubble::TcpFlags {
                    syn: true,
                    ..Default::default()
                }),
            })),
        }),
        source: Some(hubble_endpoint(from.0, from.2)),
        destination: Some(hubble_endpoint(to.0, to.2)),
        r#type: hubble::FlowType::L3L4 as i32,
        node_name: "kind-kind/kind-worker".into(),
        traffic_direction: hubble::TrafficDirection::Ingress as i32,
        drop_reason_desc: if verdict == hubble::Verdict::Dropped {
            hubble::DropReason::PolicyDenied as i32
        } else {
            0
        },
        is_reply: Some(false),
        ..Default::default()
    };
    GetFlowsResponse {
        node_name: "kind-kind/kind-worker".into(),
        time: Some(time),
        response_types: Some(get_flows_response::ResponseTypes::Flow(flow)),
    }
}

fn starwars_snapshot(dir: &Path) {
    std::fs::write(
        dir.join("starwars.yaml"),
        r#"apiVersion: v1
kind: Pod
metadata:
  name: deathstar-6fb5694d48-5hmds
  namespace: default
  labels: {class: deathstar, org: empire}
status:
  podIP: 10.0.0.32
---
apiVersion: v1
kind: Pod
metadata:
  name: tiefighter
  namespace: default
  labels: {class: tiefighter, org: empire}
status:
  podIP: 10.0.0.207
---
apiVersion: v1
kind: Pod
metadata:
  name: xwing
  namespace: default
  labels: {class: xwing, org: alliance}
status:
  podIP: 10.0.0.162
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: empire-only
  namespace: default
spec:
  podSelector:
    matchLabels: {class: deathstar}
  policyTypes: [Ingress]
  ingress:
    - from:
        - podSelector:
            matchLabels: {org: empire}
      ports:
        - protocol: TCP
          port: 80
"#,
    )
    .unwrap();
}

#[test]
fn hubble_flows_are_attributed_by_the_engine_through_serve() {
    let t = now();
    let deathstar = (
        "deathstar-6fb5694d48-5hmds",
        "10.0.0.32",
        &["class=deathstar", "org=empire"][..],
    );
    let tiefighter = (
        "tiefighter",
        "10.0.0.207",
        &["class=tiefighter", "org=empire"][..],
    );
    let xwing = ("xwing", "10.0.0.162", &["class=xwing", "org=alliance"][..]);
    let events = vec![
        hubble_event(1, t - 3, tiefighter, deathstar, hubble::Verdict::Forwarded),
        hubble_event(2, t - 2, xwing, deathstar, hubble::Verdict::Dropped),
    ];
    let address = spawn_grpc(move |listener| async move {
        tonic::transport::Server::builder()
            .serve_with_incoming_shutdown(
                ObserverServer::new(FakeHubble { events }),
                tonic::transport::server::TcpIncoming::from(listener),
                std::future::pending::<()>(),
            )
            .await
            .unwrap();
    });
    let data = tempfile::tempdir().unwrap();
    let snapshot = tempfile::tempdir().unwrap();
    starwars_snapshot(snapshot.path());
    let url = format!("hubble://{address}");
    let (mut child, api) = serve(
        data.path(),
        &[
            "--source",
            &url,
            "--snapshot",
            snapshot.path().to_str().unwrap(),
            "--interval",
            "1s",
        ],
    );
    let answer = eventually(
        &api,
        "/api/flows?since=1h&filter=reporter%3Ddst",
        "both Hubble flows attributed",
        |v| v["total"].as_u64() >= Some(2),
    );
    let flows = answer["flows"].as_array().unwrap();
    let to_deathstar = |name: &str| {
        flows
            .iter()
            .find(|f| f["source_name_aggr"] == name || f["source_name"] == name)
            .unwrap_or_else(|| panic!("no flow from {name}: {answer}"))
    };
    let allowed = to_deathstar("tiefighter");
    assert_eq!(allowed["action"], "allow", "{allowed}");
    assert!(allowed.to_string().contains("empire-only"), "{allowed}");
    let denied = to_deathstar("xwing");
    assert_eq!(denied["action"], "deny", "{denied}");
    assert_eq!(denied["dest_port"], 80, "{denied}");
    sigterm(&child);
    assert!(child.wait().unwrap().success());
}

/// `hubble observe -o jsonpb` output is recognised by its first line and its flows are
/// attributed by the engine; a line that is not a Hubble event is rejected with its number
/// and the others are kept.
#[test]
fn hubble_jsonpb_files_are_recognised_and_attributed() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = tempfile::tempdir().unwrap();
    starwars_snapshot(snapshot.path());
    let fixture = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../sources/tests/fixtures/starwars.jsonpb"),
    )
    .unwrap();
    // Hubble drops a tiefighter's landing by a CiliumNetworkPolicy the engine does not
    // model; the snapshot's Kubernetes policy allows it.
    let cilium_denies = r#"{"flow":{"time":"2023-11-14T22:15:25Z","verdict":"DROPPED","IP":{"source":"10.0.0.207","destination":"10.0.0.32"},"l4":{"TCP":{"source_port":43211,"destination_port":80,"flags":{"SYN":true}}},"source":{"namespace":"default","pod_name":"tiefighter"},"destination":{"namespace":"default","pod_name":"deathstar-6fb5694d48-5hmds"},"Type":"L3_L4","traffic_direction":"INGRESS","drop_reason_desc":"POLICY_DENIED","ingress_denied_by":[{"name":"no-landing","namespace":"default","kind":"CiliumNetworkPolicy"}]}}"#;
    let file = dir.path().join("observe.jsonpb");
    std::fs::write(
        &file,
        format!("{fixture}{{\"flow\": 7}}\n{cilium_denies}\n"),
    )
    .unwrap();
    let data = dir.path().join("data");
    let out = Command::new(bin())
        .args(["ingest", "--quiet", "--denied-level", "0", "--data"])
        .arg(&data)
        .arg("--snapshot")
        .arg(snapshot.path())
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Exit code 3: a line was rejected, the rest stored.
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("observe.jsonpb: line 6: not a Hubble jsonpb line"),
        "{stderr}"
    );
    // The xwing's drop and the tiefighter's reply agree with the engine; the drop by the
    // CiliumNetworkPolicy does not, and is said to be by a kind the engine does not model.
    assert!(
        stdout.contains("differs from the observer's on 1 of 3 records compared (1 where"),
        "{stdout}"
    );
    let listed = stdout
        .lines()
        .find(|l| l.contains("CiliumNetworkPolicy default/no-landing (deny)"))
        .unwrap_or_else(|| panic!("the disagreement listed: {stdout}"));
    assert!(
        listed.contains("default/tiefighter → default/deathstar")
            && listed.contains("engine allow by")
            && listed.contains("empire-only"),
        "{listed}"
    );
    let flows = Command::new(bin())
        .args([
            "flows",
            "--output",
            "json",
            "--from",
            "2023-11-14T00:00:00Z",
            "--data",
        ])
        .arg(&data)
        .output()
        .unwrap();
    let flows: Vec<Value> = serde_json::from_slice(&flows.stdout).unwrap();
    let denied = flows
        .iter()
        .find(|f| f["source_name"] == "xwing" && f["reporter"] == "dst")
        .unwrap_or_else(|| panic!("xwing's denied landing: {flows:#?}\n{stdout}"));
    assert_eq!(denied["action"], "deny", "{denied}");
    assert_eq!(denied["dest_port"], 80, "{denied}");
    assert_eq!(
        denied["policies"]["enforced_policies"][0], "0|default|knp:default/empire-only|deny|-1",
        "{denied}"
    );
}
