//! Watch event → updated inventory, at the `scale` scenario's size (30,000 pods, 1,000
//! policies, 10,000 services, 2,000 namespaces), through the fake API server over HTTP.
//!
//! Measured per event, one event at a time: from the moment the fake API server emits the
//! event to the moment a subscriber receives the inventory change (HTTP, JSON decoding,
//! conversion through flowlens-manifests, the index, the timeline and the history). Also
//! the first listing of everything, and the heap the watch holds.
//!
//! Then the whole path to verdicts, as the server takes it: the inventory copied, the engine
//! brought up to date for a pod event (compiled afresh for a policy event), and a flow of
//! the changed pod decided; and the heap each new engine adds.
//!
//! Run: `cargo bench -p flowlens-kube --bench watch_latency` (a benchmark, not a test:
//! no figure here is asserted).

use flowlens_kube::testing::{FakeApiServer, objects, rfc3339};
use flowlens_kube::{Kind, WatchOptions};
use flowlens_manifests::{policy_to_yaml, tier_to_yaml};
use flowlens_model::{EndpointType, Inventory, InventoryKey, PolicyKind, Protocol, Tier};
use flowlens_policy::{Engine, FiveTuple};
use flowlens_sim::{ScaleParams, Scenario};
use serde_json::{Value, json};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Counts live heap bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn yaml_to_json(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("exported YAML reads back")
}

/// The scale inventory as API objects.
fn cluster_objects(inv: &Inventory) -> Vec<Value> {
    let mut out = Vec::new();
    for ns in &inv.namespaces {
        let labels: Vec<(&str, &str)> = ns
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        out.push(objects::namespace(&ns.name, &labels));
    }
    for e in inv
        .endpoints
        .iter()
        .filter(|e| e.endpoint_type == EndpointType::Wep)
    {
        let ns = e.namespace.as_deref().unwrap_or("default");
        let labels: Vec<(&str, &str)> = e
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let ips: Vec<String> = e.ips.iter().map(ToString::to_string).collect();
        let ips: Vec<&str> = ips.iter().map(String::as_str).collect();
        let mut pod = objects::pod(ns, &e.name, &labels, &ips);
        pod["spec"]["serviceAccountName"] =
            json!(e.service_account.as_deref().unwrap_or("default"));
        let ports: Vec<Value> = e
            .ports
            .iter()
            .map(|p| json!({"name": p.name, "containerPort": p.port, "protocol": p.protocol.to_string().to_uppercase()}))
            .collect();
        pod["spec"]["containers"][0]["ports"] = Value::Array(ports);
        out.push(pod);
    }
    for s in &inv.services {
        let selector: Vec<(&str, &str)> = s
            .selector
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let ip = s
            .cluster_ips
            .first()
            .map(ToString::to_string)
            .unwrap_or_default();
        out.push(objects::service(&s.namespace, &s.name, &selector, &ip));
    }
    // The scenario has a Service per role but `worker`; the benchmark size has 10,000.
    let services = inv.services.len();
    for i in services..10_000 {
        let ns = &inv.namespaces[i % inv.namespaces.len()].name;
        let ip = format!("10.112.{}.{}", (i >> 8) & 0xff, i & 0xff);
        out.push(objects::service(
            ns,
            &format!("extra-{i}"),
            &[("app", "none")],
            &ip,
        ));
    }
    let builtin = Tier::builtins();
    for t in inv.tiers.iter().filter(|t| !builtin.contains(t)) {
        out.push(yaml_to_json(&tier_to_yaml(t)));
    }
    for p in &inv.policies {
        // A few generated Kubernetes policies use Calico selectors no Kubernetes policy can
        // express; they go in as the Calico kind.
        let yaml = policy_to_yaml(p).unwrap_or_else(|_| {
            let mut calico = p.clone();
            calico.kind = PolicyKind::NetworkPolicy;
            policy_to_yaml(&calico).expect("exportable as a Calico policy")
        });
        out.push(yaml_to_json(&yaml));
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<52} n={:<4} p50 {:>8.2} ms   p99 {:>8.2} ms   max {:>8.2} ms",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    );
}

/// Applies `object` in the fake and waits for the change of `key` to reach a subscriber.
async fn one_event(
    fake: &FakeApiServer,
    updates: &mut tokio::sync::broadcast::Receiver<Arc<flowlens_kube::Update>>,
    object: Option<Value>,
    delete: Option<(&str, &str, Option<&str>, &str)>,
    key: &InventoryKey,
) -> Duration {
    let start = Instant::now();
    match (object, delete) {
        (Some(o), _) => {
            fake.apply(o);
        }
        (None, Some((api_version, kind, ns, name))) => {
            fake.delete(api_version, kind, ns, name);
        }
        _ => unreachable!(),
    }
    loop {
        let update = tokio::time::timeout(Duration::from_secs(30), updates.recv())
            .await
            .expect("the change arrives")
            .expect("the watch runs");
        if update.changes.iter().any(|c| &c.key == key) {
            return start.elapsed();
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run());
}

async fn run() {
    let scenario = Scenario::scale(&ScaleParams::benchmark()).expect("the scale scenario");
    let inv = scenario.inventory().clone();
    let objects = cluster_objects(&inv);
    let pods = inv
        .endpoints
        .iter()
        .filter(|e| e.endpoint_type == EndpointType::Wep)
        .count();
    println!(
        "cluster: {} namespaces, {pods} pods, 10000 services, {} tiers, {} policies ({} objects)",
        inv.namespaces.len(),
        inv.tiers.len(),
        inv.policies.len(),
        objects.len()
    );
    let fake = FakeApiServer::start().await;
    for o in objects {
        fake.apply(o);
    }
    drop(inv);

    // What serving and decoding the lists costs alone (pages of 500, as the watch reads).
    let t = Instant::now();
    let pods_api: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::all(fake.client());
    let mut params = kube::api::ListParams::default().limit(500);
    let mut listed = 0;
    loop {
        let page = pods_api.list(&params).await.expect("a page");
        listed += page.items.len();
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    println!(
        "listing the {listed} pods alone (fake server + HTTP + decoding): {:.2} s",
        t.elapsed().as_secs_f64()
    );

    let heap_before = LIVE.load(Ordering::Relaxed);
    let started = Instant::now();
    let watch = fake.cluster().watch(WatchOptions::default());
    watch.synced().await;
    let sync = started.elapsed();
    // Let the listing buffers go before measuring what stays.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let heap_after = LIVE.load(Ordering::Relaxed);
    let snapshot = watch.inventory();
    let counts = snapshot.counts();
    println!(
        "first listing of everything: {:.2} s; inventory: {} endpoints, {} services, {} policies",
        sync.as_secs_f64(),
        counts.workload_endpoints,
        counts.services,
        counts.policies
    );
    println!(
        "heap held by the watch (index, timeline, history, tasks): {:.1} MiB",
        mib(heap_after.saturating_sub(heap_before))
    );
    let t = std::time::Instant::now();
    let copy: Inventory = (*snapshot).clone();
    println!(
        "copying the whole inventory (what an update costs while a reader holds the old one): {:.2} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    drop(copy);
    drop(snapshot);

    let mut updates = watch.subscribe();
    let template = inv_pod_template(&watch);
    let (ns, name, labels, ip) = template;

    // Pod relabels: each a new state of an existing pod.
    let mut relabel = Vec::new();
    for i in 0..300 {
        let mut l: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let version = format!("bench-{i}");
        l.push(("bench", &version));
        let key = InventoryKey::Endpoint {
            endpoint_type: EndpointType::Wep,
            namespace: Some(ns.clone()),
            name: name.clone(),
        };
        relabel.push(
            one_event(
                &fake,
                &mut updates,
                Some(objects::pod(&ns, &name, &l, &[&ip])),
                None,
                &key,
            )
            .await,
        );
    }
    report("pod relabelled → inventory change received", relabel);

    // Pods created and deleted (new addresses, timeline claims and releases).
    let mut create = Vec::new();
    let mut delete = Vec::new();
    for i in 0..200 {
        let pod_name = format!("bench-{i}-x7k2p");
        let ip = format!("10.200.{}.{}", i / 250, i % 250 + 1);
        let key = InventoryKey::Endpoint {
            endpoint_type: EndpointType::Wep,
            namespace: Some(ns.clone()),
            name: pod_name.clone(),
        };
        let pod = objects::started_at(
            objects::pod(&ns, &pod_name, &[("app", "bench")], &[&ip]),
            fake.time(),
        );
        create.push(one_event(&fake, &mut updates, Some(pod), None, &key).await);
        delete.push(
            one_event(
                &fake,
                &mut updates,
                None,
                Some(("v1", "Pod", Some(&ns), &pod_name)),
                &key,
            )
            .await,
        );
    }
    report("pod created → inventory change received", create);
    report("pod deleted → inventory change received", delete);

    // The same while a reader holds the previous inventory (as a compiled engine would):
    // each change copies it first.
    let mut held = Vec::new();
    for i in 0..50 {
        let _reader = watch.inventory();
        let pod_name = format!("held-{i}-x7k2p");
        let key = InventoryKey::Endpoint {
            endpoint_type: EndpointType::Wep,
            namespace: Some(ns.clone()),
            name: pod_name.clone(),
        };
        let pod = objects::pod(&ns, &pod_name, &[("app", "bench")], &["10.201.0.1"]);
        held.push(one_event(&fake, &mut updates, Some(pod), None, &key).await);
        fake.delete("v1", "Pod", Some(&ns), &pod_name);
    }
    report(
        "pod created, previous inventory still held → received",
        held,
    );

    // Policy edits.
    let policy = watch
        .inventory()
        .policies
        .iter()
        .find(|p| p.kind == PolicyKind::NetworkPolicy)
        .cloned()
        .expect("a Calico NetworkPolicy");
    let mut edits = Vec::new();
    for i in 0..200 {
        let (key, object) = reordered(&policy, 1_000.0 + f64::from(i));
        edits.push(one_event(&fake, &mut updates, Some(object), None, &key).await);
    }
    report("policy edited → inventory change received", edits);

    event_to_verdict(
        &fake,
        &watch,
        &mut updates,
        &ns,
        &name,
        &labels,
        &ip,
        &policy,
    )
    .await;

    let status = watch.status();
    let pods_status = status
        .kinds
        .iter()
        .find(|k| k.kind == Kind::Pod)
        .expect("pods");
    println!(
        "revision {}, pod events {}, timeline and history entries kept: {} / {}",
        status.revision,
        pods_status.events,
        watch.with_timeline(|t| t.len()),
        watch.with_history(|h| h.len())
    );
    println!("(clock: {})", rfc3339(fake.time()));
}

/// `policy` with another order: its key, and the object to apply.
fn reordered(policy: &flowlens_model::Policy, order: f64) -> (InventoryKey, Value) {
    let mut p = policy.clone();
    p.order = Some(order);
    let key = InventoryKey::Policy {
        kind: p.kind,
        namespace: p.namespace.clone(),
        name: p.name.clone(),
    };
    let object = yaml_to_json(&policy_to_yaml(&p).expect("exportable"));
    (key, object)
}

/// Heap bytes allocated (and still live) while `f` runs, and its result.
fn heap_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.load(Ordering::Relaxed);
    let out = f();
    (out, LIVE.load(Ordering::Relaxed).saturating_sub(before))
}

/// The server's whole path from a watch event to verdicts with it (`flowlens_server::cluster`
/// does the same steps): the change reaches the subscriber, the inventory is copied under
/// the watch's lock, the engine is brought up to date (endpoint changes) or compiled afresh
/// (anything else), and a flow of the changed pod is decided. The server's 20 ms window
/// that gathers changes close together is left out.
#[allow(clippy::too_many_arguments)]
async fn event_to_verdict(
    fake: &FakeApiServer,
    watch: &flowlens_kube::ClusterWatch,
    updates: &mut tokio::sync::broadcast::Receiver<Arc<flowlens_kube::Update>>,
    ns: &str,
    name: &str,
    labels: &[(String, String)],
    ip: &str,
    policy: &flowlens_model::Policy,
) {
    let inventory = watch.with_inventory(|inv, _| inv.clone());
    let peer = inventory
        .endpoints
        .iter()
        .rev()
        .find_map(|e| e.ips.first().copied())
        .expect("a second address");
    let (engine, heap) = heap_of(|| Engine::new(inventory));
    let mut engine = Arc::new(engine);
    println!(
        "engine compiled afresh: {} selector sets, {} plans, heap {:.1} MiB",
        engine.stats().selector_sets,
        engine.stats().distinct_plans,
        mib(heap)
    );
    let flow_of = |src: &str| FiveTuple {
        src: src.parse().expect("an address"),
        dst: peer,
        protocol: Protocol::Tcp,
        src_port: 40_000,
        dst_port: 8080,
        icmp: None,
    };

    // One event, then the new engine and a verdict; returns the time taken, whether the
    // engine was brought up to date, and the heap the new engine added.
    async fn step(
        fake: &FakeApiServer,
        watch: &flowlens_kube::ClusterWatch,
        updates: &mut tokio::sync::broadcast::Receiver<Arc<flowlens_kube::Update>>,
        engine: &mut Arc<Engine>,
        change: Result<Value, (&str, &str, Option<&str>, &str)>,
        key: &InventoryKey,
        flow: FiveTuple,
    ) -> (Duration, bool, usize) {
        let start = Instant::now();
        let endpoints_only = matches!(key, InventoryKey::Endpoint { .. });
        match change {
            Ok(object) => one_event(fake, updates, Some(object), None, key).await,
            Err(delete) => one_event(fake, updates, None, Some(delete), key).await,
        };
        let ((next, incremental), heap) = heap_of(|| {
            let inventory = Arc::new(watch.with_inventory(|inv, _| inv.clone()));
            let updated = endpoints_only
                .then(|| engine.with_changed_endpoints(Arc::clone(&inventory)))
                .flatten();
            let incremental = updated.is_some();
            (
                updated.unwrap_or_else(|| Engine::new(inventory)),
                incremental,
            )
        });
        std::hint::black_box(next.evaluate(&flow));
        let took = start.elapsed();
        *engine = Arc::new(next);
        (took, incremental, heap)
    }

    let pod_key = |pod: &str| InventoryKey::Endpoint {
        endpoint_type: EndpointType::Wep,
        namespace: Some(ns.to_string()),
        name: pod.to_string(),
    };
    let mut relabel = Vec::new();
    let mut fresh = 0;
    let mut heaps = Vec::new();
    for i in 0..100 {
        let version = format!("verdict-{i}");
        let mut l: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        l.push(("bench", &version));
        let object = objects::pod(ns, name, &l, &[ip]);
        let (took, incremental, heap) = step(
            fake,
            watch,
            updates,
            &mut engine,
            Ok(object),
            &pod_key(name),
            flow_of(ip),
        )
        .await;
        relabel.push(took);
        fresh += usize::from(!incremental);
        heaps.push(heap);
    }
    report("pod relabelled → new verdicts", relabel);

    let mut create = Vec::new();
    let mut delete = Vec::new();
    for i in 0..100 {
        let pod_name = format!("verdict-{i}-x7k2p");
        let pod_ip = format!("10.202.{}.{}", i / 250, i % 250 + 1);
        let pod = objects::started_at(
            objects::pod(ns, &pod_name, &[("app", "bench")], &[&pod_ip]),
            fake.time(),
        );
        let key = pod_key(&pod_name);
        let (took, incremental, heap) = step(
            fake,
            watch,
            updates,
            &mut engine,
            Ok(pod),
            &key,
            flow_of(&pod_ip),
        )
        .await;
        create.push(took);
        fresh += usize::from(!incremental);
        heaps.push(heap);
        let (took, incremental, heap) = step(
            fake,
            watch,
            updates,
            &mut engine,
            Err(("v1", "Pod", Some(ns), &pod_name)),
            &key,
            flow_of(&pod_ip),
        )
        .await;
        delete.push(took);
        fresh += usize::from(!incremental);
        heaps.push(heap);
    }
    report("pod created → new verdicts", create);
    report("pod deleted → new verdicts", delete);
    heaps.sort_unstable();
    println!(
        "pod events compiled afresh instead of brought up to date: {fresh} of 300; heap each new engine adds: median {:.1} MiB",
        mib(heaps[heaps.len() / 2])
    );

    let mut edits = Vec::new();
    for i in 0..30 {
        let (key, object) = reordered(policy, 2_000.0 + f64::from(i));
        let (took, _, _) = step(
            fake,
            watch,
            updates,
            &mut engine,
            Ok(object),
            &key,
            flow_of(ip),
        )
        .await;
        edits.push(took);
    }
    report("policy edited → new verdicts (compiled afresh)", edits);
}

/// A pod of the cluster to relabel: namespace, name, labels, address.
fn inv_pod_template(
    watch: &flowlens_kube::ClusterWatch,
) -> (String, String, Vec<(String, String)>, String) {
    let inv = watch.inventory();
    let e = inv
        .endpoints
        .iter()
        .find(|e| e.endpoint_type == EndpointType::Wep && !e.ips.is_empty())
        .expect("a pod with an address");
    (
        e.namespace.clone().unwrap_or_default(),
        e.name.clone(),
        e.labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        e.ips[0].to_string(),
    )
}
