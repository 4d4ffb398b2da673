//! The Policy Board and Policy Editor: tiers and policies with their metrics, one policy's
//! rules with per-rule hits, validation, the impact preview, saving, deleting, exporting.
//!
//! The metrics (per policy, and per direction and rule) are the store's
//! [`Store::policy_metrics`](flowlens_store::Store::policy_metrics) over the window.

use super::{RawParams, params};
use crate::audit::AuditEntry;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, Detail};
use crate::kube_auth::KubeIdentity;
use crate::params::Params;
use crate::roles::Scope;
use crate::scoped;
use crate::searches;
use crate::state::{AppState, PolicyEdit};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use flowlens_impact::{ImpactError, PolicyChange, preview_change_over};
use flowlens_model::{Inventory, Policy, PolicyId, PolicyKind, RuleDirection};
use flowlens_policy::Engine;
use flowlens_store::{FlowSearch, HitCounts, PolicyMetrics, TimeRange};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// How hits name a policy: tier, kind, namespace, name.
type PolicyKey = (String, Option<PolicyKind>, Option<String>, String);

fn key_of_policy(p: &Policy) -> PolicyKey {
    (
        p.tier.clone(),
        Some(p.kind),
        p.namespace.clone(),
        p.name.clone(),
    )
}

/// The store's Policy Board metrics of the window, found by policy.
struct Metrics(BTreeMap<PolicyKey, PolicyMetrics>);

impl Metrics {
    /// `search` is the board's, [`searches::board`]; the sums are of the flows `scope`
    /// may see.
    async fn load(state: &AppState, scope: &Scope, search: &FlowSearch) -> ApiResult<Metrics> {
        let rows = scoped::policy_metrics(state.store().as_ref(), scope, search).await?;
        Ok(Metrics(
            rows.into_iter()
                .map(|m| {
                    (
                        (m.tier.clone(), m.kind, m.namespace.clone(), m.name.clone()),
                        m,
                    )
                })
                .collect(),
        ))
    }

    fn policy(&self, p: &Policy) -> HitCounts {
        self.0
            .get(&key_of_policy(p))
            .map(|m| m.total)
            .unwrap_or_default()
    }

    fn rule(&self, p: &Policy, direction: RuleDirection, index: i32) -> HitCounts {
        self.0
            .get(&key_of_policy(p))
            .map(|m| m.rule(direction, index))
            .unwrap_or_default()
    }

    /// Rule indices of a direction that nothing hit in the window.
    fn unused(&self, p: &Policy, direction: RuleDirection) -> Vec<usize> {
        (0..p.rules(direction == RuleDirection::Ingress).len())
            .filter(|&i| !self.rule(p, direction, i as i32).is_hit())
            .collect()
    }
}

fn kind_label(kind: PolicyKind) -> &'static str {
    match kind {
        PolicyKind::NetworkPolicy => "Calico",
        PolicyKind::GlobalNetworkPolicy => "global",
        PolicyKind::KubernetesNetworkPolicy => "Kubernetes",
        PolicyKind::AdminNetworkPolicy => "admin",
        PolicyKind::BaselineAdminNetworkPolicy => "baseline admin",
        PolicyKind::ClusterNetworkPolicy => "cluster",
        PolicyKind::StagedNetworkPolicy => "staged Calico",
        PolicyKind::StagedGlobalNetworkPolicy => "staged global",
        PolicyKind::StagedKubernetesNetworkPolicy => "staged Kubernetes",
    }
}

fn card(p: &Policy, endpoints: usize, hits: &Metrics) -> Value {
    let mut types = Vec::new();
    if p.types.ingress {
        types.push("ingress");
    }
    if p.types.egress {
        types.push("egress");
    }
    json!({
        "id": PolicyId::of(p).to_string(),
        "version": version_of(p),
        "tier": p.tier,
        "kind": p.kind.hit_tag(),
        "kind_label": kind_label(p.kind),
        "name": p.name,
        "namespace": p.namespace,
        "order": p.order,
        "selector": p.selector.to_string(),
        "namespace_selector": p.namespace_selector.as_ref().map(|s| s.to_string()),
        "staged": p.kind.is_staged(),
        "endpoints": endpoints,
        "types": types,
        "ingress_rules": p.ingress.len(),
        "egress_rules": p.egress.len(),
        "metrics": hits.policy(p),
        "unused_rules": {
            "ingress": hits.unused(p, RuleDirection::Ingress),
            "egress": hits.unused(p, RuleDirection::Egress),
        },
    })
}

/// A policy's version: a digest of its whole definition, which saves and deletes name (in
/// `If-Match` or `version`) to say which version they were based on.
pub(crate) fn version_of(p: &Policy) -> String {
    use std::hash::{Hash, Hasher};
    let text = serde_json::to_string(p).unwrap_or_default();
    // SipHash with fixed keys: the same definition gives the same version in every run.
    let mut h = std::hash::DefaultHasher::new();
    text.hash(&mut h);
    format!("{:016x}", h.finish())
}

fn time_of(state: &AppState, p: &Params) -> ApiResult<TimeRange> {
    p.time_range(state.now())
}

pub async fn board(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    raw: RawParams,
) -> ApiResult<Json<Value>> {
    let p = params(raw);
    let search = searches::board(&p, state.now())?;
    let time = search.time;
    let world = state.world();
    let full = &world.inventory;
    let inv = &scoped::inventory(&who.scope, full);
    let hits = Metrics::load(&state, &who.scope, &search).await?;
    let counts = world.engine.policy_endpoint_counts();
    let index_of: BTreeMap<PolicyId, usize> = full
        .policies
        .iter()
        .enumerate()
        .map(|(i, p)| (PolicyId::of(p), i))
        .collect();
    let tiers: Vec<Value> = inv
        .tiers_in_order()
        .into_iter()
        .map(|t| {
            let policies: Vec<Value> = inv
                .policies_in_tier(&t.name)
                .into_iter()
                .map(|p| {
                    let n = index_of.get(&PolicyId::of(p)).map_or(0, |&i| counts[i]);
                    card(p, n, &hits)
                })
                .collect();
            json!({
                "name": t.name,
                "order": t.order,
                "default_action": t.default_action,
                "policies": policies,
            })
        })
        .collect();
    Ok(Json(json!({
        "time": { "from": time.from, "to": time.to },
        "revision": world.revision,
        "tiers": tiers,
    })))
}

/// The policy `id=` names.
pub(crate) fn policy_id(p: &Params) -> ApiResult<PolicyId> {
    let text = p
        .get("id")
        .ok_or_else(|| ApiError::bad_request("give id=KIND:[NAMESPACE/]NAME, e.g. np:shop/web"))?;
    PolicyId::parse(text).map_err(|e| ApiError::bad_request(e.to_string()))
}

pub async fn policy(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    raw: RawParams,
) -> ApiResult<Json<Value>> {
    let p = params(raw);
    let id = policy_id(&p)?;
    let search = searches::board(&p, state.now())?;
    let time = search.time;
    let world = state.world();
    let inv = &world.inventory;
    let index = inv
        .policy_index(&id)
        .filter(|&i| {
            let policy = &inv.policies[i];
            who.scope
                .can_read_policy(&policy.tier, policy.namespace.as_deref())
        })
        .ok_or_else(|| ApiError::not_found(format!("no policy {id} in the inventory")))?;
    let policy = &inv.policies[index];
    let hits = Metrics::load(&state, &who.scope, &search).await?;
    let texts = flowlens_policy::rule_texts(policy);
    let rules = |direction: RuleDirection| -> Vec<Value> {
        let (rules, texts) = match direction {
            RuleDirection::Ingress => (&policy.ingress, &texts.ingress),
            RuleDirection::Egress => (&policy.egress, &texts.egress),
        };
        rules
            .iter()
            .zip(texts)
            .enumerate()
            .map(|(i, (rule, text))| {
                json!({
                    "index": i,
                    "text": text,
                    "action": rule.action,
                    "rule": rule,
                    "metrics": hits.rule(policy, direction, i as i32),
                })
            })
            .collect()
    };
    let ingress_end = hits.rule(policy, RuleDirection::Ingress, -1);
    let egress_end = hits.rule(policy, RuleDirection::Egress, -1);
    let mut end_total = ingress_end;
    end_total.add(&egress_end);
    let tier = inv.tiers.iter().find(|t| t.name == policy.tier);
    let mut value = card(policy, world.engine.policy_endpoint_count(index), &hits);
    value["time"] = json!({ "from": time.from, "to": time.to });
    value["yaml"] = json!(flowlens_manifests::policy_to_yaml(policy).ok());
    value["ingress"] = json!(rules(RuleDirection::Ingress));
    value["egress"] = json!(rules(RuleDirection::Egress));
    value["end_of_tier"] = json!({
        "action": tier.map(|t| t.default_action),
        "metrics": end_total,
        "ingress": ingress_end,
        "egress": egress_end,
    });
    value["source"] = json!(policy.source);
    Ok(Json(value))
}

/// The body of a save or preview.
#[derive(Deserialize)]
pub struct Draft {
    yaml: Option<String>,
    /// Save as the staged counterpart of the YAML's kind (or enforce a staged YAML).
    #[serde(default)]
    staged: Option<bool>,
    /// Preview deleting this policy instead.
    delete: Option<String>,
    /// Connected to a cluster: take over the fields other field managers own (server-side
    /// apply's force).
    #[serde(default)]
    force: bool,
    /// The version of the policy the edit is based on (as `If-Match` says it); a save of a
    /// policy that changed since gets 409.
    version: Option<String>,
    since: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
}

/// The YAML as a policy, with errors at their line and field.
pub(crate) fn parse_draft(yaml: &str, staged: Option<bool>) -> ApiResult<Policy> {
    let opts = flowlens_manifests::LoadOptions::default();
    let mut policy =
        flowlens_manifests::parse_policy(yaml, "draft.yaml", &opts).map_err(|errors| ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: format!(
                "the policy has {} error(s): {}",
                errors.len(),
                errors
                    .iter()
                    .next()
                    .map(|e| e.message.clone())
                    .unwrap_or_default()
            ),
            details: errors
                .iter()
                .map(|e| Detail {
                    line: e.line,
                    column: e.column,
                    field: (!e.field.is_empty()).then(|| e.field.clone()),
                    message: e.message.clone(),
                })
                .collect(),
            current: None,
        })?;
    match staged {
        Some(true) => policy.kind = staged_kind(policy.kind)?,
        Some(false) => policy.kind = policy.kind.enforced_kind(),
        None => {}
    }
    Ok(policy)
}

fn staged_kind(kind: PolicyKind) -> ApiResult<PolicyKind> {
    Ok(match kind {
        PolicyKind::NetworkPolicy | PolicyKind::StagedNetworkPolicy => {
            PolicyKind::StagedNetworkPolicy
        }
        PolicyKind::GlobalNetworkPolicy | PolicyKind::StagedGlobalNetworkPolicy => {
            PolicyKind::StagedGlobalNetworkPolicy
        }
        PolicyKind::KubernetesNetworkPolicy | PolicyKind::StagedKubernetesNetworkPolicy => {
            PolicyKind::StagedKubernetesNetworkPolicy
        }
        PolicyKind::AdminNetworkPolicy
        | PolicyKind::BaselineAdminNetworkPolicy
        | PolicyKind::ClusterNetworkPolicy => {
            return Err(unprocessable(
                "admin network policies have no staged kind; save it enforced, or preview it",
            ));
        }
    })
}

fn unprocessable(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
}

fn edit_error(e: impl std::fmt::Display) -> ApiError {
    unprocessable(e.to_string())
}

/// Warnings a person editing the policy wants to see.
fn warnings_for(policy: &Policy) -> Vec<String> {
    let mut warnings = Vec::new();
    if !policy.types.ingress && !policy.ingress.is_empty() {
        warnings.push("the ingress rules never apply: types does not include Ingress".into());
    }
    if !policy.types.egress && !policy.egress.is_empty() {
        warnings.push("the egress rules never apply: types does not include Egress".into());
    }
    warnings
}

/// Whether a draft is valid. The editor asks as the text changes, so a draft with problems
/// is an answer (`valid: false` with the problems at their lines), not a failed request.
pub async fn validate(State(state): State<AppState>, body: String) -> ApiResult<Json<Value>> {
    match check_draft(&state, &body).await {
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => Ok(Json(json!({
            "valid": false,
            "error": e.message,
            "details": e.details,
        }))),
        answer => answer.map(Json),
    }
}

async fn check_draft(state: &AppState, body: &str) -> ApiResult<Value> {
    let policy = parse_draft(body, None)?;
    let world = state.world();
    let draft = world
        .inventory
        .with_policy(policy.clone())
        .map_err(edit_error)?;
    let id = PolicyId::of(&policy);
    let endpoints = tokio::task::spawn_blocking(move || {
        let engine = Engine::new(Arc::new(draft));
        engine
            .inventory()
            .policy_index(&id)
            .map(|i| engine.policy_endpoint_count(i))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(json!({
        "valid": true,
        "id": PolicyId::of(&policy).to_string(),
        "policy": policy,
        "endpoints": endpoints,
        "warnings": warnings_for(&policy),
    }))
}

pub async fn preview(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Json(draft): Json<Draft>,
) -> ApiResult<Json<Value>> {
    let world = state.world();
    let change = match (&draft.yaml, &draft.delete) {
        (Some(yaml), None) => {
            let policy = parse_draft(yaml, draft.staged)?;
            may_write(&who.scope, &policy.tier, policy.namespace.as_deref())?;
            PolicyChange::Upsert(Box::new(policy))
        }
        (None, Some(id)) => {
            let id = PolicyId::parse(id).map_err(|e| ApiError::bad_request(e.to_string()))?;
            may_change_existing(&who.scope, &world.inventory, &id)?;
            PolicyChange::Delete(id)
        }
        _ => {
            return Err(ApiError::bad_request(
                "give either yaml (the draft) or delete (a policy id)",
            ));
        }
    };
    let mut p = Params::default();
    for (k, v) in [
        ("since", draft.since.clone()),
        ("from", draft.from.map(|v| v.to_string())),
        ("to", draft.to.map(|v| v.to_string())),
    ] {
        if let Some(v) = v {
            p.0.push((k.to_string(), v));
        }
    }
    let time = time_of(&state, &p)?;
    let searches = scoped::parts(&who.scope, &FlowSearch::new(time));
    let (mut result, _) = preview_change_over(
        state.store().as_ref(),
        &world.engine,
        change,
        time,
        &searches,
    )
    .await
    .map_err(|e| match e {
        ImpactError::Store(e) => ApiError::from(e),
        ImpactError::Task(e) => ApiError::internal(e),
        e => edit_error(e),
    })?;
    if !who.scope.is_admin() {
        for change in &mut result.changes {
            for (ns, name) in [
                (&mut change.source_namespace, &mut change.source_name_aggr),
                (&mut change.dest_namespace, &mut change.dest_name_aggr),
            ] {
                if !who.scope.sees_namespace(ns.as_deref()) {
                    *ns = Some(scoped::HIDDEN.into());
                    *name = scoped::HIDDEN.into();
                }
            }
        }
    }
    let mut value = serde_json::to_value(&result).map_err(|e| ApiError::internal(e.to_string()))?;
    value["window"] = json!({ "from": time.from, "to": time.to });
    Ok(Json(value))
}

/// 403 unless `scope` may write a policy of `tier` in `namespace`.
fn may_write(scope: &Scope, tier: &str, namespace: Option<&str>) -> ApiResult<()> {
    match scope.write_denied(tier, namespace) {
        None => Ok(()),
        Some(why) => Err(ApiError::forbidden(format!(
            "this user may not change policies there: {why}"
        ))),
    }
}

/// 403 unless `scope` may write the policy `id` as it is now (if it exists).
fn may_change_existing(scope: &Scope, inventory: &Inventory, id: &PolicyId) -> ApiResult<()> {
    match inventory.policy(id) {
        Some(p) => may_write(scope, &p.tier, p.namespace.as_deref()),
        None => Ok(()),
    }
}

/// The version an edit says it is based on: `If-Match` (an ETag, quotes optional) or the
/// body's `version`.
fn based_on(headers: &HeaderMap, body: Option<&str>) -> Option<String> {
    let header = headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .to_string()
        });
    header
        .or_else(|| body.map(str::to_string))
        .filter(|v| !v.is_empty() && v != "*")
}

/// 409 when the edit is based on a version of `id` that is no longer current, with the
/// current one (or `null` when the policy is gone).
fn check_version(inventory: &Inventory, id: &PolicyId, based_on: Option<&str>) -> ApiResult<()> {
    let Some(based_on) = based_on else {
        return Ok(());
    };
    let current = inventory.policy(id);
    if current.is_some_and(|p| version_of(p) == based_on) {
        return Ok(());
    }
    let mut e = ApiError::new(
        StatusCode::CONFLICT,
        match current {
            Some(_) => format!(
                "policy {id} changed since version {based_on}: load the current version, apply the edit to it and save again"
            ),
            None => format!("policy {id} was deleted since version {based_on}"),
        },
    );
    e.current = Some(current.map_or(Value::Null, |p| {
        json!({
            "id": id.to_string(),
            "version": version_of(p),
            "yaml": flowlens_manifests::policy_to_yaml(p).ok(),
        })
    }));
    Err(e)
}

/// Makes an edited inventory current (new flows are attributed with it at once, and
/// scenario steps applied later keep the edits) and writes the audit entries.
fn install(
    state: &AppState,
    who: &Principal,
    before: &Inventory,
    inventory: Inventory,
    edits: Vec<PolicyEdit>,
) -> ApiResult<u64> {
    let yaml = |p: Option<&Policy>| p.and_then(|p| flowlens_manifests::policy_to_yaml(p).ok());
    let changed: Vec<(String, PolicyId)> = edits
        .iter()
        .filter_map(|e| match e {
            PolicyEdit::Upsert(p) => Some(("save".to_string(), PolicyId::of(p))),
            PolicyEdit::Remove(id) => Some(("delete".to_string(), id.clone())),
            PolicyEdit::AddTier(_) => None,
        })
        .collect();
    state.record_edits(edits);
    let world = state.install_for_ingest(Arc::new(inventory));
    if let Some(log) = state.audit_log() {
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        for (action, id) in changed {
            let old = before.policy(&id);
            let new = world.inventory.policy(&id);
            let Some(p) = new.or(old) else { continue };
            let entry = AuditEntry {
                time,
                user: who.name.clone(),
                action,
                policy: id.to_string(),
                tier: p.tier.clone(),
                namespace: p.namespace.clone(),
                before: yaml(old),
                after: yaml(new),
                revision: world.revision,
            };
            // The change is made; an audit log that cannot be written is the operator's
            // to fix, and the answer says so.
            log.append(&entry).map_err(|e| {
                ApiError::internal(format!(
                    "the policy change was made but its audit entry could not be written: {e}"
                ))
            })?;
        }
    }
    Ok(world.revision)
}

/// For a Kubernetes user, 403 unless RBAC lets it do `verbs` to `policy` (its kind, tier
/// and namespace) — the exact check behind the scope's coarser one.
async fn rbac_allows(
    kube: Option<&KubeIdentity>,
    verbs: &[&str],
    policy: Option<&Policy>,
) -> ApiResult<()> {
    match (kube, policy) {
        (Some(kube), Some(p)) => {
            kube.may(verbs, p.kind, &p.tier, p.namespace.as_deref())
                .await
        }
        _ => Ok(()),
    }
}

pub async fn save(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    kube: Option<Extension<KubeIdentity>>,
    headers: HeaderMap,
    Json(draft): Json<Draft>,
) -> ApiResult<Json<Value>> {
    let kube = kube.map(|Extension(k)| k);
    let yaml = draft
        .yaml
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("give yaml: the policy to save"))?;
    let request = SaveRequest {
        yaml,
        staged: draft.staged,
        version: draft.version.as_deref(),
        force: draft.force,
    };
    save_yaml(&state, &who, kube.as_ref(), &headers, request).await
}

/// What a save asks for: the policy, staged or enforced, the version it is based on, and
/// whether to take over fields other field managers own (connected to a cluster).
pub(crate) struct SaveRequest<'a> {
    pub yaml: &'a str,
    pub staged: Option<bool>,
    pub version: Option<&'a str>,
    pub force: bool,
}

/// Saves the policy `yaml` (staged or enforced as `staged` says), based on `version` (or
/// the `If-Match` header) when given: into the running inventory, or by server-side apply
/// when connected to a cluster.
pub(crate) async fn save_yaml(
    state: &AppState,
    who: &Principal,
    kube: Option<&KubeIdentity>,
    headers: &HeaderMap,
    request: SaveRequest<'_>,
) -> ApiResult<Json<Value>> {
    let SaveRequest {
        yaml,
        staged,
        version,
        force,
    } = request;
    let policy = parse_draft(yaml, staged)?;
    may_write(&who.scope, &policy.tier, policy.namespace.as_deref())?;
    rbac_allows(kube, &["create", "patch"], Some(&policy)).await?;
    let id = PolicyId::of(&policy);
    let _edit = state.lock_policy_edits().await;
    let world = state.world();
    // Saving over a policy moves it from its tier: that tier must be writable too.
    may_change_existing(&who.scope, &world.inventory, &id)?;
    rbac_allows(kube, &["patch"], world.inventory.policy(&id)).await?;
    check_version(&world.inventory, &id, based_on(headers, version).as_deref())?;
    let created = world.inventory.policy_index(&id).is_none();
    if state.cluster().is_some() {
        let based = based_on(headers, version).is_some();
        return crate::cluster::apply_policy(state, who, yaml, staged, force, &id, based)
            .await
            .map(|mut answer| {
                answer["created"] = json!(created);
                Json(answer)
            });
    }
    let mut inventory = world
        .inventory
        .with_policy(policy.clone())
        .map_err(edit_error)?;
    let mut edits = vec![PolicyEdit::Upsert(Box::new(policy.clone()))];
    // Enforcing a staged policy replaces the staged one, as `calicoctl` does.
    if staged == Some(false)
        && let Ok(kind) = staged_kind(policy.kind)
    {
        let staged = PolicyId { kind, ..id.clone() };
        if inventory.policy_index(&staged).is_some() {
            may_change_existing(&who.scope, &world.inventory, &staged)?;
            inventory = inventory.without_policy(&staged).map_err(edit_error)?;
            edits.push(PolicyEdit::Remove(staged));
        }
    }
    let revision = install(state, who, &world.inventory, inventory, edits)?;
    let version = version_of(&policy);
    Ok(Json(json!({
        "id": id.to_string(),
        "created": created,
        "revision": revision,
        "version": version,
    })))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    kube: Option<Extension<KubeIdentity>>,
    headers: HeaderMap,
    raw: RawParams,
) -> ApiResult<Json<Value>> {
    let p = params(raw);
    let id = policy_id(&p)?;
    let _edit = state.lock_policy_edits().await;
    let world = state.world();
    let readable = world
        .inventory
        .policy(&id)
        .is_some_and(|p| who.scope.can_read_policy(&p.tier, p.namespace.as_deref()));
    if !readable {
        return Err(ApiError::not_found(format!(
            "no policy {id} in the inventory"
        )));
    }
    may_change_existing(&who.scope, &world.inventory, &id)?;
    rbac_allows(
        kube.as_ref().map(|Extension(k)| k),
        &["delete"],
        world.inventory.policy(&id),
    )
    .await?;
    check_version(
        &world.inventory,
        &id,
        based_on(&headers, p.get("version")).as_deref(),
    )?;
    if state.cluster().is_some() {
        let based = based_on(&headers, p.get("version")).is_some();
        return crate::cluster::delete_policy(&state, &who, &id, based)
            .await
            .map(Json);
    }
    let inventory = world
        .inventory
        .without_policy(&id)
        .map_err(|e| ApiError::not_found(e.to_string()))?;
    let revision = install(
        &state,
        &who,
        &world.inventory,
        inventory,
        vec![PolicyEdit::Remove(id.clone())],
    )?;
    Ok(Json(
        json!({ "deleted": id.to_string(), "revision": revision }),
    ))
}

/// `GET /api/audit`: the recorded policy changes (`id=` one policy's) that the caller may
/// read, oldest first.
pub async fn audit(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    raw: RawParams,
) -> ApiResult<Json<Value>> {
    let p = params(raw);
    let id = p
        .get("id")
        .map(|t| PolicyId::parse(t).map_err(|e| ApiError::bad_request(e.to_string())))
        .transpose()?
        .map(|id| id.to_string());
    let Some(log) = state.audit_log() else {
        return Ok(Json(json!({ "entries": [], "recorded": false })));
    };
    let scope = who.scope.clone();
    let log = log.clone();
    let entries = tokio::task::spawn_blocking(move || {
        log.read(move |e: &AuditEntry| {
            scope.can_read_policy(&e.tier, e.namespace.as_deref())
                && id.as_deref().is_none_or(|id| e.policy == id)
        })
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::internal(format!("cannot read the audit log: {e}")))?;
    Ok(Json(json!({ "entries": entries, "recorded": true })))
}

pub async fn export(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    raw: RawParams,
) -> ApiResult<Response> {
    let p = params(raw);
    let world = state.world();
    let inv = &scoped::inventory(&who.scope, &world.inventory);
    let (yaml, file) = if let Some(id) = p.get("id") {
        let id = PolicyId::parse(id).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let policy = inv
            .policy(&id)
            .ok_or_else(|| ApiError::not_found(format!("no policy {id}")))?;
        let yaml = flowlens_manifests::policy_to_yaml(policy)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        (yaml, format!("{}.yaml", policy.name))
    } else {
        let tier = p.get("tier");
        if let Some(t) = tier
            && !inv.tiers.iter().any(|x| x.name == t)
        {
            return Err(ApiError::not_found(format!("no tier {t:?}")));
        }
        let yaml = flowlens_manifests::export_policies(inv, tier)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        (yaml, format!("{}.yaml", tier.unwrap_or("policies")))
    };
    Ok((
        [
            (header::CONTENT_TYPE, "text/yaml; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        yaml,
    )
        .into_response())
}
