//! A ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2) back as a manifest: each model
//! rule becomes one written rule, the way the loader's conversion produced it.

use super::{Fail, M, Y, admin_peer, is_orchestrator_only, metadata, plain_label_selector};
use super::{pod_label_selector, s, split_rule};
use crate::ExportError;
use flowlens_model::{Policy, PortMatch, Protocol, Rule, RuleAction, Tier};

pub(super) fn cluster_policy(p: &Policy) -> Result<Y, ExportError> {
    let f = Fail(p);
    let tier = match p.tier.as_str() {
        Tier::KUBE_ADMIN => "Admin",
        Tier::KUBE_BASELINE => "Baseline",
        other => {
            return Err(f.err(format!(
                "tier {other} is neither kube-admin nor kube-baseline"
            )));
        }
    };
    let priority = match p.order {
        Some(o) if o.fract() == 0.0 && (0.0..=1000.0).contains(&o) => Y::Int(o as i64),
        _ => return Err(f.err("the priority must be a whole number 0-1000")),
    };
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
    let rules = |list: &[Rule], ingress: bool| {
        list.iter()
            .map(|r| cluster_rule(&f, r, ingress))
            .collect::<Result<Vec<_>, _>>()
    };
    let spec = M::default()
        .put("tier", s(tier))
        .put("priority", priority)
        .put("subject", subject)
        .list("ingress", rules(&p.ingress, true)?)
        .list("egress", rules(&p.egress, false)?)
        .done();
    Ok(M::default()
        .put("apiVersion", s("policy.networking.k8s.io/v1alpha2"))
        .put("kind", s("ClusterNetworkPolicy"))
        .put("metadata", metadata(p))
        .put("spec", spec)
        .done())
}

fn cluster_rule(f: &Fail, r: &Rule, ingress: bool) -> Result<Y, ExportError> {
    let action = match r.action {
        RuleAction::Allow => "Accept",
        RuleAction::Deny => "Deny",
        RuleAction::Pass => "Pass",
        RuleAction::Log => return Err(f.err("a cluster policy rule accepts, denies or passes")),
    };
    let (peer, ports) = split_rule(f, r, ingress)?;
    let protocols: Vec<Y> = match r.protocol {
        None if ports.is_empty() => Vec::new(),
        None => ports
            .iter()
            .map(|port| match port {
                PortMatch::Named(name) => {
                    Ok(M::default().put("destinationNamedPort", s(name)).done())
                }
                _ => Err(f.err("ports without a protocol")),
            })
            .collect::<Result<_, ExportError>>()?,
        Some(p) => {
            let key = match p {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
                Protocol::Sctp => "sctp",
                _ => return Err(f.err(format!("protocol {p} has no ClusterNetworkPolicy form"))),
            };
            if ports.is_empty() {
                return Err(f.err(format!(
                    "protocol {p} without ports has no ClusterNetworkPolicy form"
                )));
            }
            ports
                .iter()
                .map(|port| {
                    let destination = match port {
                        PortMatch::Single(n) => {
                            M::default().put("number", Y::Int(i64::from(*n))).done()
                        }
                        PortMatch::Range { first, last } => M::default()
                            .put(
                                "range",
                                M::default()
                                    .put("start", Y::Int(i64::from(*first)))
                                    .put("end", Y::Int(i64::from(*last)))
                                    .done(),
                            )
                            .done(),
                        PortMatch::Named(_) => {
                            return Err(f.err(format!(
                                "a named port takes the container port's protocol; write the rule without protocol {p}"
                            )));
                        }
                    };
                    Ok(M::default()
                        .put(
                            key,
                            M::default().put("destinationPort", destination).done(),
                        )
                        .done())
                })
                .collect::<Result<_, ExportError>>()?
        }
    };
    if peer.is_empty() {
        return Err(f.err("a rule with no peer (a conversion that failed closed) has no ClusterNetworkPolicy form"));
    }
    let peer_y = admin_peer(f, peer, ingress)?;
    Ok(M::default()
        .put("action", s(action))
        .put(if ingress { "from" } else { "to" }, Y::Seq(vec![peer_y]))
        .list("protocols", protocols)
        .done())
}
