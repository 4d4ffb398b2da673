//! Loading with `skip_invalid_objects`: an object with errors is left out with a warning
//! naming file, document, line and field; policies and tiers with errors still refuse.

use flowlens_manifests::{LoadOptions, load_str};

fn tolerant() -> LoadOptions {
    LoadOptions {
        skip_invalid_objects: true,
        ..LoadOptions::default()
    }
}

const SNAPSHOT: &str = "\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        ports:
        - containerport: 8080
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - name: api
        ports:
        - containerPort: 9090
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec:
  selector: {app: api}
  ports:
  - port: 80
    targetPort: 9090
    protocol: TCPP
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: bad-net}
spec:
  nets: [10.0.0.0/33]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-api, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - ports: [{port: 9090}]
";

#[test]
fn by_default_every_error_refuses() {
    let errs = load_str(SNAPSHOT, "shop.yaml", &LoadOptions::default())
        .err()
        .unwrap_or_else(|| panic!("expected errors"));
    assert_eq!(errs.len(), 3, "{errs}");
}

#[test]
fn invalid_workloads_services_and_sets_are_skipped_with_a_precise_warning() {
    let loaded = load_str(SNAPSHOT, "shop.yaml", &tolerant()).unwrap_or_else(|e| panic!("{e}"));
    let inv = &loaded.inventory;
    // The valid deployment and the policy are there; the invalid objects are not.
    assert!(inv.endpoints.iter().any(|e| e.name.starts_with("api-")));
    assert!(!inv.endpoints.iter().any(|e| e.name.starts_with("web-")));
    assert!(inv.services.is_empty());
    assert!(inv.network_sets.is_empty());
    assert_eq!(inv.policies.len(), 1);

    let report = &loaded.report;
    let skipped: Vec<(&str, usize)> = report
        .skipped_invalid
        .iter()
        .map(|(k, n)| (k.as_str(), *n))
        .collect();
    assert_eq!(
        skipped,
        vec![("Deployment", 1), ("GlobalNetworkSet", 1), ("Service", 1)]
    );
    assert_eq!(report.resources.get("Deployment"), Some(&1));
    let warning = |needle: &str| {
        report
            .warnings
            .iter()
            .find(|w| w.contains(needle))
            .unwrap_or_else(|| panic!("no warning with {needle}: {:?}", report.warnings))
            .clone()
    };
    let w = warning("Deployment");
    assert!(w.starts_with("shop.yaml: document 1, line 15"), "{w}");
    assert!(
        w.contains("spec.template.spec.containers[0].ports[0].containerPort"),
        "{w}"
    );
    assert!(w.contains("found \"containerport\""), "{w}");
    assert!(w.ends_with("the Deployment shop/web is skipped"), "{w}");
    let w = warning("Service");
    assert!(w.contains("document 3, line 37"), "{w}");
    assert!(w.contains("spec.ports[0].protocol"), "{w}");
    let w = warning("GlobalNetworkSet");
    assert!(
        w.contains("document 4") && w.contains("spec.nets[0]"),
        "{w}"
    );
}

#[test]
fn invalid_policies_tiers_and_yaml_still_refuse() {
    let bad_policy = format!(
        "{SNAPSHOT}---\napiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: shop}}\nspec:\n  ingress:\n  - action: Allow\n    protocol: TCP\n    destination: {{ports: [\"1:2:3\"]}}\n"
    );
    let errs = load_str(&bad_policy, "shop.yaml", &tolerant())
        .err()
        .unwrap_or_else(|| panic!("a policy error must refuse"));
    // Only the error that refuses is reported; the skippable ones are not errors.
    assert_eq!(errs.len(), 1, "{errs}");
    assert!(errs.0[0].field.contains("destination.ports[0]"), "{errs}");

    let bad_tier =
        "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\nspec: {order: many}\n";
    assert!(load_str(bad_tier, "t.yaml", &tolerant()).is_err());

    let bad_hep = "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata: {name: h}\nspec: {node: n1, expectedIPs: [not-an-ip]}\n";
    assert!(load_str(bad_hep, "h.yaml", &tolerant()).is_err());

    let bad_yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: [\n";
    assert!(load_str(bad_yaml, "p.yaml", &tolerant()).is_err());
}
