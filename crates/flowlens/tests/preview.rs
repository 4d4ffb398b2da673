//! `flowlens preview` on the FME story: the fixed engine policy (port pool 42000:43000)
//! turns exactly the engine → core flows on the pool allowed, and nothing else changes.

mod common;

use assert_cmd::Command;
use common::{flowlens, scenarios, stdout};
use std::path::{Path, PathBuf};

/// Ten minutes of simulated FME traffic, attributed and stored at Calico's default level.
fn fme_store(dir: &Path) -> PathBuf {
    let raw = dir.join("raw.jsonl");
    let data = dir.join("data");
    stdout(
        flowlens()
            .args([
                "simulate",
                "--scenario",
                "fme",
                "--duration",
                "10m",
                "--seed",
                "7",
                "--output",
            ])
            .arg(&raw),
    );
    stdout(&mut common::ingest_fme(&data, &raw));
    data
}

/// `flowlens preview` over `data` with the cluster of `manifests`; the caller adds the draft.
fn preview(data: &Path, manifests: &Path) -> Command {
    let mut cmd = flowlens();
    cmd.arg("preview")
        .arg("--data")
        .arg(data)
        .arg("--snapshot")
        .arg(manifests);
    cmd
}

fn sql_count(data: &Path, query: &str) -> u64 {
    let out = stdout(
        flowlens()
            .arg("sql")
            .arg("--data")
            .arg(data)
            .args([query, "--output", "csv"]),
    );
    out.lines().nth(1).unwrap().trim().parse().unwrap()
}

#[test]
fn the_fix_allows_exactly_the_port_pool_flows() {
    let dir = tempfile::tempdir().unwrap();
    let data = fme_store(dir.path());
    let manifests = scenarios().join("fme/manifests");
    let json = stdout(
        preview(&data, &manifests)
            .arg("--policy")
            .arg(scenarios().join("fme/steps/fix.yaml"))
            .args(["--since", "1h", "--output", "json"]),
    );
    let p: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(p["policy"], "np:fme/application.engine-fmeserver");
    assert_eq!(p["operation"], "replace");
    let total = sql_count(&data, "SELECT count(*) FROM flows");
    let pool_denied = sql_count(
        &data,
        "SELECT count(*) FROM flows WHERE action = 'deny' \
         AND source_name_aggr LIKE 'engine-standard-group-%' \
         AND dest_name_aggr LIKE 'fmeserver-core-%' AND dest_port BETWEEN 42000 AND 43000",
    );
    let denied = sql_count(&data, "SELECT count(*) FROM flows WHERE action = 'deny'");
    assert!(pool_denied > 0, "the story has denied port-pool flows");
    assert!(denied >= pool_denied);

    let summary = &p["summary"];
    assert_eq!(p["flow_logs"], total);
    assert_eq!(summary["deny_to_allow"], pool_denied, "{json}");
    assert_eq!(summary["allow_to_deny"], 0);
    assert_eq!(summary["uncertain"], 0, "{json}");
    assert_eq!(summary["unchanged"], total - pool_denied);
    assert_eq!(p["stored_mismatch_flow_logs"], 0);

    let changes = p["changes"].as_array().unwrap();
    assert!(!changes.is_empty());
    for c in changes {
        assert_eq!(c["change"], "deny_to_allow", "{c}");
        assert_eq!(c["source_namespace"], "fme");
        assert!(
            c["source_name_aggr"]
                .as_str()
                .unwrap()
                .starts_with("engine-standard-group-")
        );
        assert!(
            c["dest_name_aggr"]
                .as_str()
                .unwrap()
                .starts_with("fmeserver-core-")
        );
        assert_eq!(c["proto"], "tcp");
        let port = c["dest_port"].as_u64().unwrap();
        assert!((42000..=43000).contains(&port), "{c}");
        assert!(c["before"].as_str().unwrap().ends_with("|deny|-1"), "{c}");
        assert_eq!(
            c["after"],
            "0|application|np:fme/application.engine-fmeserver|allow|0"
        );
        assert!(c["reason"].is_null());
    }
    let grouped: u64 = changes
        .iter()
        .map(|c| c["flow_logs"].as_u64().unwrap())
        .sum();
    assert_eq!(grouped, pool_denied);

    // The same as text.
    let text = stdout(
        preview(&data, &manifests)
            .arg("--policy")
            .arg(scenarios().join("fme/steps/fix.yaml")),
    );
    assert!(text.contains("DENY → ALLOW"), "{text}");
    assert!(text.contains("fme/engine-standard-group-"), "{text}");
    assert!(!text.contains("ALLOW → DENY"), "{text}");

    // Deleting the engine policy: the engines' other allowed traffic has no policy left in
    // the application tier, so its verdict changes too; the preview says so.
    let json = stdout(preview(&data, &manifests).args([
        "--delete",
        "np:fme/application.engine-fmeserver",
        "--output",
        "json",
    ]));
    let p: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(p["operation"], "delete");
    assert_eq!(p["flow_logs"], total);

    // A draft in an undeclared tier is refused with the reason.
    let draft = dir.path().join("bad.yaml");
    std::fs::write(
        &draft,
        "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: x, namespace: fme}\nspec:\n  tier: nosuch\n  selector: all()\n",
    )
    .unwrap();
    let out = preview(&data, &manifests)
        .arg("--policy")
        .arg(&draft)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tier \"nosuch\""));
}
