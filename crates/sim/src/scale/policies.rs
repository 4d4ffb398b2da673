//! The scale scenario's tiers and policies: guard rails in `security` and `platform`, then
//! per-role namespaced policies spread over the other tiers and `default`.

use super::{Cluster, ROLES, Role, ScaleParams};
use flowlens_model::*;
use flowlens_selector::Selector;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

fn sel(text: &str) -> Selector {
    // Only selectors written here reach this, and a unit test parses each shape; `all()`
    // keeps a typo from panicking.
    Selector::parse(text).unwrap_or_else(|_| Selector::all())
}

fn policy(
    kind: PolicyKind,
    name: String,
    namespace: Option<String>,
    tier: &str,
    order: f64,
    selector: Selector,
) -> Policy {
    Policy {
        kind,
        name,
        namespace,
        tier: tier.to_owned(),
        order: Some(order),
        selector,
        namespace_selector: None,
        service_account_selector: None,
        types: PolicyTypes {
            ingress: false,
            egress: false,
        },
        ingress: Vec::new(),
        egress: Vec::new(),
        do_not_track: false,
        pre_dnat: false,
        apply_on_forward: false,
        staged_action: StagedAction::Set,
        source: None,
    }
}

fn rule(action: RuleAction, protocol: Option<Protocol>) -> Rule {
    let mut r = Rule::new(action);
    r.protocol = protocol;
    r
}

fn ports(list: &[u16]) -> Vec<PortMatch> {
    list.iter().map(|&p| PortMatch::Single(p)).collect()
}

const TIER_NAMES: [&str; 6] = [
    "security",
    "platform",
    "tenant",
    "app",
    "compliance",
    "team",
];
impl Cluster {
    pub(super) fn policies(&mut self, p: &ScaleParams, rng: &mut ChaCha8Rng) {
        let custom = p.tiers - 1;
        let tier_names: Vec<String> = (0..custom)
            .map(|i| {
                TIER_NAMES
                    .get(i)
                    .map(|s| (*s).to_owned())
                    .unwrap_or_else(|| format!("tier-{i}"))
            })
            .collect();
        for (i, name) in tier_names.iter().enumerate() {
            self.inventory.tiers.push(Tier {
                name: name.clone(),
                order: Some(100.0 * (i + 1) as f64),
                default_action: TierDefaultAction::Pass,
            });
        }
        let has = |name: &str| tier_names.iter().any(|t| t == name);
        let mut remaining = p.policies;
        let share = (p.policies / 20).max(1);

        if has("security") {
            let count = share.min(remaining);
            remaining -= count;
            for k in 0..count {
                let pol = if k == 0 {
                    threat_feed_policy()
                } else {
                    tenant_policy(k - 1)
                };
                self.inventory.policies.push(pol);
            }
        }
        if has("platform") {
            let count = share.min(remaining);
            remaining -= count;
            for k in 0..count {
                let pol = if k == 0 {
                    dns_policy()
                } else {
                    partner_policy(k - 1)
                };
                self.inventory.policies.push(pol);
            }
        }
        // The rest are per-role namespaced policies, spread over the other tiers and
        // `default`, and over namespaces so that most namespaces get some.
        let mut tiers: Vec<&str> = tier_names
            .iter()
            .map(String::as_str)
            .filter(|t| *t != "security" && *t != "platform")
            .collect();
        tiers.push(Tier::DEFAULT);
        for i in 0..remaining {
            let ns_index = i % p.namespaces;
            let role = ROLES[(i / p.namespaces) % ROLES.len()];
            let tier = tiers[rng.random_range(0..tiers.len())];
            let namespace = self.namespaces[ns_index].clone();
            let team = format!("team-{}", ns_index % 50);
            let kubernetes = tier == Tier::DEFAULT && i % 2 == 1;
            self.inventory
                .policies
                .push(role_policy(role, namespace, tier, i, &team, kubernetes));
        }
    }
}

fn threat_feed_policy() -> Policy {
    let mut p = policy(
        PolicyKind::GlobalNetworkPolicy,
        "security.block-threat-feed".into(),
        None,
        "security",
        10.0,
        sel("all()"),
    );
    p.types = PolicyTypes {
        ingress: true,
        egress: true,
    };
    let mut deny_in = rule(RuleAction::Deny, None);
    deny_in.source.selector = Some(sel("threat-feed == \"true\""));
    let mut deny_out = rule(RuleAction::Deny, None);
    deny_out.destination.selector = Some(sel("threat-feed == \"true\""));
    p.ingress = vec![deny_in, rule(RuleAction::Pass, None)];
    p.egress = vec![deny_out, rule(RuleAction::Pass, None)];
    p
}

/// Tenants talk among themselves; other namespaces may reach only their web tier.
fn tenant_policy(k: usize) -> Policy {
    let tenant = format!("tenant-{}", k % 20);
    let mut p = policy(
        PolicyKind::GlobalNetworkPolicy,
        format!("security.isolate-{tenant}-{k}"),
        None,
        "security",
        100.0 + k as f64,
        sel("role != \"web\""),
    );
    p.namespace_selector = Some(sel(&format!("tenant == \"{tenant}\"")));
    p.types = PolicyTypes {
        ingress: true,
        egress: false,
    };
    let mut same = rule(RuleAction::Pass, None);
    same.source.namespace_selector = Some(sel(&format!("tenant == \"{tenant}\"")));
    let mut system = rule(RuleAction::Pass, None);
    system.source.namespace_selector = Some(sel("projectcalico.org/name == \"kube-system\""));
    let mut corporate = rule(RuleAction::Pass, Some(Protocol::Tcp));
    corporate.source.selector = Some(sel("corporate == \"true\""));
    let mut other = rule(RuleAction::Deny, None);
    other.source.namespace_selector = Some(sel("has(tenant)"));
    p.ingress = vec![same, system, corporate, other];
    p
}

fn dns_policy() -> Policy {
    let mut p = policy(
        PolicyKind::GlobalNetworkPolicy,
        "platform.allow-dns".into(),
        None,
        "platform",
        10.0,
        sel("all()"),
    );
    p.types = PolicyTypes {
        ingress: false,
        egress: true,
    };
    let dns = |protocol| {
        let mut r = rule(RuleAction::Allow, Some(protocol));
        r.destination.selector = Some(sel("k8s-app == \"kube-dns\""));
        r.destination.namespace_selector = Some(sel("projectcalico.org/name == \"kube-system\""));
        r.destination.ports = ports(&[53]);
        r
    };
    p.egress = vec![
        dns(Protocol::Udp),
        dns(Protocol::Tcp),
        rule(RuleAction::Pass, None),
    ];
    p
}

fn partner_policy(k: usize) -> Policy {
    let team = format!("team-{}", k % 50);
    let mut p = policy(
        PolicyKind::GlobalNetworkPolicy,
        format!("platform.{team}-partners-{k}"),
        None,
        "platform",
        100.0 + k as f64,
        sel("role in {\"api\", \"worker\"}"),
    );
    p.namespace_selector = Some(sel(&format!("team == \"{team}\"")));
    p.types = PolicyTypes {
        ingress: false,
        egress: true,
    };
    let mut partners = rule(RuleAction::Allow, Some(Protocol::Tcp));
    partners.destination.selector = Some(sel("partner == \"true\""));
    partners.destination.ports = ports(&[443]);
    p.egress = vec![partners, rule(RuleAction::Pass, None)];
    p
}

fn role_policy(
    role: Role,
    namespace: String,
    tier: &str,
    i: usize,
    team: &str,
    kubernetes: bool,
) -> Policy {
    let name = format!(
        "{}-{}-{i}",
        role.name(),
        if kubernetes { "allow" } else { "zone" }
    );
    let (_, port, _) = role.port();
    let selector = if kubernetes {
        sel(&format!(
            "role == \"{}\" && projectcalico.org/orchestrator == \"k8s\"",
            role.name()
        ))
    } else {
        sel(&format!("role == \"{}\"", role.name()))
    };
    let kind = if kubernetes {
        PolicyKind::KubernetesNetworkPolicy
    } else {
        PolicyKind::NetworkPolicy
    };
    let order = if kubernetes {
        1000.0
    } else {
        100.0 + (i % 100) as f64
    };
    let mut p = policy(kind, name, Some(namespace), tier, order, selector);
    let from = |selector: &str| {
        let mut r = rule(RuleAction::Allow, Some(Protocol::Tcp));
        r.source.selector = Some(sel(selector));
        r.destination.ports = ports(&[port]);
        r
    };
    let to = |selector: &str, list: &[u16]| {
        let mut r = rule(RuleAction::Allow, Some(Protocol::Tcp));
        r.destination.selector = Some(sel(selector));
        r.destination.ports = ports(list);
        r
    };
    match role {
        Role::Web => {
            let mut public = rule(RuleAction::Allow, Some(Protocol::Tcp));
            public.source.nets = vec![ipnet::IpNet::default()];
            public.destination.ports = ports(&[port]);
            p.ingress = vec![public];
            p.egress = vec![to("role == \"api\"", &[9090])];
        }
        Role::Api => {
            let mut team_rule = from("role == \"api\"");
            team_rule.source.namespace_selector = Some(sel(&format!("team == \"{team}\"")));
            p.ingress = vec![from("role in {\"web\", \"worker\"}"), team_rule];
            let mut node_ports = rule(RuleAction::Allow, Some(Protocol::Tcp));
            node_ports.destination.nets = vec!["10.0.0.0/8".parse().unwrap_or_default()];
            node_ports.destination.ports = vec![PortMatch::Range {
                first: 30000,
                last: 32767,
            }];
            p.egress = vec![
                to("role in {\"db\", \"cache\"}", &[5432, 6379]),
                to("role == \"api\"", &[9090]),
                node_ports,
            ];
        }
        Role::Db | Role::Cache => {
            p.ingress = vec![from("role in {\"api\", \"worker\"}")];
        }
        Role::Worker => {
            let mut pool = to("role == \"api\"", &[9090]);
            pool.destination.ports.push(PortMatch::Range {
                first: 42000,
                last: 43000,
            });
            p.egress = vec![pool, to("role == \"cache\"", &[6379])];
        }
    }
    p.types = PolicyTypes {
        ingress: !p.ingress.is_empty() || kubernetes,
        egress: !p.egress.is_empty() && !kubernetes,
    };
    if kubernetes {
        p.egress.clear();
    }
    p
}

#[cfg(test)]
mod tests {
    use super::super::{Cluster, ScaleParams};
    use flowlens_model::EntityRule;
    use flowlens_selector::Selector;

    /// `sel` falls back to `all()` on a typo; only the two catch-all guard rails may end up
    /// with it, and no rule may.
    #[test]
    fn every_generated_selector_parses() {
        let params = ScaleParams {
            namespaces: 7,
            workloads: 35,
            policies: 60,
            tiers: 8,
            ..ScaleParams::default()
        };
        let cluster = Cluster::build(&params);
        let all = Selector::all();
        let entity_ok = |e: &EntityRule| {
            e.selector.as_ref() != Some(&all) && e.namespace_selector.as_ref() != Some(&all)
        };
        for p in &cluster.inventory.policies {
            let catch_all =
                ["security.block-threat-feed", "platform.allow-dns"].contains(&p.name.as_str());
            assert_eq!(p.selector == all, catch_all, "{}", p.name);
            assert!(p.namespace_selector.as_ref() != Some(&all), "{}", p.name);
            for r in p.ingress.iter().chain(&p.egress) {
                assert!(
                    entity_ok(&r.source) && entity_ok(&r.destination),
                    "{}",
                    p.name
                );
            }
        }
        assert_eq!(cluster.inventory.policies.len(), 60);
    }
}
