//! The policy advisor: least-privilege policies recommended from the stored traffic of a
//! window, each with its lifecycle state and its proof (the impact preview, enforced,
//! over the same window), and applying one as staged or enforced.
//!
//! The policy audit holds today's policies (their static reachability between workloads)
//! against the same stored traffic.
//!
//! Administrators only: a recommendation names the peers of a namespace in every other
//! namespace, which a user scoped to some namespaces may not see; so does the audit.

use super::{RawParams, params};
use crate::audit::AuditEntry;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::kube_auth::KubeIdentity;
use crate::params::Params;
use crate::state::{AppState, PolicyEdit};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use flowlens_advisor::audit::AuditOptions;
use flowlens_advisor::{Learn, Options, PortDensity};
use flowlens_impact::{
    AdviceRequest, AuditRequest, DEFAULT_STABILIZATION_SECS, ImpactError, advise, audit,
};
use flowlens_manifests::{policy_to_yaml, tier_to_yaml};
use flowlens_policy::describe_rule;
use flowlens_store::parse_duration;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// `GET /api/recommendations`: the recommendation for the window's traffic.
pub async fn recommendations(
    State(state): State<AppState>,
    raw: RawParams,
) -> ApiResult<Json<Value>> {
    let p = params(raw);
    let request = request_of(&state, &p)?;
    let world = state.world();
    let advice = advise(state.store().as_ref(), &world.engine, &request)
        .await
        .map_err(|e| match e {
            ImpactError::Store(e) => ApiError::from(e),
            e => ApiError::internal(e.to_string()),
        })?;
    let rec = &advice.recommendation;
    let mut policies = Vec::new();
    for (i, p) in rec.policies.iter().enumerate() {
        policies.push(json!({
            "id": flowlens_model::PolicyId::of(&p.policy).to_string(),
            "name": p.policy.name,
            "namespace": p.namespace,
            "direction": p.direction,
            "status": advice.statuses[i],
            "yaml": policy_to_yaml(&p.policy)
                .map_err(|e| ApiError::internal(format!("writing a recommended policy: {e}")))?,
            "rules": p.evidence.iter().zip(&p.peers).zip(p.rules()).map(|((e, peer), rule)| json!({
                "peer": peer,
                "rule": describe_rule(rule),
                "allowed_connections": e.allowed_connections,
                "denied_connections": e.denied_connections,
                "observed_ports": e.observed_ports,
            })).collect::<Vec<_>>(),
            "proof": advice.proofs.get(i),
        }));
    }
    Ok(Json(json!({
        "window": advice.window.map(|w| json!({"from": w.from, "to": w.to})),
        "stabilization_secs": request.stabilization_secs,
        "flows_read": rec.flows_read,
        "flows_used": rec.flows_used,
        "tier": {
            "name": rec.tier.name,
            "order": rec.tier.order,
            "exists": world.inventory.tier(&rec.tier.name).is_some(),
            "yaml": tier_to_yaml(&rec.tier),
        },
        "policies": policies,
        "notes": rec.notes,
    })))
}

/// `GET /api/policy-audit`: today's policies held against the window's traffic — per
/// workload pair what policy allows (exact per port interval) and what was seen, the ports
/// allowed but never used, the denied flows attempted, and the rules no traffic reached.
pub async fn policy_audit(State(state): State<AppState>, raw: RawParams) -> ApiResult<Json<Value>> {
    let p = params(raw);
    let request = AuditRequest {
        options: AuditOptions {
            namespaces: p.all("namespace").map(str::to_string).collect(),
        },
        window: p.time_range(state.now())?,
    };
    let world = state.world();
    let answer = audit(state.store().as_ref(), &world.engine, &request)
        .await
        .map_err(|e| match e {
            ImpactError::Store(e) => ApiError::from(e),
            e => ApiError::internal(e.to_string()),
        })?;
    let mut v = serde_json::to_value(&answer.audit)
        .map_err(|e| ApiError::internal(format!("writing the audit: {e}")))?;
    v["window"] = json!(answer.window.map(|w| json!({"from": w.from, "to": w.to})));
    v["timings_ms"] = json!({
        "reachability": answer.reachability_time.as_millis() as u64,
        "flows": answer.flows_time.as_millis() as u64,
    });
    Ok(Json(v))
}

fn request_of(state: &AppState, p: &Params) -> ApiResult<AdviceRequest> {
    let learn = match p.get("learn") {
        None | Some("attempted") => Learn::Attempted,
        Some("allowed") => Learn::AllowedOnly,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "learn={other:?}: give attempted (every attempted connection) or allowed (only what policy allowed)"
            )));
        }
    };
    let defaults = PortDensity::default();
    let stabilization_secs = match p.get("stabilization") {
        Some(text) => i64::try_from(parse_duration(text)?.as_secs()).unwrap_or(i64::MAX),
        None => DEFAULT_STABILIZATION_SECS,
    };
    Ok(AdviceRequest {
        options: Options {
            namespaces: p.all("namespace").map(str::to_string).collect(),
            learn,
            ports: PortDensity {
                min_ports: p.number("range_min_ports")?.unwrap_or(defaults.min_ports),
                max_gap: p.number("range_max_gap")?.unwrap_or(defaults.max_gap),
            },
            ..Options::default()
        },
        window: p.time_range(state.now())?,
        stabilization_secs,
        // Each proof is a preview over the window: asked for, not by default.
        prove: p.get("prove") == Some("true"),
    })
}

/// What `POST /api/recommendations/apply` takes: one recommended policy, as the
/// recommendation gave it (or as the user edited it).
#[derive(Deserialize)]
pub struct Apply {
    yaml: String,
    /// Enforce it (a NetworkPolicy, replacing a staged one of the same name) rather than
    /// stage it.
    #[serde(default)]
    enforce: bool,
}

/// `POST /api/recommendations/apply`: saves a recommended policy staged or enforced, first
/// creating the advisor's tier when the inventory lacks it. Saving is the Policy Editor's
/// save (versions, audit log, the cluster's server-side apply when connected).
pub async fn apply(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    kube: Option<Extension<KubeIdentity>>,
    headers: HeaderMap,
    Json(body): Json<Apply>,
) -> ApiResult<Json<Value>> {
    let staged = Some(!body.enforce);
    let policy = super::policies::parse_draft(&body.yaml, staged)?;
    let tier = Options::default().tier();
    if policy.tier == tier.name && state.world().inventory.tier(&tier.name).is_none() {
        if state.cluster().is_some() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "the cluster has no tier {}: create it first (kubectl apply -f) with\n{}",
                    tier.name,
                    tier_to_yaml(&tier)
                ),
            ));
        }
        let _edit = state.lock_policy_edits().await;
        let world = state.world();
        if world.inventory.tier(&tier.name).is_none() {
            let mut inventory = (*world.inventory).clone();
            inventory.tiers.push(tier.clone());
            inventory.sort_in_evaluation_order();
            state.record_edits(vec![PolicyEdit::AddTier(tier.clone())]);
            let world = state.install_for_ingest(Arc::new(inventory));
            if let Some(log) = state.audit_log() {
                let entry = AuditEntry {
                    time: std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs() as i64),
                    user: who.name.clone(),
                    action: "add-tier".to_string(),
                    policy: String::new(),
                    tier: tier.name.clone(),
                    namespace: None,
                    before: None,
                    after: Some(tier_to_yaml(&tier)),
                    revision: world.revision,
                };
                log.append(&entry).map_err(|e| {
                    ApiError::internal(format!(
                        "the tier was created but its audit entry could not be written: {e}"
                    ))
                })?;
            }
        }
    }
    let kube = kube.map(|Extension(k)| k);
    let request = super::policies::SaveRequest {
        yaml: &body.yaml,
        staged,
        version: None,
        force: false,
    };
    super::policies::save_yaml(&state, &who, kube.as_ref(), &headers, request).await
}
