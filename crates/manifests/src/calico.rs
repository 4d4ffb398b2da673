//! Calico resources (projectcalico.org/v3, or crd.projectcalico.org/v1 with the same
//! schema): Tier, the four Calico policy kinds, NetworkSet, GlobalNetworkSet, HostEndpoint.

use crate::LoadOptions;
use crate::errors::Diag;
use crate::read::Field;
use crate::resource::{FieldRef, PolicyResource, ResourceBody};
use crate::rules::calico_rules;
use flowlens_model::{
    Endpoint, EndpointType, NamedPort, NetworkSet, Policy, PolicyKind, PolicyTypes, Rule,
    StagedAction, Tier, TierDefaultAction,
};
use flowlens_selector::Selector;

pub(crate) fn tier(d: &mut Diag, root: &Field) -> Option<ResourceBody> {
    let meta = d.metadata(root, false)?;
    let spec = d.opt_map(root, "spec");
    let errors_before = d.error_count();
    let order = spec
        .as_ref()
        .and_then(|s| s.get("order"))
        .and_then(|o| d.number(&o));
    let default_action = match spec.as_ref().and_then(|s| s.get("defaultAction")) {
        None => TierDefaultAction::Deny,
        Some(f) => match d.string(&f).as_deref() {
            Some("Deny") => TierDefaultAction::Deny,
            Some("Pass") => TierDefaultAction::Pass,
            Some(other) => {
                d.error(
                    f.node,
                    &f.path,
                    format!("unknown defaultAction {other:?}: expected Deny or Pass"),
                );
                TierDefaultAction::Deny
            }
            None => TierDefaultAction::Deny,
        },
    };
    if d.error_count() > errors_before {
        return None;
    }
    Some(ResourceBody::Tier(Tier {
        name: meta.name,
        order,
        default_action,
    }))
}

/// NetworkSet (namespaced) or GlobalNetworkSet (`global`).
pub(crate) fn network_set(
    d: &mut Diag,
    root: &Field,
    global: bool,
    opts: &LoadOptions,
) -> Option<ResourceBody> {
    let meta = d.metadata(root, false)?;
    let spec = d.opt_map(root, "spec");
    let errors_before = d.error_count();
    let (nets, allowed_egress_domains) = match &spec {
        Some(spec) => (
            d.nets(spec, "nets"),
            d.string_list(spec, "allowedEgressDomains"),
        ),
        None => Default::default(),
    };
    if d.error_count() > errors_before {
        return None;
    }
    let namespace = (!global).then(|| {
        meta.namespace
            .unwrap_or_else(|| opts.default_namespace.clone())
    });
    Some(ResourceBody::NetworkSet(NetworkSet {
        namespace,
        name: meta.name,
        labels: meta.labels,
        nets,
        allowed_egress_domains,
    }))
}

pub(crate) fn host_endpoint(d: &mut Diag, root: &Field) -> Option<ResourceBody> {
    let meta = d.metadata(root, false)?;
    let spec = d.required(root, "spec").and_then(|f| d.map(f))?;
    let errors_before = d.error_count();
    let node = d.opt_string(&spec, "node").filter(|n| !n.is_empty());
    let interface = d
        .opt_string(&spec, "interfaceName")
        .filter(|n| !n.is_empty());
    let ips: Vec<_> = d
        .opt_list(&spec, "expectedIPs")
        .iter()
        .filter_map(|f| d.ip(f))
        .collect();
    // Without profiles, traffic no policy decides is denied (Calico's default for hosts).
    let profiles = d.string_list(&spec, "profiles");
    let mut ports = Vec::new();
    for port in d.opt_list(&spec, "ports") {
        let Some(port) = d.map(port) else { continue };
        let name = d.required(&port, "name").and_then(|n| d.string(&n));
        let number = d
            .required(&port, "port")
            .and_then(|p| d.int_in(&p, 1, 65535));
        let protocol = crate::kubernetes::protocol_or_tcp(d, &port);
        if let (Some(name), Some(number), Some(protocol)) = (name, number, protocol) {
            ports.push(NamedPort {
                name,
                protocol,
                port: number as u16,
            });
        }
    }
    let ip_entries = spec.get("expectedIPs").map_or(0, |f| match &f.node.value {
        crate::node::Value::Seq(items) => items.len(),
        _ => 1,
    });
    if interface.is_none() && ip_entries == 0 {
        // Calico rejects it too: without either, the endpoint matches no traffic.
        d.error(
            spec.node,
            &spec.path,
            "a host endpoint needs interfaceName or expectedIPs",
        );
    }
    if d.error_count() > errors_before {
        return None;
    }
    Some(ResourceBody::HostEndpoint(Endpoint {
        endpoint_type: EndpointType::Hep,
        namespace: None,
        name: meta.name.clone(),
        name_aggr: meta.name,
        workload: None,
        labels: meta.labels,
        ips,
        service_account: None,
        ports,
        node,
        interface,
        profiles,
    }))
}

/// `spec.stagedAction` of the staged kinds: `Set` (default) or `Delete`.
pub(crate) fn staged_action(d: &mut Diag, spec: Option<&Field>) -> StagedAction {
    let Some(f) = spec.and_then(|s| s.get("stagedAction")) else {
        return StagedAction::Set;
    };
    match d.string(&f).as_deref() {
        Some("Set") | None => StagedAction::Set,
        Some("Delete") => StagedAction::Delete,
        Some(other) => {
            d.error(
                f.node,
                &f.path,
                format!("unknown stagedAction {other:?}: expected Set or Delete"),
            );
            StagedAction::Set
        }
    }
}

/// `spec.types`, or Calico's default when absent: Ingress, plus Egress when there are egress
/// rules, and Egress alone when there are only egress rules.
fn policy_types(
    d: &mut Diag,
    spec: Option<&Field>,
    ingress: &[Rule],
    egress: &[Rule],
) -> PolicyTypes {
    let listed = spec
        .and_then(|s| s.get("types"))
        .map(|f| d.list(&f))
        .unwrap_or_default();
    if listed.is_empty() {
        return PolicyTypes {
            ingress: !ingress.is_empty() || egress.is_empty(),
            egress: !egress.is_empty(),
        };
    }
    let mut types = PolicyTypes::default();
    for f in listed {
        let Some(text) = d.string(&f) else { continue };
        let slot = match text.as_str() {
            "Ingress" => &mut types.ingress,
            "Egress" => &mut types.egress,
            other => {
                d.error(
                    f.node,
                    &f.path,
                    format!("unknown policy type {other:?}: expected Ingress or Egress"),
                );
                continue;
            }
        };
        if *slot {
            d.error(f.node, &f.path, format!("{text} is listed twice"));
        }
        *slot = true;
    }
    types
}

/// NetworkPolicy, GlobalNetworkPolicy, StagedNetworkPolicy or StagedGlobalNetworkPolicy.
pub(crate) fn calico_policy(
    d: &mut Diag,
    root: &Field,
    kind: PolicyKind,
    opts: &LoadOptions,
) -> Option<ResourceBody> {
    let meta = d.metadata(root, false)?;
    let spec = d.opt_map(root, "spec");
    let spec = spec.as_ref();
    let errors_before = d.error_count();
    let global = !kind.is_namespaced();
    let namespace = (!global).then(|| {
        meta.namespace
            .clone()
            .unwrap_or_else(|| opts.default_namespace.clone())
    });

    let tier_field = spec.and_then(|s| s.get("tier"));
    let tier = tier_field
        .as_ref()
        .and_then(|t| d.string(t))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| Tier::DEFAULT.into());
    let tier_at = match &tier_field {
        Some(f) => FieldRef {
            field: prefixed(d, f.path.as_str()),
            line: Some(f.node.line),
            column: Some(f.node.column),
        },
        None => FieldRef {
            field: prefixed(d, "spec.tier"),
            line: Some(root.node.line),
            column: Some(root.node.column),
        },
    };
    let order = spec.and_then(|s| s.get("order")).and_then(|o| d.number(&o));
    let selector = spec
        .and_then(|s| d.opt_selector(s, "selector"))
        .unwrap_or_else(Selector::all);
    let namespace_selector = match spec.and_then(|s| s.get("namespaceSelector")) {
        Some(f) if global => d.selector(&f),
        Some(f) => {
            d.warn(
                f.node,
                format!(
                    "{} {}: spec.namespaceSelector is only meaningful on global policies; ignored",
                    kind.resource_kind(),
                    meta.name
                ),
            );
            None
        }
        None => None,
    };
    let service_account_selector = spec.and_then(|s| d.opt_selector(s, "serviceAccountSelector"));
    let (ingress, egress) = match spec {
        Some(s) => (calico_rules(d, s, "ingress"), calico_rules(d, s, "egress")),
        None => Default::default(),
    };
    let types = policy_types(d, spec, &ingress, &egress);

    // doNotTrack / preDNAT exist only on the global kinds; silently ignoring them on a
    // namespaced policy would change what the policy means.
    let flag = |d: &mut Diag, key: &str| -> (bool, Option<Field>) {
        let Some(f) = spec.and_then(|s| s.get(key)) else {
            return (false, None);
        };
        let value = d.bool(&f).unwrap_or(false);
        if !global && key != "applyOnForward" {
            d.error(
                f.node,
                &f.path,
                format!("{key} is only valid on GlobalNetworkPolicy"),
            );
        }
        (value, Some(f))
    };
    let (do_not_track, dnt_field) = flag(d, "doNotTrack");
    let (pre_dnat, pre_dnat_field) = flag(d, "preDNAT");
    let (apply_on_forward, aof_field) = flag(d, "applyOnForward");
    if global {
        if let (true, true, Some(f)) = (do_not_track, pre_dnat, &pre_dnat_field) {
            d.error(
                f.node,
                &f.path,
                "preDNAT and doNotTrack cannot both be true",
            );
        }
        if (do_not_track || pre_dnat) && !apply_on_forward {
            let at = aof_field
                .as_ref()
                .or(dnt_field.as_ref())
                .or(pre_dnat_field.as_ref());
            if let Some(at) = at {
                let path = crate::errors::Path::root()
                    .key("spec")
                    .key("applyOnForward");
                d.error(
                    at.node,
                    &path,
                    "applyOnForward must be true when doNotTrack or preDNAT is set",
                );
            }
        }
        if pre_dnat {
            if let Some(e) = spec
                .and_then(|s| s.get("egress"))
                .filter(|_| !egress.is_empty())
            {
                d.error(e.node, &e.path, "preDNAT policies cannot have egress rules");
            }
            if types.egress
                && let Some(t) = spec.and_then(|s| s.get("types"))
            {
                d.error(t.node, &t.path, "preDNAT policies cannot apply to Egress");
            }
        }
    }
    let staged_action = if kind.is_staged() {
        staged_action(d, spec)
    } else {
        StagedAction::Set
    };

    for (rules, wanted, key) in [
        (&ingress, types.ingress, "ingress"),
        (&egress, types.egress, "egress"),
    ] {
        if !rules.is_empty() && !wanted {
            d.warn(root.node, format!("{} {}: spec.{key} has rules but spec.types leaves {key} out, so they never apply", kind.resource_kind(), meta.name));
        }
    }
    if d.error_count() > errors_before {
        return None;
    }
    Some(ResourceBody::Policy(Box::new(PolicyResource {
        policy: Policy {
            kind,
            name: meta.name,
            namespace,
            tier,
            order,
            selector,
            namespace_selector,
            service_account_selector,
            types,
            ingress,
            egress,
            do_not_track,
            pre_dnat,
            apply_on_forward,
            staged_action,
            source: None,
        },
        tier_at,
    })))
}

/// The field path as the error report will print it (with a `items[3].` prefix for list
/// items).
fn prefixed(d: &Diag, field: &str) -> String {
    match d.prefix.as_str() {
        "" => field.to_owned(),
        pre => format!("{pre}.{field}"),
    }
}
