//! What the source tests share (and the whole-process benchmark, `examples/live_bench.rs`):
//! certificates made on the spot, connectors that reach a gRPC server over a unix socket or
//! from a chosen loopback address, a client that pushes flows as Felix does, and waiting
//! for a condition without fixed sleeps.
#![allow(dead_code)]

use flowlens_sources::proto::goldmane as pb;
use flowlens_sources::proto::goldmane::flow_collector_client::FlowCollectorClient;
use flowlens_sources::queue::{
    self, ItemReceiver, ItemSender, SourceItem, SourceKind, SourceStats,
};
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// Goldmane's aggregation interval.
pub const BUCKET: i64 = 15;

/// The `i`-th flow of a bucket, in the shape of Calico's Goldmane test flows.
pub fn goldmane_flow(start: i64, i: usize) -> pb::Flow {
    let namespaces = ["test-ns", "test-ns-2", "test-ns-3"];
    let (src_ns, dst_ns) = (namespaces[i % 3], namespaces[(i + 1) % 3]);
    let deny = i % 4 == 3;
    let reporter = if i.is_multiple_of(2) {
        pb::Reporter::Src
    } else {
        pb::Reporter::Dst
    };
    let policy_ns = if reporter == pb::Reporter::Src {
        src_ns
    } else {
        dst_ns
    };
    let last = if deny {
        // Denied at the end of the default tier, which policy-2 selected the flow into.
        pb::PolicyHit {
            kind: pb::PolicyKind::EndOfTier as i32,
            tier: "default".into(),
            action: pb::Action::Deny as i32,
            policy_index: 1,
            rule_index: -1,
            trigger: Some(Box::new(pb::PolicyHit {
                kind: pb::PolicyKind::CalicoNetworkPolicy as i32,
                namespace: policy_ns.into(),
                name: "policy-2".into(),
                tier: "default".into(),
                ..Default::default()
            })),
            ..Default::default()
        }
    } else {
        pb::PolicyHit {
            kind: pb::PolicyKind::CalicoNetworkPolicy as i32,
            namespace: policy_ns.into(),
            name: "policy-1".into(),
            tier: "tier-1".into(),
            action: pb::Action::Allow as i32,
            policy_index: 1,
            rule_index: 0,
            ..Default::default()
        }
    };
    let first = pb::PolicyHit {
        kind: pb::PolicyKind::ClusterNetworkPolicy as i32,
        name: "cluster-baseline".into(),
        tier: "kube-admin".into(),
        action: pb::Action::Pass as i32,
        policy_index: 0,
        rule_index: 0,
        ..Default::default()
    };
    pb::Flow {
        key: Some(pb::FlowKey {
            source_name: format!("client-aggr-{}", i % 4 + 1),
            source_namespace: src_ns.into(),
            source_type: pb::EndpointType::WorkloadEndpoint as i32,
            dest_name: format!("server-aggr-{}", i / 4 + 1),
            dest_namespace: dst_ns.into(),
            dest_type: pb::EndpointType::WorkloadEndpoint as i32,
            dest_port: 8080,
            dest_service_name: "backend-service".into(),
            dest_service_namespace: dst_ns.into(),
            dest_service_port_name: "http".into(),
            dest_service_port: 80,
            proto: "tcp".into(),
            reporter: reporter as i32,
            action: if deny {
                pb::Action::Deny
            } else {
                pb::Action::Allow
            } as i32,
            policies: Some(pb::PolicyTrace {
                enforced_policies: vec![first.clone(), last.clone()],
                pending_policies: vec![first, last],
            }),
        }),
        start_time: start,
        end_time: start + BUCKET,
        source_labels: vec![
            "app=client".into(),
            format!("projectcalico.org/namespace={src_ns}"),
        ],
        dest_labels: vec!["app=server".into()],
        packets_in: 10 + i as i64,
        packets_out: 20,
        bytes_in: 100 * (i as i64 + 1),
        bytes_out: 200,
        num_connections_started: 1,
        num_connections_completed: 3,
        num_connections_live: 2,
    }
}

/// A certificate authority for one test, and the certificates it signs.
pub struct Pki {
    pub ca_pem: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and its key, both PEM.
pub struct Leaf {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Pki {
            ca_pem: cert.pem().into_bytes(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for these names (DNS names or IP addresses).
    pub fn server(&self, names: &[&str]) -> Leaf {
        self.leaf(names, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate with this common name.
    pub fn client(&self, name: &str) -> Leaf {
        self.leaf(&[name], ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn leaf(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem().into_bytes(),
            key_pem: key.serialize_pem().into_bytes(),
        }
    }
}

/// A queue with fresh counters.
pub fn queue(kind: SourceKind, capacity: usize) -> (ItemSender, ItemReceiver) {
    let counters = std::sync::Arc::new(queue::SourceCounters::new("test", kind));
    queue::channel(counters, capacity)
}

/// Polls `condition` every 10 ms until it holds; panics with `what` after `timeout`.
pub async fn eventually(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Everything queued so far.
pub fn drain(rx: &mut ItemReceiver) -> Vec<SourceItem> {
    let mut items = Vec::new();
    while let Some(item) = rx.try_recv() {
        items.push(item);
    }
    items
}

pub fn stats(tx: &ItemSender) -> SourceStats {
    tx.counters().stats()
}

/// A channel to a gRPC server on a unix socket.
pub async fn unix_channel(path: PathBuf) -> Channel {
    Endpoint::from_static("http://felix.local")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
        .await
        .unwrap()
}

/// A channel to `server` whose TCP connection starts from `local` (another loopback
/// address, to look like another node).
pub async fn channel_from(
    endpoint: Endpoint,
    local: IpAddr,
    server: SocketAddr,
) -> Result<Channel, tonic::transport::Error> {
    endpoint
        .connect_with_connector(tower::service_fn(move |_: Uri| async move {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(local, 0))?;
            let stream = socket.connect(server).await?;
            Ok::<_, std::io::Error>(TokioIo::new(stream))
        }))
        .await
}

/// Pushes `flows` the way Felix does and returns how many receipts came back: one
/// `FlowUpdate` at a time on one `FlowCollector.Connect` stream, each waiting for its
/// receipt. With `cut_after`, the connection is dropped right after sending the update that
/// follows that many receipts, without waiting for its receipt. With `interval`, the k-th
/// update is sent no earlier than k intervals after the start.
pub async fn felix_push(
    channel: Channel,
    flows: impl IntoIterator<Item = pb::Flow>,
    cut_after: Option<usize>,
    interval: Option<Duration>,
) -> usize {
    let mut client = FlowCollectorClient::new(channel);
    let (updates, updates_rx) = mpsc::channel(1);
    let mut receipts = client
        .connect(ReceiverStream::new(updates_rx))
        .await
        .unwrap()
        .into_inner();
    let started = tokio::time::Instant::now();
    let mut received = 0;
    for (k, flow) in flows.into_iter().enumerate() {
        if let Some(interval) = interval {
            tokio::time::sleep_until(started + interval * k as u32).await;
        }
        updates
            .send(pb::FlowUpdate { flow: Some(flow) })
            .await
            .unwrap();
        if cut_after == Some(received) {
            // Felix's connection breaks: nothing more is read or sent on it.
            return received;
        }
        receipts
            .message()
            .await
            .unwrap()
            .expect("a receipt per update");
        received += 1;
    }
    received
}
