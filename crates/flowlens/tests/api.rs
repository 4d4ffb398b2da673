//! The server's API end to end over real data: the storefront scenario's traffic (with the
//! rogue pod) generated, attributed by the engine and stored, then asked for through the
//! router. Here rather than in the server's crate, which does not depend on the simulator.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use flowlens_pipeline::{AggregationConfig, Ingest};
use flowlens_policy::Engine;
use flowlens_server::{AppState, ServerOptions};
use flowlens_sim::{Generator, Scenario};
use flowlens_store::{EmbeddedOptions, EmbeddedStore, Store};
use http_body_util::BodyExt;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

const START: i64 = 1_763_700_000;
const MINUTES: i64 = 10;

struct Fixture {
    app: Router,
    state: AppState,
    _dir: tempfile::TempDir,
}

/// Ten minutes of storefront traffic with the rogue step applied, through the pipeline.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap());
    let mut scenario = Scenario::builtin("storefront").unwrap();
    scenario.apply_step("rogue").unwrap();
    let inventory = scenario.inventory().clone();
    let engine = Arc::new(Engine::new(inventory.clone()));
    let mut ingest = Ingest::new(engine, AggregationConfig::default());
    let mut generator = Generator::new(&scenario, 7, START);
    for minute in 1..=MINUTES {
        for raw in generator.advance(60.0) {
            ingest.raw("test", 0, &raw);
        }
        let logs = ingest.flush_until(START + minute * 60);
        store.append(logs).await.unwrap();
    }
    store.append(ingest.finish()).await.unwrap();
    let newest = store.time_bounds().await.unwrap().map(|(_, max)| max);
    let state = AppState::new(store, inventory, newest);
    let app = flowlens_server::router(state.clone(), &ServerOptions::default());
    Fixture {
        app,
        state,
        _dir: dir,
    }
}

async fn call(app: &Router, method: &str, uri: &str, body: Option<String>) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "localhost");
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req.body(body.map_or(Body::empty(), Body::from)).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value)
}

async fn get(app: &Router, uri: &str) -> (StatusCode, Value) {
    call(app, "GET", uri, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_flows_and_errors() {
    let f = fixture().await;
    let (status, health) = get(&f.app, "/api/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "ok");
    assert!(health["store"]["records"].as_u64().unwrap() > 0);

    let (status, page) = get(&f.app, "/api/flows?filter=action%3Ddeny&limit=5").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let flows = page["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 5);
    assert!(page["total"].as_u64().unwrap() >= 5);
    for flow in flows {
        assert_eq!(flow["action"], "deny");
        assert!(
            flow["source_name_aggr"]
                .as_str()
                .unwrap()
                .starts_with("rogue-"),
            "only the rogue pod is denied: {flow}"
        );
        assert!(flow["id"].is_u64());
    }
    // Newest first, and the next page continues where the first ends.
    let end_times = |flows: &[Value]| -> Vec<i64> {
        flows
            .iter()
            .map(|f| f["end_time"].as_i64().unwrap())
            .collect()
    };
    let first_ends = end_times(flows);
    assert!(
        first_ends.windows(2).all(|w| w[0] >= w[1]),
        "{first_ends:?}"
    );
    let token = page["next_page_token"].as_str().unwrap();
    let (_, next) = get(
        &f.app,
        &format!("/api/flows?filter=action%3Ddeny&limit=5&page_token={token}"),
    )
    .await;
    let next_flows = next["flows"].as_array().unwrap();
    assert!(!next_flows.is_empty());
    let next_ends = end_times(next_flows);
    assert!(next_ends.windows(2).all(|w| w[0] >= w[1]), "{next_ends:?}");
    assert!(next_ends[0] <= first_ends[first_ends.len() - 1]);
    let first_ids: Vec<_> = flows.iter().map(|f| f["id"].clone()).collect();
    assert!(next_flows.iter().all(|f| !first_ids.contains(&f["id"])));

    let (status, csv) = get(&f.app, "/api/flows/export?format=csv&filter=action%3Ddeny").await;
    assert_eq!(status, StatusCode::OK);
    let csv = csv.as_str().unwrap();
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("id,start_time,end_time,source_ip")
    );
    assert_eq!(
        lines.count() as u64,
        page["total"].as_u64().unwrap(),
        "one line per flow"
    );
    assert!(csv.contains(",deny,"));

    let (status, err) = get(&f.app, "/api/flows?filter=nonsense%3Dx").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        err["error"].as_str().unwrap().contains("unknown field"),
        "{err}"
    );
    let (status, err) = get(&f.app, "/api/flows?source_selector=app%20%3D%3D").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .starts_with("source_selector"),
        "{err}"
    );
    let (status, err) = get(&f.app, "/api/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(err["error"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_shows_the_rogue_pod_denied_with_its_policy() {
    let f = fixture().await;
    let (status, graph) = get(&f.app, "/api/graph?expand=storefront").await;
    assert_eq!(status, StatusCode::OK, "{graph}");
    let edges = graph["edges"].as_array().unwrap();
    let rogue: Vec<&Value> = edges
        .iter()
        .filter(|e| {
            e["source"]
                .as_str()
                .unwrap()
                .starts_with("wl:storefront/rogue-")
        })
        .collect();
    assert!(!rogue.is_empty(), "{graph}");
    // Probes at the storefront services are denied at ingress: counted once (the
    // destination's record), the edges are red, not mixed.
    let denied: Vec<&&Value> = rogue.iter().filter(|e| e["status"] == "denied").collect();
    assert!(!denied.is_empty(), "{rogue:?}");
    for edge in &rogue {
        assert_ne!(edge["status"], "mixed", "{edge}");
    }
    for edge in &denied {
        assert!(edge["num_flows"].as_u64().unwrap() > 0, "{edge}");
        assert_eq!(edge["denied_flows"], edge["num_flows"], "{edge}");
    }
    let edge = denied[0];
    let uri = format!(
        "/api/graph/edge?expand=storefront&source={}&target={}",
        edge["source"].as_str().unwrap(),
        urlencode(edge["target"].as_str().unwrap())
    );
    let (status, detail) = get(&f.app, &uri).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    let deny = detail["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["action"] == "deny")
        .unwrap_or_else(|| panic!("no denying policy in {detail}"));
    assert!(
        deny["trace"]["text"]
            .as_str()
            .unwrap()
            .contains("Verdict: DENY"),
        "{deny}"
    );
    assert!(!detail["flows"].as_array().unwrap().is_empty());

    // Collapsed, the whole storefront namespace is one node.
    let (_, collapsed) = get(&f.app, "/api/graph").await;
    assert!(
        collapsed["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["id"] == "ns:storefront")
    );
}

fn urlencode(s: &str) -> String {
    s.replace('/', "%2F").replace('*', "%2A")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_count_connections_once() {
    let f = fixture().await;
    let (_, once) = get(&f.app, "/api/aggregates?group_by=action").await;
    let (_, all) = get(&f.app, "/api/aggregates?group_by=action&count=records").await;
    let total = |v: &Value| -> u64 {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["num_flows"].as_u64().unwrap())
            .sum()
    };
    assert!(total(&once) < total(&all), "{once} vs {all}");
    let (status, _) = get(&f.app, "/api/aggregates?group_by=bogus").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_board_preview_and_save() {
    let f = fixture().await;
    let (status, board) = get(&f.app, "/api/policies").await;
    assert_eq!(status, StatusCode::OK, "{board}");
    let tiers: Vec<&str> = board["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let pos = |t: &str| tiers.iter().position(|x| *x == t).unwrap();
    assert!(
        pos("security") < pos("platform") && pos("platform") < pos("default"),
        "{tiers:?}"
    );
    let denying: Vec<&Value> = board["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["policies"].as_array().unwrap())
        .filter(|p| p["metrics"]["denied"].as_u64().unwrap() > 0)
        .collect();
    assert!(!denying.is_empty(), "some policy denies the rogue pod");
    let id = denying[0]["id"].as_str().unwrap();
    let (status, detail) = get(&f.app, &format!("/api/policy?id={}", urlencode(id))).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert!(
        detail["yaml"].as_str().unwrap().contains("kind:"),
        "{detail}"
    );
    let (status, yaml) = get(&f.app, "/api/policies/export?tier=default").await;
    assert_eq!(status, StatusCode::OK);
    let yaml = yaml.as_str().unwrap();
    assert!(
        yaml.contains("name: trusted") && yaml.contains("---"),
        "{yaml}"
    );
    let (status, _) = get(&f.app, "/api/policies/export?tier=nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A policy that allows everything into the storefront, ahead of the others: the
    // rogue's denied flows would turn allowed.
    let yaml = r#"
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: allow-everything
spec:
  tier: security
  order: 1
  selector: all()
  types: [Ingress]
  ingress:
    - action: Allow
"#;
    let body = serde_json::json!({ "yaml": yaml }).to_string();
    let (status, preview) = call(&f.app, "POST", "/api/policies/preview", Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert!(
        preview["summary"]["deny_to_allow"].as_u64().unwrap() > 0,
        "{preview}"
    );

    let bad = serde_json::json!({ "yaml": "kind: GlobalNetworkPolicy\nmetadata: {name: x}\nspec:\n  selector: app ==\n" }).to_string();
    let (status, err) = call(&f.app, "POST", "/api/policies/preview", Some(bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(err["details"][0]["line"].is_u64(), "{err}");

    let revision = f.state.world().revision;
    let (status, saved) = call(&f.app, "PUT", "/api/policies", Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["id"], "gnp:allow-everything");
    assert_eq!(f.state.world().revision, revision + 1);
    let (status, _) = call(
        &f.app,
        "DELETE",
        "/api/policy?id=gnp:allow-everything",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &f.app,
        "DELETE",
        "/api/policy?id=gnp:allow-everything",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_and_inventory() {
    let f = fixture().await;
    let (status, e) = get(
        &f.app,
        "/api/explain?source=storefront%2Frogue&dest=storefront%2Fmicroservice1&port=80",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{e}");
    assert!(e["text"].as_str().unwrap().contains("Verdict: DENY"), "{e}");
    let (status, e) = get(
        &f.app,
        "/api/explain?source=nowhere%2Fx&dest=storefront%2Fbackend&port=80",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(e["error"].as_str().unwrap().contains("nowhere"), "{e}");
    let (_, inv) = get(&f.app, "/api/inventory").await;
    assert!(
        inv["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["name"] == "storefront")
    );
    let (_, labels) = get(&f.app, "/api/labels").await;
    assert!(labels["keys"]["app"].as_array().unwrap().len() > 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_stream_delivers_matching_flows() {
    let f = fixture().await;
    let req = Request::builder()
        .uri("/api/flows/live?filter=action%3Ddeny")
        .header("host", "localhost")
        .body(Body::empty())
        .unwrap();
    let resp = f.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    // Publish one allowed and one denied flow: only the denied one comes through.
    let (_, page) = get(&f.app, "/api/flows?limit=200&count=records").await;
    let _ = page;
    let store = f.state.store().clone();
    let q = flowlens_store::FlowSearch::new(flowlens_store::TimeRange::all()).limit(500);
    let logs = store.query_flows(&q).await.unwrap().flows;
    let allowed = logs
        .iter()
        .find(|l| l.action == flowlens_model::Action::Allow)
        .unwrap()
        .clone();
    let denied = logs
        .iter()
        .find(|l| l.action == flowlens_model::Action::Deny)
        .unwrap()
        .clone();
    f.state.publish(flowlens_server::LiveBatch {
        first_record_id: Some(1000),
        logs: vec![allowed, denied],
    });
    let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame())
        .await
        .expect("an event within 5 s")
        .unwrap()
        .unwrap();
    let text = String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap();
    assert!(text.starts_with("event: flows"), "{text}");
    let data: Value =
        serde_json::from_str(text.lines().nth(1).unwrap().trim_start_matches("data: ")).unwrap();
    let flows = data["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0]["action"], "deny");
    assert_eq!(
        flows[0]["id"], 1001,
        "ids follow the batch's first record id"
    );
    // Shutting down ends the stream.
    f.state.shut_down();
    let end = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while let Some(frame) = body.frame().await {
            if frame.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the stream ends on shutdown");
}

fn sum_num_flows(rows: &Value) -> u64 {
    rows["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["num_flows"].as_u64().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_totals_count_each_connection_once_however_it_is_drawn() {
    let f = fixture().await;
    let (_, actions) = get(&f.app, "/api/aggregates?group_by=action").await;
    let connections = sum_num_flows(&actions);
    let denied: u64 = actions["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["key"]["action"] == "deny")
        .map(|r| r["num_flows"].as_u64().unwrap())
        .sum();
    assert!(denied > 0);
    for uri in [
        "/api/graph",
        "/api/graph?expand=storefront",
        "/api/graph?expand=*",
    ] {
        let (status, graph) = get(&f.app, uri).await;
        assert_eq!(status, StatusCode::OK, "{graph}");
        let totals = &graph["totals"];
        assert_eq!(totals["num_flows"], connections, "{uri}");
        assert_eq!(totals["denied_flows"], denied, "{uri}");
        // The edges that are not Service → backend hops add up to the same.
        let edges = graph["edges"].as_array().unwrap();
        let drawn: u64 = edges
            .iter()
            .filter(|e| e["backend_hop"] == false)
            .map(|e| e["num_flows"].as_u64().unwrap())
            .sum();
        assert_eq!(drawn, connections, "{uri}");
    }
    let (_, expanded) = get(&f.app, "/api/graph?expand=storefront").await;
    assert!(
        expanded["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["backend_hop"] == true),
        "an expanded storefront routes flows through its Services"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_pages_count_connections_in_the_boards_unit() {
    let f = fixture().await;
    let (_, page) = get(&f.app, "/api/flows?limit=1").await;
    assert!(page.get("total_connections").is_none(), "only when asked");
    let (_, page) = get(&f.app, "/api/flows?limit=1&include=connections").await;
    let (_, actions) = get(&f.app, "/api/aggregates?group_by=action").await;
    assert_eq!(page["total_connections"], sum_num_flows(&actions));

    // A denying policy's figure on the board is the connections of the flow logs its link lists.
    let (_, board) = get(&f.app, "/api/policies").await;
    let policy = board["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["policies"].as_array().unwrap())
        .find(|p| p["metrics"]["denied"].as_u64().unwrap() > 0)
        .unwrap();
    let uri = format!(
        "/api/flows?limit=1&include=connections&policy={}/{}&policy_action=deny",
        policy["tier"].as_str().unwrap(),
        urlencode(policy["id"].as_str().unwrap())
    );
    let (status, page) = get(&f.app, &uri).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        page["total_connections"], policy["metrics"]["denied"],
        "{page}"
    );
    assert!(page["total"].as_u64().unwrap() < page["total_connections"].as_u64().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_filters_name_what_was_meant() {
    let f = fixture().await;
    let (status, err) = get(&f.app, "/api/flows?filter=action%3Ddenied").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("did you mean deny?"),
        "{err}"
    );
    let (status, err) = get(&f.app, "/api/graph?filter=dest_prot%3D80").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("did you mean dest_port?"),
        "{err}"
    );
    let (status, err) = get(&f.app, "/api/flows?from=1763700600&to=1763700000").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("2025-11-21T04:50:00Z"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_answers_drafts_with_problems_without_failing() {
    let f = fixture().await;
    let post = |body: &str| {
        let req = Request::builder()
            .method("POST")
            .uri("/api/policies/validate")
            .header("host", "localhost")
            .header("content-type", "text/yaml")
            .body(Body::from(body.to_string()))
            .unwrap();
        let app = f.app.clone();
        async move {
            let resp = app.oneshot(req).await.unwrap();
            let status = resp.status();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    let (status, answer) =
        post("kind: GlobalNetworkPolicy\nmetadata: {name: x}\nspec:\n  selector: app ==\n").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["valid"], false);
    assert!(answer["details"][0]["line"].is_u64(), "{answer}");
    let (status, answer) = post(
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: x}\nspec:\n  selector: all()\n",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["valid"], true);
    assert_eq!(answer["id"], "gnp:x");
}

/// The rows of a SQL query over the fixture's store, every cell as text.
async fn sql_cells(state: &AppState, query: &str) -> Vec<Vec<String>> {
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    let batches = state.store().sql(query).await.unwrap();
    let mut rows = Vec::new();
    for batch in &batches {
        let formatters: Vec<ArrayFormatter> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &FormatOptions::default()).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect(),
            );
        }
    }
    rows
}

/// The Policy Board's counts as the test derives them from SQL, by `tier|kind:[ns/]name`:
/// connections, allowed, denied, passed, then the same for the pending trace.
type Counts = [u64; 8];

#[derive(Default)]
struct Expected {
    policies: std::collections::BTreeMap<String, Counts>,
    /// By (policy, direction, rule index).
    rules: std::collections::BTreeMap<(String, &'static str, i32), Counts>,
}

async fn expected_board(state: &AppState) -> Expected {
    let mut want = Expected::default();
    for (column, offset) in [("policies_enforced", 0), ("policies_pending", 4)] {
        let rows = sql_cells(
            state,
            &format!(
                "SELECT reporter, hit, CAST(sum(num_flows) AS BIGINT) FROM \
                 (SELECT reporter, num_flows, unnest({column}) AS hit FROM flows) \
                 GROUP BY reporter, hit"
            ),
        )
        .await;
        assert!(!rows.is_empty(), "{column}");
        for row in rows {
            let [reporter, hit, n] = &row[..] else {
                panic!("{row:?}")
            };
            let n: u64 = n.parse().unwrap();
            let parts: Vec<&str> = hit.split('|').collect();
            let [_, tier, policy, action, rule] = parts[..] else {
                panic!("{hit}")
            };
            if tier == "__PROFILE__" {
                continue;
            }
            // Egress rules are evaluated at the source, so their hits are in the source's
            // records; ingress hits in the destination's.
            let direction = match reporter.as_str() {
                "src" => "egress",
                "dst" => "ingress",
                other => panic!("reporter {other}"),
            };
            let slot = offset
                + match action {
                    "allow" => 1,
                    "deny" => 2,
                    "pass" => 3,
                    other => panic!("action {other}"),
                };
            let key = format!("{tier}|{policy}");
            for counts in [
                want.policies.entry(key.clone()).or_default(),
                want.rules
                    .entry((key, direction, rule.parse().unwrap()))
                    .or_default(),
            ] {
                counts[offset] += n;
                counts[slot] += n;
            }
        }
    }
    want
}

fn counts_of(metrics: &Value) -> Counts {
    [
        "connections",
        "allowed",
        "denied",
        "passed",
        "pending_connections",
        "pending_allowed",
        "pending_denied",
        "pending_passed",
    ]
    .map(|k| {
        metrics[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {metrics}"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_board_numbers_are_the_stored_hits_exactly() {
    let f = fixture().await;
    let want = expected_board(&f.state).await;
    let (status, board) = get(&f.app, "/api/policies").await;
    assert_eq!(status, StatusCode::OK, "{board}");
    let cards: Vec<&Value> = board["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["policies"].as_array().unwrap())
        .collect();
    let key = |card: &Value| {
        let name = match card["namespace"].as_str() {
            Some(ns) => format!("{ns}/{}", card["name"].as_str().unwrap()),
            None => card["name"].as_str().unwrap().to_string(),
        };
        format!(
            "{}|{}:{name}",
            card["tier"].as_str().unwrap(),
            card["kind"].as_str().unwrap()
        )
    };
    // Every policy with hits has its card, and every card shows its hits exactly.
    let keys: Vec<String> = cards.iter().map(|c| key(c)).collect();
    for hit in want.policies.keys() {
        assert!(keys.contains(hit), "{hit} has hits but no card");
    }
    let mut denying = 0;
    let mut with_hits = 0;
    for card in &cards {
        let k = key(card);
        let expected = want.policies.get(&k).copied().unwrap_or_default();
        assert_eq!(counts_of(&card["metrics"]), expected, "{k}");
        denying += usize::from(expected[2] > 0);
        with_hits += usize::from(expected[0] > 0);
        // Unused rules: those of each direction no flow log names.
        for direction in ["ingress", "egress"] {
            let rules = card[format!("{direction}_rules")].as_u64().unwrap() as i32;
            let unused: Vec<i32> = (0..rules)
                .filter(|&i| !want.rules.contains_key(&(k.clone(), direction, i)))
                .collect();
            let shown: Vec<i32> = card["unused_rules"][direction]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_i64().unwrap() as i32)
                .collect();
            assert_eq!(shown, unused, "{k} {direction}");
        }
    }
    assert!(
        denying > 0 && with_hits > 2,
        "the fixture exercises the board"
    );

    // Each policy's rules, and its end of tier, per direction.
    let mut rules_checked = 0;
    for card in cards.iter().filter(|c| want.policies.contains_key(&key(c))) {
        let k = key(card);
        let uri = format!("/api/policy?id={}", urlencode(card["id"].as_str().unwrap()));
        let (status, detail) = get(&f.app, &uri).await;
        assert_eq!(status, StatusCode::OK, "{detail}");
        for direction in ["ingress", "egress"] {
            for rule in detail[direction].as_array().unwrap() {
                let i = rule["index"].as_i64().unwrap() as i32;
                let expected = want
                    .rules
                    .get(&(k.clone(), direction, i))
                    .copied()
                    .unwrap_or_default();
                assert_eq!(
                    counts_of(&rule["metrics"]),
                    expected,
                    "{k} {direction} rule {i}"
                );
                rules_checked += usize::from(expected[0] > 0);
            }
            let end = want
                .rules
                .get(&(k.clone(), direction, -1))
                .copied()
                .unwrap_or_default();
            assert_eq!(
                counts_of(&detail["end_of_tier"][direction]),
                end,
                "{k} {direction} end of tier"
            );
        }
    }
    assert!(rules_checked > 2, "rules with hits were compared");
}
