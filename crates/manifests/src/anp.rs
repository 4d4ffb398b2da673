//! AdminNetworkPolicy and BaselineAdminNetworkPolicy (policy.networking.k8s.io/v1alpha1)
//! converted as Calico converts them: global policies in the `kube-admin` (order = priority)
//! and `kube-baseline` tiers, one rule per protocol group × peer.
//!
//! Simplification: egress `nodes` peers are not supported (Flowlens has no node inventory);
//! they are skipped with a warning, so a rule whose only peers are nodes matches nothing.

use crate::errors::Diag;
use crate::knp::{Peer, combine_groups};
use crate::label_selector::{label_selector, orchestrator_k8s, pod_selector};
use crate::ports::{ProtocolPort, group_by_protocol, is_port_name};
use crate::read::Field;
use crate::resource::{FieldRef, PolicyResource, ResourceBody};
use flowlens_model::{
    Policy, PolicyKind, PolicyTypes, PortMatch, Protocol, Rule, RuleAction, StagedAction, Tier,
};
use flowlens_selector::Selector;

/// The API limits each direction to 100 rules.
const MAX_RULES: usize = 100;

pub(crate) fn admin_network_policy(
    d: &mut Diag,
    root: &Field,
    baseline: bool,
) -> Option<ResourceBody> {
    let meta = d.metadata(root, false)?;
    let spec = d.required(root, "spec").and_then(|f| d.map(f))?;
    let errors_before = d.error_count();
    // The API allows exactly one BaselineAdminNetworkPolicy, named `default`.
    if baseline
        && meta.name != "default"
        && let Some(f) = root.get("metadata").and_then(|m| m.get("name"))
    {
        d.error(
            f.node,
            &f.path,
            "a BaselineAdminNetworkPolicy must be named \"default\"",
        );
    }
    let order = if baseline {
        None
    } else {
        d.required(&spec, "priority")
            .and_then(|p| d.int_in(&p, 0, 1000))
            .map(|p| p as f64)
    };
    let subject = d.required(&spec, "subject").and_then(|s| d.map(s));
    let (selector, namespace_selector) = match &subject {
        Some(s) => subject_selectors(d, s).unwrap_or((Selector::all(), None)),
        None => (Selector::all(), None),
    };
    let ingress = anp_rules(d, &spec, "ingress", "from", baseline);
    let egress = anp_rules(d, &spec, "egress", "to", baseline);

    if d.error_count() > errors_before || (!baseline && order.is_none()) {
        return None;
    }
    // ANP tiers pass by default, so a direction only matters when it has rules.
    let types = PolicyTypes {
        ingress: !ingress.is_empty(),
        egress: !egress.is_empty(),
    };
    Some(ResourceBody::Policy(Box::new(PolicyResource {
        policy: Policy {
            kind: if baseline {
                PolicyKind::BaselineAdminNetworkPolicy
            } else {
                PolicyKind::AdminNetworkPolicy
            },
            name: meta.name,
            namespace: None,
            tier: if baseline {
                Tier::KUBE_BASELINE
            } else {
                Tier::KUBE_ADMIN
            }
            .into(),
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

/// `subject`: exactly one of `namespaces` (a namespace LabelSelector) or `pods`
/// (`namespaceSelector` + `podSelector`).
pub(crate) fn subject_selectors(d: &mut Diag, s: &Field) -> Option<(Selector, Option<Selector>)> {
    match (s.get("namespaces"), s.get("pods")) {
        (Some(ns), None) => {
            let ns = label_selector(d, &ns)?;
            Some((orchestrator_k8s(), Some(ns)))
        }
        (None, Some(pods)) => {
            let pods = d.map(pods)?;
            let (ns, pod) = namespaced_pods(d, &pods)?;
            Some((pod, Some(ns)))
        }
        _ => {
            d.error(
                s.node,
                &s.path,
                "exactly one of namespaces or pods must be set",
            );
            None
        }
    }
}

/// `{namespaceSelector, podSelector}`, both required.
pub(crate) fn namespaced_pods(d: &mut Diag, f: &Field) -> Option<(Selector, Selector)> {
    let ns = d.required(f, "namespaceSelector");
    let pod = d.required(f, "podSelector");
    let ns = label_selector(d, &ns?)?;
    let pod = pod_selector(d, Some(&pod?))?;
    Some((ns, pod))
}

fn anp_rules(d: &mut Diag, spec: &Field, key: &str, peers_key: &str, baseline: bool) -> Vec<Rule> {
    let fields = d.opt_list(spec, key);
    if fields.len() > MAX_RULES {
        if let Some(f) = spec.get(key) {
            d.error(
                f.node,
                &f.path,
                format!(
                    "at most {MAX_RULES} rules are allowed, found {}",
                    fields.len()
                ),
            );
        }
        return Vec::new();
    }
    let mut rules = Vec::new();
    for f in fields {
        rules.extend(anp_rule(d, &f, peers_key, key == "ingress", baseline));
    }
    rules
}

fn anp_rule(d: &mut Diag, f: &Field, peers_key: &str, ingress: bool, baseline: bool) -> Vec<Rule> {
    let Some(f) = d.map(f.clone()) else {
        return Vec::new();
    };
    let errors_before = d.error_count();
    let action = d.required(&f, "action").and_then(|a| {
        let text = d.string(&a)?;
        let action = match text.as_str() {
            "Allow" => Some(RuleAction::Allow),
            "Deny" => Some(RuleAction::Deny),
            "Pass" if !baseline => Some(RuleAction::Pass),
            _ => None,
        };
        if action.is_none() {
            let expected = if baseline {
                "Allow or Deny"
            } else {
                "Allow, Deny or Pass"
            };
            d.error(
                a.node,
                &a.path,
                format!("unknown action {text:?}: expected {expected}"),
            );
        }
        action
    });
    let peer_fields = d
        .required(&f, peers_key)
        .map(|p| d.list(&p))
        .unwrap_or_default();
    if peer_fields.is_empty() && f.get(peers_key).is_some() {
        d.error(
            f.node,
            &f.path.key(peers_key),
            "at least one peer is required",
        );
    }
    let mut peers = Vec::new();
    for p in &peer_fields {
        if let Some(peer) = anp_peer(d, p, ingress) {
            peers.extend(peer.map(Some));
        }
    }
    let ports: Vec<AnpPort> = d
        .opt_list(&f, "ports")
        .iter()
        .filter_map(|p| anp_port(d, p))
        .collect();
    if d.error_count() > errors_before {
        return Vec::new();
    }
    let Some(action) = action else {
        return Vec::new();
    };
    // Unlike Kubernetes NetworkPolicy, no peers (only unsupported ones) means no traffic.
    if peers.is_empty() {
        return Vec::new();
    }
    combine_groups(action, ingress, &peers, port_groups(ports))
}

/// A port entry: a protocol and port, or a named port, which has no protocol of its own.
pub(crate) enum AnpPort {
    Typed(ProtocolPort),
    Named(String),
}

/// Rule groups as Calico groups ClusterNetworkPolicy ports: named ports first, in a group
/// with no protocol (a named port matches the container port of that name with whatever
/// protocol the container declares it), then one group per protocol. No entries at all
/// means one rule matching every port.
pub(crate) fn port_groups(ports: Vec<AnpPort>) -> Vec<(Option<Protocol>, Vec<PortMatch>)> {
    let mut named = Vec::new();
    let mut typed = Vec::new();
    for p in ports {
        match p {
            AnpPort::Typed(t) => typed.push(t),
            AnpPort::Named(n) => named.push(PortMatch::Named(n)),
        }
    }
    let mut groups = Vec::new();
    if !named.is_empty() {
        named.sort_by_key(|a| a.to_string());
        named.dedup();
        groups.push((None, named));
    }
    if !typed.is_empty() || groups.is_empty() {
        groups.extend(group_by_protocol(typed));
    }
    groups
}

/// One peer. `Some(None)`: valid but unsupported (`nodes`), skipped with a warning.
fn anp_peer(d: &mut Diag, f: &Field, ingress: bool) -> Option<Option<Peer>> {
    let f = d.map(f.clone())?;
    let allowed: &[&str] = if ingress {
        &["namespaces", "pods"]
    } else {
        &["namespaces", "pods", "networks", "nodes"]
    };
    let present: Vec<&str> = allowed
        .iter()
        .copied()
        .filter(|k| f.get(k).is_some())
        .collect();
    if present.len() != 1 {
        d.error(
            f.node,
            &f.path,
            format!("exactly one of {} must be set", allowed.join(", ")),
        );
        return None;
    }
    match present.first().copied() {
        Some("namespaces") => {
            // Calico matches any endpoint in the selected namespaces here (no orchestrator
            // term, unlike the `pods` form).
            let ns = label_selector(d, &f.get("namespaces")?)?;
            Some(Some(Peer {
                namespace_selector: Some(ns),
                ..Peer::default()
            }))
        }
        Some("pods") => {
            let pods = d.map(f.get("pods")?)?;
            let (ns, pod) = namespaced_pods(d, &pods)?;
            Some(Some(Peer {
                selector: Some(pod),
                namespace_selector: Some(ns),
                ..Peer::default()
            }))
        }
        Some("networks") => {
            let list = d.list(&f.get("networks")?);
            if list.is_empty() {
                d.error(
                    f.node,
                    &f.path.key("networks"),
                    "at least one network is required",
                );
            }
            let nets = list.iter().filter_map(|n| d.cidr(n)).collect();
            Some(Some(Peer {
                nets,
                ..Peer::default()
            }))
        }
        _ => {
            d.warn(
                f.node,
                format!(
                    "{}: nodes peers are not supported; this peer is skipped",
                    f.path
                ),
            );
            Some(None)
        }
    }
}

/// One of `portNumber {protocol, port}`, `portRange {protocol, start, end}` or
/// `namedPort: name`.
fn anp_port(d: &mut Diag, f: &Field) -> Option<AnpPort> {
    let f = d.map(f.clone())?;
    let keys = ["portNumber", "portRange", "namedPort"];
    let present: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| f.get(k).is_some())
        .collect();
    match present.as_slice() {
        ["portNumber"] => {
            let p = d.map(f.get("portNumber")?)?;
            let protocol = crate::kubernetes::protocol_or_tcp(d, &p);
            let port = d
                .required(&p, "port")
                .and_then(|n| d.int_in(&n, 1, 65535))? as u16;
            Some(AnpPort::Typed((protocol?, Some(PortMatch::Single(port)))))
        }
        ["portRange"] => {
            let r = d.map(f.get("portRange")?)?;
            let protocol = crate::kubernetes::protocol_or_tcp(d, &r);
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
                protocol?,
                Some(PortMatch::Range { first, last }),
            )))
        }
        ["namedPort"] => {
            let n = f.get("namedPort")?;
            let name = d.string(&n)?;
            if !is_port_name(&name) {
                d.error(n.node, &n.path, format!("invalid port name {name:?}"));
                return None;
            }
            Some(AnpPort::Named(name))
        }
        _ => {
            d.error(
                f.node,
                &f.path,
                "exactly one of portNumber, portRange or namedPort must be set",
            );
            None
        }
    }
}
