//! The storefront lab held against its traffic: twenty minutes of the shop alone, then ten
//! with the rogue pod probing every service. Learned from the window before the rogue, the
//! recommendation allows none of its probes (learned from the whole history it would, which
//! is why the window matters); the audit lists the probes as denied and attempted, with the
//! rule that denies them, and its matrix shows the application's paths allowed and used.
//! `recommend --format k8s` writes NetworkPolicies that load back unchanged.

mod common;

use common::{flowlens, scenarios, stdout};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Data time of the first simulated flow: two hours ago, so that nothing ends in the future.
fn start() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    now - 7200
}

fn snapshot(cmd: &mut assert_cmd::Command) -> &mut assert_cmd::Command {
    cmd.arg("--snapshot")
        .arg(scenarios().join("storefront/manifests"))
        .arg("--snapshot")
        .arg(scenarios().join("storefront/steps/rogue.yaml"))
}

/// `dir/data` with the shop alone from `t0` for 20 minutes, then with the rogue for 10.
fn storefront_store(dir: &Path, t0: i64) -> PathBuf {
    let data = dir.join("data");
    for (name, minutes, offset, step) in [("shop", 20, 0, None), ("rogue", 10, 1200, Some("rogue"))]
    {
        let raw = dir.join(format!("{name}.jsonl"));
        let mut sim = flowlens();
        sim.args(["simulate", "--scenario", "storefront", "--seed", "7"])
            .arg("--duration")
            .arg(format!("{minutes}m"))
            .arg("--start")
            .arg((t0 + offset).to_string())
            .arg("--output")
            .arg(&raw);
        if let Some(step) = step {
            sim.args(["--step", step]);
        }
        stdout(&mut sim);
        let mut ingest = flowlens();
        ingest.arg("ingest").arg("--data").arg(&data);
        snapshot(&mut ingest).arg(&raw);
        stdout(&mut ingest);
    }
    data
}

fn json(cmd: &mut assert_cmd::Command) -> Value {
    let text = stdout(cmd);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn peers(rec: &Value) -> Vec<String> {
    rec["policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["rules"].as_array().unwrap().iter())
        .map(|r| r["peer"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_rogue_is_not_learned_before_it_came_and_the_audit_lists_its_probes() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = start();
    let data = storefront_store(dir.path(), t0);

    let recommend = |extra: &[&str]| {
        let mut cmd = flowlens();
        cmd.arg("recommend").arg("--data").arg(&data);
        snapshot(&mut cmd).args(["--namespace", "storefront", "--output", "json"]);
        json(cmd.args(extra))
    };
    // Learned from the shop alone: no rule names the rogue.
    let until = (t0 + 1200).to_string();
    let before = recommend(&["--until", &until]);
    let learned = peers(&before);
    assert!(!learned.is_empty(), "{before}");
    assert!(learned.iter().all(|p| !p.contains("rogue")), "{learned:#?}");
    // Learned from the whole history (every attempt), the rogue's probes would be allowed.
    let after = recommend(&[]);
    assert!(
        peers(&after).iter().any(|p| p.contains("rogue")),
        "{:#?}",
        peers(&after)
    );

    // The audit over the whole history lists the probes as denied and attempted.
    let mut cmd = flowlens();
    cmd.arg("audit").arg("--data").arg(&data);
    snapshot(&mut cmd).args(["--since", "7d", "--output", "json"]);
    let audit = json(&mut cmd);
    let denied = audit["denied_attempted"].as_array().unwrap();
    let probes: Vec<&Value> = denied
        .iter()
        .filter(|d| {
            d["source"]
                .as_str()
                .unwrap()
                .starts_with("storefront/rogue")
        })
        .collect();
    assert!(!probes.is_empty(), "{denied:#?}");
    for p in &probes {
        assert!(p["connections"].as_u64().unwrap() > 0);
        let rule = &p["rule"];
        // No zone admits the rogue: the destination's zone policy denies at the end of the
        // default tier.
        assert_eq!(rule["direction"], "ingress", "{p}");
        assert_eq!(rule["tier"], "default", "{p}");
        assert_eq!(rule["rule"], -1, "{p}");
        assert_eq!(rule["action"], "deny", "{p}");
    }
    let targets: std::collections::BTreeSet<&str> =
        probes.iter().map(|p| p["dest"].as_str().unwrap()).collect();
    assert!(targets.len() >= 3, "{targets:?}");
    assert!(
        !targets.contains("storefront/frontend"),
        "the DMZ admits anyone on port 80"
    );

    // The matrix: every ordered pair once; the shop's paths allowed and used, the rogue's
    // probes denied and attempted.
    let workloads = audit["workloads"].as_array().unwrap();
    let index = |name: &str| {
        workloads
            .iter()
            .position(|w| w["namespace"] == "storefront" && w["name"] == name)
            .unwrap_or_else(|| panic!("no workload {name}: {workloads:#?}"))
    };
    let cells = audit["cells"].as_array().unwrap();
    assert_eq!(cells.len(), workloads.len() * workloads.len());
    let cell = |s: &str, d: &str| {
        cells
            .iter()
            .find(|c| c["source"] == index(s) && c["dest"] == index(d))
            .unwrap()
    };
    assert_eq!(cell("frontend", "microservice1")["status"], "allowed_used");
    assert_eq!(cell("rogue", "backend")["status"], "denied_attempted");
    assert_eq!(cell("rogue", "backend")["allowed"], "No Connections");
    // Something the zones allow was never used, and the audit says which rule allows it.
    let unused = audit["unused"].as_array().unwrap();
    assert!(!unused.is_empty());
    assert!(
        unused.iter().all(
            |u| u["ingress_rule"]["action"] == "allow" || u["egress_rule"]["action"] == "allow"
        )
    );

    // The text and CSV forms carry the same findings.
    let mut cmd = flowlens();
    cmd.arg("audit").arg("--data").arg(&data);
    let text = stdout(snapshot(&mut cmd).args(["--since", "7d"]));
    assert!(text.contains("Denied and attempted"), "{text}");
    assert!(
        text.contains("storefront/rogue => storefront/backend"),
        "{text}"
    );
    assert!(
        text.contains("storefront/frontend => storefront/microservice1 : TCP"),
        "{text}"
    );
    let mut cmd = flowlens();
    cmd.arg("audit").arg("--data").arg(&data);
    let csv = stdout(snapshot(&mut cmd).args(["--since", "7d", "--output", "csv"]));
    assert!(csv.starts_with("finding,source,dest,protocol,ports,connections,rules\n"));
    assert!(
        csv.lines()
            .any(|l| l.starts_with("denied_attempted,storefront/rogue")),
        "{csv}"
    );
}

#[test]
fn kubernetes_network_policies_load_back_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = start();
    let data = storefront_store(dir.path(), t0);
    let mut cmd = flowlens();
    cmd.arg("recommend").arg("--data").arg(&data);
    let yaml = stdout(snapshot(&mut cmd).args(["--namespace", "storefront", "--format", "k8s"]));
    let loaded = flowlens_manifests::load_str(&yaml, "recommended.yaml", &Default::default())
        .unwrap_or_else(|e| panic!("the Kubernetes policies do not load:\n{e}\n{yaml}"));
    let inv = loaded.inventory;
    assert!(inv.policies.len() >= 2, "{yaml}");
    assert!(
        inv.policies
            .iter()
            .all(|p| p.kind == flowlens_model::PolicyKind::KubernetesNetworkPolicy),
        "{yaml}"
    );
    // One policy for every pod of the namespace (both directions: it isolates it).
    let ns = inv
        .policies
        .iter()
        .find(|p| p.name == "recommended-storefront")
        .expect("the namespace's policy");
    assert!(ns.types.ingress && ns.types.egress);
    // Written again, the same documents (comments aside).
    let again: String = inv
        .policies
        .iter()
        .map(|p| flowlens_manifests::policy_to_yaml(p).unwrap())
        .map(|d| format!("---\n{}", d.trim_start_matches("---\n")))
        .collect();
    let without_comments: String = yaml
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let documents = |text: &str| {
        let mut docs: Vec<String> = text
            .split("---\n")
            .filter(|d| !d.trim().is_empty())
            .map(str::to_string)
            .collect();
        docs.sort();
        docs
    };
    assert_eq!(documents(&again), documents(&without_comments));
    // Twilio's network set is written as its CIDRs, and the YAML says so.
    assert!(
        yaml.contains("# note: network set storefront/twilio is written as its CIDRs"),
        "{yaml}"
    );
    assert!(yaml.contains("ipBlock"), "{yaml}");
    // The snapshot and the policies load together, as `flowlens inventory` shows.
    let out = dir.path().join("k8s.yaml");
    std::fs::write(&out, &yaml).unwrap();
    let listing = stdout(
        flowlens()
            .arg("inventory")
            .arg(scenarios().join("storefront/manifests"))
            .arg(&out),
    );
    assert!(listing.contains("recommended-storefront"), "{listing}");

    // JSON carries the manifests, what was left out and the notes.
    let mut cmd = flowlens();
    cmd.arg("recommend").arg("--data").arg(&data);
    let v = json(snapshot(&mut cmd).args([
        "--namespace",
        "storefront",
        "--format",
        "k8s",
        "--output",
        "json",
    ]));
    assert_eq!(v["format"], "k8s");
    assert_eq!(v["policies"].as_array().unwrap().len(), inv.policies.len());
    assert!(v["policies"][0]["apiVersion"] == "networking.k8s.io/v1");
    assert!(
        v["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("default tier"))
    );
}
