//! The watch behind a `tower-test` mock service, as kube tests itself: every request the
//! watch makes is checked, and answered with the API server's JSON (a list without item
//! kinds, ADDED/MODIFIED events, a BOOKMARK, a broken chunked stream, `410 Gone`).

use flowlens_kube::{Cluster, ClusterInfo, Kind, RetryPolicy, WatchOptions, WatchState};
use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;

type Handle = tower_test::mock::Handle<Request<Body>, Response<axum::body::Body>>;
type Chunk = Result<bytes_chunk::Bytes, std::io::Error>;

mod bytes_chunk {
    pub use axum::body::Bytes;
}

fn query(req: &Request<Body>) -> HashMap<String, String> {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn json_body(value: Value) -> Response<axum::body::Body> {
    Response::builder()
        .header("content-type", "application/json")
        .body(axum::body::Body::from(value.to_string()))
        .unwrap()
}

/// A watch response whose lines the test sends one by one.
fn streaming() -> (mpsc::Sender<Chunk>, Response<axum::body::Body>) {
    let (tx, rx) = mpsc::channel::<Chunk>(16);
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let response = Response::builder()
        .header("content-type", "application/json")
        .body(axum::body::Body::from_stream(stream))
        .unwrap();
    (tx, response)
}

async fn line(tx: &mpsc::Sender<Chunk>, event: Value) {
    let mut text = event.to_string();
    text.push('\n');
    tx.send(Ok(text.into())).await.unwrap();
}

fn namespace(name: &str, rv: &str, team: &str) -> Value {
    json!({"metadata": {"name": name, "resourceVersion": rv, "uid": format!("uid-{name}"),
                        "labels": {"team": team}},
           "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
}

fn typed(mut object: Value) -> Value {
    object["apiVersion"] = json!("v1");
    object["kind"] = json!("Namespace");
    object
}

async fn next(
    handle: &mut Handle,
) -> (
    Request<Body>,
    tower_test::mock::SendResponse<Response<axum::body::Body>>,
) {
    tokio::time::timeout(Duration::from_secs(10), handle.next_request())
        .await
        .expect("the watch made no further request")
        .expect("the client is gone")
}

async fn names(watch: &flowlens_kube::ClusterWatch, want: &[&str]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now: Vec<String> = watch
            .inventory()
            .namespaces
            .iter()
            .map(|n| n.name.clone())
            .collect();
        if now == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "namespaces {now:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_watch_bookmark_broken_stream_and_410() {
    let (service, mut handle) =
        tower_test::mock::pair::<Request<Body>, Response<axum::body::Body>>();
    let client = kube::Client::new(service, "default");
    let watch = Cluster::from_client(client, ClusterInfo::default()).watch(WatchOptions {
        kinds: vec![Kind::Namespace],
        retry: RetryPolicy {
            min: Duration::from_millis(10),
            max: Duration::from_millis(50),
        },
        ..WatchOptions::default()
    });

    // Discovery: one resource list.
    let (req, send) = next(&mut handle).await;
    assert_eq!(req.uri().path(), "/api/v1");
    send.send_response(json_body(json!({
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1",
        "resources": [{"name": "namespaces", "singularName": "namespace", "namespaced": false,
                       "kind": "Namespace", "verbs": ["get", "list", "watch"]}]
    })));

    // The first listing, in pages of 500; items of a built-in list have no kind.
    let (req, send) = next(&mut handle).await;
    assert_eq!(req.uri().path(), "/api/v1/namespaces");
    let q = query(&req);
    assert_eq!(q.get("limit").map(String::as_str), Some("500"));
    assert!(!q.contains_key("watch"));
    send.send_response(json_body(json!({
        "kind": "NamespaceList", "apiVersion": "v1",
        "metadata": {"resourceVersion": "100"},
        "items": [namespace("a", "90", "web")]
    })));

    // The watch from the list's version, with bookmarks.
    let (req, send) = next(&mut handle).await;
    let q = query(&req);
    assert_eq!(q.get("watch").map(String::as_str), Some("true"));
    assert_eq!(q.get("resourceVersion").map(String::as_str), Some("100"));
    assert_eq!(
        q.get("allowWatchBookmarks").map(String::as_str),
        Some("true")
    );
    let (tx, response) = streaming();
    send.send_response(response);
    line(
        &tx,
        json!({"type": "ADDED", "object": typed(namespace("b", "101", "db"))}),
    )
    .await;
    names(&watch, &["a", "b"]).await;
    assert!(watch.is_synced());
    line(
        &tx,
        json!({"type": "BOOKMARK",
               "object": {"kind": "Namespace", "apiVersion": "v1",
                          "metadata": {"resourceVersion": "150"}}}),
    )
    .await;
    // The connection breaks mid-stream, as hyper reports a cut chunked body.
    tx.send(Err(std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "unexpected EOF during chunk size line",
    )))
    .await
    .unwrap();

    // The watch resumes from the bookmark's version, without listing again.
    let (req, send) = next(&mut handle).await;
    let q = query(&req);
    assert_eq!(q.get("watch").map(String::as_str), Some("true"));
    assert_eq!(q.get("resourceVersion").map(String::as_str), Some("150"));
    let (tx, response) = streaming();
    send.send_response(response);
    line(
        &tx,
        json!({"type": "MODIFIED", "object": typed(namespace("a", "151", "payments"))}),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while watch.inventory().namespace("a").unwrap().labels["team"] != "payments" {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The version has expired: 410 Gone as an ERROR event.
    line(
        &tx,
        json!({"type": "ERROR",
               "object": {"kind": "Status", "apiVersion": "v1", "metadata": {},
                          "status": "Failure", "message": "too old resource version: 150 (170)",
                          "reason": "Expired", "code": 410}}),
    )
    .await;

    // Listing again: `b` was deleted during the gap, `c` created.
    let (req, send) = next(&mut handle).await;
    assert!(
        !query(&req).contains_key("watch"),
        "expected a list after 410"
    );
    send.send_response(json_body(json!({
        "kind": "NamespaceList", "apiVersion": "v1",
        "metadata": {"resourceVersion": "170"},
        "items": [namespace("a", "151", "payments"), namespace("c", "160", "ops")]
    })));
    let (req, send) = next(&mut handle).await;
    assert_eq!(
        query(&req).get("resourceVersion").map(String::as_str),
        Some("170")
    );
    let (_tx, response) = streaming();
    send.send_response(response);
    names(&watch, &["a", "c"]).await;

    let status = watch.status();
    let k = &status.kinds[0];
    assert_eq!(k.kind, Kind::Namespace);
    assert_eq!(k.state, WatchState::Watching);
    assert_eq!(k.listings, 2);
    assert_eq!(k.events, 2);
    assert!(k.last_error.as_deref().unwrap().contains("410 Gone"));
    assert_eq!(k.resource_version.as_deref(), Some("160"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_list_is_retried_and_reported() {
    let (service, mut handle) =
        tower_test::mock::pair::<Request<Body>, Response<axum::body::Body>>();
    let client = kube::Client::new(service, "default");
    let watch = Cluster::from_client(client, ClusterInfo::default()).watch(WatchOptions {
        kinds: vec![Kind::Namespace],
        retry: RetryPolicy {
            min: Duration::from_millis(10),
            max: Duration::from_millis(50),
        },
        ..WatchOptions::default()
    });
    let (_, send) = next(&mut handle).await;
    send.send_response(json_body(json!({
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1",
        "resources": [{"name": "namespaces", "namespaced": false, "kind": "Namespace",
                       "verbs": ["list", "watch"]}]
    })));
    let (_, send) = next(&mut handle).await;
    let mut forbidden = json_body(json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "namespaces is forbidden: User \"system:serviceaccount:flowlens:flowlens\" cannot list resource \"namespaces\"",
        "reason": "Forbidden", "code": 403
    }));
    *forbidden.status_mut() = http::StatusCode::FORBIDDEN;
    send.send_response(forbidden);
    // Retried after a pause.
    let (req, send) = next(&mut handle).await;
    assert_eq!(req.uri().path(), "/api/v1/namespaces");
    let status = watch.status();
    assert!(!status.synced);
    // Listing again after the pause, the error still shown.
    assert_eq!(status.kinds[0].state, WatchState::Listing);
    assert_eq!(status.kinds[0].errors, 1);
    assert!(
        status.kinds[0]
            .last_error
            .as_deref()
            .unwrap()
            .starts_with("forbidden")
    );
    send.send_response(json_body(json!({
        "kind": "NamespaceList", "apiVersion": "v1",
        "metadata": {"resourceVersion": "5"}, "items": []
    })));
    let (_req, send) = next(&mut handle).await;
    let (_tx, response) = streaming();
    send.send_response(response);
    tokio::time::timeout(Duration::from_secs(10), watch.synced())
        .await
        .expect("synced after the retry");
}
