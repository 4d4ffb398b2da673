//! The watch against the fake API server over HTTP: the first listing, pods coming and
//! going with an address reused, a policy edited, a dropped connection and a 410 Gone, and
//! the inventory, the IP timeline and the policy history following each step.

mod common;

use common::{endpoint_names, eventually, options, synced_watch};
use flowlens_kube::testing::{FakeApiServer, FakeConfig, objects};
use flowlens_kube::{CalicoApi, ConnectOptions, Kind, WatchState};
use flowlens_manifests::{LoadOptions, load_str};
use flowlens_model::{InventoryItem, InventoryKey, IpOwner, PolicyId, PolicyKind, RevisionKind};
use serde_json::json;
use std::net::IpAddr;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn owner_name(owner: &IpOwner) -> String {
    match owner {
        IpOwner::Endpoint(e) => e.qualified_name(),
        IpOwner::Service { namespace, name } => format!("svc {namespace}/{name}"),
        IpOwner::Node { name } => format!("node {name}"),
    }
}

/// A small cluster: two namespaces, pods (one dual-stack, one pending, one on the host
/// network), a service with its slice, a node, a tier and policies of three kinds.
fn populate(fake: &FakeApiServer) {
    fake.apply(objects::namespace("shop", &[("team", "web")]));
    fake.apply(objects::namespace("kube-system", &[]));
    fake.apply(objects::service_account("shop", "default"));
    fake.apply(objects::node("node-1", &["192.168.1.10"]));
    fake.apply(objects::pod(
        "shop",
        "web-7d9f8c6b5-abcde",
        &[("app", "web")],
        &["10.244.0.5", "fd00::5"],
    ));
    fake.apply(objects::pod(
        "shop",
        "db-0",
        &[("app", "db")],
        &["10.244.0.6"],
    ));
    fake.apply(objects::pending_pod(
        "shop",
        "api-5c6d7e8f9-qwert",
        &[("app", "api")],
    ));
    fake.apply(objects::host_network_pod(
        "kube-system",
        "kube-proxy-x1",
        "node-1",
        "192.168.1.10",
    ));
    fake.apply(objects::service(
        "shop",
        "web",
        &[("app", "web")],
        "10.96.0.10",
    ));
    fake.apply(objects::endpoint_slice(
        "shop",
        "web",
        &[("10.244.0.5", "web-7d9f8c6b5-abcde")],
    ));
    fake.apply(objects::tier("security", 100.0));
    fake.apply(objects::calico_policy(
        "shop",
        "security.db-from-web",
        "security",
        10.0,
        "app == 'db'",
        "app == 'web'",
    ));
    fake.apply(objects::kubernetes_policy("shop", "db", "db", "web"));
    fake.apply(json!({
        "apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy",
        "metadata": {"name": "isolate-tenants"},
        "spec": {"priority": 10, "subject": {"namespaces": {}},
                 "ingress": [{"action": "Deny",
                              "from": [{"namespaces": {"matchLabels": {"tenant": "other"}}}]}]}
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_listing_gives_the_snapshot_loaders_inventory() {
    let fake = FakeApiServer::start().await;
    populate(&fake);
    let watch = synced_watch(&fake).await;

    // The same objects as one snapshot file, through the manifests loader.
    let mut items = Vec::new();
    for (api_version, kind, ns, name) in [
        ("v1", "Namespace", None, "shop"),
        ("v1", "Namespace", None, "kube-system"),
        ("v1", "ServiceAccount", Some("shop"), "default"),
        ("v1", "Pod", Some("shop"), "web-7d9f8c6b5-abcde"),
        ("v1", "Pod", Some("shop"), "db-0"),
        ("v1", "Service", Some("shop"), "web"),
        ("projectcalico.org/v3", "Tier", None, "security"),
        (
            "projectcalico.org/v3",
            "NetworkPolicy",
            Some("shop"),
            "security.db-from-web",
        ),
        ("networking.k8s.io/v1", "NetworkPolicy", Some("shop"), "db"),
        (
            "policy.networking.k8s.io/v1alpha1",
            "AdminNetworkPolicy",
            None,
            "isolate-tenants",
        ),
    ] {
        items.push(fake.get(api_version, kind, ns, name).expect("stored"));
    }
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    let snapshot = load_str(&list.to_string(), "snapshot.json", &LoadOptions::default())
        .expect("the snapshot loads")
        .inventory;

    let mut live = (*watch.inventory()).clone();
    // The pending pod has no address yet: the loader would invent one, the cluster has none.
    let pending = live
        .endpoints
        .iter()
        .position(|e| e.name == "api-5c6d7e8f9-qwert")
        .expect("the pending pod is an endpoint");
    assert!(live.endpoints[pending].ips.is_empty());
    live.endpoints.remove(pending);
    // Policies remember where they were read from; that differs by design.
    let mut snapshot = snapshot;
    for p in live.policies.iter_mut().chain(snapshot.policies.iter_mut()) {
        p.source = None;
    }
    assert_eq!(live, snapshot);

    // What the inventory does not hold is kept beside it.
    let hn = watch.host_network_pods();
    assert_eq!(hn.len(), 1);
    assert_eq!(hn[0].node.as_deref(), Some("node-1"));
    assert_eq!(watch.nodes()[0].addresses, vec![ip("192.168.1.10")]);
    let backends = watch.service_backends("shop", "web");
    assert_eq!(
        backends.endpoints[0].pod.as_deref(),
        Some("web-7d9f8c6b5-abcde")
    );
    assert_eq!(backends.ports[0].port, 8080);

    // Every address has its owner.
    let now = fake.time();
    for (address, owner) in [
        ("10.244.0.5", "shop/web-7d9f8c6b5-abcde"),
        ("fd00::5", "shop/web-7d9f8c6b5-abcde"),
        ("10.244.0.6", "shop/db-0"),
        ("10.96.0.10", "svc shop/web"),
        ("192.168.1.10", "node node-1"),
    ] {
        let tenure = watch.owner_at(ip(address), now).expect(address);
        assert_eq!(owner_name(&tenure.owner), owner, "{address}");
    }

    let status = watch.status();
    assert!(status.synced);
    assert_eq!(status.calico, Some(CalicoApi::V3));
    let pods = status.kinds.iter().find(|k| k.kind == Kind::Pod).unwrap();
    assert_eq!(pods.state, WatchState::Watching);
    assert_eq!(pods.objects, 4);
    assert_eq!(pods.listings, 1);
    // Lists were read in pages of two.
    let pages = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/pods" && r.query.contains_key("continue"))
        .count();
    assert!(pages >= 1, "the pod list was not paged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_come_and_go_and_a_reused_address_keeps_its_history() {
    let fake = FakeApiServer::start().await;
    let t0 = 1_800_000_000_000;
    fake.set_time(t0);
    fake.apply(objects::namespace("shop", &[]));
    fake.apply(objects::started_at(
        objects::pod("shop", "web-1", &[("app", "web")], &["10.244.0.9"]),
        t0 - 60_000,
    ));
    let watch = synced_watch(&fake).await;
    let mut updates = watch.subscribe();

    // A listed pod holds its address from its start, not from when the watch saw it.
    let first = watch
        .owner_at(ip("10.244.0.9"), t0 - 30_000)
        .expect("owner");
    assert_eq!(owner_name(&first.owner), "shop/web-1");

    // Relabelled at t0 + 10 s: flows before keep the old labels.
    fake.set_time(t0 + 10_000);
    fake.apply(objects::started_at(
        objects::pod(
            "shop",
            "web-1",
            &[("app", "web"), ("version", "v2")],
            &["10.244.0.9"],
        ),
        t0 - 60_000,
    ));
    eventually("the relabel is applied", || {
        watch.owner_at(ip("10.244.0.9"), fake.time()).is_some_and(
            |t| matches!(&t.owner, IpOwner::Endpoint(e) if e.labels.contains_key("version")),
        )
    })
    .await;

    // Deleted at t0 + 20 s; a new pod gets the same address at t0 + 25 s.
    fake.set_time(t0 + 20_000);
    fake.delete("v1", "Pod", Some("shop"), "web-1");
    eventually("the deletion is applied", || {
        endpoint_names(&watch).is_empty()
    })
    .await;
    fake.set_time(t0 + 25_000);
    fake.apply(objects::started_at(
        objects::pod("shop", "db-2", &[("app", "db")], &["10.244.0.9"]),
        t0 + 24_000,
    ));
    eventually("the new pod is applied", || {
        endpoint_names(&watch) == ["shop/db-2"]
    })
    .await;

    let at = |t: i64| {
        watch
            .owner_at(ip("10.244.0.9"), t)
            .map(|tenure| match &tenure.owner {
                IpOwner::Endpoint(e) => format!(
                    "{} {}",
                    e.name,
                    e.labels.get("version").map_or("-", String::as_str)
                ),
                other => format!("{other:?}"),
            })
    };
    // A flow that arrives now but happened earlier still finds its pod.
    assert_eq!(at(t0 - 1).as_deref(), Some("web-1 -"));
    assert_eq!(at(t0 + 15_000).as_deref(), Some("web-1 v2"));
    assert_eq!(at(t0 + 22_000), None, "between the two pods nobody held it");
    assert_eq!(at(t0 + 24_500).as_deref(), Some("db-2 -"));
    assert_eq!(
        watch.owners_during(ip("10.244.0.9"), t0, t0 + 30_000).len(),
        3
    );

    // Subscribers saw every change, in order.
    let mut seen = Vec::new();
    while let Ok(update) = updates.try_recv() {
        for c in &update.changes {
            if let InventoryKey::Endpoint { name, .. } = &c.key {
                seen.push(format!(
                    "{name} {}",
                    match (&c.before, &c.after) {
                        (None, Some(_)) => "added",
                        (Some(_), None) => "removed",
                        _ => "changed",
                    }
                ));
            }
        }
    }
    assert_eq!(seen, ["web-1 changed", "web-1 removed", "db-2 added"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_edit_is_a_revision_with_its_time_and_version() {
    let fake = FakeApiServer::start().await;
    let t0 = 1_800_000_000_000;
    fake.set_time(t0);
    fake.apply(objects::namespace("shop", &[]));
    fake.apply(objects::tier("security", 100.0));
    let created = fake.apply(objects::calico_policy(
        "shop",
        "security.db",
        "security",
        10.0,
        "app == 'db'",
        "app == 'web'",
    ));
    let watch = synced_watch(&fake).await;
    let id = PolicyId {
        kind: PolicyKind::NetworkPolicy,
        namespace: Some("shop".into()),
        name: "security.db".into(),
    };
    let revisions = watch.policy_revisions(&id);
    assert_eq!(revisions.len(), 1);
    assert_eq!(revisions[0].kind, RevisionKind::Observed);
    // A listed policy is in force since its last write (its managed fields' time).
    assert_eq!(revisions[0].at, t0);
    assert_eq!(
        revisions[0].resource_version.as_deref(),
        created["metadata"]["resourceVersion"].as_str()
    );

    fake.set_time(t0 + 3_600_000);
    let edited = fake.apply(objects::calico_policy(
        "shop",
        "security.db",
        "security",
        20.0,
        "app == 'db'",
        "app == 'api'",
    ));
    eventually("the edit is applied", || {
        watch.policy_revisions(&id).len() == 2
    })
    .await;
    let revisions = watch.policy_revisions(&id);
    assert_eq!(revisions[1].kind, RevisionKind::Updated);
    assert_eq!(revisions[1].at, t0 + 3_600_000);
    assert_eq!(
        revisions[1].resource_version.as_deref(),
        edited["metadata"]["resourceVersion"].as_str()
    );

    // "What changed between yesterday and today."
    let (policies, tiers) = watch.changes_between(t0 + 1, t0 + 7_200_000);
    assert!(tiers.is_empty());
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0].before.as_ref().unwrap().order, Some(10.0));
    assert_eq!(policies[0].after.as_ref().unwrap().order, Some(20.0));
    // And the policies in force at a past time.
    let then = watch.inventory_at(t0 + 1);
    assert_eq!(then.policy(&id).unwrap().order, Some(10.0));
    assert_eq!(watch.inventory().policy(&id).unwrap().order, Some(20.0));

    // A policy in a tier that does not exist waits for it, out of the inventory.
    fake.apply(objects::calico_policy(
        "shop", "later.p", "later", 1.0, "all()", "all()",
    ));
    eventually("the waiting policy is reported", || {
        watch.skipped().iter().any(|s| s.object.name == "later.p")
    })
    .await;
    assert!(
        watch
            .inventory()
            .policies
            .iter()
            .all(|p| p.name != "later.p")
    );
    fake.apply(objects::tier("later", 200.0));
    eventually("the policy is admitted with its tier", || {
        watch
            .inventory()
            .policies
            .iter()
            .any(|p| p.name == "later.p")
    })
    .await;
    assert!(watch.skipped().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_watch_resumes_and_a_410_lists_again() {
    let fake = FakeApiServer::start().await;
    fake.apply(objects::namespace("shop", &[]));
    fake.apply(objects::pod(
        "shop",
        "web-1",
        &[("app", "web")],
        &["10.244.0.1"],
    ));
    fake.apply(objects::pod(
        "shop",
        "web-2",
        &[("app", "web")],
        &["10.244.0.2"],
    ));
    let watch = synced_watch(&fake).await;
    let served = watch
        .status()
        .kinds
        .iter()
        .filter(|k| k.state != WatchState::NotServed)
        .count();
    assert!(
        fake.wait_for_watches(served, std::time::Duration::from_secs(10))
            .await
    );

    // A BOOKMARK moves the watch's place without changing anything.
    let revision = watch.revision();
    fake.bookmark();

    // The connection breaks; changes made meanwhile arrive when the watch resumes from
    // its last version, without listing again.
    fake.drop_watches();
    fake.apply(objects::pod(
        "shop",
        "web-3",
        &[("app", "web")],
        &["10.244.0.3"],
    ));
    eventually("the change made while dropped arrives", || {
        endpoint_names(&watch).contains(&"shop/web-3".to_string())
    })
    .await;
    let pods = |watch: &flowlens_kube::ClusterWatch| {
        watch
            .status()
            .kinds
            .into_iter()
            .find(|k| k.kind == Kind::Pod)
            .unwrap()
    };
    // kube reads a broken chunked stream as its end and watches again from the last
    // version it saw: a second watch request, with a resourceVersion.
    let pod_watches: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| {
            r.path == "/api/v1/pods" && r.query.get("watch").map(String::as_str) == Some("true")
        })
        .map(|r| r.query.get("resourceVersion").cloned().unwrap_or_default())
        .collect();
    assert!(pod_watches.len() >= 2, "{pod_watches:?}");
    assert!(
        pod_watches
            .iter()
            .all(|rv| rv.parse::<u64>().is_ok_and(|v| v > 0))
    );
    assert_eq!(
        pods(&watch).listings,
        1,
        "a dropped watch resumes, it does not list"
    );
    assert!(watch.revision() > revision);

    // The watch falls behind a compaction: 410 Gone. A pod deleted meanwhile is noticed
    // by the new listing, which no event reports.
    let requests_before = fake.requests().len();
    {
        // Delete and compact before the watch can see the deletion as an event.
        fake.delete("v1", "Pod", Some("shop"), "web-1");
        fake.expire_watches();
    }
    eventually("the pod deleted during the gap is gone", || {
        !endpoint_names(&watch).contains(&"shop/web-1".to_string())
    })
    .await;
    eventually("the pods are listed again", || pods(&watch).listings >= 2).await;
    let status = pods(&watch);
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("410 Gone")),
        "{status:?}"
    );
    assert_eq!(pods(&watch).state, WatchState::Watching);
    let relisted = fake.requests()[requests_before..]
        .iter()
        .any(|r| r.path == "/api/v1/pods" && !r.query.contains_key("watch"));
    assert!(relisted, "no new list request after 410");
    assert_eq!(endpoint_names(&watch), ["shop/web-2", "shop/web-3"]);
    // The address of the pod that went away during the gap is free again.
    assert!(watch.owner_at(ip("10.244.0.1"), fake.time() + 1).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinds_the_cluster_does_not_serve_are_skipped() {
    let fake = FakeApiServer::start_with(FakeConfig {
        calico: None,
        admin_network_policies: false,
    })
    .await;
    fake.apply(objects::namespace("shop", &[]));
    let watch = synced_watch(&fake).await;
    let status = watch.status();
    assert!(status.synced);
    assert_eq!(status.calico, None);
    for kind in [
        Kind::Tier,
        Kind::GlobalNetworkPolicy,
        Kind::AdminNetworkPolicy,
    ] {
        let k = status.kinds.iter().find(|k| k.kind == kind).unwrap();
        assert_eq!(k.state, WatchState::NotServed, "{kind:?}");
        assert!(k.reason.is_some());
    }
    assert_eq!(watch.inventory().namespaces.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calico_storage_crds_are_read_with_calicos_names() {
    let fake = FakeApiServer::start_with(FakeConfig {
        calico: Some(CalicoApi::CrdV1),
        admin_network_policies: true,
    })
    .await;
    fake.apply(objects::namespace("shop", &[]));
    let mut policy = objects::calico_policy(
        "shop",
        "default.allow-web",
        "default",
        5.0,
        "all()",
        "all()",
    );
    policy["apiVersion"] = json!("crd.projectcalico.org/v1");
    fake.apply(policy);
    let watch = synced_watch(&fake).await;
    assert_eq!(watch.status().calico, Some(CalicoApi::CrdV1));
    let names: Vec<String> = watch
        .inventory()
        .policies
        .iter()
        .map(|p| p.name.clone())
        .collect();
    assert_eq!(names, ["allow-web"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubeconfig_and_its_context_reach_the_cluster() {
    let fake = FakeApiServer::start().await;
    fake.apply(objects::namespace("shop", &[]));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    std::fs::write(&path, fake.kubeconfig("fake-ctx")).unwrap();

    let cluster = flowlens_kube::Cluster::connect(&ConnectOptions {
        kubeconfig: Some(path.clone()),
        context: Some("fake-ctx".into()),
        in_cluster: false,
    })
    .await
    .expect("connects");
    assert_eq!(cluster.info().context.as_deref(), Some("fake-ctx"));
    assert_eq!(cluster.info().cluster.as_deref(), Some("fake-cluster"));
    assert_eq!(cluster.info().default_namespace, "shop");
    let watch = cluster.watch(options(&fake));
    tokio::time::timeout(std::time::Duration::from_secs(10), watch.synced())
        .await
        .expect("syncs");
    assert_eq!(watch.inventory().namespaces[0].name, "shop");

    let err = flowlens_kube::Cluster::connect(&ConnectOptions {
        kubeconfig: Some(path),
        context: Some("nope".into()),
        in_cluster: false,
    })
    .await
    .err()
    .expect("an unknown context fails");
    assert!(err.to_string().contains("fake-ctx"), "{err}");
}

#[test]
fn items_convert_to_their_keys() {
    // The watch's changes name items by key; a key names exactly its item.
    let ns = InventoryItem::Namespace(flowlens_model::Namespace {
        name: "shop".into(),
        labels: Default::default(),
    });
    assert_eq!(
        ns.key(),
        InventoryKey::Namespace {
            name: "shop".into()
        }
    );
}
