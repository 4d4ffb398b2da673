//! Assembling parsed resources into an [`Inventory`]: later definitions replace earlier ones,
//! workloads expand into endpoints, referenced namespaces and service accounts appear as a
//! cluster would have them, policy tiers are checked, and missing addresses are allocated.

use crate::LoadOptions;
use crate::errors::{LoadError, LoadErrors};
use crate::ips::Allocator;
use crate::resource::{Resource, ResourceBody, ServiceResource};
use crate::workloads::expand_workload;
use flowlens_model::{Endpoint, EndpointType, Inventory, Namespace, ServiceAccount, SourceRef};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

/// More endpoints than this is not a cluster Flowlens can show usefully, and would exhaust
/// memory long before; it stops `replicas: 10000` repeated a thousand times.
pub const MAX_ENDPOINTS: usize = 1_000_000;

/// An inventory and what was noticed while building it.
#[derive(Clone, Debug, PartialEq)]
pub struct Built {
    pub inventory: Inventory,
    pub warnings: Vec<String>,
}

fn error_at(
    source: &SourceRef,
    field: &str,
    line: Option<usize>,
    column: Option<usize>,
    message: String,
) -> LoadError {
    LoadError {
        file: source.file.clone(),
        document: source.document,
        line: line.or(source.line),
        column,
        field: field.to_owned(),
        message,
    }
}

/// Keeps the last definition of each resource, as `kubectl apply` of the files in order
/// would, and says which ones were replaced.
fn deduplicate(resources: Vec<Resource>, warnings: &mut Vec<String>) -> Vec<Resource> {
    let mut slots: Vec<Option<Resource>> = Vec::with_capacity(resources.len());
    let mut index: HashMap<(String, Option<String>, String), usize> = HashMap::new();
    for r in resources {
        if let Some(&earlier) = index.get(&r.identity())
            && let Some(old) = slots.get_mut(earlier).and_then(Option::take)
        {
            warnings.push(format!(
                "{}: document {}: {} replaces the one in {} document {}",
                r.source.file,
                r.source.document,
                r.describe(),
                old.source.file,
                old.source.document
            ));
        }
        index.insert(r.identity(), slots.len());
        slots.push(Some(r));
    }
    slots.into_iter().flatten().collect()
}

/// Builds the inventory. Errors: policies in undeclared tiers, address ranges used up.
pub fn build_inventory(resources: Vec<Resource>, opts: &LoadOptions) -> Result<Built, LoadErrors> {
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    let resources = deduplicate(resources, &mut warnings);

    let mut inv = Inventory::default();
    let mut endpoints: Vec<(Endpoint, SourceRef)> = Vec::new();
    let mut services = Vec::new();
    let mut policies = Vec::new();
    let mut namespaces: BTreeMap<String, Namespace> = BTreeMap::new();
    let mut service_accounts: BTreeMap<(String, String), ServiceAccount> = BTreeMap::new();
    for r in resources {
        match r.body {
            ResourceBody::Namespace(n) => {
                namespaces.insert(n.name.clone(), n);
            }
            ResourceBody::ServiceAccount(sa) => {
                service_accounts.insert((sa.namespace.clone(), sa.name.clone()), sa);
            }
            ResourceBody::Pod(e) | ResourceBody::HostEndpoint(e) => endpoints.push((e, r.source)),
            ResourceBody::Workload(w) => {
                if endpoints.len() + w.replicas as usize > MAX_ENDPOINTS {
                    let message = format!(
                        "more than {MAX_ENDPOINTS} endpoints in total; {} {}/{} is left out",
                        r.kind, w.namespace, w.name
                    );
                    errors.push(error_at(&r.source, "spec.replicas", None, None, message));
                    continue;
                }
                endpoints.extend(
                    expand_workload(&w)
                        .into_iter()
                        .map(|e| (e, r.source.clone())),
                );
            }
            ResourceBody::Service(s) => services.push((s, r.source)),
            ResourceBody::NetworkSet(n) => inv.network_sets.push(n),
            ResourceBody::HostNetworkPod(p) => inv.host_network_pods.push(p),
            ResourceBody::Tier(t) => inv.tiers.push(t),
            ResourceBody::Policy(p) => policies.push((*p, r.source)),
        }
    }

    inv.ensure_builtin_tiers();
    let tiers: HashSet<String> = inv.tiers.iter().map(|t| t.name.clone()).collect();
    for (p, source) in policies {
        if tiers.contains(&p.policy.tier) {
            inv.policies.push(p.policy);
        } else {
            // Calico refuses a policy whose tier does not exist.
            errors.push(error_at(
                &source,
                &p.tier_at.field,
                p.tier_at.line,
                p.tier_at.column,
                format!("tier {:?} is not declared: add a Tier resource, or use default, kube-admin or kube-baseline", p.policy.tier),
            ));
        }
    }

    // Namespaces and service accounts that resources live in exist in a real cluster even
    // when no manifest declares them.
    let mut referenced: BTreeSet<String> = BTreeSet::new();
    referenced.extend(endpoints.iter().filter_map(|(e, _)| e.namespace.clone()));
    referenced.extend(services.iter().map(|(s, _)| s.service.namespace.clone()));
    referenced.extend(service_accounts.keys().map(|(ns, _)| ns.clone()));
    referenced.extend(inv.network_sets.iter().filter_map(|n| n.namespace.clone()));
    referenced.extend(inv.policies.iter().filter_map(|p| p.namespace.clone()));
    referenced.extend(inv.host_network_pods.iter().map(|p| p.namespace.clone()));
    for name in referenced {
        namespaces.entry(name.clone()).or_insert_with(|| Namespace {
            name,
            labels: Default::default(),
        });
    }
    for (e, _) in &endpoints {
        if let (Some(ns), Some(sa)) = (&e.namespace, &e.service_account) {
            service_accounts
                .entry((ns.clone(), sa.clone()))
                .or_insert_with(|| ServiceAccount {
                    namespace: ns.clone(),
                    name: sa.clone(),
                    labels: Default::default(),
                });
        }
    }

    allocate_addresses(&mut endpoints, &mut services, opts, &mut errors);

    inv.namespaces = namespaces.into_values().collect();
    inv.service_accounts = service_accounts.into_values().collect();
    // Both already sorted by allocate_addresses.
    inv.endpoints = endpoints.into_iter().map(|(e, _)| e.into()).collect();
    inv.services = services.into_iter().map(|(s, _)| s.service).collect();
    inv.network_sets
        .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    inv.host_network_pods
        .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    inv.sort_in_evaluation_order();

    if errors.is_empty() {
        Ok(Built {
            inventory: inv,
            warnings,
        })
    } else {
        Err(LoadErrors(errors))
    }
}

fn allocate_addresses(
    endpoints: &mut [(Endpoint, SourceRef)],
    services: &mut [(ServiceResource, SourceRef)],
    opts: &LoadOptions,
    errors: &mut Vec<LoadError>,
) {
    let mut taken: HashSet<IpAddr> = HashSet::new();
    taken.extend(endpoints.iter().flat_map(|(e, _)| e.ips.iter().copied()));
    taken.extend(
        services
            .iter()
            .flat_map(|(s, _)| s.service.cluster_ips.iter().copied()),
    );

    // Allocation order is the inventory's order, which depends only on names.
    endpoints.sort_by(|(a, _), (b, _)| {
        (a.endpoint_type, &a.namespace, &a.name).cmp(&(b.endpoint_type, &b.namespace, &b.name))
    });
    services.sort_by(|(a, _), (b, _)| {
        (&a.service.namespace, &a.service.name).cmp(&(&b.service.namespace, &b.service.name))
    });

    let mut pods = Allocator::new(opts.pod_cidr, taken.clone());
    let without_ip = endpoints
        .iter_mut()
        .filter(|(e, _)| e.endpoint_type == EndpointType::Wep && e.ips.is_empty());
    for (e, source) in without_ip {
        let Some(ip) = pods.next() else {
            let message = format!(
                "pod CIDR {} is used up: {} and later pods get no address; choose a larger pod CIDR",
                pods.net(),
                e.qualified_name()
            );
            errors.push(error_at(source, "", None, None, message));
            break;
        };
        e.ips.push(ip);
    }

    let mut service_ips = Allocator::new(opts.service_cidr, taken);
    let without_ip = services
        .iter_mut()
        .filter(|(s, _)| !s.headless && s.service.cluster_ips.is_empty());
    for (s, source) in without_ip {
        let Some(ip) = service_ips.next() else {
            let message = format!(
                "service CIDR {} is used up: {}/{} and later services get no address; choose a larger service CIDR",
                service_ips.net(),
                s.service.namespace,
                s.service.name
            );
            errors.push(error_at(source, "", None, None, message));
            break;
        };
        s.service.cluster_ips.push(ip);
    }
}
