//! The fake API server's HTTP side: discovery documents, list (with pages), watch (a stream
//! of JSON lines with BOOKMARK and ERROR events), get, server-side apply, delete,
//! SelfSubjectAccessReview, TokenReview and SubjectAccessReview, in the shapes the real API
//! server uses.

use super::store::{ObjectId, ResourceDef, Signal, StoredEvent};
use super::{Inner, RecordedRequest};
use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A `Status` failure, as the API server answers errors.
pub(crate) fn status_error(code: u16, reason: &str, message: String, details: Value) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(
        status,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason,
            "details": details, "code": code
        }),
    )
}

fn success_status(def: &ResourceDef, name: &str, uid: Option<&Value>) -> Response {
    json_response(
        StatusCode::OK,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": name, "group": def.group, "kind": def.plural, "uid": uid}
        }),
    )
}

/// What a path names.
enum Target<'a> {
    Versions,
    Groups,
    Resources {
        group: &'a str,
        version: &'a str,
    },
    Collection {
        def: &'a ResourceDef,
        namespace: Option<&'a str>,
    },
    Object {
        def: &'a ResourceDef,
        namespace: Option<&'a str>,
        name: &'a str,
    },
    AccessReview,
    TokenReview,
    SubjectAccessReview,
}

fn route<'a>(inner: &'a Inner, path: &'a str) -> Option<Target<'a>> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api"] => return Some(Target::Versions),
        ["apis"] => return Some(Target::Groups),
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    if group == "authorization.k8s.io" && version == "v1" && rest == ["selfsubjectaccessreviews"] {
        return Some(Target::AccessReview);
    }
    if group == "authorization.k8s.io" && version == "v1" && rest == ["subjectaccessreviews"] {
        return Some(Target::SubjectAccessReview);
    }
    if group == "authentication.k8s.io" && version == "v1" && rest == ["tokenreviews"] {
        return Some(Target::TokenReview);
    }
    let find = |plural: &str| {
        inner
            .defs
            .iter()
            .find(|d| d.group == group && d.version == version && d.plural == plural)
    };
    match rest {
        [] => inner
            .defs
            .iter()
            .any(|d| d.group == group && d.version == version)
            .then_some(Target::Resources { group, version }),
        [plural] => find(plural).map(|def| Target::Collection {
            def,
            namespace: None,
        }),
        ["namespaces", ns, plural] => {
            find(plural)
                .filter(|d| d.namespaced)
                .map(|def| Target::Collection {
                    def,
                    namespace: Some(*ns),
                })
        }
        ["namespaces", ns, plural, name] => {
            find(plural)
                .filter(|d| d.namespaced)
                .map(|def| Target::Object {
                    def,
                    namespace: Some(*ns),
                    name,
                })
        }
        [plural, name] => find(plural)
            .filter(|d| !d.namespaced)
            .map(|def| Target::Object {
                def,
                namespace: None,
                name,
            }),
        _ => None,
    }
}

pub(crate) async fn handle(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let query: HashMap<String, String> = Query::try_from_uri(&parts.uri)
        .map(|q: Query<HashMap<String, String>>| q.0)
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let body: Option<Value> = serde_json::from_slice(&bytes).ok();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    inner.record(RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: query.clone().into_iter().collect(),
        content_type,
        body: body.clone(),
    });
    let path = parts.uri.path().to_string();
    let Some(target) = route(&inner, &path) else {
        return status_error(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
            json!({}),
        );
    };
    match (parts.method, target) {
        (Method::GET, Target::Versions) => json_response(
            StatusCode::OK,
            json!({"kind": "APIVersions", "versions": ["v1"],
                   "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                   "serverAddress": "127.0.0.1:6443"}]}),
        ),
        (Method::GET, Target::Groups) => groups(&inner),
        (Method::GET, Target::Resources { group, version }) => resources(&inner, group, version),
        (Method::GET, Target::Collection { def, namespace }) => {
            let watching = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
            if watching {
                watch(&inner, def, namespace, &query)
            } else {
                list(&inner, def, namespace, &query)
            }
        }
        (
            Method::GET,
            Target::Object {
                def,
                namespace,
                name,
            },
        ) => {
            let id = object_id(def, namespace, name);
            match inner.store().objects.get(&id) {
                Some(object) => json_response(StatusCode::OK, object.clone()),
                None => not_found(def, name),
            }
        }
        (
            Method::PATCH,
            Target::Object {
                def,
                namespace,
                name,
            },
        ) => apply(&inner, def, namespace, name, &query, body),
        (
            Method::DELETE,
            Target::Object {
                def,
                namespace,
                name,
            },
        ) => delete(&inner, def, namespace, name, &query, body),
        (Method::POST, Target::AccessReview) => access_review(&inner, body),
        (Method::POST, Target::TokenReview) => token_review(&inner, body),
        (Method::POST, Target::SubjectAccessReview) => subject_access_review(&inner, body),
        _ => status_error(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource".into(),
            json!({}),
        ),
    }
}

fn object_id(def: &ResourceDef, namespace: Option<&str>, name: &str) -> ObjectId {
    (
        def.group.clone(),
        def.plural.clone(),
        namespace.unwrap_or("").to_string(),
        name.to_string(),
    )
}

fn not_found(def: &ResourceDef, name: &str) -> Response {
    status_error(
        404,
        "NotFound",
        format!("{} \"{name}\" not found", def.qualified()),
        json!({"name": name, "group": def.group, "kind": def.plural}),
    )
}

fn groups(inner: &Inner) -> Response {
    let mut by_group: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for d in inner.defs.iter().filter(|d| !d.group.is_empty()) {
        let versions = by_group.entry(&d.group).or_default();
        if !versions.contains(&d.version.as_str()) {
            versions.push(&d.version);
        }
    }
    by_group
        .entry("authorization.k8s.io")
        .or_default()
        .push("v1");
    let groups: Vec<Value> = by_group
        .iter()
        .map(|(group, versions)| {
            let list: Vec<Value> = versions
                .iter()
                .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
                .collect();
            json!({"name": group, "versions": list, "preferredVersion": list[0]})
        })
        .collect();
    json_response(
        StatusCode::OK,
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
    )
}

fn resources(inner: &Inner, group: &str, version: &str) -> Response {
    let resources: Vec<Value> = inner
        .defs
        .iter()
        .filter(|d| d.group == group && d.version == version)
        .map(|d| {
            json!({
                "name": d.plural, "singularName": d.kind.to_lowercase(),
                "namespaced": d.namespaced, "kind": d.kind,
                "verbs": ["create", "delete", "deletecollection", "get", "list", "patch",
                          "update", "watch"]
            })
        })
        .collect();
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json_response(
        StatusCode::OK,
        json!({"kind": "APIResourceList", "apiVersion": "v1",
               "groupVersion": group_version, "resources": resources}),
    )
}

fn matches(def: &ResourceDef, namespace: Option<&str>, e: &StoredEvent) -> bool {
    e.group == def.group && e.plural == def.plural && namespace.is_none_or(|ns| e.namespace == ns)
}

fn list(
    inner: &Inner,
    def: &ResourceDef,
    namespace: Option<&str>,
    query: &HashMap<String, String>,
) -> Response {
    if let Some(denied) = forbidden(inner, def, "list", namespace, "") {
        return denied;
    }
    let store = inner.store();
    let start: usize = query
        .get("continue")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let limit: Option<usize> = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|&l| l > 0);
    let from = (
        def.group.clone(),
        def.plural.clone(),
        String::new(),
        String::new(),
    );
    let matching = store
        .objects
        .range(from..)
        .take_while(|((g, p, _, _), _)| g == &def.group && p == &def.plural)
        .filter(|((_, _, ns, _), _)| namespace.is_none_or(|n| ns == n));
    let total = matching.clone().count();
    let end = limit.map_or(total, |l| start.saturating_add(l).min(total));
    // Only the page is copied out.
    let page: Vec<Value> = matching
        .skip(start)
        .take(end.saturating_sub(start))
        .map(|(_, o)| {
            let mut o = o.clone();
            // Items of built-in lists carry no apiVersion and kind; custom resources' do.
            if !def.custom
                && let Some(obj) = o.as_object_mut()
            {
                obj.remove("apiVersion");
                obj.remove("kind");
            }
            o
        })
        .collect();
    let mut metadata = json!({"resourceVersion": store.resource_version.to_string()});
    if end < total {
        metadata["continue"] = json!(end.to_string());
        metadata["remainingItemCount"] = json!(total - end);
    }
    json_response(
        StatusCode::OK,
        json!({"kind": format!("{}List", def.kind), "apiVersion": def.api_version(),
               "metadata": metadata, "items": page}),
    )
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = json!({"type": kind, "object": object}).to_string();
    line.push('\n');
    Bytes::from(line)
}

fn expired_line(from: u64, now: u64) -> Bytes {
    event_line(
        "ERROR",
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("too old resource version: {from} ({now})"),
                "reason": "Expired", "code": 410}),
    )
}

type Chunk = Result<Bytes, std::io::Error>;

fn watch(
    inner: &Arc<Inner>,
    def: &ResourceDef,
    namespace: Option<&str>,
    query: &HashMap<String, String>,
) -> Response {
    let from: Option<u64> = query
        .get("resourceVersion")
        .filter(|v| !v.is_empty())
        .and_then(|v| v.parse().ok());
    let bookmarks = query.get("allowWatchBookmarks").map(String::as_str) == Some("true");
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let (first, rx) = {
        let store = inner.store();
        let rx = store.signals.subscribe();
        let first: Result<Vec<Bytes>, Bytes> = match from {
            // From "now" (or any): every object as ADDED first, as the API server does.
            None | Some(0) => Ok(store
                .objects
                .iter()
                .filter(|((g, p, ns, _), _)| {
                    g == &def.group && p == &def.plural && namespace.is_none_or(|n| ns == n)
                })
                .map(|(_, o)| event_line("ADDED", o))
                .collect()),
            Some(n) if n < store.compacted => Err(expired_line(n, store.resource_version)),
            Some(n) => Ok(store
                .log
                .iter()
                .filter(|e| e.resource_version > n && matches(def, namespace, e))
                .map(|e| event_line(e.kind, &e.object))
                .collect()),
        };
        (first, rx)
    };
    let (tx, out) = mpsc::channel::<Chunk>(256);
    let def = def.clone();
    let namespace = namespace.map(str::to_string);
    let inner = Arc::clone(inner);
    inner.watch_opened();
    tokio::spawn(async move {
        follow(first, rx, tx, def, namespace, bookmarks, timeout).await;
        inner.watch_closed();
    });
    let stream = futures::stream::unfold(out, |mut out| async move {
        out.recv().await.map(|chunk| (chunk, out))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Writes a watch's events until it times out, expires, drops or the client leaves.
async fn follow(
    first: Result<Vec<Bytes>, Bytes>,
    mut rx: broadcast::Receiver<Signal>,
    tx: mpsc::Sender<Chunk>,
    def: ResourceDef,
    namespace: Option<String>,
    bookmarks: bool,
    timeout: Option<Duration>,
) {
    let replay = match first {
        Ok(replay) => replay,
        Err(expired) => {
            let _ = tx.send(Ok(expired)).await;
            return;
        }
    };
    for line in replay {
        if tx.send(Ok(line)).await.is_err() {
            return;
        }
    }
    let deadline = tokio::time::sleep(timeout.unwrap_or(Duration::from_secs(3600)));
    tokio::pin!(deadline);
    loop {
        let signal = tokio::select! {
            signal = rx.recv() => signal,
            () = &mut deadline => return,
            () = tx.closed() => return,
        };
        let line = match signal {
            Ok(Signal::Event(e)) if matches(&def, namespace.as_deref(), &e) => {
                event_line(e.kind, &e.object)
            }
            Ok(Signal::Event(_)) => continue,
            Ok(Signal::Bookmark(rv)) if bookmarks => event_line(
                "BOOKMARK",
                &json!({"kind": def.kind, "apiVersion": def.api_version(),
                        "metadata": {"resourceVersion": rv.to_string()}}),
            ),
            Ok(Signal::Bookmark(_)) => continue,
            Ok(Signal::Expire) | Err(broadcast::error::RecvError::Lagged(_)) => {
                let _ = tx.send(Ok(expired_line(0, 0))).await;
                return;
            }
            Ok(Signal::Drop) => {
                let broken = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "dropped");
                let _ = tx.send(Err(broken)).await;
                return;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if tx.send(Ok(line)).await.is_err() {
            return;
        }
    }
}

fn conflict(def: &ResourceDef, name: &str, message: String, causes: Vec<Value>) -> Response {
    status_error(
        409,
        "Conflict",
        message,
        json!({"name": name, "group": def.group, "kind": def.plural, "causes": causes}),
    )
}

fn forbidden(
    inner: &Inner,
    def: &ResourceDef,
    verb: &str,
    namespace: Option<&str>,
    name: &str,
) -> Option<Response> {
    if inner.allows(verb, &def.group, &def.plural) {
        return None;
    }
    let scope = match namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".into(),
    };
    Some(status_error(
        403,
        "Forbidden",
        format!(
            "{} \"{name}\" is forbidden: User \"system:serviceaccount:flowlens:flowlens\" cannot {verb} resource \"{}\" in API group \"{}\" {scope}",
            def.qualified(),
            def.plural,
            def.group
        ),
        json!({"name": name, "group": def.group, "kind": def.plural}),
    ))
}

/// Server-side apply, at the granularity of `spec`'s top-level fields: the applied fields
/// become the manager's, fields it owned and no longer names are removed, and changing a
/// field another manager owns is a conflict unless forced.
fn apply(
    inner: &Inner,
    def: &ResourceDef,
    namespace: Option<&str>,
    name: &str,
    query: &HashMap<String, String>,
    body: Option<Value>,
) -> Response {
    let Some(manager) = query.get("fieldManager").filter(|m| !m.is_empty()) else {
        return status_error(
            400,
            "BadRequest",
            "PATCH requests with apply-patch content need a fieldManager".into(),
            json!({}),
        );
    };
    let Some(Value::Object(applied)) = body else {
        return status_error(
            400,
            "BadRequest",
            "the body is not a JSON object".into(),
            json!({}),
        );
    };
    if applied
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        != Some(name)
    {
        return status_error(
            400,
            "BadRequest",
            "the name of the object does not match the name on the URL".into(),
            json!({}),
        );
    }
    if applied.get("apiVersion").and_then(Value::as_str) != Some(&def.api_version())
        || applied.get("kind").and_then(Value::as_str) != Some(&def.kind)
    {
        return status_error(
            400,
            "BadRequest",
            format!("the object is not a {} ({})", def.kind, def.api_version()),
            json!({}),
        );
    }
    let dry_run = query.get("dryRun").map(String::as_str) == Some("All");
    let force = query.get("force").map(String::as_str) == Some("true");
    let id = object_id(def, namespace, name);
    let mut store = inner.store();
    let current = store.objects.get(&id).cloned();
    let verb = if current.is_some() { "patch" } else { "create" };
    if let Some(denied) = forbidden(inner, def, verb, namespace, name) {
        return denied;
    }
    if let Some(rv) = applied
        .get("metadata")
        .and_then(|m| m.get("resourceVersion"))
        .and_then(Value::as_str)
    {
        let now = current
            .as_ref()
            .and_then(|c| c.pointer("/metadata/resourceVersion"))
            .and_then(Value::as_str);
        if now != Some(rv) {
            let what = if now.is_none() {
                "the object has been deleted"
            } else {
                "the object has been modified"
            };
            return conflict(
                def,
                name,
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": {what}; please apply your changes to the latest version and try again",
                    def.qualified()
                ),
                vec![],
            );
        }
    }
    let applied_spec = applied
        .get("spec")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let owners = store.field_owners(&id);
    let current_spec = current
        .as_ref()
        .and_then(|c| c.get("spec"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if !force {
        let causes: Vec<Value> = applied_spec
            .iter()
            .filter(|(k, v)| current_spec.get(*k).is_some_and(|c| c != *v))
            .filter_map(|(k, _)| {
                let owner = owners.get(k).filter(|o| *o != manager)?;
                Some(json!({"reason": "FieldManagerConflict",
                            "message": format!("conflict with \"{owner}\""),
                            "field": format!(".spec.{k}")}))
            })
            .collect();
        if !causes.is_empty() {
            let list: Vec<String> = causes
                .iter()
                .map(|c| {
                    format!(
                        "{}: {}",
                        c["message"].as_str().unwrap_or(""),
                        c["field"].as_str().unwrap_or("")
                    )
                })
                .collect();
            return conflict(
                def,
                name,
                format!(
                    "Apply failed with {} conflict(s): {}",
                    causes.len(),
                    list.join(", ")
                ),
                causes,
            );
        }
    }
    // The merged object.
    let mut spec: Map<String, Value> = current_spec;
    spec.retain(|k, _| applied_spec.contains_key(k) || owners.get(k).is_some_and(|o| o != manager));
    spec.extend(applied_spec.clone());
    let mut object: Map<String, Value> = current
        .as_ref()
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (k, v) in &applied {
        if k != "metadata" && k != "spec" && k != "status" {
            object.insert(k.clone(), v.clone());
        }
    }
    let mut meta = object
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    meta.insert("name".into(), json!(name));
    if let Some(ns) = namespace {
        meta.insert("namespace".into(), json!(ns));
    }
    for key in ["labels", "annotations"] {
        if let Some(Value::Object(new)) = applied.get("metadata").and_then(|m| m.get(key)) {
            let mut merged = meta
                .get(key)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            merged.extend(new.clone());
            meta.insert(key.into(), Value::Object(merged));
        }
    }
    meta.remove("resourceVersion");
    object.insert("metadata".into(), Value::Object(meta));
    object.insert("spec".into(), Value::Object(spec));
    let created = current.is_none();
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    if dry_run {
        let mut object = Value::Object(object);
        if let Some(rv) = current
            .as_ref()
            .and_then(|c| c.pointer("/metadata/resourceVersion"))
        {
            object["metadata"]["resourceVersion"] = rv.clone();
        }
        return json_response(code, object);
    }
    let fields: Vec<String> = applied_spec.keys().cloned().collect();
    let now = inner.now_rfc3339();
    let stored = store.put(id, Value::Object(object), manager, &fields, &now);
    json_response(code, stored)
}

fn delete(
    inner: &Inner,
    def: &ResourceDef,
    namespace: Option<&str>,
    name: &str,
    query: &HashMap<String, String>,
    body: Option<Value>,
) -> Response {
    if let Some(denied) = forbidden(inner, def, "delete", namespace, name) {
        return denied;
    }
    let options = body.unwrap_or(Value::Null);
    let dry_run = query.get("dryRun").map(String::as_str) == Some("All")
        || options
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|x| x == "All"));
    let id = object_id(def, namespace, name);
    let mut store = inner.store();
    let Some(current) = store.objects.get(&id).cloned() else {
        return not_found(def, name);
    };
    let current_rv = current
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    if let Some(wanted) = options
        .pointer("/preconditions/resourceVersion")
        .and_then(Value::as_str)
        && wanted != current_rv
    {
        return conflict(
            def,
            name,
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: ResourceVersion in precondition: {wanted}, ResourceVersion in object meta: {current_rv}",
                def.qualified()
            ),
            vec![],
        );
    }
    let uid = current.pointer("/metadata/uid").cloned();
    if !dry_run {
        store.remove(&id);
    }
    success_status(def, name, uid.as_ref())
}

fn access_review(inner: &Inner, body: Option<Value>) -> Response {
    let mut review = body.unwrap_or_else(|| json!({}));
    let attrs = review
        .pointer("/spec/resourceAttributes")
        .cloned()
        .unwrap_or(Value::Null);
    let text = |key: &str| {
        attrs
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let allowed = inner.allows(&text("verb"), &text("group"), &text("resource"));
    let reason = if allowed {
        "allowed by the fake API server's rules"
    } else {
        "no RBAC rule allows it"
    };
    if let Some(obj) = review.as_object_mut() {
        obj.insert("apiVersion".into(), json!("authorization.k8s.io/v1"));
        obj.insert("kind".into(), json!("SelfSubjectAccessReview"));
        obj.insert(
            "status".into(),
            json!({"allowed": allowed, "reason": reason}),
        );
    }
    json_response(StatusCode::CREATED, review)
}

fn review_failure() -> Response {
    status_error(
        500,
        "InternalError",
        "Internal error occurred: the authentication webhook is unavailable".into(),
        json!({}),
    )
}

/// TokenReview: a known token's user, or `authenticated: false`.
fn token_review(inner: &Inner, body: Option<Value>) -> Response {
    if inner.reviews_fail() {
        return review_failure();
    }
    let mut review = body.unwrap_or_else(|| json!({}));
    let token = review
        .pointer("/spec/token")
        .and_then(Value::as_str)
        .unwrap_or("");
    let status = match inner.user_of(token) {
        Some(user) => json!({
            "authenticated": true,
            "user": {"username": user.name, "uid": format!("uid-{}", user.name), "groups": user.groups},
        }),
        None => json!({"authenticated": false, "error": "invalid bearer token"}),
    };
    if let Some(obj) = review.as_object_mut() {
        obj.insert("apiVersion".into(), json!("authentication.k8s.io/v1"));
        obj.insert("kind".into(), json!("TokenReview"));
        obj.insert("status".into(), status);
    }
    json_response(StatusCode::CREATED, review)
}

/// SubjectAccessReview: whether the RBAC rules bound to the user or its groups allow the
/// resource attributes.
fn subject_access_review(inner: &Inner, body: Option<Value>) -> Response {
    if inner.reviews_fail() {
        return review_failure();
    }
    let mut review = body.unwrap_or_else(|| json!({}));
    let spec = review.get("spec").cloned().unwrap_or(Value::Null);
    let attrs = spec
        .get("resourceAttributes")
        .cloned()
        .unwrap_or(Value::Null);
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    let user = text(&spec, "user").unwrap_or_default();
    let groups: Vec<String> = spec
        .get("groups")
        .and_then(Value::as_array)
        .map(|g| {
            g.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let (verb, group, resource) = (
        text(&attrs, "verb").unwrap_or_default(),
        text(&attrs, "group").unwrap_or_default(),
        text(&attrs, "resource").unwrap_or_default(),
    );
    let namespace = text(&attrs, "namespace").filter(|n| !n.is_empty());
    let name = text(&attrs, "name").filter(|n| !n.is_empty());
    let allowed = inner.rbac_allows(
        &user,
        &groups,
        (
            &verb,
            &group,
            &resource,
            namespace.as_deref(),
            name.as_deref(),
        ),
    );
    let status = if allowed {
        json!({"allowed": true, "reason": "allowed by the fake API server's RBAC rules"})
    } else {
        json!({"allowed": false})
    };
    if let Some(obj) = review.as_object_mut() {
        obj.insert("apiVersion".into(), json!("authorization.k8s.io/v1"));
        obj.insert("kind".into(), json!("SubjectAccessReview"));
        obj.insert("status".into(), status);
    }
    json_response(StatusCode::CREATED, review)
}
