//! Watched API objects into model objects.
//!
//! Every kind `flowlens-manifests` reads is converted by it (`parse_object` on the object's
//! JSON), so an object gives the same model object whether it comes from a watch or from a
//! snapshot file. Only what manifests have no use for is read here: a pod's addresses and
//! times for the IP timeline, EndpointSlices and Nodes.

use crate::kinds::{CalicoApi, Kind};
use flowlens_manifests::{LoadOptions, ResourceBody, parse_object};
use flowlens_model::{Endpoint, InventoryItem, Labels, Protocol, SourceRef, UnixMillis};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::net::IpAddr;

/// Which object: kind, namespace (namespaced kinds) and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ObjectKey {
    pub kind: Kind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// One watched object, converted.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Converted {
    pub key: ObjectKey,
    pub resource_version: Option<String>,
    /// When the object last changed as far as its metadata says (its latest managed-field
    /// time, else its creation): the start of the state a listing finds.
    pub changed_at: Option<UnixMillis>,
    /// `metadata.creationTimestamp`.
    pub created_at: Option<UnixMillis>,
    pub body: Body,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Body {
    /// An object of the inventory.
    Item(InventoryItem),
    /// A pod: its workload endpoint (none for host-network and finished pods, which Calico
    /// gives none) and what the IP timeline needs.
    Pod {
        endpoint: Option<Endpoint>,
        facts: PodFacts,
    },
    EndpointSlice(EndpointSliceInfo),
    Node(NodeInfo),
    /// Read, but not usable; the reason says why.
    Skipped(String),
}

/// What a pod says about its addresses.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct PodFacts {
    pub ips: Vec<IpAddr>,
    pub host_network: bool,
    pub node: Option<String>,
    /// `status.startTime`, else the creation time: no address is assigned before it.
    pub started_at: Option<UnixMillis>,
    /// `Succeeded` or `Failed`: its addresses are free again.
    pub finished: bool,
}

/// A Service's backends from one EndpointSlice.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EndpointSliceInfo {
    /// The `kubernetes.io/service-name` label.
    pub service: Option<String>,
    pub endpoints: Vec<SliceEndpoint>,
    pub ports: Vec<SlicePort>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SliceEndpoint {
    pub addresses: Vec<IpAddr>,
    /// `conditions.ready`; unknown counts as ready, as kube-proxy reads it.
    pub ready: bool,
    /// The pod behind the addresses (`targetRef` of kind Pod).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SlicePort {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub protocol: Protocol,
    pub port: u16,
}

/// A node: its labels and addresses (the addresses host-network pods use too).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeInfo {
    pub name: String,
    pub labels: Labels,
    /// `InternalIP` and `ExternalIP` addresses.
    pub addresses: Vec<IpAddr>,
    pub pod_cidrs: Vec<String>,
}

/// What conversion needs to know about the cluster.
#[derive(Clone, Debug)]
pub(crate) struct ConvertContext {
    pub calico: CalicoApi,
    pub opts: LoadOptions,
}

pub(crate) fn millis(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> UnixMillis {
    t.0.as_millisecond()
}

/// The latest managed-field time, else the creation time.
fn changed_at(meta: &ObjectMeta) -> Option<UnixMillis> {
    let managed = meta
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.time.as_ref().map(millis))
        .max();
    managed.or_else(|| meta.creation_timestamp.as_ref().map(millis))
}

fn key(kind: Kind, meta: &ObjectMeta) -> ObjectKey {
    ObjectKey {
        kind,
        namespace: meta.namespace.clone().filter(|_| kind.namespaced()),
        name: meta.name.clone().unwrap_or_default(),
    }
}

impl Converted {
    fn new(kind: Kind, meta: &ObjectMeta, body: Body) -> Converted {
        Converted {
            key: key(kind, meta),
            resource_version: meta.resource_version.clone(),
            changed_at: changed_at(meta),
            created_at: meta.creation_timestamp.as_ref().map(millis),
            body,
        }
    }

    /// An object that could not be read at all.
    pub fn skipped(kind: Kind, meta: &ObjectMeta, reason: String) -> Converted {
        Converted::new(kind, meta, Body::Skipped(reason))
    }
}

/// Older Calico keeps default-tier policies in its CRDs as `default.<name>`; its API shows
/// them as `<name>`, and so does Flowlens (Calico's `ClientTieredPolicyName`).
fn client_policy_name(name: &str) -> &str {
    let formatted = [
        "knp.default.",
        "kcnp.kube-admin.",
        "kcnp.kube-baseline.",
        "ossg.",
    ]
    .iter()
    .any(|p| name.starts_with(p));
    if formatted {
        return name;
    }
    match name.split_once('.') {
        Some(("default", rest)) => rest,
        _ => name,
    }
}

/// Runs `flowlens-manifests` on an object's JSON and returns its model object, or why
/// there is none.
fn parse(
    key: &ObjectKey,
    value: &Value,
    ctx: &ConvertContext,
) -> Result<Option<ResourceBody>, String> {
    let source = key.to_string();
    let parsed = parse_object(value, &source, &ctx.opts);
    if !parsed.errors.is_empty() {
        let reasons: Vec<String> = parsed
            .errors
            .iter()
            .map(|e| match e.field.as_str() {
                "" => e.message.clone(),
                field => format!("{field}: {}", e.message),
            })
            .collect();
        return Err(reasons.join("; "));
    }
    let mut resources = parsed.resources.into_iter();
    let body = resources.next().map(|r| r.body);
    if resources.next().is_some() {
        return Err("one object read as several".into());
    }
    Ok(body.map(|mut body| {
        if let ResourceBody::Policy(p) = &mut body {
            p.policy.source = Some(SourceRef {
                file: source,
                document: 0,
                line: None,
            });
        }
        body
    }))
}

fn item_of(body: ResourceBody) -> Option<InventoryItem> {
    Some(match body {
        ResourceBody::Namespace(n) => InventoryItem::Namespace(n),
        ResourceBody::ServiceAccount(s) => InventoryItem::ServiceAccount(s),
        ResourceBody::Pod(e) | ResourceBody::HostEndpoint(e) => InventoryItem::Endpoint(e),
        ResourceBody::Service(s) => InventoryItem::Service(s.service),
        ResourceBody::NetworkSet(n) => InventoryItem::NetworkSet(n),
        ResourceBody::Tier(t) => InventoryItem::Tier(t),
        ResourceBody::Policy(p) => InventoryItem::Policy(p.policy),
        // Workload controllers are not watched: their pods are.
        // The index keeps host-network pods itself (`ClusterIndex::host_network_pods`).
        ResourceBody::Workload(_) | ResourceBody::HostNetworkPod(_) => return None,
    })
}

/// Converts the JSON of an object of `kind` (typed objects are serialised first). Objects
/// from list responses may lack `apiVersion` and `kind`; they are filled in.
pub(crate) fn convert_value(kind: Kind, mut value: Value, ctx: &ConvertContext) -> Converted {
    let meta: ObjectMeta = value
        .get("metadata")
        .and_then(|m| serde_json::from_value(m.clone()).ok())
        .unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        obj.entry("apiVersion")
            .or_insert_with(|| Value::String(kind.api_version(ctx.calico)));
        obj.entry("kind")
            .or_insert_with(|| Value::String(kind.kind_name().into()));
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            // Large and of no use past `changed_at`.
            meta.remove("managedFields");
            let tiered = matches!(
                kind,
                Kind::CalicoNetworkPolicy
                    | Kind::GlobalNetworkPolicy
                    | Kind::StagedNetworkPolicy
                    | Kind::StagedGlobalNetworkPolicy
            );
            if tiered
                && ctx.calico == CalicoApi::CrdV1
                && let Some(Value::String(name)) = meta.get_mut("name")
            {
                *name = client_policy_name(name).to_string();
            }
        }
    }
    let mut converted = Converted::new(kind, &meta, Body::Skipped(String::new()));
    if let Some(Value::String(name)) = value.pointer("/metadata/name") {
        converted.key.name = name.clone();
    }
    converted.body = match parse(&converted.key, &value, ctx) {
        Err(reason) => Body::Skipped(reason),
        Ok(None) => Body::Skipped(format!(
            "{} is not a kind Flowlens models",
            kind.kind_name()
        )),
        Ok(Some(body)) => match item_of(body) {
            Some(item) => Body::Item(item),
            None => Body::Skipped("workload controllers are read through their pods".into()),
        },
    };
    converted
}

/// Converts a typed object through its JSON.
pub(crate) fn convert_typed<K: Serialize>(
    kind: Kind,
    object: &K,
    ctx: &ConvertContext,
) -> Converted {
    match serde_json::to_value(object) {
        Ok(value) => convert_value(kind, value, ctx),
        Err(e) => Converted {
            key: ObjectKey {
                kind,
                namespace: None,
                name: String::new(),
            },
            resource_version: None,
            changed_at: None,
            created_at: None,
            body: Body::Skipped(format!("cannot read the object: {e}")),
        },
    }
}

pub(crate) fn pod_facts(pod: &Pod) -> PodFacts {
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let parse_ip = |text: &str| text.trim().parse::<IpAddr>().ok();
    let mut ips: Vec<IpAddr> = status
        .and_then(|s| s.pod_ips.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|p| parse_ip(&p.ip))
        .collect();
    if ips.is_empty()
        && let Some(ip) = status.and_then(|s| s.pod_ip.as_deref()).and_then(parse_ip)
    {
        ips.push(ip);
    }
    let phase = status.and_then(|s| s.phase.as_deref());
    PodFacts {
        ips,
        host_network: spec.and_then(|s| s.host_network).unwrap_or(false),
        node: spec.and_then(|s| s.node_name.clone()),
        started_at: status
            .and_then(|s| s.start_time.as_ref())
            .or(pod.metadata.creation_timestamp.as_ref())
            .map(millis),
        finished: matches!(phase, Some("Succeeded" | "Failed")),
    }
}

pub(crate) fn convert_pod(mut pod: Pod, ctx: &ConvertContext) -> Converted {
    let facts = pod_facts(&pod);
    let changed = changed_at(&pod.metadata);
    pod.metadata.managed_fields = None;
    let mut converted = convert_typed(Kind::Pod, &pod, ctx);
    converted.changed_at = changed;
    converted.body = match converted.body {
        Body::Item(InventoryItem::Endpoint(endpoint)) => Body::Pod {
            endpoint: Some(endpoint),
            facts,
        },
        // Host-network and finished pods have no workload endpoint (manifests skip them
        // with a warning); their facts still matter.
        Body::Skipped(_) if facts.host_network || facts.finished => Body::Pod {
            endpoint: None,
            facts,
        },
        other => other,
    };
    converted
}

pub(crate) fn convert_endpoint_slice(slice: &EndpointSlice) -> Converted {
    let service = slice
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("kubernetes.io/service-name"))
        .cloned();
    let endpoints = slice
        .endpoints
        .iter()
        .map(|e| SliceEndpoint {
            addresses: e.addresses.iter().filter_map(|a| a.parse().ok()).collect(),
            ready: e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true),
            pod: e
                .target_ref
                .as_ref()
                .filter(|r| r.kind.as_deref() == Some("Pod"))
                .and_then(|r| r.name.clone()),
            node: e.node_name.clone(),
        })
        .collect();
    let ports = slice
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            let port = u16::try_from(p.port?).ok()?;
            let protocol = Protocol::parse(p.protocol.as_deref().unwrap_or("TCP")).ok()?;
            Some(SlicePort {
                name: p.name.clone().filter(|n| !n.is_empty()),
                protocol,
                port,
            })
        })
        .collect();
    Converted::new(
        Kind::EndpointSlice,
        &slice.metadata,
        Body::EndpointSlice(EndpointSliceInfo {
            service,
            endpoints,
            ports,
        }),
    )
}

pub(crate) fn convert_node(node: &Node) -> Converted {
    let status = node.status.as_ref();
    let addresses = status
        .and_then(|s| s.addresses.as_ref())
        .into_iter()
        .flatten()
        .filter(|a| matches!(a.type_.as_str(), "InternalIP" | "ExternalIP"))
        .filter_map(|a| a.address.trim().parse().ok())
        .collect();
    let spec = node.spec.as_ref();
    let mut pod_cidrs: Vec<String> = spec.and_then(|s| s.pod_cidrs.clone()).unwrap_or_default();
    if pod_cidrs.is_empty() {
        pod_cidrs.extend(spec.and_then(|s| s.pod_cidr.clone()));
    }
    Converted::new(
        Kind::Node,
        &node.metadata,
        Body::Node(NodeInfo {
            name: node.metadata.name.clone().unwrap_or_default(),
            labels: node
                .metadata
                .labels
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            addresses,
            pod_cidrs,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(calico: CalicoApi) -> ConvertContext {
        ConvertContext {
            calico,
            opts: LoadOptions::default(),
        }
    }

    #[test]
    fn crd_names_of_default_tier_policies_lose_their_prefix() {
        assert_eq!(client_policy_name("default.allow-dns"), "allow-dns");
        assert_eq!(
            client_policy_name("security.allow-dns"),
            "security.allow-dns"
        );
        assert_eq!(client_policy_name("knp.default.db"), "knp.default.db");
        assert_eq!(client_policy_name("plain"), "plain");

        let object = json!({
            "metadata": {"name": "default.allow-dns", "namespace": "shop", "resourceVersion": "7"},
            "spec": {"selector": "all()", "types": ["Egress"], "egress": [{"action": "Allow"}]}
        });
        let c = convert_value(
            Kind::CalicoNetworkPolicy,
            object.clone(),
            &ctx(CalicoApi::CrdV1),
        );
        assert_eq!(c.key.name, "allow-dns");
        let Body::Item(InventoryItem::Policy(p)) = &c.body else {
            panic!("{:?}", c.body)
        };
        assert_eq!(p.name, "allow-dns");
        assert_eq!(c.resource_version.as_deref(), Some("7"));
        // Through v3 the name is taken as it is.
        let c = convert_value(Kind::CalicoNetworkPolicy, object, &ctx(CalicoApi::V3));
        assert_eq!(c.key.name, "default.allow-dns");
    }

    #[test]
    fn bad_objects_are_skipped_with_the_reason() {
        let object = json!({
            "metadata": {"name": "p", "namespace": "shop"},
            "spec": {"selector": "app ==", "types": ["Ingress"]}
        });
        let c = convert_value(Kind::CalicoNetworkPolicy, object, &ctx(CalicoApi::V3));
        let Body::Skipped(reason) = &c.body else {
            panic!("{:?}", c.body)
        };
        assert!(reason.starts_with("spec.selector: "), "{reason}");
        let c = convert_value(Kind::Pod, json!("not an object"), &ctx(CalicoApi::V3));
        assert!(matches!(c.body, Body::Skipped(_)));
    }

    #[test]
    fn host_network_pods_have_facts_but_no_endpoint() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "kube-proxy-x", "namespace": "kube-system",
                         "creationTimestamp": "2026-01-02T03:04:05Z"},
            "spec": {"hostNetwork": true, "nodeName": "node-1", "containers": []},
            "status": {"phase": "Running", "podIP": "192.168.1.10",
                       "podIPs": [{"ip": "192.168.1.10"}]}
        }))
        .unwrap();
        let c = convert_pod(pod, &ctx(CalicoApi::V3));
        let Body::Pod { endpoint, facts } = &c.body else {
            panic!("{:?}", c.body)
        };
        assert!(endpoint.is_none());
        assert!(facts.host_network);
        assert_eq!(facts.node.as_deref(), Some("node-1"));
        assert_eq!(facts.started_at, Some(1_767_323_045_000));
    }
}
