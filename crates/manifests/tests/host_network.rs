//! Pods on the host network get no endpoint but are kept, so that naming one resolves to
//! its node.

mod common;

use common::*;

#[test]
fn host_network_pods_and_workloads_are_kept_without_endpoints() {
    let loaded = load(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: agent, namespace: mon, labels: {app: agent}}\nspec: {hostNetwork: true, nodeName: n1}\nstatus: {hostIP: 192.168.0.7}\n---\n\
         apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: exporter, namespace: mon}\nspec:\n  template:\n    metadata: {labels: {app: exporter}}\n    spec: {hostNetwork: true}\n",
    );
    let inv = &loaded.inventory;
    assert!(inv.endpoints.is_empty());
    let pods: Vec<(&str, Option<&str>, Vec<String>)> = inv
        .host_network_pods
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.node.as_deref(),
                p.ips.iter().map(|ip| ip.to_string()).collect(),
            )
        })
        .collect();
    assert_eq!(
        pods,
        vec![
            ("agent", Some("n1"), vec!["192.168.0.7".to_string()]),
            ("exporter", None, vec![]),
        ]
    );
    assert_eq!(
        inv.host_network_pods[1]
            .workload
            .as_ref()
            .map(|w| w.kind.as_str()),
        Some("DaemonSet")
    );
    assert!(inv.namespaces.iter().any(|n| n.name == "mon"));
    assert_eq!(loaded.report.warnings.len(), 2);
    assert!(loaded.report.warnings[0].contains("host network"));
}

#[test]
fn a_host_network_pod_with_a_bad_address_is_an_error_or_skipped_whole() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: agent, namespace: mon}\nspec: {hostNetwork: true}\nstatus: {hostIP: not-an-ip}\n";
    let e = error_at(text, "status.hostIP");
    assert!(e.message.contains("not-an-ip"), "{e}");
    let tolerant = flowlens_manifests::LoadOptions {
        skip_invalid_objects: true,
        ..flowlens_manifests::LoadOptions::default()
    };
    let loaded = flowlens_manifests::load_str(text, "t.yaml", &tolerant).unwrap();
    assert!(loaded.inventory.host_network_pods.is_empty());
    assert_eq!(loaded.report.skipped_invalid.get("Pod"), Some(&1));
}
