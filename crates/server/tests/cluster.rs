//! The server connected to a cluster (the fake API server of `flowlens-kube`): the inventory
//! follows the watch, `/api/cluster` and `/api/health` describe the connection, and policy
//! saves and deletes are written to the cluster — a server-side apply the fake records, a
//! conflict shown with the current version, read-only when the cluster forbids writes.

use flowlens_kube::WatchOptions;
use flowlens_kube::testing::{FakeApiServer, FakeConfig, objects};
use flowlens_model::Inventory;
use flowlens_server::{AppState, ClusterLink, ServerOptions};
use flowlens_store::{EmbeddedOptions, EmbeddedStore, Store};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

struct Connected {
    addr: SocketAddr,
    fake: FakeApiServer,
    link: Arc<ClusterLink>,
    _dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
}

/// A fake cluster with a namespace, two pods and a policy written by `kubectl`; `prepare`
/// breaks it before the server connects.
fn connect(prepare: impl FnOnce(&FakeApiServer)) -> Connected {
    connect_to(FakeConfig::default(), prepare)
}

fn connect_to(config: FakeConfig, prepare: impl FnOnce(&FakeApiServer)) -> Connected {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let audit = dir.path().join(flowlens_server::AUDIT_FILE);
    let fake = runtime.block_on(FakeApiServer::start_with(config));
    fake.apply(objects::namespace("shop", &[]));
    fake.apply(objects::pod(
        "shop",
        "web",
        &[("app", "web")],
        &["10.0.0.20"],
    ));
    fake.apply(objects::pod(
        "shop",
        "client",
        &[("app", "client")],
        &["10.0.0.10"],
    ));
    fake.apply(objects::kubernetes_policy("shop", "web", "web", "client"));
    prepare(&fake);
    // The client's buffer task is spawned on the runtime it is built in.
    let cluster = {
        let _runtime = runtime.enter();
        fake.cluster()
    };
    let (addr, link) = runtime.block_on(async move {
        let store: Arc<dyn Store> =
            Arc::new(EmbeddedStore::open(&data, EmbeddedOptions::default()).unwrap());
        let state = AppState::new(store, Arc::new(Inventory::new()), None);
        state.set_audit_log(&audit);
        let watch = cluster.watch(WatchOptions::default());
        let link = Arc::new(ClusterLink::new(watch, cluster.writer()));
        let _ = link.check_access().await;
        state.connect_cluster(link.clone());
        let router = flowlens_server::router(state, &ServerOptions::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(flowlens_server::serve(
            listener,
            router,
            std::future::pending(),
        ));
        (addr, link)
    });
    Connected {
        addr,
        fake,
        link,
        _dir: dir,
        runtime,
    }
}

impl Connected {
    fn request(&self, method: &str, target: &str, body: &str) -> (u16, Value) {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut text = format!(
            "{method} {target} HTTP/1.1\r\nConnection: close\r\nHost: {}\r\n",
            self.addr
        );
        if !body.is_empty() {
            text.push_str("Content-Type: application/json\r\n");
        }
        text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        stream.write_all(text.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let status = answer[9..12].parse().unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            unchunk(body)
        } else {
            body.to_string()
        };
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    fn get(&self, target: &str) -> Value {
        let (status, body) = self.request("GET", target, "");
        assert_eq!(status, 200, "GET {target}: {body}");
        body
    }

    fn wait_for(&self, target: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let v = self.get(target);
            if check(&v) {
                return v;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}: {v}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn ready(&self) {
        self.runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(20), self.link.ready())
                .await
                .expect("the cluster's first listing")
        });
    }
}

fn unchunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

const WEB_POLICY: &str = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-client, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
    - from: [{podSelector: {matchLabels: {app: client}}}]
      ports: [{protocol: TCP, port: 8080}]
";

#[test]
fn health_says_syncing_until_every_kind_is_listed_and_the_cluster_says_why() {
    let c = connect(|fake| fake.deny("list", "", "pods", true));
    let health = c.wait_for("/api/health", "health", |v| v["status"] == "syncing");
    assert_eq!(health["mode"], "cluster", "{health}");
    let cluster = c.wait_for("/api/cluster", "the pods' error", |v| {
        v["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["resource"] == "pods" && k["state"] == "retrying")
    });
    assert_eq!(cluster["connected"], true, "{cluster}");
    assert_eq!(cluster["ready"], false, "{cluster}");
    let pods = cluster["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["resource"] == "pods")
        .unwrap();
    assert!(
        pods["last_error"].as_str().unwrap().contains("forbidden"),
        "{pods}"
    );
    // Before the listing no policy is served: the board is empty, not half a cluster.
    let board = c.get("/api/policies");
    assert!(!board.to_string().contains("\"web\""), "{board}");

    c.fake.deny("list", "", "pods", false);
    c.ready();
    let health = c.get("/api/health");
    assert_eq!(health["status"], "ok", "{health}");
    let cluster = c.get("/api/cluster");
    assert_eq!(cluster["ready"], true, "{cluster}");
    assert_eq!(cluster["synced"], true, "{cluster}");
    assert_eq!(cluster["context"], "fake", "{cluster}");
    assert!(
        cluster["server"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert_eq!(cluster["counts"]["workload_endpoints"], 2, "{cluster}");
    assert_eq!(cluster["write"]["checked"], true, "{cluster}");
    assert_eq!(cluster["write"]["read_only"], false, "{cluster}");
    assert!(
        cluster["inventory_revision"].as_u64() >= Some(1),
        "{cluster}"
    );
    let board = c.get("/api/policies");
    assert!(board.to_string().contains("\"web\""), "{board}");
}

#[test]
fn kinds_the_cluster_does_not_serve_are_listed_with_the_reason() {
    let c = connect_to(
        FakeConfig {
            calico: None,
            admin_network_policies: false,
        },
        |_| {},
    );
    c.ready();
    let cluster = c.get("/api/cluster");
    let skipped = cluster["skipped_kinds"].as_array().unwrap();
    assert!(
        skipped.iter().any(
            |k| k["resource"].as_str().unwrap().starts_with("tiers") && k["reason"].is_string()
        ),
        "{cluster}"
    );
    assert!(
        skipped.iter().any(|k| k["resource"]
            .as_str()
            .unwrap()
            .starts_with("adminnetworkpolicies")),
        "{cluster}"
    );
    // What is served is watched all the same.
    assert_eq!(cluster["counts"]["workload_endpoints"], 2, "{cluster}");
}

#[test]
fn a_save_is_a_server_side_apply_and_the_inventory_follows_the_watch() {
    let c = connect(|_| {});
    c.ready();
    let before = c.fake.requests().len();
    let body = json!({ "yaml": WEB_POLICY, "staged": true }).to_string();
    let (status, answer) = c.request("PUT", "/api/policies", &body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["id"], "sknp:shop/web-from-client", "{answer}");
    assert_eq!(answer["cluster"]["applied"], true, "{answer}");
    assert_eq!(answer["cluster"]["field_manager"], "flowlens", "{answer}");
    assert_eq!(answer["cluster"]["in_inventory"], true, "{answer}");
    let patches: Vec<_> = c.fake.requests()[before..]
        .iter()
        .filter(|r| r.method == "PATCH")
        .cloned()
        .collect();
    assert_eq!(patches.len(), 2, "a dry run, then the apply: {patches:?}");
    for (i, p) in patches.iter().enumerate() {
        assert!(
            p.path
                .ends_with("/namespaces/shop/stagedkubernetesnetworkpolicies/web-from-client"),
            "{p:?}"
        );
        assert_eq!(
            p.content_type.as_deref(),
            Some("application/apply-patch+yaml"),
            "{p:?}"
        );
        assert_eq!(
            p.query.get("fieldManager").map(String::as_str),
            Some("flowlens")
        );
        assert_eq!(
            p.query.get("dryRun").map(String::as_str),
            if i == 0 { Some("All") } else { None },
            "{p:?}"
        );
        let body = p.body.as_ref().unwrap();
        assert_eq!(body["kind"], "StagedKubernetesNetworkPolicy", "{body}");
        assert_eq!(body["spec"]["podSelector"]["matchLabels"]["app"], "web");
    }
    // The board shows it because the watch brought it back.
    let board = c.get("/api/policies");
    assert!(board.to_string().contains("web-from-client"), "{board}");
    let stored = c
        .fake
        .get(
            "projectcalico.org/v3",
            "StagedKubernetesNetworkPolicy",
            Some("shop"),
            "web-from-client",
        )
        .expect("applied");
    assert_eq!(stored["metadata"]["namespace"], "shop");
    let audit = c.get("/api/audit");
    assert_eq!(audit["entries"][0]["action"], "apply", "{audit}");

    // Deleting deletes in the cluster; the inventory follows.
    let (status, answer) = c.request("DELETE", "/api/policy?id=sknp:shop/web-from-client", "");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["cluster"]["in_inventory"], false, "{answer}");
    assert!(
        c.fake
            .get(
                "projectcalico.org/v3",
                "StagedKubernetesNetworkPolicy",
                Some("shop"),
                "web-from-client",
            )
            .is_none()
    );
    // The watch saw both changes, with their resource versions.
    let seen = c.wait_for(
        "/api/policy-revisions?id=sknp:shop/web-from-client",
        "the deletion in the policy's revisions",
        |v| {
            v["revisions"]
                .as_array()
                .and_then(|r| r.last())
                .is_some_and(|r| r["kind"] == "deleted")
        },
    );
    assert_eq!(seen["watched"], true, "{seen}");
    let revisions = seen["revisions"].as_array().unwrap();
    assert_eq!(revisions[0]["kind"], "created", "{seen}");
    assert!(
        revisions[0]["yaml"]
            .as_str()
            .unwrap()
            .contains("web-from-client"),
        "{seen}"
    );
    assert!(revisions[0]["resource_version"].is_string(), "{seen}");
    assert!(revisions.last().unwrap()["yaml"].is_null(), "{seen}");
}

#[test]
fn an_edit_of_fields_another_manager_owns_is_a_conflict_with_the_current_version() {
    let c = connect(|_| {});
    c.ready();
    let policy = c.get("/api/policy?id=knp:shop/web");
    let version = policy["version"].as_str().unwrap().to_string();
    let edited = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
    - from: [{podSelector: {matchLabels: {app: other}}}]
      ports: [{protocol: TCP, port: 8080}]
";
    let body = json!({ "yaml": edited, "version": version }).to_string();
    let (status, answer) = c.request("PUT", "/api/policies", &body);
    assert_eq!(status, 409, "{answer}");
    let message = answer["error"].as_str().unwrap_or_default();
    assert!(message.contains("kubectl"), "{answer}");
    assert!(message.contains("force"), "{answer}");
    let current = &answer["current"];
    assert!(
        current["yaml"].as_str().unwrap().contains("client"),
        "the current version: {answer}"
    );
    // Nothing was applied, and the inventory still has the cluster's version.
    let policy = c.get("/api/policy?id=knp:shop/web");
    assert_eq!(policy["version"], version.as_str());

    // With force, the fields are taken over.
    let body = json!({ "yaml": edited, "version": version, "force": true }).to_string();
    let (status, answer) = c.request("PUT", "/api/policies", &body);
    assert_eq!(status, 200, "{answer}");
    let forced = c
        .fake
        .requests()
        .into_iter()
        .rfind(|r| r.method == "PATCH")
        .unwrap();
    assert_eq!(forced.query.get("force").map(String::as_str), Some("true"));
    // The resourceVersion the edit started from went along as a precondition.
    assert!(
        forced.body.as_ref().unwrap()["metadata"]["resourceVersion"].is_string(),
        "{forced:?}"
    );
    c.wait_for("/api/policy?id=knp:shop/web", "the forced edit", |v| {
        v["version"] != version.as_str()
    });
}

#[test]
fn without_write_access_the_connection_is_read_only_and_a_save_is_forbidden() {
    // Reading is allowed, writing policies is not.
    let c = connect(|fake| {
        for group in [
            "networking.k8s.io",
            "projectcalico.org",
            "policy.networking.k8s.io",
        ] {
            for verb in ["create", "patch", "delete"] {
                fake.deny(verb, group, "*", true);
            }
        }
    });
    c.ready();
    let cluster = c.get("/api/cluster");
    assert_eq!(cluster["write"]["read_only"], true, "{cluster}");
    let body = json!({ "yaml": WEB_POLICY }).to_string();
    let (status, answer) = c.request("PUT", "/api/policies", &body);
    assert_eq!(status, 403, "{answer}");
    assert!(answer.to_string().contains("read-only"), "{answer}");
    let board = c.get("/api/policies");
    assert!(!board.to_string().contains("web-from-client"), "{board}");
}

fn unix_millis_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `explain` with `at=` answers with the policies in force then: from an engine kept for
/// late flows while the time is in their window, from the watch's policy history after.
#[test]
fn explain_at_a_past_time_uses_the_policies_then() {
    let c = connect(|_| {});
    c.ready();
    let explain = "/api/explain?source=shop/client&dest=shop/web&port=8080";
    let allowed = |v: &Value| v["action"] == "allow";
    c.wait_for(explain, "client → web allowed", allowed);
    let before_edit = unix_millis_now();
    std::thread::sleep(Duration::from_millis(50));
    // Now only `other` may reach web.
    c.fake
        .apply(objects::kubernetes_policy("shop", "web", "web", "other"));
    c.wait_for(explain, "client → web denied", |v| v["action"] == "deny");

    let then = c.get(&format!("{explain}&at={before_edit}"));
    assert_eq!(then["action"], "allow", "{then}");
    assert_eq!(then["policies_as_of"]["source"], "kept", "{then}");
    assert_eq!(then["policies_as_of"]["at"], before_edit, "{then}");

    // Pod churn, each change compiled on its own, pushes that engine out of the window.
    for i in 0..40 {
        let version = format!("v{i}");
        c.fake.apply(objects::pod(
            "shop",
            "client",
            &[("app", "client"), ("rev", &version)],
            &["10.0.0.10"],
        ));
        std::thread::sleep(Duration::from_millis(40));
    }
    c.wait_for(
        &format!("{explain}&at={before_edit}"),
        "the earlier time answered from the policy history",
        |v| v["policies_as_of"]["source"] == "policy_history",
    );
    let then = c.get(&format!("{explain}&at={before_edit}"));
    assert_eq!(then["action"], "allow", "{then}");
    let now = c.get(explain);
    assert_eq!(now["action"], "deny", "{now}");
    assert!(now.get("policies_as_of").is_none(), "{now}");
}
