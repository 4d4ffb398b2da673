//! Turning an inventory into its [`Compiled`] form: selector sets, compiled rules and
//! per-endpoint plans. This is the expensive part, done once per inventory change.

use crate::compiled::{
    CEntity, CPolicy, CPort, CRule, CService, CTier, Compiled, EndpointPlans, NetworkSetIndex,
    Plan, PlanId, Stage, TierPlan,
};
use crate::sets::{
    Holders, NamespaceTable, Scope, ServiceAccountInfo, SetId, SetTable,
    namespace_selector_semantics, scope_key,
};
use flowlens_model::{
    EndpointType, EntityRule, Inventory, Policy, PortMatch, Rule, TierDefaultAction, sort_policies,
};
use rustc_hash::FxHashMap;
use std::net::IpAddr;
use std::sync::Arc;

pub(crate) fn build(inventory: Arc<Inventory>) -> Compiled {
    let inv = &*inventory;

    // Namespaces and service accounts, including ones only referenced.
    let mut namespaces = NamespaceTable::new();
    for ns in &inv.namespaces {
        namespaces.intern(&ns.name, Some(ns.labels.clone()));
    }
    let mut service_accounts: Vec<ServiceAccountInfo> = Vec::new();
    let mut sa_ids: FxHashMap<(u32, String), u32> = FxHashMap::default();
    let mut intern_sa = |ns: u32,
                         name: &str,
                         labels: Option<&flowlens_model::Labels>,
                         service_accounts: &mut Vec<ServiceAccountInfo>| {
        *sa_ids.entry((ns, name.to_string())).or_insert_with(|| {
            service_accounts.push(ServiceAccountInfo {
                name: name.to_string(),
                labels: {
                    let mut l = labels.cloned().unwrap_or_default();
                    l.insert(flowlens_model::well_known_labels::NAME.into(), name.into());
                    l
                },
            });
            service_accounts.len() as u32 - 1
        })
    };
    for sa in &inv.service_accounts {
        let ns = namespaces.intern(&sa.namespace, None);
        intern_sa(ns, &sa.name, Some(&sa.labels), &mut service_accounts);
    }
    let mut endpoint_ns = Vec::with_capacity(inv.endpoints.len());
    let mut endpoint_sa = Vec::with_capacity(inv.endpoints.len());
    for ep in &inv.endpoints {
        let ns = ep.namespace.as_deref().map(|n| namespaces.intern(n, None));
        let sa = match (ns, ep.endpoint_type, &ep.service_account) {
            (Some(ns), EndpointType::Wep, Some(sa)) => {
                Some(intern_sa(ns, sa, None, &mut service_accounts))
            }
            _ => None,
        };
        endpoint_ns.push(ns);
        endpoint_sa.push(sa);
    }
    let mut set_ns = Vec::with_capacity(inv.network_sets.len());
    for set in &inv.network_sets {
        set_ns.push(set.namespace.as_deref().map(|n| namespaces.intern(n, None)));
    }

    // Holders: endpoints, then network sets.
    let mut holders = Holders::new(namespaces, service_accounts);
    for (i, ep) in inv.endpoints.iter().enumerate() {
        holders.push(endpoint_ns[i], ep.selector_labels(), endpoint_sa[i]);
    }
    holders.n_endpoints = inv.endpoints.len() as u32;
    let mut network_sets = NetworkSetIndex::default();
    for (i, set) in inv.network_sets.iter().enumerate() {
        let id = holders.push(set_ns[i], set.selector_labels(), None);
        for net in &set.nets {
            network_sets.insert(*net, id, set.namespace.is_some());
        }
    }

    let mut endpoint_by_ip = FxHashMap::default();
    for (i, ep) in inv.endpoints.iter().enumerate() {
        for ip in &ep.ips {
            endpoint_by_ip.entry(*ip).or_insert(i as u32);
        }
    }

    // Services and their backends.
    let mut services = Vec::with_capacity(inv.services.len());
    let mut service_by_ip: FxHashMap<IpAddr, u32> = FxHashMap::default();
    let mut service_by_name: FxHashMap<(String, String), u32> = FxHashMap::default();
    // Pods by namespace, so that finding a service's backends looks at its namespace only.
    let mut pods_by_namespace: FxHashMap<&str, Vec<u32>> = FxHashMap::default();
    for (i, ep) in inv.endpoints.iter().enumerate() {
        if let (EndpointType::Wep, Some(ns)) = (ep.endpoint_type, ep.namespace.as_deref()) {
            pods_by_namespace.entry(ns).or_default().push(i as u32);
        }
    }
    for (i, svc) in inv.services.iter().enumerate() {
        let backends: Vec<u32> = match &svc.selector {
            Some(sel) if !sel.is_empty() => pods_by_namespace
                .get(svc.namespace.as_str())
                .into_iter()
                .flatten()
                .copied()
                .filter(|&ep| {
                    let labels = &inv.endpoints[ep as usize].labels;
                    sel.iter().all(|(k, v)| labels.get(k) == Some(v))
                })
                .collect(),
            _ => Vec::new(),
        };
        for ip in &svc.cluster_ips {
            service_by_ip.entry(*ip).or_insert(i as u32);
        }
        service_by_name.insert((svc.namespace.clone(), svc.name.clone()), i as u32);
        services.push(CService { backends });
    }

    // Tiers in evaluation order; tiers only named by policies are added at the end.
    let mut tier_list: Vec<CTier> = inv
        .tiers_in_order()
        .into_iter()
        .map(|t| CTier {
            name: t.name.clone(),
            default_action: t.default_action,
        })
        .collect();
    for p in &inv.policies {
        if !tier_list.iter().any(|t| t.name == p.tier) {
            tier_list.push(CTier {
                name: p.tier.clone(),
                default_action: TierDefaultAction::Deny,
            });
        }
    }
    let tier_pos: FxHashMap<&str, u32> = tier_list
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i as u32))
        .collect();

    // Global evaluation rank of every policy: tier order, then order within the tier.
    let mut rank = vec![0u32; inv.policies.len()];
    {
        let index_of: FxHashMap<*const Policy, u32> = inv
            .policies
            .iter()
            .enumerate()
            .map(|(i, p)| (p as *const Policy, i as u32))
            .collect();
        let mut next = 0u32;
        for tier in &tier_list {
            let mut in_tier: Vec<&Policy> = inv
                .policies
                .iter()
                .filter(|p| p.tier == tier.name)
                .collect();
            sort_policies(&mut in_tier);
            for p in in_tier {
                rank[index_of[&(p as *const Policy)] as usize] = next;
                next += 1;
            }
        }
    }

    // Compile policies and the sets they apply to.
    let mut sets = SetTable::default();
    let mut compiler = Compiler {
        holders: &holders,
        sets: &mut sets,
        service_by_name: &service_by_name,
    };
    let mut policies = Vec::with_capacity(inv.policies.len());
    let mut applies_to = Vec::with_capacity(inv.policies.len());
    for p in &inv.policies {
        let ns = p
            .namespace
            .as_deref()
            .and_then(|n| holders.namespaces.ids.get(n).copied());
        let stage = if p.do_not_track {
            Stage::Untracked
        } else if p.pre_dnat {
            Stage::PreDnat
        } else {
            Stage::Normal
        };
        let compiled = CPolicy {
            tier: tier_pos[p.tier.as_str()],
            ingress: p.ingress.iter().map(|r| compiler.rule(r, p, ns)).collect(),
            egress: p.egress.iter().map(|r| compiler.rule(r, p, ns)).collect(),
            stage,
        };
        applies_to.push(compiler.applies_to(p, ns, stage));
        policies.push(compiled);
    }

    // The enforced and the pending view of the policy set.
    let enforced: Vec<u32> = (0..inv.policies.len() as u32)
        .filter(|&i| !inv.policies[i as usize].kind.is_staged())
        .collect();
    let has_staged = enforced.len() != inv.policies.len();
    let pending: Vec<u32> = if has_staged {
        pending_view(inv)
    } else {
        enforced.clone()
    };

    let mut plans: Vec<Plan> = vec![Plan::default()];
    let mut plan_ids: FxHashMap<Plan, PlanId> = FxHashMap::default();
    plan_ids.insert(Plan::default(), 0);
    let mut endpoint_plans: Vec<EndpointPlans> = vec![[0; 4]; inv.endpoints.len()];
    let views: &[(&[u32], usize)] = if has_staged {
        &[(&enforced, 0), (&pending, 2)]
    } else {
        &[(&enforced, 0)]
    };
    for &(view, slot_base) in views {
        let plan_lists = plans_for_view(inv, view, &rank, &applies_to, &sets, &policies);
        for (ep, dirs) in plan_lists.into_iter().enumerate() {
            for (dir, plan) in dirs.into_iter().enumerate() {
                let id = *plan_ids.entry(plan.clone()).or_insert_with(|| {
                    plans.push(plan);
                    plans.len() as PlanId - 1
                });
                endpoint_plans[ep][slot_base + dir] = id;
            }
        }
    }
    if !has_staged {
        for p in &mut endpoint_plans {
            p[2] = p[0];
            p[3] = p[1];
        }
    }

    let uses_src_ports = inventory.uses_source_ports();

    Compiled {
        inventory,
        holders,
        sets,
        applies_to,
        policies,
        tiers: tier_list,
        plans,
        endpoint_plans,
        endpoint_by_ip,
        network_sets,
        services,
        service_by_ip,
        has_staged,
        uses_src_ports,
    }
}

/// Policies in effect if staged policies were enforced: a staged `Set` replaces (or adds)
/// the policy with the same identity, a staged `Delete` removes it.
fn pending_view(inv: &Inventory) -> Vec<u32> {
    use flowlens_model::StagedAction;
    let staged: Vec<(usize, &Policy)> = inv
        .policies
        .iter()
        .enumerate()
        .filter(|(_, p)| p.kind.is_staged())
        .collect();
    let mut view = Vec::new();
    for (i, p) in inv.policies.iter().enumerate() {
        if p.kind.is_staged() {
            if p.staged_action == StagedAction::Set {
                view.push(i as u32);
            }
        } else if !staged
            .iter()
            .any(|(_, s)| s.enforced_identity() == p.enforced_identity())
        {
            view.push(i as u32);
        }
    }
    view
}

/// Per endpoint, [egress plan, ingress plan] for one view.
fn plans_for_view(
    inv: &Inventory,
    view: &[u32],
    rank: &[u32],
    applies_to: &[SetId],
    sets: &SetTable,
    policies: &[CPolicy],
) -> Vec<[Plan; 2]> {
    // (endpoint, direction, rank, policy), sorted, then grouped.
    let mut entries: Vec<(u32, u8, u32, u32)> = Vec::new();
    for &pi in view {
        let p = &inv.policies[pi as usize];
        for &ep in sets.get(applies_to[pi as usize]) {
            if p.types.egress {
                entries.push((ep, 0, rank[pi as usize], pi));
            }
            if p.types.ingress {
                entries.push((ep, 1, rank[pi as usize], pi));
            }
        }
    }
    entries.sort_unstable();
    let mut out: Vec<[Plan; 2]> = vec![[Plan::default(), Plan::default()]; inv.endpoints.len()];
    for (ep, dir, _, pi) in entries {
        let cp = &policies[pi as usize];
        let plan = &mut out[ep as usize][dir as usize];
        let stage = match cp.stage {
            Stage::Untracked => &mut plan.untracked,
            Stage::PreDnat if dir == 1 => &mut plan.pre_dnat,
            Stage::PreDnat => continue,
            Stage::Normal => &mut plan.normal,
        };
        match stage.last_mut() {
            Some(last) if last.tier == cp.tier => {
                let mut v = std::mem::take(&mut last.policies).into_vec();
                v.push(pi);
                last.policies = v.into_boxed_slice();
            }
            _ => stage.push(TierPlan {
                tier: cp.tier,
                policies: vec![pi].into_boxed_slice(),
            }),
        }
    }
    out
}

struct Compiler<'a> {
    holders: &'a Holders,
    sets: &'a mut SetTable,
    service_by_name: &'a FxHashMap<(String, String), u32>,
}

impl Compiler<'_> {
    fn set(
        &mut self,
        scope: Scope<'_>,
        selector: Option<&flowlens_selector::Selector>,
        sa: Option<&flowlens_model::ServiceAccountMatch>,
        endpoints_only: bool,
    ) -> SetId {
        let key = format!(
            "{}|{}|{}|{}",
            scope_key(scope),
            selector.map(|s| s.to_string()).unwrap_or_default(),
            sa.map(|s| format!(
                "{:?}/{}",
                s.names,
                s.selector
                    .as_ref()
                    .map(|x| x.to_string())
                    .unwrap_or_default()
            ))
            .unwrap_or_default(),
            endpoints_only
        );
        let holders = self.holders;
        self.sets.intern(key, || {
            let mut ids = holders.select(scope, selector, sa);
            if endpoints_only {
                ids.retain(|&h| h < holders.n_endpoints);
            }
            ids
        })
    }

    /// The endpoints a policy applies to (before looking at directions).
    fn applies_to(&mut self, p: &Policy, ns: Option<u32>, stage: Stage) -> SetId {
        let ns_selector = p
            .namespace_selector
            .as_ref()
            .map(namespace_selector_semantics);
        let scope = match (&p.namespace, &p.namespace_selector) {
            (Some(_), _) => match ns {
                Some(ns) => Scope::Namespace(ns),
                None => return self.sets.intern("empty".into(), Vec::new),
            },
            (None, Some(_)) => Scope::Namespaces(ns_selector.as_ref().unwrap_or(&p.selector)),
            (None, None) => Scope::Any,
        };
        let id = self.set(scope, Some(&p.selector), None, true);
        let needs_filter = p.service_account_selector.is_some() || stage != Stage::Normal;
        if !needs_filter {
            return id;
        }
        // Untracked and pre-DNAT policies only ever apply to host endpoints; a
        // serviceAccountSelector narrows to pods whose account matches.
        let holders = self.holders;
        let inv_key = format!(
            "applies:{id}:{:?}:{:?}",
            stage,
            p.service_account_selector.as_ref().map(|s| s.to_string())
        );
        let base: Vec<u32> = self.sets.get(id).to_vec();
        let sa_sel = p.service_account_selector.clone();
        self.sets.intern(inv_key, move || {
            base.into_iter()
                .filter(|&h| {
                    let is_hep = holders.namespace[h as usize].is_none();
                    (stage == Stage::Normal || is_hep)
                        && sa_sel.as_ref().is_none_or(|sel| {
                            holders.service_account[h as usize].is_some_and(|sa| {
                                sel.matches(&holders.service_accounts[sa as usize].labels)
                            })
                        })
                })
                .collect()
        })
    }

    fn rule(&mut self, rule: &Rule, p: &Policy, ns: Option<u32>) -> CRule {
        CRule {
            action: rule.action,
            protocol: rule.protocol,
            not_protocol: rule.not_protocol,
            ip_version: rule.ip_version,
            // Felix matches on ICMP only when a type is given: `icmp: {}` and `notICMP: {}`
            // constrain nothing, so they are dropped here rather than read as "any ICMP".
            icmp: rule.icmp.filter(|m| m.icmp_type.is_some()),
            not_icmp: rule.not_icmp.filter(|m| m.icmp_type.is_some()),
            src: self.entity(&rule.source, p, ns),
            dst: self.entity(&rule.destination, p, ns),
            http: rule.http.is_some(),
        }
    }

    fn entity(&mut self, e: &EntityRule, p: &Policy, ns: Option<u32>) -> CEntity {
        let namespaced = p.kind.is_namespaced();
        // A namespaced policy whose namespace is unknown selects nothing in its namespace.
        let own_ns = ns.unwrap_or(u32::MAX);
        let ns_selector = e
            .namespace_selector
            .as_ref()
            .map(namespace_selector_semantics);
        let scope = match (&ns_selector, namespaced) {
            (Some(sel), _) => Scope::Namespaces(sel),
            (None, true) => Scope::Namespace(own_ns),
            (None, false) => Scope::Any,
        };
        // As Calico forms a rule's selector: once any selector field is used, a namespaced
        // policy (or a namespaceSelector) limits the peer to those namespaces; a lone
        // notSelector in a namespaced policy therefore means "others in this namespace".
        let scoped = !matches!(scope, Scope::Any);
        let constrained = e.selector.is_some()
            || e.service_accounts.is_some()
            || (scoped && (e.not_selector.is_some() || e.namespace_selector.is_some()));
        let set = constrained.then(|| {
            self.set(
                scope,
                e.selector.as_ref(),
                e.service_accounts.as_ref(),
                false,
            )
        });
        // Calico applies notSelector as written, across all namespaces.
        let not_set = e
            .not_selector
            .as_ref()
            .map(|sel| self.set(Scope::Any, Some(sel), None, false));
        // Named ports resolve against the endpoints the rule's selector picks, or any
        // endpoint when it has none.
        let has_named = e
            .ports
            .iter()
            .chain(&e.not_ports)
            .any(|p| matches!(p, PortMatch::Named(_)));
        let named_port_scope = if has_named { set } else { None };
        let service = e.services.as_ref().map(|s| {
            let svc_ns = s
                .namespace
                .clone()
                .or_else(|| p.namespace.clone())
                .unwrap_or_default();
            self.service_by_name.get(&(svc_ns, s.name.clone())).copied()
        });
        CEntity {
            nets: e.nets.iter().copied().collect(),
            not_nets: e.not_nets.iter().copied().collect(),
            set,
            not_set,
            ports: e.ports.iter().map(port).collect(),
            not_ports: e.not_ports.iter().map(port).collect(),
            named_port_scope,
            service,
        }
    }
}

fn port(p: &PortMatch) -> CPort {
    match p {
        PortMatch::Single(n) => CPort::Range(*n, *n),
        PortMatch::Range { first, last } => CPort::Range(*first, *last),
        PortMatch::Named(name) => CPort::Named(name.clone()),
    }
}
