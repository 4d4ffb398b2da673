//! Enforcing a recommendation, checked with the policy engine on random clusters and random
//! traffic: no flow that was observed and allowed is denied, every attempted flow between
//! namespaces it covers is allowed (when learning from attempts), and a port nobody used is
//! denied (least privilege).

use flowlens_advisor::{Learn, ObservedEnd, ObservedFlow, Options, recommend};
use flowlens_model::{Action, EndpointType, Inventory, Labels, Protocol, Reporter, RuleDirection};
use flowlens_policy::{Engine, FiveTuple};
use proptest::prelude::*;
use std::fmt::Write as _;
use std::net::IpAddr;

/// A workload: namespace index, labels, replicas.
#[derive(Clone, Debug)]
struct Workload {
    ns: usize,
    app: u8,
    tier: u8,
    replicas: u8,
}

/// An existing policy a namespace may have: ingress or egress allowed on one port only.
#[derive(Clone, Debug)]
enum Existing {
    None,
    IngressOnly(u16),
    EgressOnly(u16),
}

const PORTS: &[u16] = &[53, 80, 443, 5432, 8080];
/// Never used by the generated traffic.
const UNUSED_PORT: u16 = 9;

#[derive(Clone, Debug)]
struct Cluster {
    workloads: Vec<Workload>,
    existing: Vec<Existing>,
    /// (source, destination, protocol is UDP, port): ends index pods (then external addresses).
    traffic: Vec<(usize, usize, bool, u16)>,
    /// Whether each flow log keeps addresses and names (else only aggregated names).
    keep_addresses: bool,
}

const NAMESPACES: usize = 3;
const EXTERNAL: &[&str] = &["203.0.113.5", "192.168.7.7", "198.51.100.20"];

fn manifests(c: &Cluster) -> String {
    let mut y = String::new();
    for ns in 0..NAMESPACES {
        let _ = writeln!(
            y,
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: ns{ns}}}\n---"
        );
    }
    y.push_str(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system}\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: coredns, namespace: kube-system}\n\
         spec:\n  replicas: 1\n  template:\n    metadata:\n      labels: {k8s-app: kube-dns}\n---\n\
         apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: docs, labels: {zone: docs}}\n\
         spec:\n  nets: [198.51.100.0/24]\n---\n",
    );
    for (i, w) in c.workloads.iter().enumerate() {
        let _ = writeln!(
            y,
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: w{i}, namespace: ns{}}}\n\
             spec:\n  replicas: {}\n  template:\n    metadata:\n      labels: {{app: a{}, tier: t{}, pod-template-hash: h{i}}}\n---",
            w.ns, w.replicas, w.app, w.tier
        );
    }
    for (ns, e) in c.existing.iter().enumerate() {
        let (types, rules) = match e {
            Existing::None => continue,
            Existing::IngressOnly(p) => (
                "[Ingress]",
                format!(
                    "ingress:\n    - action: Allow\n      protocol: TCP\n      destination: {{ports: [{p}]}}"
                ),
            ),
            Existing::EgressOnly(p) => (
                "[Egress]",
                format!(
                    "egress:\n    - action: Allow\n      protocol: TCP\n      destination: {{ports: [{p}]}}"
                ),
            ),
        };
        let _ = writeln!(
            y,
            "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {{name: only-one-port, namespace: ns{ns}}}\n\
             spec:\n  selector: all()\n  types: {types}\n  {rules}\n---"
        );
    }
    y
}

fn arb_cluster() -> impl Strategy<Value = Cluster> {
    let workload =
        (0..NAMESPACES, 0u8..3, 0u8..2, 1u8..3).prop_map(|(ns, app, tier, replicas)| Workload {
            ns,
            app,
            tier,
            replicas,
        });
    let existing = prop_oneof![
        Just(Existing::None),
        prop::sample::select(PORTS).prop_map(Existing::IngressOnly),
        prop::sample::select(PORTS).prop_map(Existing::EgressOnly),
    ];
    (
        prop::collection::vec(workload, 1..6),
        prop::collection::vec(existing, NAMESPACES),
        prop::collection::vec(
            (
                0usize..64,
                0usize..64,
                any::<bool>(),
                prop_oneof![prop::sample::select(PORTS), 42000u16..42040],
            ),
            1..40,
        ),
        any::<bool>(),
    )
        .prop_map(|(workloads, existing, traffic, keep_addresses)| Cluster {
            workloads,
            existing,
            traffic,
            keep_addresses,
        })
}

/// Addresses of the cluster's pods (coredns included), then the external ones.
fn ends(inv: &Inventory) -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = inv
        .endpoints
        .iter()
        .filter(|e| e.endpoint_type == EndpointType::Wep)
        .filter_map(|e| e.ips.first().copied())
        .collect();
    v.extend(EXTERNAL.iter().map(|a| a.parse::<IpAddr>().unwrap()));
    v
}

/// The flow-log end the pipeline would write for `ip`.
fn observed_end(engine: &Engine, ip: IpAddr, keep: bool) -> ObservedEnd {
    let peer = engine.resolve(ip);
    let a = engine.attribute(&peer);
    let labels: Labels = engine.peer_labels(&peer).cloned().unwrap_or_default();
    ObservedEnd {
        endpoint_type: Some(a.endpoint_type),
        namespace: a.namespace,
        name: keep.then_some(a.name),
        name_aggr: a.name_aggr,
        ip: keep.then_some(ip),
        labels: if keep { labels } else { Labels::new() },
    }
}

/// Flow logs of one connection as Calico reports them: the source's (egress verdict) when
/// the source is a cluster endpoint, the destination's (ingress verdict) when the packet got
/// there.
fn observe(engine: &Engine, flow: &FiveTuple, keep: bool) -> Vec<ObservedFlow> {
    let v = engine.evaluate(flow);
    let mut out = Vec::new();
    let record = |reporter, action| ObservedFlow {
        source: observed_end(engine, flow.src, keep),
        dest: observed_end(engine, flow.dst, keep),
        proto: flow.protocol,
        dest_port: Some(flow.dst_port),
        action,
        reporter,
        num_flows: 1,
    };
    if let Some(e) = &v.egress {
        out.push(record(Reporter::Src, e.action));
    }
    if let Some(i) = &v.ingress
        && v.egress.as_ref().is_none_or(|e| e.action == Action::Allow)
    {
        out.push(record(Reporter::Dst, i.action));
    }
    out
}

fn in_scope(engine: &Engine, ip: IpAddr) -> bool {
    let peer = engine.resolve(ip);
    match engine.attribute(&peer).namespace {
        Some(ns) => ns.starts_with("ns"),
        None => true,
    }
}

/// Checks the properties; returns how many observed flows were allowed and denied today.
fn check(cluster: &Cluster, learn: Learn) -> Result<(usize, usize), TestCaseError> {
    let inv =
        flowlens_manifests::load_str(&manifests(cluster), "cluster.yaml", &Default::default())
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .inventory;
    let engine = Engine::new(inv.clone());
    let addresses = ends(&inv);
    let mut tuples = Vec::new();
    for &(s, d, udp, port) in &cluster.traffic {
        let (src, dst) = (
            addresses[s % addresses.len()],
            addresses[d % addresses.len()],
        );
        if src == dst {
            continue;
        }
        tuples.push(FiveTuple {
            src,
            dst,
            protocol: if udp { Protocol::Udp } else { Protocol::Tcp },
            src_port: 40000,
            dst_port: port,
            icmp: None,
        });
    }
    let observed: Vec<ObservedFlow> = tuples
        .iter()
        .flat_map(|t| observe(&engine, t, cluster.keep_addresses))
        .collect();
    let rec = recommend(
        &inv,
        &observed,
        &Options {
            learn,
            ..Options::default()
        },
    );
    let enforced = Engine::new(
        rec.apply_to(&inv, true)
            .map_err(|e| TestCaseError::fail(e.to_string()))?,
    );
    let (mut allowed, mut denied) = (0, 0);
    for t in &tuples {
        let before = engine.evaluate(t).action;
        if before == Action::Allow {
            allowed += 1;
        } else {
            denied += 1;
        }
        let after = enforced.evaluate(t).action;
        if before == Action::Allow {
            prop_assert_eq!(
                after,
                Action::Allow,
                "observed and allowed, denied once enforced: {:?}",
                t
            );
        }
        if learn == Learn::Attempted && in_scope(&engine, t.src) && in_scope(&engine, t.dst) {
            prop_assert_eq!(after, Action::Allow, "attempted, still denied: {:?}", t);
        }
    }
    // Least privilege: a port no flow used is denied between any two pods the
    // recommendation covers (by the egress policy of the source's namespace).
    for &src in &addresses {
        for &dst in &addresses {
            let covered = |ip| {
                let p = engine.resolve(ip);
                engine
                    .attribute(&p)
                    .namespace
                    .is_some_and(|ns| ns.starts_with("ns"))
            };
            if src == dst || !covered(src) {
                continue;
            }
            let t = FiveTuple {
                src,
                dst,
                protocol: Protocol::Tcp,
                src_port: 40000,
                dst_port: UNUSED_PORT,
                icmp: None,
            };
            prop_assert_eq!(
                enforced.evaluate(&t).action,
                Action::Deny,
                "never-used port allowed: {:?}",
                t
            );
        }
    }
    // Every policy the recommendation makes is staged until enforced, and has its evidence.
    for p in &rec.policies {
        prop_assert!(p.policy.kind.is_staged());
        let ingress = p.direction == RuleDirection::Ingress;
        prop_assert_eq!(p.evidence.len(), p.policy.rules(ingress).len());
    }
    Ok((allowed, denied))
}

/// The checks above see both kinds of traffic: a fixed cluster where one namespace allows
/// ingress on 80 only, with traffic on 80 and 443 into it.
#[test]
fn the_checks_see_allowed_and_denied_traffic() {
    let cluster = Cluster {
        workloads: vec![
            Workload {
                ns: 0,
                app: 0,
                tier: 0,
                replicas: 2,
            },
            Workload {
                ns: 1,
                app: 1,
                tier: 1,
                replicas: 1,
            },
        ],
        existing: vec![Existing::None, Existing::IngressOnly(80), Existing::None],
        // Pods 0 and 1 are ns0's, pod 2 is ns1's (pod 3 is coredns).
        traffic: vec![
            (0, 2, false, 80),
            (1, 2, false, 443),
            (2, 0, true, 53),
            (0, 3, true, 53),
        ],
        keep_addresses: true,
    };
    for learn in [Learn::Attempted, Learn::AllowedOnly] {
        let (allowed, denied) = check(&cluster, learn).unwrap();
        assert!(
            allowed >= 2 && denied >= 1,
            "{learn:?}: {allowed} allowed, {denied} denied"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn enforcing_what_was_attempted_denies_no_observed_allowed_flow(cluster in arb_cluster()) {
        check(&cluster, Learn::Attempted).map(|_| ())?;
    }

    #[test]
    fn enforcing_what_was_allowed_denies_no_observed_allowed_flow(cluster in arb_cluster()) {
        check(&cluster, Learn::AllowedOnly).map(|_| ())?;
    }
}
