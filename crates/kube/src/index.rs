//! The cluster index: the inventory kept current from watch events, with the IP-ownership
//! timeline and the policy history beside it.
//!
//! Pure state, no I/O: the watch feeds it events in order, with the time each was seen,
//! and it answers with the inventory items that changed. Everything a consumer derives
//! (a compiled engine, a UI) can be updated from those changes alone.

use crate::convert::{
    Body, Converted, EndpointSliceInfo, NodeInfo, ObjectKey, PodFacts, SliceEndpoint, SlicePort,
};
use crate::kinds::Kind;
use flowlens_model::{
    EndpointType, Inventory, InventoryItem, InventoryKey, IpOwner, IpTimeline, ItemChange, Policy,
    PolicyHistory, Revision, RevisionKind, UnixMillis,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

/// What the watch reports about one kind.
#[derive(Debug)]
pub(crate) enum IndexEvent {
    /// Created or modified.
    Applied(Converted),
    /// Deleted; the object as it was last.
    Deleted(Converted),
    /// Every object of a kind, from a full listing (the watch starting, or listing again
    /// after its place expired): what is not listed is gone.
    Relisted { kind: Kind, objects: Vec<Converted> },
}

/// A pod on the host network: it has no workload endpoint and shares its node's addresses.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HostNetworkPod {
    pub namespace: String,
    pub name: String,
    pub node: Option<String>,
    pub ips: Vec<IpAddr>,
}

/// An object the watch read but could not use, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SkippedObject {
    pub object: ObjectKey,
    pub reason: String,
}

/// The backends of a Service, from all its EndpointSlices.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ServiceBackends {
    pub endpoints: Vec<SliceEndpoint>,
    pub ports: Vec<SlicePort>,
}

/// What the index remembers of one object.
#[derive(Debug, Default)]
struct Known {
    resource_version: Option<String>,
    /// The inventory item the object stands for, if any.
    item: Option<InventoryKey>,
    /// The addresses the object holds in the timeline.
    claims: Vec<(IpAddr, IpOwner)>,
}

/// A policy whose tier is not declared (yet): Calico does not enforce it.
#[derive(Debug)]
struct Waiting {
    policy: Policy,
    resource_version: Option<String>,
    /// For a policy found by a listing: since when it has been as it is.
    observed_since: Option<UnixMillis>,
}

#[derive(Debug)]
pub(crate) struct ClusterIndex {
    inventory: Arc<Inventory>,
    timeline: IpTimeline,
    history: PolicyHistory,
    objects: HashMap<ObjectKey, Known>,
    waiting: BTreeMap<ObjectKey, Waiting>,
    slices: BTreeMap<ObjectKey, EndpointSliceInfo>,
    nodes: BTreeMap<String, NodeInfo>,
    host_network_pods: BTreeMap<(String, String), HostNetworkPod>,
    skipped: BTreeMap<ObjectKey, String>,
    revision: u64,
}

impl Default for ClusterIndex {
    fn default() -> Self {
        ClusterIndex {
            inventory: Arc::new(Inventory::new()),
            timeline: IpTimeline::new(),
            history: PolicyHistory::new(),
            objects: HashMap::new(),
            waiting: BTreeMap::new(),
            slices: BTreeMap::new(),
            nodes: BTreeMap::new(),
            host_network_pods: BTreeMap::new(),
            skipped: BTreeMap::new(),
            revision: 0,
        }
    }
}

/// How one event is being applied: its time, and what it produced so far.
struct Step<'a> {
    now: UnixMillis,
    /// When the new state began: the event's time, or for a listing the object's own time.
    at: UnixMillis,
    kind: RevisionKind,
    changes: &'a mut Vec<ItemChange>,
}

impl ClusterIndex {
    pub fn new() -> ClusterIndex {
        ClusterIndex::default()
    }

    /// Applies one event seen at `now`; returns the inventory items it changed.
    pub fn apply(&mut self, event: IndexEvent, now: UnixMillis) -> Vec<ItemChange> {
        let mut changes = Vec::new();
        match event {
            IndexEvent::Applied(c) => {
                let kind = if self.objects.contains_key(&c.key) {
                    RevisionKind::Updated
                } else {
                    RevisionKind::Created
                };
                let mut step = Step {
                    now,
                    at: now,
                    kind,
                    changes: &mut changes,
                };
                self.upsert(c, &mut step);
            }
            IndexEvent::Deleted(c) => {
                let mut step = Step {
                    now,
                    at: now,
                    kind: RevisionKind::Deleted,
                    changes: &mut changes,
                };
                self.delete(&c.key, c.resource_version, &mut step);
            }
            IndexEvent::Relisted { kind, objects } => {
                let listed: HashSet<ObjectKey> = objects.iter().map(|c| c.key.clone()).collect();
                for c in objects {
                    let at = c.changed_at.unwrap_or(now).min(now);
                    let mut step = Step {
                        now,
                        at,
                        kind: RevisionKind::Observed,
                        changes: &mut changes,
                    };
                    self.upsert(c, &mut step);
                }
                let mut gone: Vec<ObjectKey> = self
                    .objects
                    .keys()
                    .filter(|k| k.kind == kind && !listed.contains(k))
                    .cloned()
                    .collect();
                gone.sort();
                for key in gone {
                    let mut step = Step {
                        now,
                        at: now,
                        kind: RevisionKind::Deleted,
                        changes: &mut changes,
                    };
                    self.delete(&key, None, &mut step);
                }
            }
        }
        if !changes.is_empty() {
            self.revision += 1;
        }
        changes
    }

    fn upsert(&mut self, c: Converted, step: &mut Step) {
        let key = c.key;
        let rv = c.resource_version;
        self.skipped.remove(&key);
        // A new address is held from the object's creation (a pod's start), not from when
        // the watch happened to see it.
        let created = c.created_at.unwrap_or(step.now).min(step.now);
        let (item, claims, first_from) = match c.body {
            Body::Skipped(reason) => {
                self.skipped.insert(key.clone(), reason);
                (None, Vec::new(), step.now)
            }
            Body::Item(item) => {
                let claims = claims_of(&item);
                (Some(item), claims, created)
            }
            Body::Pod { endpoint, facts } => {
                self.note_host_network(&key, &facts);
                let item = endpoint.map(InventoryItem::Endpoint);
                let claims = item.as_ref().map(claims_of).unwrap_or_default();
                let started = facts.started_at.unwrap_or(step.now).min(step.now);
                (item, claims, started)
            }
            Body::EndpointSlice(info) => {
                self.slices.insert(key.clone(), info);
                (None, Vec::new(), step.now)
            }
            Body::Node(info) => {
                let owner = IpOwner::Node {
                    name: info.name.clone(),
                };
                let claims = info
                    .addresses
                    .iter()
                    .map(|ip| (*ip, owner.clone()))
                    .collect();
                self.nodes.insert(info.name.clone(), info);
                (None, claims, created)
            }
        };
        let known = self.objects.entry(key.clone()).or_default();
        known.resource_version = rv.clone();
        let old_item = known.item.take();
        let old_claims = std::mem::take(&mut known.claims);
        self.set_claims(&key, old_claims, claims, first_from, step.now);
        self.set_item(&key, old_item, item, rv, step);
    }

    fn delete(&mut self, key: &ObjectKey, rv: Option<String>, step: &mut Step) {
        let Some(known) = self.objects.remove(key) else {
            return;
        };
        let rv = rv.or(known.resource_version);
        self.skipped.remove(key);
        self.slices.remove(key);
        if key.kind == Kind::Node {
            self.nodes.remove(&key.name);
        }
        if let Some(ns) = &key.namespace {
            self.host_network_pods
                .remove(&(ns.clone(), key.name.clone()));
        }
        for (ip, owner) in &known.claims {
            self.timeline.release(*ip, step.now, owner);
        }
        self.set_item(key, known.item, None, rv, step);
    }

    fn note_host_network(&mut self, key: &ObjectKey, facts: &PodFacts) {
        let id = (key.namespace.clone().unwrap_or_default(), key.name.clone());
        if facts.host_network && !facts.finished {
            self.host_network_pods.insert(
                id.clone(),
                HostNetworkPod {
                    namespace: id.0,
                    name: id.1,
                    node: facts.node.clone(),
                    ips: facts.ips.clone(),
                },
            );
        } else {
            self.host_network_pods.remove(&id);
        }
    }

    /// Moves an object's addresses from `old` to `new` claims: dropped addresses are
    /// released now, an owner that changed (relabelled) takes over now, and a new address is
    /// held from `first_from` (a pod's start), which the timeline keeps after the address's
    /// previous tenure.
    fn set_claims(
        &mut self,
        key: &ObjectKey,
        old: Vec<(IpAddr, IpOwner)>,
        new: Vec<(IpAddr, IpOwner)>,
        first_from: UnixMillis,
        now: UnixMillis,
    ) {
        for (ip, owner) in &old {
            if !new.iter().any(|(n, _)| n == ip) {
                self.timeline.release(*ip, now, owner);
            }
        }
        for (ip, owner) in &new {
            match old.iter().find(|(o, _)| o == ip) {
                Some((_, before)) if before == owner => {
                    // Unchanged, unless another object claimed the address since.
                    if self.timeline.current(*ip).is_none_or(|t| &t.owner != owner) {
                        self.timeline.claim(*ip, now, owner.clone());
                    }
                }
                Some(_) => {
                    self.timeline.claim(*ip, now, owner.clone());
                }
                None => {
                    self.timeline.claim(*ip, first_from, owner.clone());
                }
            }
        }
        if let Some(known) = self.objects.get_mut(key) {
            known.claims = new;
        }
    }

    /// Replaces the inventory item an object stands for.
    fn set_item(
        &mut self,
        key: &ObjectKey,
        old: Option<InventoryKey>,
        new: Option<InventoryItem>,
        rv: Option<String>,
        step: &mut Step,
    ) {
        let new_key = new.as_ref().map(InventoryItem::key);
        if let Some(old) = old.filter(|o| Some(o) != new_key.as_ref()) {
            self.remove_item(&old, rv.clone(), step);
        }
        self.waiting.remove(key);
        if let Some(known) = self.objects.get_mut(key) {
            known.item = new_key.clone();
        }
        let Some(item) = new else { return };
        if let InventoryItem::Policy(p) = &item
            && !self.tier_declared(&p.tier)
        {
            // Calico does not enforce a policy in a tier that does not exist; it waits for
            // its tier, out of the inventory.
            self.skipped.insert(
                key.clone(),
                format!(
                    "tier {:?} is not declared (yet): the policy waits for it",
                    p.tier
                ),
            );
            if let Some(k) = &new_key {
                self.remove_item(k, rv.clone(), step);
            }
            let InventoryItem::Policy(policy) = item else {
                unreachable!("checked above")
            };
            let observed_since = (step.kind == RevisionKind::Observed).then_some(step.at);
            self.waiting.insert(
                key.clone(),
                Waiting {
                    policy,
                    resource_version: rv,
                    observed_since,
                },
            );
            return;
        }
        let tier = match &item {
            InventoryItem::Tier(t) => Some(t.name.clone()),
            _ => None,
        };
        self.put_item(item, rv, step);
        if let Some(tier) = tier {
            self.admit_waiting(&tier, step);
        }
    }

    fn tier_declared(&self, tier: &str) -> bool {
        self.inventory.tier(tier).is_some()
    }

    fn put_item(&mut self, item: InventoryItem, rv: Option<String>, step: &mut Step) {
        let key = item.key();
        if self.inventory.item(&key).as_ref() == Some(&item) {
            return;
        }
        let after = item.clone();
        let before = Arc::make_mut(&mut self.inventory).upsert_item(item);
        self.changed(
            ItemChange {
                key,
                before,
                after: Some(after),
            },
            rv,
            step,
        );
    }

    fn remove_item(&mut self, key: &InventoryKey, rv: Option<String>, step: &mut Step) {
        if self.inventory.item(key).is_none() {
            return;
        }
        let before = Arc::make_mut(&mut self.inventory).remove_item(key);
        let builtin_back = self.inventory.item(key);
        self.changed(
            ItemChange {
                key: key.clone(),
                before,
                after: builtin_back,
            },
            rv,
            step,
        );
        if let InventoryKey::Tier { name } = key
            && !self.tier_declared(name)
        {
            self.suspend_tier(name, step);
        }
    }

    /// Policies waiting for `tier` go into the inventory now that it exists.
    fn admit_waiting(&mut self, tier: &str, step: &mut Step) {
        let ready: Vec<ObjectKey> = self
            .waiting
            .iter()
            .filter(|(_, w)| w.policy.tier == tier)
            .map(|(k, _)| k.clone())
            .collect();
        for key in ready {
            if let Some(w) = self.waiting.remove(&key) {
                self.skipped.remove(&key);
                // Both found by listings (the kinds are listed in any order): the policy has
                // been in force since both existed as they are. Otherwise it starts now.
                let (kind, at) = match (step.kind, w.observed_since) {
                    (RevisionKind::Observed, Some(since)) => {
                        (RevisionKind::Observed, since.max(step.at))
                    }
                    _ => (RevisionKind::Created, step.now),
                };
                let mut admitted = Step {
                    now: step.now,
                    at,
                    kind,
                    changes: step.changes,
                };
                self.put_item(
                    InventoryItem::Policy(w.policy),
                    w.resource_version,
                    &mut admitted,
                );
            }
        }
    }

    /// The policies of a tier that went away wait for it to come back.
    fn suspend_tier(&mut self, tier: &str, step: &mut Step) {
        let keys: Vec<(ObjectKey, InventoryKey)> = self
            .objects
            .iter()
            .filter_map(|(k, known)| match &known.item {
                Some(item @ InventoryKey::Policy { .. }) => Some((k.clone(), item.clone())),
                _ => None,
            })
            .collect();
        for (object, item_key) in keys {
            let Some(InventoryItem::Policy(p)) = self.inventory.item(&item_key) else {
                continue;
            };
            if p.tier != tier {
                continue;
            }
            let rv = self
                .objects
                .get(&object)
                .and_then(|k| k.resource_version.clone());
            self.remove_item(&item_key, rv.clone(), step);
            self.skipped.insert(
                object.clone(),
                format!("tier {tier:?} is not declared (yet): the policy waits for it"),
            );
            self.waiting.insert(
                object,
                Waiting {
                    policy: p,
                    resource_version: rv,
                    observed_since: None,
                },
            );
        }
    }

    /// Records a change of the inventory: in the history for tiers and policies, and in the
    /// list the event returns.
    fn changed(&mut self, change: ItemChange, rv: Option<String>, step: &mut Step) {
        let kind = match (&change.before, &change.after) {
            (_, None) => RevisionKind::Deleted,
            _ if step.kind == RevisionKind::Observed => RevisionKind::Observed,
            (None, Some(_)) => RevisionKind::Created,
            (Some(_), Some(_)) => RevisionKind::Updated,
        };
        let at = if kind == RevisionKind::Observed {
            step.at
        } else {
            step.now
        };
        match (&change.key, &change.after) {
            (InventoryKey::Policy { .. }, after) => {
                let state = match after {
                    Some(InventoryItem::Policy(p)) => Some(Arc::new(p.clone())),
                    _ => None,
                };
                if let Some(id) = change.key.policy_id() {
                    self.history.record_policy(
                        id,
                        Revision {
                            at,
                            resource_version: rv,
                            kind,
                            state,
                        },
                    );
                }
            }
            (InventoryKey::Tier { name }, after) => {
                let state = match after {
                    Some(InventoryItem::Tier(t)) => Some(Arc::new(t.clone())),
                    _ => None,
                };
                // A built-in tier coming back after its object was deleted is the built-in.
                let kind = if state.is_some() && kind == RevisionKind::Deleted {
                    RevisionKind::Updated
                } else {
                    kind
                };
                self.history.record_tier(
                    name.clone(),
                    Revision {
                        at,
                        resource_version: rv,
                        kind,
                        state,
                    },
                );
            }
            _ => {}
        }
        step.changes.push(change);
    }

    /// The current inventory. Cheap: a shared pointer; the index copies it only when it
    /// changes while someone still holds it.
    pub fn inventory(&self) -> Arc<Inventory> {
        Arc::clone(&self.inventory)
    }

    pub fn timeline(&self) -> &IpTimeline {
        &self.timeline
    }

    pub fn timeline_mut(&mut self) -> &mut IpTimeline {
        &mut self.timeline
    }

    pub fn history(&self) -> &PolicyHistory {
        &self.history
    }

    pub fn history_mut(&mut self) -> &mut PolicyHistory {
        &mut self.history
    }

    /// Counts every change of the inventory.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn skipped(&self) -> Vec<SkippedObject> {
        self.skipped
            .iter()
            .map(|(object, reason)| SkippedObject {
                object: object.clone(),
                reason: reason.clone(),
            })
            .collect()
    }

    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.nodes.values().cloned().collect()
    }

    pub fn host_network_pods(&self) -> Vec<HostNetworkPod> {
        self.host_network_pods.values().cloned().collect()
    }

    /// The backends of a Service from its EndpointSlices (ports of the first slice that has
    /// any: slices of one Service share their ports).
    pub fn service_backends(&self, namespace: &str, name: &str) -> ServiceBackends {
        let mut out = ServiceBackends::default();
        for (key, slice) in &self.slices {
            if key.namespace.as_deref() == Some(namespace) && slice.service.as_deref() == Some(name)
            {
                out.endpoints.extend(slice.endpoints.iter().cloned());
                if out.ports.is_empty() {
                    out.ports = slice.ports.clone();
                }
            }
        }
        out
    }

    /// How many objects of each kind the index holds.
    pub fn object_counts(&self) -> BTreeMap<Kind, usize> {
        let mut counts = BTreeMap::new();
        for key in self.objects.keys() {
            *counts.entry(key.kind).or_default() += 1;
        }
        counts
    }
}

/// The addresses an inventory item holds: a pod's or host endpoint's IPs, a Service's
/// cluster IPs.
fn claims_of(item: &InventoryItem) -> Vec<(IpAddr, IpOwner)> {
    match item {
        InventoryItem::Endpoint(e)
            if matches!(e.endpoint_type, EndpointType::Wep | EndpointType::Hep) =>
        {
            let owner = IpOwner::Endpoint(Arc::new(e.clone()));
            e.ips.iter().map(|ip| (*ip, owner.clone())).collect()
        }
        InventoryItem::Service(s) => {
            let owner = IpOwner::Service {
                namespace: s.namespace.clone(),
                name: s.name.clone(),
            };
            s.cluster_ips
                .iter()
                .map(|ip| (*ip, owner.clone()))
                .collect()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::{ConvertContext, convert_value};
    use crate::kinds::CalicoApi;
    use flowlens_manifests::LoadOptions;
    use flowlens_model::PolicyId;
    use serde_json::json;

    fn ctx() -> ConvertContext {
        ConvertContext {
            calico: CalicoApi::V3,
            opts: LoadOptions::default(),
        }
    }

    fn managed(t: &str) -> serde_json::Value {
        json!([{"manager": "kubectl", "operation": "Update", "time": t}])
    }

    fn tier(name: &str, t: &str) -> Converted {
        convert_value(
            Kind::Tier,
            json!({"metadata": {"name": name, "resourceVersion": "5", "managedFields": managed(t)},
                   "spec": {"order": 10}}),
            &ctx(),
        )
    }

    fn policy(name: &str, tier: &str, t: &str) -> Converted {
        convert_value(
            Kind::GlobalNetworkPolicy,
            json!({"metadata": {"name": name, "resourceVersion": "6", "managedFields": managed(t)},
                   "spec": {"tier": tier, "selector": "all()", "types": ["Ingress"]}}),
            &ctx(),
        )
    }

    fn pod(name: &str, ip: &str, started: &str) -> Converted {
        let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "shop", "resourceVersion": "7"},
            "spec": {"containers": []},
            "status": {"phase": "Running", "podIP": ip, "startTime": started}
        }))
        .unwrap();
        crate::convert::convert_pod(pod, &ctx())
    }

    const T1: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
    const T1_TEXT: &str = "2026-01-01T00:00:00Z";
    const T2_TEXT: &str = "2026-01-01T00:10:00Z";

    #[test]
    fn a_policy_listed_before_its_tier_is_observed_since_both_existed() {
        let mut index = ClusterIndex::new();
        let now = T1 + 3_600_000;
        let changes = index.apply(
            IndexEvent::Relisted {
                kind: Kind::GlobalNetworkPolicy,
                objects: vec![policy("sec.p", "sec", T1_TEXT)],
            },
            now,
        );
        assert!(changes.is_empty());
        assert_eq!(index.skipped().len(), 1);
        let changes = index.apply(
            IndexEvent::Relisted {
                kind: Kind::Tier,
                objects: vec![tier("sec", T2_TEXT)],
            },
            now,
        );
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(index.skipped().is_empty());
        let id = PolicyId::parse("gnp:sec.p").unwrap();
        let revisions = index.history().policy_revisions(&id);
        assert_eq!(revisions.len(), 1);
        assert_eq!(revisions[0].kind, RevisionKind::Observed);
        assert_eq!(revisions[0].at, T1 + 600_000);

        // Deleting the tier suspends its policies; the built-in tiers stay.
        let changes = index.apply(IndexEvent::Deleted(tier("sec", T2_TEXT)), now + 1);
        assert_eq!(changes.len(), 2);
        assert!(index.inventory().policies.is_empty());
        assert_eq!(index.skipped().len(), 1);
    }

    #[test]
    fn a_listing_removes_what_it_no_longer_finds_and_frees_addresses() {
        let mut index = ClusterIndex::new();
        let started = "2026-01-01T00:00:00Z";
        index.apply(
            IndexEvent::Relisted {
                kind: Kind::Pod,
                objects: vec![pod("a", "10.0.0.1", started), pod("b", "10.0.0.2", started)],
            },
            T1 + 1_000,
        );
        assert_eq!(index.inventory().endpoints.len(), 2);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(index.timeline().owner_at(ip, T1).map(|t| t.from), Some(T1));

        let changes = index.apply(
            IndexEvent::Relisted {
                kind: Kind::Pod,
                objects: vec![pod("b", "10.0.0.2", started)],
            },
            T1 + 5_000,
        );
        assert_eq!(changes.len(), 1);
        assert!(changes[0].after.is_none());
        assert!(index.timeline().owner_at(ip, T1 + 5_000).is_none());
        assert!(index.timeline().owner_at(ip, T1 + 4_999).is_some());
        // Listing the same again changes nothing.
        let revision = index.revision();
        let changes = index.apply(
            IndexEvent::Relisted {
                kind: Kind::Pod,
                objects: vec![pod("b", "10.0.0.2", started)],
            },
            T1 + 6_000,
        );
        assert!(changes.is_empty());
        assert_eq!(index.revision(), revision);
    }
}
