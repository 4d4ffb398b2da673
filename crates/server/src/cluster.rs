//! A live cluster behind the server: the inventory and the policies follow the cluster's
//! watch (the server serves verdicts once the watch has listed everything), late flows are
//! attributed with the inventory of their own time, and policy saves are written to the
//! cluster.

use crate::api::policies::version_of;
use crate::audit::AuditEntry;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::http::StatusCode;
use flowlens_kube::{
    AccessReview, ApplyMode, ApplyRequest, ClusterWatch, DeleteRequest, PolicyWriter, WriteError,
};
use flowlens_model::{Inventory, Policy, PolicyId, UnixMillis};
use flowlens_policy::{Engine, EngineHistory};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// How long earlier engines are kept for late flows: Calico's default flush interval is
/// five minutes, so a flow can arrive that late and more.
const HISTORY_WINDOW: Duration = Duration::from_secs(15 * 60);
/// At most this many earlier engines are kept (each holds a whole inventory): under heavy
/// churn the window is shorter.
const HISTORY_ENGINES: usize = 16;
/// Changes that arrive this close together are compiled once.
const COALESCE: Duration = Duration::from_millis(20);
/// How long a write waits for the watch to bring the change back, so that the answer's
/// revision shows it (the write is done either way).
const WRITE_ECHO: Duration = Duration::from_secs(3);

/// The engines of the inventories of the last minutes, each with the time it became current.
pub struct EngineTimeline {
    engines: RwLock<VecDeque<(UnixMillis, Arc<Engine>)>>,
}

impl EngineTimeline {
    fn new() -> EngineTimeline {
        EngineTimeline {
            engines: RwLock::new(VecDeque::new()),
        }
    }

    /// Records `engine` as current from `from` on, and forgets engines that stopped being
    /// current before the window.
    fn push(&self, from: UnixMillis, engine: Arc<Engine>) {
        let mut engines = self.engines.write().unwrap_or_else(|e| e.into_inner());
        engines.push_back((from, engine));
        let horizon = from.saturating_sub(HISTORY_WINDOW.as_millis() as UnixMillis);
        while engines.len() > HISTORY_ENGINES || engines.get(1).is_some_and(|e| e.0 < horizon) {
            engines.pop_front();
        }
    }

    fn len(&self) -> usize {
        self.engines.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The engine current at `t`, if the window still keeps it (the first engine installed
    /// answers for every earlier time too).
    fn covering(&self, t: UnixMillis) -> Option<Arc<Engine>> {
        let engines = self.engines.read().unwrap_or_else(|e| e.into_inner());
        engines
            .iter()
            .rev()
            .find(|(from, _)| *from <= t)
            .map(|(_, e)| Arc::clone(e))
    }
}

/// Where the engine for a past time came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineSource {
    /// One of the engines kept for late flows.
    Kept,
    /// Compiled from the watch's policy history.
    PolicyHistory,
}

impl EngineHistory for EngineTimeline {
    fn engine_at(&self, t: i64) -> Option<Arc<Engine>> {
        // The last engine current at or before `t`; older than the window: the oldest kept.
        self.covering(t).or_else(|| {
            let engines = self.engines.read().unwrap_or_else(|e| e.into_inner());
            engines.front().map(|(_, e)| Arc::clone(e))
        })
    }
}

/// What the server knows of the cluster it is connected to.
pub struct ClusterLink {
    pub(crate) watch: ClusterWatch,
    pub(crate) writer: PolicyWriter,
    /// The last permission check (`Err`: it could not be made).
    access: Mutex<Option<Result<AccessReview, String>>>,
    timeline: Arc<EngineTimeline>,
    /// Turns true once the cluster's inventory is the server's.
    ready: tokio::sync::watch::Sender<bool>,
    /// Checks the Kubernetes tokens of API users, when they may use them.
    reviewer: Option<flowlens_kube::Reviewer>,
}

impl ClusterLink {
    pub fn new(watch: ClusterWatch, writer: PolicyWriter) -> ClusterLink {
        ClusterLink {
            watch,
            writer,
            access: Mutex::new(None),
            timeline: Arc::new(EngineTimeline::new()),
            ready: tokio::sync::watch::channel(false).0,
            reviewer: None,
        }
    }

    /// API users may authenticate with Kubernetes tokens, which `reviewer` checks (see
    /// [`crate::kube_auth`]).
    pub fn with_reviewer(mut self, reviewer: flowlens_kube::Reviewer) -> ClusterLink {
        self.reviewer = Some(reviewer);
        self
    }

    pub fn reviewer(&self) -> Option<&flowlens_kube::Reviewer> {
        self.reviewer.as_ref()
    }

    /// Whether the cluster's inventory is the server's yet (its first listing is complete
    /// and compiled).
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Waits until [`ClusterLink::is_ready`].
    pub async fn ready(&self) {
        let mut rx = self.ready.subscribe();
        // The sender lives as long as `self`.
        let _ = rx.wait_for(|r| *r).await;
    }

    pub fn watch(&self) -> &ClusterWatch {
        &self.watch
    }

    /// The last permission check, if one was made.
    pub fn access(&self) -> Option<Result<AccessReview, String>> {
        self.access
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Asks the cluster (SelfSubjectAccessReview) what Flowlens may write, and remembers it.
    pub async fn check_access(&self) -> Result<AccessReview, String> {
        let answer = self.writer.access(None).await.map_err(|e| e.to_string());
        *self.access.lock().unwrap_or_else(|e| e.into_inner()) = Some(answer.clone());
        answer
    }

    /// Earlier engines kept for late flows.
    pub fn engines_kept(&self) -> usize {
        self.timeline.len()
    }

    /// An engine of the tiers and policies in force at `t` (Unix milliseconds): one kept for
    /// late flows when `t` is in their window, else one compiled from the watch's policy
    /// history with today's endpoints (who held an address then is in the flow log itself).
    pub async fn engine_at(self: &Arc<Self>, t: UnixMillis) -> (Arc<Engine>, EngineSource) {
        if let Some(engine) = self.timeline.covering(t) {
            return (engine, EngineSource::Kept);
        }
        let link = Arc::clone(self);
        let compiled =
            tokio::task::spawn_blocking(move || Engine::new(link.watch.inventory_at(t))).await;
        let engine = compiled.unwrap_or_else(|e| {
            tracing::error!("compiling the policies of an earlier time failed: {e}");
            Engine::new(Inventory::new())
        });
        (Arc::new(engine), EngineSource::PolicyHistory)
    }
}

/// Makes the cluster's inventory the server's: waits until the watch has listed every kind,
/// installs its inventory, then each change as it comes (changes close together once).
/// Returns when the watch stops.
pub async fn follow(state: AppState, link: Arc<ClusterLink>) {
    // Subscribed before waiting, so no change between the listing and the loop is missed.
    let mut updates = link.watch.subscribe();
    link.watch.synced().await;
    let mut installed = install(&state, &link, None, None).await;
    loop {
        let newest = match updates.recv().await {
            Ok(update) => update,
            Err(RecvError::Lagged(_)) => {
                installed = install(&state, &link, Some(now()), None).await;
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        if newest.revision <= installed.revision {
            continue;
        }
        tokio::time::sleep(COALESCE).await;
        let (mut at, mut seen) = (newest.at, newest.revision);
        // Whether every change since the installed engine is an endpoint's: then the engine
        // is brought up to date instead of compiled afresh.
        let mut endpoints_only = only_endpoints(&newest);
        loop {
            match updates.try_recv() {
                Ok(u) => {
                    at = at.max(u.at);
                    seen = seen.max(u.revision);
                    endpoints_only &= only_endpoints(&u);
                }
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {
                    endpoints_only = false;
                    continue;
                }
                Err(_) => break,
            }
        }
        let base = installed
            .engine
            .as_ref()
            .filter(|_| endpoints_only)
            .map(|engine| (Arc::clone(engine), seen));
        installed = install(&state, &link, Some(at), base).await;
    }
}

fn only_endpoints(update: &flowlens_kube::Update) -> bool {
    update
        .changes
        .iter()
        .all(|c| matches!(c.key, flowlens_model::InventoryKey::Endpoint { .. }))
}

/// The engine the server runs (none if compiling failed) and the watch revision its
/// inventory holds.
struct Installed {
    revision: u64,
    engine: Option<Arc<Engine>>,
}

/// Compiles the watch's current inventory and makes it current for requests and ingest,
/// valid from `from` (`None`: for all earlier times too). With `base` (an engine and the
/// revision up to which every change since it was an endpoint's), an inventory still at that
/// revision is compiled from the engine's work; otherwise afresh.
async fn install(
    state: &AppState,
    link: &Arc<ClusterLink>,
    from: Option<UnixMillis>,
    base: Option<(Arc<Engine>, u64)>,
) -> Installed {
    let compiling = Arc::clone(link);
    let compiled = tokio::task::spawn_blocking(move || {
        let link = compiling;
        let started = std::time::Instant::now();
        // A copy of our own, made under the watch's lock: holding the watch's would make its
        // next change copy the whole inventory again.
        let (inventory, revision) = link.watch.with_inventory(|inv, rev| (inv.clone(), rev));
        let inventory = Arc::new(inventory);
        let updated = base
            .filter(|(_, seen)| *seen == revision)
            .and_then(|(engine, _)| engine.with_changed_endpoints(Arc::clone(&inventory)));
        let incremental = updated.is_some();
        let engine = updated.unwrap_or_else(|| Engine::new(Arc::clone(&inventory)));
        let history: Arc<dyn EngineHistory> = link.timeline.clone();
        let engine = match from {
            Some(from) => Arc::new(engine.with_history(from, &history)),
            None => Arc::new(engine),
        };
        link.timeline
            .push(from.unwrap_or(UnixMillis::MIN), engine.clone());
        tracing::debug!(
            revision,
            incremental,
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "cluster inventory compiled"
        );
        (revision, inventory, engine)
    })
    .await;
    match compiled {
        Ok((revision, inventory, engine)) => {
            state.install_compiled_for_ingest(inventory, Arc::clone(&engine));
            link.ready.send_replace(true);
            Installed {
                revision,
                engine: Some(engine),
            }
        }
        Err(e) => {
            tracing::error!("compiling the cluster's inventory failed: {e}");
            Installed {
                revision: 0,
                engine: None,
            }
        }
    }
}

/// A policy save when connected: a server-side apply to the cluster (dry run first, field
/// manager `flowlens`), as the staged or enforced kind when `staged` says. The running
/// inventory is not edited here: it follows the watch, which brings the change back.
/// `based` says whether the editor started from the current version (then the cluster's
/// `resourceVersion` of it is a precondition); `force` takes over fields other field
/// managers own.
pub(crate) async fn apply_policy(
    state: &AppState,
    who: &Principal,
    yaml: &str,
    staged: Option<bool>,
    force: bool,
    id: &PolicyId,
    based: bool,
) -> ApiResult<Value> {
    let link = connected(state)?;
    let before = state.world().inventory.policy(id).cloned();
    let request = ApplyRequest {
        document: yaml.to_string(),
        mode: match staged {
            Some(true) => ApplyMode::Staged,
            Some(false) => ApplyMode::Enforced,
            None => ApplyMode::AsWritten,
        },
        base_resource_version: based.then(|| resource_version(link, id)).flatten(),
        force,
        dry_run_only: false,
    };
    let applied = link
        .writer
        .apply(&request)
        .await
        .map_err(|e| write_error(e, id))?;
    let Some(policy) = applied.policy else {
        return Err(ApiError::internal(format!(
            "the cluster applied {} but returned an object Flowlens cannot read",
            applied.name
        )));
    };
    let version = version_of(&policy);
    let saved = PolicyId::of(&policy);
    let visible = wait_for(state, |inv| {
        inv.policy(&saved).is_some_and(|p| version_of(p) == version)
    })
    .await;
    let revision = state.world().revision;
    audit(
        state,
        who,
        "apply",
        before.as_ref(),
        Some(&policy),
        revision,
    )?;
    Ok(json!({
        "id": saved.to_string(),
        "version": version,
        "revision": revision,
        "cluster": {
            "applied": true,
            "kind": applied.kind,
            "api_version": applied.api_version,
            "resource_version": applied.resource_version,
            "field_manager": flowlens_kube::FIELD_MANAGER,
            "in_inventory": visible,
        },
    }))
}

/// A policy delete when connected: deleted in the cluster (dry run first); the inventory
/// follows the watch.
pub(crate) async fn delete_policy(
    state: &AppState,
    who: &Principal,
    id: &PolicyId,
    based: bool,
) -> ApiResult<Value> {
    let link = connected(state)?;
    let before = state.world().inventory.policy(id).cloned();
    let request = DeleteRequest {
        policy: id.clone(),
        base_resource_version: based.then(|| resource_version(link, id)).flatten(),
        dry_run_only: false,
    };
    link.writer
        .delete(&request)
        .await
        .map_err(|e| write_error(e, id))?;
    let gone = wait_for(state, |inv| inv.policy(id).is_none()).await;
    let revision = state.world().revision;
    audit(
        state,
        who,
        "cluster-delete",
        before.as_ref(),
        None,
        revision,
    )?;
    Ok(json!({
        "deleted": id.to_string(),
        "revision": revision,
        "cluster": { "deleted": true, "in_inventory": !gone },
    }))
}

fn connected(state: &AppState) -> ApiResult<&Arc<ClusterLink>> {
    state
        .cluster()
        .ok_or_else(|| ApiError::internal("not connected to a cluster"))
}

/// The `resourceVersion` the watch last saw of a policy.
fn resource_version(link: &ClusterLink, id: &PolicyId) -> Option<String> {
    link.watch
        .policy_revisions(id)
        .last()
        .filter(|r| r.state.is_some())
        .and_then(|r| r.resource_version.clone())
}

/// Waits (a little) until the served inventory passes `check`.
async fn wait_for(state: &AppState, check: impl Fn(&Inventory) -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + WRITE_ECHO;
    loop {
        if check(&state.world().inventory) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn audit(
    state: &AppState,
    who: &Principal,
    action: &str,
    before: Option<&Policy>,
    after: Option<&Policy>,
    revision: u64,
) -> ApiResult<()> {
    let Some(log) = state.audit_log() else {
        return Ok(());
    };
    let Some(p) = after.or(before) else {
        return Ok(());
    };
    let yaml = |p: Option<&Policy>| p.and_then(|p| flowlens_manifests::policy_to_yaml(p).ok());
    let entry = AuditEntry {
        time: now() / 1000,
        user: who.name.clone(),
        action: action.to_string(),
        policy: PolicyId::of(p).to_string(),
        tier: p.tier.clone(),
        namespace: p.namespace.clone(),
        before: yaml(before),
        after: yaml(after),
        revision,
    };
    log.append(&entry).map_err(|e| {
        ApiError::internal(format!(
            "the cluster has the change but its audit entry could not be written: {e}"
        ))
    })
}

/// A write the cluster refused, as the editor shows it: a conflict with the current version
/// (409), no permission (403, the editor turns read-only), a document the cluster or
/// Flowlens cannot take (422), the cluster unreachable (502).
fn write_error(e: WriteError, id: &PolicyId) -> ApiError {
    let message = e.to_string();
    match e {
        WriteError::Conflict { conflict, .. } => {
            let text = if conflict.managers.is_empty() {
                format!(
                    "policy {id} was changed in the cluster since you loaded it ({}): the current version is shown; apply your edit to it and save again",
                    conflict.message
                )
            } else {
                format!(
                    "fields of policy {id} that this edit changes are managed by {} in the cluster ({}): the current version is shown; change it where it is managed, or save with force to take the fields over",
                    conflict.managers.join(", "),
                    conflict.message
                )
            };
            let mut err = ApiError::new(StatusCode::CONFLICT, text);
            err.current = Some(match &conflict.current_yaml {
                Some(yaml) => json!({
                    "id": id.to_string(),
                    "yaml": yaml,
                    "resource_version": conflict.current_resource_version,
                    "managers": conflict.managers,
                }),
                None => Value::Null,
            });
            err
        }
        WriteError::Forbidden(_) => ApiError::forbidden(format!(
            "read-only: {message}. Download the YAML and apply it with kubectl, or grant the policy write role"
        )),
        WriteError::NotFound(_) => ApiError::not_found(message),
        WriteError::Api(_) => ApiError::new(StatusCode::BAD_GATEWAY, message),
        WriteError::Invalid(_)
        | WriteError::Unsupported(_)
        | WriteError::NotServed { .. }
        | WriteError::CalicoStorageOnly
        | WriteError::Rejected { .. } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message),
    }
}

fn now() -> UnixMillis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as UnixMillis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Arc<Engine> {
        Arc::new(Engine::new(Inventory::new()))
    }

    #[test]
    fn the_engine_of_a_time_is_the_last_one_current_then() {
        let timeline = EngineTimeline::new();
        let (a, b, c) = (engine(), engine(), engine());
        timeline.push(UnixMillis::MIN, a.clone());
        timeline.push(1_000, b.clone());
        timeline.push(2_000, c.clone());
        assert!(Arc::ptr_eq(&timeline.engine_at(999).unwrap(), &a));
        assert!(Arc::ptr_eq(&timeline.engine_at(1_000).unwrap(), &b));
        assert!(Arc::ptr_eq(&timeline.engine_at(1_999).unwrap(), &b));
        assert!(Arc::ptr_eq(&timeline.engine_at(5_000).unwrap(), &c));
    }

    #[test]
    fn engines_past_the_window_or_the_count_are_forgotten() {
        let timeline = EngineTimeline::new();
        let first = engine();
        timeline.push(0, first.clone());
        let window = HISTORY_WINDOW.as_millis() as UnixMillis;
        timeline.push(10, engine());
        // The engine current from 10 on stopped being current after the window: kept only
        // while a later one is not yet past it.
        timeline.push(window + 20, engine());
        assert_eq!(timeline.len(), 2, "the first engine is past the window");
        assert!(!Arc::ptr_eq(&timeline.engine_at(0).unwrap(), &first));
        for i in 0..40 {
            timeline.push(window + 30 + i, engine());
        }
        assert_eq!(timeline.len(), HISTORY_ENGINES);
    }

    #[test]
    fn an_engine_defers_to_the_history_only_for_earlier_times() {
        let timeline = Arc::new(EngineTimeline::new());
        let history: Arc<dyn EngineHistory> = timeline.clone();
        let old = engine();
        timeline.push(UnixMillis::MIN, old.clone());
        let current = Arc::new(Engine::new(Inventory::new()).with_history(1_000, &history));
        timeline.push(1_000, current.clone());
        assert!(Arc::ptr_eq(&current.earlier_for(500).unwrap(), &old));
        assert!(current.earlier_for(1_000).is_none());
        assert!(current.earlier_for(2_000).is_none());
        drop(history);
        drop(timeline);
        assert!(
            current.earlier_for(500).is_none(),
            "no history, no earlier engine"
        );
    }
}
