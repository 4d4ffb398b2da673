//! Who held an IP address when.
//!
//! Pod IPs are reused: an address freed by a deleted pod soon belongs to another. A flow is
//! attributed to the owner the address had at the flow's time, not to whoever holds it when
//! the flow is processed, so flows that arrive late still name the right pod and labels.
//!
//! Each address has a list of tenures, ordered and never overlapping: an owner holds the
//! address from `from` (inclusive) until `until` (exclusive; `None` while it still holds it).
//! A new claim closes the open tenure, so two owners never hold one address at once.

use crate::{Endpoint, EndpointType};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Milliseconds since the Unix epoch.
pub type UnixMillis = i64;

/// What held an address.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IpOwner {
    /// A pod (`wep`) or host endpoint (`hep`), as it was during the tenure: a relabelled pod
    /// starts a new tenure, so flows before the change keep the old labels.
    Endpoint(Arc<Endpoint>),
    /// A Service's cluster IP.
    Service { namespace: String, name: String },
    /// A node's own address (also used by the node's host-network pods).
    Node { name: String },
}

impl IpOwner {
    /// Whether two owners are the same object (not necessarily in the same state).
    pub fn same_object(&self, other: &IpOwner) -> bool {
        match (self, other) {
            (IpOwner::Endpoint(a), IpOwner::Endpoint(b)) => {
                a.endpoint_type == b.endpoint_type && a.namespace == b.namespace && a.name == b.name
            }
            (a, b) => a == b,
        }
    }

    /// `wep`, `hep`, or `None` for services and nodes.
    pub fn endpoint_type(&self) -> Option<EndpointType> {
        match self {
            IpOwner::Endpoint(e) => Some(e.endpoint_type),
            _ => None,
        }
    }
}

/// One owner's hold on one address.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tenure {
    pub from: UnixMillis,
    /// Exclusive; `None` while the owner still holds the address.
    pub until: Option<UnixMillis>,
    pub owner: IpOwner,
}

impl Tenure {
    pub fn contains(&self, t: UnixMillis) -> bool {
        self.from <= t && self.until.is_none_or(|u| t < u)
    }

    pub fn overlaps(&self, from: UnixMillis, to: UnixMillis) -> bool {
        self.from <= to && self.until.is_none_or(|u| from < u)
    }
}

/// The ownership history of every address seen.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IpTimeline {
    by_ip: HashMap<IpAddr, Vec<Tenure>>,
}

impl IpTimeline {
    pub fn new() -> IpTimeline {
        IpTimeline::default()
    }

    /// `owner` holds `ip` from `from` on. An open tenure of another owner (or of the same
    /// object in another state) ends where this one starts; a claim never starts before the
    /// address's last tenure started or ended, so tenures stay ordered. Claiming what is
    /// already held unchanged does nothing. Returns whether the timeline changed.
    pub fn claim(&mut self, ip: IpAddr, from: UnixMillis, owner: IpOwner) -> bool {
        let tenures = self.by_ip.entry(ip).or_default();
        let mut start = from;
        if let Some(last) = tenures.last_mut() {
            match last.until {
                None if last.owner == owner => return false,
                None => {
                    start = start.max(last.from);
                    last.until = Some(start);
                }
                Some(until) => start = start.max(until),
            }
        }
        // A tenure closed at the very moment it opened held the address for no time at all.
        if tenures.last().is_some_and(|t| t.until == Some(t.from)) {
            tenures.pop();
        }
        tenures.push(Tenure {
            from: start,
            until: None,
            owner,
        });
        true
    }

    /// The open tenure of `ip` ends at `at`, if it belongs to the same object as `owner`.
    /// Returns whether the timeline changed.
    pub fn release(&mut self, ip: IpAddr, at: UnixMillis, owner: &IpOwner) -> bool {
        let Some(tenures) = self.by_ip.get_mut(&ip) else {
            return false;
        };
        let Some(last) = tenures.last_mut() else {
            return false;
        };
        if last.until.is_some() || !last.owner.same_object(owner) {
            return false;
        }
        last.until = Some(at.max(last.from));
        if last.until == Some(last.from) {
            tenures.pop();
            if tenures.is_empty() {
                self.by_ip.remove(&ip);
            }
        }
        true
    }

    /// The tenure of `ip` at time `t`.
    pub fn owner_at(&self, ip: IpAddr, t: UnixMillis) -> Option<&Tenure> {
        let tenures = self.by_ip.get(&ip)?;
        // Tenures are ordered by `from` and do not overlap: the candidate is the last one
        // that started at or before `t`.
        let i = tenures.partition_point(|x| x.from <= t);
        let candidate = tenures.get(i.checked_sub(1)?)?;
        candidate.contains(t).then_some(candidate)
    }

    /// The tenure `ip` has now, if any.
    pub fn current(&self, ip: IpAddr) -> Option<&Tenure> {
        self.by_ip
            .get(&ip)?
            .last()
            .filter(|tenure| tenure.until.is_none())
    }

    /// Every tenure of `ip` that overlaps `[from, to]`, oldest first: a flow record that
    /// spans a change of owner has more than one.
    pub fn owners_during(
        &self,
        ip: IpAddr,
        from: UnixMillis,
        to: UnixMillis,
    ) -> impl Iterator<Item = &Tenure> {
        self.by_ip
            .get(&ip)
            .into_iter()
            .flatten()
            .filter(move |t| t.overlaps(from, to))
    }

    /// The whole history of `ip`, oldest first.
    pub fn tenures(&self, ip: IpAddr) -> &[Tenure] {
        self.by_ip.get(&ip).map_or(&[], Vec::as_slice)
    }

    /// Forgets tenures that ended at or before `t`; returns how many.
    pub fn prune_before(&mut self, t: UnixMillis) -> usize {
        let mut removed = 0;
        self.by_ip.retain(|_, tenures| {
            let before = tenures.len();
            tenures.retain(|x| x.until.is_none_or(|u| u > t));
            removed += before - tenures.len();
            !tenures.is_empty()
        });
        removed
    }

    /// How many addresses have a history.
    pub fn addresses(&self) -> usize {
        self.by_ip.len()
    }

    /// How many tenures are kept, over all addresses.
    pub fn len(&self) -> usize {
        self.by_ip.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Labels;

    fn pod(name: &str, app: &str) -> IpOwner {
        IpOwner::Endpoint(Arc::new(Endpoint {
            endpoint_type: EndpointType::Wep,
            namespace: Some("shop".into()),
            name: name.into(),
            name_aggr: name.into(),
            workload: None,
            labels: Labels::from([("app".to_string(), app.to_string())]),
            ips: vec![],
            service_account: None,
            ports: vec![],
            node: None,
            interface: None,
            profiles: vec![],
        }))
    }

    fn name(t: Option<&Tenure>) -> Option<String> {
        match &t?.owner {
            IpOwner::Endpoint(e) => Some(e.name.clone()),
            other => Some(format!("{other:?}")),
        }
    }

    #[test]
    fn a_reused_address_names_the_owner_at_each_time() {
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        let mut tl = IpTimeline::new();
        assert!(tl.claim(ip, 100, pod("a", "web")));
        assert!(!tl.claim(ip, 150, pod("a", "web")), "unchanged claim");
        assert!(tl.release(ip, 200, &pod("a", "web")));
        assert!(tl.claim(ip, 250, pod("b", "db")));
        assert_eq!(name(tl.owner_at(ip, 99)), None);
        assert_eq!(name(tl.owner_at(ip, 100)), Some("a".into()));
        assert_eq!(name(tl.owner_at(ip, 199)), Some("a".into()));
        assert_eq!(name(tl.owner_at(ip, 220)), None);
        assert_eq!(name(tl.owner_at(ip, 250)), Some("b".into()));
        assert_eq!(name(tl.owner_at(ip, 10_000)), Some("b".into()));
        assert_eq!(tl.owners_during(ip, 150, 260).count(), 2);
        assert_eq!(name(tl.current(ip)), Some("b".into()));
    }

    #[test]
    fn a_claim_closes_the_open_tenure_and_never_starts_before_it() {
        let ip: IpAddr = "fd00::7".parse().unwrap();
        let mut tl = IpTimeline::new();
        tl.claim(ip, 100, pod("a", "web"));
        // The new pod started (50) before the old one's tenure began: it starts at 100 at
        // the earliest, and the old one's tenure, which lasted no time, is dropped.
        tl.claim(ip, 50, pod("b", "web"));
        assert_eq!(tl.tenures(ip).len(), 1);
        assert_eq!(tl.tenures(ip)[0].from, 100);
        // A release by an object that does not hold the address changes nothing.
        assert!(!tl.release(ip, 300, &pod("a", "web")));
        // A relabel is a new tenure of the same object.
        tl.claim(ip, 400, pod("b", "api"));
        assert_eq!(tl.tenures(ip).len(), 2);
        let old = tl.owner_at(ip, 399).unwrap();
        let IpOwner::Endpoint(e) = &old.owner else {
            panic!("endpoint expected")
        };
        assert_eq!(e.labels["app"], "web");
        assert!(tl.release(ip, 500, &pod("b", "other-labels")));
        assert!(tl.current(ip).is_none());
        assert_eq!(tl.prune_before(450), 1);
        assert_eq!(tl.len(), 1);
        assert_eq!(tl.prune_before(500), 1);
        assert!(tl.is_empty());
    }
}
