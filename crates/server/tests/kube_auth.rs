//! Kubernetes users against a server connected to a cluster (the fake API server of
//! `flowlens-kube`, which answers TokenReview and SubjectAccessReview from users and RBAC
//! rules the test gives): a token is checked with the cluster, the user's RBAC on Calico's
//! tiered pseudo-resources, Kubernetes network policies and pods decides what it sees and
//! changes, an unknown token gets 401, and a review that cannot be made gets 503 — never
//! the administrator.

use flowlens_kube::WatchOptions;
use flowlens_kube::testing::{FakeApiServer, Rule, objects};
use flowlens_model::{Action, EndpointType, FlowEnd, FlowLog, Inventory, Protocol, Reporter};
use flowlens_server::{AppState, AuthConfig, ClusterLink, KubeAuth, ServerOptions, Token};
use flowlens_store::{EmbeddedOptions, EmbeddedStore, Store};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// The server's own (administrator's) token.
const SERVER_TOKEN: &str = "flowlens-server-token-0123456789";
/// A developer who may see `shop` and write its policies in the `default` tier.
const SHOP_DEV: &str = "k8s-token-shop-dev";
/// May read `shop` and its default-tier policies, change nothing.
const SHOP_VIEWER: &str = "k8s-token-shop-viewer";
/// May write namespaced policies of the `default` tier everywhere, but no global ones.
const NAMESPACED_WRITER: &str = "k8s-token-namespaced-writer";
/// Bound to cluster-admin.
const CLUSTER_ADMIN: &str = "k8s-token-cluster-admin";

const CALICO: &str = "projectcalico.org";
const RW: &[&str] = &[
    "get", "list", "watch", "create", "patch", "update", "delete",
];

/// The RBAC of the users above, as Roles and ClusterRoles bound to them.
fn grant_roles(fake: &FakeApiServer) {
    fake.add_user(SHOP_DEV, "dev@shop", &["shop-devs"]);
    fake.add_user(SHOP_VIEWER, "viewer@shop", &[]);
    fake.add_user(NAMESPACED_WRITER, "writer@platform", &[]);
    fake.add_user(CLUSTER_ADMIN, "admin@platform", &["system:masters"]);
    // Bound to the group, as a RoleBinding in shop would.
    fake.grant(
        "shop-devs",
        Rule::namespaced("shop", &["get", "list"], "", &["pods"]),
    );
    fake.grant(
        "shop-devs",
        Rule::namespaced("shop", RW, CALICO, &["tier.networkpolicies"]).named(&["default.*"]),
    );
    fake.grant(
        "shop-devs",
        Rule::namespaced("shop", RW, "networking.k8s.io", &["networkpolicies"]),
    );
    fake.grant(
        "viewer@shop",
        Rule::namespaced("shop", &["list"], "", &["pods"]),
    );
    fake.grant(
        "viewer@shop",
        Rule::namespaced("shop", &["get", "list"], CALICO, &["tier.networkpolicies"])
            .named(&["default.*"]),
    );
    fake.grant("writer@platform", Rule::cluster(&["list"], "", &["pods"]));
    fake.grant(
        "writer@platform",
        Rule::cluster(RW, CALICO, &["tier.networkpolicies"]).named(&["default.*"]),
    );
    fake.grant(
        "writer@platform",
        Rule::cluster(RW, "networking.k8s.io", &["networkpolicies"]),
    );
    fake.grant("system:masters", Rule::cluster(&["*"], "*", &["*"]));
}

fn end(ns: &str, name: &str, ip: &str) -> FlowEnd {
    FlowEnd {
        ip: Some(ip.parse().unwrap()),
        name: Some(name.to_string()),
        name_aggr: name.to_string(),
        namespace: Some(ns.to_string()),
        port: Some(40000),
        endpoint_type: Some(EndpointType::Wep),
        labels: [("app".to_string(), name.to_string())].into(),
    }
}

fn flow(source: FlowEnd, dest: FlowEnd, end_time: i64) -> FlowLog {
    FlowLog {
        start_time: end_time - 10,
        end_time,
        source,
        dest,
        dest_service: None,
        proto: Protocol::Tcp,
        action: Action::Allow,
        reporter: Reporter::Dst,
        enforced_policies: Vec::new(),
        pending_policies: Vec::new(),
        bytes_in: 100,
        bytes_out: 100,
        packets_in: 1,
        packets_out: 1,
        num_flows: 1,
        num_flows_started: 1,
        num_flows_completed: 1,
        process_name: None,
        process_id: None,
        host: Some("node-1".into()),
    }
}

/// shop → vault, vault → ledger, ledger → shop.
fn flows() -> Vec<FlowLog> {
    let web = || end("shop", "web", "10.0.1.1");
    let vault = || end("vault", "vault-api", "10.0.2.1");
    let ledger = || end("ledger", "ledger-db", "10.0.3.1");
    vec![
        flow(web(), vault(), 1_000),
        flow(vault(), ledger(), 1_010),
        flow(ledger(), web(), 1_020),
    ]
}

struct Connected {
    addr: SocketAddr,
    fake: FakeApiServer,
    link: Arc<ClusterLink>,
    _dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
}

fn connect() -> Connected {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let audit = dir.path().join(flowlens_server::AUDIT_FILE);
    let fake = runtime.block_on(FakeApiServer::start());
    for ns in ["shop", "vault", "ledger"] {
        fake.apply(objects::namespace(ns, &[]));
    }
    fake.apply(objects::pod(
        "shop",
        "web",
        &[("app", "web")],
        &["10.0.1.1"],
    ));
    fake.apply(objects::pod(
        "vault",
        "vault-api",
        &[("app", "vault-api")],
        &["10.0.2.1"],
    ));
    fake.apply(objects::tier("security", 100.0));
    fake.apply(objects::calico_policy(
        "shop",
        "allow-web",
        "default",
        10.0,
        "app == 'web'",
        "all()",
    ));
    fake.apply(objects::calico_policy(
        "vault",
        "allow-vault",
        "default",
        10.0,
        "app == 'vault-api'",
        "all()",
    ));
    grant_roles(&fake);
    let cluster = {
        let _runtime = runtime.enter();
        fake.cluster()
    };
    let (addr, link) = runtime.block_on(async move {
        let store = EmbeddedStore::open(&data, EmbeddedOptions::default()).unwrap();
        store.append(flows()).await.unwrap();
        let store: Arc<dyn Store> = Arc::new(store);
        let state = AppState::new(store, Arc::new(Inventory::new()), Some(1_100));
        state.set_audit_log(&audit);
        let watch = cluster.watch(WatchOptions::default());
        let link =
            Arc::new(ClusterLink::new(watch, cluster.writer()).with_reviewer(cluster.reviewer()));
        let _ = link.check_access().await;
        state.connect_cluster(link.clone());
        let reviewer = link.reviewer().unwrap().clone();
        let options = ServerOptions {
            auth: AuthConfig {
                token: Some(Token::new(SERVER_TOKEN).unwrap()),
                kube: Some(Arc::new(KubeAuth::new(reviewer, state.clone()))),
                ..AuthConfig::default()
            },
            ..ServerOptions::default()
        };
        let router = flowlens_server::router(state, &options);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(flowlens_server::serve(
            listener,
            router,
            std::future::pending(),
        ));
        (addr, link)
    });
    let connected = Connected {
        addr,
        fake,
        link,
        _dir: dir,
        runtime,
    };
    connected.runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), connected.link.ready())
            .await
            .expect("the cluster's first listing")
    });
    connected
}

impl Connected {
    /// Status, head and body (JSON, or `null`).
    fn request(&self, method: &str, target: &str, auth: &str, body: &str) -> (u16, String, Value) {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut text = format!(
            "{method} {target} HTTP/1.1\r\nConnection: close\r\nHost: {}\r\n{auth}",
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
        (
            status,
            head.to_string(),
            serde_json::from_str(&body).unwrap_or(Value::Null),
        )
    }

    fn call(&self, method: &str, target: &str, token: &str, body: &str) -> (u16, Value) {
        let (status, _, body) = self.request(
            method,
            target,
            &format!("Authorization: Bearer {token}\r\n"),
            body,
        );
        (status, body)
    }

    fn get(&self, target: &str, token: &str) -> Value {
        let (status, body) = self.call("GET", target, token, "");
        assert_eq!(status, 200, "GET {target}: {body}");
        body
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

fn namespaces_of(flows: &Value) -> Vec<(String, String)> {
    flows["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["source_namespace"].as_str().unwrap_or("").to_string(),
                f["dest_namespace"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn calico_policy_yaml(tier: &str, name: &str, namespace: &str) -> String {
    format!(
        "apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  tier: {tier}
  selector: app == 'web'
  types: [Ingress]
  ingress: [{{action: Allow}}]
"
    )
}

#[test]
fn a_namespace_developer_sees_its_namespace_only_and_writes_its_tier_only() {
    let c = connect();
    let me = c.get("/api/me", SHOP_DEV);
    assert_eq!(me["name"], "dev@shop", "{me}");
    assert_eq!(me["auth"], "kubernetes", "{me}");
    assert_eq!(me["admin"], false, "{me}");
    assert_eq!(me["scope"]["namespaces"]["named"], json!({"shop": "write"}));
    assert_eq!(me["scope"]["tiers"]["named"], json!({"default": "write"}));

    // Flows: those with an end in shop, the other end hidden.
    let flows = c.get("/api/flows", SHOP_DEV);
    let mut seen = namespaces_of(&flows);
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("(hidden)".to_string(), "shop".to_string()),
            ("shop".to_string(), "(hidden)".to_string()),
        ],
        "{flows}"
    );
    let text = flows.to_string();
    assert!(
        !text.contains("vault") && !text.contains("ledger"),
        "{text}"
    );
    // The administrator (the server's token) sees all three.
    assert_eq!(namespaces_of(&c.get("/api/flows", SERVER_TOKEN)).len(), 3);
    // Policies: shop's, not vault's.
    let board = c.get("/api/policies", SHOP_DEV).to_string();
    assert!(board.contains("allow-web"), "{board}");
    assert!(!board.contains("allow-vault"), "{board}");
    let board = c.get("/api/policies", SERVER_TOKEN).to_string();
    assert!(board.contains("allow-vault"), "{board}");

    // A save in its namespace and tier is written to the cluster.
    let yaml = calico_policy_yaml("default", "web-guard", "shop");
    let (status, answer) = c.call(
        "PUT",
        "/api/policies",
        SHOP_DEV,
        &json!({ "yaml": yaml }).to_string(),
    );
    assert_eq!(status, 200, "{answer}");
    assert!(
        c.fake
            .get(
                "projectcalico.org/v3",
                "NetworkPolicy",
                Some("shop"),
                "web-guard"
            )
            .is_some()
    );
    let audit = c.get("/api/audit", SERVER_TOKEN);
    let users: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["user"].as_str())
        .collect();
    assert!(users.contains(&"dev@shop"), "{audit}");

    // Another tier, or another namespace: 403, and nothing reaches the cluster.
    let before = c.fake.requests().len();
    for (tier, ns, why) in [
        ("security", "shop", "tier \"security\""),
        ("default", "vault", "namespace \"vault\""),
    ] {
        let yaml = calico_policy_yaml(tier, &format!("{tier}.probe"), ns);
        let (status, answer) = c.call(
            "PUT",
            "/api/policies",
            SHOP_DEV,
            &json!({ "yaml": yaml }).to_string(),
        );
        assert_eq!(status, 403, "{tier} in {ns}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(why), "{answer}");
    }
    assert!(
        !c.fake.requests()[before..]
            .iter()
            .any(|r| r.method == "PATCH"),
        "a refused save wrote to the cluster"
    );
    // Admin-only routes stay closed.
    let (status, _) = c.call("GET", "/api/sources", SHOP_DEV, "");
    assert_eq!(status, 403);
}

#[test]
fn a_reader_may_not_save_and_rbac_decides_each_kind_exactly() {
    let c = connect();
    let me = c.get("/api/me", SHOP_VIEWER);
    assert_eq!(me["scope"]["namespaces"]["named"], json!({"shop": "read"}));
    assert_eq!(me["scope"]["tiers"]["named"], json!({"default": "read"}));
    let yaml = calico_policy_yaml("default", "web-guard", "shop");
    let (status, answer) = c.call(
        "PUT",
        "/api/policies",
        SHOP_VIEWER,
        &json!({ "yaml": yaml }).to_string(),
    );
    assert_eq!(status, 403, "{answer}");
    let (status, answer) = c.call(
        "DELETE",
        "/api/policy?id=np:shop/allow-web",
        SHOP_VIEWER,
        "",
    );
    assert_eq!(status, 403, "{answer}");

    // Namespaced policies everywhere, but RBAC grants no global ones: the scope lets a
    // global policy of the tier through (every namespace is writable), the exact check of
    // tier.globalnetworkpolicies does not.
    let me = c.get("/api/me", NAMESPACED_WRITER);
    assert_eq!(me["scope"]["namespaces"]["all"], "write", "{me}");
    let global = "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: default.everything}
spec:
  tier: default
  selector: all()
  types: [Ingress]
  ingress: [{action: Allow}]
";
    let (status, answer) = c.call(
        "PUT",
        "/api/policies",
        NAMESPACED_WRITER,
        &json!({ "yaml": global }).to_string(),
    );
    assert_eq!(status, 403, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.contains("tier.globalnetworkpolicies") && error.contains("writer@platform"),
        "{error}"
    );
    let yaml = calico_policy_yaml("default", "vault-guard", "vault");
    let (status, answer) = c.call(
        "PUT",
        "/api/policies",
        NAMESPACED_WRITER,
        &json!({ "yaml": yaml }).to_string(),
    );
    assert_eq!(status, 200, "{answer}");

    // cluster-admin is the administrator.
    let me = c.get("/api/me", CLUSTER_ADMIN);
    assert_eq!(me["admin"], true, "{me}");
    let (status, _) = c.call("GET", "/api/sources", CLUSTER_ADMIN, "");
    assert_eq!(status, 200);
}

#[test]
fn unknown_tokens_get_401_failed_reviews_503_and_answers_are_kept_a_while() {
    let c = connect();
    let (status, head, body) = c.request(
        "GET",
        "/api/flows",
        "Authorization: Bearer not-a-token-anyone-knows\r\n",
        "",
    );
    assert_eq!(status, 401, "{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: bearer")
    );
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("does not accept this bearer token"),
        "{body}"
    );

    // One review per token while it is kept. The developer's scope took: cluster-admin?,
    // list pods cluster-wide?, list pods in each of 3 namespaces, then in shop get, create
    // and patch for each tier of the inventory and for the default tier's Kubernetes
    // policies.
    let tiers = c.get("/api/policies", SERVER_TOKEN)["tiers"]
        .as_array()
        .unwrap()
        .len();
    c.get("/api/me", SHOP_DEV);
    let (token_reviews, access_reviews) = c.fake.review_counts();
    assert_eq!((token_reviews, access_reviews), (2, 2 + 3 + 3 * tiers + 3));
    for _ in 0..3 {
        c.get("/api/flows", SHOP_DEV);
    }
    assert_eq!(c.fake.review_counts(), (token_reviews, access_reviews));

    // The cluster cannot review: a new token gets 503, not the administrator, not 401.
    c.fake.fail_reviews(true);
    let (status, body) = c.call("GET", "/api/flows", SHOP_VIEWER, "");
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("try again"),
        "{body}"
    );
    let (status, _) = c.call("GET", "/api/me", SHOP_VIEWER, "");
    assert_eq!(status, 503);
    // The server's own token needs no review.
    let me = c.get("/api/me", SERVER_TOKEN);
    assert_eq!(me["admin"], true);
    c.fake.fail_reviews(false);
    assert_eq!(c.get("/api/me", SHOP_VIEWER)["name"], "viewer@shop");

    // A Kubernetes token logs the browser in like the server's: the cookie then stands for
    // the same user.
    let (status, head, _) = c.request(
        "POST",
        "/api/login",
        "",
        &json!({ "token": SHOP_DEV }).to_string(),
    );
    assert_eq!(status, 204, "{head}");
    assert!(head.contains("flowlens_session="), "{head}");
    let (status, _, me) = c.request(
        "GET",
        "/api/me",
        &format!("Cookie: flowlens_session={SHOP_DEV}\r\n"),
        "",
    );
    assert_eq!(status, 200);
    assert_eq!(me["name"], "dev@shop");
    let (status, _, _) = c.request(
        "POST",
        "/api/login",
        "",
        &json!({ "token": "not-a-token-anyone-knows" }).to_string(),
    );
    assert_eq!(status, 401);
}

/// The RBAC objects of `deploy/rbac-users.yaml`, bound in the fake as the file binds them.
fn grant_example_rbac(fake: &FakeApiServer) {
    let text = include_str!("../../../deploy/rbac-users.yaml");
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).unwrap();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let roles: Vec<&Value> = docs
        .iter()
        .filter(|d| matches!(d["kind"].as_str(), Some("Role" | "ClusterRole")))
        .collect();
    let mut bound = 0;
    for binding in docs.iter().filter(|d| {
        matches!(
            d["kind"].as_str(),
            Some("RoleBinding" | "ClusterRoleBinding")
        )
    }) {
        let namespace = binding["metadata"]["namespace"].as_str();
        let role = roles
            .iter()
            .find(|r| {
                r["kind"] == binding["roleRef"]["kind"]
                    && r["metadata"]["name"] == binding["roleRef"]["name"]
            })
            .expect("the bound role is in the file");
        for subject in binding["subjects"].as_array().unwrap() {
            for rule in role["rules"].as_array().unwrap() {
                fake.grant(
                    subject["name"].as_str().unwrap(),
                    Rule {
                        verbs: strings(&rule["verbs"]),
                        groups: strings(&rule["apiGroups"]),
                        resources: strings(&rule["resources"]),
                        names: strings(&rule["resourceNames"]),
                        namespace: namespace.map(str::to_string),
                    },
                );
            }
            bound += 1;
        }
    }
    assert_eq!(bound, 2, "two bindings in the example");
}

#[test]
fn the_example_rbac_gives_a_namespace_team_and_a_tier_owner_what_the_docs_say() {
    let c = connect();
    grant_example_rbac(&c.fake);
    c.fake.add_user("token-of-alice", "alice", &["shop-team"]);
    c.fake.add_user("token-of-sam", "sam", &["security-team"]);

    let alice = c.get("/api/me", "token-of-alice");
    assert_eq!(
        alice["scope"]["namespaces"],
        json!({"all": null, "named": {"shop": "write"}})
    );
    assert_eq!(
        alice["scope"]["tiers"]["named"],
        json!({"default": "write"})
    );
    let sam = c.get("/api/me", "token-of-sam");
    assert_eq!(sam["scope"]["namespaces"]["all"], "write", "{sam}");
    assert_eq!(sam["scope"]["tiers"]["named"], json!({"security": "write"}));

    // The tier's owner writes its global policies; the namespace team may not.
    let global = "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: security.quarantine}
spec:
  tier: security
  selector: quarantine == 'true'
  types: [Ingress, Egress]
";
    let body = json!({ "yaml": global }).to_string();
    let (status, answer) = c.call("PUT", "/api/policies", "token-of-alice", &body);
    assert_eq!(status, 403, "{answer}");
    let (status, answer) = c.call("PUT", "/api/policies", "token-of-sam", &body);
    assert_eq!(status, 200, "{answer}");
    assert!(
        c.fake
            .get(
                "projectcalico.org/v3",
                "GlobalNetworkPolicy",
                None,
                "security.quarantine"
            )
            .is_some()
    );
}
