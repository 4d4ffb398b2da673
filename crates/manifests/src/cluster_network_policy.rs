//! ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2), the kind that replaces
//! AdminNetworkPolicy and BaselineAdminNetworkPolicy, converted as Calico 3.32 converts it:
//! a global policy in `kube-admin` (tier `Admin`) or `kube-baseline` (tier `Baseline`), its
//! priority as the order, named in policy hits as `kcnp:<name>`.
//!
//! Rules become one Calico rule per protocol group × peer: named ports first, in a group
//! with no protocol (a named port matches the container port of that name with the protocol
//! the container declares), then TCP, SCTP and UDP groups in name order. A rule Calico
//! cannot convert (a `nodes` or `domainNames` peer) fails closed, as Calico does: a Deny or
//! Pass rule becomes "deny everything", an Accept rule is dropped; each with a warning.

use crate::anp::{AnpPort, namespaced_pods, port_groups, subject_selectors};
use crate::errors::Diag;
use crate::knp::{Peer, combine_groups};
use crate::label_selector::label_selector;
use crate::ports::is_port_name;
use crate::read::Field;
use crate::resource::{FieldRef, PolicyResource, ResourceBody};
use flowlens_model::{
    Policy, PolicyKind, PolicyTypes, PortMatch, Protocol, Rule, RuleAction, StagedAction, Tier,
};
use flowlens_selector::Selector;

/// The API allows at most 25 rules per direction, 25 peers and 25 protocols per rule.
const MAX_ITEMS: usize = 25;

pub(crate) fn cluster_network_policy(d: &mut Diag, root: &Field) -> Option<ResourceBody> {
    let meta = d.metadata(root, false)?;
    let spec = d.required(root, "spec").and_then(|f| d.map(f))?;
    let errors_before = d.error_count();
    let tier = d.required(&spec, "tier").and_then(|f| {
        let text = d.string(&f)?;
        match text.as_str() {
            "Admin" => Some(Tier::KUBE_ADMIN),
            "Baseline" => Some(Tier::KUBE_BASELINE),
            _ => {
                d.error(
                    f.node,
                    &f.path,
                    format!("unknown tier {text:?}: expected Admin or Baseline"),
                );
                None
            }
        }
    });
    let order = d
        .required(&spec, "priority")
        .and_then(|p| d.int_in(&p, 0, 1000))
        .map(|p| p as f64);
    let subject = d.required(&spec, "subject").and_then(|s| d.map(s));
    let (selector, namespace_selector) = match &subject {
        Some(s) => subject_selectors(d, s).unwrap_or((Selector::all(), None)),
        None => (Selector::all(), None),
    };
    let ingress = cnp_rules(d, &spec, true);
    let egress = cnp_rules(d, &spec, false);
    if d.error_count() > errors_before {
        return None;
    }
    let tier = tier?;
    // The tiers pass by default, so a direction only matters when it has rules.
    let types = PolicyTypes {
        ingress: !ingress.is_empty(),
        egress: !egress.is_empty(),
    };
    Some(ResourceBody::Policy(Box::new(PolicyResource {
        policy: Policy {
            kind: PolicyKind::ClusterNetworkPolicy,
            name: meta.name,
            namespace: None,
            tier: tier.into(),
            order,
            selector,
            namespace_selector,
            service_account_selector: None,
            types,
            ingress,
            egress,
            do_not_track: false,
            pre_dnat: false,
            apply_on_forward: false,
            staged_action: StagedAction::Set,
            source: None,
        },
        tier_at: FieldRef::default(),
    })))
}

/// A list field with at most [`MAX_ITEMS`] entries (an error at the field otherwise).
fn bounded_list<'a>(d: &mut Diag, parent: &Field<'a>, key: &str) -> Vec<Field<'a>> {
    let items = d.opt_list(parent, key);
    if items.len() > MAX_ITEMS
        && let Some(f) = parent.get(key)
    {
        d.error(
            f.node,
            &f.path,
            format!("at most {MAX_ITEMS} are allowed, found {}", items.len()),
        );
        return Vec::new();
    }
    items
}

fn cnp_rules(d: &mut Diag, spec: &Field, ingress: bool) -> Vec<Rule> {
    let key = if ingress { "ingress" } else { "egress" };
    let mut rules = Vec::new();
    for f in bounded_list(d, spec, key) {
        rules.extend(cnp_rule(d, &f, ingress));
    }
    rules
}

/// What one written rule says, before it becomes Calico rules.
enum Converted {
    Rules(Vec<Rule>),
    /// Calico cannot convert it (`why`); it fails closed.
    Unsupported(&'static str),
}

fn cnp_rule(d: &mut Diag, f: &Field, ingress: bool) -> Vec<Rule> {
    let Some(f) = d.map(f.clone()) else {
        return Vec::new();
    };
    let errors_before = d.error_count();
    if let Some(name) = f.get("name")
        && let Some(text) = d.string(&name)
        && text.chars().count() > 100
    {
        d.error(
            name.node,
            &name.path,
            "a rule name has at most 100 characters",
        );
    }
    let action = d.required(&f, "action").and_then(|a| {
        let text = d.string(&a)?;
        let action = match text.as_str() {
            "Accept" => Some(RuleAction::Allow),
            "Deny" => Some(RuleAction::Deny),
            "Pass" => Some(RuleAction::Pass),
            _ => None,
        };
        if action.is_none() {
            d.error(
                a.node,
                &a.path,
                format!("unknown action {text:?}: expected Accept, Deny or Pass"),
            );
        }
        action
    });
    let peers_key = if ingress { "from" } else { "to" };
    let peer_fields = match d.required(&f, peers_key) {
        Some(_) => bounded_list(d, &f, peers_key),
        None => Vec::new(),
    };
    if peer_fields.is_empty() && f.get(peers_key).is_some() {
        d.error(
            f.node,
            &f.path.key(peers_key),
            "at least one peer is required",
        );
    }
    let mut peers = Vec::new();
    let mut unsupported = None;
    for p in &peer_fields {
        match cnp_peer(d, p, ingress) {
            Some(PeerOrNot::Peer(peer)) => peers.push(Some(peer)),
            Some(PeerOrNot::Unsupported(what)) => unsupported = Some(what),
            None => {}
        }
    }
    let protocols: Vec<AnpPort> = bounded_list(d, &f, "protocols")
        .iter()
        .filter_map(|p| cnp_protocol(d, p))
        .collect();
    let named = protocols.iter().any(|p| matches!(p, AnpPort::Named(_)));
    if named && peers.iter().flatten().any(|p| !p.nets.is_empty()) {
        d.error(
            f.node,
            &f.path.key("protocols"),
            "networks peers cannot be combined with destinationNamedPort: networks have no named ports",
        );
    }
    if d.error_count() > errors_before {
        return Vec::new();
    }
    let Some(action) = action else {
        return Vec::new();
    };
    let converted = match unsupported {
        Some(what) => Converted::Unsupported(what),
        None => Converted::Rules(combine_groups(
            action,
            ingress,
            &peers,
            port_groups(protocols),
        )),
    };
    match converted {
        Converted::Rules(rules) => rules,
        Converted::Unsupported(what) => {
            let (outcome, rules) = if action == RuleAction::Allow {
                ("the Accept rule is dropped", Vec::new())
            } else {
                (
                    "the rule becomes one that denies everything",
                    vec![Rule::new(RuleAction::Deny)],
                )
            };
            d.warn(
                f.node,
                format!(
                    "{}: {what} peers are not supported by Calico; as Calico does, {outcome}",
                    f.path
                ),
            );
            rules
        }
    }
}

enum PeerOrNot {
    Peer(Peer),
    Unsupported(&'static str),
}

/// One peer: exactly one of `namespaces`, `pods` and (egress) `networks`, `nodes`,
/// `domainNames`.
fn cnp_peer(d: &mut Diag, f: &Field, ingress: bool) -> Option<PeerOrNot> {
    let f = d.map(f.clone())?;
    let allowed: &[&str] = if ingress {
        &["namespaces", "pods"]
    } else {
        &["namespaces", "pods", "networks", "nodes", "domainNames"]
    };
    let present: Vec<&str> = allowed
        .iter()
        .copied()
        .filter(|k| f.get(k).is_some())
        .collect();
    let [key] = present[..] else {
        d.error(
            f.node,
            &f.path,
            format!("exactly one of {} must be set", allowed.join(", ")),
        );
        return None;
    };
    match key {
        // Any endpoint in the selected namespaces (no orchestrator term, as Calico writes it).
        "namespaces" => {
            let ns = label_selector(d, &f.get("namespaces")?)?;
            Some(PeerOrNot::Peer(Peer {
                namespace_selector: Some(ns),
                ..Peer::default()
            }))
        }
        "pods" => {
            let pods = d.map(f.get("pods")?)?;
            let (ns, pod) = namespaced_pods(d, &pods)?;
            Some(PeerOrNot::Peer(Peer {
                selector: Some(pod),
                namespace_selector: Some(ns),
                ..Peer::default()
            }))
        }
        "networks" => {
            let list = d.list(&f.get("networks")?);
            if list.is_empty() || list.len() > MAX_ITEMS {
                d.error(
                    f.node,
                    &f.path.key("networks"),
                    format!("between 1 and {MAX_ITEMS} networks are required"),
                );
            }
            let nets = list.iter().filter_map(|n| d.cidr(n)).collect();
            Some(PeerOrNot::Peer(Peer {
                nets,
                ..Peer::default()
            }))
        }
        "nodes" => Some(PeerOrNot::Unsupported("nodes")),
        _ => Some(PeerOrNot::Unsupported("domainNames")),
    }
}

/// One of `tcp`, `udp`, `sctp` (each with an optional `destinationPort` of `number` or
/// `range`) or `destinationNamedPort`.
fn cnp_protocol(d: &mut Diag, f: &Field) -> Option<AnpPort> {
    let f = d.map(f.clone())?;
    let keys = ["tcp", "udp", "sctp", "destinationNamedPort"];
    let present: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| f.get(k).is_some())
        .collect();
    let [key] = present[..] else {
        d.error(
            f.node,
            &f.path,
            "exactly one of tcp, udp, sctp or destinationNamedPort must be set",
        );
        return None;
    };
    let protocol = match key {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        "sctp" => Protocol::Sctp,
        _ => {
            let n = f.get("destinationNamedPort")?;
            let name = d.string(&n)?;
            if !is_port_name(&name) {
                d.error(n.node, &n.path, format!("invalid port name {name:?}"));
                return None;
            }
            return Some(AnpPort::Named(name));
        }
    };
    let body = d.map(f.get(key)?)?;
    let Some(port) = body.get("destinationPort") else {
        // No port: every port of the protocol.
        return Some(AnpPort::Typed((protocol, None)));
    };
    let port = d.map(port)?;
    match (port.get("number"), port.get("range")) {
        (Some(n), None) => {
            let n = d.int_in(&n, 1, 65535)? as u16;
            Some(AnpPort::Typed((protocol, Some(PortMatch::Single(n)))))
        }
        (None, Some(r)) => {
            let r = d.map(r)?;
            let start = d.required(&r, "start").and_then(|n| d.int_in(&n, 1, 65535));
            let end = d.required(&r, "end").and_then(|n| d.int_in(&n, 1, 65535));
            let (first, last) = (start? as u16, end? as u16);
            if first >= last {
                d.error(
                    r.node,
                    &r.path,
                    format!("start {first} must be less than end {last}"),
                );
                return None;
            }
            Some(AnpPort::Typed((
                protocol,
                Some(PortMatch::Range { first, last }),
            )))
        }
        _ => {
            d.error(
                port.node,
                &port.path,
                "exactly one of number or range must be set",
            );
            None
        }
    }
}
