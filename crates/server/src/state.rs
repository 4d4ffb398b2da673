//! What every request handler shares: the store, the current inventory with its compiled
//! engine, the stream of newly stored flows, the ingest loops feeding the store, and the
//! scenario when one runs.

use crate::scenario::ScenarioControl;
use flowlens_ingest::{IngestHandle, StoreObserver};
use flowlens_model::{FlowLog, Inventory, PolicyHitFormat};
use flowlens_policy::Engine;
use flowlens_store::{AppendReceipt, Store};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use tokio::sync::{broadcast, watch};

/// Flow logs just stored, with the record id of the first (the rest follow in order).
pub struct LiveBatch {
    pub first_record_id: Option<u64>,
    pub logs: Vec<FlowLog>,
}

/// A change to the policies made through the API.
#[derive(Clone, Debug)]
pub enum PolicyEdit {
    Upsert(Box<flowlens_model::Policy>),
    Remove(flowlens_model::PolicyId),
    /// A tier created for policies saved into it (the advisor's).
    AddTier(flowlens_model::Tier),
}

/// An inventory and the engine compiled from it; replaced as a whole when either changes, so
/// a request sees one consistent pair.
pub struct World {
    pub inventory: Arc<Inventory>,
    pub engine: Arc<Engine>,
    /// Counts replacements, so clients can tell that policies changed.
    pub revision: u64,
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    store: Arc<dyn Store>,
    world: RwLock<Arc<World>>,
    /// Batches of flow logs just stored, for live views.
    live: broadcast::Sender<Arc<LiveBatch>>,
    /// The newest `end_time` stored, so `since=15m` means the last 15 minutes of data even
    /// when a scenario runs faster than the wall clock.
    newest_end: AtomicI64,
    scenario: OnceLock<Arc<dyn ScenarioControl>>,
    /// The HTTPS listener's counters, when the server speaks HTTPS.
    https: OnceLock<crate::tls::HttpsStats>,
    /// The ingest loops storing into the store: they attribute with the engine of a policy
    /// saved here.
    ingest: std::sync::Mutex<Vec<IngestHandle>>,
    hit_format: PolicyHitFormat,
    /// Policy edits saved through the API, re-applied to every inventory a scenario step
    /// brings, so that a step does not undo them.
    edits: std::sync::Mutex<Vec<PolicyEdit>>,
    /// Turns true when the server stops, so that endless responses (live streams) end.
    shutdown: watch::Sender<bool>,
    /// Held from reading a policy's version to installing the change, so that two edits
    /// based on the same version cannot both succeed, and audit entries are in order.
    policy_edit: tokio::sync::Mutex<()>,
    /// Where policy changes are recorded (the data directory's `audit.jsonl`).
    audit: OnceLock<crate::audit::AuditLog>,
    /// The cluster the inventory follows, when connected to one.
    cluster: OnceLock<Arc<crate::cluster::ClusterLink>>,
    /// Live streams open now, and how many may be.
    live_streams: AtomicUsize,
    max_live_streams: AtomicUsize,
}

/// Live streams (`/api/flows/live`) open at once unless configured otherwise: each holds a
/// connection, a task and up to [`LIVE_BACKLOG`] batches of flows.
pub const DEFAULT_MAX_LIVE_STREAMS: usize = 64;

/// How long a client refused a live stream is asked to wait before trying again.
pub const LIVE_RETRY_AFTER_SECS: u64 = 10;

/// One open live stream, counted until dropped (when its response body is dropped: the
/// client went away, or the stream ended).
pub struct LiveStreamSlot(AppState);

impl Drop for LiveStreamSlot {
    fn drop(&mut self) {
        self.0.0.live_streams.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Live subscribers that fall this many batches behind lose the oldest ones.
const LIVE_BACKLOG: usize = 256;

impl AppState {
    pub fn new(store: Arc<dyn Store>, inventory: Arc<Inventory>, newest_end: Option<i64>) -> Self {
        let engine = Arc::new(Engine::new(inventory.clone()));
        let (live, _) = broadcast::channel(LIVE_BACKLOG);
        AppState(Arc::new(Inner {
            store,
            world: RwLock::new(Arc::new(World {
                inventory,
                engine,
                revision: 0,
            })),
            live,
            newest_end: AtomicI64::new(newest_end.unwrap_or(i64::MIN)),
            scenario: OnceLock::new(),
            https: OnceLock::new(),
            ingest: std::sync::Mutex::new(Vec::new()),
            hit_format: PolicyHitFormat::Calico,
            edits: std::sync::Mutex::new(Vec::new()),
            shutdown: watch::channel(false).0,
            policy_edit: tokio::sync::Mutex::new(()),
            audit: OnceLock::new(),
            cluster: OnceLock::new(),
            live_streams: AtomicUsize::new(0),
            max_live_streams: AtomicUsize::new(DEFAULT_MAX_LIVE_STREAMS),
        }))
    }

    /// At most `max` live streams are open at once from now on; the next one gets 503
    /// (streams already open stay).
    pub fn set_max_live_streams(&self, max: usize) {
        self.0.max_live_streams.store(max, Ordering::SeqCst);
    }

    pub fn max_live_streams(&self) -> usize {
        self.0.max_live_streams.load(Ordering::SeqCst)
    }

    /// Live streams open now.
    pub fn live_streams(&self) -> usize {
        self.0.live_streams.load(Ordering::SeqCst)
    }

    /// A slot for one more live stream, or `None` when [`AppState::max_live_streams`] are
    /// open.
    pub fn open_live_stream(&self) -> Option<LiveStreamSlot> {
        let max = self.max_live_streams();
        self.0
            .live_streams
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |open| {
                (open < max).then_some(open + 1)
            })
            .ok()
            .map(|_| LiveStreamSlot(self.clone()))
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.0.store
    }

    pub fn world(&self) -> Arc<World> {
        self.0
            .world
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Compiles `inventory` and makes it current for requests. Ingest loops are told by
    /// whoever changed it: [`AppState::install_for_ingest`] for a change made here, the
    /// source itself for one in order with its traffic.
    pub fn install(&self, inventory: Arc<Inventory>) -> Arc<World> {
        let engine = Arc::new(Engine::new(inventory.clone()));
        self.install_compiled(inventory, engine)
    }

    /// [`AppState::install`] with the engine already compiled from `inventory`.
    fn install_compiled(&self, inventory: Arc<Inventory>, engine: Arc<Engine>) -> Arc<World> {
        let mut guard = self.0.world.write().unwrap_or_else(|e| e.into_inner());
        let world = Arc::new(World {
            inventory,
            engine,
            revision: guard.revision + 1,
        });
        *guard = world.clone();
        world
    }

    pub fn hit_format(&self) -> PolicyHitFormat {
        self.0.hit_format
    }

    /// Records the newest `end_time` just stored, for relative time ranges.
    pub fn note_newest(&self, end_time: i64) {
        self.0.newest_end.fetch_max(end_time, Ordering::Relaxed);
    }

    /// Whether any live view is listening (publishing is wasted work otherwise).
    pub fn has_subscribers(&self) -> bool {
        self.0.live.receiver_count() > 0
    }

    /// Announces logs that were just stored to live views.
    pub fn publish(&self, batch: LiveBatch) {
        // No subscribers is fine.
        let _ = self.0.live.send(Arc::new(batch));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveBatch>> {
        self.0.live.subscribe()
    }

    /// "Now" for relative time ranges: the wall clock, or the newest data when that is later.
    pub fn now(&self) -> i64 {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        wall.max(self.0.newest_end.load(Ordering::Relaxed))
    }

    /// [`AppState::install`], and every attached ingest loop attributes with the new engine
    /// from its next input on.
    pub fn install_for_ingest(&self, inventory: Arc<Inventory>) -> Arc<World> {
        let engine = Arc::new(Engine::new(inventory.clone()));
        self.install_compiled_for_ingest(inventory, engine)
    }

    /// [`AppState::install_for_ingest`] with the engine already compiled from `inventory`.
    pub fn install_compiled_for_ingest(
        &self,
        inventory: Arc<Inventory>,
        engine: Arc<Engine>,
    ) -> Arc<World> {
        let world = self.install_compiled(inventory, engine);
        let loops = self.0.ingest.lock().unwrap_or_else(|e| e.into_inner());
        for ingest in loops.iter() {
            ingest.set_engine(world.engine.clone());
        }
        world
    }

    /// Registers an ingest loop that stores into this state's store.
    pub fn attach_ingest(&self, ingest: IngestHandle) {
        self.0
            .ingest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ingest);
    }

    /// Every source of every attached ingest loop, with its counters.
    pub fn sources(&self) -> Vec<flowlens_ingest::SourceStatus> {
        let loops = self.0.ingest.lock().unwrap_or_else(|e| e.into_inner());
        loops.iter().flat_map(|l| l.sources()).collect()
    }

    /// Tells live views about what an ingest loop stores; hand it to the loop's
    /// [`StoreSink`](flowlens_ingest::StoreSink).
    pub fn live_observer(&self) -> Arc<dyn StoreObserver> {
        Arc::new(LiveViews(self.clone()))
    }

    pub fn set_scenario(&self, scenario: Arc<dyn ScenarioControl>) {
        if self.0.scenario.set(scenario).is_err() {
            tracing::warn!("a second scenario was started; keeping the first");
        }
    }

    pub fn scenario(&self) -> Option<&Arc<dyn ScenarioControl>> {
        self.0.scenario.get()
    }

    /// Shows the HTTPS listener's counters in `/metrics`.
    pub fn attach_https(&self, stats: crate::tls::HttpsStats) {
        if self.0.https.set(stats).is_err() {
            tracing::warn!("a second HTTPS listener was attached; keeping the first");
        }
    }

    pub fn https(&self) -> Option<&crate::tls::HttpsStats> {
        self.0.https.get()
    }

    /// Ends live streams; call before waiting for the server to stop.
    pub fn shut_down(&self) {
        self.0.shutdown.send_replace(true);
    }

    /// Completes once [`AppState::shut_down`] was called.
    pub fn shutting_down(&self) -> impl std::future::Future<Output = ()> + Send + use<> {
        let mut rx = self.0.shutdown.subscribe();
        async move {
            let _ = rx.wait_for(|down| *down).await;
        }
    }

    /// Records policy changes in `path` (JSON lines) from now on.
    pub fn set_audit_log(&self, path: &std::path::Path) {
        if self.0.audit.set(crate::audit::AuditLog::new(path)).is_err() {
            tracing::warn!("a second audit log was set; keeping the first");
        }
    }

    pub fn audit_log(&self) -> Option<&crate::audit::AuditLog> {
        self.0.audit.get()
    }

    /// Connects the server to a cluster: its inventory and policies follow `link`'s watch
    /// from the watch's first complete listing on (see [`crate::cluster::follow`]; the
    /// returned task does that and ends with the watch).
    pub fn connect_cluster(
        &self,
        link: Arc<crate::cluster::ClusterLink>,
    ) -> tokio::task::JoinHandle<()> {
        if self.0.cluster.set(link.clone()).is_err() {
            tracing::warn!("a second cluster was connected; keeping the first");
        }
        tokio::spawn(crate::cluster::follow(self.clone(), link))
    }

    pub fn cluster(&self) -> Option<&Arc<crate::cluster::ClusterLink>> {
        self.0.cluster.get()
    }

    /// Whether flows are attributed yet: not while a cluster's first listing is under way.
    pub fn is_syncing(&self) -> bool {
        self.cluster().is_some_and(|c| !c.is_ready())
    }

    /// Taken by a policy change from reading the current version to installing its own.
    pub async fn lock_policy_edits(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.0.policy_edit.lock().await
    }

    pub fn record_edits(&self, edits: Vec<PolicyEdit>) {
        self.0
            .edits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(edits);
    }

    /// `inventory` with the saved policy edits applied; an edit that no longer fits (its
    /// tier is gone) is skipped with a warning.
    pub fn with_edits(&self, inventory: Arc<Inventory>) -> Arc<Inventory> {
        let edits = self
            .0
            .edits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if edits.is_empty() {
            return inventory;
        }
        let mut inv = (*inventory).clone();
        for edit in edits {
            let result = match edit {
                PolicyEdit::Upsert(p) => inv.upsert_policy(*p).map(|_| ()),
                PolicyEdit::Remove(id) => inv.remove_policy(&id).map(|_| ()),
                PolicyEdit::AddTier(tier) => {
                    if inv.tier(&tier.name).is_none() {
                        inv.tiers.push(tier);
                        inv.sort_in_evaluation_order();
                    }
                    Ok(())
                }
            };
            if let Err(e) = result {
                tracing::warn!("a saved policy edit no longer applies: {e}");
            }
        }
        Arc::new(inv)
    }
}

/// Newly stored flow logs → live views and the "newest data" clock.
struct LiveViews(AppState);

impl StoreObserver for LiveViews {
    fn wants_logs(&self) -> bool {
        true
    }

    fn stored(&self, _receipt: &AppendReceipt, logs: Vec<FlowLog>, first_record_id: u64) {
        if let Some(newest) = logs.iter().map(|l| l.end_time).max() {
            self.0.note_newest(newest);
        }
        // The live views get the batch only when someone is watching.
        if !logs.is_empty() && self.0.has_subscribers() {
            self.0.publish(LiveBatch {
                first_record_id: Some(first_record_id),
                logs,
            });
        }
    }
}
