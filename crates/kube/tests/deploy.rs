//! The Helm chart and the plain manifests of `deploy/`: rendered by Helm's own template
//! engine (deploy/helm/render.py, through helm-python-sdk: Helm v4's Go SDK, no helm
//! binary) with each values file, and every document read as the Kubernetes type it
//! claims to be. A document must read back unchanged: a misspelt or misplaced field is
//! dropped by the typed reading, and the comparison catches it.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python that has helm-python-sdk, installed by the project's script.
fn python() -> PathBuf {
    let out = Command::new(repo().join("scripts/helm-venv.sh"))
        .output()
        .expect("run scripts/helm-venv.sh");
    assert!(
        out.status.success(),
        "scripts/helm-venv.sh failed (it installs helm-python-sdk from PyPI):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn render(python: &Path, args: &[&str]) -> String {
    let out = Command::new(python)
        .arg(repo().join("deploy/helm/render.py"))
        .arg(repo().join("deploy/helm/flowlens"))
        .args(args)
        .output()
        .expect("run render.py");
    assert!(
        out.status.success(),
        "render.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn documents(text: &str) -> Vec<Value> {
    text.split("\n---")
        .map(|d| d.trim_start_matches("---"))
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .map(|d| serde_saphyr::from_str::<Value>(d).unwrap_or_else(|e| panic!("{e}:\n{d}")))
        .collect()
}

/// Reads `doc` as `T` and checks it reads back unchanged.
fn typed<T: DeserializeOwned + Serialize>(doc: &Value) -> T {
    let object: T = serde_json::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("not a valid {}: {e}\n{doc:#}", doc["kind"]));
    let back = serde_json::to_value(&object).expect("serialises");
    assert_eq!(
        &back, doc,
        "{} reads back differently: a field is misspelt or misplaced",
        doc["kind"]
    );
    object
}

/// One rendering, every document typed.
#[derive(Default)]
struct Rendered {
    service_accounts: Vec<ServiceAccount>,
    cluster_roles: Vec<ClusterRole>,
    bindings: Vec<ClusterRoleBinding>,
    claims: Vec<PersistentVolumeClaim>,
    services: Vec<Service>,
    deployments: Vec<Deployment>,
}

fn read(docs: &[Value]) -> Rendered {
    let mut r = Rendered::default();
    for doc in docs {
        match (doc["apiVersion"].as_str(), doc["kind"].as_str()) {
            (Some("v1"), Some("ServiceAccount")) => r.service_accounts.push(typed(doc)),
            (Some("rbac.authorization.k8s.io/v1"), Some("ClusterRole")) => {
                r.cluster_roles.push(typed(doc))
            }
            (Some("rbac.authorization.k8s.io/v1"), Some("ClusterRoleBinding")) => {
                r.bindings.push(typed(doc))
            }
            (Some("v1"), Some("PersistentVolumeClaim")) => r.claims.push(typed(doc)),
            (Some("v1"), Some("Service")) => r.services.push(typed(doc)),
            (Some("apps/v1"), Some("Deployment")) => r.deployments.push(typed(doc)),
            other => panic!("unexpected document {other:?}"),
        }
    }
    r
}

fn rendered(python: &Path, values: &[&str]) -> Rendered {
    let mut args = Vec::new();
    for v in values {
        args.push("-f".to_string());
        args.push(
            repo()
                .join("deploy/helm/flowlens")
                .join(v)
                .display()
                .to_string(),
        );
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let json: BTreeMap<String, String> = serde_json::from_str(&render(python, &args)).unwrap();
    let docs: Vec<Value> = json.values().flat_map(|t| documents(t)).collect();
    read(&docs)
}

fn container(d: &Deployment) -> &k8s_openapi::api::core::v1::Container {
    &d.spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
}

fn check_deployment(r: &Rendered) -> &Deployment {
    assert_eq!(r.deployments.len(), 1);
    let d = &r.deployments[0];
    let spec = d.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(1), "the embedded store has one writer");
    assert_eq!(
        spec.strategy.as_ref().unwrap().type_.as_deref(),
        Some("Recreate")
    );
    let pod = spec.template.spec.as_ref().unwrap();
    let security = pod.security_context.as_ref().unwrap();
    assert_eq!(security.run_as_non_root, Some(true));
    assert_eq!(security.run_as_user, Some(65532));
    let c = container(d);
    let c_security = c.security_context.as_ref().unwrap();
    assert_eq!(c_security.read_only_root_filesystem, Some(true));
    assert_eq!(c_security.allow_privilege_escalation, Some(false));
    for probe in [&c.liveness_probe, &c.readiness_probe, &c.startup_probe] {
        let get = probe.as_ref().unwrap().http_get.as_ref().unwrap();
        assert_eq!(get.path.as_deref(), Some("/api/health"));
    }
    let requests = c.resources.as_ref().unwrap().requests.as_ref().unwrap();
    assert!(requests.contains_key("cpu") && requests.contains_key("memory"));
    // The Service finds the pod.
    let labels = spec
        .template
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .as_ref()
        .unwrap();
    for svc in &r.services {
        for (k, v) in svc.spec.as_ref().unwrap().selector.as_ref().unwrap() {
            assert_eq!(labels.get(k), Some(v), "the Service selects {k}={v}");
        }
    }
    d
}

fn verbs(role: &ClusterRole) -> Vec<String> {
    let mut v: Vec<String> = role
        .rules
        .iter()
        .flatten()
        .flat_map(|r| r.verbs.clone())
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn the_chart_renders_valid_kubernetes_objects_for_each_values_file() {
    let python = python();

    // Default values: read-only RBAC, a claim for the store.
    let r = rendered(&python, &[]);
    let d = check_deployment(&r);
    let pod = d.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    assert_eq!(r.service_accounts.len(), 1);
    let sa = r.service_accounts[0].metadata.name.clone().unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some(sa.as_str()));
    assert_eq!(r.cluster_roles.len(), 1, "no write role by default");
    assert_eq!(verbs(&r.cluster_roles[0]), ["get", "list", "watch"]);
    assert_eq!(r.bindings[0].subjects.as_ref().unwrap()[0].name, sa);
    assert_eq!(r.claims.len(), 1);
    let claim = r.claims[0].metadata.name.clone().unwrap();
    let data = pod
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.name == "data")
        .unwrap();
    assert_eq!(
        data.persistent_volume_claim.as_ref().unwrap().claim_name,
        claim
    );
    let args = container(d).args.clone().unwrap();
    assert!(args.contains(&"--kube".to_string()));
    // No certificate: plain HTTP, said to be meant.
    assert!(args.contains(&"--insecure".to_string()));
    assert!(!args.iter().any(|a| a.starts_with("--http-tls")));
    assert!(
        !pod.volumes
            .as_ref()
            .unwrap()
            .iter()
            .any(|v| v.name == "tls")
    );
    assert_eq!(container(d).image.as_deref(), Some("flowlens:0.1.0"));

    // A certificate secret: HTTPS, no --insecure, the secret mounted whole (a subPath mount
    // would never see a renewed certificate), HTTPS probes.
    let r = rendered(&python, &["ci/tls-values.yaml"]);
    let d = check_deployment(&r);
    let c = container(d);
    let args = c.args.clone().unwrap();
    assert!(!args.contains(&"--insecure".to_string()), "{args:?}");
    let after = |flag: &str| {
        let i = args.iter().position(|a| a == flag).unwrap();
        args[i + 1].clone()
    };
    assert_eq!(after("--http-tls-cert"), "/etc/flowlens/tls/tls.crt");
    assert_eq!(after("--http-tls-key"), "/etc/flowlens/tls/tls.key");
    let pod = d.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    let tls = pod
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.name == "tls")
        .expect("a tls volume");
    assert_eq!(
        tls.secret.as_ref().unwrap().secret_name.as_deref(),
        Some("flowlens-tls")
    );
    let mount = c
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.name == "tls")
        .expect("the tls volume mounted");
    assert_eq!(mount.mount_path, "/etc/flowlens/tls");
    assert!(mount.sub_path.is_none());
    assert_eq!(mount.read_only, Some(true));
    for probe in [&c.liveness_probe, &c.readiness_probe, &c.startup_probe] {
        let get = probe.as_ref().unwrap().http_get.as_ref().unwrap();
        assert_eq!(get.scheme.as_deref(), Some("HTTPS"));
    }

    // Policy writes allowed, an existing claim, another image, extra arguments.
    let r = rendered(&python, &["ci/write-policies-values.yaml"]);
    let d = check_deployment(&r);
    assert_eq!(r.cluster_roles.len(), 2);
    let write = r
        .cluster_roles
        .iter()
        .find(|c| {
            c.metadata
                .name
                .as_deref()
                .unwrap()
                .ends_with("write-policies")
        })
        .expect("a write role");
    assert_eq!(verbs(write), ["create", "delete", "patch", "update"]);
    assert_eq!(r.bindings.len(), 2);
    assert!(
        r.claims.is_empty(),
        "an existing claim is used, not created"
    );
    let pod = d.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    let data = pod
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.name == "data")
        .unwrap();
    assert_eq!(
        data.persistent_volume_claim.as_ref().unwrap().claim_name,
        "flowlens-data"
    );
    assert_eq!(
        container(d).image.as_deref(),
        Some("registry.example/flowlens:0.1.0-test")
    );
    assert!(
        container(d)
            .args
            .as_ref()
            .unwrap()
            .ends_with(&["--retain-for".into(), "30d".into()])
    );

    // No volume, no RBAC from the chart, a NodePort.
    let r = rendered(&python, &["ci/ephemeral-values.yaml"]);
    let d = check_deployment(&r);
    assert!(r.claims.is_empty() && r.cluster_roles.is_empty() && r.service_accounts.is_empty());
    let pod = d.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some("flowlens-reader"));
    let data = pod
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.name == "data")
        .unwrap();
    assert!(data.empty_dir.is_some());
    let svc = r.services[0].spec.as_ref().unwrap();
    assert_eq!(svc.type_.as_deref(), Some("NodePort"));
    assert_eq!(svc.ports.as_ref().unwrap()[0].port, 9000);

    // Kubernetes users: the service account may review their tokens and RBAC
    // (system:auth-delegator), beside the read role; nothing by default (above).
    let r = rendered(&python, &["ci/review-users-values.yaml"]);
    check_deployment(&r);
    assert_eq!(r.cluster_roles.len(), 1);
    assert_eq!(r.bindings.len(), 2);
    let review = r
        .bindings
        .iter()
        .find(|b| b.role_ref.name == "system:auth-delegator")
        .expect("a binding to system:auth-delegator");
    assert_eq!(review.role_ref.kind, "ClusterRole");
    assert_eq!(review.subjects.as_ref().unwrap()[0].name, sa);
}

#[test]
fn the_plain_manifests_are_the_charts_default_rendering() {
    let python = python();
    let fresh = render(&python, &["--manifest"]);
    let path = repo().join("deploy/kubernetes/flowlens.yaml");
    let committed = std::fs::read_to_string(&path).expect("deploy/kubernetes/flowlens.yaml");
    assert!(
        committed == fresh,
        "deploy/kubernetes/flowlens.yaml is out of date: run deploy/render-manifests.sh"
    );
    let r = read(&documents(&committed));
    check_deployment(&r);
    assert_eq!(r.cluster_roles.len(), 1);
    assert_eq!(r.claims.len(), 1);
}
