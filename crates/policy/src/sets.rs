//! Selector sets: every (scope, selector) a policy uses, evaluated once over the inventory.
//!
//! "Holders" are everything that carries labels selectors can match: endpoints (pods and host
//! endpoints) first, then network sets. A compiled selector is the sorted list of holders it
//! matches, so a rule check during evaluation is a binary search.

use flowlens_model::{Labels, ServiceAccountMatch, well_known_labels};
use flowlens_selector::{Expr, Selector};
use rustc_hash::FxHashMap;
use std::sync::Arc;

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

/// Service accounts as the engine numbers them: by (namespace id, name).
#[derive(Default)]
pub(crate) struct ServiceAccountTable {
    pub infos: Vec<ServiceAccountInfo>,
    pub ids: FxHashMap<(u32, String), u32>,
}

impl ServiceAccountTable {
    /// The id of an account, adding it (with the labels given, or none) the first time.
    pub fn intern(&mut self, namespace: u32, name: &str, labels: Option<&Labels>) -> u32 {
        if let Some(&id) = self.ids.get(&(namespace, name.to_string())) {
            return id;
        }
        let mut l = labels.cloned().unwrap_or_default();
        l.insert(well_known_labels::NAME.into(), name.into());
        self.infos.push(ServiceAccountInfo {
            name: name.to_string(),
            labels: l,
        });
        let id = self.infos.len() as u32 - 1;
        self.ids.insert((namespace, name.to_string()), id);
        id
    }
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

/// A [`Scope`] kept with the set it made.
#[derive(Clone, Debug)]
pub(crate) enum OwnedScope {
    Any,
    Namespace(u32),
    Namespaces(Selector),
}

impl OwnedScope {
    pub fn of(scope: Scope<'_>) -> OwnedScope {
        match scope {
            Scope::Any => OwnedScope::Any,
            Scope::Namespace(ns) => OwnedScope::Namespace(ns),
            Scope::Namespaces(sel) => OwnedScope::Namespaces(sel.clone()),
        }
    }

    pub fn scope(&self) -> Scope<'_> {
        match self {
            OwnedScope::Any => Scope::Any,
            OwnedScope::Namespace(ns) => Scope::Namespace(*ns),
            OwnedScope::Namespaces(sel) => Scope::Namespaces(sel),
        }
    }
}

/// Everything selectors match against: endpoints (ids `0..n_endpoints`), then network sets.
/// The namespace and service-account tables are shared by the engines of one policy set.
pub(crate) struct Holders {
    pub n_endpoints: u32,
    pub namespace: Vec<Option<u32>>,
    pub labels: Vec<Arc<Labels>>,
    pub service_account: Vec<Option<u32>>,
    pub namespaces: Arc<NamespaceTable>,
    pub service_accounts: Arc<ServiceAccountTable>,
}

impl Holders {
    pub fn new(namespaces: NamespaceTable, service_accounts: ServiceAccountTable) -> Holders {
        Holders {
            n_endpoints: 0,
            namespace: Vec::new(),
            labels: Vec::new(),
            service_account: Vec::new(),
            namespaces: Arc::new(namespaces),
            service_accounts: Arc::new(service_accounts),
        }
    }

    /// Adds a holder; ids are handed out in order.
    pub fn push(
        &mut self,
        namespace: Option<u32>,
        labels: Arc<Labels>,
        service_account: Option<u32>,
    ) -> u32 {
        let id = self.labels.len() as u32;
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
        let info = &self.service_accounts.infos[id as usize];
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
            && selector.is_none_or(|s| s.matches(&*self.labels[holder as usize]))
            && service_accounts.is_none_or(|sa| self.service_account_matches(holder, sa))
    }
}

/// Indexes over holders so that evaluating a selector over all of them does not scan them
/// all: built for a whole compilation, not kept with the engine.
pub(crate) struct HolderIndex<'a> {
    holders: &'a Holders,
    by_namespace: Vec<Vec<u32>>,
    non_namespaced: Vec<u32>,
    by_key: FxHashMap<&'a str, Vec<u32>>,
    by_key_value: FxHashMap<&'a str, FxHashMap<&'a str, Vec<u32>>>,
}

impl<'a> HolderIndex<'a> {
    pub fn new(holders: &'a Holders) -> HolderIndex<'a> {
        let mut index = HolderIndex {
            holders,
            by_namespace: vec![Vec::new(); holders.namespaces.names.len()],
            non_namespaced: Vec::new(),
            by_key: FxHashMap::default(),
            by_key_value: FxHashMap::default(),
        };
        for id in 0..holders.len() {
            match holders.namespace[id as usize] {
                Some(ns) => index.by_namespace[ns as usize].push(id),
                None => index.non_namespaced.push(id),
            }
            for (k, v) in holders.labels[id as usize].iter() {
                index.by_key.entry(k).or_default().push(id);
                index
                    .by_key_value
                    .entry(k)
                    .or_default()
                    .entry(v)
                    .or_default()
                    .push(id);
            }
        }
        index
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
                        .get(key.as_str())
                        .and_then(|m| m.get(value.as_str()))
                        .cloned()
                        .unwrap_or_default(),
                ),
                Expr::In { key, values } => {
                    let by_value = self.by_key_value.get(key.as_str());
                    let mut ids: Vec<u32> = values
                        .iter()
                        .filter_map(|v| by_value.and_then(|m| m.get(v)))
                        .flatten()
                        .copied()
                        .collect();
                    ids.sort_unstable();
                    Some(ids)
                }
                Expr::Has(key) => Some(self.by_key.get(key.as_str()).cloned().unwrap_or_default()),
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
        let holders = self.holders;
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
                let mut ids: Vec<u32> = (0..holders.namespaces.names.len() as u32)
                    .filter(|&ns| sel.matches(&holders.namespaces.labels[ns as usize]))
                    .flat_map(|ns| {
                        self.by_namespace
                            .get(ns as usize)
                            .into_iter()
                            .flatten()
                            .copied()
                    })
                    .collect();
                if sel.matches(namespace_selector_labels(&holders.namespaces, None)) {
                    ids.extend(&self.non_namespaced);
                }
                ids.sort_unstable();
                ids
            }
            (Scope::Any, None) => (0..holders.len()).collect(),
        };
        pool.into_iter()
            .filter(|&h| holders.matches(h, scope, selector, service_accounts))
            .collect()
    }
}

/// What a selector set holds, kept so that the set can be brought up to date when holders
/// change without compiling everything again.
#[derive(Clone, Debug)]
pub(crate) enum SetDef {
    /// Holders matching a selector (and service-account match) within a scope; endpoints
    /// only, when `endpoints_only`.
    Select {
        scope: OwnedScope,
        selector: Option<Selector>,
        accounts: Option<ServiceAccountMatch>,
        endpoints_only: bool,
    },
    /// No holder (a namespaced policy whose namespace the inventory lacks).
    Empty,
    /// The members of an earlier set that are host endpoints (when `host_endpoints_only`)
    /// and whose service account matches `account_selector` (when given).
    Narrowed {
        base: SetId,
        host_endpoints_only: bool,
        account_selector: Option<Selector>,
    },
}

impl SetDef {
    /// Whether `holder` belongs to the set, given the (already current) sets before it.
    fn contains(&self, holders: &Holders, earlier: &[Arc<[u32]>], holder: u32) -> bool {
        match self {
            SetDef::Select {
                scope,
                selector,
                accounts,
                endpoints_only,
            } => {
                (!endpoints_only || holder < holders.n_endpoints)
                    && holders.matches(holder, scope.scope(), selector.as_ref(), accounts.as_ref())
            }
            SetDef::Empty => false,
            SetDef::Narrowed {
                base,
                host_endpoints_only,
                account_selector,
            } => {
                earlier[*base as usize].binary_search(&holder).is_ok()
                    && (!host_endpoints_only || holders.namespace[holder as usize].is_none())
                    && account_selector.as_ref().is_none_or(|sel| {
                        holders.service_account[holder as usize].is_some_and(|sa| {
                            sel.matches(&holders.service_accounts.infos[sa as usize].labels)
                        })
                    })
            }
        }
    }
}

/// Selector sets, each the sorted holders it matches, with what defines it.
#[derive(Default)]
pub(crate) struct SetTable {
    sets: Vec<Arc<[u32]>>,
    defs: Arc<Vec<SetDef>>,
}

impl SetTable {
    /// Adds a set of the members given.
    pub fn push(&mut self, def: SetDef, members: Vec<u32>) -> SetId {
        Arc::make_mut(&mut self.defs).push(def);
        self.sets.push(members.into());
        self.sets.len() as SetId - 1
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

    /// Whether `holder` belongs to a set defined by `def` (whose earlier sets are these).
    pub fn holds(&self, def: &SetDef, holders: &Holders, holder: u32) -> bool {
        def.contains(holders, &self.sets, holder)
    }

    /// The sets over changed holders: `renumber` gives each old holder's new id (`None`:
    /// gone; ids keep their order), and `changed` are the new ids of holders that are new or
    /// may have changed, whose membership is decided afresh. Sets nothing moved in share
    /// their members with `self`.
    pub fn updated(
        &self,
        holders: &Holders,
        renumber: Option<&[Option<u32>]>,
        changed: &[u32],
    ) -> SetTable {
        let mut sets: Vec<Arc<[u32]>> = Vec::with_capacity(self.sets.len());
        for (id, old) in self.sets.iter().enumerate() {
            let mut members: Option<Vec<u32>> = renumber.map(|map| {
                old.iter()
                    .filter_map(|&h| map[h as usize])
                    .collect::<Vec<u32>>()
            });
            let def = &self.defs[id];
            for &h in changed {
                let current: &[u32] = members.as_deref().unwrap_or(old);
                let at = current.binary_search(&h);
                let wanted = def.contains(holders, &sets, h);
                match (at, wanted) {
                    (Ok(i), false) => {
                        members.get_or_insert_with(|| old.to_vec()).remove(i);
                    }
                    (Err(i), true) => {
                        members.get_or_insert_with(|| old.to_vec()).insert(i, h);
                    }
                    _ => {}
                }
            }
            sets.push(match members {
                Some(m) if *m != **old => m.into(),
                _ => Arc::clone(old),
            });
        }
        SetTable {
            sets,
            defs: Arc::clone(&self.defs),
        }
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
