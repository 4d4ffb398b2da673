//! `parse_object`: an object already in memory (as a Kubernetes watch delivers it) reads
//! exactly as the same object in a file.

use flowlens_manifests::{LoadOptions, ResourceBody, parse_object, parse_resources};
use serde_json::{Value, json};

fn objects() -> Vec<Value> {
    vec![
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-6d4cf56db6-x2k9p", "namespace": "shop",
                         "generateName": "web-6d4cf56db6-", "uid": "a1",
                         "labels": {"app": "web", "pod-template-hash": "6d4cf56db6"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                              "name": "web-6d4cf56db6", "uid": "r1"}]},
            "spec": {"serviceAccountName": "web", "nodeName": "node-1",
                     "containers": [{"name": "web", "image": "nginx",
                                     "ports": [{"name": "http", "containerPort": 8080,
                                                "protocol": "TCP"}]}]},
            "status": {"phase": "Running", "podIP": "10.0.0.7",
                       "podIPs": [{"ip": "10.0.0.7"}, {"ip": "fd00::7"}]}
        }),
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                     "selector": {"app": "web"},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http",
                                "protocol": "TCP"}]}
        }),
        json!({
            "apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
            "metadata": {"name": "security.deny-feed"},
            "spec": {"tier": "security", "order": 10, "selector": "all()",
                     "types": ["Egress"],
                     "egress": [{"action": "Deny", "destination": {"nets": ["192.0.2.0/24"]}}]}
        }),
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "db", "namespace": "shop"},
            "spec": {"podSelector": {"matchLabels": {"app": "db"}},
                     "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                                  "ports": [{"port": 5432}]}]}
        }),
        json!({
            "apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy",
            "metadata": {"name": "isolate"},
            "spec": {"priority": 10, "subject": {"namespaces": {}},
                     "ingress": [{"action": "Deny",
                                  "from": [{"namespaces": {"matchLabels": {"tenant": "b"}}}]}]}
        }),
    ]
}

#[test]
fn an_object_in_memory_reads_like_the_same_object_in_a_file() {
    let opts = LoadOptions::default();
    for object in objects() {
        let text = serde_json::to_string_pretty(&object).unwrap();
        let from_file = parse_resources(&text, "object.json", &opts);
        let from_memory = parse_object(&object, "object.json", &opts);
        assert!(from_file.errors.is_empty(), "{:?}", from_file.errors);
        assert!(from_memory.errors.is_empty(), "{:?}", from_memory.errors);
        assert_eq!(from_memory.resources.len(), 1);
        let strip = |mut r: flowlens_manifests::Resource| {
            r.source.line = None;
            if let ResourceBody::Policy(p) = &mut r.body {
                p.policy.source = None;
                p.tier_at = Default::default();
            }
            r
        };
        let a: Vec<_> = from_file.resources.into_iter().map(strip).collect();
        let b: Vec<_> = from_memory.resources.into_iter().map(strip).collect();
        assert_eq!(a, b, "{text}");
        assert_eq!(from_memory.report.resources, from_file.report.resources);
    }
}

#[test]
fn errors_in_an_object_name_the_field() {
    let object = json!({
        "apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy",
        "metadata": {"name": "broken", "namespace": "shop"},
        "spec": {"selector": "app == ", "ingress": [{"action": "Allow",
                 "destination": {"ports": ["80-90"]}}]}
    });
    let parsed = parse_object(
        &object,
        "networkpolicies shop/broken",
        &LoadOptions::default(),
    );
    assert!(parsed.resources.is_empty());
    let fields: Vec<&str> = parsed.errors.iter().map(|e| e.field.as_str()).collect();
    assert!(fields.contains(&"spec.selector"), "{:?}", parsed.errors);
    assert!(
        fields.contains(&"spec.ingress[0].destination.ports[0]"),
        "{:?}",
        parsed.errors
    );
    assert!(
        parsed
            .errors
            .iter()
            .all(|e| e.line.is_none() && e.file == "networkpolicies shop/broken")
    );

    // Not an object at all.
    let parsed = parse_object(json!([1, 2]), "x", &LoadOptions::default());
    assert_eq!(parsed.errors.len(), 1, "{:?}", parsed.errors);
    // Kinds Flowlens does not model are counted, not errors.
    let parsed = parse_object(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
        "x",
        &LoadOptions::default(),
    );
    assert!(parsed.errors.is_empty() && parsed.resources.is_empty());
    assert_eq!(parsed.report.skipped_kinds.get("ConfigMap"), Some(&1));
}
