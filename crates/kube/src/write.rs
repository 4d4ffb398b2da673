//! Writing policies back to the cluster: server-side apply (a dry run first) with the field
//! manager `flowlens`, delete, conflicts that carry the policy as it is now, and the
//! permission check a caller uses to offer a read-only mode instead.
//!
//! The document the user edited is applied as written (every field, including those
//! Flowlens does not model), after `flowlens-manifests` has read it: what cannot be read is
//! not sent. The running inventory follows the watch, not the write.

use crate::convert::{Body, ConvertContext, convert_value};
use crate::discovery::{Served, discover};
use crate::kinds::{CalicoApi, Kind};
use flowlens_manifests::{LoadErrors, LoadOptions, parse_policy};
use flowlens_model::{InventoryItem, Policy, PolicyId, PolicyKind};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams, Preconditions};
use kube::core::ApiResource;
use serde::Serialize;
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// The field manager of every write.
pub const FIELD_MANAGER: &str = "flowlens";

/// Which kind to write a policy as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyMode {
    /// The kind the document names.
    #[default]
    AsWritten,
    /// Its staged kind: Calico records what it would do without enforcing it.
    Staged,
    /// Its enforced kind.
    Enforced,
}

/// A policy to apply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyRequest {
    /// One policy document, YAML or JSON, of any of the eight policy kinds.
    pub document: String,
    pub mode: ApplyMode,
    /// The `resourceVersion` the edit started from: if the policy changed since, the apply
    /// fails with a [`Conflict`] instead of overwriting the change. `None` when the policy is
    /// new or the caller does not care.
    pub base_resource_version: Option<String>,
    /// Take over fields another field manager owns (server-side apply's `force`).
    pub force: bool,
    /// Stop after the dry run.
    pub dry_run_only: bool,
}

/// A policy applied (or, with `dry_run`, what applying it would give).
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    pub kind: Kind,
    pub api_version: String,
    pub namespace: Option<String>,
    pub name: String,
    /// The object's version after the apply (a dry run's is not stored anywhere).
    pub resource_version: Option<String>,
    pub dry_run: bool,
    /// The policy as the cluster returned it, read as the watch will read it.
    pub policy: Option<Policy>,
    /// The object the cluster returned.
    pub object: Value,
}

/// A policy to delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteRequest {
    pub policy: PolicyId,
    /// Delete only if the policy is still at this version.
    pub base_resource_version: Option<String>,
    pub dry_run_only: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deleted {
    pub policy: PolicyId,
    pub dry_run: bool,
}

/// Someone else changed the policy: what the user should see to decide what to do.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Conflict {
    /// The API server's message.
    pub message: String,
    /// Other field managers that own fields the apply would change (a server-side apply
    /// conflict; `force` takes the fields over).
    pub managers: Vec<String>,
    /// The policy as it is now, `None` if it no longer exists.
    pub current_resource_version: Option<String>,
    pub current: Option<Value>,
    /// The same as YAML, without managed fields, for display.
    pub current_yaml: Option<String>,
}

/// Why a write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the policy cannot be read:\n{0}")]
    Invalid(LoadErrors),
    #[error("{0}")]
    Unsupported(String),
    #[error("{resource} is not served by the cluster: {reason}")]
    NotServed { resource: String, reason: String },
    #[error(
        "Calico policies can only be written through projectcalico.org/v3, which this cluster does not serve (it has crd.projectcalico.org/v1, Calico's storage): install Calico's API server, or use Calico ≥ 3.32 with its v3 CRDs"
    )]
    CalicoStorageOnly,
    #[error("{} changed since it was read: {}", .policy, .conflict.message)]
    Conflict {
        policy: String,
        conflict: Box<Conflict>,
    },
    #[error("forbidden: {0} (Flowlens' service account needs the policy write role)")]
    Forbidden(String),
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("the cluster rejected {policy}: {message}")]
    Rejected { policy: String, message: String },
    #[error("cannot reach the cluster: {0}")]
    Api(#[source] kube::Error),
}

/// Whether the caller may write one policy kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KindAccess {
    pub kind: Kind,
    pub resource: String,
    pub served: bool,
    /// `create` and `patch` (server-side apply needs both to create an object).
    pub can_apply: bool,
    pub can_delete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The result of the permission check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccessReview {
    /// The namespace checked (`None`: all namespaces).
    pub namespace: Option<String>,
    pub kinds: Vec<KindAccess>,
    /// No policy kind can be applied: offer the YAML for download instead.
    pub read_only: bool,
}

/// Writes policies. Cheap to clone; it finds out what the cluster serves on first use.
#[derive(Clone)]
pub struct PolicyWriter {
    client: kube::Client,
    served: Arc<Mutex<Option<Served>>>,
    load_options: LoadOptions,
}

const POLICY_KINDS: [Kind; 8] = [
    Kind::NetworkPolicy,
    Kind::AdminNetworkPolicy,
    Kind::BaselineAdminNetworkPolicy,
    Kind::CalicoNetworkPolicy,
    Kind::GlobalNetworkPolicy,
    Kind::StagedNetworkPolicy,
    Kind::StagedGlobalNetworkPolicy,
    Kind::StagedKubernetesNetworkPolicy,
];

/// The watched kind of a policy kind.
pub fn kind_of_policy(kind: PolicyKind) -> Kind {
    match kind {
        PolicyKind::NetworkPolicy => Kind::CalicoNetworkPolicy,
        PolicyKind::GlobalNetworkPolicy => Kind::GlobalNetworkPolicy,
        PolicyKind::StagedNetworkPolicy => Kind::StagedNetworkPolicy,
        PolicyKind::StagedGlobalNetworkPolicy => Kind::StagedGlobalNetworkPolicy,
        PolicyKind::StagedKubernetesNetworkPolicy => Kind::StagedKubernetesNetworkPolicy,
        PolicyKind::KubernetesNetworkPolicy => Kind::NetworkPolicy,
        PolicyKind::AdminNetworkPolicy => Kind::AdminNetworkPolicy,
        PolicyKind::BaselineAdminNetworkPolicy => Kind::BaselineAdminNetworkPolicy,
        PolicyKind::ClusterNetworkPolicy => Kind::ClusterNetworkPolicy,
    }
}

/// The kind a document is written as in `mode`, and the apiVersion to write it with.
fn target_kind(kind: Kind, mode: ApplyMode) -> Result<Kind, WriteError> {
    let staged = |k| match k {
        Kind::NetworkPolicy | Kind::StagedKubernetesNetworkPolicy => {
            Ok(Kind::StagedKubernetesNetworkPolicy)
        }
        Kind::CalicoNetworkPolicy | Kind::StagedNetworkPolicy => Ok(Kind::StagedNetworkPolicy),
        Kind::GlobalNetworkPolicy | Kind::StagedGlobalNetworkPolicy => {
            Ok(Kind::StagedGlobalNetworkPolicy)
        }
        other => Err(WriteError::Unsupported(format!(
            "Calico has no staged {}: apply it as written",
            other.kind_name()
        ))),
    };
    let enforced = |k| match k {
        Kind::StagedKubernetesNetworkPolicy => Kind::NetworkPolicy,
        Kind::StagedNetworkPolicy => Kind::CalicoNetworkPolicy,
        Kind::StagedGlobalNetworkPolicy => Kind::GlobalNetworkPolicy,
        other => other,
    };
    match mode {
        ApplyMode::AsWritten => Ok(kind),
        ApplyMode::Staged => staged(kind),
        ApplyMode::Enforced => Ok(enforced(kind)),
    }
}

fn api_version_for(kind: Kind) -> String {
    // Writes go through Calico's v3 API, never its storage CRDs.
    kind.api_version(CalicoApi::V3)
}

/// Reads a document into JSON the way manifests read YAML (YAML 1.2 booleans only).
fn document_json(text: &str) -> Result<Value, String> {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    serde_saphyr::from_str_with_options::<Value>(text, options).map_err(|e| e.to_string())
}

/// Turns the document into the object to apply: the target kind and apiVersion, no
/// server-owned metadata, the base version as a precondition.
fn prepare(
    mut doc: Value,
    target: Kind,
    base_resource_version: Option<&str>,
    namespace: Option<&str>,
) -> Result<Value, WriteError> {
    let obj = doc
        .as_object_mut()
        .ok_or_else(|| WriteError::Unsupported("the document is not an object".into()))?;
    obj.insert("apiVersion".into(), Value::String(api_version_for(target)));
    obj.insert("kind".into(), Value::String(target.kind_name().into()));
    obj.remove("status");
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()));
    let meta = meta
        .as_object_mut()
        .ok_or_else(|| WriteError::Unsupported("metadata is not an object".into()))?;
    for server_owned in [
        "managedFields",
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "generation",
        "selfLink",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        meta.remove(server_owned);
    }
    if let Some(rv) = base_resource_version {
        meta.insert("resourceVersion".into(), Value::String(rv.into()));
    }
    match namespace {
        Some(ns) => {
            meta.insert("namespace".into(), Value::String(ns.into()));
        }
        None => {
            meta.remove("namespace");
        }
    }
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        let staged = matches!(
            target,
            Kind::StagedNetworkPolicy
                | Kind::StagedGlobalNetworkPolicy
                | Kind::StagedKubernetesNetworkPolicy
        );
        if !staged {
            if spec.get("stagedAction").and_then(Value::as_str) == Some("Delete") {
                return Err(WriteError::Unsupported(
                    "this staged policy stages a deletion (stagedAction: Delete): delete the enforced policy instead of enforcing it".into(),
                ));
            }
            spec.remove("stagedAction");
        }
    }
    Ok(doc)
}

fn yaml(value: &Value) -> Option<String> {
    serde_saphyr::to_string(value).ok()
}

fn without_managed_fields(mut value: Value) -> Value {
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    value
}

impl PolicyWriter {
    pub fn new(client: kube::Client) -> PolicyWriter {
        PolicyWriter {
            client,
            served: Arc::new(Mutex::new(None)),
            load_options: LoadOptions::default(),
        }
    }

    /// Uses what a watch's discovery found instead of asking again.
    pub fn with_served(self, served: Served) -> PolicyWriter {
        *self.served.lock().unwrap_or_else(|e| e.into_inner()) = Some(served);
        self
    }

    async fn served(&self) -> Result<Served, WriteError> {
        if let Some(s) = self
            .served
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Ok(s);
        }
        let served = discover(&self.client, &POLICY_KINDS)
            .await
            .map_err(WriteError::Api)?;
        *self.served.lock().unwrap_or_else(|e| e.into_inner()) = Some(served.clone());
        Ok(served)
    }

    /// Where `kind` is written; errors when it cannot be.
    async fn resource(&self, kind: Kind) -> Result<ApiResource, WriteError> {
        let served = self.served().await?;
        if kind.is_calico() && served.calico == Some(CalicoApi::CrdV1) {
            return Err(WriteError::CalicoStorageOnly);
        }
        served
            .resource(kind)
            .cloned()
            .ok_or_else(|| WriteError::NotServed {
                resource: kind.to_string(),
                reason: served
                    .not_served
                    .get(&kind)
                    .cloned()
                    .unwrap_or_else(|| "not found".into()),
            })
    }

    fn api(
        &self,
        kind: Kind,
        resource: &ApiResource,
        namespace: Option<&str>,
    ) -> Api<DynamicObject> {
        match namespace {
            Some(ns) if kind.namespaced() => {
                Api::namespaced_with(self.client.clone(), ns, resource)
            }
            _ => Api::all_with(self.client.clone(), resource),
        }
    }

    /// Applies a policy document: reads it, dry-runs the apply, then applies (unless asked
    /// to stop after the dry run).
    pub async fn apply(&self, req: &ApplyRequest) -> Result<Applied, WriteError> {
        // Read it the way the watch and the snapshot loader will: what they cannot read is
        // not sent.
        let policy = parse_policy(&req.document, "policy.yaml", &self.load_options)
            .map_err(WriteError::Invalid)?;
        let doc = document_json(&req.document).map_err(|message| {
            WriteError::Unsupported(format!("the document is not valid YAML: {message}"))
        })?;
        let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind_name = doc.get("kind").and_then(Value::as_str).unwrap_or("");
        let kind = Kind::of_document(api_version, kind_name)
            .filter(|k| k.is_policy())
            .ok_or_else(|| {
                WriteError::Unsupported(format!("{kind_name} ({api_version}) is not a policy kind"))
            })?;
        let target = target_kind(kind, req.mode)?;
        let resource = self.resource(target).await?;
        let namespace = target.namespaced().then(|| {
            policy
                .namespace
                .clone()
                .unwrap_or_else(|| self.client.default_namespace().to_string())
        });
        let object = prepare(
            doc,
            target,
            req.base_resource_version.as_deref(),
            namespace.as_deref(),
        )?;
        let name = policy.name.clone();
        let label = match &namespace {
            Some(ns) => format!("{} {ns}/{name}", target.kind_name()),
            None => format!("{} {name}", target.kind_name()),
        };
        // The converted document must still be a policy Flowlens can read.
        let ctx = ConvertContext {
            calico: CalicoApi::V3,
            opts: self.load_options.clone(),
        };
        if let Body::Skipped(reason) = convert_value(target, object.clone(), &ctx).body {
            return Err(WriteError::Unsupported(format!(
                "as a {}, the policy cannot be read: {reason}",
                target.kind_name()
            )));
        }
        let api = self.api(target, &resource, namespace.as_deref());
        let mut params = PatchParams::apply(FIELD_MANAGER);
        params.force = req.force;
        let patch = Patch::Apply(&object);
        let dry = api.patch(&name, &params.clone().dry_run(), &patch).await;
        let returned = match dry {
            Err(e) => return Err(self.write_error(e, &api, &name, &label).await),
            Ok(obj) if req.dry_run_only => obj,
            Ok(_) => match api.patch(&name, &params, &patch).await {
                Ok(obj) => obj,
                Err(e) => return Err(self.write_error(e, &api, &name, &label).await),
            },
        };
        let value = serde_json::to_value(&returned).unwrap_or(Value::Null);
        let policy = match convert_value(target, value.clone(), &ctx).body {
            Body::Item(InventoryItem::Policy(p)) => Some(p),
            _ => None,
        };
        Ok(Applied {
            kind: target,
            api_version: resource.api_version.clone(),
            namespace,
            name,
            resource_version: returned.metadata.resource_version.clone(),
            dry_run: req.dry_run_only,
            policy,
            object: without_managed_fields(value),
        })
    }

    /// Deletes a policy: a dry run first, then the deletion, with the base version as a
    /// precondition when given.
    pub async fn delete(&self, req: &DeleteRequest) -> Result<Deleted, WriteError> {
        let kind = kind_of_policy(req.policy.kind);
        let resource = self.resource(kind).await?;
        let api = self.api(kind, &resource, req.policy.namespace.as_deref());
        let name = &req.policy.name;
        let label = req.policy.to_string();
        let mut params = DeleteParams::default();
        if let Some(rv) = &req.base_resource_version {
            params.preconditions = Some(Preconditions {
                resource_version: Some(rv.clone()),
                uid: None,
            });
        }
        let mut dry = params.clone();
        dry.dry_run = true;
        if let Err(e) = api.delete(name, &dry).await {
            return Err(self.write_error(e, &api, name, &label).await);
        }
        if !req.dry_run_only
            && let Err(e) = api.delete(name, &params).await
        {
            return Err(self.write_error(e, &api, name, &label).await);
        }
        Ok(Deleted {
            policy: req.policy.clone(),
            dry_run: req.dry_run_only,
        })
    }

    /// Turns an API error into what the user should read; a conflict fetches the policy as
    /// it is now.
    async fn write_error(
        &self,
        e: kube::Error,
        api: &Api<DynamicObject>,
        name: &str,
        label: &str,
    ) -> WriteError {
        let kube::Error::Api(status) = &e else {
            return WriteError::Api(e);
        };
        if status.is_conflict() || status.code == 409 {
            let mut managers: Vec<String> = Vec::new();
            let causes = status.details.iter().flat_map(|d| &d.causes);
            for cause in causes.filter(|c| c.reason == "FieldManagerConflict") {
                let manager = manager_of(&cause.message);
                if !managers.contains(&manager) {
                    managers.push(manager);
                }
            }
            let current = api.get_opt(name).await.ok().flatten();
            let current_resource_version = current
                .as_ref()
                .and_then(|o| o.metadata.resource_version.clone());
            let current = current
                .and_then(|o| serde_json::to_value(o).ok())
                .map(without_managed_fields);
            return WriteError::Conflict {
                policy: label.to_string(),
                conflict: Box::new(Conflict {
                    message: status.message.clone(),
                    managers,
                    current_resource_version,
                    current_yaml: current.as_ref().and_then(yaml),
                    current,
                }),
            };
        }
        if status.is_forbidden() {
            return WriteError::Forbidden(status.message.clone());
        }
        if status.is_not_found() {
            return WriteError::NotFound(format!("{label} ({})", status.message));
        }
        if status.is_invalid() || status.code == 400 {
            return WriteError::Rejected {
                policy: label.to_string(),
                message: status.message.clone(),
            };
        }
        WriteError::Api(e)
    }

    /// Whether the caller may apply and delete each policy kind (in `namespace`, or in all
    /// namespaces), by SelfSubjectAccessReview.
    pub async fn access(&self, namespace: Option<&str>) -> Result<AccessReview, WriteError> {
        let served = self.served().await?;
        let reviews = Api::<SelfSubjectAccessReview>::all(self.client.clone());
        let mut kinds = Vec::new();
        for kind in POLICY_KINDS {
            let Some(resource) = served.resource(kind) else {
                kinds.push(KindAccess {
                    kind,
                    resource: kind.to_string(),
                    served: false,
                    can_apply: false,
                    can_delete: false,
                    reason: served.not_served.get(&kind).cloned(),
                });
                continue;
            };
            if kind.is_calico() && served.calico == Some(CalicoApi::CrdV1) {
                kinds.push(KindAccess {
                    kind,
                    resource: kind.to_string(),
                    served: true,
                    can_apply: false,
                    can_delete: false,
                    reason: Some(WriteError::CalicoStorageOnly.to_string()),
                });
                continue;
            }
            let allowed = |verb: &'static str| {
                let review = SelfSubjectAccessReview {
                    spec: SelfSubjectAccessReviewSpec {
                        resource_attributes: Some(ResourceAttributes {
                            group: Some(resource.group.clone()),
                            version: Some(resource.version.clone()),
                            resource: Some(resource.plural.clone()),
                            verb: Some(verb.into()),
                            namespace: namespace.filter(|_| kind.namespaced()).map(str::to_string),
                            ..ResourceAttributes::default()
                        }),
                        ..SelfSubjectAccessReviewSpec::default()
                    },
                    ..SelfSubjectAccessReview::default()
                };
                let reviews = reviews.clone();
                async move {
                    let answer = reviews.create(&PostParams::default(), &review).await?;
                    Ok::<_, kube::Error>(answer.status.map(|s| (s.allowed, s.reason)))
                }
            };
            let mut reason = None;
            let mut verdict = |answer: Option<(bool, Option<String>)>| {
                let (ok, why) = answer.unwrap_or((false, None));
                if !ok && reason.is_none() {
                    reason = why;
                }
                ok
            };
            let create = verdict(allowed("create").await.map_err(WriteError::Api)?);
            let patch = verdict(allowed("patch").await.map_err(WriteError::Api)?);
            let delete = verdict(allowed("delete").await.map_err(WriteError::Api)?);
            kinds.push(KindAccess {
                kind,
                resource: kind.to_string(),
                served: true,
                can_apply: create && patch,
                can_delete: delete,
                reason,
            });
        }
        let read_only = !kinds.iter().any(|k| k.can_apply);
        Ok(AccessReview {
            namespace: namespace.map(str::to_string),
            kinds,
            read_only,
        })
    }
}

/// The field manager a conflict cause names: the API server says `conflict with "kubectl"`
/// (sometimes followed by ` using apps/v1`); anything else is kept whole.
fn manager_of(message: &str) -> String {
    message
        .split('"')
        .nth(1)
        .filter(|name| !name.is_empty())
        .unwrap_or(message)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conflict_names_its_field_manager() {
        assert_eq!(manager_of(r#"conflict with "kubectl" using v1"#), "kubectl");
        assert_eq!(manager_of(r#"conflict with "helm""#), "helm");
        assert_eq!(manager_of("something else"), "something else");
    }
    use serde_json::json;

    #[test]
    fn documents_change_kind_for_staged_and_enforced_writes() {
        assert_eq!(
            target_kind(Kind::NetworkPolicy, ApplyMode::Staged).unwrap(),
            Kind::StagedKubernetesNetworkPolicy
        );
        assert_eq!(
            target_kind(Kind::StagedGlobalNetworkPolicy, ApplyMode::Enforced).unwrap(),
            Kind::GlobalNetworkPolicy
        );
        assert!(target_kind(Kind::AdminNetworkPolicy, ApplyMode::Staged).is_err());

        let doc = json!({
            "apiVersion": "crd.projectcalico.org/v1", "kind": "StagedNetworkPolicy",
            "metadata": {"name": "p", "namespace": "shop", "resourceVersion": "9",
                         "managedFields": [], "uid": "u"},
            "spec": {"stagedAction": "Set", "selector": "all()"},
            "status": {}
        });
        let out = prepare(
            doc.clone(),
            Kind::CalicoNetworkPolicy,
            Some("12"),
            Some("shop"),
        )
        .unwrap();
        assert_eq!(out["apiVersion"], "projectcalico.org/v3");
        assert_eq!(out["kind"], "NetworkPolicy");
        assert_eq!(out["metadata"]["resourceVersion"], "12");
        assert!(out["metadata"].get("uid").is_none());
        assert!(out["spec"].get("stagedAction").is_none());
        assert!(out.get("status").is_none());

        let mut deleting = doc;
        deleting["spec"]["stagedAction"] = json!("Delete");
        assert!(prepare(deleting, Kind::CalicoNetworkPolicy, None, Some("shop")).is_err());
    }
}
