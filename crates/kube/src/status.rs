//! How the watch is doing, per kind: what the API and the UI's connection panel show.

use crate::connect::ClusterInfo;
use crate::kinds::{CalicoApi, Kind};
use flowlens_model::{InventoryCounts, UnixMillis};
use serde::Serialize;

/// Where one kind's watch is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchState {
    /// Waiting for discovery.
    Pending,
    /// Listing every object (at the start, or again after the watch lost its place).
    Listing,
    /// Following changes.
    Watching,
    /// The last request failed; retrying after a pause (see `last_error`).
    Retrying,
    /// The cluster does not serve the kind: skipped.
    NotServed,
}

/// One kind's watch.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KindStatus {
    pub kind: Kind,
    /// `pods`, `tiers.projectcalico.org`, …
    pub resource: String,
    /// Where it is read from, once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    pub state: WatchState,
    /// Why the kind is not served, or the last error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Objects of the kind the inventory was built from.
    pub objects: usize,
    /// Changes received after the first listing.
    pub events: u64,
    /// Full listings applied (1 after the start; more after a 410 Gone).
    pub listings: u64,
    pub errors: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_event_at: Option<UnixMillis>,
    /// When the first listing was applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synced_at: Option<UnixMillis>,
    /// The newest `resourceVersion` seen on an object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

impl KindStatus {
    pub(crate) fn new(kind: Kind) -> KindStatus {
        KindStatus {
            kind,
            resource: kind.to_string(),
            api_version: None,
            state: WatchState::Pending,
            reason: None,
            objects: 0,
            events: 0,
            listings: 0,
            errors: 0,
            last_error: None,
            last_event_at: None,
            synced_at: None,
            resource_version: None,
        }
    }

    /// Listed at least once, or not served: nothing more to wait for.
    pub fn is_settled(&self) -> bool {
        self.synced_at.is_some() || self.state == WatchState::NotServed
    }
}

/// Finding out what the cluster serves.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DiscoveryStatus {
    Pending,
    Done,
    /// Failed; retried after a pause.
    Failed {
        error: String,
        attempts: u32,
    },
}

/// The whole watch.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WatchStatus {
    pub cluster: ClusterInfo,
    pub discovery: DiscoveryStatus,
    /// Where Calico's resources are read from, if the cluster has them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calico: Option<CalicoApi>,
    /// Every served kind has been listed: the inventory is the cluster's.
    pub synced: bool,
    /// Counts the inventory's changes.
    pub revision: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_change_at: Option<UnixMillis>,
    pub counts: InventoryCounts,
    /// Objects read but not used (see `ClusterWatch::skipped`).
    pub skipped: usize,
    pub kinds: Vec<KindStatus>,
}
