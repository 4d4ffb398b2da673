//! Bringing a compiled inventory up to date when only its endpoints changed (pods created,
//! relabelled or deleted), as Felix updates its IP sets on a pod event instead of starting
//! over: only the changed endpoints' selector memberships, plans and Service backends are
//! worked out; rules, the sets' definitions and the policies' views are shared with the
//! engine before.

use crate::compile::{endpoints_by_ip, is_backend, network_set_index, plans_of_endpoint};
use crate::compiled::{CService, Compiled, EndpointPlans};
use crate::sets::Holders;
use flowlens_model::{Endpoint, EndpointType, Inventory};
use std::cmp::Ordering;
use std::sync::Arc;

/// Whether compiling afresh is quicker: each changed endpoint is matched against every
/// selector set, while a compilation costs about as much as a few passes over all
/// endpoints. At the `scale` size (30,000 endpoints, 1,735 sets) that is over 138 changed
/// endpoints; a few are always worth updating.
fn too_many(changed: usize, endpoints: usize, sets: usize) -> bool {
    changed > 16 && changed.saturating_mul(sets) > endpoints.saturating_mul(8)
}

/// How the endpoints of two inventories correspond.
struct EndpointDiff {
    /// Per old holder (endpoints, then network sets): its id in the new inventory.
    renumber: Vec<Option<u32>>,
    /// Whether every holder kept its id.
    same_ids: bool,
    /// Per new endpoint: its old id, unless it is new or changed.
    unchanged_from: Vec<Option<u32>>,
    /// New ids of the endpoints that are new or changed, ascending.
    changed: Vec<u32>,
}

/// Matches endpoints by key, both lists being sorted by it (as inventories keep them).
fn diff(
    before: &[Arc<Endpoint>],
    after: &[Arc<Endpoint>],
    network_sets: usize,
) -> Option<EndpointDiff> {
    let sorted =
        |eps: &[Arc<Endpoint>]| eps.windows(2).all(|w| w[0].order_key() < w[1].order_key());
    if !sorted(before) || !sorted(after) {
        return None;
    }
    let mut renumber = vec![None; before.len() + network_sets];
    let mut unchanged_from = vec![None; after.len()];
    let mut changed = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < before.len() || j < after.len() {
        let order = match (before.get(i), after.get(j)) {
            (Some(a), Some(b)) => a.order_key().cmp(&b.order_key()),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match order {
            Ordering::Less => i += 1,
            Ordering::Greater => {
                changed.push(j as u32);
                j += 1;
            }
            Ordering::Equal => {
                renumber[i] = Some(j as u32);
                if Arc::ptr_eq(&before[i], &after[j]) || before[i] == after[j] {
                    unchanged_from[j] = Some(i as u32);
                } else {
                    changed.push(j as u32);
                }
                i += 1;
                j += 1;
            }
        }
    }
    for k in 0..network_sets {
        renumber[before.len() + k] = Some((after.len() + k) as u32);
    }
    let same_ids = renumber
        .iter()
        .enumerate()
        .all(|(old, new)| *new == Some(old as u32));
    Some(EndpointDiff {
        renumber,
        same_ids,
        unchanged_from,
        changed,
    })
}

/// `old` brought to `inventory`, which differs from `old`'s only in its endpoints. `None`
/// when this cannot be done piecemeal: the endpoints are not sorted by key, too many
/// changed, or a changed endpoint names a namespace or service account the compiled
/// tables lack.
pub(crate) fn with_changed_endpoints(
    old: &Compiled,
    inventory: Arc<Inventory>,
) -> Option<Compiled> {
    let (before, after) = (&*old.inventory, &*inventory);
    // What the caller vouches for, checked where it is cheap.
    if before.policies.len() != after.policies.len()
        || before.services.len() != after.services.len()
        || before.network_sets.len() != after.network_sets.len()
        || before.namespaces.len() != after.namespaces.len()
        || before.service_accounts.len() != after.service_accounts.len()
        || before.tiers.len() != after.tiers.len()
    {
        return None;
    }
    debug_assert!(
        before.policies == after.policies
            && before.services == after.services
            && before.network_sets == after.network_sets
            && before.namespaces == after.namespaces
            && before.service_accounts == after.service_accounts
            && before.tiers == after.tiers,
        "only endpoints may differ"
    );
    let d = diff(
        &before.endpoints,
        &after.endpoints,
        after.network_sets.len(),
    )?;
    if too_many(d.changed.len(), after.endpoints.len(), old.sets.len()) {
        return None;
    }

    let holders = holders_after(&old.holders, after, &d)?;
    let sets = old.sets.updated(
        &holders,
        (!d.same_ids).then_some(d.renumber.as_slice()),
        &d.changed,
    );

    // Only a changed endpoint's own memberships moved, so only its plans can have.
    let mut plans = old.plans.clone();
    let mut endpoint_plans: Vec<EndpointPlans> = d
        .unchanged_from
        .iter()
        .map(|from| from.map_or([0; 4], |i| old.endpoint_plans[i as usize]))
        .collect();
    for &ep in &d.changed {
        let slots = &mut endpoint_plans[ep as usize];
        for (v, view) in old.views.iter().enumerate() {
            let [egress, ingress] =
                plans_of_endpoint(ep, view, &old.applies_to, &sets, &old.policies);
            slots[2 * v] = plans.intern(egress);
            slots[2 * v + 1] = plans.intern(ingress);
        }
        if !old.has_staged {
            slots[2] = slots[0];
            slots[3] = slots[1];
        }
    }

    let services = old
        .services
        .iter()
        .zip(&after.services)
        .map(|(service, svc)| {
            let mut backends: Vec<u32> = if d.same_ids {
                service.backends.clone()
            } else {
                service
                    .backends
                    .iter()
                    .filter_map(|&ep| d.renumber[ep as usize])
                    .collect()
            };
            for &ep in &d.changed {
                let wanted = is_backend(svc, &after.endpoints[ep as usize]);
                match (backends.binary_search(&ep), wanted) {
                    (Ok(i), false) => {
                        backends.remove(i);
                    }
                    (Err(i), true) => backends.insert(i, ep),
                    _ => {}
                }
            }
            CService { backends }
        })
        .collect();

    Some(Compiled {
        endpoint_by_ip: endpoints_by_ip(after),
        network_sets: network_set_index(after),
        holders,
        sets,
        applies_to: Arc::clone(&old.applies_to),
        policies: Arc::clone(&old.policies),
        tiers: Arc::clone(&old.tiers),
        views: Arc::clone(&old.views),
        plans,
        endpoint_plans,
        services,
        service_by_ip: Arc::clone(&old.service_by_ip),
        has_staged: old.has_staged,
        uses_src_ports: old.uses_src_ports,
        inventory,
    })
}

/// The holders of the new inventory: unchanged endpoints and the network sets as they
/// were, changed endpoints read afresh against the namespaces and accounts known.
fn holders_after(old: &Holders, after: &Inventory, d: &EndpointDiff) -> Option<Holders> {
    let mut holders = Holders {
        n_endpoints: after.endpoints.len() as u32,
        namespace: Vec::with_capacity(after.endpoints.len() + after.network_sets.len()),
        labels: Vec::with_capacity(after.endpoints.len() + after.network_sets.len()),
        service_account: Vec::with_capacity(after.endpoints.len() + after.network_sets.len()),
        namespaces: Arc::clone(&old.namespaces),
        service_accounts: Arc::clone(&old.service_accounts),
    };
    let copy = |holders: &mut Holders, from: u32| {
        let from = from as usize;
        holders.push(
            old.namespace[from],
            Arc::clone(&old.labels[from]),
            old.service_account[from],
        );
    };
    for (ep, from) in after.endpoints.iter().zip(&d.unchanged_from) {
        if let Some(from) = from {
            copy(&mut holders, *from);
            continue;
        }
        let namespace = match ep.namespace.as_deref() {
            Some(ns) => Some(*old.namespaces.ids.get(ns)?),
            None => None,
        };
        let account = match (namespace, ep.endpoint_type, &ep.service_account) {
            (Some(ns), EndpointType::Wep, Some(sa)) => {
                Some(*old.service_accounts.ids.get(&(ns, sa.clone()))?)
            }
            _ => None,
        };
        holders.push(namespace, Arc::new(ep.selector_labels()), account);
    }
    for k in 0..after.network_sets.len() as u32 {
        copy(&mut holders, old.n_endpoints + k);
    }
    Some(holders)
}
