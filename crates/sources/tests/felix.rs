//! The Felix collector against a client built from the same protobuf definitions that
//! behaves as Felix's Goldmane client does: one update at a time, waiting for its receipt,
//! and after a reconnect everything it pushed before, then what is new.

mod common;

use common::{
    BUCKET, Pki, channel_from, drain, eventually, felix_push, goldmane_flow, queue, unix_channel,
};
use flowlens_model::FlowLog;
use flowlens_sources::ServerTls;
use flowlens_sources::felix::FelixCollector;
use flowlens_sources::proto::goldmane as pb;
use flowlens_sources::proto::goldmane::flow_collector_client::FlowCollectorClient;
use flowlens_sources::queue::{ItemReceiver, SourceItem, SourceKind};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

const WAIT: Duration = Duration::from_secs(20);

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A node's flows over a few aggregation intervals.
fn node_flows(n: usize) -> Vec<pb::Flow> {
    let t0 = now() - 120;
    (0..n)
        .map(|i| goldmane_flow(t0 + (i / 8) as i64 * BUCKET, i % 8))
        .collect()
}

/// Pushes `flows` the way Felix does; see [`common::felix_push`].
async fn push(channel: Channel, flows: &[pb::Flow], cut_after: Option<usize>) -> usize {
    felix_push(channel, flows.iter().cloned(), cut_after, None).await
}

fn flow_logs(rx: &mut ItemReceiver) -> Vec<FlowLog> {
    drain(rx)
        .into_iter()
        .map(|item| match item {
            SourceItem::FlowLog(log) => *log,
            other => panic!("Felix gives flow logs, not {other:?}"),
        })
        .collect()
}

/// How many times each distinct flow was queued.
fn multiplicity(logs: &[FlowLog]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for log in logs {
        let key = format!(
            "{} {} {} {:?} {:?}",
            log.start_time,
            log.source.name_aggr,
            log.dest.name_aggr,
            log.reporter,
            log.source.namespace
        );
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

#[tokio::test]
async fn felix_on_the_local_socket_cut_mid_stream_resends_and_each_flow_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("flows").join("flows.sock");
    let (tx, mut rx) = queue(SourceKind::FelixCollector, 10_000);
    let counters = tx.counters().clone();
    let collector = FelixCollector::default();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = {
        let socket = socket.clone();
        tokio::spawn(async move {
            collector
                .serve_unix(&socket, tx, async {
                    let _ = stopped.await;
                })
                .await
        })
    };
    eventually(WAIT, "the socket", || socket.exists()).await;

    let flows = node_flows(40);
    // Felix pushes 25 flows, sends the 26th and loses the connection.
    let receipts = push(unix_channel(socket.clone()).await, &flows[..30], Some(25)).await;
    assert_eq!(receipts, 25);
    eventually(WAIT, "the cut to be noticed", || {
        counters.stats().connections == 0
    })
    .await;
    // On the new connection it sends everything it pushed, then the rest.
    let receipts = push(unix_channel(socket.clone()).await, &flows, None).await;
    assert_eq!(receipts, flows.len());

    let logs = flow_logs(&mut rx);
    let counts = multiplicity(&logs);
    assert_eq!(counts.len(), flows.len());
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    let s = counters.stats();
    // The 26th may or may not have been taken before the cut.
    assert!((25..=26).contains(&s.duplicates), "{s:?}");
    assert_eq!(s.records, flows.len() as u64);
    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
    assert!(!socket.exists(), "the socket file is removed at the end");
}

/// A collector serving TCP with mTLS on a loopback port.
async fn serve_tcp(
    pki: &Pki,
    tx: flowlens_sources::queue::ItemSender,
) -> (SocketAddr, oneshot::Sender<()>) {
    let leaf = pki.server(&["goldmane.calico-system.svc", "127.0.0.1"]);
    let tls = ServerTls {
        cert_pem: leaf.cert_pem,
        key_pem: leaf.key_pem,
        client_ca_pem: Some(pki.ca_pem.clone()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        FelixCollector::default()
            .serve_tcp(listener, Some(&tls), tx, async {
                let _ = stopped.await;
            })
            .await
            .unwrap()
    });
    (addr, stop)
}

/// Felix's TLS endpoint with its node certificate (or none).
fn felix_endpoint(pki: &Pki, with_identity: bool) -> Endpoint {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pki.ca_pem))
        .domain_name("goldmane.calico-system.svc");
    if with_identity {
        let leaf = pki.client("calico-node");
        tls = tls.identity(Identity::from_pem(leaf.cert_pem, leaf.key_pem));
    }
    Endpoint::from_static("https://goldmane.calico-system.svc:7443")
        .tls_config(tls)
        .unwrap()
}

#[tokio::test]
async fn two_nodes_over_mtls_each_counted_once_and_strangers_refused() {
    let pki = Pki::new("tigera-ca");
    let (tx, mut rx) = queue(SourceKind::FelixCollector, 10_000);
    let counters = tx.counters().clone();
    let (addr, _stop) = serve_tcp(&pki, tx).await;
    let node_a = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    let node_b = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let flows = node_flows(16);

    // Both nodes report the same aggregated flows: they are different flows.
    for node in [node_a, node_b] {
        let channel = channel_from(felix_endpoint(&pki, true), node, addr)
            .await
            .unwrap();
        assert_eq!(push(channel, &flows, None).await, flows.len());
    }
    // Node A reconnects and replays its cache: nothing new.
    let channel = channel_from(felix_endpoint(&pki, true), node_a, addr)
        .await
        .unwrap();
    assert_eq!(push(channel, &flows, None).await, flows.len());
    let logs = flow_logs(&mut rx);
    assert_eq!(logs.len(), 2 * flows.len());
    assert!(multiplicity(&logs).values().all(|&n| n == 2));
    assert_eq!(counters.stats().duplicates, flows.len() as u64);

    // A client without a certificate does not get through the handshake.
    let refused = async {
        let channel = channel_from(felix_endpoint(&pki, false), node_a, addr).await?;
        let mut client = FlowCollectorClient::new(channel);
        let (_updates, updates_rx) = mpsc::channel::<pb::FlowUpdate>(1);
        let mut receipts = client
            .connect(ReceiverStream::new(updates_rx))
            .await?
            .into_inner();
        receipts.message().await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    };
    assert!(refused.await.is_err());
    assert_eq!(counters.stats().records, 2 * flows.len() as u64);
}

#[tokio::test]
async fn a_full_queue_never_stalls_felix_and_the_next_resend_fills_the_holes() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("flows.sock");
    let (tx, mut rx) = queue(SourceKind::FelixCollector, 4);
    let counters = tx.counters().clone();
    let collector = FelixCollector::default();
    {
        let socket = socket.clone();
        tokio::spawn(async move {
            collector
                .serve_unix(&socket, tx, std::future::pending())
                .await
        });
    }
    eventually(WAIT, "the socket", || socket.exists()).await;
    let flows = node_flows(20);
    // Nobody reads the queue: every update still gets its receipt.
    assert_eq!(
        push(unix_channel(socket.clone()).await, &flows, None).await,
        20
    );
    let s = counters.stats();
    assert_eq!((s.records, s.dropped), (4, 16));
    let first = flow_logs(&mut rx);
    // Felix's next replay brings what was dropped, and only that.
    assert_eq!(
        push(unix_channel(socket.clone()).await, &flows[..8], None).await,
        8
    );
    let second = flow_logs(&mut rx);
    assert_eq!(second.len(), 4);
    let mut all = first;
    all.extend(second);
    assert!(multiplicity(&all).values().all(|&n| n == 1));
    assert_eq!(counters.stats().duplicates, 4);
}
