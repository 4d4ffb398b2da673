//! Selector sets: every (scope, selector) a policy uses, evaluated once over the inventory.
//!
//! "Holders" are everything that carries labels selectors can match: endpoints (pods and host
//! endpoints) first, then network sets. A compiled selector is the sorted list of holders it
//! matches, so a rule check during evaluation is a binary search.

use flowlens_model::{Labels, ServiceAccountMatch, well_known_labels};
use flowlens_selector::{Expr, Selector};
use rustc_hash::FxHashMap;

pub(crate) type SetId = u32;

/// Namespaces as the engine numbers them.
pub(crate) struct NamespaceTable {
    pub names: Vec<String>,
    /// Labels a namespaceSelector sees: own labels, `kubernetes.io/metadata.name`,
    /// `projectcalico.org/name`, and a marker telling `all()` it is a namespace.
    pub labels: Vec<Labels>,
    pub ids: FxHashMap<String, u32>,
}

impl NamespaceTable {
    pub fn new() -> NamespaceTable {
        NamespaceTable {
            names: Vec::new(),
            labels: Vec::new(),
            ids: FxHashMap::default(),
        }
    }

    /// The id of a namespace, adding it (with no labels) if the inventory did not declare it.
    pub fn intern(&mut self, name: &str, labels: Option<Labels>) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            if let Some(labels) = labels {
                self.labels[id as usize] = namespace_view(name, labels);
            }
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.labels
            .push(namespace_view(name, labels.unwrap_or_default()));
        self.ids.insert(name.to_string(), id);
        id
    }
}

fn namespace_view(name: &str, mut labels: Labels) -> Labels {
    labels.insert(well_known_labels::K8S_NAMESPACE_NAME.into(), name.into());
    labels.insert(well_known_labels::NAME.into(), name.into());
    labels.insert(NAMESPACED_MARKER.into(), String::new());
    labels
}

/// A key no real label can have (label keys are `[A-Za-z0-9_./-]`), set on the namespace view
/// of every namespaced holder.
const NAMESPACED_MARKER: &str = "\u{0}namespaced";

/// A rule's `namespaceSelector` as Calico evaluates it: against the labels of the holder's
/// namespace (none for non-namespaced holders), with `all()` meaning "any namespaced
/// endpoint" and `global()` meaning "any non-namespaced one". So `!has(env)` also selects
/// global network sets and host endpoints, as it does in Calico.
pub(crate) fn namespace_selector_semantics(sel: &Selector) -> Selector {
    fn rewrite(e: Expr) -> Expr {
        match e {
            Expr::All => Expr::Has(NAMESPACED_MARKER.into()),
            Expr::Global => Expr::Not(Box::new(Expr::Has(NAMESPACED_MARKER.into()))),
            Expr::Not(inner) => Expr::Not(Box::new(rewrite(*inner))),
            Expr::And(children) => Expr::And(children.into_iter().map(rewrite).collect()),
            Expr::Or(children) => Expr::Or(children.into_iter().map(rewrite).collect()),
            other => other,
        }
    }
    Selector::from_expr(rewrite(sel.expr().clone()))
}

/// The labels a namespace selector sees for a holder in `namespace` (`None`: not namespaced).
pub(crate) fn namespace_selector_labels(
    namespaces: &NamespaceTable,
    namespace: Option<u32>,
) -> &Labels {
    static EMPTY: std::sync::OnceLock<Labels> = std::sync::OnceLock::new();
    match namespace {
        Some(ns) => &namespaces.labels[ns as usize],
        None => EMPTY.get_or_init(Labels::new),
    }
}

/// A service account as rules see it.
pub(crate) struct ServiceAccountInfo {
    pub name: String,
    pub labels: Labels,
}

/// Which holders a selector may look at.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Scope<'a> {
    /// Every holder, namespaced or not.
    Any,
    /// Holders in one namespace.
    Namespace(u32),
    /// Holders whose namespace matches a selector already passed through
    /// [`namespace_selector_semantics`].
    Namespaces(&'a Selector),
}

/// Everything selectors match against, with indexes to avoid scanning all of it.
pub(crate) struct Holders {
    pub n_endpoints: u32,
    pub namespace: Vec<Option<u32>>,
    pub labels: Vec<Labels>,
    pub service_account: Vec<Option<u32>>,
    pub namespaces: NamespaceTable,
    pub service_accounts: Vec<ServiceAccountInfo>,
    by_namespace: Vec<Vec<u32>>,
    non_namespaced: Vec<u32>,
    by_key: FxHashMap<String, Vec<u32>>,
    by_key_value: FxHashMap<String, FxHashMap<String, Vec<u32>>>,
}

impl Holders {
    pub fn new(namespaces: NamespaceTable, service_accounts: Vec<ServiceAccountInfo>) -> Holders {
        Holders {
            n_endpoints: 0,
            namespace: Vec::new(),
            labels: Vec::new(),
            service_account: Vec::new(),
            by_namespace: vec![Vec::new(); namespaces.names.len()],
            namespaces,
            service_accounts,
            non_namespaced: Vec::new(),
            by_key: FxHashMap::default(),
            by_key_value: FxHashMap::default(),
        }
    }

    /// Adds a holder; ids are handed out in order.
    pub fn push(
        &mut self,
        namespace: Option<u32>,
        labels: Labels,
        service_account: Option<u32>,
    ) -> u32 {
        let id = self.labels.len() as u32;
        match namespace {
            Some(ns) => {
                if self.by_namespace.len() <= ns as usize {
                    self.by_namespace.resize(ns as usize + 1, Vec::new());
                }
                self.by_namespace[ns as usize].push(id);
            }
            None => self.non_namespaced.push(id),
        }
        for (k, v) in &labels {
            self.by_key.entry(k.clone()).or_default().push(id);
            self.by_key_value
                .entry(k.clone())
                .or_default()
                .entry(v.clone())
                .or_default()
                .push(id);
        }
        self.namespace.push(namespace);
        self.labels.push(labels);
        self.service_account.push(service_account);
        id
    }

    pub fn len(&self) -> u32 {
        self.labels.len() as u32
    }

    fn namespace_matches(&self, holder: u32, selector: &Selector) -> bool {
        selector.matches(namespace_selector_labels(
            &self.namespaces,
            self.namespace[holder as usize],
        ))
    }

    pub fn in_scope(&self, holder: u32, scope: Scope<'_>) -> bool {
        match scope {
            Scope::Any => true,
            Scope::Namespace(ns) => self.namespace[holder as usize] == Some(ns),
            Scope::Namespaces(sel) => self.namespace_matches(holder, sel),
        }
    }

    fn service_account_matches(&self, holder: u32, sa: &ServiceAccountMatch) -> bool {
        let Some(id) = self.service_account[holder as usize] else {
            return false;
        };
        let info = &self.service_accounts[id as usize];
        (sa.names.is_empty() || sa.names.contains(&info.name))
            && sa.selector.as_ref().is_none_or(|s| s.matches(&info.labels))
    }

    /// Whether a holder matches a selector within a scope, evaluated directly.
    pub fn matches(
        &self,
        holder: u32,
        scope: Scope<'_>,
        selector: Option<&Selector>,
        service_accounts: Option<&ServiceAccountMatch>,
    ) -> bool {
        self.in_scope(holder, scope)
            && selector.is_none_or(|s| s.matches(&self.labels[holder as usize]))
            && service_accounts.is_none_or(|sa| self.service_account_matches(holder, sa))
    }

    /// Holders the index says may match: a superset of the answer, often much smaller than
    /// everything. `None` means "no index helps; scan".
    fn candidates(&self, selector: &Selector) -> Option<Vec<u32>> {
        let terms: &[Expr] = match selector.expr() {
            Expr::And(children) => children,
            single => std::slice::from_ref(single),
        };
        let mut best: Option<Vec<u32>> = None;
        for term in terms {
            let found = match term {
                Expr::Equals { key, value } => Some(
                    self.by_key_value
                        .get(key)
                        .and_then(|m| m.get(value))
                        .cloned()
                        .unwrap_or_default(),
                ),
                Expr::In { key, values } => {
                    let by_value = self.by_key_value.get(key);
                    let mut ids: Vec<u32> = values
                        .iter()
                        .filter_map(|v| by_value.and_then(|m| m.get(v)))
                        .flatten()
                        .copied()
                        .collect();
                    ids.sort_unstable();
                    Some(ids)
                }
                Expr::Has(key) => Some(self.by_key.get(key).cloned().unwrap_or_default()),
                _ => None,
            };
            if let Some(found) = found
                && best.as_ref().is_none_or(|b| found.len() < b.len())
            {
                best = Some(found);
            }
        }
        best
    }

    /// The sorted holders matching a selector within a scope.
    pub fn select(
        &self,
        scope: Scope<'_>,
        selector: Option<&Selector>,
        service_accounts: Option<&ServiceAccountMatch>,
    ) -> Vec<u32> {
        let pool: Vec<u32> = match (scope, selector.and_then(|s| self.candidates(s))) {
            (Scope::Namespace(ns), indexed) => {
                let in_ns = self
                    .by_namespace
                    .get(ns as usize)
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                match indexed {
                    Some(ids) if ids.len() < in_ns.len() => ids,
                    _ => in_ns.to_vec(),
                }
            }
            (_, Some(ids)) => ids,
            (Scope::Namespaces(sel), None) => {
                let mut ids: Vec<u32> = (0..self.namespaces.names.len() as u32)
                    .filter(|&ns| sel.matches(&self.namespaces.labels[ns as usize]))
                    .flat_map(|ns| {
                        self.by_namespace
                            .get(ns as usize)
                            .into_iter()
                            .flatten()
                            .copied()
                    })
                    .collect();
                if sel.matches(namespace_selector_labels(&self.namespaces, None)) {
                    ids.extend(&self.non_namespaced);
                }
                ids.sort_unstable();
                ids
            }
            (Scope::Any, None) => (0..self.len()).collect(),
        };
        pool.into_iter()
            .filter(|&h| self.matches(h, scope, selector, service_accounts))
            .collect()
    }
}

/// Deduplicated selector sets.
#[derive(Default)]
pub(crate) struct SetTable {
    sets: Vec<Box<[u32]>>,
    by_key: FxHashMap<String, SetId>,
}

impl SetTable {
    /// The id of the set for `key`, computing it with `build` the first time.
    pub fn intern(&mut self, key: String, build: impl FnOnce() -> Vec<u32>) -> SetId {
        if let Some(&id) = self.by_key.get(&key) {
            return id;
        }
        let id = self.sets.len() as SetId;
        self.sets.push(build().into_boxed_slice());
        self.by_key.insert(key, id);
        id
    }

    #[inline]
    pub fn contains(&self, set: SetId, holder: u32) -> bool {
        self.sets[set as usize].binary_search(&holder).is_ok()
    }

    pub fn get(&self, set: SetId) -> &[u32] {
        &self.sets[set as usize]
    }

    pub fn len(&self) -> usize {
        self.sets.len()
    }
}

/// A stable text key for a scope, used to deduplicate sets.
pub(crate) fn scope_key(scope: Scope<'_>) -> String {
    match scope {
        Scope::Any => "*".into(),
        Scope::Namespace(ns) => format!("ns:{ns}"),
        Scope::Namespaces(sel) => format!("nssel:{sel}"),
    }
}
