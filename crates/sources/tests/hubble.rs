//! The Hubble client against an Observer server built from the same protobuf definitions,
//! serving the Star Wars demo of Cilium's documentation (tiefighter lands on deathstar,
//! xwing is dropped by policy), with `since` and `follow` as Hubble implements them; and
//! the `hubble observe -o jsonpb` reader on a file of that demo.

mod common;

use common::{Pki, drain, eventually, queue};
use flowlens_model::{Protocol, Reporter};
use flowlens_sources::hubble::{HubbleClient, read_jsonpb};
use flowlens_sources::proto::flow as pb;
use flowlens_sources::proto::observer::observer_server::{Observer, ObserverServer};
use flowlens_sources::proto::observer::{GetFlowsRequest, GetFlowsResponse, get_flows_response};
use flowlens_sources::proto::relay;
use flowlens_sources::queue::{
    ObservedFlow, ObservedPolicyVerdict, ObservedVerdict, PolicyEffect, SourceItem, SourceKind,
};
use flowlens_sources::{Backoff, ClientTls};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

const WAIT: Duration = Duration::from_secs(20);
const NODE: &str = "kind-kind/kind-worker";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct Pod {
    name: &'static str,
    ip: &'static str,
    labels: [&'static str; 2],
    identity: u32,
}

const DEATHSTAR: Pod = Pod {
    name: "deathstar-6fb5694d48-5hmds",
    ip: "10.0.0.32",
    labels: ["k8s:class=deathstar", "k8s:org=empire"],
    identity: 10_563,
};
const TIEFIGHTER: Pod = Pod {
    name: "tiefighter",
    ip: "10.0.0.207",
    labels: ["k8s:class=tiefighter", "k8s:org=empire"],
    identity: 6_054,
};
const XWING: Pod = Pod {
    name: "xwing",
    ip: "10.0.0.162",
    labels: ["k8s:class=xwing", "k8s:org=alliance"],
    identity: 39_478,
};

fn endpoint(pod: &Pod) -> pb::Endpoint {
    let mut labels: Vec<String> = pod.labels.iter().map(|l| l.to_string()).collect();
    labels.push("k8s:io.kubernetes.pod.namespace=default".into());
    pb::Endpoint {
        identity: pod.identity,
        namespace: "default".into(),
        labels,
        pod_name: pod.name.into(),
        ..Default::default()
    }
}

/// One packet event between two pods on port 80, seen at `at` (the packet's destination
/// for INGRESS, its source for EGRESS).
#[allow(clippy::too_many_arguments)]
fn event(
    seq: usize,
    time: i64,
    from: &Pod,
    to: &Pod,
    ports: (u32, u32),
    direction: pb::TrafficDirection,
    reply: bool,
    verdict: pb::Verdict,
) -> GetFlowsResponse {
    let allowed = verdict == pb::Verdict::Forwarded && direction == pb::TrafficDirection::Ingress;
    let time = prost_types::Timestamp {
        seconds: time,
        nanos: (seq as i32 % 1000) * 1_000_000,
    };
    let flow = pb::Flow {
        time: Some(time),
        uuid: format!(
            "9f1c0a3e-5d7b-4c2a-{:04x}-{seq:012}",
            time.seconds % 0x1_0000
        ),
        verdict: verdict as i32,
        ip: Some(pb::Ip {
            source: from.ip.into(),
            destination: to.ip.into(),
            ip_version: pb::IpVersion::IPv4 as i32,
            ..Default::default()
        }),
        l4: Some(pb::Layer4 {
            protocol: Some(pb::layer4::Protocol::Tcp(pb::Tcp {
                source_port: ports.0,
                destination_port: ports.1,
                flags: None,
            })),
        }),
        source: Some(endpoint(from)),
        destination: Some(endpoint(to)),
        r#type: pb::FlowType::L3L4 as i32,
        node_name: NODE.into(),
        traffic_direction: direction as i32,
        drop_reason_desc: if verdict == pb::Verdict::Dropped {
            pb::DropReason::PolicyDenied as i32
        } else {
            0
        },
        is_reply: Some(reply),
        ingress_allowed_by: if allowed && !reply {
            vec![pb::Policy {
                name: "rule1".into(),
                namespace: "default".into(),
                revision: 2,
                kind: "CiliumNetworkPolicy".into(),
                ..Default::default()
            }]
        } else {
            Vec::new()
        },
        ..Default::default()
    };
    GetFlowsResponse {
        node_name: NODE.into(),
        time: Some(time),
        response_types: Some(get_flows_response::ResponseTypes::Flow(flow)),
    }
}

/// The demo: tiefighter requests a landing (handshake seen at both ends), xwing tries and
/// is dropped, once every second from `start`.
fn demo(start: i64, rounds: usize) -> Vec<GetFlowsResponse> {
    use pb::TrafficDirection::{Egress, Ingress};
    use pb::Verdict::{Dropped, Forwarded};
    let mut events = Vec::new();
    for r in 0..rounds {
        let t = start + r as i64;
        let port = 40_000 + r as u32;
        let n = events.len();
        events.push(event(
            n,
            t,
            &TIEFIGHTER,
            &DEATHSTAR,
            (port, 80),
            Egress,
            false,
            Forwarded,
        ));
        events.push(event(
            n + 1,
            t,
            &TIEFIGHTER,
            &DEATHSTAR,
            (port, 80),
            Ingress,
            false,
            Forwarded,
        ));
        events.push(event(
            n + 2,
            t,
            &DEATHSTAR,
            &TIEFIGHTER,
            (80, port),
            Ingress,
            true,
            Forwarded,
        ));
        events.push(event(
            n + 3,
            t,
            &XWING,
            &DEATHSTAR,
            (port + 5_000, 80),
            Ingress,
            false,
            Dropped,
        ));
    }
    events
}

/// A Hubble stand-in: stored events answer `since`, later ones follow.
#[derive(Clone)]
struct FakeHubble {
    events: Arc<Mutex<Vec<GetFlowsResponse>>>,
    live: broadcast::Sender<GetFlowsResponse>,
    break_after: Arc<Mutex<Option<usize>>>,
    requests: Arc<Mutex<Vec<GetFlowsRequest>>>,
    sent: Arc<AtomicUsize>,
}

impl FakeHubble {
    fn new(events: Vec<GetFlowsResponse>) -> FakeHubble {
        FakeHubble {
            events: Arc::new(Mutex::new(events)),
            live: broadcast::channel(10_000).0,
            break_after: Arc::new(Mutex::new(None)),
            requests: Arc::new(Mutex::new(Vec::new())),
            sent: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn push(&self, event: GetFlowsResponse) {
        self.events.lock().unwrap().push(event.clone());
        let _ = self.live.send(event);
    }
}

fn event_time(e: &GetFlowsResponse) -> (i64, i32) {
    e.time.map_or((0, 0), |t| (t.seconds, t.nanos))
}

#[tonic::async_trait]
impl Observer for FakeHubble {
    type GetFlowsStream = ReceiverStream<Result<GetFlowsResponse, Status>>;

    async fn get_flows(
        &self,
        request: Request<GetFlowsRequest>,
    ) -> Result<Response<Self::GetFlowsStream>, Status> {
        let r = request.into_inner();
        self.requests.lock().unwrap().push(r.clone());
        let mut live = self.live.subscribe();
        // Without `since` (and `number`), a follow request starts with new events only.
        let backlog: Vec<GetFlowsResponse> = match r.since {
            Some(since) => self
                .events
                .lock()
                .unwrap()
                .iter()
                // Notices without a time (node status) always go out.
                .filter(|e| e.time.is_none() || event_time(e) >= (since.seconds, since.nanos))
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        let follow = r.follow;
        let break_after = self.break_after.lock().unwrap().take();
        let sent = self.sent.clone();
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            let mut n = 0;
            let mut backlog = backlog.into_iter();
            loop {
                let event = match backlog.next() {
                    Some(e) => e,
                    None if follow => match live.recv().await {
                        Ok(e) => e,
                        Err(_) => return,
                    },
                    None => return,
                };
                if Some(n) == break_after {
                    let _ = tx.send(Err(Status::unavailable("relay restarted"))).await;
                    return;
                }
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
                n += 1;
                sent.fetch_add(1, Ordering::SeqCst);
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

async fn serve(fake: FakeHubble, tls: Option<ServerTlsConfig>) -> (String, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let mut builder = Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls).unwrap();
    }
    tokio::spawn(builder.serve_with_incoming_shutdown(
        ObserverServer::new(fake),
        TcpIncoming::from(listener),
        async {
            let _ = stopped.await;
        },
    ));
    (addr, stop)
}

fn observed(items: Vec<SourceItem>) -> Vec<ObservedFlow> {
    items
        .into_iter()
        .map(|item| match item {
            SourceItem::Observed(o) => *o,
            other => panic!("Hubble gives observed flows, not {other:?}"),
        })
        .collect()
}

fn quick_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(50), Duration::from_millis(200))
}

#[tokio::test]
async fn hubble_over_tls_maps_verdicts_policies_and_replies() {
    let pki = Pki::new("hubble-ca");
    let leaf = pki.server(&["*.hubble-relay.cilium.io"]);
    let tls = ServerTlsConfig::new().identity(Identity::from_pem(&leaf.cert_pem, &leaf.key_pem));
    let start = now() - 30;
    let mut stored = demo(start, 3);
    // What a relay also sends: an L7 record, lost events, a node joining.
    let mut l7 = demo(start + 1, 1).remove(1);
    if let Some(get_flows_response::ResponseTypes::Flow(f)) = &mut l7.response_types {
        f.r#type = pb::FlowType::L7 as i32;
        f.uuid = "l7-event".into();
    }
    stored.push(l7);
    stored.push(GetFlowsResponse {
        node_name: NODE.into(),
        time: Some(prost_types::Timestamp {
            seconds: start + 2,
            nanos: 0,
        }),
        response_types: Some(get_flows_response::ResponseTypes::LostEvents(
            pb::LostEvent {
                source: pb::LostEventSource::HubbleRingBuffer as i32,
                num_events_lost: 7,
                ..Default::default()
            },
        )),
    });
    stored.push(GetFlowsResponse {
        response_types: Some(get_flows_response::ResponseTypes::NodeStatus(
            relay::NodeStatusEvent {
                state_change: relay::NodeState::NodeConnected as i32,
                node_names: vec!["kind-kind/kind-control-plane".into()],
                message: String::new(),
            },
        )),
        ..Default::default()
    });
    let fake = FakeHubble::new(stored);
    let (addr, _stop) = serve(fake.clone(), Some(tls)).await;
    let (tx, mut rx) = queue(SourceKind::Hubble, 1_000);
    let client = HubbleClient::new(&addr)
        .full_observations(true)
        .tls(ClientTls {
            ca_pem: Some(pki.ca_pem.clone()),
            identity: None,
            server_name: Some("ui.hubble-relay.cilium.io".into()),
        })
        .since(UNIX_EPOCH + Duration::from_secs((start - 60) as u64))
        .backoff(quick_backoff());
    let counters = tx.counters().clone();
    let task = tokio::spawn(client.run(tx.clone(), std::future::pending()));
    eventually(WAIT, "the stored flows", || counters.stats().records == 12).await;
    // Followed: a new round arrives as it happens.
    for e in demo(start + 10, 1) {
        fake.push(e);
    }
    eventually(WAIT, "the followed flows", || {
        counters.stats().records == 16
    })
    .await;
    let s = counters.stats();
    assert_eq!((s.ignored, s.lost_upstream, s.errors), (2, 7, 0), "{s:?}");
    assert!(s.connected);
    let request = &fake.requests.lock().unwrap()[0];
    assert!(request.follow && request.since.is_some());

    let flows = observed(drain(&mut rx));
    assert_eq!(flows.len(), 16);
    let drop = flows
        .iter()
        .find(|f| f.observation.verdict == ObservedVerdict::Dropped)
        .unwrap();
    assert_eq!(drop.raw.src_ip.to_string(), XWING.ip);
    assert_eq!(
        (drop.raw.dst_port, drop.raw.proto, drop.raw.reporter),
        (80, Protocol::Tcp, Some(Reporter::Dst))
    );
    assert_eq!(
        drop.observation.policy_verdict(),
        ObservedPolicyVerdict::Denied
    );
    assert_eq!(drop.observation.source.labels["org"], "alliance");
    let allowed = flows
        .iter()
        .find(|f| !f.observation.policies.is_empty())
        .unwrap();
    assert_eq!(allowed.observation.policies[0].effect, PolicyEffect::Allow);
    assert_eq!(allowed.observation.policies[0].kind, "CiliumNetworkPolicy");
    assert_eq!(allowed.observation.policies[0].modelled_kind(), None);
    // The SYN-ACK is a reply: back in the connection's direction, one packet in.
    let reply = flows
        .iter()
        .find(|f| f.observation.is_reply == Some(true))
        .unwrap();
    assert_eq!(reply.raw.src_ip.to_string(), TIEFIGHTER.ip);
    assert_eq!(reply.raw.dst_port, 80);
    assert_eq!((reply.raw.packets_out, reply.raw.packets_in), (0, 1));
    assert_eq!(reply.observation.source.pod.as_deref(), Some("tiefighter"));
    task.abort();
}

#[tokio::test]
async fn a_relay_restart_resumes_from_before_the_newest_flow_and_skips_what_it_had() {
    let start = now() - 20;
    let stored = demo(start, 5);
    let fake = FakeHubble::new(stored.clone());
    *fake.break_after.lock().unwrap() = Some(9);
    let (addr, _stop) = serve(fake.clone(), None).await;
    let (tx, mut rx) = queue(SourceKind::Hubble, 1_000);
    let client = HubbleClient::new(&addr)
        .full_observations(true)
        .since(UNIX_EPOCH + Duration::from_secs((start - 5) as u64))
        .backoff(quick_backoff());
    let counters = tx.counters().clone();
    let task = tokio::spawn(client.run(tx.clone(), std::future::pending()));
    eventually(WAIT, "every flow", || counters.stats().records == 20).await;
    let s = counters.stats();
    assert!(s.reconnects >= 1 && s.duplicates == 9, "{s:?}");
    let requests = fake.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    // Resumed ten seconds before the newest flow it had, which here reaches back to the
    // first event.
    let resumed = requests[1].since.unwrap().seconds;
    assert_eq!(resumed, start + 2 - 10);
    let flows = observed(drain(&mut rx));
    let ids: HashSet<_> = flows
        .iter()
        .map(|f| f.observation.event_id.clone())
        .collect();
    assert_eq!((flows.len(), ids.len()), (20, 20));
    task.abort();
}

#[tokio::test]
async fn jsonpb_files_read_like_the_stream() {
    let file = std::io::BufReader::new(
        std::fs::File::open(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/starwars.jsonpb"
        ))
        .unwrap(),
    );
    let (tx, mut rx) = queue(SourceKind::Hubble, 100);
    let report = read_jsonpb(file, &tx).unwrap();
    assert_eq!(
        (report.lines, report.flows, report.skipped, report.rejected),
        (5, 2, 2, 0)
    );
    let s = tx.counters().stats();
    assert_eq!((s.records, s.lost_upstream, s.ignored), (2, 12, 2));
    let flows = observed(drain(&mut rx));
    assert_eq!(
        flows[0].observation.drop_reason.as_deref(),
        Some("POLICY_DENIED")
    );
    assert_eq!(
        flows[1].observation.destination.pod.as_deref(),
        Some("deathstar-6fb5694d48-5hmds")
    );

    // A damaged line is reported with its number; the lines around it are kept.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/starwars.jsonpb"
    ))
    .unwrap();
    let damaged = text.replacen("\"verdict\":\"FORWARDED\"", "\"verdict\":\"SIDEWAYS\"", 1);
    let (tx, _rx) = queue(SourceKind::Hubble, 100);
    let report = read_jsonpb(damaged.as_bytes(), &tx).unwrap();
    assert_eq!((report.flows, report.rejected), (1, 1));
    assert_eq!(report.rejections[0].0, 2);
    assert!(report.rejections[0].1.contains("SIDEWAYS"));
}
