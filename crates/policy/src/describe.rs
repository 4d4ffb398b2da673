//! Rules and labels in words, for traces, the CLI and the UI.

use flowlens_model::{EntityRule, Labels, Rule};

/// `{app=frontend, fw-zone=dmz}`; Calico's automatic `projectcalico.org/*` labels are left
/// out to keep it readable.
pub fn format_labels(labels: &Labels) -> String {
    let shown: Vec<String> = labels
        .iter()
        .filter(|(k, _)| !k.starts_with("projectcalico.org/"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!("{{{}}}", shown.join(", "))
}

/// A rule on one line: `Allow TCP from selector fw-zone == "dmz" to ports 80`.
pub fn describe_rule(rule: &Rule) -> String {
    let mut out = rule.action.as_str().to_string();
    if let Some(p) = rule.protocol {
        out.push_str(&format!(" {p}"));
    }
    if let Some(p) = rule.not_protocol {
        out.push_str(&format!(" not protocol {p}"));
    }
    if let Some(v) = rule.ip_version {
        out.push_str(&format!(" IPv{v}"));
    }
    if let Some(icmp) = rule.icmp {
        out.push_str(&format!(" icmp{}", describe_icmp(icmp)));
    }
    if let Some(icmp) = rule.not_icmp {
        out.push_str(&format!(" not icmp{}", describe_icmp(icmp)));
    }
    let src = describe_entity(&rule.source);
    let dst = describe_entity(&rule.destination);
    if !src.is_empty() {
        out.push_str(&format!(" from {src}"));
    }
    if !dst.is_empty() {
        out.push_str(&format!(" to {dst}"));
    }
    if src.is_empty() && dst.is_empty() {
        out.push_str(" all traffic");
    }
    if let Some(http) = &rule.http {
        out.push_str(&format!(" http {http:?}"));
    }
    out
}

fn describe_icmp(m: flowlens_model::IcmpMatch) -> String {
    let mut s = String::new();
    if let Some(t) = m.icmp_type {
        s.push_str(&format!(" type {t}"));
    }
    if let Some(c) = m.code {
        s.push_str(&format!(" code {c}"));
    }
    s
}

/// A source or destination in words; empty when it places no constraint.
pub fn describe_entity(e: &EntityRule) -> String {
    let mut parts = Vec::new();
    if let Some(s) = &e.namespace_selector {
        parts.push(format!("namespaceSelector {s}"));
    }
    if let Some(s) = &e.selector {
        parts.push(format!("selector {s}"));
    }
    if let Some(s) = &e.not_selector {
        parts.push(format!("notSelector {s}"));
    }
    if !e.nets.is_empty() {
        parts.push(format!("nets {}", join(&e.nets)));
    }
    if !e.not_nets.is_empty() {
        parts.push(format!("notNets {}", join(&e.not_nets)));
    }
    if let Some(sa) = &e.service_accounts {
        let mut s = "serviceAccounts".to_string();
        if !sa.names.is_empty() {
            s.push_str(&format!(" {}", sa.names.join(", ")));
        }
        if let Some(sel) = &sa.selector {
            s.push_str(&format!(" selector {sel}"));
        }
        parts.push(s);
    }
    if let Some(svc) = &e.services {
        match &svc.namespace {
            Some(ns) => parts.push(format!("service {ns}/{}", svc.name)),
            None => parts.push(format!("service {}", svc.name)),
        }
    }
    if !e.ports.is_empty() {
        parts.push(format!("ports {}", join(&e.ports)));
    }
    if !e.not_ports.is_empty() {
        parts.push(format!("notPorts {}", join(&e.not_ports)));
    }
    parts.join(" ")
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
