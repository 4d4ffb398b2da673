//! The fake API server's objects: one resourceVersion counter for everything, an event log
//! per server that watches replay from, and compaction that makes old versions expire.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::broadcast;

/// A resource the fake serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ResourceDef {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
    /// A CustomResourceDefinition's resource: its list items carry `apiVersion` and `kind`
    /// (built-in types' items do not).
    pub custom: bool,
}

impl ResourceDef {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods`, `networkpolicies.projectcalico.org`: how API messages name a resource.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

/// Which object: resource (group, plural), namespace ("" for cluster-scoped) and name.
pub(crate) type ObjectId = (String, String, String, String);

/// A change, as a watch reports it.
#[derive(Clone, Debug)]
pub(crate) struct StoredEvent {
    pub resource_version: u64,
    pub group: String,
    pub plural: String,
    pub namespace: String,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    pub object: Value,
    /// When the fake emitted it (for latency measurements).
    pub emitted: std::time::Instant,
}

/// What open watches are told besides changes.
#[derive(Clone, Debug)]
pub(crate) enum Signal {
    Event(Arc<StoredEvent>),
    /// A BOOKMARK with the current resourceVersion.
    Bookmark(u64),
    /// `410 Gone`: the watch's place is lost.
    Expire,
    /// The connection breaks without a word.
    Drop,
}

pub(crate) struct Store {
    pub resource_version: u64,
    /// Events at or below this version are forgotten: a watch from there gets 410 Gone.
    pub compacted: u64,
    pub objects: BTreeMap<ObjectId, Value>,
    pub log: Vec<Arc<StoredEvent>>,
    pub signals: broadcast::Sender<Signal>,
    pub next_uid: u64,
    owners: BTreeMap<ObjectId, BTreeMap<String, Owned>>,
}

/// The `spec` fields one field manager owns, and when it last wrote.
#[derive(Debug, Default)]
struct Owned {
    fields: Vec<String>,
    time: String,
}

impl Store {
    pub fn new() -> Store {
        let (signals, _) = broadcast::channel(1 << 16);
        Store {
            resource_version: 1,
            compacted: 0,
            objects: BTreeMap::new(),
            log: Vec::new(),
            signals,
            next_uid: 1,
            owners: BTreeMap::new(),
        }
    }

    /// Stores `object` under `id` as a new version and tells the watches. `manager` now
    /// owns the `spec` fields `fields` (taken from whoever owned them).
    pub fn put(
        &mut self,
        id: ObjectId,
        mut object: Value,
        manager: &str,
        fields: &[String],
        now: &str,
    ) -> Value {
        self.resource_version += 1;
        let rv = self.resource_version;
        let existing = self.objects.get(&id);
        let kind = if existing.is_some() {
            "MODIFIED"
        } else {
            "ADDED"
        };
        let (uid, created, generation) = match existing {
            Some(old) => (
                old.pointer("/metadata/uid").cloned(),
                old.pointer("/metadata/creationTimestamp").cloned(),
                old.pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .map(|g| g + 1),
            ),
            None => {
                self.next_uid += 1;
                (
                    Some(json!(format!(
                        "00000000-0000-4000-8000-{:012}",
                        self.next_uid
                    ))),
                    None,
                    Some(1),
                )
            }
        };
        let owners = self.owners.entry(id.clone()).or_default();
        for (_, owned) in owners.iter_mut() {
            owned.fields.retain(|f| !fields.contains(f));
        }
        let mine = owners.entry(manager.to_string()).or_default();
        mine.fields.extend(fields.iter().cloned());
        mine.fields.sort();
        mine.fields.dedup();
        mine.time = now.to_string();
        owners.retain(|_, o| !o.fields.is_empty());
        let api_version = object.get("apiVersion").cloned().unwrap_or(Value::Null);
        let managed: Vec<Value> = owners
            .iter()
            .map(|(name, o)| {
                let spec: serde_json::Map<String, Value> = o
                    .fields
                    .iter()
                    .map(|f| (format!("f:{f}"), json!({})))
                    .collect();
                json!({
                    "manager": name,
                    "operation": if name == "flowlens" { "Apply" } else { "Update" },
                    "apiVersion": api_version,
                    "time": o.time,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": spec}
                })
            })
            .collect();
        if let Some(meta) = object
            .as_object_mut()
            .and_then(|o| o.get_mut("metadata"))
            .and_then(Value::as_object_mut)
        {
            meta.insert("resourceVersion".into(), json!(rv.to_string()));
            meta.insert("uid".into(), uid.unwrap_or(Value::Null));
            if !meta.contains_key("creationTimestamp") {
                meta.insert(
                    "creationTimestamp".into(),
                    created.unwrap_or_else(|| json!(now)),
                );
            }
            meta.insert("generation".into(), json!(generation.unwrap_or(1)));
            meta.insert("managedFields".into(), Value::Array(managed));
        }
        self.objects.insert(id.clone(), object.clone());
        self.emit(&id, kind, object.clone());
        object
    }

    /// Who owns which `spec` field of an object.
    pub fn field_owners(&self, id: &ObjectId) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (manager, owned) in self.owners.get(id).into_iter().flatten() {
            for f in &owned.fields {
                out.insert(f.clone(), manager.clone());
            }
        }
        out
    }

    pub fn remove(&mut self, id: &ObjectId) -> Option<Value> {
        let mut object = self.objects.remove(id)?;
        self.owners.remove(id);
        self.resource_version += 1;
        // A deletion carries the object with a newer version, as the API server sends it.
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert(
                "resourceVersion".into(),
                json!(self.resource_version.to_string()),
            );
        }
        self.emit(id, "DELETED", object.clone());
        Some(object)
    }

    fn emit(&mut self, id: &ObjectId, kind: &'static str, object: Value) {
        let event = Arc::new(StoredEvent {
            resource_version: self.resource_version,
            group: id.0.clone(),
            plural: id.1.clone(),
            namespace: id.2.clone(),
            kind,
            object,
            emitted: std::time::Instant::now(),
        });
        self.log.push(Arc::clone(&event));
        // No open watch is not an error.
        let _ = self.signals.send(Signal::Event(event));
    }

    /// Forgets every event so far, as etcd compaction does.
    pub fn compact(&mut self) {
        self.compacted = self.resource_version;
        self.log.clear();
    }
}
