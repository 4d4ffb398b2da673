//! A small fake Kubernetes API server for tests (the `test-support` feature).
//!
//! No API server can run where Flowlens is tested, so this one serves, over plain HTTP on
//! a loopback port the OS picks, what the watch and the policy writer use, in the real
//! server's shapes: discovery documents, paged lists, watches as streams of JSON lines
//! (resuming from a `resourceVersion`, BOOKMARK events, `410 Gone` once compacted), get,
//! server-side apply (field managers, conflicts, dry run), delete (preconditions, dry run)
//! SelfSubjectAccessReview, and — for users of Flowlens' API — TokenReview and
//! SubjectAccessReview over users and RBAC rules a test gives ([`FakeApiServer::add_user`],
//! [`FakeApiServer::grant`]). A test changes the cluster through [`FakeApiServer`]'s
//! methods, the way controllers and `kubectl` would, and can break it: compact the event
//! log, expire or drop every open watch, deny writes, fail reviews.
//!
//! ```no_run
//! # async fn example() {
//! use flowlens_kube::testing::{FakeApiServer, objects};
//! use flowlens_kube::WatchOptions;
//! let fake = FakeApiServer::start().await;
//! fake.apply(objects::namespace("shop", &[]));
//! let watch = fake.cluster().watch(WatchOptions::default());
//! watch.synced().await;
//! # }
//! ```

mod api;
pub mod objects;
mod store;

use crate::Cluster;
use crate::connect::ClusterInfo;
use crate::kinds::{CalicoApi, Group, Kind};
use crate::watch::Clock;
use flowlens_model::UnixMillis;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use store::{ResourceDef, Signal, Store};

/// What the fake serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeConfig {
    /// Where Calico's resources are served (`None`: not at all).
    pub calico: Option<CalicoApi>,
    /// Whether `policy.networking.k8s.io/v1alpha1` (AdminNetworkPolicy) is served.
    pub admin_network_policies: bool,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            calico: Some(CalicoApi::V3),
            admin_network_policies: true,
        }
    }
}

/// A request the fake received, for tests that check what was sent.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub content_type: Option<String>,
    pub body: Option<Value>,
}

/// A user the fake's TokenReview knows by its token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeUser {
    pub token: String,
    pub name: String,
    pub groups: Vec<String>,
}

/// One RBAC rule granted to a user or a group: a ClusterRole bound cluster-wide
/// (`namespace: None`) or a Role bound in one namespace. `*` in verbs, groups and resources
/// matches anything; no names means every name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub verbs: Vec<String>,
    pub groups: Vec<String>,
    pub resources: Vec<String>,
    pub names: Vec<String>,
    pub namespace: Option<String>,
}

impl Rule {
    /// A cluster-wide rule.
    pub fn cluster(verbs: &[&str], group: &str, resources: &[&str]) -> Rule {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Rule {
            verbs: strings(verbs),
            groups: vec![group.to_string()],
            resources: strings(resources),
            names: Vec::new(),
            namespace: None,
        }
    }

    /// A rule in `namespace` only.
    pub fn namespaced(namespace: &str, verbs: &[&str], group: &str, resources: &[&str]) -> Rule {
        Rule {
            namespace: Some(namespace.to_string()),
            ..Rule::cluster(verbs, group, resources)
        }
    }

    /// The rule for these resource names only.
    pub fn named(mut self, names: &[&str]) -> Rule {
        self.names = names.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Whether the rule allows `verb` on `group`/`resource` named `name` in `namespace`,
    /// as Kubernetes RBAC decides.
    pub(crate) fn allows(
        &self,
        verb: &str,
        group: &str,
        resource: &str,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> bool {
        let any = |list: &[String], value: &str| list.iter().any(|v| v == "*" || v == value);
        any(&self.verbs, verb)
            && any(&self.groups, group)
            && any(&self.resources, resource)
            && (self.names.is_empty() || name.is_some_and(|n| self.names.iter().any(|v| v == n)))
            && self
                .namespace
                .as_deref()
                .is_none_or(|ns| namespace == Some(ns))
    }
}

pub(crate) struct Inner {
    defs: Vec<ResourceDef>,
    store: Mutex<Store>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// (verb, group, resource) that are denied; `*` matches anything.
    denied: Mutex<Vec<(String, String, String)>>,
    /// Milliseconds since the epoch; 0 means the system clock.
    time: AtomicI64,
    open_watches: AtomicUsize,
    /// Users TokenReview knows.
    users: Mutex<Vec<FakeUser>>,
    /// RBAC rules by the user or group they are bound to.
    rules: Mutex<Vec<(String, Rule)>>,
    /// TokenReview and SubjectAccessReview answer 500.
    reviews_fail: std::sync::atomic::AtomicBool,
}

impl Inner {
    pub(crate) fn user_of(&self, token: &str) -> Option<FakeUser> {
        self.users
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|u| u.token == token)
            .cloned()
    }

    /// Whether a rule bound to `user` or one of `groups` allows the access.
    pub(crate) fn rbac_allows(
        &self,
        user: &str,
        groups: &[String],
        access: (&str, &str, &str, Option<&str>, Option<&str>),
    ) -> bool {
        let (verb, group, resource, namespace, name) = access;
        self.rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(subject, _)| subject == user || groups.contains(subject))
            .any(|(_, rule)| rule.allows(verb, group, resource, namespace, name))
    }

    pub(crate) fn reviews_fail(&self) -> bool {
        self.reviews_fail.load(Ordering::SeqCst)
    }

    pub(crate) fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, request: RecordedRequest) {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(request);
    }

    pub(crate) fn allows(&self, verb: &str, group: &str, resource: &str) -> bool {
        let denied = self.denied.lock().unwrap_or_else(|e| e.into_inner());
        !denied.iter().any(|(v, g, r)| {
            (v == "*" || v == verb) && (g == "*" || g == group) && (r == "*" || r == resource)
        })
    }

    fn now_millis(&self) -> UnixMillis {
        match self.time.load(Ordering::SeqCst) {
            0 => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
            t => t,
        }
    }

    /// The current time as Kubernetes writes it (RFC 3339, whole seconds).
    pub(crate) fn now_rfc3339(&self) -> String {
        rfc3339(self.now_millis())
    }

    fn watch_opened(&self) {
        self.open_watches.fetch_add(1, Ordering::SeqCst);
    }

    fn watch_closed(&self) {
        self.open_watches.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `t` as Kubernetes writes times (whole seconds, UTC).
pub fn rfc3339(t: UnixMillis) -> String {
    let seconds = t.div_euclid(1000);
    k8s_openapi::jiff::Timestamp::from_second(seconds)
        .map(|ts| ts.to_string())
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

fn definitions(config: &FakeConfig) -> Vec<ResourceDef> {
    Kind::ALL
        .iter()
        .filter_map(|&kind| {
            let (group, version, custom) = match kind.group() {
                Group::Fixed { group, version } => {
                    if group == "policy.networking.k8s.io" && !config.admin_network_policies {
                        return None;
                    }
                    (group, version, group == "policy.networking.k8s.io")
                }
                Group::Calico => {
                    let api = config.calico?;
                    (api.group(), api.version(), true)
                }
            };
            Some(ResourceDef {
                group: group.into(),
                version: version.into(),
                kind: kind.kind_name().into(),
                plural: kind.plural().into(),
                namespaced: kind.namespaced(),
                custom,
            })
        })
        .collect()
}

/// The fake API server, running until dropped.
pub struct FakeApiServer {
    addr: SocketAddr,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeApiServer {
    /// Serves every watched kind, Calico through `projectcalico.org/v3`.
    pub async fn start() -> FakeApiServer {
        FakeApiServer::start_with(FakeConfig::default()).await
    }

    /// # Panics
    /// When no loopback port can be bound (a test cannot run then anyway).
    pub async fn start_with(config: FakeConfig) -> FakeApiServer {
        let inner = Arc::new(Inner {
            defs: definitions(&config),
            store: Mutex::new(Store::new()),
            requests: Mutex::new(Vec::new()),
            denied: Mutex::new(Vec::new()),
            time: AtomicI64::new(0),
            open_watches: AtomicUsize::new(0),
            users: Mutex::new(Vec::new()),
            rules: Mutex::new(Vec::new()),
            reviews_fail: std::sync::atomic::AtomicBool::new(false),
        });
        let app = axum::Router::new()
            .fallback(api::handle)
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener
            .local_addr()
            .expect("a bound socket has an address");
        let task = tokio::spawn(async move {
            // Serving stops when the test drops the server.
            let _ = axum::serve(listener, app).await;
        });
        FakeApiServer { addr, inner, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client for the fake (no TLS, no credentials).
    ///
    /// # Panics
    /// Never in practice: the URL is always valid.
    pub fn client(&self) -> kube::Client {
        let url = self.url().parse().expect("a valid URL");
        let config = kube::Config::new(url);
        kube::Client::try_from(config).expect("a client for a plain HTTP URL")
    }

    pub fn cluster(&self) -> Cluster {
        Cluster::from_client(
            self.client(),
            ClusterInfo {
                context: Some("fake".into()),
                cluster: Some("fake".into()),
                server: self.url(),
                in_cluster: false,
                default_namespace: "default".into(),
            },
        )
    }

    /// A kubeconfig that reaches the fake through `context`.
    pub fn kubeconfig(&self, context: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: {context}\nclusters:\n- name: fake-cluster\n  cluster:\n    server: {url}\ncontexts:\n- name: {context}\n  context:\n    cluster: fake-cluster\n    user: tester\n    namespace: shop\nusers:\n- name: tester\n  user:\n    token: not-checked\n",
            url = self.url()
        )
    }

    fn def_of(&self, api_version: &str, kind: &str) -> Option<&ResourceDef> {
        self.inner
            .defs
            .iter()
            .find(|d| d.api_version() == api_version && d.kind == kind)
    }

    /// Creates or replaces an object, as `kubectl` would (field manager `kubectl`).
    ///
    /// # Panics
    /// When the object has no `apiVersion`, `kind` or `metadata.name`, or is of a kind
    /// the fake does not serve: a mistake in the test.
    pub fn apply(&self, object: Value) -> Value {
        self.apply_as("kubectl", object)
    }

    /// Creates or replaces an object as `manager`, which then owns its `spec` fields.
    ///
    /// # Panics
    /// As [`FakeApiServer::apply`].
    pub fn apply_as(&self, manager: &str, mut object: Value) -> Value {
        let api_version = object["apiVersion"].as_str().unwrap_or("").to_string();
        let kind = object["kind"].as_str().unwrap_or("").to_string();
        let def = self
            .def_of(&api_version, &kind)
            .unwrap_or_else(|| panic!("the fake does not serve {kind} ({api_version})"))
            .clone();
        let name = object["metadata"]["name"]
            .as_str()
            .expect("metadata.name")
            .to_string();
        let namespace = if def.namespaced {
            let ns = object["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_string();
            object["metadata"]["namespace"] = Value::String(ns.clone());
            ns
        } else {
            String::new()
        };
        let fields: Vec<String> = object
            .get("spec")
            .and_then(Value::as_object)
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default();
        let now = self.inner.now_rfc3339();
        self.inner.store().put(
            (def.group.clone(), def.plural.clone(), namespace, name),
            object,
            manager,
            &fields,
            &now,
        )
    }

    /// Deletes an object; returns whether it existed.
    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> bool {
        let Some(def) = self.def_of(api_version, kind) else {
            return false;
        };
        let id = (
            def.group.clone(),
            def.plural.clone(),
            namespace.unwrap_or("").to_string(),
            name.to_string(),
        );
        self.inner.store().remove(&id).is_some()
    }

    /// The object as stored.
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let def = self.def_of(api_version, kind)?;
        let id = (
            def.group.clone(),
            def.plural.clone(),
            namespace.unwrap_or("").to_string(),
            name.to_string(),
        );
        self.inner.store().objects.get(&id).cloned()
    }

    /// The newest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.inner.store().resource_version
    }

    /// Forgets the event log, as etcd compaction does: a watch resuming from an older
    /// version gets `410 Gone` and lists again.
    pub fn compact(&self) {
        self.inner.store().compact();
    }

    /// Compacts and tells every open watch `410 Gone` (an ERROR event), as the API server
    /// does when a watcher falls behind a compaction.
    pub fn expire_watches(&self) {
        let mut store = self.inner.store();
        store.compact();
        let _ = store.signals.send(Signal::Expire);
    }

    /// Breaks every open watch connection without a word.
    pub fn drop_watches(&self) {
        let _ = self.inner.store().signals.send(Signal::Drop);
    }

    /// Sends a BOOKMARK with the current resourceVersion to watches that asked for them.
    pub fn bookmark(&self) {
        let store = self.inner.store();
        let _ = store.signals.send(Signal::Bookmark(store.resource_version));
    }

    /// How many watch streams are open.
    pub fn open_watches(&self) -> usize {
        self.inner.open_watches.load(Ordering::SeqCst)
    }

    /// Waits (up to `timeout`) until at least `n` watch streams are open.
    pub async fn wait_for_watches(&self, n: usize, timeout: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.open_watches() < n {
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        true
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Denies (or allows again) `verb` on `group`/`resource`; `*` matches anything. Denied
    /// writes get 403 and access reviews say no.
    pub fn deny(&self, verb: &str, group: &str, resource: &str, denied: bool) {
        let mut rules = self.inner.denied.lock().unwrap_or_else(|e| e.into_inner());
        let rule = (verb.to_string(), group.to_string(), resource.to_string());
        rules.retain(|r| r != &rule);
        if denied {
            rules.push(rule);
        }
    }

    /// Makes TokenReview know `token` as `name`, member of `groups`.
    pub fn add_user(&self, token: &str, name: &str, groups: &[&str]) {
        self.inner
            .users
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(FakeUser {
                token: token.into(),
                name: name.into(),
                groups: groups.iter().map(|g| g.to_string()).collect(),
            });
    }

    /// Binds `rule` to `subject` (a user's or a group's name), for SubjectAccessReview.
    pub fn grant(&self, subject: &str, rule: Rule) {
        self.inner
            .rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((subject.to_string(), rule));
    }

    /// Removes every rule bound to `subject`.
    pub fn revoke_all(&self, subject: &str) {
        self.inner
            .rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(s, _)| s != subject);
    }

    /// Makes TokenReview and SubjectAccessReview fail (500), or work again.
    pub fn fail_reviews(&self, fail: bool) {
        self.inner.reviews_fail.store(fail, Ordering::SeqCst);
    }

    /// How many TokenReviews and SubjectAccessReviews were asked for.
    pub fn review_counts(&self) -> (usize, usize) {
        let requests = self.requests();
        let count = |suffix: &str| {
            requests
                .iter()
                .filter(|r| r.method == "POST" && r.path.ends_with(suffix))
                .count()
        };
        (count("/tokenreviews"), count("/subjectaccessreviews"))
    }

    /// Sets the fake's time (for timestamps it writes); 0 returns to the system clock.
    pub fn set_time(&self, t: UnixMillis) {
        self.inner.time.store(t, Ordering::SeqCst);
    }

    pub fn time(&self) -> UnixMillis {
        self.inner.now_millis()
    }

    /// The fake's time as a watch clock, so a test decides what "now" is everywhere.
    pub fn clock(&self) -> Clock {
        let inner = Arc::clone(&self.inner);
        Arc::new(move || inner.now_millis())
    }

    /// The instant each event of the log was emitted, by the object's name (for latency
    /// measurements).
    pub fn emitted(&self, name: &str) -> Vec<(u64, std::time::Instant)> {
        self.inner
            .store()
            .log
            .iter()
            .filter(|e| e.object.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
            .map(|e| (e.resource_version, e.emitted))
            .collect()
    }
}
