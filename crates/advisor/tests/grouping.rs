//! How observed flows become rules: grouping by workload, namespace, DNS, network sets and
//! addresses; label choice; ranges; determinism.

use flowlens_advisor::{Learn, ObservedEnd, ObservedFlow, Options, recommend};
use flowlens_model::{
    Action, EndpointType, Inventory, Policy, PortMatch, Protocol, Reporter, Rule, RuleDirection,
};
use flowlens_selector::Selector;

const CLUSTER: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: data}
---
apiVersion: v1
kind: Namespace
metadata: {name: kube-system}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  template:
    metadata:
      labels: {app: shop, app.kubernetes.io/component: web, team: a}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  replicas: 2
  template:
    metadata:
      labels: {app: shop, app.kubernetes.io/component: api, team: a}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: data}
spec:
  replicas: 2
  template:
    metadata:
      labels: {app.kubernetes.io/name: postgres, controller-revision-hash: db-5d8f}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system}
spec:
  replicas: 1
  template:
    metadata:
      labels: {k8s-app: kube-dns}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata:
  name: partners
  labels: {partner: "true"}
spec:
  nets: [198.51.100.0/24]
"#;

fn inventory() -> Inventory {
    flowlens_manifests::load_str(CLUSTER, "cluster.yaml", &Default::default())
        .expect("cluster loads")
        .inventory
}

/// The end of the first pod of `ns/workload`.
fn pod(inv: &Inventory, ns: &str, workload: &str) -> ObservedEnd {
    let e = inv
        .endpoints
        .iter()
        .find(|e| {
            e.namespace.as_deref() == Some(ns) && e.name_aggr.starts_with(&format!("{workload}-"))
        })
        .unwrap_or_else(|| panic!("{ns}/{workload}"));
    ObservedEnd {
        endpoint_type: Some(EndpointType::Wep),
        namespace: Some(ns.into()),
        name: Some(e.name.clone()),
        name_aggr: e.name_aggr.clone(),
        ip: e.ips.first().copied(),
        labels: e.labels.clone(),
    }
}

fn net(ip: &str) -> ObservedEnd {
    ObservedEnd {
        endpoint_type: Some(EndpointType::Net),
        name_aggr: "pub".into(),
        ip: Some(ip.parse().unwrap()),
        ..ObservedEnd::default()
    }
}

fn flow(src: &ObservedEnd, dst: &ObservedEnd, proto: Protocol, port: u16) -> ObservedFlow {
    ObservedFlow {
        source: src.clone(),
        dest: dst.clone(),
        proto,
        dest_port: Some(port),
        action: Action::Allow,
        reporter: Reporter::Src,
        num_flows: 1,
    }
}

fn policy<'a>(rec: &'a flowlens_advisor::Recommendation, name: &str) -> &'a Policy {
    &rec.policies
        .iter()
        .find(|p| p.policy.name == name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", names(rec)))
        .policy
}

fn names(rec: &flowlens_advisor::Recommendation) -> Vec<String> {
    rec.policies.iter().map(|p| p.policy.name.clone()).collect()
}

fn sel(rule_side: &Option<Selector>) -> String {
    rule_side
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default()
}

fn traffic(inv: &Inventory) -> Vec<ObservedFlow> {
    let web = pod(inv, "shop", "web");
    let api = pod(inv, "shop", "api");
    let db = pod(inv, "data", "db");
    let dns = pod(inv, "kube-system", "coredns");
    let mut flows = vec![
        flow(&web, &api, Protocol::Tcp, 8080),
        flow(&api, &db, Protocol::Tcp, 5432),
        flow(&web, &dns, Protocol::Udp, 53),
        flow(&api, &dns, Protocol::Udp, 53),
        flow(&api, &net("198.51.100.7"), Protocol::Tcp, 443),
        flow(&api, &net("203.0.113.9"), Protocol::Tcp, 443),
        flow(&api, &net("203.0.113.10"), Protocol::Tcp, 443),
    ];
    // A dense pool from api to db.
    for p in (30000..=30100).filter(|p| p % 7 != 3) {
        flows.push(flow(&api, &db, Protocol::Tcp, p));
    }
    flows
}

#[test]
fn one_ingress_and_one_egress_policy_per_namespace_in_the_tier() {
    let inv = inventory();
    let rec = recommend(&inv, &traffic(&inv), &Options::default());
    // kube-system is the platform's: left out unless asked for.
    assert_eq!(
        names(&rec),
        [
            "namespace-isolation.data-ingress",
            "namespace-isolation.data-egress",
            "namespace-isolation.shop-ingress",
            "namespace-isolation.shop-egress",
        ]
    );
    assert_eq!(rec.tier.name, "namespace-isolation");
    assert_eq!(rec.tier.order, Some(10_000.0));
    for p in &rec.policies {
        assert!(p.policy.kind.is_staged());
        assert_eq!(p.policy.tier, "namespace-isolation");
        assert!(p.policy.selector.is_all());
        let ingress = p.direction == RuleDirection::Ingress;
        assert_eq!(
            (p.policy.types.ingress, p.policy.types.egress),
            (ingress, !ingress)
        );
        assert_eq!(p.evidence.len(), p.policy.rules(ingress).len());
    }
    // data sends nothing: its egress policy has no rule (everything denied once enforced).
    assert!(
        policy(&rec, "namespace-isolation.data-egress")
            .egress
            .is_empty()
    );
    let only = Options {
        namespaces: vec!["kube-system".into()],
        ..Options::default()
    };
    assert_eq!(
        names(&recommend(&inv, &traffic(&inv), &only)),
        [
            "namespace-isolation.kube-system-ingress",
            "namespace-isolation.kube-system-egress"
        ]
    );
}

#[test]
fn rules_name_workloads_namespaces_dns_sets_and_addresses() {
    let inv = inventory();
    let rec = recommend(&inv, &traffic(&inv), &Options::default());
    let egress = &policy(&rec, "namespace-isolation.shop-egress").egress;
    let describe = |r: &Rule| {
        format!(
            "{} {} -> ns[{}] {} nets{:?} not{:?} ports{:?}",
            r.protocol.map(|p| p.to_string()).unwrap_or_default(),
            sel(&r.source.selector),
            sel(&r.destination.namespace_selector),
            sel(&r.destination.selector),
            r.destination
                .nets
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            r.destination.not_nets.len(),
            r.destination
                .ports
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
        )
    };
    let got: Vec<String> = egress.iter().map(describe).collect();
    let want = [
        // Cluster DNS first, for the whole namespace, UDP and TCP.
        r#"TCP  -> ns[kubernetes.io/metadata.name == "kube-system"] k8s-app == "kube-dns" nets[] not0 ports["53"]"#,
        r#"UDP  -> ns[kubernetes.io/metadata.name == "kube-system"] k8s-app == "kube-dns" nets[] not0 ports["53"]"#,
        // Same namespace: `app` is shared by web and api, so the component is added.
        r#"TCP (app == "shop" && app.kubernetes.io/component == "web") -> ns[] (app == "shop" && app.kubernetes.io/component == "api") nets[] not0 ports["8080"]"#,
        // Another namespace: by its name and the workload's labels, never the revision hash;
        // the pool as a range.
        r#"TCP (app == "shop" && app.kubernetes.io/component == "api") -> ns[kubernetes.io/metadata.name == "data"] app.kubernetes.io/name == "postgres" nets[] not0 ports["5432", "30000:30100"]"#,
        // The address a GlobalNetworkSet holds, by the set's labels.
        r#"TCP (app == "shop" && app.kubernetes.io/component == "api") -> ns[global()] partner == "true" nets[] not0 ports["443"]"#,
        // Other addresses as CIDRs, in one rule.
        r#"TCP (app == "shop" && app.kubernetes.io/component == "api") -> ns[]  nets["203.0.113.9/32", "203.0.113.10/32"] not0 ports["443"]"#,
    ];
    assert_eq!(got, want);

    let ingress = &policy(&rec, "namespace-isolation.data-ingress").ingress;
    assert_eq!(ingress.len(), 1);
    let r = &ingress[0];
    assert_eq!(
        sel(&r.source.namespace_selector),
        r#"kubernetes.io/metadata.name == "shop""#
    );
    assert_eq!(
        sel(&r.destination.selector),
        r#"app.kubernetes.io/name == "postgres""#
    );
    assert_eq!(
        r.destination.ports,
        [
            PortMatch::Single(5432),
            PortMatch::Range {
                first: 30000,
                last: 30100
            }
        ]
    );
}

#[test]
fn output_does_not_depend_on_the_order_of_flows() {
    let inv = inventory();
    let mut flows = traffic(&inv);
    let a = recommend(&inv, &flows, &Options::default());
    flows.reverse();
    flows.rotate_left(3);
    let b = recommend(&inv, &flows, &Options::default());
    assert_eq!(a, b);
}

#[test]
fn aggregated_ends_resolve_through_the_inventory() {
    let inv = inventory();
    // Names and addresses aggregated away: `web-<hash>-*` and `pvt`/`pub` only.
    let mut web = pod(&inv, "shop", "web");
    web.name = None;
    web.ip = None;
    web.labels.clear();
    let mut db = pod(&inv, "data", "db");
    db.name = None;
    db.ip = None;
    db.labels.clear();
    let pvt = ObservedEnd {
        endpoint_type: Some(EndpointType::Net),
        name_aggr: "pvt".into(),
        ..ObservedEnd::default()
    };
    let flows = [
        flow(&web, &db, Protocol::Tcp, 5432),
        flow(&web, &pvt, Protocol::Tcp, 9000),
    ];
    let rec = recommend(&inv, &flows, &Options::default());
    let egress = &policy(&rec, "namespace-isolation.shop-egress").egress;
    assert_eq!(
        sel(&egress[0].destination.selector),
        r#"app.kubernetes.io/name == "postgres""#
    );
    assert_eq!(egress[1].destination.nets, flowlens_advisor::private_nets());
}

#[test]
fn allowed_only_leaves_denied_traffic_out() {
    let inv = inventory();
    let web = pod(&inv, "shop", "web");
    let api = pod(&inv, "shop", "api");
    let mut denied = flow(&web, &api, Protocol::Tcp, 9999);
    denied.action = Action::Deny;
    let flows = [flow(&web, &api, Protocol::Tcp, 8080), denied];
    let ports = |learn: Learn| {
        let rec = recommend(
            &inv,
            &flows,
            &Options {
                learn,
                ..Options::default()
            },
        );
        let p = rec
            .policies
            .iter()
            .find(|p| p.policy.name == "namespace-isolation.shop-egress")
            .unwrap();
        let ports = p.policy.egress[0].destination.ports.clone();
        (ports, p.evidence[0])
    };
    let (attempted, evidence) = ports(Learn::Attempted);
    assert_eq!(
        attempted,
        [PortMatch::Single(8080), PortMatch::Single(9999)]
    );
    assert_eq!(
        (evidence.allowed_connections, evidence.denied_connections),
        (1, 1)
    );
    let (allowed, _) = ports(Learn::AllowedOnly);
    assert_eq!(allowed, [PortMatch::Single(8080)]);
}
