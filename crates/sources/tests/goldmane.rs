//! The Goldmane client against a Goldmane server built from the same protobuf definitions:
//! it keeps 15-second buckets, aggregates `Flows.List` over the window asked for, and
//! backfills `Flows.Stream` from its start time, as Goldmane does. Field values follow
//! Calico's own Goldmane test flows.

mod common;

use common::{BUCKET, Pki, drain, eventually, goldmane_flow as flow, queue, stats};
use flowlens_model::{Action, FlowLog, Reporter};
use flowlens_sources::proto::goldmane as pb;
use flowlens_sources::proto::goldmane::flows_server::{Flows, FlowsServer};
use flowlens_sources::queue::{SourceItem, SourceKind};
use flowlens_sources::{Backoff, ClientTls, goldmane::GoldmaneClient};
use prost::Message;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

const WAIT: Duration = Duration::from_secs(20);

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A Goldmane stand-in: buckets of flows, `List` aggregated per key over the window asked
/// for, `Stream` backfilled from `start_time_gte` and then live.
#[derive(Clone)]
struct FakeGoldmane {
    flows: Arc<Mutex<Vec<pb::Flow>>>,
    live: broadcast::Sender<pb::Flow>,
    /// Break the next stream with UNAVAILABLE after this many messages.
    break_after: Arc<Mutex<Option<usize>>>,
    streamed: Arc<AtomicUsize>,
    streams: Arc<AtomicUsize>,
}

impl FakeGoldmane {
    fn new(flows: Vec<pb::Flow>) -> FakeGoldmane {
        FakeGoldmane {
            flows: Arc::new(Mutex::new(flows)),
            live: broadcast::channel(10_000).0,
            break_after: Arc::new(Mutex::new(None)),
            streamed: Arc::new(AtomicUsize::new(0)),
            streams: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn push(&self, flow: pb::Flow) {
        self.flows.lock().unwrap().push(flow.clone());
        let _ = self.live.send(flow);
    }
}

/// Goldmane's reading of a time bound: 0 and negatives are relative to now.
fn resolve(t: i64, zero: i64) -> i64 {
    match t {
        0 => zero,
        t if t < 0 => now() + t,
        t => t,
    }
}

#[tonic::async_trait]
impl Flows for FakeGoldmane {
    async fn list(
        &self,
        request: Request<pb::FlowListRequest>,
    ) -> Result<Response<pb::FlowListResult>, Status> {
        let r = request.into_inner();
        let (gte, lt) = (
            resolve(r.start_time_gte, i64::MIN),
            resolve(r.start_time_lt, now()),
        );
        // One result per key, its counters summed over the window, as Goldmane aggregates.
        let mut by_key: BTreeMap<Vec<u8>, pb::Flow> = BTreeMap::new();
        for f in self.flows.lock().unwrap().iter() {
            if f.start_time < gte || f.start_time >= lt {
                continue;
            }
            let key = f.key.as_ref().unwrap().encode_to_vec();
            match by_key.get_mut(&key) {
                Some(agg) => {
                    agg.start_time = agg.start_time.min(f.start_time);
                    agg.end_time = agg.end_time.max(f.end_time);
                    agg.bytes_in += f.bytes_in;
                    agg.bytes_out += f.bytes_out;
                    agg.packets_in += f.packets_in;
                    agg.packets_out += f.packets_out;
                }
                None => {
                    by_key.insert(key, f.clone());
                }
            }
        }
        let mut flows: Vec<pb::Flow> = by_key.into_values().collect();
        flows.sort_by_key(|f| f.start_time);
        let size = if r.page_size > 0 {
            r.page_size as usize
        } else {
            flows.len().max(1)
        };
        let pages = flows.len().div_ceil(size);
        let page: Vec<pb::FlowResult> = flows
            .into_iter()
            .skip(r.page as usize * size)
            .take(size)
            .enumerate()
            .map(|(i, flow)| pb::FlowResult {
                id: i as i64,
                flow: Some(flow),
            })
            .collect();
        Ok(Response::new(pb::FlowListResult {
            meta: Some(pb::ListMetadata {
                total_pages: pages as i64,
                total_results: page.len() as i64,
            }),
            flows: page,
        }))
    }

    type StreamStream = ReceiverStream<Result<pb::FlowResult, Status>>;

    async fn stream(
        &self,
        request: Request<pb::FlowStreamRequest>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let r = request.into_inner();
        assert_eq!(
            r.aggregation_interval, BUCKET,
            "Goldmane only streams 15 s buckets"
        );
        self.streams.fetch_add(1, Ordering::SeqCst);
        let mut live = self.live.subscribe();
        let mut backlog: Vec<pb::Flow> = if r.start_time_gte == 0 {
            Vec::new()
        } else {
            let gte = resolve(r.start_time_gte, 0);
            self.flows
                .lock()
                .unwrap()
                .iter()
                .filter(|f| f.start_time >= gte)
                .cloned()
                .collect()
        };
        backlog.sort_by_key(|f| f.start_time);
        let break_after = self.break_after.lock().unwrap().take();
        let streamed = self.streamed.clone();
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            let mut sent = 0;
            let mut backlog = backlog.into_iter();
            loop {
                let flow = match backlog.next() {
                    Some(flow) => flow,
                    None => match live.recv().await {
                        Ok(flow) => flow,
                        Err(_) => return,
                    },
                };
                if Some(sent) == break_after {
                    let _ = tx.send(Err(Status::unavailable("stream broken"))).await;
                    return;
                }
                let result = pb::FlowResult {
                    id: 1,
                    flow: Some(flow),
                };
                if tx.send(Ok(result)).await.is_err() {
                    return;
                }
                sent += 1;
                streamed.fetch_add(1, Ordering::SeqCst);
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

struct Running {
    addr: String,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serves the fake on a loopback port with mTLS: a server certificate for Goldmane's
/// service name, client certificates from the same CA required.
async fn serve(fake: FakeGoldmane, pki: &Pki) -> Running {
    let server = pki.server(&["goldmane.calico-system.svc"]);
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(&server.cert_pem, &server.key_pem))
        .client_ca_root(Certificate::from_pem(&pki.ca_pem));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(
        Server::builder()
            .tls_config(tls)
            .unwrap()
            .serve_with_incoming_shutdown(
                FlowsServer::new(fake),
                TcpIncoming::from(listener),
                async {
                    let _ = stopped.await;
                },
            ),
    );
    Running {
        addr,
        stop: Some(stop),
    }
}

fn client_tls(pki: &Pki, with_identity: bool) -> ClientTls {
    let leaf = pki.client("flowlens");
    ClientTls {
        ca_pem: Some(pki.ca_pem.clone()),
        identity: with_identity.then_some((leaf.cert_pem, leaf.key_pem)),
        server_name: Some("goldmane.calico-system.svc".into()),
    }
}

fn quick_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(50), Duration::from_millis(200))
}

fn logs(items: Vec<SourceItem>) -> Vec<FlowLog> {
    items
        .into_iter()
        .map(|item| match item {
            SourceItem::FlowLog(log) => *log,
            other => panic!("Goldmane gives flow logs, not {other:?}"),
        })
        .collect()
}

/// What tells two test flows apart.
fn identity(log: &FlowLog) -> (i64, String, String, Reporter, String, String) {
    (
        log.start_time,
        log.source.name_aggr.clone(),
        log.dest.name_aggr.clone(),
        log.reporter,
        log.source.namespace.clone().unwrap_or_default(),
        log.dest.namespace.clone().unwrap_or_default(),
    )
}

#[tokio::test]
async fn backfills_with_list_then_streams_over_mtls() {
    let pki = Pki::new("tigera-ca");
    let t0 = now();
    // Twenty buckets from five minutes ago up to now, eight flows each.
    let history: Vec<pb::Flow> = (0..=20)
        .flat_map(|b| (0..8).map(move |i| flow(t0 - 300 + b * BUCKET, i)))
        .collect();
    let expected = history.len();
    let fake = FakeGoldmane::new(history);
    let server = serve(fake.clone(), &pki).await;
    let (tx, mut rx) = queue(SourceKind::Goldmane, 10_000);
    let client = GoldmaneClient::new(&server.addr)
        .tls(client_tls(&pki, true))
        .backfill(Some(Duration::from_secs(600)))
        .backoff(quick_backoff());
    let counters = tx.counters().clone();
    let task = tokio::spawn(client.run(tx.clone(), std::future::pending()));

    eventually(WAIT, "the backfill", || {
        counters.stats().records as usize >= expected
    })
    .await;
    // Live flows after the backfill arrive on the stream.
    eventually(WAIT, "the stream", || {
        fake.streams.load(Ordering::SeqCst) == 1
    })
    .await;
    for i in 0..8 {
        fake.push(flow(t0 + BUCKET, i));
    }
    eventually(WAIT, "the live flows", || {
        counters.stats().records as usize == expected + 8
    })
    .await;

    let logs = logs(drain(&mut rx));
    assert_eq!(logs.len(), expected + 8);
    let distinct: HashSet<_> = logs.iter().map(identity).collect();
    assert_eq!(distinct.len(), logs.len(), "a flow was stored twice");
    for log in &logs {
        assert_eq!(
            log.end_time - log.start_time,
            BUCKET,
            "every flow keeps its bucket"
        );
    }
    let denied = logs
        .iter()
        .find(|l| l.action == Action::Deny && l.reporter == Reporter::Dst)
        .unwrap();
    let hits: Vec<String> = denied
        .enforced_policies
        .iter()
        .map(|h| h.to_string())
        .collect();
    assert_eq!(
        hits,
        [
            "0|kube-admin|kcnp:cluster-baseline|pass|0".to_string(),
            format!(
                "1|default|np:{}/policy-2|deny|-1",
                denied.dest.namespace.as_deref().unwrap()
            ),
        ]
    );
    assert_eq!(
        denied.dest_service.as_ref().unwrap().name,
        "backend-service"
    );
    let s = stats(&tx);
    assert!(s.connected);
    assert_eq!((s.errors, s.dropped, s.duplicates), (0, 0, 0), "{s:?}");
    assert!(s.last_record_unix_ms.is_some());
    task.abort();
}

#[tokio::test]
async fn a_broken_stream_resumes_where_it_was_without_duplicates() {
    let pki = Pki::new("tigera-ca");
    let t0 = now();
    // Recent buckets only: the stream delivers them, not the list.
    let recent: Vec<pb::Flow> = (0..3)
        .flat_map(|b| (0..4).map(move |i| flow(t0 - 10 + b * BUCKET, i)))
        .collect();
    let fake = FakeGoldmane::new(recent.clone());
    // The first stream breaks after the first bucket and one flow of the second.
    *fake.break_after.lock().unwrap() = Some(5);
    let server = serve(fake.clone(), &pki).await;
    let (tx, mut rx) = queue(SourceKind::Goldmane, 10_000);
    let client = GoldmaneClient::new(&server.addr)
        .tls(client_tls(&pki, true))
        .backfill(Some(Duration::from_secs(60)))
        .backoff(quick_backoff());
    let counters = tx.counters().clone();
    let task = tokio::spawn(client.run(tx.clone(), std::future::pending()));

    eventually(WAIT, "every flow", || {
        counters.stats().records as usize == recent.len()
    })
    .await;
    eventually(WAIT, "the resent flow to be skipped", || {
        counters.stats().duplicates >= 1
    })
    .await;
    let s = counters.stats();
    assert!(s.reconnects >= 1 && s.errors >= 1, "{s:?}");
    assert_eq!(fake.streams.load(Ordering::SeqCst), 2);
    let logs = logs(drain(&mut rx));
    let distinct: HashSet<_> = logs.iter().map(identity).collect();
    assert_eq!((logs.len(), distinct.len()), (recent.len(), recent.len()));
    task.abort();
}

#[tokio::test]
async fn goldmane_refuses_a_client_without_a_certificate() {
    let pki = Pki::new("tigera-ca");
    let fake = FakeGoldmane::new(vec![flow(now() - 60, 0)]);
    let server = serve(fake.clone(), &pki).await;
    let (tx, mut rx) = queue(SourceKind::Goldmane, 100);
    let client = GoldmaneClient::new(&server.addr)
        .tls(client_tls(&pki, false))
        .backoff(quick_backoff());
    let counters = tx.counters().clone();
    let task = tokio::spawn(client.run(tx.clone(), std::future::pending()));
    eventually(WAIT, "failed attempts", || counters.stats().errors >= 2).await;
    let s = counters.stats();
    assert!(!s.connected && s.records == 0, "{s:?}");
    assert!(s.reconnects >= 1);
    assert_eq!(fake.streams.load(Ordering::SeqCst), 0);
    assert!(drain(&mut rx).is_empty());

    // A certificate from another CA does not help either.
    let other = Pki::new("someone-else");
    let leaf = other.client("flowlens");
    let (tx2, _rx2) = queue(SourceKind::Goldmane, 100);
    let impostor = GoldmaneClient::new(&server.addr)
        .tls(ClientTls {
            ca_pem: Some(pki.ca_pem.clone()),
            identity: Some((leaf.cert_pem, leaf.key_pem)),
            server_name: Some("goldmane.calico-system.svc".into()),
        })
        .backoff(quick_backoff());
    let counters2 = tx2.counters().clone();
    let task2 = tokio::spawn(impostor.run(tx2.clone(), std::future::pending()));
    eventually(WAIT, "the impostor's failures", || {
        counters2.stats().errors >= 2
    })
    .await;
    assert_eq!(counters2.stats().records, 0);
    assert_eq!(fake.streams.load(Ordering::SeqCst), 0);
    task.abort();
    task2.abort();
}

#[tokio::test]
async fn a_slow_consumer_makes_the_client_drop_rather_than_stall_goldmane() {
    let pki = Pki::new("tigera-ca");
    let t0 = now();
    let flows: Vec<pb::Flow> = (0..50)
        .flat_map(|b| (0..10).map(move |i| flow(t0 - 20 + b * BUCKET, i)))
        .collect();
    let fake = FakeGoldmane::new(flows.clone());
    let server = serve(fake.clone(), &pki).await;
    // Room for 16; nobody reads until the end.
    let (tx, mut rx) = queue(SourceKind::Goldmane, 16);
    let client = GoldmaneClient::new(&server.addr)
        .tls(client_tls(&pki, true))
        .backfill(Some(Duration::from_secs(30)))
        .backoff(quick_backoff());
    let counters = tx.counters().clone();
    let task = tokio::spawn(client.run(tx.clone(), std::future::pending()));
    eventually(WAIT, "Goldmane to stream everything", || {
        fake.streamed.load(Ordering::SeqCst) == flows.len()
    })
    .await;
    eventually(WAIT, "the client to take everything", || {
        let s = counters.stats();
        (s.records + s.dropped) as usize == flows.len()
    })
    .await;
    let s = counters.stats();
    assert_eq!((s.records, s.dropped), (16, flows.len() as u64 - 16));
    assert_eq!(drain(&mut rx).len(), 16);
    task.abort();
}
