//! Flowlens and a live Kubernetes cluster: the watch that keeps the inventory current, the
//! history a live cluster has (who held an IP address when, every revision of every policy),
//! and policy write-back.
//!
//! This is the only crate that knows Kubernetes API types. Objects become model objects
//! through `flowlens-manifests`, exactly as the same objects in a snapshot file would, so a
//! cluster and a snapshot of it give the same [`flowlens_model::Inventory`].
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use flowlens_kube::{Cluster, ConnectOptions, WatchOptions};
//! let cluster = Cluster::connect(&ConnectOptions::default()).await?;
//! let watch = cluster.watch(WatchOptions::default());
//! let mut updates = watch.subscribe();
//! watch.synced().await;
//! println!("{} endpoints", watch.inventory().endpoints.len());
//! while let Ok(update) = updates.recv().await {
//!     println!("revision {}: {} changes", update.revision, update.changes.len());
//! }
//! # Ok(()) }
//! ```
//!
//! - [`Cluster::watch`] starts a [`ClusterWatch`]: the inventory ([`ClusterWatch::inventory`]),
//!   its changes ([`ClusterWatch::subscribe`]), the IP-ownership timeline
//!   ([`ClusterWatch::owner_at`]), the policy history ([`ClusterWatch::changes_between`],
//!   [`ClusterWatch::inventory_at`]) and the state of every kind's watch
//!   ([`ClusterWatch::status`]).
//! - [`Cluster::writer`] gives a [`PolicyWriter`]: server-side apply (dry run first) and
//!   delete of policies, conflicts that carry the current version, and the permission check
//!   behind a read-only mode.
//! - [`Cluster::reviewer`] gives a [`Reviewer`]: whose a Kubernetes bearer token is
//!   (`TokenReview`) and what RBAC lets that user do (`SubjectAccessReview`).
//! - With the `test-support` feature, [`testing::FakeApiServer`] serves list, watch and
//!   apply over HTTP for tests of anything built on this crate.

mod connect;
mod convert;
mod discovery;
mod index;
mod kinds;
mod review;
mod status;
mod watch;
mod write;

#[cfg(feature = "test-support")]
pub mod testing;

pub use connect::{ClusterInfo, ConnectError, ConnectOptions, connect};
pub use convert::{EndpointSliceInfo, NodeInfo, ObjectKey, SliceEndpoint, SlicePort};
pub use discovery::{Served, discover};
pub use index::{HostNetworkPod, ServiceBackends, SkippedObject};
pub use kinds::{CalicoApi, Kind};
pub use review::{
    CALICO_GROUP, ResourceAccess, ReviewError, ReviewedUser, Reviewer, policy_access,
};
pub use status::{DiscoveryStatus, KindStatus, WatchState, WatchStatus};
pub use watch::{Clock, ClusterWatch, RetryPolicy, Update, WatchOptions, system_clock};
pub use write::{
    AccessReview, Applied, ApplyMode, ApplyRequest, Conflict, DeleteRequest, Deleted,
    FIELD_MANAGER, KindAccess, PolicyWriter, WriteError,
};

/// For fuzzing: reads arbitrary bytes as a watched object of every kind (as JSON) and
/// applies it to an index, created then deleted. It must never panic.
#[doc(hidden)]
pub fn fuzz_convert(bytes: &[u8]) {
    use convert::{
        ConvertContext, convert_endpoint_slice, convert_node, convert_pod, convert_typed,
        convert_value,
    };
    use index::{ClusterIndex, IndexEvent};
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return;
    };
    let mut index = ClusterIndex::new();
    for calico in [CalicoApi::V3, CalicoApi::CrdV1] {
        let ctx = ConvertContext {
            calico,
            opts: flowlens_manifests::LoadOptions::default(),
        };
        for kind in Kind::ALL {
            let converted = match kind {
                Kind::Pod => serde_json::from_value(value.clone())
                    .ok()
                    .map(|p| convert_pod(p, &ctx)),
                Kind::EndpointSlice => serde_json::from_value(value.clone())
                    .ok()
                    .map(|s| convert_endpoint_slice(&s)),
                Kind::Node => serde_json::from_value(value.clone())
                    .ok()
                    .map(|n| convert_node(&n)),
                Kind::Namespace => {
                    serde_json::from_value::<k8s_openapi::api::core::v1::Namespace>(value.clone())
                        .ok()
                        .map(|o| convert_typed(kind, &o, &ctx))
                }
                _ => Some(convert_value(kind, value.clone(), &ctx)),
            };
            if let Some(c) = converted {
                index.apply(IndexEvent::Applied(c.clone()), 1_000);
                index.apply(IndexEvent::Deleted(c), 2_000);
            }
        }
    }
}

/// A cluster Flowlens talks to: a client and which cluster it reaches.
#[derive(Clone)]
pub struct Cluster {
    client: kube::Client,
    info: ClusterInfo,
}

impl Cluster {
    /// Connects as the options say (see [`ConnectOptions`]).
    pub async fn connect(opts: &ConnectOptions) -> Result<Cluster, ConnectError> {
        let (client, info) = connect(opts).await?;
        Ok(Cluster { client, info })
    }

    /// A cluster behind a client made elsewhere (a test's mock service, say).
    pub fn from_client(client: kube::Client, info: ClusterInfo) -> Cluster {
        Cluster { client, info }
    }

    pub fn info(&self) -> &ClusterInfo {
        &self.info
    }

    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// Starts watching (inside a Tokio runtime); see [`ClusterWatch`].
    pub fn watch(&self, opts: WatchOptions) -> ClusterWatch {
        ClusterWatch::start(self.client.clone(), self.info.clone(), opts)
    }

    /// Checks users' tokens and permissions; see [`Reviewer`].
    pub fn reviewer(&self) -> Reviewer {
        Reviewer::new(self.client.clone())
    }

    /// Writes policies to the cluster; see [`PolicyWriter`].
    pub fn writer(&self) -> PolicyWriter {
        PolicyWriter::new(self.client.clone())
    }
}
