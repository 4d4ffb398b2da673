//! The `scale` scenario: a cluster of any size built in code, deterministic by seed.
//!
//! Namespaces carry `team`, `env` and `tenant` labels. Workloads cycle through five roles
//! (`web`, `api`, `db`, `cache`, `worker`) per namespace, each with `E` pods labelled
//! `app`, `role` and `version`, and a Service for every role but `worker`. Policies follow
//! the usual layering: a `security` tier of GlobalNetworkPolicies (threat feed, tenant
//! isolation), a `platform` tier (DNS, partner egress per team), then per-role namespaced
//! policies with selectors, ports and port ranges in the remaining tiers, the built-in
//! `default` tier last (some of its policies shaped as Kubernetes NetworkPolicies). Traffic
//! is mostly within a namespace (web → api → db/cache, worker → api/cache), some across
//! namespaces, some to partner APIs and the internet, a trickle to a threat feed, and DNS
//! from everything.

use crate::builtin::SCALE;
use crate::error::{Error, Result};
use crate::peer::PeerRef;
use crate::scenario::Scenario;
use crate::spec::{Origin, TrafficSpec};
use crate::units::{Jittered, PortItem};
use flowlens_model::*;
use flowlens_selector::Selector;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

/// The size of a generated cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct ScaleParams {
    /// N, besides `kube-system`.
    pub namespaces: usize,
    /// M, in total (spread round-robin over the namespaces).
    pub workloads: usize,
    /// P, in total.
    pub policies: usize,
    /// T, counting the built-in `default` tier.
    pub tiers: usize,
    /// R, connections per second across the whole cluster.
    pub flows_per_second: f64,
    /// E, pods per workload.
    pub endpoints_per_workload: usize,
    /// Shapes the cluster (labels, cross-namespace calls); the generator has its own seed.
    pub seed: u64,
}

impl Default for ScaleParams {
    /// A cluster that is quick to explore: 50 namespaces, 250 workloads with 2 pods each,
    /// 100 policies in 5 tiers, 1,000 connections per second.
    fn default() -> Self {
        ScaleParams {
            namespaces: 50,
            workloads: 250,
            policies: 100,
            tiers: 5,
            flows_per_second: 1_000.0,
            endpoints_per_workload: 2,
            seed: 1,
        }
    }
}

/// Pods are numbered into 10.128.0.0/9, services into 10.96.0.0/12.
const MAX_ENDPOINTS: usize = (1 << 23) - 16;
const MAX_SERVICES: usize = (1 << 20) - 512;

impl ScaleParams {
    pub fn validate(&self) -> std::result::Result<(), String> {
        let total = self.workloads.saturating_mul(self.endpoints_per_workload);
        if self.namespaces == 0
            || self.workloads == 0
            || self.endpoints_per_workload == 0
            || self.tiers == 0
        {
            return Err(
                "namespaces, workloads, endpoints per workload and tiers must be at least 1".into(),
            );
        }
        if total > MAX_ENDPOINTS {
            return Err(format!(
                "{total} endpoints do not fit the pod range (at most {MAX_ENDPOINTS})"
            ));
        }
        if self.workloads > MAX_SERVICES {
            return Err(format!(
                "{} workloads do not fit the service range (at most {MAX_SERVICES})",
                self.workloads
            ));
        }
        if !(self.flows_per_second.is_finite() && self.flows_per_second >= 0.0) {
            return Err("flows per second must be a number ≥ 0".into());
        }
        Ok(())
    }
}

impl Scenario {
    /// The `scale` scenario for these parameters.
    pub fn scale(params: &ScaleParams) -> Result<Scenario> {
        params.validate().map_err(Error::ScaleParams)?;
        let cluster = Cluster::build(params);
        let traffic = cluster.traffic(params);
        let description = format!(
            "Generated: {} namespaces, {} workloads × {} pods, {} policies in {} tiers, {} connections/s",
            params.namespaces,
            params.workloads,
            params.endpoints_per_workload,
            cluster.inventory.policies.len(),
            params.tiers,
            params.flows_per_second
        );
        Scenario::from_parts(
            SCALE,
            &description,
            cluster.inventory,
            traffic,
            BTreeMap::new(),
        )
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Web,
    Api,
    Db,
    Cache,
    Worker,
}

const ROLES: [Role; 5] = [Role::Web, Role::Api, Role::Db, Role::Cache, Role::Worker];

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Web => "web",
            Role::Api => "api",
            Role::Db => "db",
            Role::Cache => "cache",
            Role::Worker => "worker",
        }
    }

    /// (port name, container port, service port)
    fn port(self) -> (&'static str, u16, u16) {
        match self {
            Role::Web => ("http", 8080, 80),
            Role::Api => ("grpc", 9090, 9090),
            Role::Db => ("postgres", 5432, 5432),
            Role::Cache => ("redis", 6379, 6379),
            Role::Worker => ("metrics", 9100, 9100),
        }
    }

    fn process(self) -> &'static str {
        match self {
            Role::Web => "nginx",
            Role::Api => "java",
            Role::Db => "postgres",
            Role::Cache => "redis-server",
            Role::Worker => "python3",
        }
    }
}

struct Workload {
    namespace: usize,
    name: String,
    role: Role,
}

struct Cluster {
    inventory: Inventory,
    namespaces: Vec<String>,
    /// Workloads per namespace, by index into `workloads`.
    by_namespace: Vec<Vec<usize>>,
    workloads: Vec<Workload>,
}

fn sel(text: &str) -> Selector {
    // Only selectors written here reach this, and a unit test parses each shape; `all()`
    // keeps a typo from panicking.
    Selector::parse(text).unwrap_or_else(|_| Selector::all())
}

fn labels<const N: usize>(pairs: [(&str, String); N]) -> Labels {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn pod_ip(n: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(
        u32::from(Ipv4Addr::new(10, 128, 0, 0)) + 2 + n as u32,
    ))
}

fn service_ip(n: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(
        u32::from(Ipv4Addr::new(10, 96, 2, 0)) + n as u32,
    ))
}

const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn safe_chars(rng: &mut ChaCha8Rng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(SAFE_ALPHABET[rng.random_range(0..SAFE_ALPHABET.len())]))
        .collect()
}

fn policy(
    kind: PolicyKind,
    name: String,
    namespace: Option<String>,
    tier: &str,
    order: f64,
    selector: Selector,
) -> Policy {
    Policy {
        kind,
        name,
        namespace,
        tier: tier.to_owned(),
        order: Some(order),
        selector,
        namespace_selector: None,
        service_account_selector: None,
        types: PolicyTypes {
            ingress: false,
            egress: false,
        },
        ingress: Vec::new(),
        egress: Vec::new(),
        do_not_track: false,
        pre_dnat: false,
        apply_on_forward: false,
        staged_action: StagedAction::Set,
        source: None,
    }
}

fn rule(action: RuleAction, protocol: Option<Protocol>) -> Rule {
    let mut r = Rule::new(action);
    r.protocol = protocol;
    r
}

fn ports(list: &[u16]) -> Vec<PortMatch> {
    list.iter().map(|&p| PortMatch::Single(p)).collect()
}

const TIER_NAMES: [&str; 6] = [
    "security",
    "platform",
    "tenant",
    "app",
    "compliance",
    "team",
];

impl Cluster {
    fn build(p: &ScaleParams) -> Cluster {
        let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
        let mut inv = Inventory::new();
        let width = p
            .namespaces
            .saturating_sub(1)
            .max(1)
            .to_string()
            .len()
            .max(4);
        let namespaces: Vec<String> = (0..p.namespaces)
            .map(|i| format!("ns-{i:0width$}"))
            .collect();
        for (i, ns) in namespaces.iter().enumerate() {
            let env = match rng.random_range(0..20) {
                0..12 => "prod",
                12..17 => "staging",
                _ => "dev",
            };
            inv.namespaces.push(Namespace {
                name: ns.clone(),
                labels: labels([
                    ("team", format!("team-{}", i % 50)),
                    ("env", env.to_owned()),
                    ("tenant", format!("tenant-{}", i % 20)),
                ]),
            });
        }
        inv.namespaces.push(Namespace {
            name: "kube-system".into(),
            labels: Labels::new(),
        });

        let mut workloads = Vec::with_capacity(p.workloads);
        let mut by_namespace = vec![Vec::new(); p.namespaces];
        for j in 0..p.workloads {
            let (namespace, k) = (j % p.namespaces, j / p.namespaces);
            let role = ROLES[k % ROLES.len()];
            by_namespace[namespace].push(workloads.len());
            workloads.push(Workload {
                namespace,
                name: format!("{}-{}", role.name(), k / ROLES.len()),
                role,
            });
        }

        inv.endpoints
            .reserve(p.workloads * p.endpoints_per_workload + 2);
        for r in 0..2 {
            inv.endpoints.push(Endpoint {
                endpoint_type: EndpointType::Wep,
                namespace: Some("kube-system".into()),
                name: format!("coredns-5d78c9869d-{}", ["x7k2p", "q9w4m"][r]),
                name_aggr: "coredns-5d78c9869d-*".into(),
                workload: Some(WorkloadRef {
                    kind: "Deployment".into(),
                    name: "coredns".into(),
                }),
                labels: labels([("k8s-app", "kube-dns".to_owned())]),
                ips: vec![pod_ip(r)],
                service_account: Some("coredns".into()),
                ports: vec![
                    NamedPort {
                        name: "dns".into(),
                        protocol: Protocol::Udp,
                        port: 53,
                    },
                    NamedPort {
                        name: "dns-tcp".into(),
                        protocol: Protocol::Tcp,
                        port: 53,
                    },
                ],
                node: Some("node-0".into()),
                interface: None,
                profiles: Vec::new(),
            });
        }
        inv.services.push(Service {
            namespace: "kube-system".into(),
            name: "kube-dns".into(),
            cluster_ips: vec![IpAddr::V4(Ipv4Addr::new(10, 96, 0, 10))],
            ports: vec![
                ServicePort {
                    name: Some("dns".into()),
                    protocol: Protocol::Udp,
                    port: 53,
                    target_port: TargetPort::Number(53),
                },
                ServicePort {
                    name: Some("dns-tcp".into()),
                    protocol: Protocol::Tcp,
                    port: 53,
                    target_port: TargetPort::Number(53),
                },
            ],
            selector: Some(labels([("k8s-app", "kube-dns".to_owned())])),
        });

        let nodes = (p.workloads * p.endpoints_per_workload / 30).max(1);
        let mut n = 2;
        for w in &workloads {
            let ns = &namespaces[w.namespace];
            let (port_name, port, service_port) = w.role.port();
            let prefix = format!("{}-{}-", w.name, safe_chars(&mut rng, 10));
            let version = if rng.random_range(0..4) == 0 {
                "v2"
            } else {
                "v1"
            };
            for _ in 0..p.endpoints_per_workload {
                inv.endpoints.push(Endpoint {
                    endpoint_type: EndpointType::Wep,
                    namespace: Some(ns.clone()),
                    name: format!("{prefix}{}", safe_chars(&mut rng, 5)),
                    name_aggr: format!("{prefix}*"),
                    workload: Some(WorkloadRef {
                        kind: "Deployment".into(),
                        name: w.name.clone(),
                    }),
                    labels: labels([
                        ("app", w.name.clone()),
                        ("role", w.role.name().to_owned()),
                        ("version", version.to_owned()),
                    ]),
                    ips: vec![pod_ip(n)],
                    service_account: Some("default".into()),
                    ports: vec![NamedPort {
                        name: port_name.into(),
                        protocol: Protocol::Tcp,
                        port,
                    }],
                    node: Some(format!("node-{}", n % nodes)),
                    interface: None,
                    profiles: Vec::new(),
                });
                n += 1;
            }
            if w.role != Role::Worker {
                let index = inv.services.len() - 1;
                inv.services.push(Service {
                    namespace: ns.clone(),
                    name: w.name.clone(),
                    cluster_ips: vec![service_ip(index)],
                    ports: vec![ServicePort {
                        name: Some(port_name.into()),
                        protocol: Protocol::Tcp,
                        port: service_port,
                        target_port: TargetPort::Name(port_name.into()),
                    }],
                    selector: Some(labels([("app", w.name.clone())])),
                });
            }
        }

        let set = |name: &str, label: &str, nets: &[&str]| NetworkSet {
            namespace: None,
            name: name.into(),
            labels: labels([(label, "true".to_owned())]),
            nets: nets.iter().filter_map(|n| n.parse().ok()).collect(),
            allowed_egress_domains: Vec::new(),
        };
        inv.network_sets = vec![
            set(
                "threat-feed",
                "threat-feed",
                &["192.0.2.0/24", "198.51.100.0/24"],
            ),
            set(
                "partner-apis",
                "partner",
                &["52.94.0.0/16", "34.120.0.0/16"],
            ),
            set("corporate", "corporate", &["203.0.113.0/24"]),
        ];

        let mut cluster = Cluster {
            inventory: inv,
            namespaces,
            by_namespace,
            workloads,
        };
        cluster.policies(p, &mut rng);
        cluster
    }

    fn policies(&mut self, p: &ScaleParams, rng: &mut ChaCha8Rng) {
        let custom = p.tiers - 1;
        let tier_names: Vec<String> = (0..custom)
            .map(|i| {
                TIER_NAMES
                    .get(i)
                    .map(|s| (*s).to_owned())
                    .unwrap_or_else(|| format!("tier-{i}"))
            })
            .collect();
        for (i, name) in tier_names.iter().enumerate() {
            self.inventory.tiers.push(Tier {
                name: name.clone(),
                order: Some(100.0 * (i + 1) as f64),
                default_action: TierDefaultAction::Pass,
            });
        }
        let has = |name: &str| tier_names.iter().any(|t| t == name);
        let mut remaining = p.policies;
        let share = (p.policies / 20).max(1);

        if has("security") {
            let count = share.min(remaining);
            remaining -= count;
            for k in 0..count {
                let pol = if k == 0 {
                    threat_feed_policy()
                } else {
                    tenant_policy(k - 1)
                };
                self.inventory.policies.push(pol);
            }
        }
        if has("platform") {
            let count = share.min(remaining);
            remaining -= count;
            for k in 0..count {
                let pol = if k == 0 {
                    dns_policy()
                } else {
                    partner_policy(k - 1)
                };
                self.inventory.policies.push(pol);
            }
        }
        // The rest are per-role namespaced policies, spread over the other tiers and
        // `default`, and over namespaces so that most namespaces get some.
        let mut tiers: Vec<&str> = tier_names
            .iter()
            .map(String::as_str)
            .filter(|t| *t != "security" && *t != "platform")
            .collect();
        tiers.push(Tier::DEFAULT);
        for i in 0..remaining {
            let ns_index = i % p.namespaces;
            let role = ROLES[(i / p.namespaces) % ROLES.len()];
            let tier = tiers[rng.random_range(0..tiers.len())];
            let namespace = self.namespaces[ns_index].clone();
            let team = format!("team-{}", ns_index % 50);
            let kubernetes = tier == Tier::DEFAULT && i % 2 == 1;
            self.inventory
                .policies
                .push(role_policy(role, namespace, tier, i, &team, kubernetes));
        }
    }

    fn traffic(&self, p: &ScaleParams) -> Vec<TrafficSpec> {
        let mut rng = ChaCha8Rng::seed_from_u64(p.seed ^ 0x7472_6166_6669_63);
        let mut edges: Vec<Edge> = Vec::new();
        let dns = PeerRef::Named {
            namespace: "kube-system".into(),
            name: "kube-dns".into(),
        };
        for (ns_index, members) in self.by_namespace.iter().enumerate() {
            let ns = &self.namespaces[ns_index];
            let find = |role: Role| {
                members
                    .iter()
                    .map(|&w| &self.workloads[w])
                    .find(|w| w.role == role)
            };
            let named = |w: &Workload| PeerRef::Named {
                namespace: ns.clone(),
                name: w.name.clone(),
            };
            for &wi in members {
                let w = &self.workloads[wi];
                let me = named(w);
                let process = w.role.process();
                match w.role {
                    Role::Web => {
                        if let Some(api) = find(Role::Api) {
                            edges.push(Edge::tcp(
                                me.clone(),
                                named(api),
                                3.0,
                                (800.0, 4_000.0, 0.2),
                                process,
                            ));
                        }
                        if rng.random_range(0..10) < 3 {
                            edges.push(Edge::tcp(
                                PeerRef::Internet,
                                me.clone(),
                                1.0,
                                (600.0, 15_000.0, 2.0),
                                "-",
                            ));
                        }
                    }
                    Role::Api => {
                        if let Some(db) = find(Role::Db) {
                            edges.push(Edge::tcp(
                                me.clone(),
                                named(db),
                                2.0,
                                (300.0, 12_000.0, 0.05),
                                process,
                            ));
                        }
                        if let Some(cache) = find(Role::Cache) {
                            edges.push(Edge::tcp(
                                me.clone(),
                                named(cache),
                                2.0,
                                (100.0, 400.0, 0.01),
                                process,
                            ));
                        }
                        if p.namespaces > 1 && rng.random_range(0..10) == 0 {
                            let other =
                                (ns_index + rng.random_range(1..p.namespaces)) % p.namespaces;
                            let api = self.by_namespace[other]
                                .iter()
                                .map(|&x| &self.workloads[x])
                                .find(|x| x.role == Role::Api);
                            if let Some(api) = api {
                                let to = PeerRef::Named {
                                    namespace: self.namespaces[other].clone(),
                                    name: api.name.clone(),
                                };
                                edges.push(Edge::tcp(
                                    me.clone(),
                                    to,
                                    1.0,
                                    (900.0, 3_000.0, 0.2),
                                    process,
                                ));
                            }
                        }
                        if rng.random_range(0..20) == 0 {
                            let to = PeerRef::NetworkSet {
                                namespace: None,
                                name: "partner-apis".into(),
                            };
                            edges.push(
                                Edge::tcp(me.clone(), to, 0.5, (1_500.0, 6_000.0, 0.5), process)
                                    .port(443),
                            );
                        }
                    }
                    Role::Worker => {
                        if let Some(api) = find(Role::Api) {
                            edges.push(Edge::tcp(
                                me.clone(),
                                named(api),
                                1.0,
                                (2_000.0, 1_000.0, 0.3),
                                process,
                            ));
                        }
                        if let Some(cache) = find(Role::Cache) {
                            edges.push(Edge::tcp(
                                me.clone(),
                                named(cache),
                                1.0,
                                (100.0, 400.0, 0.01),
                                process,
                            ));
                        }
                        if rng.random_range(0..100) == 0 {
                            let to = PeerRef::NetworkSet {
                                namespace: None,
                                name: "threat-feed".into(),
                            };
                            edges.push(
                                Edge::tcp(me.clone(), to, 0.05, (300.0, 0.0, 3.0), process)
                                    .port(443),
                            );
                        }
                    }
                    Role::Db | Role::Cache => {}
                }
                let mut lookup =
                    Edge::tcp(me, dns.clone(), 0.5, (70.0, 130.0, 0.01), process).port(53);
                lookup.protocol = Protocol::Udp;
                edges.push(lookup);
            }
        }
        let total: f64 = edges.iter().map(|e| e.weight).sum();
        edges
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                let rate = if total > 0.0 {
                    p.flows_per_second * e.weight / total
                } else {
                    0.0
                };
                let mut t = TrafficSpec::new(
                    vec![e.from],
                    vec![e.to],
                    rate,
                    Origin::generated(SCALE, format!("traffic[{i}]")),
                );
                t.protocol = e.protocol;
                t.ports = e
                    .port
                    .map(|p| vec![PortItem::Single(p)])
                    .unwrap_or_default();
                t.bytes_out = Jittered::new(e.bytes.0, 0.3);
                t.bytes_in = Jittered::new(e.bytes.1, 0.3);
                t.duration = Jittered::new(e.bytes.2, 0.5);
                t.process_name = (e.process != "-").then(|| e.process.to_owned());
                t
            })
            .collect()
    }
}

struct Edge {
    from: PeerRef,
    to: PeerRef,
    protocol: Protocol,
    port: Option<u16>,
    weight: f64,
    /// Bytes out, bytes in, seconds.
    bytes: (f64, f64, f64),
    process: &'static str,
}

impl Edge {
    fn tcp(
        from: PeerRef,
        to: PeerRef,
        weight: f64,
        bytes: (f64, f64, f64),
        process: &'static str,
    ) -> Edge {
        Edge {
            from,
            to,
            protocol: Protocol::Tcp,
            port: None,
            weight,
            bytes,
            process,
        }
    }

    fn port(mut self, port: u16) -> Edge {
        self.port = Some(port);
        self
    }
}

fn threat_feed_policy() -> Policy {
    let mut p = policy(
        PolicyKind::GlobalNetworkPolicy,
        "security.block-threat-feed".into(),
        None,
        "security",
        10.0,
        sel("all()"),
    );
    p.types = PolicyTypes {
        ingress: true,
        egress: true,
    };
    let mut deny_in = rule(RuleAction::Deny, None);
    deny_in.source.selector = Some(sel("threat-feed == \"true\""));
    let mut deny_out = rule(RuleAction::Deny, None);
    deny_out.destination.selector = Some(sel("threat-feed == \"true\""));
    p.ingress = vec![deny_in, rule(RuleAction::Pass, None)];
    p.egress = vec![deny_out, rule(RuleAction::Pass, None)];
    p
}

/// Tenants talk among themselves; other namespaces may reach only their web tier.
fn tenant_policy(k: usize) -> Policy {
    let tenant = format!("tenant-{}", k % 20);
    let mut p = policy(
        PolicyKind::GlobalNetworkPolicy,
        format!("security.isolate-{tenant}-{k}"),
        None,
        "security",
        100.0 + k as f64,
        sel("role != \"web\""),
    );
    p.namespace_selector = Some(sel(&format!("tenant == \"{tenant}\"")));
    p.types = PolicyTypes {
        ingress: true,
        egress: false,
    };
    let mut same = rule(RuleAction::Pass, None);
    same.source.namespace_selector = Some(sel(&format!("tenant == \"{tenant}\"")));
    let mut system = rule(RuleAction::Pass, None);
    system.source.namespace_selector = Some(sel("projectcalico.org/name == \"kube-system\""));
    let mut corporate = rule(RuleAction::Pass, Some(Protocol::Tcp));
    corporate.source.selector = Some(sel("corporate == \"true\""));
    let mut other = rule(RuleAction::Deny, None);
    other.source.namespace_selector = Some(sel("has(tenant)"));
    p.ingress = vec![same, system, corporate, other];
    p
}

fn dns_policy() -> Policy {
    let mut p = policy(
        PolicyKind::GlobalNetworkPolicy,
        "platform.allow-dns".into(),
        None,
        "platform",
        10.0,
        sel("all()"),
    );
    p.types = PolicyTypes {
        ingress: false,
        egress: true,
    };
    let dns = |protocol| {
        let mut r = rule(RuleAction::Allow, Some(protocol));
        r.destination.selector = Some(sel("k8s-app == \"kube-dns\""));
        r.destination.namespace_selector = Some(sel("projectcalico.org/name == \"kube-system\""));
        r.destination.ports = ports(&[53]);
        r
    };
    p.egress = vec![
        dns(Protocol::Udp),
        dns(Protocol::Tcp),
        rule(RuleAction::Pass, None),
    ];
    p
}

fn partner_policy(k: usize) -> Policy {
    let team = format!("team-{}", k % 50);
    let mut p = policy(
        PolicyKind::GlobalNetworkPolicy,
        format!("platform.{team}-partners-{k}"),
        None,
        "platform",
        100.0 + k as f64,
        sel("role in {\"api\", \"worker\"}"),
    );
    p.namespace_selector = Some(sel(&format!("team == \"{team}\"")));
    p.types = PolicyTypes {
        ingress: false,
        egress: true,
    };
    let mut partners = rule(RuleAction::Allow, Some(Protocol::Tcp));
    partners.destination.selector = Some(sel("partner == \"true\""));
    partners.destination.ports = ports(&[443]);
    p.egress = vec![partners, rule(RuleAction::Pass, None)];
    p
}

fn role_policy(
    role: Role,
    namespace: String,
    tier: &str,
    i: usize,
    team: &str,
    kubernetes: bool,
) -> Policy {
    let name = format!(
        "{}-{}-{i}",
        role.name(),
        if kubernetes { "allow" } else { "zone" }
    );
    let (_, port, _) = role.port();
    let selector = if kubernetes {
        sel(&format!(
            "role == \"{}\" && projectcalico.org/orchestrator == \"k8s\"",
            role.name()
        ))
    } else {
        sel(&format!("role == \"{}\"", role.name()))
    };
    let kind = if kubernetes {
        PolicyKind::KubernetesNetworkPolicy
    } else {
        PolicyKind::NetworkPolicy
    };
    let order = if kubernetes {
        1000.0
    } else {
        100.0 + (i % 100) as f64
    };
    let mut p = policy(kind, name, Some(namespace), tier, order, selector);
    let from = |selector: &str| {
        let mut r = rule(RuleAction::Allow, Some(Protocol::Tcp));
        r.source.selector = Some(sel(selector));
        r.destination.ports = ports(&[port]);
        r
    };
    let to = |selector: &str, list: &[u16]| {
        let mut r = rule(RuleAction::Allow, Some(Protocol::Tcp));
        r.destination.selector = Some(sel(selector));
        r.destination.ports = ports(list);
        r
    };
    match role {
        Role::Web => {
            let mut public = rule(RuleAction::Allow, Some(Protocol::Tcp));
            public.source.nets = vec![ipnet::IpNet::default()];
            public.destination.ports = ports(&[port]);
            p.ingress = vec![public];
            p.egress = vec![to("role == \"api\"", &[9090])];
        }
        Role::Api => {
            let mut team_rule = from("role == \"api\"");
            team_rule.source.namespace_selector = Some(sel(&format!("team == \"{team}\"")));
            p.ingress = vec![from("role in {\"web\", \"worker\"}"), team_rule];
            let mut node_ports = rule(RuleAction::Allow, Some(Protocol::Tcp));
            node_ports.destination.nets = vec!["10.0.0.0/8".parse().unwrap_or_default()];
            node_ports.destination.ports = vec![PortMatch::Range {
                first: 30000,
                last: 32767,
            }];
            p.egress = vec![
                to("role in {\"db\", \"cache\"}", &[5432, 6379]),
                to("role == \"api\"", &[9090]),
                node_ports,
            ];
        }
        Role::Db | Role::Cache => {
            p.ingress = vec![from("role in {\"api\", \"worker\"}")];
        }
        Role::Worker => {
            let mut pool = to("role == \"api\"", &[9090]);
            pool.destination.ports.push(PortMatch::Range {
                first: 42000,
                last: 43000,
            });
            p.egress = vec![pool, to("role == \"cache\"", &[6379])];
        }
    }
    p.types = PolicyTypes {
        ingress: !p.ingress.is_empty() || kubernetes,
        egress: !p.egress.is_empty() && !kubernetes,
    };
    if kubernetes {
        p.egress.clear();
    }
    p
}
