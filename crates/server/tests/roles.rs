//! Scoped users against a real server: an administrator, a reader of one namespace, a
//! writer of one namespace and a writer of one tier. Every answer a scoped user gets is
//! checked for the names, addresses and labels of the namespaces it may not see.

use flowlens_model::{
    Action, EndpointType, FlowEnd, FlowLog, Inventory, PolicyHit, Protocol, Reporter,
};
use flowlens_server::{AppState, AuthConfig, LiveBatch, Roles, ServerOptions};
use flowlens_store::{EmbeddedOptions, EmbeddedStore, Store};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const ADMIN: &str = "admin-token-0123456789";
const SHOP_READER: &str = "shop-reader-token-0123456789";
const SHOP_WRITER: &str = "shop-writer-token-0123456789";
const SECURITY_WRITER: &str = "security-writer-token-0123456789";

const ROLES: &str = "
users:
  - name: root
    token: admin-token-0123456789
    role: admin
  - name: shop-reader
    token: shop-reader-token-0123456789
    tiers: {default: read}
    namespaces: {shop: read}
  - name: shop-writer
    token: shop-writer-token-0123456789
    tiers: {default: write}
    namespaces: {shop: write}
  - name: security-writer
    token: security-writer-token-0123456789
    tiers: {security: write}
    namespaces: {\"*\": write}
";

/// Words that only the namespaces `vault` and `ledger` hold: their names, their pods' names,
/// addresses and labels, and their policies.
const SECRETS: &[&str] = &[
    "vault",
    "ledger",
    "10.0.2.",
    "10.0.3.",
    "block-db",
    "security|",
];

const INVENTORY: &str = "
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: vault}
---
apiVersion: v1
kind: Namespace
metadata: {name: ledger}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {nodeName: node-1}
status: {podIP: 10.0.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: vault-api, namespace: vault, labels: {app: vault-api}}
spec: {nodeName: node-1}
status: {podIP: 10.0.2.1}
---
apiVersion: v1
kind: Pod
metadata: {name: ledger-db, namespace: ledger, labels: {app: ledger-db}}
spec: {nodeName: node-1}
status: {podIP: 10.0.3.1}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: allow-web, namespace: shop}
spec:
  tier: default
  selector: app == 'nothing'
  ingress: [{action: Allow}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: allow-vault-api, namespace: vault}
spec:
  tier: default
  selector: app == 'nothing'
  ingress: [{action: Allow}]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: security.block-db}
spec:
  tier: security
  selector: app == 'nothing'
  ingress: [{action: Pass}]
";

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

fn flow(source: FlowEnd, dest: FlowEnd, port: u16, hits: &[&str], end_time: i64) -> FlowLog {
    let mut dest = dest;
    dest.port = Some(port);
    FlowLog {
        start_time: end_time - 10,
        end_time,
        source,
        dest,
        dest_service: None,
        proto: Protocol::Tcp,
        action: Action::Allow,
        reporter: Reporter::Dst,
        enforced_policies: hits.iter().map(|h| PolicyHit::parse(h).unwrap()).collect(),
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

fn web() -> FlowEnd {
    end("shop", "web", "10.0.1.1")
}
fn vault() -> FlowEnd {
    end("vault", "vault-api", "10.0.2.1")
}
fn ledger() -> FlowEnd {
    end("ledger", "ledger-db", "10.0.3.1")
}

/// shop → vault (1), ledger → shop (2), vault → ledger (3): one flow each, every minute.
fn flows(end_time: i64) -> Vec<FlowLog> {
    vec![
        flow(
            web(),
            vault(),
            8080,
            &["0|default|np:vault/allow-vault-api|allow|0"],
            end_time,
        ),
        flow(
            ledger(),
            web(),
            80,
            &[
                "0|security|gnp:block-db|pass|-1",
                "1|default|np:shop/allow-web|allow|0",
            ],
            end_time,
        ),
        flow(vault(), ledger(), 5432, &[], end_time),
    ]
}

struct Server {
    addr: SocketAddr,
    state: AppState,
    dir: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let roles = Roles::parse(ROLES, Path::new(".")).unwrap();
        let options = ServerOptions {
            ui_dir: None,
            auth: AuthConfig {
                roles: Some(Arc::new(roles)),
                ..AuthConfig::default()
            },
            hosts: Default::default(),
            https: false,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let data = dir.path().join("data");
        let audit = dir.path().join(flowlens_server::AUDIT_FILE);
        let (addr, state) = runtime.block_on(async move {
            let store = EmbeddedStore::open(&data, EmbeddedOptions::default()).unwrap();
            for minute in 0..5 {
                store.append(flows(1_000 + minute * 60)).await.unwrap();
            }
            let store: Arc<dyn Store> = Arc::new(store);
            let loaded = flowlens_manifests::load_str(
                INVENTORY,
                "inventory.yaml",
                &flowlens_manifests::LoadOptions::default(),
            )
            .unwrap();
            let inventory: Inventory = loaded.inventory;
            let state = AppState::new(store, Arc::new(inventory), Some(1_300));
            state.set_audit_log(&audit);
            let router = flowlens_server::router(state.clone(), &options);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(flowlens_server::serve(
                listener,
                router,
                std::future::pending(),
            ));
            (addr, state)
        });
        Server {
            addr,
            state,
            dir,
            _runtime: runtime,
        }
    }

    /// Sends one request; status, head and body.
    fn request(
        &self,
        method: &str,
        target: &str,
        token: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String, String) {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut text = format!(
            "{method} {target} HTTP/1.1\r\nConnection: close\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n",
            self.addr
        );
        for (k, v) in headers {
            text.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() {
            text.push_str("Content-Type: application/json\r\n");
        }
        text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        stream.write_all(text.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            unchunk(body)
        } else {
            body.to_string()
        };
        (status, head.to_string(), body)
    }

    fn get(&self, target: &str, token: &str) -> (u16, String) {
        let (status, _, body) = self.request("GET", target, token, &[], "");
        (status, body)
    }

    fn json(&self, target: &str, token: &str) -> Value {
        let (status, body) = self.get(target, token);
        assert_eq!(status, 200, "GET {target}: {body}");
        serde_json::from_str(&body).unwrap()
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

fn assert_no_secrets(what: &str, body: &str) {
    for secret in SECRETS {
        assert!(
            !body.contains(secret),
            "{what} shows {secret:?} to the shop reader: {body}"
        );
    }
}

#[test]
fn a_namespace_reader_sees_only_flows_touching_its_namespace() {
    let server = Server::start();
    let admin = server.json("/api/flows?limit=1000", ADMIN);
    assert_eq!(admin["total"], 15);
    let page = server.json("/api/flows?limit=1000", SHOP_READER);
    assert_eq!(page["total"], 10, "{page}");
    let flows = page["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 10);
    for f in flows {
        let ends = (
            f["source_namespace"].as_str().unwrap(),
            f["dest_namespace"].as_str().unwrap(),
        );
        assert!(
            ends == ("shop", "(hidden)") || ends == ("(hidden)", "shop"),
            "{f}"
        );
        let hidden = if ends.0 == "shop" { "dest" } else { "source" };
        assert_eq!(f[format!("{hidden}_name_aggr")], "(hidden)", "{f}");
        assert!(f[format!("{hidden}_ip")].is_null(), "{f}");
        assert!(f[format!("{hidden}_name")] == "-", "{f}");
        assert!(f[format!("{hidden}_labels")].is_null(), "{f}");
    }
    assert_no_secrets("/api/flows", &page.to_string());

    // Pages of two parts merge in order, newest first, and end.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let target = match &token {
            None => "/api/flows?limit=3".to_string(),
            Some(t) => format!("/api/flows?limit=3&page_token={t}"),
        };
        let page = server.json(&target, SHOP_READER);
        assert_eq!(page["total"], 10);
        for f in page["flows"].as_array().unwrap() {
            seen.push((f["end_time"].as_i64().unwrap(), f["id"].as_u64().unwrap()));
        }
        match page["next_page_token"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 10, "{seen:?}");
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted);
    sorted.dedup();
    assert_eq!(sorted.len(), 10);

    // A filter on the hidden end's labels finds nothing: its answer would name them.
    let probe = server.json(
        "/api/flows?filter=dest_labels%3Dapp%3Dvault-api",
        SHOP_READER,
    );
    assert_eq!(probe["total"], 0, "{probe}");
    let probe = server.json("/api/flows?filter=dest_labels%3Dapp%3Dvault-api", ADMIN);
    assert_eq!(probe["total"], 5, "{probe}");

    // Policy traces keep only the hits of readable policies.
    let from_ledger = flows
        .iter()
        .find(|f| f["dest_namespace"] == "shop")
        .unwrap();
    assert_eq!(
        from_ledger["policies"]["enforced_policies"],
        json!(["1|default|np:shop/allow-web|allow|0"])
    );
}

#[test]
fn aggregates_graph_exports_and_the_board_hold_only_what_the_reader_may_see() {
    let server = Server::start();
    let rows = server.json("/api/aggregates?group_by=namespace_pair", SHOP_READER);
    let rows = rows["rows"].as_array().unwrap();
    let pairs: Vec<(String, String, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["key"]["source_namespace"].as_str().unwrap().to_string(),
                r["key"]["dest_namespace"].as_str().unwrap().to_string(),
                r["num_flows"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("(hidden)".into(), "shop".into(), 5),
            ("shop".into(), "(hidden)".into(), 5)
        ]
    );
    let totals = server.json("/api/flows?include=connections", SHOP_READER);
    assert_eq!(totals["total_connections"], 10);

    for target in [
        "/api/aggregates?group_by=edge",
        "/api/aggregates?group_by=service_edge",
        "/api/aggregates?group_by=policy",
        "/api/aggregates?group_by=policy_rule",
        "/api/graph",
        "/api/graph?expand=*",
        "/api/flows/export?format=csv",
        "/api/flows/export?format=json",
        "/api/policies",
        "/api/policies/export",
        "/api/inventory",
        "/api/labels",
        "/api/audit",
    ] {
        let (status, body) = server.get(target, SHOP_READER);
        assert_eq!(status, 200, "{target}: {body}");
        assert_no_secrets(target, &body);
        // The administrator's answers do hold them (so the check above can fail).
        if !target.contains("audit") && !target.contains("group_by=policy") {
            let (_, all) = server.get(target, ADMIN);
            assert!(
                SECRETS.iter().any(|s| all.contains(s)),
                "{target} for the admin: {all}"
            );
        }
    }
    let csv = server.get("/api/flows/export?format=csv", SHOP_READER).1;
    assert_eq!(csv.lines().count(), 11, "{csv}");

    // The graph has the shop's workload and one hidden node per side.
    let graph = server.json("/api/graph?expand=*", SHOP_READER);
    let total: u64 = graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["num_flows"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 10, "{graph}");

    // The board: the default tier with the shop's policy only, counted over visible flows.
    let board = server.json("/api/policies", SHOP_READER);
    let tiers: Vec<&str> = board["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tiers, vec!["default"]);
    let policies = board["tiers"][0]["policies"].as_array().unwrap();
    assert_eq!(policies.len(), 1, "{board}");
    assert_eq!(policies[0]["id"], "np:shop/allow-web");
    let (status, _) = server.get("/api/policy?id=np:vault/allow-vault-api", SHOP_READER);
    assert_eq!(status, 404);
    let (status, _) = server.get("/api/policy?id=np:vault/allow-vault-api", ADMIN);
    assert_eq!(status, 200);
    let (status, body) = server.get("/api/flows?policy=security", SHOP_READER);
    assert_eq!(status, 403, "{body}");
}

#[test]
fn admin_only_routes_refuse_scoped_users() {
    let server = Server::start();
    for target in [
        "/api/sources",
        "/metrics",
        "/api/explain?source=10.0.1.1&dest=10.0.2.1&port=80",
        "/api/recommendations",
        "/api/policy-audit",
    ] {
        let (status, body) = server.get(target, SHOP_READER);
        assert_eq!(status, 403, "{target}: {body}");
        assert!(body.contains("administrators"), "{body}");
        let (status, body) = server.get(target, ADMIN);
        assert_eq!(status, 200, "{target}: {body}");
    }
    for target in ["/api/scenario/steps/x", "/api/recommendations/apply"] {
        let (status, _, body) = server.request("POST", target, SHOP_READER, &[], "");
        assert_eq!(status, 403, "{target}: {body}");
    }
}

#[test]
fn the_live_stream_sends_only_visible_flows_masked() {
    let server = Server::start();
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET /api/flows/live HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {SHOP_READER}\r\n\r\n",
        server.addr
    )
    .unwrap();
    let mut text = String::new();
    let mut chunk = [0u8; 8192];
    while !text.contains("text/event-stream") || !text.contains("\r\n\r\n") {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "{text}");
        text.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
    // The subscription exists once the head is sent.
    server.state.publish(LiveBatch {
        first_record_id: Some(1_000),
        logs: flows(2_000),
    });
    while !text.contains("event: flows")
        || !text[text.find("event: flows").unwrap()..].contains("\n\n")
    {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "{text}");
        text.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
    let event = &text[text.find("event: flows").unwrap()..];
    let data = event
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap();
    let data: Value = serde_json::from_str(data).unwrap();
    let flows = data["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 2, "{data}");
    assert_no_secrets("/api/flows/live", &data.to_string());
}

#[test]
fn writes_need_write_access_to_the_tier_and_namespace() {
    let server = Server::start();
    let shop_policy = "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: deny-all, namespace: shop}\nspec:\n  tier: default\n  selector: all()\n  types: [Ingress]\n";
    let vault_policy = shop_policy.replace("namespace: shop", "namespace: vault");
    let global = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: security.log-all}\nspec:\n  tier: security\n  selector: all()\n  types: [Ingress]\n";
    let put = |token: &str, yaml: &str| {
        let (status, _, body) = server.request(
            "PUT",
            "/api/policies",
            token,
            &[],
            &json!({ "yaml": yaml }).to_string(),
        );
        (status, body)
    };
    let (status, body) = put(SHOP_READER, shop_policy);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("tier \\\"default\\\""), "{body}");
    let (status, body) = put(SHOP_WRITER, &vault_policy);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("namespace \\\"vault\\\""), "{body}");
    let (status, body) = put(SECURITY_WRITER, shop_policy);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("tier \\\"default\\\""), "{body}");
    let (status, body) = put(SHOP_WRITER, global);
    assert_eq!(status, 403, "{body}");
    let (status, body) = put(SECURITY_WRITER, global);
    assert_eq!(status, 200, "{body}");
    let (status, body) = put(SHOP_WRITER, shop_policy);
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = server.request(
        "DELETE",
        "/api/policy?id=np:vault/allow-vault-api",
        SHOP_WRITER,
        &[],
        "",
    );
    assert_eq!(
        status, 404,
        "a policy it cannot read is not there for it: {body}"
    );
    let (status, _, body) = server.request(
        "DELETE",
        "/api/policy?id=np:shop/allow-web",
        SHOP_READER,
        &[],
        "",
    );
    assert_eq!(status, 403, "{body}");

    // The preview: refused outside the writable scope, over visible flows only within it.
    let preview = |token: &str, yaml: &str| {
        server.request(
            "POST",
            "/api/policies/preview",
            token,
            &[],
            &json!({ "yaml": yaml }).to_string(),
        )
    };
    let (status, _, body) = preview(SHOP_WRITER, &vault_policy);
    assert_eq!(status, 403, "{body}");
    let (status, _, body) = preview(SHOP_WRITER, &shop_policy.replace("deny-all", "deny-more"));
    assert_eq!(status, 200, "{body}");
    assert_no_secrets("/api/policies/preview", &body);
    let scoped: Value = serde_json::from_str(&body).unwrap();
    let (_, _, body) = preview(ADMIN, &shop_policy.replace("deny-all", "deny-more"));
    let all: Value = serde_json::from_str(&body).unwrap();
    assert!(
        scoped["flow_logs"].as_u64() < all["flow_logs"].as_u64(),
        "{scoped} vs {all}"
    );
}

#[test]
fn stale_edits_get_409_and_every_change_is_audited() {
    let server = Server::start();
    let current = server.json("/api/policy?id=np:shop/allow-web", SHOP_WRITER);
    let version = current["version"].as_str().unwrap().to_string();
    let yaml = current["yaml"]
        .as_str()
        .unwrap()
        .replace("'nothing'", "'web'");
    let save = |body: Value, headers: &[(&str, &str)]| {
        let (status, _, body) = server.request(
            "PUT",
            "/api/policies",
            SHOP_WRITER,
            headers,
            &body.to_string(),
        );
        (status, serde_json::from_str::<Value>(&body).unwrap())
    };
    let (status, saved) = save(json!({ "yaml": yaml, "version": version }), &[]);
    assert_eq!(status, 200, "{saved}");
    let new_version = saved["version"].as_str().unwrap().to_string();
    assert_ne!(new_version, version);
    // A second edit based on the first version is stale.
    let (status, conflict) = save(
        json!({ "yaml": yaml.replace("'web'", "'web2'") }),
        &[("If-Match", &format!("\"{version}\""))],
    );
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(conflict["current"]["version"], new_version.as_str());
    assert!(
        conflict["current"]["yaml"]
            .as_str()
            .unwrap()
            .contains("'web'")
            || conflict["current"]["yaml"]
                .as_str()
                .unwrap()
                .contains("web")
    );
    let (status, _, body) = server.request(
        "DELETE",
        &format!("/api/policy?id=np:shop/allow-web&version={version}"),
        SHOP_WRITER,
        &[],
        "",
    );
    assert_eq!(status, 409, "{body}");
    let (status, _, body) = server.request(
        "DELETE",
        &format!("/api/policy?id=np:shop/allow-web&version={new_version}"),
        SHOP_WRITER,
        &[],
        "",
    );
    assert_eq!(status, 200, "{body}");
    let global = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: security.log-all}\nspec:\n  tier: security\n  selector: all()\n  types: [Ingress]\n";
    let (status, _, body) = server.request(
        "PUT",
        "/api/policies",
        SECURITY_WRITER,
        &[],
        &json!({ "yaml": global }).to_string(),
    );
    assert_eq!(status, 200, "{body}");

    // The file: three changes, who and what.
    let entries = audit_entries(&server);
    let summary: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["user"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["policy"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("shop-writer", "save", "np:shop/allow-web"),
            ("shop-writer", "delete", "np:shop/allow-web"),
            ("security-writer", "save", "gnp:security.log-all"),
        ]
    );
    assert!(entries[0]["before"].as_str().unwrap().contains("nothing"));
    assert!(entries[0]["after"].as_str().unwrap().contains("web"));
    assert!(entries[1]["after"].is_null());
    // Through the API, scoped like the policies.
    let shop = server.json("/api/audit", SHOP_READER);
    assert_eq!(shop["entries"].as_array().unwrap().len(), 2, "{shop}");
    let all = server.json("/api/audit", ADMIN);
    assert_eq!(all["entries"].as_array().unwrap().len(), 3);
    let one = server.json("/api/audit?id=gnp:security.log-all", ADMIN);
    assert_eq!(one["entries"].as_array().unwrap().len(), 1);
}

#[test]
fn a_users_token_logs_the_browser_in_as_that_user() {
    let server = Server::start();
    let (status, head, _) = server.request(
        "POST",
        "/api/login",
        "none",
        &[],
        &json!({ "token": SHOP_READER }).to_string(),
    );
    assert_eq!(status, 204);
    let cookie = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let (status, _, body) = server.request("GET", "/api/flows", "none", &[("Cookie", &cookie)], "");
    assert_eq!(status, 200);
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["total"], 10);
    let (status, _, _) = server.request(
        "POST",
        "/api/login",
        "none",
        &[],
        &json!({ "token": "not-a-token-of-anyone" }).to_string(),
    );
    assert_eq!(status, 401);
}

#[test]
fn applying_a_recommendation_creates_its_tier_and_audits_both() {
    let server = Server::start();
    let yaml = "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: namespace-isolation.shop-ingress, namespace: shop}\nspec:\n  tier: namespace-isolation\n  selector: all()\n  types: [Ingress]\n";
    let body = json!({ "yaml": yaml }).to_string();
    let (status, _, answer) =
        server.request("POST", "/api/recommendations/apply", ADMIN, &[], &body);
    assert_eq!(status, 200, "{answer}");
    let tiers = server.json("/api/policies", ADMIN).to_string();
    assert!(tiers.contains("namespace-isolation"), "{tiers}");
    let entries = audit_entries(&server);
    let actions: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["tier"].as_str().unwrap(),
                e["policy"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            ("add-tier", "namespace-isolation", ""),
            (
                "save",
                "namespace-isolation",
                "snp:shop/namespace-isolation.shop-ingress"
            ),
        ]
    );
    assert!(
        entries[0]["after"].as_str().unwrap().contains("kind: Tier"),
        "{}",
        entries[0]
    );
}

/// The audit log's entries, oldest first.
fn audit_entries(server: &Server) -> Vec<Value> {
    let text =
        std::fs::read_to_string(server.dir.path().join(flowlens_server::AUDIT_FILE)).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn without_a_cluster_a_policy_has_no_watched_revisions() {
    let server = Server::start();
    let answer = server.json("/api/policy-revisions?id=np:shop/allow-web", SHOP_READER);
    assert_eq!(answer, json!({ "watched": false, "revisions": [] }));
    let (status, _, body) = server.request("GET", "/api/policy-revisions", ADMIN, &[], "");
    assert_eq!(status, 400, "{body}");
}
