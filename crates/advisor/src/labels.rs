//! Which labels name a workload in a rule: the stable ones a person would pick.
//!
//! Controllers stamp labels that change with every rollout or name one replica
//! (`pod-template-hash`, `controller-revision-hash`, `statefulset.kubernetes.io/pod-name`,
//! …); a rule written with them stops matching after the next deployment. They are never
//! used, nor is a label whose value is the pod's own (generated) name. Of the rest, the
//! well-known application labels come first, and labels are added one at a time, in that
//! order, until the selector picks out no pod of the namespace beyond the workload's own.

use flowlens_model::{Endpoint, Labels};
use flowlens_selector::{Expr, Selector};

/// Labels Kubernetes controllers set per revision, per replica or per run. Prefix entries end
/// in `/`.
pub const UNSTABLE_LABELS: &[&str] = &[
    "pod-template-hash",
    "controller-revision-hash",
    "pod-template-generation",
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
    "controller-uid",
    "job-name",
    "batch.kubernetes.io/controller-uid",
    "batch.kubernetes.io/job-name",
    "batch.kubernetes.io/job-completion-index",
    "batch.kubernetes.io/job-index",
    "kubectl.kubernetes.io/",
];

/// Application labels, most telling first.
pub const PREFERRED_LABELS: &[&str] = &[
    "app.kubernetes.io/name",
    "app",
    "k8s-app",
    "name",
    "app.kubernetes.io/component",
    "component",
    "app.kubernetes.io/instance",
    "tier",
    "role",
];

/// Whether a label key may appear in a recommended selector.
pub fn is_stable_key(key: &str) -> bool {
    !UNSTABLE_LABELS.iter().any(|u| {
        if u.ends_with('/') {
            key.starts_with(u)
        } else {
            key == *u
        }
    })
}

/// The labels of `endpoint` a selector may use.
pub fn stable_labels(labels: &Labels, own_name: Option<&str>) -> Labels {
    labels
        .iter()
        .filter(|(k, v)| is_stable_key(k) && own_name.is_none_or(|n| n != v.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The stable labels every one of `members` carries.
pub fn common_stable_labels<'a>(members: impl IntoIterator<Item = &'a Endpoint>) -> Labels {
    let mut common: Option<Labels> = None;
    for e in members {
        let mine = stable_labels(&e.labels, Some(&e.name));
        common = Some(match common {
            None => mine,
            Some(c) => c
                .into_iter()
                .filter(|(k, v)| mine.get(k) == Some(v))
                .collect(),
        });
    }
    common.unwrap_or_default()
}

/// `k1 == "v1" && k2 == "v2"` in the order given.
pub fn equals_selector(terms: &[(String, String)]) -> Selector {
    Selector::from_expr(Expr::And(
        terms
            .iter()
            .map(|(k, v)| Expr::Equals {
                key: k.clone(),
                value: v.clone(),
            })
            .collect(),
    ))
}

/// The label terms that select a workload: from its `common` stable labels, the preferred
/// keys first (then the rest by name), as few as make `selects_only_members` true; all of
/// them when none does (the namespace holds look-alikes the labels cannot tell apart).
pub fn choose_terms(
    common: &Labels,
    mut selects_only_members: impl FnMut(&Selector) -> bool,
) -> Vec<(String, String)> {
    let mut order: Vec<(&String, &String)> = Vec::new();
    for key in PREFERRED_LABELS {
        if let Some((k, v)) = common.get_key_value(*key) {
            order.push((k, v));
        }
    }
    for (k, v) in common {
        if !PREFERRED_LABELS.contains(&k.as_str()) {
            order.push((k, v));
        }
    }
    let mut terms: Vec<(String, String)> = Vec::new();
    for (k, v) in order {
        terms.push((k.clone(), v.clone()));
        if selects_only_members(&equals_selector(&terms)) {
            return terms;
        }
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn generated_labels_are_never_chosen() {
        let l = labels(&[
            ("pod-template-hash", "6d4cf56db6"),
            ("controller-revision-hash", "web-7f9c"),
            ("statefulset.kubernetes.io/pod-name", "db-0"),
            ("kubectl.kubernetes.io/restartedAt", "2024"),
            ("app", "web"),
            ("pod", "web-6d4cf56db6-x2x4k"),
        ]);
        let stable = stable_labels(&l, Some("web-6d4cf56db6-x2x4k"));
        assert_eq!(stable, labels(&[("app", "web")]));
    }

    #[test]
    fn preferred_label_alone_when_it_suffices() {
        let common = labels(&[
            ("app.kubernetes.io/name", "api"),
            ("team", "payments"),
            ("version", "v2"),
        ]);
        let terms = choose_terms(&common, |_| true);
        assert_eq!(terms, [("app.kubernetes.io/name".into(), "api".into())]);
    }

    #[test]
    fn more_labels_when_the_first_is_shared() {
        // `app=fme` is on every pod; `component` tells the core apart.
        let common = labels(&[("app", "fme"), ("component", "core"), ("zone", "a")]);
        let terms = choose_terms(&common, |s| s.to_string().contains("component"));
        assert_eq!(
            terms,
            [
                ("app".into(), "fme".into()),
                ("component".into(), "core".into())
            ]
        );
        assert_eq!(
            equals_selector(&terms).to_string(),
            "(app == \"fme\" && component == \"core\")"
        );
        // Nothing tells it apart: every stable label is used.
        assert_eq!(choose_terms(&common, |_| false).len(), 3);
    }

    #[test]
    fn common_labels_are_those_every_replica_carries() {
        let ep = |name: &str, l: &[(&str, &str)]| Endpoint {
            endpoint_type: flowlens_model::EndpointType::Wep,
            namespace: Some("ns".into()),
            name: name.into(),
            name_aggr: "web-*".into(),
            workload: None,
            labels: labels(l),
            ips: vec![],
            service_account: None,
            ports: vec![],
            node: None,
            interface: None,
            profiles: vec![],
        };
        let a = ep("web-0", &[("app", "web"), ("canary", "true")]);
        let b = ep("web-1", &[("app", "web")]);
        assert_eq!(common_stable_labels([&a, &b]), labels(&[("app", "web")]));
    }
}
