//! Lookups by name over an inventory, built once per compile so that resolving thousands of
//! traffic entries (the `scale` scenario) costs hash lookups, not scans.

use flowlens_model::{Endpoint, EndpointType, Inventory, Service};
use rustc_hash::FxHashMap;

pub(crate) struct Index<'a> {
    pub inv: &'a Inventory,
    /// (namespace, controller name) → endpoints.
    workloads: FxHashMap<(&'a str, &'a str), Vec<u32>>,
    pods: FxHashMap<(&'a str, &'a str), u32>,
    services: FxHashMap<(&'a str, &'a str), u32>,
    /// Workload endpoints per namespace, for service selectors.
    by_namespace: FxHashMap<&'a str, Vec<u32>>,
    /// Network sets by name: global ones under `None`.
    network_sets: FxHashMap<(Option<&'a str>, &'a str), u32>,
    sets_by_name: FxHashMap<&'a str, Vec<u32>>,
}

impl<'a> Index<'a> {
    pub fn new(inv: &'a Inventory) -> Index<'a> {
        let mut index = Index {
            inv,
            workloads: FxHashMap::default(),
            pods: FxHashMap::default(),
            services: FxHashMap::default(),
            by_namespace: FxHashMap::default(),
            network_sets: FxHashMap::default(),
            sets_by_name: FxHashMap::default(),
        };
        for (i, e) in inv.endpoints.iter().enumerate() {
            let (Some(ns), EndpointType::Wep) = (e.namespace.as_deref(), e.endpoint_type) else {
                continue;
            };
            let i = i as u32;
            index.pods.insert((ns, &e.name), i);
            index.by_namespace.entry(ns).or_default().push(i);
            if let Some(w) = &e.workload {
                index.workloads.entry((ns, &w.name)).or_default().push(i);
            }
        }
        for (i, s) in inv.services.iter().enumerate() {
            index.services.insert((&s.namespace, &s.name), i as u32);
        }
        for (i, set) in inv.network_sets.iter().enumerate() {
            index
                .network_sets
                .insert((set.namespace.as_deref(), &set.name), i as u32);
            index
                .sets_by_name
                .entry(&set.name)
                .or_default()
                .push(i as u32);
        }
        index
    }

    pub fn endpoint(&self, i: u32) -> &'a Endpoint {
        &self.inv.endpoints[i as usize]
    }

    pub fn service(&self, namespace: &str, name: &str) -> Option<&'a Service> {
        self.services
            .get(&(namespace, name))
            .map(|&i| &self.inv.services[i as usize])
    }

    /// A controller's pods, or a single pod of that name.
    pub fn workload(&self, namespace: &str, name: &str) -> Option<Vec<u32>> {
        self.workloads
            .get(&(namespace, name))
            .cloned()
            .or_else(|| self.pod(namespace, name).map(|p| vec![p]))
    }

    pub fn pod(&self, namespace: &str, name: &str) -> Option<u32> {
        self.pods.get(&(namespace, name)).copied()
    }

    /// The pods a service selects (none for a service without a selector).
    pub fn backends(&self, service: &Service) -> Vec<u32> {
        let Some(selector) = &service.selector else {
            return Vec::new();
        };
        let Some(candidates) = self.by_namespace.get(service.namespace.as_str()) else {
            return Vec::new();
        };
        candidates
            .iter()
            .copied()
            .filter(|&i| {
                let labels = &self.endpoint(i).labels;
                selector.iter().all(|(k, v)| labels.get(k) == Some(v))
            })
            .collect()
    }

    pub fn network_set(&self, namespace: Option<&str>, name: &str) -> Option<u32> {
        self.network_sets.get(&(namespace, name)).copied()
    }

    /// A bare set name: the global set, else the only namespaced set of that name.
    pub fn network_set_by_name(&self, name: &str) -> Result<Option<u32>, Vec<String>> {
        if let Some(i) = self.network_set(None, name) {
            return Ok(Some(i));
        }
        match self.sets_by_name.get(name).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([one]) => Ok(Some(*one)),
            Some(many) => Err(many
                .iter()
                .filter_map(|&i| self.inv.network_sets[i as usize].namespace.clone())
                .collect()),
        }
    }
}
