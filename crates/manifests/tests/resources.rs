//! Kubernetes and Calico resources other than policies: namespaces, pods, workloads,
//! services, service accounts, network sets, host endpoints, tiers; lists, JSON, unknown
//! kinds and address allocation.

mod common;

use common::*;
use flowlens_manifests::{LoadOptions, load_paths, load_str};
use flowlens_model::{
    EndpointType, NamedPort, Protocol, ServicePort, TargetPort, TierDefaultAction, WorkloadRef,
};
use std::net::IpAddr;

fn ip(text: &str) -> IpAddr {
    text.parse()
        .unwrap_or_else(|_| panic!("bad IP in test: {text}"))
}

#[test]
fn namespace_and_service_account() {
    let inv = inventory(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    team: web\n---\n\
         apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: api\n  namespace: shop\n  labels:\n    tier: api\n",
    );
    assert_eq!(inv.namespaces.len(), 1);
    assert_eq!(inv.namespaces[0].name, "shop");
    assert_eq!(
        inv.namespaces[0].labels.get("team").map(String::as_str),
        Some("web")
    );
    let sa = inv
        .service_account("shop", "api")
        .unwrap_or_else(|| panic!("no sa"));
    assert_eq!(sa.labels.get("tier").map(String::as_str), Some("api"));
}

const POD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: web-7d9f-abcde
  generateName: web-7d9f-
  namespace: shop
  labels:
    app: web
  ownerReferences:
    - apiVersion: apps/v1
      kind: ReplicaSet
      name: web-7d9f
spec:
  serviceAccountName: web-sa
  nodeName: node-1
  initContainers:
    - name: init
      ports:
        - name: metrics
          containerPort: 9090
  containers:
    - name: web
      ports:
        - name: http
          containerPort: 8080
        - name: dns
          containerPort: 53
          protocol: UDP
        - containerPort: 9999
status:
  phase: Running
  podIP: 10.1.2.3
  podIPs:
    - ip: 10.1.2.3
    - ip: fd00::3
";

#[test]
fn pod_becomes_a_workload_endpoint() {
    let inv = inventory(POD);
    assert_eq!(inv.endpoints.len(), 1);
    let e = &inv.endpoints[0];
    assert_eq!(e.endpoint_type, EndpointType::Wep);
    assert_eq!(e.namespace.as_deref(), Some("shop"));
    assert_eq!(e.name, "web-7d9f-abcde");
    assert_eq!(e.name_aggr, "web-7d9f-*");
    assert_eq!(
        e.workload,
        Some(WorkloadRef {
            kind: "ReplicaSet".into(),
            name: "web-7d9f".into()
        })
    );
    assert_eq!(e.labels.get("app").map(String::as_str), Some("web"));
    assert_eq!(e.service_account.as_deref(), Some("web-sa"));
    assert_eq!(e.node.as_deref(), Some("node-1"));
    assert_eq!(e.ips, vec![ip("10.1.2.3"), ip("fd00::3")]);
    assert_eq!(
        e.ports,
        vec![
            NamedPort {
                name: "http".into(),
                protocol: Protocol::Tcp,
                port: 8080
            },
            NamedPort {
                name: "dns".into(),
                protocol: Protocol::Udp,
                port: 53
            },
            NamedPort {
                name: "metrics".into(),
                protocol: Protocol::Tcp,
                port: 9090
            },
        ]
    );
    // The namespace and the service account exist even though no manifest declares them.
    assert_eq!(
        inv.namespaces
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>(),
        vec!["shop"]
    );
    assert!(inv.namespaces[0].labels.is_empty());
    assert!(inv.service_account("shop", "web-sa").is_some());
}

#[test]
fn pod_defaults() {
    let inv = inventory("apiVersion: v1\nkind: Pod\nmetadata:\n  name: lonely\n");
    let e = &inv.endpoints[0];
    assert_eq!(e.namespace.as_deref(), Some("default"));
    assert_eq!(e.name_aggr, "lonely");
    assert_eq!(e.service_account.as_deref(), Some("default"));
    assert_eq!(e.ips, vec![ip("10.244.0.1")]);
    assert!(inv.service_account("default", "default").is_some());
    // podIP alone is read too.
    let inv =
        inventory("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nstatus:\n  podIP: 10.9.9.9\n");
    assert_eq!(inv.endpoints[0].ips, vec![ip("10.9.9.9")]);
}

#[test]
fn host_networked_and_finished_pods_are_skipped_with_a_warning() {
    let loaded = load(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: node-exporter\nspec:\n  hostNetwork: true\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata:\n  name: done\nstatus:\n  phase: Succeeded\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata:\n  name: crashed\nstatus:\n  phase: Failed\n",
    );
    assert!(loaded.inventory.endpoints.is_empty());
    assert_eq!(
        loaded.report.warnings.len(),
        3,
        "{:?}",
        loaded.report.warnings
    );
    assert!(loaded.report.warnings[0].contains("host network"));
    assert_eq!(loaded.report.resources.get("Pod"), Some(&3));
}

fn workload(kind: &str, api: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: app\n  namespace: ns\nspec:\n{extra_spec}  template:\n    metadata:\n      labels:\n        app: app\n    spec:\n      serviceAccountName: runner\n      containers:\n        - name: c\n          ports:\n            - name: http\n              containerPort: 80\n"
    )
}

/// Kubernetes' alphabet for generated name parts.
fn is_safe(s: &str) -> bool {
    s.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c))
}

#[test]
fn deployment_pods_are_named_like_kubernetes_names_them() {
    let inv = inventory(&workload("Deployment", "apps/v1", "  replicas: 3\n"));
    let eps = endpoints(&inv, "app-");
    assert_eq!(eps.len(), 3);
    let hash = &eps[0].name["app-".len().."app-".len() + 10];
    for e in &eps {
        let parts: Vec<&str> = e.name.split('-').collect();
        assert_eq!(parts.len(), 3, "{}", e.name);
        assert_eq!(parts[1], hash);
        assert_eq!(parts[2].len(), 5);
        assert!(is_safe(parts[1]) && is_safe(parts[2]), "{}", e.name);
        assert_eq!(e.name_aggr, format!("app-{hash}-*"));
        assert_eq!(
            e.workload,
            Some(WorkloadRef {
                kind: "Deployment".into(),
                name: "app".into()
            })
        );
        assert_eq!(e.service_account.as_deref(), Some("runner"));
        assert_eq!(e.labels.get("app").map(String::as_str), Some("app"));
        assert_eq!(
            e.ports,
            vec![NamedPort {
                name: "http".into(),
                protocol: Protocol::Tcp,
                port: 80
            }]
        );
    }
    let mut names: Vec<&str> = eps.iter().map(|e| e.name.as_str()).collect();
    names.dedup();
    assert_eq!(names.len(), 3);
}

#[test]
fn every_controller_kind_has_its_naming() {
    let cases = [
        ("ReplicaSet", "apps/v1", "  replicas: 2\n", 2),
        ("ReplicationController", "v1", "  replicas: 2\n", 2),
        ("DaemonSet", "apps/v1", "", 1),
        ("Job", "batch/v1", "", 1),
    ];
    for (kind, api, spec, count) in cases {
        let inv = inventory(&workload(kind, api, spec));
        assert_eq!(inv.endpoints.len(), count, "{kind}");
        for e in &inv.endpoints {
            let suffix = e
                .name
                .strip_prefix("app-")
                .unwrap_or_else(|| panic!("{kind}: {}", e.name));
            assert!(suffix.len() == 5 && is_safe(suffix), "{kind}: {}", e.name);
            assert_eq!(e.name_aggr, "app-*", "{kind}");
            assert_eq!(e.workload.as_ref().map(|w| w.kind.as_str()), Some(kind));
        }
    }

    let inv = inventory(&workload("StatefulSet", "apps/v1", "  replicas: 3\n"));
    let names: Vec<&str> = inv.endpoints.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, vec!["app-0", "app-1", "app-2"]);
    assert!(inv.endpoints.iter().all(|e| e.name_aggr == "app-*"));

    let cron = "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: report\nspec:\n  schedule: '*/5 * * * *'\n  jobTemplate:\n    spec:\n      template:\n        metadata:\n          labels:\n            job: report\n        spec:\n          containers:\n            - name: c\n";
    let inv = inventory(cron);
    let e = &inv.endpoints[0];
    let parts: Vec<&str> = e.name.split('-').collect();
    assert_eq!(parts.len(), 3, "{}", e.name);
    assert!(
        parts[1].len() == 8 && parts[1].chars().all(|c| c.is_ascii_digit()),
        "{}",
        e.name
    );
    assert!(parts[2].len() == 5 && is_safe(parts[2]));
    assert_eq!(e.name_aggr, format!("report-{}-*", parts[1]));
    assert_eq!(e.labels.get("job").map(String::as_str), Some("report"));
    assert_eq!(e.namespace.as_deref(), Some("default"));
}

#[test]
fn replicas_are_honoured_and_zero_still_gives_one_endpoint() {
    assert_eq!(
        inventory(&workload("Deployment", "apps/v1", ""))
            .endpoints
            .len(),
        1
    );
    assert_eq!(
        inventory(&workload("Deployment", "apps/v1", "  replicas: 7\n"))
            .endpoints
            .len(),
        7
    );
    let loaded = load(&workload("Deployment", "apps/v1", "  replicas: 0\n"));
    assert_eq!(loaded.inventory.endpoints.len(), 1);
    assert!(
        loaded
            .report
            .warnings
            .iter()
            .any(|w| w.contains("replicas: 0")),
        "{:?}",
        loaded.report.warnings
    );
}

#[test]
fn names_and_addresses_are_deterministic() {
    let text = format!(
        "{}---\n{}",
        workload("Deployment", "apps/v1", "  replicas: 2\n"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: aaa\n  namespace: ns\n"
    );
    let a = inventory(&text);
    let b = inventory(&text);
    assert_eq!(a, b);
    // Allocation follows (namespace, name) order: `aaa` sorts before `app-…`.
    let aaa = a
        .endpoints
        .iter()
        .find(|e| e.name == "aaa")
        .unwrap_or_else(|| unreachable!());
    assert_eq!(aaa.ips, vec![ip("10.244.0.1")]);
}

#[test]
fn allocation_skips_explicit_addresses() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: b\nstatus:\n  podIP: 10.244.0.1\n---\n\
                apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n---\n\
                apiVersion: v1\nkind: Service\nmetadata:\n  name: s1\nspec:\n  clusterIP: 10.96.0.1\n---\n\
                apiVersion: v1\nkind: Service\nmetadata:\n  name: s2\n";
    let inv = inventory(text);
    let a = inv
        .endpoints
        .iter()
        .find(|e| e.name == "a")
        .unwrap_or_else(|| unreachable!());
    assert_eq!(a.ips, vec![ip("10.244.0.2")]);
    let s2 = inv
        .services
        .iter()
        .find(|s| s.name == "s2")
        .unwrap_or_else(|| unreachable!());
    assert_eq!(s2.cluster_ips, vec![ip("10.96.0.2")]);

    let opts = LoadOptions {
        pod_cidr: "192.168.7.0/24".parse().unwrap_or_else(|_| unreachable!()),
        ..LoadOptions::default()
    };
    let inv = load_str(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n",
        "x.yaml",
        &opts,
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .inventory;
    assert_eq!(inv.endpoints[0].ips, vec![ip("192.168.7.1")]);
}

#[test]
fn exhausted_pod_cidr_is_an_error() {
    let opts = LoadOptions {
        pod_cidr: "10.0.0.0/30".parse().unwrap_or_else(|_| unreachable!()),
        ..LoadOptions::default()
    };
    let text = workload("StatefulSet", "apps/v1", "  replicas: 3\n");
    let errs = load_str(&text, "x.yaml", &opts)
        .err()
        .unwrap_or_else(|| panic!("expected an error"));
    // One error, not one per pod.
    assert_eq!(errs.len(), 1);
    assert!(
        errs.0[0]
            .message
            .contains("10.0.0.0/30 is used up: ns/app-2"),
        "{errs}"
    );
}

#[test]
fn services() {
    let text = "\
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector:
    app: web
  ports:
    - name: http
      port: 80
      targetPort: http
    - port: 8443
      protocol: TCP
      targetPort: 443
    - port: 53
      protocol: UDP
---
apiVersion: v1
kind: Service
metadata:
  name: db
  namespace: shop
spec:
  clusterIP: None
  selector:
    app: db
---
apiVersion: v1
kind: Service
metadata:
  name: external
  namespace: shop
spec:
  type: ExternalName
  externalName: example.com
---
apiVersion: v1
kind: Service
metadata:
  name: dual
  namespace: shop
spec:
  clusterIPs: [10.96.5.5, 'fd00:96::5']
";
    let inv = inventory(text);
    let get = |name: &str| {
        inv.services
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let web = get("web");
    assert_eq!(web.cluster_ips, vec![ip("10.96.0.1")]);
    assert_eq!(
        web.selector
            .as_ref()
            .and_then(|s| s.get("app"))
            .map(String::as_str),
        Some("web")
    );
    assert_eq!(
        web.ports,
        vec![
            ServicePort {
                name: Some("http".into()),
                protocol: Protocol::Tcp,
                port: 80,
                target_port: TargetPort::Name("http".into())
            },
            ServicePort {
                name: None,
                protocol: Protocol::Tcp,
                port: 8443,
                target_port: TargetPort::Number(443)
            },
            ServicePort {
                name: None,
                protocol: Protocol::Udp,
                port: 53,
                target_port: TargetPort::Number(53)
            },
        ]
    );
    assert!(get("db").cluster_ips.is_empty());
    assert!(get("external").cluster_ips.is_empty());
    assert_eq!(get("external").selector, None);
    assert_eq!(
        get("dual").cluster_ips,
        vec![ip("10.96.5.5"), ip("fd00:96::5")]
    );
}

#[test]
fn network_sets() {
    let inv = inventory(
        "apiVersion: projectcalico.org/v3\nkind: NetworkSet\nmetadata:\n  name: partners\n  namespace: shop\n  labels:\n    role: partner\nspec:\n  nets:\n    - 198.51.100.0/24\n    - 203.0.113.7\n    - '2001:db8::1'\n  allowedEgressDomains:\n    - api.partner.example\n---\n\
         apiVersion: crd.projectcalico.org/v1\nkind: GlobalNetworkSet\nmetadata:\n  name: bad\n  labels:\n    feed: x\nspec:\n  nets: [10.1.2.3/8]\n",
    );
    let ns = inv
        .network_sets
        .iter()
        .find(|n| n.name == "partners")
        .unwrap_or_else(|| unreachable!());
    assert_eq!(ns.namespace.as_deref(), Some("shop"));
    let nets: Vec<String> = ns.nets.iter().map(|n| n.to_string()).collect();
    assert_eq!(
        nets,
        vec!["198.51.100.0/24", "203.0.113.7/32", "2001:db8::1/128"]
    );
    assert_eq!(ns.allowed_egress_domains, vec!["api.partner.example"]);
    let global = inv
        .network_sets
        .iter()
        .find(|n| n.name == "bad")
        .unwrap_or_else(|| unreachable!());
    assert_eq!(global.namespace, None);
    // Normalised to the network address, as Calico does.
    assert_eq!(global.nets[0].to_string(), "10.0.0.0/8");
    assert!(inv.namespace("shop").is_some());
}

#[test]
fn host_endpoints() {
    let inv = inventory(
        "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata:\n  name: node1-eth0\n  labels:\n    role: worker\nspec:\n  node: node1\n  interfaceName: eth0\n  expectedIPs: [192.168.1.10]\n  profiles: [projectcalico-default-allow]\n  ports:\n    - name: kubelet\n      port: 10250\n      protocol: TCP\n    - name: syslog\n      port: 514\n      protocol: UDP\n",
    );
    let e = &inv.endpoints[0];
    assert_eq!(e.endpoint_type, EndpointType::Hep);
    assert_eq!(e.namespace, None);
    assert_eq!(
        (e.name.as_str(), e.name_aggr.as_str()),
        ("node1-eth0", "node1-eth0")
    );
    assert_eq!(e.node.as_deref(), Some("node1"));
    assert_eq!(e.interface.as_deref(), Some("eth0"));
    assert_eq!(e.ips, vec![ip("192.168.1.10")]);
    assert_eq!(e.profiles, vec!["projectcalico-default-allow"]);
    assert_eq!(e.service_account, None);
    assert_eq!(
        e.ports,
        vec![
            NamedPort {
                name: "kubelet".into(),
                protocol: Protocol::Tcp,
                port: 10250
            },
            NamedPort {
                name: "syslog".into(),
                protocol: Protocol::Udp,
                port: 514
            },
        ]
    );
    assert!(inv.namespaces.is_empty());
    // A host endpoint with only expectedIPs is fine, and gets no allocated address.
    let inv = inventory(
        "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata:\n  name: h\nspec:\n  expectedIPs: [10.0.0.1]\n",
    );
    assert_eq!(inv.endpoints[0].interface, None);
}

#[test]
fn tiers() {
    let inv = inventory(
        "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: security\nspec:\n  order: 100\n---\n\
         apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: platform\nspec:\n  order: 250.5\n  defaultAction: Pass\n---\n\
         apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: unordered\n",
    );
    let names: Vec<&str> = inv
        .tiers_in_order()
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(
        names,
        vec![
            "security",
            "platform",
            "kube-admin",
            "default",
            "kube-baseline",
            "unordered"
        ]
    );
    let security = inv.tier("security").unwrap_or_else(|| unreachable!());
    assert_eq!(
        (security.order, security.default_action),
        (Some(100.0), TierDefaultAction::Deny)
    );
    let platform = inv.tier("platform").unwrap_or_else(|| unreachable!());
    assert_eq!(
        (platform.order, platform.default_action),
        (Some(250.5), TierDefaultAction::Pass)
    );
    assert_eq!(inv.tier("unordered").map(|t| t.order), Some(None));
    // The inventory keeps tiers in evaluation order.
    assert_eq!(
        inv.tiers
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        names
    );
}

#[test]
fn kubectl_lists_and_typed_lists() {
    let list = "\
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Namespace
    metadata:
      name: a
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: cfg
  - apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: d
      namespace: a
    spec:
      template:
        metadata:
          labels: {app: d}
---
apiVersion: v1
kind: PodList
items:
  - metadata:
      name: p1
      namespace: b
  - metadata:
      name: p2
      namespace: b
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicyList
items:
  - metadata:
      name: deny
      namespace: b
    spec:
      podSelector: {}
";
    let loaded = load(list);
    let inv = &loaded.inventory;
    assert_eq!(loaded.report.documents, 3);
    assert_eq!(loaded.report.resources.get("Pod"), Some(&2));
    assert_eq!(loaded.report.resources.get("Namespace"), Some(&1));
    assert_eq!(loaded.report.resources.get("Deployment"), Some(&1));
    assert_eq!(loaded.report.resources.get("NetworkPolicy"), Some(&1));
    assert_eq!(loaded.report.skipped_kinds.get("ConfigMap"), Some(&1));
    assert_eq!(inv.endpoints.len(), 3);
    assert_eq!(inv.policies.len(), 1);
    assert_eq!(
        inv.policies[0].kind,
        flowlens_model::PolicyKind::KubernetesNetworkPolicy
    );
    let namespaces: Vec<&str> = inv.namespaces.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(namespaces, vec!["a", "b"]);
}

#[test]
fn unknown_kinds_are_counted_and_skipped() {
    let loaded = load(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n\
         apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: b\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n---\n\
         apiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata:\n  name: antrea\n---\n",
    );
    assert_eq!(loaded.report.skipped_kinds.get("ConfigMap"), Some(&2));
    assert_eq!(loaded.report.skipped_kinds.get("Ingress"), Some(&1));
    // A known kind from another API group is someone else's resource.
    assert_eq!(
        loaded
            .report
            .skipped_kinds
            .get("Tier (crd.antrea.io/v1beta1)"),
        Some(&1)
    );
    assert!(loaded.report.resources.is_empty());
    assert_eq!(loaded.inventory.tiers.len(), 3);
}

#[test]
fn empty_documents_are_skipped_silently() {
    let loaded = load(
        "---\n# nothing here\n---\n\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\n",
    );
    assert_eq!(loaded.report.documents, 1);
    assert!(loaded.report.warnings.is_empty());
    assert_eq!(loaded.inventory.namespaces.len(), 1);
    let loaded = load("");
    assert_eq!(loaded.report.documents, 0);
    assert_eq!(loaded.inventory.tiers.len(), 3);
}

#[test]
fn json_files_load_and_errors_keep_positions() {
    let json = r#"{
  "apiVersion": "v1",
  "kind": "List",
  "items": [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "j", "labels": {"x": "y"}}},
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "j"}}
  ]
}"#;
    let loaded =
        load_str(json, "cluster.json", &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        loaded.inventory.namespaces[0]
            .labels
            .get("x")
            .map(String::as_str),
        Some("y")
    );
    assert_eq!(loaded.inventory.endpoints.len(), 1);

    let bad = "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Pod\",\n  \"metadata\": {\"name\": \"p\"},\n  \"spec\": {\"hostNetwork\": \"yes please\"}\n}\n";
    let errs = load_str(bad, "bad.json", &LoadOptions::default())
        .err()
        .unwrap_or_else(|| panic!("should fail"));
    let e = &errs.0[0];
    assert_eq!((e.field.as_str(), e.line), ("spec.hostNetwork", Some(5)));
    assert!(e.column.is_some());

    let broken = "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Pod\"\n  \"metadata\": {}\n}\n";
    let errs = load_str(broken, "broken.json", &LoadOptions::default())
        .err()
        .unwrap_or_else(|| panic!("should fail"));
    assert!(
        errs.0[0].line.is_some() && errs.0[0].column.is_some(),
        "{errs}"
    );
    assert!(errs.0[0].message.starts_with("invalid YAML"), "{errs}");
}

#[test]
fn later_definitions_replace_earlier_ones() {
    let loaded = load(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels: {v: '1'}\n---\n\
         apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels: {v: '2'}\n",
    );
    assert_eq!(loaded.inventory.namespaces.len(), 1);
    assert_eq!(
        loaded.inventory.namespaces[0]
            .labels
            .get("v")
            .map(String::as_str),
        Some("2")
    );
    assert!(
        loaded
            .report
            .warnings
            .iter()
            .any(|w| w.contains("replaces")),
        "{:?}",
        loaded.report.warnings
    );
}

#[test]
fn directories_are_read_recursively_in_sorted_order() {
    let dir = std::env::temp_dir().join(format!("flowlens-manifests-test-{}", std::process::id()));
    let sub = dir.join("sub");
    std::fs::create_dir_all(&sub).unwrap_or_else(|e| panic!("{e}"));
    let write =
        |p: &std::path::Path, t: &str| std::fs::write(p, t).unwrap_or_else(|e| panic!("{e}"));
    write(
        &dir.join("b.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n  labels: {from: b}\n",
    );
    write(
        &sub.join("a.yml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: sub\n",
    );
    write(
        &dir.join("a.json"),
        r#"{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b", "labels": {"from": "a"}}}"#,
    );
    write(&dir.join("notes.txt"), "not a manifest: {{{");
    write(&dir.join(".hidden.yaml"), "not: [valid");
    let loaded = load_paths(&[&dir], &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.report.files, 3);
    // a.json, b.yaml, sub/a.yml: b.yaml comes later and wins.
    let b = loaded
        .inventory
        .namespace("b")
        .unwrap_or_else(|| unreachable!());
    assert_eq!(b.labels.get("from").map(String::as_str), Some("b"));
    assert!(loaded.inventory.namespace("sub").is_some());

    // Errors from several files are all reported.
    write(
        &dir.join("c.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {}\n",
    );
    write(&sub.join("d.yaml"), "kind: [\n");
    let errs = load_paths(&[&dir, &dir.join("missing.yaml")], &LoadOptions::default())
        .err()
        .unwrap_or_else(|| panic!("should fail"));
    assert_eq!(errs.len(), 3, "{errs}");
    let text = errs.to_string();
    assert!(
        text.contains("missing.yaml") && text.contains("c.yaml") && text.contains("d.yaml"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
