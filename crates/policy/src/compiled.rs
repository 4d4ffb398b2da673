//! What an inventory compiles into: selector sets, compiled rules, and for every endpoint
//! and direction the plan of tiers and policies to walk. Plain data: the `compile` module
//! builds it, `eval` walks it, and the engine wraps it with a decision cache.

use crate::peer::Peer;
use crate::sets::{Holders, SetId, SetTable};
use flowlens_model::{Inventory, Protocol, RuleAction, TierDefaultAction};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;
use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use std::net::IpAddr;
use std::sync::Arc;

/// An inventory compiled for evaluation. What only policies determine (rules, plans'
/// policy lists, the views) is shared between the engines of one policy set.
pub(crate) struct Compiled {
    pub inventory: Arc<Inventory>,
    pub holders: Holders,
    pub sets: SetTable,
    /// Per inventory policy: the set of endpoints it applies to (selector, namespace and
    /// service-account selectors; directions not considered).
    pub applies_to: Arc<Vec<SetId>>,
    pub policies: Arc<Vec<CPolicy>>,
    pub tiers: Arc<Vec<CTier>>,
    /// The enforced view of the policies and, with staged policies, the pending one: policy
    /// indices in evaluation order.
    pub views: Arc<Vec<Vec<u32>>>,
    pub plans: PlanTable,
    pub endpoint_plans: Vec<EndpointPlans>,
    pub endpoint_by_ip: FxHashMap<IpAddr, u32>,
    pub network_sets: NetworkSetIndex,
    pub services: Vec<CService>,
    pub service_by_ip: Arc<FxHashMap<IpAddr, u32>>,
    pub has_staged: bool,
    /// Whether any rule looks at source ports; if not, decisions do not depend on them.
    pub uses_src_ports: bool,
}

impl Compiled {
    /// What the inventory knows about an address.
    pub fn resolve(&self, ip: IpAddr) -> Peer {
        let endpoint = self.endpoint_by_ip.get(&ip).copied();
        let (sets, best) = self.network_sets.lookup(ip);
        let mut holders: SmallVec<[u32; 4]> = SmallVec::new();
        holders.extend(endpoint);
        holders.extend(sets);
        Peer {
            ip,
            endpoint,
            holders,
            network_set: if endpoint.is_some() { None } else { best },
        }
    }
}

/// A port entry of a rule.
#[derive(Clone, Debug)]
pub(crate) enum CPort {
    Range(u16, u16),
    Named(String),
}

/// A rule's source or destination, with selectors replaced by set ids.
#[derive(Clone, Debug, Default)]
pub(crate) struct CEntity {
    pub nets: SmallVec<[IpNet; 1]>,
    pub not_nets: SmallVec<[IpNet; 1]>,
    /// selector / namespaceSelector / serviceAccounts, combined.
    pub set: Option<SetId>,
    pub not_set: Option<SetId>,
    pub ports: SmallVec<[CPort; 2]>,
    pub not_ports: SmallVec<[CPort; 1]>,
    /// Endpoints whose named ports count for this entity (`None`: any endpoint).
    pub named_port_scope: Option<SetId>,
    /// `services`: `Some(None)` when the named service does not exist (matches nothing).
    pub service: Option<Option<u32>>,
}

#[derive(Clone, Debug)]
pub(crate) struct CRule {
    pub action: RuleAction,
    pub protocol: Option<Protocol>,
    pub not_protocol: Option<Protocol>,
    pub ip_version: Option<u8>,
    pub icmp: Option<flowlens_model::IcmpMatch>,
    pub not_icmp: Option<flowlens_model::IcmpMatch>,
    pub src: CEntity,
    pub dst: CEntity,
    pub http: bool,
}

/// Where in the packet path a policy applies (host endpoints only have the first two).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Stage {
    Untracked = 0,
    PreDnat = 1,
    Normal = 2,
}

pub(crate) struct CPolicy {
    /// Position of the policy's tier in evaluation order.
    pub tier: u32,
    pub ingress: Vec<CRule>,
    pub egress: Vec<CRule>,
    pub stage: Stage,
    /// The policy's `types`: whether it applies to egress, to ingress.
    pub egress_type: bool,
    pub ingress_type: bool,
}

pub(crate) struct CTier {
    pub name: String,
    pub default_action: TierDefaultAction,
}

/// The policies of one tier that apply to an endpoint in one direction, in order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TierPlan {
    pub tier: u32,
    pub policies: Box<[u32]>,
}

/// What to evaluate for one endpoint and direction.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Plan {
    pub untracked: Vec<TierPlan>,
    pub pre_dnat: Vec<TierPlan>,
    pub normal: Vec<TierPlan>,
}

pub(crate) type PlanId = u32;

/// Distinct plans, each stored once (many endpoints share a plan).
#[derive(Clone)]
pub(crate) struct PlanTable {
    plans: Vec<Arc<Plan>>,
    ids: FxHashMap<Arc<Plan>, PlanId>,
}

impl PlanTable {
    /// A table holding the empty plan as id 0.
    pub fn new() -> PlanTable {
        let mut table = PlanTable {
            plans: Vec::new(),
            ids: FxHashMap::default(),
        };
        table.intern(Plan::default());
        table
    }

    pub fn intern(&mut self, plan: Plan) -> PlanId {
        if let Some(&id) = self.ids.get(&plan) {
            return id;
        }
        let plan = Arc::new(plan);
        self.plans.push(Arc::clone(&plan));
        let id = self.plans.len() as PlanId - 1;
        self.ids.insert(plan, id);
        id
    }

    #[inline]
    pub fn get(&self, id: PlanId) -> &Plan {
        &self.plans[id as usize]
    }

    pub fn len(&self) -> usize {
        self.plans.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Plan> {
        self.plans.iter().map(|p| &**p)
    }
}

/// Plan ids of one endpoint: enforced egress, enforced ingress, pending egress, pending ingress.
pub(crate) type EndpointPlans = [PlanId; 4];

#[derive(Clone)]
pub(crate) struct CService {
    /// Endpoints selected by the service, sorted.
    pub backends: Vec<u32>,
}

/// Network sets by prefix, for "which sets contain this address" and attribution.
#[derive(Clone, Default)]
pub(crate) struct NetworkSetIndex {
    v4: PrefixMap<Ipv4Net, Vec<(u32, bool)>>,
    v6: PrefixMap<Ipv6Net, Vec<(u32, bool)>>,
}

impl NetworkSetIndex {
    pub fn insert(&mut self, net: IpNet, holder: u32, namespaced: bool) {
        let entry = (holder, namespaced);
        match net.trunc() {
            IpNet::V4(n) => self.v4.entry(n).or_default().push(entry),
            IpNet::V6(n) => self.v6.entry(n).or_default().push(entry),
        }
    }

    /// Every set containing `ip` (shortest prefix first), and the one flow logs name it by:
    /// the longest prefix, a namespaced set winning over a global one of the same length.
    pub fn lookup(&self, ip: IpAddr) -> (SmallVec<[u32; 4]>, Option<u32>) {
        let mut all = SmallVec::new();
        let mut best = None;
        let mut visit = |entries: &Vec<(u32, bool)>| {
            for &(h, _) in entries {
                if !all.contains(&h) {
                    all.push(h);
                }
            }
            let pick = entries.iter().find(|(_, ns)| *ns).or(entries.first());
            if let Some(&(h, _)) = pick {
                best = Some(h);
            }
        };
        match ip {
            IpAddr::V4(a) => self.v4.cover(&Ipv4Net::from(a)).for_each(|(_, v)| visit(v)),
            IpAddr::V6(a) => self.v6.cover(&Ipv6Net::from(a)).for_each(|(_, v)| visit(v)),
        }
        (all, best)
    }
}
