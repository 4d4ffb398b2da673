//! Live flow sources for Flowlens: where flows come from when they do not come from files.
//!
//! | module | source | hands over |
//! |---|---|---|
//! | [`goldmane`] | Calico Goldmane (`Flows.List` backfill, `Flows.Stream`), mTLS | Calico flow logs |
//! | [`felix`] | Felix pushing to Flowlens (`FlowCollector.Connect`), unix socket or TCP + mTLS | Calico flow logs |
//! | [`hubble`] | Cilium Hubble (`Observer.GetFlows`), TLS optional; `hubble observe -o jsonpb` files | raw records with Hubble's verdict |
//! | [`netflow`] | IPFIX, NetFlow v9 and v5 over UDP | raw records |
//!
//! [`LiveSource`] makes any of them a source of Flowlens' ingest loop, configured from a
//! URL ([`SourceSpec`]: `goldmane://HOST:PORT`, `ipfix://0.0.0.0:4739`, …); [`HubbleFile`]
//! reads `hubble observe -o jsonpb` files the same way.
//!
//! Every source writes into a bounded queue ([`queue::channel`]) and never waits for its
//! consumer: a full queue drops the record and counts it. Every source keeps its counters
//! ([`queue::SourceCounters`]: connected, records, records/s, drops, duplicates, records
//! lost upstream, errors, last record time) where a server can read them
//! ([`queue::SourceRegistry`]). The gRPC clients reconnect with backoff ([`Backoff`]) and
//! skip what they already queued when a server sends it again.
//!
//! # Draining a source
//!
//! The consumer (Flowlens' ingest loop) owns the [`queue::ItemReceiver`]s, one per source,
//! and for each batch it takes with [`queue::ItemReceiver::recv_many`]:
//!
//! - [`queue::SourceItem::FlowLog`]: store it as it is (Felix attributed it);
//! - [`queue::SourceItem::Raw`]: run it through enrichment, attribution and aggregation,
//!   like a raw record read from a file;
//! - [`queue::SourceItem::Observed`]: the same with its `raw` record, then compare the
//!   engine's verdict with [`queue::Observation::policy_verdict`] and flag the difference
//!   (policies the observer named that the engine does not model are reported by the name
//!   and kind the observer gave, see [`queue::ObservedPolicy::modelled_kind`]);
//! - [`queue::SourceItem::Verdict`]: the same, with only the observer's verdict (what the
//!   Hubble client queues unless asked for whole observations).
//!
//! ```no_run
//! # async fn example() {
//! use flowlens_sources::queue::{self, SourceItem, SourceKind, SourceRegistry};
//! use flowlens_sources::netflow::NetflowReceiver;
//!
//! let registry = SourceRegistry::default();
//! let counters = registry.register("ipfix://0.0.0.0:4739", SourceKind::Netflow);
//! let (tx, mut rx) = queue::channel(counters, 65_536);
//! let receiver = NetflowReceiver::bind("0.0.0.0:4739".parse().unwrap()).await.unwrap();
//! tokio::spawn(receiver.run(tx, std::future::pending()));
//! let mut batch = Vec::with_capacity(4096);
//! while rx.recv_many(&mut batch, 4096).await > 0 {
//!     for item in batch.drain(..) {
//!         match item {
//!             SourceItem::FlowLog(log) => { /* store */ }
//!             SourceItem::Raw(raw) => { /* attribute, aggregate, store */ }
//!             SourceItem::Observed(o) => { /* attribute o.raw, compare with o.observation */ }
//!             SourceItem::Verdict(r) => { /* attribute r.raw, compare with r.observer */ }
//!         }
//!     }
//! }
//! # }
//! ```
//!
//! The protobuf definitions in `proto/` are written from the upstream files at the release
//! tags named in each file, with the upstream package, message and field names and numbers;
//! the code is generated at build time by `protox` and `tonic-prost-build` (no system
//! `protoc`).

pub mod backoff;
pub mod calico;
pub mod felix;
pub mod goldmane;
pub mod hubble;
pub mod live;
pub mod netflow;
pub mod queue;
pub mod spec;
pub mod tls;

pub use backoff::Backoff;
pub use live::{HubbleFile, LiveSource};
pub use spec::{SourceSpec, SpecError, TlsFiles};
pub use tls::{ClientTls, ServerTls};

/// The generated protobuf and gRPC code.
pub mod proto {
    #![allow(clippy::all, missing_docs)]
    /// Calico Goldmane (`goldmane/proto/api.proto`, v3.32.1).
    pub mod goldmane {
        tonic::include_proto!("goldmane");
    }
    /// Cilium Hubble flows (`api/v1/flow/flow.proto`, v1.19.4).
    pub mod flow {
        tonic::include_proto!("flow");
    }
    /// Hubble Relay node status (`api/v1/relay/relay.proto`, v1.19.4).
    pub mod relay {
        tonic::include_proto!("relay");
    }
    /// Hubble's Observer service (`api/v1/observer/observer.proto`, v1.19.4).
    pub mod observer {
        tonic::include_proto!("observer");
    }
}

use queue::SourceCounters;
use std::sync::Arc;

/// What can stop a source from running at all. Failures of a running source (a broken
/// connection, a bad record) are counted on its counters instead, and it carries on.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("invalid address {0}")]
    Address(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("cannot connect")]
    Connect(#[from] tonic::transport::Error),
    #[error("{}", .0.message())]
    Status(#[from] tonic::Status),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// An error with its causes, `outer: inner: innermost`.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Marks a connection open until dropped.
#[derive(Debug)]
pub(crate) struct ConnectedGuard(Arc<SourceCounters>);

pub(crate) fn connected_guard(counters: &Arc<SourceCounters>) -> ConnectedGuard {
    counters.connection_opened();
    ConnectedGuard(counters.clone())
}

impl Drop for ConnectedGuard {
    fn drop(&mut self) {
        self.0.connection_closed();
    }
}
