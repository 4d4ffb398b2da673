//! Workload controllers become the pods they would run, named the way Kubernetes names them
//! and aggregated the way Calico flow logs aggregate them.
//!
//! The random parts of real pod names (the pod-template hash, the 5-character suffix) are
//! derived from a stable hash of namespace and name instead, so loading the same manifests
//! twice gives the same names, and flows recorded against one load still match the next.

use crate::resource::Workload;
use flowlens_model::{Endpoint, EndpointType, WorkloadRef};
use std::collections::HashSet;

/// Kubernetes' alphabet for generated names (no vowels, no look-alike characters).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn fnv1a(text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// splitmix64: spreads one FNV seed over as many characters as needed.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `len` characters of the safe alphabet, determined by `seed`.
pub(crate) fn suffix(seed: &str, len: usize) -> String {
    let mut state = fnv1a(seed);
    (0..len)
        .map(|_| {
            let i = (next(&mut state) % SAFE_ALPHABET.len() as u64) as usize;
            char::from(SAFE_ALPHABET.get(i).copied().unwrap_or(b'b'))
        })
        .collect()
}

/// Per-pod suffixes for one workload, redrawn on the (unlikely) collision so that replicas
/// never share a name.
fn unique_suffixes(seed: &str, count: u32) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(count as usize);
    let mut attempt = 0u64;
    while out.len() < count as usize {
        let s = suffix(&format!("{seed}/{attempt}"), 5);
        attempt += 1;
        if seen.insert(s.clone()) {
            out.push(s);
        }
    }
    out
}

/// The endpoints a workload would run: `(name, name_aggr)` per replica, then the endpoint.
pub fn expand_workload(w: &Workload) -> Vec<Endpoint> {
    let seed = format!("{}/{}/{}", w.kind, w.namespace, w.name);
    let names: Vec<(String, String)> = match w.kind.as_str() {
        "Deployment" => {
            let hash = suffix(&seed, 10);
            let prefix = format!("{}-{hash}-", w.name);
            unique_suffixes(&seed, w.replicas)
                .into_iter()
                .map(|s| (format!("{prefix}{s}"), format!("{prefix}*")))
                .collect()
        }
        "StatefulSet" => (0..w.replicas)
            .map(|i| (format!("{}-{i}", w.name), format!("{}-*", w.name)))
            .collect(),
        "CronJob" => {
            // The middle part is the scheduled time in minutes since the epoch; any stable
            // 8-digit number looks the same in a flow log.
            let minutes = 28_000_000 + fnv1a(&seed) % 2_000_000;
            let prefix = format!("{}-{minutes:08}-", w.name);
            unique_suffixes(&seed, w.replicas)
                .into_iter()
                .map(|s| (format!("{prefix}{s}"), format!("{prefix}*")))
                .collect()
        }
        // ReplicaSet, ReplicationController, DaemonSet, Job: `<name>-<suffix>`.
        _ => unique_suffixes(&seed, w.replicas)
            .into_iter()
            .map(|s| (format!("{}-{s}", w.name), format!("{}-*", w.name)))
            .collect(),
    };
    names
        .into_iter()
        .map(|(name, name_aggr)| Endpoint {
            endpoint_type: EndpointType::Wep,
            namespace: Some(w.namespace.clone()),
            name,
            name_aggr,
            workload: Some(WorkloadRef {
                kind: w.kind.clone(),
                name: w.name.clone(),
            }),
            labels: w.template.labels.clone(),
            ips: Vec::new(),
            service_account: Some(w.template.service_account.clone()),
            ports: w.template.ports.clone(),
            node: w.template.node.clone(),
            interface: None,
            profiles: Vec::new(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_use_the_safe_alphabet_and_are_stable() {
        let a = suffix("storefront/frontend", 10);
        assert_eq!(a.len(), 10);
        assert!(a.bytes().all(|b| SAFE_ALPHABET.contains(&b)));
        assert_eq!(a, suffix("storefront/frontend", 10));
        assert_ne!(a, suffix("storefront/backend", 10));
    }

    #[test]
    fn replicas_get_distinct_suffixes() {
        let s = unique_suffixes("x", 500);
        let set: HashSet<_> = s.iter().collect();
        assert_eq!(set.len(), 500);
    }
}
