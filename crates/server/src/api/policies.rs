//! The Policy Board and Policy Editor: tiers and policies with their metrics, one policy's
//! rules with per-rule hits, validation, the impact preview, saving, deleting, exporting.
//!
//! Rule hits carry no direction, but the record that carries them does: egress policy is
//! evaluated at the source, so its hits are in `reporter=src` records, and ingress hits in
//! `reporter=dst` records. Metrics are therefore read per reporter.

use super::{RawParams, params};
use crate::error::{ApiError, ApiResult, Detail};
use crate::params::Params;
use crate::state::{AppState, PolicyEdit};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use flowlens_model::{Inventory, Policy, PolicyId, PolicyKind};
use flowlens_policy::{Engine, preview};
use flowlens_store::{AggregateRow, FieldFilter, FlowQuery, GroupBy, PolicyFilter, TimeRange};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Hit counts of a policy, a rule or an end of tier.
#[derive(Clone, Copy, Debug, Default, Serialize)]
struct Metrics {
    connections: u64,
    allowed: u64,
    denied: u64,
    passed: u64,
    pending_connections: u64,
    pending_allowed: u64,
    pending_denied: u64,
    pending_passed: u64,
}

impl From<&AggregateRow> for Metrics {
    fn from(row: &AggregateRow) -> Metrics {
        Metrics {
            connections: row.hits_allowed + row.hits_denied + row.hits_passed,
            allowed: row.hits_allowed,
            denied: row.hits_denied,
            passed: row.hits_passed,
            pending_connections: row.pending_num_flows,
            pending_allowed: row.pending_allowed,
            pending_denied: row.pending_denied,
            pending_passed: row.pending_passed,
        }
    }
}

impl Metrics {
    fn add(&mut self, other: &Metrics) {
        self.connections += other.connections;
        self.allowed += other.allowed;
        self.denied += other.denied;
        self.passed += other.passed;
        self.pending_connections += other.pending_connections;
        self.pending_allowed += other.pending_allowed;
        self.pending_denied += other.pending_denied;
        self.pending_passed += other.pending_passed;
    }

    fn is_hit(&self) -> bool {
        self.connections + self.pending_connections > 0
    }
}

/// (tier, kind tag, namespace, name): how hits name a policy.
type HitKey = (String, &'static str, Option<String>, String);

fn key_of_policy(p: &Policy) -> HitKey {
    (
        p.tier.clone(),
        p.kind.hit_tag(),
        p.namespace.clone(),
        p.name.clone(),
    )
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Direction {
    Ingress,
    Egress,
}

/// Metrics per policy, and per (policy, direction, rule index).
#[derive(Default)]
struct Hits {
    policies: BTreeMap<HitKey, Metrics>,
    rules: BTreeMap<(HitKey, Direction, i32), Metrics>,
}

impl Hits {
    async fn load(
        state: &AppState,
        time: TimeRange,
        policy: Option<PolicyFilter>,
    ) -> ApiResult<Hits> {
        let mut hits = Hits::default();
        for (reporter, direction) in [("src", Direction::Egress), ("dst", Direction::Ingress)] {
            let mut query = FlowQuery::new(time);
            query
                .filters
                .push(FieldFilter::eq(flowlens_store::Field::Reporter, reporter));
            query.policy = policy.clone();
            let rows = state.store().aggregate(&query, GroupBy::PolicyRule).await?;
            for row in &rows {
                let k = &row.key;
                let (Some(tier), Some(name)) = (&k.tier, &k.policy_name) else {
                    continue;
                };
                let key: HitKey = (
                    tier.clone(),
                    k.kind.map_or("", |k| k.hit_tag()),
                    k.policy_namespace.clone(),
                    name.clone(),
                );
                let metrics = Metrics::from(row);
                hits.policies.entry(key.clone()).or_default().add(&metrics);
                hits.rules
                    .entry((key, direction, k.rule.unwrap_or(-1)))
                    .or_default()
                    .add(&metrics);
            }
        }
        Ok(hits)
    }

    fn policy(&self, p: &Policy) -> Metrics {
        self.policies
            .get(&key_of_policy(p))
            .copied()
            .unwrap_or_default()
    }

    fn rule(&self, p: &Policy, direction: Direction, index: i32) -> Metrics {
        self.rules
            .get(&(key_of_policy(p), direction, index))
            .copied()
            .unwrap_or_default()
    }

    /// Rule indices of a direction that nothing hit in the range.
    fn unused(&self, p: &Policy, direction: Direction) -> Vec<usize> {
        let rules = match direction {
            Direction::Ingress => &p.ingress,
            Direction::Egress => &p.egress,
        };
        (0..rules.len())
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

fn card(p: &Policy, endpoints: usize, hits: &Hits) -> Value {
    let mut types = Vec::new();
    if p.types.ingress {
        types.push("ingress");
    }
    if p.types.egress {
        types.push("egress");
    }
    json!({
        "id": PolicyId::of(p).to_string(),
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
            "ingress": hits.unused(p, Direction::Ingress),
            "egress": hits.unused(p, Direction::Egress),
        },
    })
}

fn time_of(state: &AppState, p: &Params) -> ApiResult<TimeRange> {
    p.time_range(state.now())
}

pub async fn board(State(state): State<AppState>, raw: RawParams) -> ApiResult<Json<Value>> {
    let p = params(raw);
    let time = time_of(&state, &p)?;
    let world = state.world();
    let inv = &world.inventory;
    let hits = Hits::load(&state, time, None).await?;
    let counts = world.engine.policy_endpoint_counts();
    let index_of: BTreeMap<PolicyId, usize> = inv
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

fn policy_id(p: &Params) -> ApiResult<PolicyId> {
    let text = p
        .get("id")
        .ok_or_else(|| ApiError::bad_request("give id=KIND:[NAMESPACE/]NAME, e.g. np:shop/web"))?;
    PolicyId::parse(text).map_err(|e| ApiError::bad_request(e.to_string()))
}

pub async fn policy(State(state): State<AppState>, raw: RawParams) -> ApiResult<Json<Value>> {
    let p = params(raw);
    let id = policy_id(&p)?;
    let time = time_of(&state, &p)?;
    let world = state.world();
    let inv = &world.inventory;
    let index = inv
        .policy_index(&id)
        .ok_or_else(|| ApiError::not_found(format!("no policy {id} in the inventory")))?;
    let policy = &inv.policies[index];
    let filter = PolicyFilter {
        tier: Some(policy.tier.clone()),
        name: Some(policy.name.clone()),
        namespace: policy.namespace.clone(),
        kind: Some(policy.kind),
        action: None,
        rule: None,
    };
    // Staged policies appear only in pending traces, which the policy filter does not read.
    let hits = Hits::load(&state, time, (!policy.kind.is_staged()).then_some(filter)).await?;
    let texts = flowlens_policy::rule_texts(policy);
    let rules = |direction: Direction| -> Vec<Value> {
        let (rules, texts) = match direction {
            Direction::Ingress => (&policy.ingress, &texts.ingress),
            Direction::Egress => (&policy.egress, &texts.egress),
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
    let ingress_end = hits.rule(policy, Direction::Ingress, -1);
    let egress_end = hits.rule(policy, Direction::Egress, -1);
    let mut end_total = ingress_end;
    end_total.add(&egress_end);
    let tier = inv.tiers.iter().find(|t| t.name == policy.tier);
    let mut value = card(policy, world.engine.policy_endpoint_count(index), &hits);
    value["time"] = json!({ "from": time.from, "to": time.to });
    value["yaml"] = json!(flowlens_manifests::policy_to_yaml(policy).ok());
    value["ingress"] = json!(rules(Direction::Ingress));
    value["egress"] = json!(rules(Direction::Egress));
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
    since: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
}

/// The YAML as a policy, with errors at their line and field.
fn parse_draft(yaml: &str, staged: Option<bool>) -> ApiResult<Policy> {
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

pub async fn validate(State(state): State<AppState>, body: String) -> ApiResult<Json<Value>> {
    let policy = parse_draft(&body, None)?;
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
    Ok(Json(json!({
        "id": PolicyId::of(&policy).to_string(),
        "policy": policy,
        "endpoints": endpoints,
        "warnings": warnings_for(&policy),
    })))
}

pub async fn preview(
    State(state): State<AppState>,
    Json(draft): Json<Draft>,
) -> ApiResult<Json<Value>> {
    let world = state.world();
    let (id, inventory) = match (&draft.yaml, &draft.delete) {
        (Some(yaml), None) => {
            let policy = parse_draft(yaml, draft.staged)?;
            let id = PolicyId::of(&policy);
            (id, world.inventory.with_policy(policy).map_err(edit_error)?)
        }
        (None, Some(id)) => {
            let id = PolicyId::parse(id).map_err(|e| ApiError::bad_request(e.to_string()))?;
            let inv = world.inventory.without_policy(&id).map_err(edit_error)?;
            (id, inv)
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
    let before = world.engine.clone();
    let source_ports = world.inventory.uses_source_ports() || inventory.uses_source_ports();
    // The draft's engine compiles while the store groups the window's flows.
    let after = tokio::task::spawn_blocking(move || Arc::new(Engine::new(Arc::new(inventory))));
    let tuples = state
        .store()
        .flow_tuples(&FlowQuery::new(time), source_ports)
        .await?;
    let after = after.await.map_err(|e| ApiError::internal(e.to_string()))?;
    let result =
        tokio::task::spawn_blocking(move || preview::preview(&before, &after, &id, &tuples))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(edit_error)?;
    let mut value = serde_json::to_value(&result).map_err(|e| ApiError::internal(e.to_string()))?;
    value["window"] = json!({ "from": time.from, "to": time.to });
    Ok(Json(value))
}

/// Makes an edited inventory current: new flows are attributed with it at once, and
/// scenario steps applied later keep the edits.
fn install(state: &AppState, inventory: Inventory, edits: Vec<PolicyEdit>) -> u64 {
    state.record_edits(edits);
    let world = state.install(Arc::new(inventory));
    if let Some(feed) = state.feed() {
        feed.set_engine(world.engine.clone());
    }
    world.revision
}

pub async fn save(
    State(state): State<AppState>,
    Json(draft): Json<Draft>,
) -> ApiResult<Json<Value>> {
    let yaml = draft
        .yaml
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("give yaml: the policy to save"))?;
    let policy = parse_draft(yaml, draft.staged)?;
    let id = PolicyId::of(&policy);
    let world = state.world();
    let created = world.inventory.policy_index(&id).is_none();
    let mut inventory = world
        .inventory
        .with_policy(policy.clone())
        .map_err(edit_error)?;
    let mut edits = vec![PolicyEdit::Upsert(Box::new(policy.clone()))];
    // Enforcing a staged policy replaces the staged one, as `calicoctl` does.
    if draft.staged == Some(false)
        && let Ok(kind) = staged_kind(policy.kind)
    {
        let staged = PolicyId { kind, ..id.clone() };
        if inventory.policy_index(&staged).is_some() {
            inventory = inventory.without_policy(&staged).map_err(edit_error)?;
            edits.push(PolicyEdit::Remove(staged));
        }
    }
    let revision = install(&state, inventory, edits);
    Ok(Json(
        json!({ "id": id.to_string(), "created": created, "revision": revision }),
    ))
}

pub async fn delete(State(state): State<AppState>, raw: RawParams) -> ApiResult<Json<Value>> {
    let p = params(raw);
    let id = policy_id(&p)?;
    let world = state.world();
    let inventory = world
        .inventory
        .without_policy(&id)
        .map_err(|e| ApiError::not_found(e.to_string()))?;
    let revision = install(&state, inventory, vec![PolicyEdit::Remove(id.clone())]);
    Ok(Json(
        json!({ "deleted": id.to_string(), "revision": revision }),
    ))
}

pub async fn export(State(state): State<AppState>, raw: RawParams) -> ApiResult<Response> {
    let p = params(raw);
    let world = state.world();
    let inv = &world.inventory;
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
