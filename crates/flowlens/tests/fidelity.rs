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

const HOSTS: &str = "\
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: a, labels: {app: client}}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: server, namespace: a, labels: {app: server}}
spec:
  containers:
  - {name: dns, ports: [{name: dns, containerPort: 53, protocol: UDP}]}
status: {podIP: 10.0.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: agent, namespace: monitoring}
spec: {hostNetwork: true, nodeName: node-1}
status: {podIP: 192.168.1.10}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: client-out, namespace: a}
spec:
  selector: app == 'client'
  types: [Egress]
  egress: [{action: Deny, protocol: TCP, destination: {ports: [9999]}}, {action: Allow}]
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: server-dns}
spec:
  tier: Admin
  priority: 10
  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: server}}}}
  ingress:
  - {action: Accept, from: [{namespaces: {}}], protocols: [{destinationNamedPort: dns}]}
  - {action: Deny, from: [{namespaces: {}}]}
";

#[test]
fn ingress_after_an_egress_deny_is_not_reached_in_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = write(dir.path(), "c.yaml", HOSTS);
    let text = stdout(
        flowlens()
            .arg("explain")
            .arg("--snapshot")
            .arg(&snapshot)
            .args(["--from", "a/client", "--to", "a/server", "--port", "9999"]),
    );
    assert!(text.contains("Verdict: DENY — denied at egress"), "{text}");
    assert!(
        text.contains("Ingress at wep a/server: NOT REACHED (would be DENY)"),
        "{text}"
    );
    let flows = write(
        dir.path(),
        "flows.jsonl",
        "{\"src\": \"a/client\", \"dst\": \"a/server\", \"dst_port\": 9999}\n{\"src\": \"a/client\", \"dst\": \"a/server\", \"proto\": \"udp\", \"dst_port\": 53}\n",
    );
    let out = stdout(
        flowlens()
            .arg("evaluate")
            .arg("--snapshot")
            .arg(&snapshot)
            .arg("--flows")
            .arg(&flows),
    );
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["ingress"]["reached"], false, "{out}");
    assert_eq!(lines[1]["ingress"]["reached"], true, "{out}");
}

#[test]
fn a_host_network_pod_is_explained_as_its_nodes_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = write(dir.path(), "c.yaml", HOSTS);
    let text = stdout(
        flowlens()
            .arg("explain")
            .arg("--snapshot")
            .arg(&snapshot)
            .args([
                "--from",
                "monitoring/agent",
                "--to",
                "a/server",
                "--proto",
                "udp",
                "--port",
                "53",
            ]),
    );
    assert!(
        text.contains("Note: monitoring/agent uses the host network"),
        "{text}"
    );
    assert!(text.contains("unpoliced host traffic"), "{text}");
    assert!(
        text.contains("Egress: the source is not a cluster endpoint"),
        "{text}"
    );
    let flows = write(
        dir.path(),
        "flows.jsonl",
        "{\"src\": \"monitoring/agent\", \"dst\": \"a/server\", \"proto\": \"udp\", \"dst_port\": 53}\n",
    );
    let out = stdout(
        flowlens()
            .arg("evaluate")
            .arg("--snapshot")
            .arg(&snapshot)
            .arg("--flows")
            .arg(&flows),
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(
        v["notes"][0].as_str().unwrap().contains("host network"),
        "{out}"
    );
}

#[test]
fn an_admin_network_policy_named_port_takes_the_container_ports_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let anp = "\
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: a}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: server, namespace: a, labels: {app: server}}
spec:
  containers:
  - {name: dns, ports: [{name: dns, containerPort: 53, protocol: UDP}]}
status: {podIP: 10.0.0.2}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: server-dns}
spec:
  priority: 10
  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: server}}}}
  ingress:
  - {action: Allow, from: [{namespaces: {}}], ports: [{namedPort: dns}]}
  - {action: Deny, from: [{namespaces: {}}]}
";
    let snapshot = write(dir.path(), "anp.yaml", anp);
    let explain = |proto: &str| {
        stdout(
            flowlens()
                .arg("explain")
                .arg("--snapshot")
                .arg(&snapshot)
                .args([
                    "--from", "a/client", "--to", "a/server", "--proto", proto, "--port", "53",
                ]),
        )
    };
    let text = explain("udp");
    assert!(text.contains("Verdict: ALLOW"), "{text}");
    assert!(
        text.contains("0|kube-admin|kcnp:server-dns|allow|0"),
        "{text}"
    );
    let text = explain("tcp");
    assert!(text.contains("Verdict: DENY"), "{text}");
    assert!(
        text.contains("destination port 53 is not in ports [dns]"),
        "{text}"
    );
}

#[test]
fn a_cluster_network_policy_named_port_allows_udp_dns() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = write(dir.path(), "c.yaml", HOSTS);
    let text = stdout(
        flowlens()
            .arg("explain")
            .arg("--snapshot")
            .arg(&snapshot)
            .args([
                "--from", "a/client", "--to", "a/server", "--proto", "udp", "--port", "53",
            ]),
    );
    assert!(text.contains("Verdict: ALLOW"), "{text}");
    assert!(
        text.contains("0|kube-admin|kcnp:server-dns|allow|0"),
        "{text}"
    );
    let text = stdout(
        flowlens()
            .arg("explain")
            .arg("--snapshot")
            .arg(&snapshot)
            .args([
                "--from", "a/client", "--to", "a/server", "--proto", "tcp", "--port", "53",
            ]),
    );
    assert!(
        text.contains("0|kube-admin|kcnp:server-dns|deny|1"),
        "{text}"
    );
    let inventory = stdout(flowlens().arg("inventory").arg(&snapshot));
    assert!(inventory.contains("kcnp:server-dns"), "{inventory}");
}

#[test]
fn a_malformed_policy_hit_rejects_its_line_and_is_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let line = |hit: &str| {
        format!(
            r#"{{"start_time":1700000000,"end_time":1700000010,"source_ip":"10.0.0.1","source_name":"-","source_name_aggr":"client-*","source_namespace":"shop","source_type":"wep","dest_ip":"10.0.1.1","dest_name":"-","dest_name_aggr":"api-*","dest_namespace":"shop","dest_port":8080,"dest_type":"wep","proto":"tcp","action":"deny","reporter":"src","policies":{{"enforced_policies":["{hit}"],"pending_policies":["{hit}"]}},"num_flows":1}}"#
        )
    };
    let input = write(
        dir.path(),
        "flows.log",
        &format!(
            "{}\n{}\n",
            line("0|default|np:shop/deny-api|deny|0"),
            line("1|_|snp:namespace/tier.name|deny|0")
        ),
    );
    let out = flowlens()
        .arg("ingest")
        .arg("--data")
        .arg(&data)
        .arg(&input)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("accepted 1 lines"));
    assert!(err.contains("flows.log: line 2:"), "{err}");
    assert!(err.contains("tier \"_\""), "{err}");
    let csv = stdout(flowlens().arg("sql").arg("--data").arg(&data).args([
        "SELECT count(*) AS n FROM flows",
        "--output",
        "csv",
    ]));
    assert_eq!(csv.lines().collect::<Vec<_>>(), ["n", "1"]);
}
