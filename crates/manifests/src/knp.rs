//! Kubernetes NetworkPolicy (and Calico's StagedKubernetesNetworkPolicy) converted into
//! Calico's shape exactly as Calico converts it (libcalico-go `K8sNetworkPolicyToCalico`):
//! tier `default`, order 1000, one Allow rule per protocol group × peer.

use crate::LoadOptions;
use crate::calico::staged_action;
use crate::errors::Diag;
use crate::kubernetes::protocol_or_tcp;
use crate::label_selector::{namespace_selector, pod_selector};
use crate::node::Value;
use crate::ports::{ProtocolPort, group_by_protocol, is_port_name};
use crate::read::Field;
use crate::resource::{FieldRef, PolicyResource, ResourceBody};
use flowlens_model::{
    EntityRule, Policy, PolicyKind, PolicyTypes, PortMatch, Protocol, Rule, RuleAction,
    StagedAction, Tier,
};
use flowlens_selector::Selector;
use ipnet::IpNet;

/// Calico places every Kubernetes NetworkPolicy at this order in the default tier.
pub const KNP_ORDER: f64 = 1000.0;

/// Who a rule talks to, in Calico terms.
#[derive(Clone, Debug, Default)]
pub(crate) struct Peer {
    pub selector: Option<Selector>,
    pub namespace_selector: Option<Selector>,
    pub nets: Vec<IpNet>,
    pub not_nets: Vec<IpNet>,
}

/// The rules Calico generates: for each protocol group (sorted), one rule per peer; no peers
/// means one rule matching any peer.
pub(crate) fn combine(
    action: RuleAction,
    ingress: bool,
    peers: &[Option<Peer>],
    ports: Vec<ProtocolPort>,
) -> Vec<Rule> {
    combine_groups(action, ingress, peers, group_by_protocol(ports))
}

/// One rule per (protocol, ports) group × peer; a group without protocol matches any.
pub(crate) fn combine_groups(
    action: RuleAction,
    ingress: bool,
    peers: &[Option<Peer>],
    groups: Vec<(Option<Protocol>, Vec<PortMatch>)>,
) -> Vec<Rule> {
    let mut rules = Vec::new();
    for (protocol, ports) in groups {
        for peer in peers {
            let peer = peer.clone().unwrap_or_default();
            let mut rule = Rule::new(action);
            rule.protocol = protocol;
            let ports_entity = EntityRule {
                ports: ports.clone(),
                ..EntityRule::default()
            };
            let peer_entity = EntityRule {
                selector: peer.selector,
                namespace_selector: peer.namespace_selector,
                nets: peer.nets,
                not_nets: peer.not_nets,
                ..EntityRule::default()
            };
            if ingress {
                rule.source = peer_entity;
                rule.destination = ports_entity;
            } else {
                rule.destination = EntityRule {
                    ports: ports_entity.ports,
                    ..peer_entity
                };
            }
            rules.push(rule);
        }
    }
    rules
}

pub(crate) fn kubernetes_network_policy(
    d: &mut Diag,
    root: &Field,
    staged: bool,
    opts: &LoadOptions,
) -> Option<ResourceBody> {
    let meta = d.metadata(root, false)?;
    let spec = d.required(root, "spec").and_then(|f| d.map(f))?;
    let errors_before = d.error_count();
    let namespace = meta
        .namespace
        .clone()
        .unwrap_or_else(|| opts.default_namespace.clone());

    let selector = pod_selector(d, spec.get("podSelector").as_ref());
    let ingress_fields = d.opt_list(&spec, "ingress");
    let egress_fields = d.opt_list(&spec, "egress");
    let mut ingress = Vec::new();
    for rule in &ingress_fields {
        ingress.extend(knp_rule(d, rule, "from", true));
    }
    let mut egress = Vec::new();
    for rule in &egress_fields {
        egress.extend(knp_rule(d, rule, "to", false));
    }

    // The API server defaults policyTypes before Calico sees the policy: Ingress, plus
    // Egress when there are egress rules.
    let listed = d.opt_list(&spec, "policyTypes");
    let mut types = PolicyTypes {
        ingress: listed.is_empty(),
        egress: listed.is_empty() && !egress_fields.is_empty(),
    };
    for f in listed {
        match d.string(&f).as_deref() {
            Some("Ingress") => types.ingress = true,
            Some("Egress") => types.egress = true,
            Some(other) => d.error(
                f.node,
                &f.path,
                format!("unknown policy type {other:?}: expected Ingress or Egress"),
            ),
            None => {}
        }
    }
    let staged_action = if staged {
        staged_action(d, Some(&spec))
    } else {
        StagedAction::Set
    };

    if d.error_count() > errors_before {
        return None;
    }
    Some(ResourceBody::Policy(Box::new(PolicyResource {
        policy: Policy {
            kind: if staged {
                PolicyKind::StagedKubernetesNetworkPolicy
            } else {
                PolicyKind::KubernetesNetworkPolicy
            },
            name: meta.name,
            namespace: Some(namespace),
            tier: Tier::DEFAULT.into(),
            order: Some(KNP_ORDER),
            selector: selector?,
            namespace_selector: None,
            service_account_selector: None,
            types,
            ingress,
            egress,
            do_not_track: false,
            pre_dnat: false,
            apply_on_forward: false,
            staged_action,
            source: None,
        },
        tier_at: FieldRef::default(),
    })))
}

fn knp_rule(d: &mut Diag, rule: &Field, peers_key: &str, ingress: bool) -> Vec<Rule> {
    let Some(rule) = d.map(rule.clone()) else {
        return Vec::new();
    };
    let errors_before = d.error_count();
    let mut peers: Vec<Option<Peer>> = d
        .opt_list(&rule, peers_key)
        .iter()
        .filter_map(|p| knp_peer(d, p))
        .map(Some)
        .collect();
    let ports: Vec<ProtocolPort> = d
        .opt_list(&rule, "ports")
        .iter()
        .filter_map(|p| knp_port(d, p))
        .collect();
    if d.error_count() > errors_before {
        return Vec::new();
    }
    if peers.is_empty() {
        // No `from`/`to` (or an empty list): any peer.
        peers.push(None);
    }
    combine(RuleAction::Allow, ingress, &peers, ports)
}

fn knp_peer(d: &mut Diag, f: &Field) -> Option<Peer> {
    let f = d.map(f.clone())?;
    let pod = f.get("podSelector");
    let ns = f.get("namespaceSelector");
    if let Some(block) = f.get("ipBlock") {
        if pod.is_some() || ns.is_some() {
            d.error(
                f.node,
                &f.path,
                "ipBlock cannot be combined with podSelector or namespaceSelector",
            );
            return None;
        }
        let block = d.map(block)?;
        let cidr = d.required(&block, "cidr").and_then(|c| d.cidr(&c))?;
        let mut not_nets = Vec::new();
        for e in d.opt_list(&block, "except") {
            let Some(except) = d.cidr(&e) else { continue };
            // Kubernetes requires each exception to be a strict subset of the block.
            if except.prefix_len() <= cidr.prefix_len() || !cidr.contains(&except.network()) {
                d.error(e.node, &e.path, format!("{except} is not inside {cidr}"));
                continue;
            }
            not_nets.push(except);
        }
        return Some(Peer {
            nets: vec![cidr],
            not_nets,
            ..Peer::default()
        });
    }
    if pod.is_none() && ns.is_none() {
        d.error(
            f.node,
            &f.path,
            "a peer needs podSelector, namespaceSelector or ipBlock",
        );
        return None;
    }
    let selector = pod_selector(d, pod.as_ref());
    let namespace_selector = namespace_selector(d, ns.as_ref()).ok()?;
    Some(Peer {
        selector: Some(selector?),
        namespace_selector,
        ..Peer::default()
    })
}

fn knp_port(d: &mut Diag, f: &Field) -> Option<ProtocolPort> {
    let f = d.map(f.clone())?;
    let protocol = protocol_or_tcp(d, &f);
    let end_port = f.get("endPort");
    let port = match f.get("port") {
        None => {
            if let Some(e) = &end_port {
                d.error(e.node, &e.path, "endPort needs a numeric port");
            }
            None
        }
        Some(p) => match &p.node.value {
            Value::Int(_) => {
                let first = d.int_in(&p, 1, 65535)? as u16;
                match &end_port {
                    None => Some(PortMatch::Single(first)),
                    Some(e) => {
                        let last = d.int_in(e, 1, 65535)? as u16;
                        if last < first {
                            d.error(
                                e.node,
                                &e.path,
                                format!("endPort {last} is less than port {first}"),
                            );
                            return None;
                        }
                        Some(if last == first {
                            PortMatch::Single(first)
                        } else {
                            PortMatch::Range { first, last }
                        })
                    }
                }
            }
            Value::Str(name) if is_port_name(name) => {
                if let Some(e) = &end_port {
                    d.error(
                        e.node,
                        &e.path,
                        "endPort needs a numeric port, not a named one",
                    );
                }
                Some(PortMatch::Named(name.clone()))
            }
            _ => {
                d.error(p.node, &p.path, "expected a port number or a port name");
                return None;
            }
        },
    };
    Some((protocol?, port))
}
