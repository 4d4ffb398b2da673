//! Traffic specs resolved against an inventory: names become addresses and port sets, so the
//! generator's per-connection work is picking, never looking up.
//!
//! Nothing here decides what policy will say about the traffic: a destination Service is
//! addressed by its cluster IP and port, as a real client would, and DNAT and verdicts are
//! left to the pipeline.

use crate::error::{ScenarioError, ScenarioErrors};
use crate::index::Index;
use crate::peer::PeerRef;
use crate::spec::{Pick, TrafficSpec};
use crate::units::{Jittered, PortItem};
use flowlens_model::{Inventory, Protocol, Service, TargetPort};
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Where an address comes from, per connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Addr {
    Ip(IpAddr),
    Net(IpNet),
    Internet,
}

/// One destination of an entry: its addresses and the ports it is reached on.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Target {
    pub addrs: Vec<Addr>,
    /// Inclusive ranges; a single port is `(p, p)`. `(0, 0)` for protocols without ports.
    pub ports: Vec<(u16, u16)>,
}

/// A traffic entry, ready to generate.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CompiledEntry {
    /// Stable across recompiles (derived from where the entry was declared), so an entry's
    /// random stream and arrival times survive a step.
    pub key: u64,
    pub label: String,
    pub sources: Vec<Addr>,
    pub targets: Vec<Target>,
    pub protocol: Protocol,
    pub rate: f64,
    pub bytes_out: Jittered,
    pub bytes_in: Jittered,
    pub packets_out: Option<Jittered>,
    pub packets_in: Option<Jittered>,
    pub duration: Jittered,
    pub process_name: Option<String>,
    pub pick: Pick,
}

/// The compiled traffic mix of a scenario in one state.
#[derive(Clone, Debug, Default)]
pub(crate) struct CompiledTraffic {
    pub entries: Vec<Arc<CompiledEntry>>,
    /// Entries left out because what they name is gone (only when not strict).
    pub warnings: Vec<String>,
}

pub(crate) fn fnv1a(text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Resolves `specs` against `inv`. Strict: every unresolvable name is an error (loading a
/// scenario). Not strict: entries that name something a step deleted are left out with a
/// warning, as traffic from a deleted pod stops.
pub(crate) fn compile(
    specs: &[&TrafficSpec],
    inv: &Inventory,
    hosts: &BTreeMap<String, Vec<IpAddr>>,
    strict: bool,
) -> Result<CompiledTraffic, ScenarioErrors> {
    let index = Index::new(inv);
    let resolver = Resolver {
        index: &index,
        hosts,
    };
    let mut out = CompiledTraffic::default();
    let mut errors = Vec::new();
    for spec in specs {
        match resolver.entry(spec) {
            Ok(entry) => out.entries.push(Arc::new(entry)),
            Err(e) if strict => errors.push(e),
            Err(e) => {
                let name = spec
                    .name
                    .as_ref()
                    .map(|n| format!("{n:?} ({})", spec.origin.field));
                let name = name.unwrap_or_else(|| spec.origin.field.clone());
                out.warnings.push(format!(
                    "traffic {name} stopped: {}: {}",
                    e.field, e.message
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ScenarioErrors(errors))
    }
}

struct Resolver<'a> {
    index: &'a Index<'a>,
    hosts: &'a BTreeMap<String, Vec<IpAddr>>,
}

impl Resolver<'_> {
    fn entry(&self, spec: &TrafficSpec) -> Result<CompiledEntry, ScenarioError> {
        let field = |side: &str, i: usize, n: usize| {
            if n > 1 {
                format!("{side}[{i}]")
            } else {
                side.to_owned()
            }
        };
        let mut sources = Vec::new();
        for (i, peer) in spec.from.iter().enumerate() {
            let addrs = self
                .addresses(peer)
                .map_err(|e| spec.origin.error(&field("from", i, spec.from.len()), e))?;
            sources.extend(addrs);
        }
        let mut targets = Vec::new();
        for (i, peer) in spec.to.iter().enumerate() {
            let target = self
                .target(peer, spec)
                .map_err(|e| spec.origin.error(&field("to", i, spec.to.len()), e))?;
            targets.push(target);
        }
        // Scenarios built in code skip the file validation; an infinite rate would never
        // let the clock move.
        if !(spec.rate.is_finite() && spec.rate >= 0.0) {
            return Err(spec
                .origin
                .error("rate", format!("{} is not a rate ≥ 0", spec.rate)));
        }
        if sources.is_empty() || targets.is_empty() {
            return Err(spec
                .origin
                .error("", "needs at least one source and one destination"));
        }
        Ok(CompiledEntry {
            key: fnv1a(&spec.origin.field),
            label: spec
                .name
                .clone()
                .unwrap_or_else(|| spec.origin.field.clone()),
            sources,
            targets,
            protocol: spec.protocol,
            rate: spec.rate,
            bytes_out: spec.bytes_out,
            bytes_in: spec.bytes_in,
            packets_out: spec.packets_out,
            packets_in: spec.packets_in,
            duration: spec.duration,
            process_name: spec.process_name.clone(),
            pick: spec.pick,
        })
    }

    fn endpoint_addrs(&self, endpoints: &[u32], what: &str) -> Result<Vec<Addr>, String> {
        let addrs: Vec<Addr> = endpoints
            .iter()
            .filter_map(|&i| self.index.endpoint(i).ips.first())
            .map(|ip| Addr::Ip(*ip))
            .collect();
        if addrs.is_empty() {
            Err(format!("{what} has no pods with an address"))
        } else {
            Ok(addrs)
        }
    }

    /// The addresses a peer stands for. A Service here means its pods (the source side);
    /// `target` addresses a destination Service by its cluster IP before coming here.
    fn addresses(&self, peer: &PeerRef) -> Result<Vec<Addr>, String> {
        let idx = self.index;
        match peer {
            PeerRef::Named { namespace, name } => {
                if let Some(svc) = idx.service(namespace, name) {
                    return self.service_pods(svc);
                }
                if let Some(eps) = idx.workload(namespace, name) {
                    return self.endpoint_addrs(&eps, &format!("workload {namespace}/{name}"));
                }
                if let Some(set) = idx.network_set(Some(namespace), name) {
                    return self.set_addrs(set);
                }
                Err(format!(
                    "no service, workload, pod or network set named {namespace}/{name}{}",
                    self.hint(namespace)
                ))
            }
            PeerRef::Service { namespace, name } => match idx.service(namespace, name) {
                Some(svc) => self.service_pods(svc),
                None => Err(format!(
                    "no service named {namespace}/{name}{}",
                    self.hint(namespace)
                )),
            },
            PeerRef::Workload { namespace, name } => match idx.workload(namespace, name) {
                Some(eps) => self.endpoint_addrs(&eps, &format!("workload {namespace}/{name}")),
                None => Err(format!(
                    "no workload or pod named {namespace}/{name}{}",
                    self.hint(namespace)
                )),
            },
            PeerRef::Pod { namespace, name } => match idx.pod(namespace, name) {
                Some(ep) => self.endpoint_addrs(&[ep], &format!("pod {namespace}/{name}")),
                None => Err(format!(
                    "no pod named {namespace}/{name}{}",
                    self.hint(namespace)
                )),
            },
            PeerRef::NetworkSet { namespace, name } => {
                let found = match namespace {
                    Some(ns) => idx.network_set(Some(ns), name),
                    None => idx.network_set_by_name(name).map_err(|namespaces| {
                        format!(
                            "several namespaces have a network set named {name:?} ({}); write networkset:<namespace>/{name}",
                            namespaces.join(", ")
                        )
                    })?,
                };
                match found {
                    Some(set) => self.set_addrs(set),
                    None => Err(format!(
                        "no network set named {peer}; a domain name needs a dot, a workload ns/name"
                    )),
                }
            }
            PeerRef::Ip(ip) => Ok(vec![Addr::Ip(*ip)]),
            PeerRef::Net(net) => Ok(vec![if net.prefix_len() == net.max_prefix_len() {
                Addr::Ip(net.addr())
            } else {
                Addr::Net(*net)
            }]),
            PeerRef::Host(host) => {
                let ips = self.hosts.get(host).cloned().or_else(|| crate::hosts::builtin(host)).ok_or_else(|| {
                    format!("unknown host {host:?}: add it to the scenario's hosts map (name: [addresses])")
                })?;
                if ips.is_empty() {
                    return Err(format!("host {host:?} has no addresses"));
                }
                Ok(ips.into_iter().map(Addr::Ip).collect())
            }
            PeerRef::Internet => Ok(vec![Addr::Internet]),
        }
    }

    fn hint(&self, namespace: &str) -> String {
        if self.index.inv.namespace(namespace).is_none() {
            format!(" (there is no namespace {namespace:?})")
        } else {
            String::new()
        }
    }

    fn service_pods(&self, svc: &Service) -> Result<Vec<Addr>, String> {
        let backends = self.index.backends(svc);
        self.endpoint_addrs(
            &backends,
            &format!("service {}/{}", svc.namespace, svc.name),
        )
    }

    fn set_addrs(&self, set: u32) -> Result<Vec<Addr>, String> {
        let set = &self.index.inv.network_sets[set as usize];
        if set.nets.is_empty() {
            return Err(format!("network set {} has no nets", set.name));
        }
        Ok(set
            .nets
            .iter()
            .map(|n| {
                if n.prefix_len() == n.max_prefix_len() {
                    Addr::Ip(n.addr())
                } else {
                    Addr::Net(n.trunc())
                }
            })
            .collect())
    }

    fn target(&self, peer: &PeerRef, spec: &TrafficSpec) -> Result<Target, String> {
        let service = match peer {
            PeerRef::Service { namespace, name } => {
                Some(self.index.service(namespace, name).ok_or_else(|| {
                    format!(
                        "no service named {namespace}/{name}{}",
                        self.hint(namespace)
                    )
                })?)
            }
            PeerRef::Named { namespace, name } => self.index.service(namespace, name),
            _ => None,
        };
        if let Some(svc) = service {
            return self.service_target(svc, spec);
        }
        let addrs = self.addresses(peer)?;
        if !spec.protocol.has_ports() {
            return Ok(Target {
                addrs,
                ports: vec![(0, 0)],
            });
        }
        let pods = match peer {
            PeerRef::Named { namespace, name } | PeerRef::Workload { namespace, name } => {
                self.index.workload(namespace, name)
            }
            PeerRef::Pod { namespace, name } => self.index.pod(namespace, name).map(|p| vec![p]),
            _ => None,
        };
        let declared: Vec<(Option<&str>, u16)> = match pods.as_ref().and_then(|p| p.first()) {
            Some(&ep) => self
                .index
                .endpoint(ep)
                .ports
                .iter()
                .filter(|p| p.protocol == spec.protocol)
                .map(|p| (Some(p.name.as_str()), p.port))
                .collect(),
            None => Vec::new(),
        };
        let ports = if spec.ports.is_empty() {
            if declared.is_empty() {
                return Err(format!(
                    "{peer} declares no {} ports of its own: give port or ports",
                    spec.protocol
                ));
            }
            declared.iter().map(|&(_, p)| (p, p)).collect()
        } else {
            // Pods may listen on ports they do not declare (a port pool), so numbers and
            // ranges are taken as written; names must be declared.
            let mut ports = Vec::new();
            for item in &spec.ports {
                ports.push(match item {
                    PortItem::Single(p) => (*p, *p),
                    PortItem::Range(a, b) => (*a, *b),
                    PortItem::Named(n) => {
                        match declared.iter().find(|(name, _)| *name == Some(n.as_str())) {
                            Some(&(_, p)) => (p, p),
                            None => {
                                return Err(format!(
                                    "{peer} declares no {} port named {n:?}",
                                    spec.protocol
                                ));
                            }
                        }
                    }
                });
            }
            ports
        };
        Ok(Target { addrs, ports })
    }

    /// A Service is reached on its cluster IP and its ports. A headless one (no cluster IP)
    /// is reached on its pods' addresses and target ports, as DNS would hand them out.
    fn service_target(&self, svc: &Service, spec: &TrafficSpec) -> Result<Target, String> {
        let name = format!("service {}/{}", svc.namespace, svc.name);
        let service_ports: Vec<_> = svc
            .ports
            .iter()
            .filter(|p| p.protocol == spec.protocol)
            .collect();
        if service_ports.is_empty() {
            let have: Vec<String> = svc
                .ports
                .iter()
                .map(|p| format!("{}/{}", p.port, p.protocol))
                .collect();
            return Err(format!(
                "{name} has no {} port (it has {})",
                spec.protocol,
                have.join(", ")
            ));
        }
        let listing = || {
            service_ports
                .iter()
                .map(|p| p.port.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let direct = format!(
            "; to reach its pods directly on other ports write workload:{}/<workload name>",
            svc.namespace
        );
        let mut chosen = Vec::new();
        if spec.ports.is_empty() {
            chosen.extend(service_ports.iter().copied());
        }
        for item in &spec.ports {
            let (found, shown) = match item {
                PortItem::Single(p) => {
                    (service_ports.iter().find(|sp| sp.port == *p), p.to_string())
                }
                PortItem::Named(n) => (
                    service_ports
                        .iter()
                        .find(|sp| sp.name.as_deref() == Some(n.as_str())),
                    format!("{n:?}"),
                ),
                PortItem::Range(a, b) => {
                    return Err(format!(
                        "{name} is reached on its ports ({}), not on a range {a}-{b}{direct}",
                        listing()
                    ));
                }
            };
            match found {
                Some(sp) => chosen.push(*sp),
                None => {
                    return Err(format!(
                        "{shown} is not a {} port of {name} (its ports: {}){direct}",
                        spec.protocol,
                        listing()
                    ));
                }
            }
        }
        if let Some(ip) = svc.cluster_ips.first() {
            return Ok(Target {
                addrs: vec![Addr::Ip(*ip)],
                ports: chosen.iter().map(|sp| (sp.port, sp.port)).collect(),
            });
        }
        // Headless: the pods themselves, on the target ports.
        let backends = self.index.backends(svc);
        let addrs = self.endpoint_addrs(&backends, &name)?;
        let first = backends.first().map(|&b| self.index.endpoint(b));
        let mut ports = Vec::new();
        for sp in chosen {
            let port = match &sp.target_port {
                TargetPort::Number(n) => *n,
                TargetPort::Name(n) => first
                    .and_then(|e| e.named_port(n, spec.protocol))
                    .ok_or_else(|| format!("{name}: its pods declare no port named {n:?}"))?,
            };
            ports.push((port, port));
        }
        Ok(Target { addrs, ports })
    }
}
