//! What the Policy Board shows next to each policy besides traffic: how many endpoints it
//! selects, and its rules in words.

use crate::Engine;
use crate::describe::describe_rule;
use flowlens_model::Policy;
use serde::Serialize;

impl Engine {
    /// The endpoints (indices into the inventory's endpoints) the policy at `policy_index`
    /// of the inventory applies to, from the compiled selector sets; empty for an index out
    /// of range.
    pub fn policy_endpoints(&self, policy_index: usize) -> &[u32] {
        self.compiled
            .applies_to
            .get(policy_index)
            .map_or(&[][..], |&set| self.compiled.sets.get(set))
    }

    /// How many endpoints the policy at `policy_index` selects.
    pub fn policy_endpoint_count(&self, policy_index: usize) -> usize {
        self.policy_endpoints(policy_index).len()
    }

    /// [`Engine::policy_endpoint_count`] for every policy, indexed like the inventory's.
    pub fn policy_endpoint_counts(&self) -> Vec<usize> {
        (0..self.compiled.inventory.policies.len())
            .map(|i| self.policy_endpoint_count(i))
            .collect()
    }
}

/// A policy's rules in words, one line per rule, in rule order (index = rule index).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RuleTexts {
    pub ingress: Vec<String>,
    pub egress: Vec<String>,
}

/// Every rule of `policy` as `describe_rule` writes it.
pub fn rule_texts(policy: &Policy) -> RuleTexts {
    RuleTexts {
        ingress: policy.ingress.iter().map(describe_rule).collect(),
        egress: policy.egress.iter().map(describe_rule).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowlens_manifests::{LoadOptions, load_str};

    const INVENTORY: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web}}
---
apiVersion: v1
kind: Pod
metadata: {name: web-2, namespace: shop, labels: {app: web}}
---
apiVersion: v1
kind: Pod
metadata: {name: db-1, namespace: shop, labels: {app: db}}
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: elsewhere, labels: {app: web}}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  selector: app == "web"
  ingress:
    - action: Allow
      protocol: TCP
      destination: {ports: [80]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: all-web}
spec:
  selector: app == "web"
  egress: [{action: Deny}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: nothing, namespace: shop}
spec:
  selector: app == "none"
"#;

    #[test]
    fn counts_selected_endpoints_per_policy() {
        let inv = load_str(INVENTORY, "t.yaml", &LoadOptions::default())
            .unwrap()
            .inventory;
        let engine = Engine::new(inv);
        let counts: Vec<(String, usize)> = engine
            .inventory()
            .policies
            .iter()
            .zip(engine.policy_endpoint_counts())
            .map(|(p, n)| (p.id().to_string(), n))
            .collect();
        let get = |id: &str| counts.iter().find(|(i, _)| i == id).map(|(_, n)| *n);
        assert_eq!(get("np:shop/web"), Some(2));
        assert_eq!(get("gnp:all-web"), Some(3));
        assert_eq!(get("np:shop/nothing"), Some(0));
        assert_eq!(engine.policy_endpoint_count(99), 0);
        let web = engine
            .inventory()
            .policies
            .iter()
            .find(|p| p.name == "web")
            .unwrap();
        assert_eq!(
            rule_texts(web).ingress,
            ["Allow TCP to ports 80".to_string()]
        );
        assert!(rule_texts(web).egress.is_empty());
    }
}
