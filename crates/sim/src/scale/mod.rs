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

mod policies;
mod traffic;

use crate::builtin::SCALE;
use crate::error::{Error, Result};
use crate::scenario::Scenario;
use flowlens_model::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

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

impl ScaleParams {
    /// The size the benchmarks of docs/benchmarks.md use: 2,000 namespaces, 10,000 workloads
    /// with 3 pods each, 1,000 policies in 5 tiers, 1,000,000 connections per second.
    pub fn benchmark() -> Self {
        ScaleParams {
            namespaces: 2_000,
            workloads: 10_000,
            policies: 1_000,
            tiers: 5,
            flows_per_second: 1_000_000.0,
            endpoints_per_workload: 3,
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
            inv.endpoints.push(Arc::new(Endpoint {
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
            }));
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
                inv.endpoints.push(Arc::new(Endpoint {
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
                }));
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
}
