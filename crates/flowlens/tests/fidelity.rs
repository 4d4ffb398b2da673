//! The command line on snapshots that real repositories contain: objects with typos,
//! host-network pods, named ports of other protocols, ClusterNetworkPolicies.

mod common;

use common::{flowlens, stdout};
use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

const SHOP: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        ports:
        - containerport: 8080
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - name: api
        ports:
        - containerPort: 9090
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: client, namespace: shop}
spec:
  template:
    metadata: {labels: {app: client}}
    spec:
      containers: [{name: c}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 9090}]
";

#[test]
fn a_typo_in_one_workload_skips_it_and_the_rest_answers() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "shop.yaml", SHOP);

    let out = flowlens().arg("inventory").arg(&path).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("Skipped 1 object with errors (Deployment ×1)"),
        "{text}"
    );
    assert!(
        err.contains("shop.yaml: document 0, line 11, column 11: spec.template.spec.containers[0].ports[0].containerPort: missing required field (found \"containerport\""),
        "{err}"
    );
    assert!(err.contains("the Deployment shop/web is skipped"), "{err}");

    let text = stdout(
        flowlens()
            .arg("explain")
            .arg("--snapshot")
            .arg(&path)
            .args([
                "--from",
                "shop/client",
                "--to",
                "shop/api",
                "--port",
                "9090",
            ]),
    );
    assert!(text.contains("Verdict: ALLOW"), "{text}");

    let out = flowlens()
        .arg("inventory")
        .arg(&path)
        .arg("--strict")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--strict") && err.contains("containerPort"),
        "{err}"
    );
}

#[test]
fn a_policy_error_still_refuses_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let bad = format!(
        "{SHOP}---\napiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: shop}}\nspec:\n  ingress:\n  - action: Allow\n    protocol: TCP\n    destination: {{ports: [\"1:2:3\"]}}\n"
    );
    let path = write(dir.path(), "shop.yaml", &bad);
    let out = flowlens().arg("inventory").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("would change verdicts silently"), "{err}");
    assert!(err.contains("destination.ports[0]"), "{err}");
    // The skippable error is a warning, not one of the errors that refuse.
    assert!(!err.contains("containerPort"), "{err}");
}
