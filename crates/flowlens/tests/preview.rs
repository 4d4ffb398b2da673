//! `flowlens preview` on the FME story: the fixed engine policy (port pool 42000:43000)
//! turns exactly the engine → core flows on the pool allowed, and nothing else changes.

mod common;

use assert_cmd::Command;
use common::{flowlens, scenarios, stdout};
use std::path::{Path, PathBuf};

fn fme_store(dir: &Path) -> PathBuf {
    common::fme_store(dir, 7)
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

/// The fme manifests without the engine policy, in `dir`.
fn fme_without_engine_policy(dir: &Path) -> PathBuf {
    let out = dir.join("without-engine");
    std::fs::create_dir_all(&out).unwrap();
    let manifests = scenarios().join("fme/manifests");
    let mut dropped = 0;
    for entry in std::fs::read_dir(&manifests).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let docs: Vec<&str> = text
            .split("\n---\n")
            .filter(|doc| {
                let engine = doc.contains("name: application.engine-fmeserver\n");
                dropped += usize::from(engine);
                !engine
            })
            .collect();
        std::fs::write(out.join(path.file_name().unwrap()), docs.join("\n---\n")).unwrap();
    }
    assert_eq!(dropped, 1, "the engine policy is one document");
    out
}

/// One group of changed flow logs: source and destination (namespace, aggregated name),
/// protocol, port; then flow logs, connections, verdict before and after, deciding hit after.
type Change = (
    String,
    String,
    String,
    String,
    String,
    u64,
    u64,
    u64,
    String,
    String,
    String,
);

#[test]
fn deleting_a_policy_changes_exactly_the_flows_the_engine_says() {
    let dir = tempfile::tempdir().unwrap();
    let data = fme_store(dir.path());
    let manifests = scenarios().join("fme/manifests");
    let policy = "np:fme/application.engine-fmeserver";
    let json = stdout(preview(&data, &manifests).args(["--delete", policy, "--output", "json"]));
    let p: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(p["operation"], "delete");
    assert_eq!(p["policy"], policy);

    // The expectation, from the engine: every stored connection evaluated again by
    // `flowlens evaluate` on the cluster with the policy's document removed. A connection
    // is both reporters' flow logs of one tuple (as the preview counts them: every flow
    // log, and the larger of the two reporters' connection counts).
    let inventory: serde_json::Value = serde_json::from_str(&stdout(
        flowlens()
            .arg("inventory")
            .arg(&manifests)
            .args(["--output", "json"]),
    ))
    .unwrap();
    // An end as `evaluate` takes it: its address when the flow log kept it, else its
    // workload.
    let end = |kind: &str, ns: &str, aggr: &str, ip: &str| -> String {
        if !ip.is_empty() {
            return ip.to_string();
        }
        if kind == "net" {
            // Aggregated away; any public address stands for it (no network set names one).
            assert_eq!(aggr, "pub");
            return "203.0.113.7".to_string();
        }
        let e = inventory["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["namespace"] == ns && e["name_aggr"] == aggr)
            .unwrap_or_else(|| panic!("no endpoint {ns}/{aggr}"));
        format!("{ns}/{}", e["workload"]["name"].as_str().unwrap())
    };
    let csv = stdout(flowlens().arg("sql").arg("--data").arg(&data).args([
        "SELECT source_type, source_namespace, source_name_aggr, source_name, source_ip, \
         source_port, dest_type, dest_namespace, dest_name_aggr, dest_name, dest_ip, dest_port, \
         proto, reporter, action, count(*), sum(num_flows) \
         FROM flows GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15",
        "--output",
        "csv",
    ]));
    #[derive(Default)]
    struct Connection {
        flow_logs: u64,
        src_flows: u64,
        dst_flows: u64,
        stored_deny: bool,
    }
    let mut connections: std::collections::BTreeMap<Vec<String>, Connection> = Default::default();
    for line in csv.lines().skip(1) {
        let r: Vec<String> = line.split(',').map(str::to_string).collect();
        let c = connections.entry(r[..13].to_vec()).or_default();
        let (logs, flows): (u64, u64) = (r[15].parse().unwrap(), r[16].parse().unwrap());
        c.flow_logs += logs;
        match r[13].as_str() {
            "src" => c.src_flows += flows,
            _ => c.dst_flows += flows,
        }
        c.stored_deny |= r[14] == "deny";
    }
    assert!(connections.len() > 100, "{csv}");
    let lines: String = connections
        .keys()
        .map(|k| {
            serde_json::json!({
                "src": end(&k[0], &k[1], &k[2], &k[4]),
                "dst": end(&k[6], &k[7], &k[8], &k[10]),
                "proto": k[12],
                "dst_port": k[11].parse::<u16>().unwrap(),
            })
            .to_string()
                + "\n"
        })
        .collect();
    let evaluate = |snapshot: &Path| -> Vec<serde_json::Value> {
        stdout(
            flowlens()
                .arg("evaluate")
                .arg("--snapshot")
                .arg(snapshot)
                .args(["--flows", "-"])
                .write_stdin(lines.clone()),
        )
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
    };
    // With the policy, the engine gives every connection its stored verdict: the ends are
    // read back right.
    for ((k, c), verdict) in connections.iter().zip(evaluate(&manifests)) {
        let stored = if c.stored_deny { "deny" } else { "allow" };
        assert_eq!(verdict["action"], stored, "{k:?}: {verdict}");
    }
    let without = evaluate(&fme_without_engine_policy(dir.path()));
    assert_eq!(without.len(), connections.len());
    let mut want: std::collections::BTreeMap<_, Change> = Default::default();
    let (mut changed_logs, mut changed_flows) = (0, 0);
    for ((k, c), verdict) in connections.iter().zip(&without) {
        let after = verdict["action"].as_str().unwrap();
        let before = if c.stored_deny { "deny" } else { "allow" };
        if after == before {
            continue;
        }
        // The policy only allows; what denies now is named by the direction that denies.
        assert_eq!((before, after), ("allow", "deny"), "{k:?}");
        let denying = if verdict["egress"]["action"] == "deny" {
            &verdict["egress"]
        } else {
            &verdict["ingress"]
        };
        let hits = denying["policies"].as_array().unwrap();
        let hit = hits.last().unwrap().as_str().unwrap().to_string();
        let flows = c.src_flows.max(c.dst_flows);
        changed_logs += c.flow_logs;
        changed_flows += flows;
        let port: u64 = k[11].parse().unwrap();
        let (src_ns, src, dst_ns, dst, proto) = (&k[1], &k[2], &k[7], &k[8], &k[12]);
        let group = want
            .entry((src_ns, src, dst_ns, dst, proto, port, hit.clone()))
            .or_insert_with(|| {
                let s = |x: &String| x.clone();
                (
                    s(src_ns),
                    s(src),
                    s(dst_ns),
                    s(dst),
                    s(proto),
                    port,
                    0,
                    0,
                    before.to_string(),
                    after.to_string(),
                    hit,
                )
            });
        group.6 += c.flow_logs;
        group.7 += flows;
    }
    let want: Vec<Change> = want.into_values().collect();
    // The engines lose their only application-tier policy: what it allowed them (to the
    // core, to the database, from the core) falls to the namespace's default deny.
    assert_eq!(want.len(), 3, "{want:?}");

    let text = |v: &serde_json::Value| v.as_str().unwrap().to_string();
    let mut got: Vec<Change> = p["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                text(&c["source_namespace"]),
                text(&c["source_name_aggr"]),
                text(&c["dest_namespace"]),
                text(&c["dest_name_aggr"]),
                text(&c["proto"]),
                c["dest_port"].as_u64().unwrap(),
                c["flow_logs"].as_u64().unwrap(),
                c["num_flows"].as_u64().unwrap(),
                text(&c["before_action"]),
                text(&c["after_action"]),
                text(&c["after"]),
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, want, "{json}");

    let total = sql_count(&data, "SELECT count(*) FROM flows");
    let summary = &p["summary"];
    assert_eq!(p["flow_logs"], total);
    assert_eq!(summary["allow_to_deny"], changed_logs, "{json}");
    assert_eq!(summary["deny_to_allow"], 0, "{json}");
    assert_eq!(summary["uncertain"], 0, "{json}");
    assert_eq!(summary["unchanged"], total - changed_logs, "{json}");
    assert_eq!(
        p["summary_num_flows"]["allow_to_deny"], changed_flows,
        "{json}"
    );
}
