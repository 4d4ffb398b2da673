//! The compiled engine and its public API.

use crate::FiveTuple;
use crate::cache::{CacheKey, DecisionCache};
use crate::compile;
use crate::compiled::Compiled;
use crate::peer::{Peer, PeerAttribution, PeerSpec, PeerSpecError, ServiceTarget, is_private};
use crate::verdict::{FlowVerdict, Hit, HitSubject};
use flowlens_model::{EndpointType, Inventory, PROFILE_TIER, PolicyHit, PolicyHitFormat, Protocol};
use smallvec::SmallVec;
use std::net::IpAddr;
use std::sync::Arc;

/// A Service backend chosen for a flow, as indices into the inventory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServiceBackend {
    pub service: u32,
    /// Index into the service's ports.
    pub port_index: u32,
    pub endpoint: u32,
    pub target_port: u16,
}

/// Sizes of what the engine compiled, for logs and benchmarks.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EngineStats {
    pub endpoints: usize,
    pub network_sets: usize,
    pub policies: usize,
    pub tiers: usize,
    pub selector_sets: usize,
    pub distinct_plans: usize,
    pub cached_decisions: usize,
}

/// The engines of earlier inventories, by the time each became current: a flow that
/// arrives late is attributed with the inventory of its own time (the pod that held an
/// address then, the policies then in force), not with the one current when it arrives.
pub trait EngineHistory: Send + Sync {
    /// The engine that was current at `t` (Unix milliseconds), if it is still kept.
    fn engine_at(&self, t: i64) -> Option<Arc<Engine>>;
}

/// The compiled policy engine for one inventory. Cheap to share (`Arc<Engine>`) and to query
/// from many threads.
pub struct Engine {
    pub(crate) compiled: Compiled,
    /// Decisions by (source, destination, protocol, ports); source ports are left out when
    /// no rule looks at them.
    cache: DecisionCache,
    /// When this engine's inventory became current, and where the earlier ones are kept
    /// (weakly: the history holds the engines, not the other way round).
    history: Option<(i64, std::sync::Weak<dyn EngineHistory>)>,
}

impl Engine {
    /// Compiles an inventory. All selector evaluation happens here.
    pub fn new(inventory: impl Into<Arc<Inventory>>) -> Engine {
        Engine {
            compiled: compile::build(inventory.into()),
            cache: DecisionCache::new(),
            history: None,
        }
    }

    /// The engine for `inventory`, built from this one's work when the two inventories differ
    /// only in their endpoints (pods and host endpoints added, changed or removed): only the
    /// changed endpoints' selector memberships, plans and Service backends are worked out.
    /// The caller vouches that the namespaces, service accounts, Services, network sets,
    /// tiers and policies are this engine's (the cheap part of that is checked).
    ///
    /// `None` when it cannot be done piecemeal (the endpoints are not in the inventory's
    /// order, so many changed that compiling afresh is quicker, or a changed endpoint names a
    /// namespace or service account this engine does not know): compile with
    /// [`Engine::new`] then.
    /// Either way the verdicts are those [`Engine::new`] would give.
    pub fn with_changed_endpoints(&self, inventory: impl Into<Arc<Inventory>>) -> Option<Engine> {
        let compiled = crate::update::with_changed_endpoints(&self.compiled, inventory.into())?;
        Some(Engine {
            compiled,
            cache: DecisionCache::new(),
            history: None,
        })
    }

    /// This engine's inventory is current from `valid_from` (Unix milliseconds) on; flows
    /// from before are attributed with the engine `history` gives for their time.
    pub fn with_history(mut self, valid_from: i64, history: &Arc<dyn EngineHistory>) -> Engine {
        self.history = Some((valid_from, Arc::downgrade(history)));
        self
    }

    /// The engine for a flow at `t` (Unix milliseconds): an earlier one when `t` is before
    /// this engine's inventory became current and the history still keeps that time's;
    /// `None` means this engine.
    pub fn earlier_for(&self, t: i64) -> Option<Arc<Engine>> {
        let (valid_from, history) = self.history.as_ref()?;
        if t >= *valid_from {
            return None;
        }
        let engine = history.upgrade()?.engine_at(t)?;
        (!std::ptr::eq(Arc::as_ptr(&engine), self)).then_some(engine)
    }

    pub fn inventory(&self) -> &Inventory {
        &self.compiled.inventory
    }

    /// Whether the inventory holds staged policies (otherwise pending equals enforced).
    pub fn has_staged_policies(&self) -> bool {
        self.compiled.has_staged
    }

    pub fn stats(&self) -> EngineStats {
        EngineStats {
            endpoints: self.compiled.inventory.endpoints.len(),
            network_sets: self.compiled.inventory.network_sets.len(),
            policies: self.compiled.inventory.policies.len(),
            tiers: self.compiled.tiers.len(),
            selector_sets: self.compiled.sets.len(),
            distinct_plans: self.compiled.plans.len(),
            cached_decisions: self.cache.len(),
        }
    }

    /// What the inventory knows about an address.
    pub fn resolve(&self, ip: IpAddr) -> Peer {
        self.compiled.resolve(ip)
    }

    /// Resolves `ns/pod`, `ns/workload`, `ns/service` or an IP.
    pub fn resolve_spec(&self, spec: &PeerSpec) -> Result<Peer, PeerSpecError> {
        let (namespace, name) = match spec {
            PeerSpec::Ip(ip) => return Ok(self.resolve(*ip)),
            PeerSpec::Named { namespace, name } => (namespace, name),
        };
        let in_ns =
            |e: &flowlens_model::Endpoint| e.namespace.as_deref() == Some(namespace.as_str());
        let eps = &self.compiled.inventory.endpoints;
        let found = eps
            .iter()
            .position(|e| in_ns(e) && e.name == *name)
            .or_else(|| {
                eps.iter()
                    .position(|e| in_ns(e) && e.workload.as_ref().is_some_and(|w| w.name == *name))
            })
            .or_else(|| {
                eps.iter().position(|e| {
                    in_ns(e) && e.name_aggr.trim_end_matches('*') == format!("{name}-")
                })
            });
        if let Some(i) = found {
            let ip = eps[i].ips.first().copied();
            return Ok(match ip {
                Some(ip) => self.resolve(ip),
                None => Peer {
                    ip: IpAddr::from([0, 0, 0, 0]),
                    endpoint: Some(i as u32),
                    holders: SmallVec::from_slice(&[i as u32]),
                    network_set: None,
                },
            });
        }
        if let Some(si) = self
            .compiled
            .inventory
            .services
            .iter()
            .position(|s| s.namespace == *namespace && s.name == *name)
        {
            let Some(&backend) = self.compiled.services[si].backends.first() else {
                return Err(PeerSpecError::NoBackends {
                    namespace: namespace.clone(),
                    name: name.clone(),
                });
            };
            let ep = &eps[backend as usize];
            return Ok(match ep.ips.first() {
                Some(ip) => self.resolve(*ip),
                None => Peer {
                    ip: IpAddr::from([0, 0, 0, 0]),
                    endpoint: Some(backend),
                    holders: SmallVec::from_slice(&[backend]),
                    network_set: None,
                },
            });
        }
        // A network set may be named too.
        if let Some(i) = self
            .compiled
            .inventory
            .network_sets
            .iter()
            .position(|s| s.namespace.as_deref() == Some(namespace.as_str()) && s.name == *name)
            && let Some(net) = self.compiled.inventory.network_sets[i].nets.first()
        {
            return Ok(self.resolve(net.network()));
        }
        Err(PeerSpecError::NotFound {
            namespace: namespace.clone(),
            name: name.clone(),
        })
    }

    /// The labels flow logs show for a peer: the endpoint's or the network set's own labels
    /// (without Calico's automatic ones); none for plain networks.
    pub fn peer_labels(&self, peer: &Peer) -> Option<&flowlens_model::Labels> {
        match (peer.endpoint, self.network_set_of(peer)) {
            (Some(ep), _) => Some(&self.compiled.inventory.endpoints[ep as usize].labels),
            (None, Some(i)) => Some(&self.compiled.inventory.network_sets[i].labels),
            _ => None,
        }
    }

    /// The network set (index into the inventory's) that names a non-endpoint address.
    pub fn network_set_of(&self, peer: &Peer) -> Option<usize> {
        peer.network_set
            .map(|h| (h - self.compiled.holders.n_endpoints) as usize)
    }

    /// How flow logs name a peer.
    pub fn attribute(&self, peer: &Peer) -> PeerAttribution {
        if let Some(ep) = peer.endpoint {
            let e = &self.compiled.inventory.endpoints[ep as usize];
            return PeerAttribution {
                endpoint_type: e.endpoint_type,
                namespace: e.namespace.clone(),
                name: e.name.clone(),
                name_aggr: e.name_aggr.clone(),
            };
        }
        if let Some(h) = peer.network_set {
            let set = &self.compiled.inventory.network_sets
                [(h - self.compiled.holders.n_endpoints) as usize];
            return PeerAttribution {
                endpoint_type: EndpointType::Ns,
                namespace: set.namespace.clone(),
                name: set.name.clone(),
                name_aggr: set.name.clone(),
            };
        }
        let aggr = if is_private(peer.ip) { "pvt" } else { "pub" };
        PeerAttribution {
            endpoint_type: EndpointType::Net,
            namespace: None,
            name: "-".into(),
            name_aggr: aggr.into(),
        }
    }

    /// If `ip:port` is a Service's cluster IP, the backend the flow goes to. `pick` chooses
    /// among backends (pass something stable per connection, such as the source port).
    pub fn service_target(
        &self,
        ip: IpAddr,
        port: u16,
        protocol: Protocol,
        pick: u64,
    ) -> Option<ServiceTarget> {
        let b = self.service_backend(ip, port, protocol, pick)?;
        let svc = &self.compiled.inventory.services[b.service as usize];
        let ep = &self.compiled.inventory.endpoints[b.endpoint as usize];
        Some(ServiceTarget {
            namespace: svc.namespace.clone(),
            name: svc.name.clone(),
            port_name: svc.ports[b.port_index as usize]
                .name
                .clone()
                .unwrap_or_else(|| "-".into()),
            port,
            endpoint: b.endpoint,
            endpoint_ip: ep.ips.first().copied()?,
            target_port: b.target_port,
        })
    }

    /// [`Engine::service_target`] without allocating: indices into the inventory.
    pub fn service_backend(
        &self,
        ip: IpAddr,
        port: u16,
        protocol: Protocol,
        pick: u64,
    ) -> Option<ServiceBackend> {
        let si = *self.compiled.service_by_ip.get(&ip)?;
        let svc = &self.compiled.inventory.services[si as usize];
        let port_index = svc
            .ports
            .iter()
            .position(|p| p.port == port && p.protocol == protocol)?;
        let sp = &svc.ports[port_index];
        let backends = &self.compiled.services[si as usize].backends;
        // Try backends from the picked one on, skipping any that lack the named target port.
        for k in 0..backends.len() {
            let b = backends[((pick as usize).wrapping_add(k)) % backends.len()];
            let ep = &self.compiled.inventory.endpoints[b as usize];
            let target = match &sp.target_port {
                flowlens_model::TargetPort::Number(n) => Some(*n),
                flowlens_model::TargetPort::Name(n) => ep.named_port(n, protocol),
            };
            if let (Some(target_port), Some(_)) = (target, ep.ips.first()) {
                return Some(ServiceBackend {
                    service: si,
                    port_index: port_index as u32,
                    endpoint: b,
                    target_port,
                });
            }
        }
        None
    }

    /// The verdict for a flow, from the cache when this (source, destination, protocol,
    /// ports) was seen before.
    pub fn evaluate(&self, flow: &FiveTuple) -> Arc<FlowVerdict> {
        let key = CacheKey::new(flow, self.compiled.uses_src_ports);
        if let Some(v) = self.cache.get(&key) {
            return v;
        }
        let src = self.resolve(flow.src);
        let dst = self.resolve(flow.dst);
        let verdict = Arc::new(self.evaluate_peers(&src, &dst, flow));
        self.cache.insert(key, verdict.clone());
        verdict
    }

    /// The verdict for already-resolved peers, bypassing the cache.
    pub fn evaluate_peers(&self, src: &Peer, dst: &Peer, flow: &FiveTuple) -> FlowVerdict {
        crate::eval::evaluate(&self.compiled, src, dst, flow, &mut crate::eval::NoTrace)
    }

    /// Drops cached decisions.
    pub fn clear_cache(&self) {
        self.cache.clear();
    }

    /// Calico's hit string for a compact hit at position `index` of its trace.
    pub fn policy_hit(&self, hit: &Hit, index: usize) -> PolicyHit {
        match hit.subject {
            HitSubject::Policy(pi) => {
                let p = &self.compiled.inventory.policies[pi as usize];
                PolicyHit {
                    index: index as u32,
                    tier: p.tier.clone(),
                    kind: Some(p.kind),
                    namespace: p.namespace.clone(),
                    name: p.name.clone(),
                    action: hit.action,
                    rule: hit.rule,
                }
            }
            HitSubject::NamespaceProfile(ns) => PolicyHit::profile(
                index as u32,
                &self.compiled.holders.namespaces.names[ns as usize],
            ),
            HitSubject::HostProfile(ep) => PolicyHit {
                index: index as u32,
                tier: PROFILE_TIER.into(),
                kind: None,
                namespace: None,
                name: self.compiled.inventory.endpoints[ep as usize]
                    .profiles
                    .first()
                    .cloned()
                    .unwrap_or_default(),
                action: hit.action,
                rule: hit.rule,
            },
        }
    }

    /// A whole trace as Calico hit strings.
    pub fn hit_strings(&self, hits: &[Hit], format: PolicyHitFormat) -> Vec<String> {
        hits.iter()
            .enumerate()
            .map(|(i, h)| self.policy_hit(h, i).to_string_in(format))
            .collect()
    }
}
