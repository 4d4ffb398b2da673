//! `flowlens recommend` on the FME story without its fix: the recommendation for `fme`
//! gives the engines the core's port pool as one range, loads back through the manifests
//! parser unchanged, and its proof finds no allowed flow it would deny.

mod common;

use common::{flowlens, scenarios, stdout};
use flowlens_model::{PortMatch, Protocol};
use std::path::{Path, PathBuf};

fn fme_store(dir: &Path) -> PathBuf {
    common::fme_store(dir, 11)
}

fn recommend(data: &Path, extra: &[&str]) -> String {
    stdout(
        flowlens()
            .arg("recommend")
            .arg("--data")
            .arg(data)
            .arg("--snapshot")
            .arg(scenarios().join("fme/manifests"))
            .args(["--since", "7d", "--namespace", "fme"])
            .args(extra),
    )
}

#[test]
fn fme_engines_get_the_port_pool_as_a_range_and_the_yaml_loads_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = fme_store(dir.path());
    let yaml = recommend(&data, &[]);
    // Deterministic for the same history.
    assert_eq!(yaml, recommend(&data, &[]));

    let loaded = flowlens_manifests::load_str(&yaml, "recommended.yaml", &Default::default())
        .unwrap_or_else(|e| panic!("the recommendation does not load:\n{e}\n{yaml}"));
    let inv = loaded.inventory;
    let tier = inv
        .tier("namespace-isolation")
        .expect("the tier is in the output");
    assert_eq!(tier.order, Some(10_000.0));
    let names: Vec<&str> = inv.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "namespace-isolation.fme-egress",
            "namespace-isolation.fme-ingress"
        ]
    );
    assert!(inv.policies.iter().all(|p| p.kind.is_staged()));

    // Loads back unchanged: written again, the same text (comments aside).
    let again = flowlens_manifests::export_policies(&inv, Some("namespace-isolation")).unwrap();
    let without_comments: String = yaml
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    // The writer lists policies in evaluation order (egress sorts before ingress by name).
    let documents = |text: &str| {
        let mut docs: Vec<String> = text.split("---\n").map(str::to_string).collect();
        docs.sort();
        docs
    };
    assert_eq!(documents(&again), documents(&without_comments));

    let engine_to_core = |rules: &[flowlens_model::Rule]| {
        rules
            .iter()
            .find(|r| {
                // Either way the engine is the rule's source and the core its destination.
                let (engine_side, core_side) = (&r.source, &r.destination);
                r.protocol == Some(Protocol::Tcp)
                    && engine_side
                        .selector
                        .as_ref()
                        .map(|s| s.to_string())
                        .as_deref()
                        == Some(r#"safe.k8s.fmeserver.component == "engine""#)
                    && core_side
                        .selector
                        .as_ref()
                        .map(|s| s.to_string())
                        .as_deref()
                        == Some(r#"safe.k8s.fmeserver.component == "core""#)
            })
            .cloned()
    };
    let egress = inv
        .policies
        .iter()
        .find(|p| p.name.ends_with("fme-egress"))
        .unwrap();
    let rule = engine_to_core(&egress.egress).expect("an engine → core egress rule");
    assert_eq!(
        rule.destination.ports,
        [
            PortMatch::Single(7070),
            PortMatch::Range {
                first: 42000,
                last: 43000
            }
        ],
        "{yaml}"
    );
    let ingress = inv
        .policies
        .iter()
        .find(|p| p.name.ends_with("fme-ingress"))
        .unwrap();
    let rule = engine_to_core(&ingress.ingress).expect("an engine → core ingress rule");
    assert!(rule.destination.ports.contains(&PortMatch::Range {
        first: 42000,
        last: 43000
    }));
    // DNS is one rule for the namespace, and no generated name or hash is used anywhere.
    assert!(yaml.contains(r#"k8s-app == "kube-dns""#), "{yaml}");
    assert!(!yaml.contains("pod-template-hash"));

    // The snapshot and the recommendation load together, as `flowlens inventory` shows.
    let out = dir.path().join("recommended.yaml");
    std::fs::write(&out, &yaml).unwrap();
    let listing = stdout(
        flowlens()
            .arg("inventory")
            .arg(scenarios().join("fme/manifests"))
            .arg(&out),
    );
    assert!(listing.contains("namespace-isolation"), "{listing}");
}

#[test]
fn the_proof_finds_no_allowed_flow_denied() {
    let dir = tempfile::tempdir().unwrap();
    let data = fme_store(dir.path());
    let json = recommend(&data, &["--prove", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let policies = v["policies"].as_array().unwrap();
    assert_eq!(policies.len(), 2);
    let mut deny_to_allow = 0;
    for p in policies {
        assert_eq!(p["manifest"]["kind"], "StagedNetworkPolicy");
        let proof = &p["proof"];
        assert_eq!(
            proof["summary"]["allow_to_deny"], 0,
            "{}",
            p["manifest"]["metadata"]["name"]
        );
        deny_to_allow += proof["summary"]["deny_to_allow"].as_u64().unwrap();
    }
    // The pool was denied today: enforcing the recommendation lets it through.
    assert!(deny_to_allow > 0, "{json}");

    // Learning only from what was allowed leaves the pool out.
    let yaml = recommend(&data, &["--allowed-only"]);
    assert!(!yaml.contains("42000:43000"), "{yaml}");
}
