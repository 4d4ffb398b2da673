//! Turning a stored tuple's ends back into something the engine can evaluate: a kept IP
//! resolves exactly; an aggregated pod or host endpoint stands for the inventory's endpoints
//! with that namespace and aggregated name, one peer per class that policy can tell apart;
//! a network set for the addresses of its nets; `pub`/`pvt` for any public or private
//! address.

use crate::engine::Engine;
use crate::peer::{Peer, is_private};
use flowlens_model::{EndpointType, FlowEnd};
use ipnet::IpNet;
use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use std::net::IpAddr;

/// More distinct endpoint classes behind one aggregated name than this are not evaluated one
/// by one; the tuple is reported uncertain instead.
const MAX_CLASSES: usize = 16;

/// One end of a tuple, turned into what the engine evaluates.
pub(super) struct Side {
    /// One peer per class of equivalent endpoints (or addresses).
    pub peers: SmallVec<[Peer; 2]>,
    /// The addresses the end may have been, when its address was not logged.
    pub space: Option<SmallVec<[IpNet; 2]>>,
    /// Endpoints the end may be.
    pub endpoints: SmallVec<[u32; 4]>,
    /// Why it cannot be evaluated.
    pub problem: Option<String>,
}

/// Endpoints by (type, namespace, aggregated name) and (type, namespace, name).
pub(super) struct EndpointIndex {
    by_aggr: FxHashMap<(EndpointType, Option<String>, String), Vec<u32>>,
    by_name: FxHashMap<(EndpointType, Option<String>, String), u32>,
}

impl EndpointIndex {
    pub fn new(engine: &Engine) -> EndpointIndex {
        let mut by_aggr: FxHashMap<_, Vec<u32>> = FxHashMap::default();
        let mut by_name = FxHashMap::default();
        for (i, e) in engine.inventory().endpoints.iter().enumerate() {
            let key = |name: &str| (e.endpoint_type, e.namespace.clone(), name.to_string());
            by_aggr.entry(key(&e.name_aggr)).or_default().push(i as u32);
            by_name.entry(key(&e.name)).or_insert(i as u32);
        }
        EndpointIndex { by_aggr, by_name }
    }
}

pub(super) fn end_label(end: &FlowEnd) -> String {
    match &end.namespace {
        Some(ns) => format!("{ns}/{}", end.name.as_deref().unwrap_or(&end.name_aggr)),
        None => end.name.clone().unwrap_or_else(|| end.name_aggr.clone()),
    }
}

fn private_space() -> SmallVec<[IpNet; 2]> {
    [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
        "::1/128",
    ]
    .iter()
    .filter_map(|n| n.parse().ok())
    .collect()
}

fn any_space() -> SmallVec<[IpNet; 2]> {
    ["0.0.0.0/0", "::/0"]
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

fn bare_peer(ip: IpAddr) -> Peer {
    Peer {
        ip,
        endpoint: None,
        holders: SmallVec::new(),
        network_set: None,
    }
}

pub(super) fn resolve_side(engine: &Engine, index: &EndpointIndex, end: &FlowEnd) -> Side {
    let mut side = Side {
        peers: SmallVec::new(),
        space: None,
        endpoints: SmallVec::new(),
        problem: None,
    };
    if let Some(ip) = end.ip {
        let peer = engine.resolve(ip);
        // The address must still be what the flow log says it was.
        let now = engine.attribute(&peer);
        let logged = end.endpoint_type;
        let same = match logged {
            Some(EndpointType::Wep | EndpointType::Hep) => {
                Some(now.endpoint_type) == logged
                    && now.namespace == end.namespace
                    && now.name_aggr == end.name_aggr
            }
            Some(EndpointType::Ns) => now.endpoint_type == EndpointType::Ns,
            _ => !matches!(now.endpoint_type, EndpointType::Wep | EndpointType::Hep),
        };
        if !same {
            side.problem = Some(format!(
                "{ip} ({}) is {} in the inventory now",
                end_label(end),
                match now.endpoint_type {
                    EndpointType::Net => "no endpoint".to_string(),
                    t => format!(
                        "{t} {}",
                        end_label(&FlowEnd {
                            name: Some(now.name.clone()),
                            namespace: now.namespace.clone(),
                            ..FlowEnd::default()
                        })
                    ),
                }
            ));
            return side;
        }
        side.endpoints.extend(peer.endpoint);
        side.peers.push(peer);
        return side;
    }
    let inv = &engine.inventory();
    match end.endpoint_type {
        Some(t @ (EndpointType::Wep | EndpointType::Hep)) => {
            let mut candidates: Vec<u32> = match &end.name {
                Some(name) => index
                    .by_name
                    .get(&(t, end.namespace.clone(), name.clone()))
                    .map(|&i| vec![i])
                    .unwrap_or_default(),
                None => index
                    .by_aggr
                    .get(&(t, end.namespace.clone(), end.name_aggr.clone()))
                    .cloned()
                    .unwrap_or_default(),
            };
            if candidates.is_empty() {
                side.problem = Some(format!("{} is not in the inventory", end_label(end)));
                return side;
            }
            if !end.labels.is_empty() {
                candidates.retain(|&i| inv.endpoints[i as usize].labels == end.labels);
                if candidates.is_empty() {
                    side.problem = Some(format!(
                        "no endpoint named {} has the labels the flow log recorded",
                        end_label(end)
                    ));
                    return side;
                }
            }
            // Endpoints that policy cannot tell apart except by address.
            let mut classes: Vec<u32> = Vec::new();
            for &c in &candidates {
                let e = &inv.endpoints[c as usize];
                let same = |&k: &u32| {
                    let o = &inv.endpoints[k as usize];
                    o.labels == e.labels
                        && o.service_account == e.service_account
                        && o.ports == e.ports
                        && o.profiles == e.profiles
                };
                if !classes.iter().any(same) {
                    classes.push(c);
                }
            }
            if classes.len() > MAX_CLASSES {
                side.problem = Some(format!(
                    "{} stands for more than {MAX_CLASSES} endpoints that policy may treat differently",
                    end_label(end)
                ));
                return side;
            }
            for c in classes {
                let e = &inv.endpoints[c as usize];
                side.peers.push(match e.ips.first() {
                    Some(&ip) => {
                        let mut peer = engine.resolve(ip);
                        if peer.endpoint != Some(c) {
                            // Two endpoints share the address; keep the one named.
                            peer = Peer {
                                ip,
                                endpoint: Some(c),
                                holders: SmallVec::from_slice(&[c]),
                                network_set: None,
                            };
                        }
                        peer
                    }
                    None => Peer {
                        ip: IpAddr::from([0, 0, 0, 0]),
                        endpoint: Some(c),
                        holders: SmallVec::from_slice(&[c]),
                        network_set: None,
                    },
                });
            }
            side.space = Some(
                candidates
                    .iter()
                    .flat_map(|&c| {
                        inv.endpoints[c as usize]
                            .ips
                            .iter()
                            .map(|&ip| IpNet::from(ip))
                    })
                    .collect(),
            );
            side.endpoints = candidates.into_iter().collect();
        }
        Some(EndpointType::Ns) => {
            let found = inv
                .network_sets
                .iter()
                .find(|s| s.name == end.name_aggr && s.namespace == end.namespace);
            let Some(set) = found else {
                side.problem = Some(format!(
                    "network set {} is not in the inventory",
                    end_label(end)
                ));
                return side;
            };
            for net in &set.nets {
                let peer = engine.resolve(net.network());
                if !side.peers.iter().any(|p| p.holders == peer.holders) {
                    side.peers.push(peer);
                }
            }
            if side.peers.is_empty() {
                side.problem = Some(format!("network set {} has no nets", end_label(end)));
            }
            side.space = Some(set.nets.iter().copied().collect());
        }
        Some(EndpointType::Net) => {
            let (ip, space) = if end.name_aggr == "pvt" {
                (IpAddr::from([10, 255, 255, 254]), private_space())
            } else {
                (IpAddr::from([192, 0, 2, 1]), any_space())
            };
            debug_assert_eq!(is_private(ip), end.name_aggr == "pvt");
            side.peers.push(bare_peer(ip));
            side.space = Some(space);
        }
        None => {
            side.problem = Some(format!(
                "{} has no endpoint type in the flow log",
                end_label(end)
            ));
        }
    }
    side
}
