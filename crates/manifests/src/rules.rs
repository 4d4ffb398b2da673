//! Calico rules (`spec.ingress` / `spec.egress` of the Calico policy kinds) and their
//! validation, following libcalico-go's validator.

use crate::errors::Diag;
use crate::node::Value;
use crate::ports::calico_port;
use crate::read::Field;
use flowlens_model::{
    EntityRule, HttpMatch, HttpPathMatch, IcmpMatch, Protocol, Rule, RuleAction,
    ServiceAccountMatch, ServiceMatch,
};
use ipnet::IpNet;

/// All rules under `key` of `spec`. Invalid rules are reported and left out.
pub(crate) fn calico_rules(d: &mut Diag, spec: &Field, key: &str) -> Vec<Rule> {
    d.opt_list(spec, key)
        .into_iter()
        .filter_map(|f| rule(d, &f))
        .collect()
}

pub(crate) fn parse_action(text: &str) -> Option<RuleAction> {
    match text.to_ascii_lowercase().as_str() {
        "allow" => Some(RuleAction::Allow),
        "deny" => Some(RuleAction::Deny),
        "pass" => Some(RuleAction::Pass),
        "log" => Some(RuleAction::Log),
        _ => None,
    }
}

/// A protocol written as a name or a number.
pub(crate) fn protocol(d: &mut Diag, f: &Field) -> Option<Protocol> {
    let text = match &f.node.value {
        Value::Int(n) => n.to_string(),
        Value::Str(s) => s.clone(),
        _ => {
            d.type_error(f, "a protocol name or number");
            return None;
        }
    };
    match Protocol::parse(&text) {
        Ok(p) => Some(p),
        Err(e) => {
            d.error(f.node, &f.path, e.to_string());
            None
        }
    }
}

fn rule(d: &mut Diag, f: &Field) -> Option<Rule> {
    let f = d.map(f.clone())?;
    let errors_before = d.error_count();

    let action = d.required(&f, "action").and_then(|a| {
        let text = d.string(&a)?;
        let action = parse_action(&text);
        if action.is_none() {
            d.error(
                a.node,
                &a.path,
                format!("unknown action {text:?}: expected Allow, Deny, Pass or Log"),
            );
        }
        action
    });
    let protocol_field = f.get("protocol");
    let protocol = protocol_field.as_ref().and_then(|p| protocol(d, p));
    let not_protocol = f.get("notProtocol").and_then(|p| self::protocol(d, &p));
    let ip_version_field = f.get("ipVersion");
    let ip_version = ip_version_field.as_ref().and_then(|v| match d.int(v)? {
        4 => Some(4u8),
        6 => Some(6u8),
        other => {
            d.error(v.node, &v.path, format!("ipVersion {other} is not 4 or 6"));
            None
        }
    });
    let icmp_field = f.get("icmp");
    let not_icmp_field = f.get("notICMP");
    let icmp = icmp_field.as_ref().and_then(|i| icmp_match(d, i));
    let not_icmp = not_icmp_field.as_ref().and_then(|i| icmp_match(d, i));

    // ICMP matches need an ICMP protocol, and the ICMP flavour fixes the IP version.
    for field in [&icmp_field, &not_icmp_field].into_iter().flatten() {
        if !matches!(protocol, Some(Protocol::Icmp | Protocol::IcmpV6)) {
            d.error(
                field.node,
                &field.path,
                "ICMP matches may only be specified with protocol ICMP or ICMPv6",
            );
        }
    }
    if let Some(v) = &ip_version_field {
        match (protocol, ip_version) {
            (Some(Protocol::Icmp), Some(6)) => d.error(
                v.node,
                &v.path,
                "protocol ICMP is IPv4 only: ipVersion must be 4",
            ),
            (Some(Protocol::IcmpV6), Some(4)) => d.error(
                v.node,
                &v.path,
                "protocol ICMPv6 is IPv6 only: ipVersion must be 6",
            ),
            _ => {}
        }
    }

    let source = f
        .get("source")
        .map(|s| entity(d, &s, protocol, ip_version))
        .unwrap_or_default();
    let destination = f
        .get("destination")
        .map(|s| entity(d, &s, protocol, ip_version))
        .unwrap_or_default();
    let http_field = f.get("http");
    let http = http_field.as_ref().and_then(|h| http_match(d, h));
    if let (Some(h), Some(a)) = (&http_field, action)
        && a != RuleAction::Allow
    {
        d.error(
            h.node,
            &h.path,
            "HTTP matches are only valid on Allow rules",
        );
    }

    if d.error_count() > errors_before {
        return None;
    }
    Some(Rule {
        action: action?,
        protocol,
        not_protocol,
        ip_version,
        icmp,
        not_icmp,
        source,
        destination,
        http,
    })
}

fn icmp_match(d: &mut Diag, f: &Field) -> Option<IcmpMatch> {
    let f = d.map(f.clone())?;
    let icmp_type = f
        .get("type")
        .and_then(|t| d.int_in(&t, 0, 254))
        .map(|t| t as u8);
    let code = f
        .get("code")
        .and_then(|c| d.int_in(&c, 0, 255))
        .map(|c| c as u8);
    if code.is_some() && !f.has("type") {
        d.error(
            f.node,
            &f.path.key("type"),
            "an ICMP code needs an ICMP type",
        );
    }
    Some(IcmpMatch { icmp_type, code })
}

fn http_match(d: &mut Diag, f: &Field) -> Option<HttpMatch> {
    let f = d.map(f.clone())?;
    let methods = d.string_list(&f, "methods");
    let mut paths = Vec::new();
    for p in d.opt_list(&f, "paths") {
        let Some(p) = d.map(p) else { continue };
        match (p.get("exact"), p.get("prefix")) {
            (Some(e), None) => paths.extend(d.string(&e).map(HttpPathMatch::Exact)),
            (None, Some(x)) => paths.extend(d.string(&x).map(HttpPathMatch::Prefix)),
            _ => d.error(
                p.node,
                &p.path,
                "a path match needs exactly one of exact or prefix",
            ),
        }
    }
    Some(HttpMatch { methods, paths })
}

/// A rule's `source` or `destination`. `protocol` and `ip_version` are the rule's, for the
/// checks that tie the entity to them.
fn entity(
    d: &mut Diag,
    f: &Field,
    protocol: Option<Protocol>,
    ip_version: Option<u8>,
) -> EntityRule {
    let Some(f) = d.map(f.clone()) else {
        return EntityRule::default();
    };
    let nets_of = |d: &mut Diag, key: &str| -> Vec<IpNet> {
        let mut nets = Vec::new();
        for item in d.opt_list(&f, key) {
            let Some(net) = d.net(&item) else { continue };
            let version = if net.addr().is_ipv4() { 4 } else { 6 };
            if ip_version.is_some_and(|v| v != version) {
                d.error(
                    item.node,
                    &item.path,
                    format!(
                        "{net} is an IPv{version} network but the rule has ipVersion {}",
                        ip_version.unwrap_or(version)
                    ),
                );
            }
            nets.push(net);
        }
        nets
    };
    let nets = nets_of(d, "nets");
    let not_nets = nets_of(d, "notNets");
    let selector = d.opt_selector(&f, "selector");
    let not_selector = d.opt_selector(&f, "notSelector");
    let namespace_selector = d.opt_selector(&f, "namespaceSelector");
    let ports_of = |d: &mut Diag, key: &str| -> Vec<_> {
        let Some(list) = f.get(key) else {
            return Vec::new();
        };
        let items = d.list(&list);
        if !items.is_empty() && !protocol.is_some_and(Protocol::has_ports) {
            d.error(
                list.node,
                &list.path,
                "ports may only be specified with protocol TCP, UDP or SCTP",
            );
        }
        items.iter().filter_map(|p| calico_port(d, p)).collect()
    };
    let ports = ports_of(d, "ports");
    let not_ports = ports_of(d, "notPorts");
    let service_accounts = d
        .opt_map(&f, "serviceAccounts")
        .map(|sa| ServiceAccountMatch {
            names: d.string_list(&sa, "names"),
            selector: d.opt_selector(&sa, "selector"),
        });
    let services = d.opt_map(&f, "services").and_then(|s| {
        let name = d.required(&s, "name").and_then(|n| d.string(&n))?;
        Some(ServiceMatch {
            name,
            namespace: d.opt_string(&s, "namespace").filter(|n| !n.is_empty()),
        })
    });
    EntityRule {
        nets,
        not_nets,
        selector,
        not_selector,
        namespace_selector,
        ports,
        not_ports,
        service_accounts,
        services,
    }
}
