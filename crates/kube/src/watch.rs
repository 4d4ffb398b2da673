//! The watch: one task per served kind follows it with kube-runtime's watcher (resuming
//! from the last `resourceVersion`, listing again on 410 Gone, pausing after errors), and
//! one task applies what they convert to the cluster index, in batches.

use crate::connect::ClusterInfo;
use crate::convert::NodeInfo;
use crate::convert::{
    ConvertContext, Converted, convert_endpoint_slice, convert_node, convert_pod, convert_typed,
    convert_value,
};
use crate::discovery::{Served, discover};
use crate::index::{ClusterIndex, HostNetworkPod, IndexEvent, ServiceBackends, SkippedObject};
use crate::kinds::Kind;
use crate::status::{DiscoveryStatus, KindStatus, WatchState, WatchStatus};
use flowlens_manifests::LoadOptions;
use flowlens_model::{
    Inventory, IpTimeline, ItemChange, PolicyChange, PolicyHistory, PolicyId, PolicyRevision,
    Tenure, TierChange, UnixMillis,
};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service, ServiceAccount};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::WatchStreamExt;
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;

/// The time, in milliseconds since the epoch. Replaceable so tests decide what "now" is.
pub type Clock = Arc<dyn Fn() -> UnixMillis + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as UnixMillis)
    })
}

/// Pauses between failed requests: doubling from `min` to `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub min: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    /// client-go's reflector pauses: 800 ms, doubling, at most 30 s.
    fn default() -> Self {
        RetryPolicy {
            min: Duration::from_millis(800),
            max: Duration::from_secs(30),
        }
    }
}

struct Doubling {
    policy: RetryPolicy,
    next: Duration,
}

impl Doubling {
    fn new(policy: RetryPolicy) -> Doubling {
        Doubling {
            policy,
            next: policy.min,
        }
    }
}

impl Iterator for Doubling {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        let pause = self.next;
        self.next = (self.next * 2).min(self.policy.max);
        Some(pause)
    }
}

impl Backoff for Doubling {
    fn reset(&mut self) {
        self.next = self.policy.min;
    }
}

/// What to watch and how.
#[derive(Clone)]
pub struct WatchOptions {
    /// The kinds to watch (all by default); kinds the cluster does not serve are skipped.
    pub kinds: Vec<Kind>,
    /// How objects are read (the namespace of objects that name none).
    pub load_options: LoadOptions,
    pub clock: Clock,
    pub retry: RetryPolicy,
    /// Seconds one watch request lasts before it is renewed (the API server's limit applies;
    /// `None`: kube's 290 s).
    pub watch_timeout: Option<u32>,
    /// Objects per page when listing (`None`: all at once).
    pub page_size: Option<u32>,
    /// How long the IP timeline and the policy history remember what is no longer in force.
    pub retention: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            kinds: Kind::ALL.to_vec(),
            load_options: LoadOptions::default(),
            clock: system_clock(),
            retry: RetryPolicy::default(),
            watch_timeout: None,
            page_size: Some(500),
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// A batch of inventory changes, as subscribers receive it.
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    /// The inventory's revision after the batch.
    pub revision: u64,
    /// When the batch was applied.
    pub at: UnixMillis,
    pub changes: Vec<ItemChange>,
}

struct Shared {
    info: ClusterInfo,
    index: RwLock<ClusterIndex>,
    status: Mutex<StatusTable>,
    updates: broadcast::Sender<Arc<Update>>,
    synced: tokio::sync::watch::Sender<bool>,
    served: Mutex<Option<Served>>,
    clock: Clock,
}

struct StatusTable {
    discovery: DiscoveryStatus,
    kinds: BTreeMap<Kind, KindStatus>,
    last_change_at: Option<UnixMillis>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, ClusterIndex> {
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, ClusterIndex> {
        self.index.write().unwrap_or_else(|e| e.into_inner())
    }

    fn kind_status(&self, kind: Kind, f: impl FnOnce(&mut KindStatus)) {
        let mut table = lock(&self.status);
        let status = table
            .kinds
            .entry(kind)
            .or_insert_with(|| KindStatus::new(kind));
        f(status);
    }

    fn update_synced(&self) {
        let table = lock(&self.status);
        let synced = table.discovery == DiscoveryStatus::Done
            && table.kinds.values().all(KindStatus::is_settled);
        drop(table);
        self.synced.send_if_modified(|s| {
            let changed = *s != synced;
            *s = synced;
            changed
        });
    }
}

/// A running watch of one cluster. Dropping it stops every task it started.
pub struct ClusterWatch {
    shared: Arc<Shared>,
    supervisor: tokio::task::JoinHandle<()>,
}

impl Drop for ClusterWatch {
    fn drop(&mut self) {
        self.supervisor.abort();
    }
}

impl ClusterWatch {
    /// Starts watching (inside a Tokio runtime). Returns at once: discovery and the first
    /// listings run in the background; [`ClusterWatch::synced`] waits for them.
    pub fn start(client: kube::Client, info: ClusterInfo, opts: WatchOptions) -> ClusterWatch {
        let (updates, _) = broadcast::channel(1024);
        let (synced, _) = tokio::sync::watch::channel(false);
        let kinds = opts
            .kinds
            .iter()
            .map(|&k| (k, KindStatus::new(k)))
            .collect();
        let shared = Arc::new(Shared {
            info,
            index: RwLock::new(ClusterIndex::new()),
            status: Mutex::new(StatusTable {
                discovery: DiscoveryStatus::Pending,
                kinds,
                last_change_at: None,
            }),
            updates,
            synced,
            served: Mutex::new(None),
            clock: Arc::clone(&opts.clock),
        });
        let supervisor = tokio::spawn(supervise(client, Arc::clone(&shared), opts));
        ClusterWatch { shared, supervisor }
    }

    pub fn info(&self) -> &ClusterInfo {
        &self.shared.info
    }

    /// The current inventory (a shared pointer: cheap to take, never changes under you).
    pub fn inventory(&self) -> Arc<Inventory> {
        self.shared.read().inventory()
    }

    /// Reads the inventory and its revision under the index's lock: for a caller that copies
    /// it, so that the watch's next change does not copy it again (keep `f` short).
    pub fn with_inventory<R>(&self, f: impl FnOnce(&Inventory, u64) -> R) -> R {
        let index = self.shared.read();
        f(&index.inventory(), index.revision())
    }

    /// Counts the inventory's changes; it moves whenever an [`Update`] is sent.
    pub fn revision(&self) -> u64 {
        self.shared.read().revision()
    }

    /// Every batch of changes from now on. A receiver that falls more than 1,024 batches
    /// behind gets `Lagged` and should take [`ClusterWatch::inventory`] afresh.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Update>> {
        self.shared.updates.subscribe()
    }

    /// Whether every served kind has been listed.
    pub fn is_synced(&self) -> bool {
        *self.shared.synced.borrow()
    }

    /// Waits until every served kind has been listed.
    pub async fn synced(&self) {
        let mut rx = self.shared.synced.subscribe();
        // The sender lives as long as `self`; an error cannot happen while we wait.
        let _ = rx.wait_for(|s| *s).await;
    }

    pub fn status(&self) -> WatchStatus {
        let (revision, counts, skipped, objects) = {
            let index = self.shared.read();
            (
                index.revision(),
                index.inventory().counts(),
                index.skipped().len(),
                index.object_counts(),
            )
        };
        let calico = lock(&self.shared.served).as_ref().and_then(|s| s.calico);
        let table = lock(&self.shared.status);
        let kinds = table
            .kinds
            .values()
            .map(|k| KindStatus {
                objects: objects.get(&k.kind).copied().unwrap_or(0),
                ..k.clone()
            })
            .collect();
        WatchStatus {
            cluster: self.shared.info.clone(),
            discovery: table.discovery.clone(),
            calico,
            synced: self.is_synced(),
            revision,
            last_change_at: table.last_change_at,
            counts,
            skipped,
            kinds,
        }
    }

    /// Who held `ip` at time `t`.
    pub fn owner_at(&self, ip: IpAddr, t: UnixMillis) -> Option<Tenure> {
        self.shared.read().timeline().owner_at(ip, t).cloned()
    }

    /// Who held `ip` at some time in `[from, to]`, oldest first.
    pub fn owners_during(&self, ip: IpAddr, from: UnixMillis, to: UnixMillis) -> Vec<Tenure> {
        self.shared
            .read()
            .timeline()
            .owners_during(ip, from, to)
            .cloned()
            .collect()
    }

    /// Reads the IP timeline under the index's lock (keep `f` short: the watch waits).
    pub fn with_timeline<R>(&self, f: impl FnOnce(&IpTimeline) -> R) -> R {
        f(self.shared.read().timeline())
    }

    /// Reads the policy history under the index's lock (keep `f` short).
    pub fn with_history<R>(&self, f: impl FnOnce(&PolicyHistory) -> R) -> R {
        f(self.shared.read().history())
    }

    pub fn policy_revisions(&self, id: &PolicyId) -> Vec<PolicyRevision> {
        self.with_history(|h| h.policy_revisions(id).to_vec())
    }

    /// What changed between two times: policies, then tiers.
    pub fn changes_between(
        &self,
        from: UnixMillis,
        to: UnixMillis,
    ) -> (Vec<PolicyChange>, Vec<TierChange>) {
        self.with_history(|h| (h.policy_changes(from, to), h.tier_changes(from, to)))
    }

    /// The inventory with the tiers and policies in force at `t`.
    pub fn inventory_at(&self, t: UnixMillis) -> Inventory {
        let index = self.shared.read();
        index.history().inventory_at(&index.inventory(), t)
    }

    /// Objects read but not used, and why.
    pub fn skipped(&self) -> Vec<SkippedObject> {
        self.shared.read().skipped()
    }

    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.shared.read().nodes()
    }

    pub fn host_network_pods(&self) -> Vec<HostNetworkPod> {
        self.shared.read().host_network_pods()
    }

    pub fn service_backends(&self, namespace: &str, name: &str) -> ServiceBackends {
        self.shared.read().service_backends(namespace, name)
    }

    /// What discovery found, once it has run.
    pub fn served(&self) -> Option<Served> {
        lock(&self.shared.served).clone()
    }
}

async fn supervise(client: kube::Client, shared: Arc<Shared>, opts: WatchOptions) {
    let mut pauses = Doubling::new(opts.retry);
    let mut attempts = 0;
    let served = loop {
        match discover(&client, &opts.kinds).await {
            Ok(served) => break served,
            Err(e) => {
                attempts += 1;
                tracing::warn!(error = %e, "cannot read what the cluster serves; retrying");
                lock(&shared.status).discovery = DiscoveryStatus::Failed {
                    error: e.to_string(),
                    attempts,
                };
                let pause = pauses.next().unwrap_or(opts.retry.max);
                tokio::time::sleep(pause).await;
            }
        }
    };
    {
        let mut table = lock(&shared.status);
        table.discovery = DiscoveryStatus::Done;
        for (kind, reason) in &served.not_served {
            tracing::info!(resource = %kind, reason = %reason, "not served by the cluster: skipped");
            let status = table
                .kinds
                .entry(*kind)
                .or_insert_with(|| KindStatus::new(*kind));
            status.state = WatchState::NotServed;
            status.reason = Some(reason.clone());
        }
        for (kind, resource) in &served.resources {
            if let Some(status) = table.kinds.get_mut(kind) {
                status.api_version = Some(resource.api_version.clone());
            }
        }
    }
    *lock(&shared.served) = Some(served.clone());
    shared.update_synced();

    let ctx = Arc::new(ConvertContext {
        calico: served.calico_api(),
        opts: opts.load_options.clone(),
    });
    let (tx, rx) = mpsc::channel(4096);
    let mut tasks = JoinSet::new();
    tasks.spawn(apply_events(Arc::clone(&shared), rx, opts.retention));
    let config = watcher::Config {
        timeout: opts.watch_timeout,
        page_size: opts.page_size,
        ..watcher::Config::default()
    };
    for (&kind, resource) in &served.resources {
        let task = KindTask {
            kind,
            shared: Arc::clone(&shared),
            tx: tx.clone(),
            config: config.clone(),
            retry: opts.retry,
        };
        spawn_kind(&mut tasks, client.clone(), resource, task, Arc::clone(&ctx));
    }
    drop(tx);
    while tasks.join_next().await.is_some() {}
}

/// Applies converted events to the index, as many as are waiting at once, and tells
/// subscribers what changed.
async fn apply_events(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<IndexEvent>,
    retention: Duration,
) {
    const MAX_BATCH: usize = 4096;
    let mut last_prune = (shared.clock)();
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(event) => batch.push(event),
                Err(_) => break,
            }
        }
        let now = (shared.clock)();
        let mut changes = Vec::new();
        let mut listed: Vec<Kind> = Vec::new();
        let revision = {
            let mut index = shared.write();
            for event in batch {
                if let IndexEvent::Relisted { kind, .. } = &event {
                    listed.push(*kind);
                }
                changes.extend(index.apply(event, now));
            }
            let horizon = now.saturating_sub(retention.as_millis() as UnixMillis);
            if now - last_prune > 60_000 {
                index.timeline_mut().prune_before(horizon);
                index.history_mut().prune_before(horizon);
                last_prune = now;
            }
            // Counted before the index is released, so whoever sees the listing sees it
            // counted too.
            for kind in listed {
                shared.kind_status(kind, |s| {
                    s.listings += 1;
                    s.synced_at.get_or_insert(now);
                });
            }
            index.revision()
        };
        if !changes.is_empty() {
            lock(&shared.status).last_change_at = Some(now);
            // No subscriber is not an error.
            let _ = shared.updates.send(Arc::new(Update {
                revision,
                at: now,
                changes,
            }));
        }
        shared.update_synced();
    }
}

/// What a kind's task needs besides its API and conversion.
struct KindTask {
    kind: Kind,
    shared: Arc<Shared>,
    tx: mpsc::Sender<IndexEvent>,
    config: watcher::Config,
    retry: RetryPolicy,
}

fn spawn_kind(
    tasks: &mut JoinSet<()>,
    client: kube::Client,
    resource: &ApiResource,
    task: KindTask,
    ctx: Arc<ConvertContext>,
) {
    let kind = task.kind;
    match kind {
        Kind::Namespace => {
            tasks.spawn(run(Api::<Namespace>::all(client), task, move |o| {
                convert_typed(kind, &o, &ctx)
            }));
        }
        Kind::ServiceAccount => {
            tasks.spawn(run(Api::<ServiceAccount>::all(client), task, move |o| {
                convert_typed(kind, &o, &ctx)
            }));
        }
        Kind::Pod => {
            tasks.spawn(run(Api::<Pod>::all(client), task, move |o| {
                convert_pod(o, &ctx)
            }));
        }
        Kind::Service => {
            tasks.spawn(run(Api::<Service>::all(client), task, move |o| {
                convert_typed(kind, &o, &ctx)
            }));
        }
        Kind::EndpointSlice => {
            tasks.spawn(run(Api::<EndpointSlice>::all(client), task, |o| {
                convert_endpoint_slice(&o)
            }));
        }
        Kind::Node => {
            tasks.spawn(run(Api::<Node>::all(client), task, |o| convert_node(&o)));
        }
        Kind::NetworkPolicy => {
            tasks.spawn(run(Api::<NetworkPolicy>::all(client), task, move |o| {
                convert_typed(kind, &o, &ctx)
            }));
        }
        _ => {
            let api = Api::<DynamicObject>::all_with(client, resource);
            tasks.spawn(run(api, task, move |o| match serde_json::to_value(&o) {
                Ok(value) => convert_value(kind, value, &ctx),
                Err(e) => Converted::skipped(kind, &o.metadata, format!("cannot read: {e}")),
            }));
        }
    }
}

/// Describes a watcher error for the status, naming the two cases people ask about.
fn describe(e: &watcher::Error) -> String {
    match e {
        watcher::Error::WatchError(status) if status.code == 410 => {
            "resourceVersion expired (410 Gone): listing again".into()
        }
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s))
            if s.is_forbidden() =>
        {
            format!(
                "forbidden: {} (grant list and watch to Flowlens' service account)",
                s.message
            )
        }
        other => other.to_string(),
    }
}

async fn run<K, F>(api: Api<K>, task: KindTask, convert: F)
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    F: Fn(K) -> Converted + Send + 'static,
{
    let KindTask {
        kind,
        shared,
        tx,
        config,
        retry,
    } = task;
    let mut stream = watcher::watcher(api, config)
        .backoff(Doubling::new(retry))
        .boxed();
    let mut listing: Vec<Converted> = Vec::new();
    let newest = |shared: &Shared, c: &Converted| {
        if let Some(rv) = &c.resource_version {
            let rv = rv.clone();
            shared.kind_status(kind, |s| s.resource_version = Some(rv));
        }
    };
    while let Some(item) = stream.next().await {
        let event = match item {
            Ok(Event::Init) => {
                listing.clear();
                shared.kind_status(kind, |s| s.state = WatchState::Listing);
                continue;
            }
            Ok(Event::InitApply(object)) => {
                let c = convert(object);
                newest(&shared, &c);
                listing.push(c);
                continue;
            }
            Ok(Event::InitDone) => {
                shared.kind_status(kind, |s| s.state = WatchState::Watching);
                IndexEvent::Relisted {
                    kind,
                    objects: std::mem::take(&mut listing),
                }
            }
            Ok(Event::Apply(object)) => {
                let c = convert(object);
                newest(&shared, &c);
                let now = (shared.clock)();
                shared.kind_status(kind, |s| {
                    s.state = WatchState::Watching;
                    s.events += 1;
                    s.last_event_at = Some(now);
                });
                IndexEvent::Applied(c)
            }
            Ok(Event::Delete(object)) => {
                let c = convert(object);
                newest(&shared, &c);
                let now = (shared.clock)();
                shared.kind_status(kind, |s| {
                    s.state = WatchState::Watching;
                    s.events += 1;
                    s.last_event_at = Some(now);
                });
                IndexEvent::Deleted(c)
            }
            Err(e) => {
                let text = describe(&e);
                tracing::warn!(resource = %kind, error = %text, "watch failed; retrying");
                shared.kind_status(kind, |s| {
                    s.state = WatchState::Retrying;
                    s.errors += 1;
                    s.last_error = Some(text);
                });
                continue;
            }
        };
        if tx.send(event).await.is_err() {
            return;
        }
    }
}
