//! Turning an inventory into its [`Compiled`] form: selector sets, compiled rules and
//! per-endpoint plans. This is the expensive part, done once per inventory change.

use crate::compiled::{
    CEntity, CPolicy, CPort, CRule, CService, CTier, Compiled, EndpointPlans, NetworkSetIndex,
    Plan, PlanTable, Stage, TierPlan,
};
use crate::sets::{
    HolderIndex, Holders, NamespaceTable, OwnedScope, Scope, ServiceAccountTable, SetDef, SetId,
    SetTable, namespace_selector_semantics, scope_key,
};
use flowlens_model::{
    Endpoint, EndpointType, EntityRule, Inventory, Policy, PortMatch, Rule, Service,
    TierDefaultAction, sort_policies,
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
    let mut service_accounts = ServiceAccountTable::default();
    for sa in &inv.service_accounts {
        let ns = namespaces.intern(&sa.namespace, None);
        service_accounts.intern(ns, &sa.name, Some(&sa.labels));
    }
    let mut endpoint_ns = Vec::with_capacity(inv.endpoints.len());
    let mut endpoint_sa = Vec::with_capacity(inv.endpoints.len());
    for ep in &inv.endpoints {
        let ns = ep.namespace.as_deref().map(|n| namespaces.intern(n, None));
        let sa = match (ns, ep.endpoint_type, &ep.service_account) {
            (Some(ns), EndpointType::Wep, Some(sa)) => Some(service_accounts.intern(ns, sa, None)),
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
        holders.push(
            endpoint_ns[i],
            Arc::new(ep.selector_labels()),
            endpoint_sa[i],
        );
    }
    holders.n_endpoints = inv.endpoints.len() as u32;
    for (i, set) in inv.network_sets.iter().enumerate() {
        holders.push(set_ns[i], Arc::new(set.selector_labels()), None);
    }
    let network_sets = network_set_index(inv);
    let endpoint_by_ip = endpoints_by_ip(inv);

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
        let backends: Vec<u32> = pods_by_namespace
            .get(svc.namespace.as_str())
            .into_iter()
            .flatten()
            .copied()
            .filter(|&ep| is_backend(svc, &inv.endpoints[ep as usize]))
            .collect();
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
    let index = HolderIndex::new(&holders);
    let mut compiler = Compiler {
        index: &index,
        holders: &holders,
        sets: SetTable::default(),
        interned: FxHashMap::default(),
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
            egress_type: p.types.egress,
            ingress_type: p.types.ingress,
        };
        applies_to.push(compiler.applies_to(p, ns, stage));
        policies.push(compiled);
    }
    let sets = compiler.sets;
    drop(index);

    // The enforced and the pending view of the policy set, each in evaluation order.
    let by_rank = |mut view: Vec<u32>| {
        view.sort_unstable_by_key(|&pi| rank[pi as usize]);
        view
    };
    let enforced: Vec<u32> = (0..inv.policies.len() as u32)
        .filter(|&i| !inv.policies[i as usize].kind.is_staged())
        .collect();
    let has_staged = enforced.len() != inv.policies.len();
    let views = if has_staged {
        vec![by_rank(enforced), by_rank(pending_view(inv))]
    } else {
        vec![by_rank(enforced)]
    };

    let mut plans = PlanTable::new();
    let mut endpoint_plans: Vec<EndpointPlans> = vec![[0; 4]; inv.endpoints.len()];
    for (v, view) in views.iter().enumerate() {
        let plan_lists = plans_for_view(inv.endpoints.len(), view, &applies_to, &sets, &policies);
        for (ep, dirs) in plan_lists.into_iter().enumerate() {
            for (dir, plan) in dirs.into_iter().enumerate() {
                endpoint_plans[ep][2 * v + dir] = plans.intern(plan);
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
        applies_to: Arc::new(applies_to),
        policies: Arc::new(policies),
        tiers: Arc::new(tier_list),
        views: Arc::new(views),
        plans,
        endpoint_plans,
        endpoint_by_ip,
        network_sets,
        services,
        service_by_ip: Arc::new(service_by_ip),
        has_staged,
        uses_src_ports,
    }
}

/// Whether a pod is one of a Service's backends (its selector, in its namespace).
pub(crate) fn is_backend(svc: &Service, ep: &Endpoint) -> bool {
    match &svc.selector {
        Some(sel) if !sel.is_empty() => {
            ep.endpoint_type == EndpointType::Wep
                && ep.namespace.as_deref() == Some(svc.namespace.as_str())
                && sel.iter().all(|(k, v)| ep.labels.get(k) == Some(v))
        }
        _ => false,
    }
}

/// Endpoints by address (the first endpoint listed wins an address two claim).
pub(crate) fn endpoints_by_ip(inv: &Inventory) -> FxHashMap<IpAddr, u32> {
    let mut by_ip = FxHashMap::default();
    for (i, ep) in inv.endpoints.iter().enumerate() {
        for ip in &ep.ips {
            by_ip.entry(*ip).or_insert(i as u32);
        }
    }
    by_ip
}

/// Network sets by prefix; a set's holder id follows all endpoints'.
pub(crate) fn network_set_index(inv: &Inventory) -> NetworkSetIndex {
    let mut index = NetworkSetIndex::default();
    let first = inv.endpoints.len() as u32;
    for (i, set) in inv.network_sets.iter().enumerate() {
        for net in &set.nets {
            index.insert(*net, first + i as u32, set.namespace.is_some());
        }
    }
    index
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

/// Per endpoint, [egress plan, ingress plan] for one view (policies in evaluation order).
fn plans_for_view(
    endpoints: usize,
    view: &[u32],
    applies_to: &[SetId],
    sets: &SetTable,
    policies: &[CPolicy],
) -> Vec<[Plan; 2]> {
    let mut out: Vec<[Plan; 2]> = vec![[Plan::default(), Plan::default()]; endpoints];
    for &pi in view {
        let cp = &policies[pi as usize];
        for &ep in sets.get(applies_to[pi as usize]) {
            // Network sets are holders too, but never have plans.
            if let Some(plans) = out.get_mut(ep as usize) {
                add_to_plans(plans, cp, pi);
            }
        }
    }
    out
}

/// One endpoint's [egress plan, ingress plan] for one view, without the others'.
pub(crate) fn plans_of_endpoint(
    endpoint: u32,
    view: &[u32],
    applies_to: &[SetId],
    sets: &SetTable,
    policies: &[CPolicy],
) -> [Plan; 2] {
    let mut plans = [Plan::default(), Plan::default()];
    for &pi in view {
        if sets.contains(applies_to[pi as usize], endpoint) {
            add_to_plans(&mut plans, &policies[pi as usize], pi);
        }
    }
    plans
}

/// Appends a policy that applies to an endpoint to its [egress, ingress] plans; policies
/// must come in evaluation order.
fn add_to_plans(plans: &mut [Plan; 2], cp: &CPolicy, pi: u32) {
    for (dir, wanted) in [(0, cp.egress_type), (1, cp.ingress_type)] {
        if !wanted {
            continue;
        }
        let plan = &mut plans[dir];
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
}

struct Compiler<'a> {
    index: &'a HolderIndex<'a>,
    holders: &'a Holders,
    sets: SetTable,
    /// Sets by a text key of their definition, so each is evaluated once.
    interned: FxHashMap<String, SetId>,
    service_by_name: &'a FxHashMap<(String, String), u32>,
}

impl Compiler<'_> {
    /// The set `key` names, evaluating `def` with `members` the first time.
    fn intern(
        &mut self,
        key: String,
        def: SetDef,
        members: impl FnOnce(&SetTable, &SetDef) -> Vec<u32>,
    ) -> SetId {
        if let Some(&id) = self.interned.get(&key) {
            return id;
        }
        let members = members(&self.sets, &def);
        let id = self.sets.push(def, members);
        self.interned.insert(key, id);
        id
    }

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
        let def = SetDef::Select {
            scope: OwnedScope::of(scope),
            selector: selector.cloned(),
            accounts: sa.cloned(),
            endpoints_only,
        };
        let (index, holders) = (self.index, self.holders);
        self.intern(key, def, |_, _| {
            let mut ids = index.select(scope, selector, sa);
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
                None => return self.intern("empty".into(), SetDef::Empty, |_, _| Vec::new()),
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
        let key = format!(
            "applies:{id}:{:?}:{:?}",
            stage,
            p.service_account_selector.as_ref().map(|s| s.to_string())
        );
        let def = SetDef::Narrowed {
            base: id,
            host_endpoints_only: stage != Stage::Normal,
            account_selector: p.service_account_selector.clone(),
        };
        let holders = self.holders;
        self.intern(key, def, |sets, def| {
            sets.get(id)
                .iter()
                .copied()
                .filter(|&h| sets.holds(def, holders, h))
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
