//! Policy engine benchmarks on a generated cluster: 50,000 endpoints in 2,000 namespaces,
//! 10,000 services, 10,000 policies in 5 tiers, 100 global network sets.
//!
//! `cargo bench -p flowlens-policy --bench engine`
//!
//! Figures: engine build time; uncached evaluations (plan walk + rule checks, peers already
//! resolved); uncached including address resolution; cached evaluations.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowlens_model::*;
use flowlens_policy::{Engine, FiveTuple};
use flowlens_selector::Selector;
use std::hint::black_box;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

const NAMESPACES: usize = 2_000;
const APPS_PER_NS: usize = 5;
const REPLICAS: usize = 5;
const ROLES: [&str; 5] = ["web", "api", "db", "cache", "worker"];

fn s(text: &str) -> Selector {
    Selector::parse(text).expect("valid selector")
}

fn ip_of(i: usize) -> IpAddr {
    IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8])
}

fn policy(
    kind: PolicyKind,
    name: String,
    ns: Option<String>,
    tier: &str,
    order: f64,
    selector: Selector,
) -> Policy {
    Policy {
        kind,
        name,
        namespace: ns,
        tier: tier.into(),
        order: Some(order),
        selector,
        namespace_selector: None,
        service_account_selector: None,
        types: PolicyTypes {
            ingress: true,
            egress: true,
        },
        ingress: vec![],
        egress: vec![],
        do_not_track: false,
        pre_dnat: false,
        apply_on_forward: false,
        staged_action: StagedAction::Set,
        source: None,
    }
}

fn rule(action: RuleAction, dst_sel: Option<&str>, ports: &[u16]) -> Rule {
    let mut r = Rule::new(action);
    r.protocol = Some(Protocol::Tcp);
    r.destination.selector = dst_sel.map(s);
    r.destination.ports = ports.iter().map(|p| PortMatch::Single(*p)).collect();
    r
}

pub fn generate() -> Inventory {
    let mut inv = Inventory::new();
    for (name, order, action) in [
        ("security", 100.0, TierDefaultAction::Pass),
        ("platform", 200.0, TierDefaultAction::Pass),
        ("tenant", 300.0, TierDefaultAction::Pass),
        ("app", 400.0, TierDefaultAction::Deny),
    ] {
        inv.tiers.push(Tier {
            name: name.into(),
            order: Some(order),
            default_action: action,
        });
    }
    let mut n = 0usize;
    for ns_i in 0..NAMESPACES {
        let ns = format!("ns-{ns_i:04}");
        inv.namespaces.push(Namespace {
            name: ns.clone(),
            labels: [
                ("team".to_string(), format!("team-{}", ns_i % 50)),
                (
                    "env".to_string(),
                    ["prod", "dev", "staging"][ns_i % 3].to_string(),
                ),
            ]
            .into(),
        });
        for (app_i, role) in ROLES.iter().enumerate().take(APPS_PER_NS) {
            let app = format!("app-{app_i}");
            // One service per app, as real clusters have: the engine finds its backends.
            inv.services.push(Service {
                namespace: ns.clone(),
                name: app.clone(),
                cluster_ips: vec![IpAddr::from([10, 96, (n >> 8) as u8, n as u8])],
                ports: vec![ServicePort {
                    name: Some("http".into()),
                    protocol: Protocol::Tcp,
                    port: 80,
                    target_port: TargetPort::Name("http".into()),
                }],
                selector: Some([("app".to_string(), app.clone())].into()),
            });
            for r in 0..REPLICAS {
                inv.endpoints.push(Arc::new(Endpoint {
                    endpoint_type: EndpointType::Wep,
                    namespace: Some(ns.clone()),
                    name: format!("{app}-5d8f7c9b4-{r:05}"),
                    name_aggr: format!("{app}-5d8f7c9b4-*"),
                    workload: None,
                    labels: [
                        ("app".to_string(), app.clone()),
                        ("role".to_string(), role.to_string()),
                        ("version".to_string(), format!("v{}", r % 2)),
                    ]
                    .into(),
                    ips: vec![ip_of(n)],
                    service_account: Some("default".into()),
                    ports: vec![NamedPort {
                        name: "http".into(),
                        protocol: Protocol::Tcp,
                        port: 8080,
                    }],
                    node: None,
                    interface: None,
                    profiles: vec![],
                }));
                n += 1;
            }
        }
    }
    for i in 0..100 {
        inv.network_sets.push(NetworkSet {
            namespace: None,
            name: format!("feed-{i}"),
            labels: [("feed".to_string(), format!("f{}", i % 10))].into(),
            nets: vec![format!("203.0.{i}.0/24").parse().expect("cidr")],
            allowed_egress_domains: vec![],
        });
    }
    // security: 50 global policies denying threat feeds, then passing.
    for i in 0..50 {
        let mut p = policy(
            PolicyKind::GlobalNetworkPolicy,
            format!("block-{i}"),
            None,
            "security",
            i as f64,
            s(&format!("role == \"{}\"", ROLES[i % 5])),
        );
        p.types = PolicyTypes {
            ingress: false,
            egress: true,
        };
        let mut deny = Rule::new(RuleAction::Deny);
        deny.destination.selector = Some(s(&format!("feed == \"f{}\"", i % 10)));
        p.egress = vec![deny, Rule::new(RuleAction::Pass)];
        inv.policies.push(p);
    }
    // platform: 450 global policies per team allowing DNS-like traffic, then passing.
    for i in 0..450 {
        let mut p = policy(
            PolicyKind::GlobalNetworkPolicy,
            format!("platform-{i}"),
            None,
            "platform",
            i as f64,
            s("all()"),
        );
        p.namespace_selector = Some(s(&format!("team == \"team-{}\"", i % 50)));
        p.types = PolicyTypes {
            ingress: false,
            egress: true,
        };
        let mut dns = rule(RuleAction::Allow, Some("app == \"app-4\""), &[53]);
        dns.protocol = Some(Protocol::Udp);
        p.egress = vec![dns, Rule::new(RuleAction::Pass)];
        inv.policies.push(p);
    }
    // tenant: 1,500 namespaced policies passing intra-namespace traffic.
    for i in 0..1_500 {
        let ns = format!("ns-{:04}", i % NAMESPACES);
        let mut p = policy(
            PolicyKind::NetworkPolicy,
            format!("tenant-{i}"),
            Some(ns),
            "tenant",
            10.0,
            s("all()"),
        );
        let mut pass = Rule::new(RuleAction::Pass);
        pass.source.selector = Some(s("all()"));
        p.ingress = vec![pass.clone()];
        let mut pass_out = Rule::new(RuleAction::Pass);
        pass_out.destination.selector = Some(s("all()"));
        p.egress = vec![pass_out];
        inv.policies.push(p);
    }
    // app: 4,000 per-app policies (zones), Calico style.
    for i in 0..4_000 {
        let ns_i = i % NAMESPACES;
        let app_i = (i / NAMESPACES) % APPS_PER_NS;
        let ns = format!("ns-{ns_i:04}");
        let mut p = policy(
            PolicyKind::NetworkPolicy,
            format!("app-{app_i}-zone"),
            Some(ns),
            "app",
            100.0 + app_i as f64,
            s(&format!("app == \"app-{app_i}\"")),
        );
        let mut from_prev = Rule::new(RuleAction::Allow);
        from_prev.protocol = Some(Protocol::Tcp);
        from_prev.source.selector = Some(s(&format!("app == \"app-{}\"", (app_i + 4) % 5)));
        from_prev.destination.ports = vec![
            PortMatch::Named("http".into()),
            PortMatch::Range {
                first: 42000,
                last: 43000,
            },
        ];
        p.ingress = vec![from_prev];
        p.egress = vec![
            rule(
                RuleAction::Allow,
                Some(&format!("app == \"app-{}\"", (app_i + 1) % 5)),
                &[8080],
            ),
            rule(
                RuleAction::Allow,
                Some("role in {\"db\", \"cache\"}"),
                &[5432, 6379],
            ),
        ];
        inv.policies.push(p);
    }
    // default: 4,000 Kubernetes-style policies allowing ingress from labelled namespaces.
    for i in 0..4_000 {
        let ns = format!("ns-{:04}", i % NAMESPACES);
        let mut p = policy(
            PolicyKind::KubernetesNetworkPolicy,
            format!("allow-{i}"),
            Some(ns),
            "default",
            1000.0,
            s(&format!(
                "role == \"{}\" && projectcalico.org/orchestrator == \"k8s\"",
                ROLES[i % 5]
            )),
        );
        p.types = PolicyTypes {
            ingress: true,
            egress: false,
        };
        let mut r = Rule::new(RuleAction::Allow);
        r.protocol = Some(Protocol::Tcp);
        r.source.namespace_selector = Some(s(&format!("team == \"team-{}\"", i % 50)));
        r.source.selector = Some(s("projectcalico.org/orchestrator == \"k8s\""));
        r.destination.ports = vec![PortMatch::Single(8080)];
        p.ingress = vec![r];
        inv.policies.push(p);
    }
    inv
}

/// Deterministic pseudo-random flows between endpoints, plus some to the outside.
fn flows(inv: &Inventory, count: usize) -> Vec<FiveTuple> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let n = inv.endpoints.len() as u64;
    (0..count)
        .map(|_| {
            let src = ip_of((next() % n) as usize);
            let dst = if next() % 10 == 0 {
                IpAddr::from([203, 0, (next() % 120) as u8, 9])
            } else {
                // Mostly within a namespace, as real traffic is.
                let base = (next() % n) as usize / 25 * 25;
                ip_of(base + (next() % 25) as usize)
            };
            let dst_port = [8080, 5432, 6379, 42001, 443][(next() % 5) as usize];
            FiveTuple {
                src,
                dst,
                protocol: Protocol::Tcp,
                src_port: 40000 + (next() % 20000) as u16,
                dst_port,
                icmp: None,
            }
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let inv = generate();
    let mut group = c.benchmark_group("engine");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("build_50k_endpoints_10k_policies", |b| {
        b.iter(|| black_box(Engine::new(inv.clone())))
    });
    group.finish();

    let engine = Engine::new(inv.clone());
    eprintln!("engine stats: {:?}", engine.stats());
    let flows = flows(&inv, 10_000);
    let resolved: Vec<_> = flows
        .iter()
        .map(|f| (engine.resolve(f.src), engine.resolve(f.dst), *f))
        .collect();
    let denied = resolved
        .iter()
        .filter(|(s, d, f)| engine.evaluate_peers(s, d, f).action == flowlens_policy::Action::Deny)
        .count();
    eprintln!("{denied} of {} sample flows denied", resolved.len());

    let mut group = c.benchmark_group("evaluate");
    group.throughput(Throughput::Elements(resolved.len() as u64));
    group.bench_function("uncached_resolved_peers", |b| {
        b.iter(|| {
            for (s, d, f) in &resolved {
                black_box(engine.evaluate_peers(s, d, f));
            }
        })
    });
    group.bench_function("uncached_with_address_resolution", |b| {
        b.iter(|| {
            for f in &flows {
                let (s, d) = (engine.resolve(f.src), engine.resolve(f.dst));
                black_box(engine.evaluate_peers(&s, &d, f));
            }
        })
    });
    for f in &flows {
        engine.evaluate(f);
    }
    group.bench_function("cached", |b| {
        b.iter(|| {
            for f in &flows {
                black_box(engine.evaluate(f));
            }
        })
    });
    group.finish();
}

criterion_group!(engine_benches, benches);
criterion_main!(engine_benches);
