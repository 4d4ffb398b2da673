//! Model → manifests: the YAML of a policy, a tier, or a whole policy set, such that loading
//! it gives the same model back.
//!
//! Calico kinds are written as they are held. Kubernetes NetworkPolicies and
//! (Baseline)AdminNetworkPolicies are held in Calico's shape (converted as Calico converts
//! them), so they are converted back: one Kubernetes rule per converted rule (one peer, one
//! protocol), which converts to exactly the same rules again. A policy whose shape no
//! Kubernetes resource can produce (edited by hand into something else) is an
//! [`ExportError`].

use flowlens_model::well_known_labels::ORCHESTRATOR;
use flowlens_model::{
    EntityRule, HttpPathMatch, IcmpMatch, Inventory, Policy, PolicyKind, PortMatch, Protocol, Rule,
    RuleAction, StagedAction, Tier, TierDefaultAction,
};
use flowlens_selector::{Expr, Selector};
use ipnet::IpNet;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

mod cluster;

/// Why a policy cannot be written as a manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot export {policy}: {reason}")]
pub struct ExportError {
    pub policy: String,
    pub reason: String,
}

/// A YAML value, built in the order fields are written.
#[derive(Clone, Debug)]
enum Y {
    Map(Vec<(String, Y)>),
    Seq(Vec<Y>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Serialize for Y {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Y::Map(entries) => {
                let mut m = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
            Y::Seq(items) => {
                let mut q = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    q.serialize_element(i)?;
                }
                q.end()
            }
            Y::Str(t) => s.serialize_str(t),
            Y::Int(i) => s.serialize_i64(*i),
            Y::Float(f) => s.serialize_f64(*f),
            Y::Bool(b) => s.serialize_bool(*b),
        }
    }
}

/// Builds a mapping, leaving out what is not set.
#[derive(Default)]
struct M(Vec<(String, Y)>);

impl M {
    fn put(mut self, key: &str, value: Y) -> M {
        self.0.push((key.to_string(), value));
        self
    }

    fn opt(self, key: &str, value: Option<Y>) -> M {
        match value {
            Some(v) => self.put(key, v),
            None => self,
        }
    }

    fn list(self, key: &str, items: Vec<Y>) -> M {
        if items.is_empty() {
            self
        } else {
            self.put(key, Y::Seq(items))
        }
    }

    fn done(self) -> Y {
        Y::Map(self.0)
    }
}

fn s(text: impl Into<String>) -> Y {
    Y::Str(text.into())
}

fn number(n: f64) -> Y {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        Y::Int(n as i64)
    } else {
        Y::Float(n)
    }
}

fn to_yaml(value: &Y) -> String {
    serde_saphyr::to_string(value).unwrap_or_default()
}

fn metadata(p: &Policy) -> Y {
    M::default()
        .put("name", s(&p.name))
        .opt("namespace", p.namespace.clone().map(s))
        .done()
}

fn protocol(p: Protocol) -> Y {
    match p {
        Protocol::Other(n) => Y::Int(i64::from(n)),
        p => s(p.to_string()),
    }
}

fn calico_port(p: &PortMatch) -> Y {
    match p {
        PortMatch::Single(n) => Y::Int(i64::from(*n)),
        other => s(other.to_string()),
    }
}

fn nets(list: &[IpNet]) -> Vec<Y> {
    list.iter().map(|n| s(n.to_string())).collect()
}

fn icmp(m: &IcmpMatch) -> Y {
    M::default()
        .opt("type", m.icmp_type.map(|t| Y::Int(i64::from(t))))
        .opt("code", m.code.map(|c| Y::Int(i64::from(c))))
        .done()
}

fn entity(e: &EntityRule) -> Option<Y> {
    if e.is_empty() {
        return None;
    }
    let sa = e.service_accounts.as_ref().map(|sa| {
        M::default()
            .list("names", sa.names.iter().map(s).collect())
            .opt("selector", sa.selector.as_ref().map(|x| s(x.to_string())))
            .done()
    });
    let svc = e.services.as_ref().map(|svc| {
        M::default()
            .put("name", s(&svc.name))
            .opt("namespace", svc.namespace.clone().map(s))
            .done()
    });
    Some(
        M::default()
            .list("nets", nets(&e.nets))
            .list("notNets", nets(&e.not_nets))
            .opt("selector", e.selector.as_ref().map(|x| s(x.to_string())))
            .opt(
                "notSelector",
                e.not_selector.as_ref().map(|x| s(x.to_string())),
            )
            .opt(
                "namespaceSelector",
                e.namespace_selector.as_ref().map(|x| s(x.to_string())),
            )
            .list("ports", e.ports.iter().map(calico_port).collect())
            .list("notPorts", e.not_ports.iter().map(calico_port).collect())
            .opt("serviceAccounts", sa)
            .opt("services", svc)
            .done(),
    )
}

fn calico_rule(r: &Rule) -> Y {
    let http = r.http.as_ref().map(|h| {
        let paths = h
            .paths
            .iter()
            .map(|p| match p {
                HttpPathMatch::Exact(x) => M::default().put("exact", s(x)).done(),
                HttpPathMatch::Prefix(x) => M::default().put("prefix", s(x)).done(),
            })
            .collect();
        M::default()
            .list("methods", h.methods.iter().map(s).collect())
            .list("paths", paths)
            .done()
    });
    M::default()
        .put("action", s(r.action.as_str()))
        .opt("protocol", r.protocol.map(protocol))
        .opt("notProtocol", r.not_protocol.map(protocol))
        .opt("ipVersion", r.ip_version.map(|v| Y::Int(i64::from(v))))
        .opt("icmp", r.icmp.as_ref().map(icmp))
        .opt("notICMP", r.not_icmp.as_ref().map(icmp))
        .opt("source", entity(&r.source))
        .opt("destination", entity(&r.destination))
        .opt("http", http)
        .done()
}

fn types(p: &Policy) -> Vec<Y> {
    let mut t = Vec::new();
    if p.types.ingress {
        t.push(s("Ingress"));
    }
    if p.types.egress {
        t.push(s("Egress"));
    }
    t
}

fn calico_policy(p: &Policy) -> Y {
    let global = !p.kind.is_namespaced();
    let mut spec = M::default()
        .put("tier", s(&p.tier))
        .opt("order", p.order.map(number))
        .put("selector", s(p.selector.to_string()));
    if global {
        spec = spec.opt(
            "namespaceSelector",
            p.namespace_selector.as_ref().map(|x| s(x.to_string())),
        );
    }
    spec = spec
        .opt(
            "serviceAccountSelector",
            p.service_account_selector
                .as_ref()
                .map(|x| s(x.to_string())),
        )
        .put("types", Y::Seq(types(p)))
        .list("ingress", p.ingress.iter().map(calico_rule).collect())
        .list("egress", p.egress.iter().map(calico_rule).collect());
    if global {
        for (key, on) in [
            ("doNotTrack", p.do_not_track),
            ("preDNAT", p.pre_dnat),
            ("applyOnForward", p.apply_on_forward),
        ] {
            if on {
                spec = spec.put(key, Y::Bool(true));
            }
        }
    } else if p.apply_on_forward {
        spec = spec.put("applyOnForward", Y::Bool(true));
    }
    if p.kind.is_staged() && p.staged_action == StagedAction::Delete {
        spec = spec.put("stagedAction", s("Delete"));
    }
    M::default()
        .put("apiVersion", s("projectcalico.org/v3"))
        .put("kind", s(p.kind.resource_kind()))
        .put("metadata", metadata(p))
        .put("spec", spec.done())
        .done()
}

/// A Calico selector written as a Kubernetes LabelSelector, when it has that shape: a run of
/// `key == "value"` terms in key order (matchLabels) followed by `in`, `not in`, `has` and
/// `!has` terms (matchExpressions), as the loader builds them.
fn label_selector(terms: &[Expr]) -> Option<Y> {
    let mut labels = Vec::new();
    let mut exprs = Vec::new();
    let mut last_key: Option<&str> = None;
    for t in terms {
        match t {
            Expr::Equals { key, value }
                if exprs.is_empty() && last_key.is_none_or(|k| k < key.as_str()) =>
            {
                labels.push((key.clone(), s(value)));
                last_key = Some(key);
            }
            Expr::In { key, values } | Expr::NotIn { key, values } => {
                let op = if matches!(t, Expr::In { .. }) {
                    "In"
                } else {
                    "NotIn"
                };
                exprs.push(
                    M::default()
                        .put("key", s(key))
                        .put("operator", s(op))
                        .put("values", Y::Seq(values.iter().map(s).collect()))
                        .done(),
                );
            }
            Expr::Has(key) => exprs.push(
                M::default()
                    .put("key", s(key))
                    .put("operator", s("Exists"))
                    .done(),
            ),
            Expr::Not(inner) => match inner.as_ref() {
                Expr::Has(key) => exprs.push(
                    M::default()
                        .put("key", s(key))
                        .put("operator", s("DoesNotExist"))
                        .done(),
                ),
                _ => return None,
            },
            _ => return None,
        }
    }
    let mut m = M::default();
    if !labels.is_empty() {
        m = m.put("matchLabels", Y::Map(labels));
    }
    Some(m.list("matchExpressions", exprs).done())
}

fn terms(sel: &Selector) -> &[Expr] {
    match sel.expr() {
        Expr::All => &[],
        Expr::And(children) => children,
        single => std::slice::from_ref(single),
    }
}

fn plain_label_selector(sel: &Selector) -> Option<Y> {
    label_selector(terms(sel))
}

/// A pod selector: Calico's orchestrator term first, then the LabelSelector's terms.
fn pod_label_selector(sel: &Selector) -> Option<Y> {
    let all = terms(sel);
    match all.split_first() {
        Some((Expr::Equals { key, value }, rest)) if key == ORCHESTRATOR && value == "k8s" => {
            label_selector(rest)
        }
        _ => None,
    }
}

fn is_orchestrator_only(sel: &Selector) -> bool {
    matches!(sel.expr(), Expr::Equals { key, value } if key == ORCHESTRATOR && value == "k8s")
}

struct Fail<'a>(&'a Policy);

impl Fail<'_> {
    fn err(&self, reason: impl Into<String>) -> ExportError {
        ExportError {
            policy: self.0.id().to_string(),
            reason: reason.into(),
        }
    }
}

/// The peer and ports of a converted Kubernetes rule, checked to be nothing more.
fn split_rule<'r>(
    f: &Fail,
    r: &'r Rule,
    ingress: bool,
) -> Result<(&'r EntityRule, &'r [PortMatch]), ExportError> {
    let extra = r.not_protocol.is_some()
        || r.ip_version.is_some()
        || r.icmp.is_some()
        || r.not_icmp.is_some()
        || r.http.is_some();
    if extra {
        return Err(f.err("a rule uses fields Kubernetes policies cannot express"));
    }
    let (peer, ports_entity) = if ingress {
        (&r.source, &r.destination)
    } else {
        (&r.destination, &r.destination)
    };
    let peer_only = |e: &EntityRule| {
        e.not_selector.is_none()
            && e.not_ports.is_empty()
            && e.service_accounts.is_none()
            && e.services.is_none()
    };
    let ports_only = EntityRule {
        ports: ports_entity.ports.clone(),
        ..EntityRule::default()
    };
    let other_side = if ingress { &r.destination } else { &r.source };
    let other_ok = if ingress {
        *other_side == ports_only
    } else {
        other_side.is_empty()
    };
    if !peer_only(peer) || !other_ok || (ingress && !peer.ports.is_empty()) {
        return Err(f.err("a rule has a shape Kubernetes policies do not produce"));
    }
    Ok((peer, &ports_entity.ports))
}

fn k8s_port(f: &Fail, protocol: Protocol, p: &PortMatch) -> Result<Y, ExportError> {
    let m = M::default().put("protocol", protocol_name(f, protocol)?);
    Ok(match p {
        PortMatch::Single(n) => m.put("port", Y::Int(i64::from(*n))),
        PortMatch::Range { first, last } => m
            .put("port", Y::Int(i64::from(*first)))
            .put("endPort", Y::Int(i64::from(*last))),
        PortMatch::Named(name) => m.put("port", s(name)),
    }
    .done())
}

fn protocol_name(f: &Fail, p: Protocol) -> Result<Y, ExportError> {
    match p {
        Protocol::Tcp | Protocol::Udp | Protocol::Sctp => Ok(s(p.to_string())),
        _ => Err(f.err(format!("protocol {p} has no Kubernetes form"))),
    }
}

fn knp_rule(f: &Fail, r: &Rule, ingress: bool) -> Result<Y, ExportError> {
    if r.action != RuleAction::Allow {
        return Err(f.err("Kubernetes NetworkPolicy rules only allow"));
    }
    let (peer, ports) = split_rule(f, r, ingress)?;
    let port_list: Vec<Y> = match r.protocol {
        None if ports.is_empty() => Vec::new(),
        None => return Err(f.err("ports without a protocol")),
        Some(p) if ports.is_empty() => {
            vec![M::default().put("protocol", protocol_name(f, p)?).done()]
        }
        Some(p) => ports
            .iter()
            .map(|port| k8s_port(f, p, port))
            .collect::<Result<_, _>>()?,
    };
    let peers: Vec<Y> = if !peer.nets.is_empty() {
        if peer.selector.is_some() || peer.namespace_selector.is_some() || peer.nets.len() != 1 {
            return Err(f.err("an ipBlock peer has one CIDR and no selectors"));
        }
        let block = M::default()
            .put("cidr", s(peer.nets[0].to_string()))
            .list("except", nets(&peer.not_nets))
            .done();
        vec![M::default().put("ipBlock", block).done()]
    } else if peer.selector.is_none() && peer.namespace_selector.is_none() {
        if !peer.not_nets.is_empty() {
            return Err(f.err("notNets without nets"));
        }
        Vec::new()
    } else {
        let pod = peer
            .selector
            .as_ref()
            .and_then(pod_label_selector)
            .ok_or_else(|| f.err("a peer selector is not a Kubernetes pod selector"))?;
        let ns = match &peer.namespace_selector {
            Some(sel) => Some(
                plain_label_selector(sel)
                    .ok_or_else(|| f.err("a namespace selector is not a LabelSelector"))?,
            ),
            None => None,
        };
        vec![
            M::default()
                .put("podSelector", pod)
                .opt("namespaceSelector", ns)
                .done(),
        ]
    };
    Ok(M::default()
        .list(if ingress { "from" } else { "to" }, peers)
        .list("ports", port_list)
        .done())
}

fn kubernetes_policy(p: &Policy) -> Result<Y, ExportError> {
    let f = Fail(p);
    let staged = p.kind == PolicyKind::StagedKubernetesNetworkPolicy;
    let pod = pod_label_selector(&p.selector)
        .ok_or_else(|| f.err("the policy selector is not a Kubernetes pod selector"))?;
    let ingress = p
        .ingress
        .iter()
        .map(|r| knp_rule(&f, r, true))
        .collect::<Result<Vec<_>, _>>()?;
    let egress = p
        .egress
        .iter()
        .map(|r| knp_rule(&f, r, false))
        .collect::<Result<Vec<_>, _>>()?;
    let mut spec = M::default()
        .put("podSelector", pod)
        .put("policyTypes", Y::Seq(types(p)));
    // An explicit empty list keeps a direction that has no rules (deny all) readable.
    spec = if p.types.ingress || !ingress.is_empty() {
        spec.put("ingress", Y::Seq(ingress))
    } else {
        spec
    };
    spec = if p.types.egress || !egress.is_empty() {
        spec.put("egress", Y::Seq(egress))
    } else {
        spec
    };
    if staged && p.staged_action == StagedAction::Delete {
        spec = spec.put("stagedAction", s("Delete"));
    }
    if p.order != Some(crate::knp::KNP_ORDER) || p.tier != Tier::DEFAULT {
        return Err(f.err("Kubernetes policies are in tier default at order 1000"));
    }
    let (api, kind) = if staged {
        ("projectcalico.org/v3", "StagedKubernetesNetworkPolicy")
    } else {
        ("networking.k8s.io/v1", "NetworkPolicy")
    };
    Ok(M::default()
        .put("apiVersion", s(api))
        .put("kind", s(kind))
        .put("metadata", metadata(p))
        .put("spec", spec.done())
        .done())
}

fn anp_rule(f: &Fail, r: &Rule, ingress: bool, baseline: bool) -> Result<Y, ExportError> {
    let action = match r.action {
        RuleAction::Allow => "Allow",
        RuleAction::Deny => "Deny",
        RuleAction::Pass if !baseline => "Pass",
        _ => return Err(f.err("an admin policy rule allows, denies or passes")),
    };
    let (peer, ports) = split_rule(f, r, ingress)?;
    let port_list: Vec<Y> = match r.protocol {
        None if ports.is_empty() => Vec::new(),
        // Named ports have no protocol of their own: the container port's applies.
        None => ports
            .iter()
            .map(|port| match port {
                PortMatch::Named(name) => Ok(M::default().put("namedPort", s(name)).done()),
                _ => Err(f.err("ports without a protocol")),
            })
            .collect::<Result<_, ExportError>>()?,
        Some(p) if ports.is_empty() => {
            return Err(f.err(format!(
                "protocol {p} without ports has no AdminNetworkPolicy form"
            )));
        }
        Some(p) => ports
            .iter()
            .map(|port| {
                Ok(match port {
                    PortMatch::Single(n) => M::default()
                        .put(
                            "portNumber",
                            M::default()
                                .put("protocol", protocol_name(f, p)?)
                                .put("port", Y::Int(i64::from(*n)))
                                .done(),
                        )
                        .done(),
                    PortMatch::Range { first, last } => M::default()
                        .put(
                            "portRange",
                            M::default()
                                .put("protocol", protocol_name(f, p)?)
                                .put("start", Y::Int(i64::from(*first)))
                                .put("end", Y::Int(i64::from(*last)))
                                .done(),
                        )
                        .done(),
                    PortMatch::Named(_) => {
                        return Err(f.err(format!(
                            "a named port in an admin policy takes the container port's protocol; write the rule without protocol {p}"
                        )));
                    }
                })
            })
            .collect::<Result<_, ExportError>>()?,
    };
    let peer_y = admin_peer(f, peer, ingress)?;
    Ok(M::default()
        .put("action", s(action))
        .put(if ingress { "from" } else { "to" }, Y::Seq(vec![peer_y]))
        .list("ports", port_list)
        .done())
}

/// An admin policy peer: `networks`, `namespaces` or `pods`.
fn admin_peer(f: &Fail, peer: &EntityRule, ingress: bool) -> Result<Y, ExportError> {
    let peer_y = if !peer.nets.is_empty() {
        if ingress || peer.selector.is_some() || peer.namespace_selector.is_some() {
            return Err(f.err("networks peers are egress only and have no selectors"));
        }
        M::default()
            .put("networks", Y::Seq(nets(&peer.nets)))
            .done()
    } else {
        let ns = peer
            .namespace_selector
            .as_ref()
            .and_then(plain_label_selector)
            .ok_or_else(|| f.err("an admin policy peer needs a namespace LabelSelector"))?;
        match &peer.selector {
            None => M::default().put("namespaces", ns).done(),
            Some(sel) => {
                let pod = pod_label_selector(sel)
                    .ok_or_else(|| f.err("a peer selector is not a pod selector"))?;
                M::default()
                    .put(
                        "pods",
                        M::default()
                            .put("namespaceSelector", ns)
                            .put("podSelector", pod)
                            .done(),
                    )
                    .done()
            }
        }
    };
    if !peer.not_nets.is_empty() {
        return Err(f.err("admin policy peers have no notNets"));
    }
    Ok(peer_y)
}

fn admin_policy(p: &Policy) -> Result<Y, ExportError> {
    let f = Fail(p);
    let baseline = p.kind == PolicyKind::BaselineAdminNetworkPolicy;
    let ns = p
        .namespace_selector
        .as_ref()
        .and_then(plain_label_selector)
        .ok_or_else(|| f.err("the subject needs a namespace LabelSelector"))?;
    let subject = if is_orchestrator_only(&p.selector) {
        M::default().put("namespaces", ns).done()
    } else {
        let pod = pod_label_selector(&p.selector)
            .ok_or_else(|| f.err("the subject selector is not a pod selector"))?;
        M::default()
            .put(
                "pods",
                M::default()
                    .put("namespaceSelector", ns)
                    .put("podSelector", pod)
                    .done(),
            )
            .done()
    };
    let ingress = p
        .ingress
        .iter()
        .map(|r| anp_rule(&f, r, true, baseline))
        .collect::<Result<Vec<_>, _>>()?;
    let egress = p
        .egress
        .iter()
        .map(|r| anp_rule(&f, r, false, baseline))
        .collect::<Result<Vec<_>, _>>()?;
    let priority = match (baseline, p.order) {
        (true, _) => None,
        (false, Some(o)) if o.fract() == 0.0 && (0.0..=1000.0).contains(&o) => {
            Some(Y::Int(o as i64))
        }
        (false, _) => return Err(f.err("the priority must be a whole number 0-1000")),
    };
    let spec = M::default()
        .opt("priority", priority)
        .put("subject", subject)
        .list("ingress", ingress)
        .list("egress", egress)
        .done();
    Ok(M::default()
        .put("apiVersion", s("policy.networking.k8s.io/v1alpha1"))
        .put("kind", s(p.kind.resource_kind()))
        .put("metadata", metadata(p))
        .put("spec", spec)
        .done())
}

fn policy_value(p: &Policy) -> Result<Y, ExportError> {
    match p.kind {
        PolicyKind::KubernetesNetworkPolicy | PolicyKind::StagedKubernetesNetworkPolicy => {
            kubernetes_policy(p)
        }
        PolicyKind::AdminNetworkPolicy | PolicyKind::BaselineAdminNetworkPolicy => admin_policy(p),
        PolicyKind::ClusterNetworkPolicy => cluster::cluster_policy(p),
        _ => Ok(calico_policy(p)),
    }
}

/// One policy as a manifest (one YAML document).
pub fn policy_to_yaml(policy: &Policy) -> Result<String, ExportError> {
    Ok(to_yaml(&policy_value(policy)?))
}

fn tier_value(t: &Tier) -> Y {
    M::default()
        .put("apiVersion", s("projectcalico.org/v3"))
        .put("kind", s("Tier"))
        .put("metadata", M::default().put("name", s(&t.name)).done())
        .put(
            "spec",
            M::default()
                .opt("order", t.order.map(number))
                .put(
                    "defaultAction",
                    s(match t.default_action {
                        TierDefaultAction::Deny => "Deny",
                        TierDefaultAction::Pass => "Pass",
                    }),
                )
                .done(),
        )
        .done()
}

/// A tier as a manifest.
pub fn tier_to_yaml(tier: &Tier) -> String {
    to_yaml(&tier_value(tier))
}

/// The inventory's tiers (except the built-in ones) and policies as one multi-document YAML
/// stream, in evaluation order; only `tier`'s when given.
pub fn export_policies(inventory: &Inventory, tier: Option<&str>) -> Result<String, ExportError> {
    let builtin = |t: &Tier| {
        Tier::builtins()
            .iter()
            .any(|b| b.name == t.name && *b == *t)
    };
    let mut docs = Vec::new();
    for t in inventory.tiers_in_order() {
        if tier.is_some_and(|name| name != t.name) {
            continue;
        }
        if !builtin(t) {
            docs.push(to_yaml(&tier_value(t)));
        }
        for p in inventory.policies_in_tier(&t.name) {
            docs.push(policy_to_yaml(p)?);
        }
    }
    Ok(docs
        .iter()
        .map(|d| format!("---\n{}", d.trim_start_matches("---\n")))
        .collect())
}
