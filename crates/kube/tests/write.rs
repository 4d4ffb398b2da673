//! Policy write-back against the fake API server: server-side apply after a dry run, staged
//! and enforced kinds, conflicts with the current version, delete, and read-only mode.

mod common;

use common::{eventually, synced_watch};
use flowlens_kube::testing::{FakeApiServer, FakeConfig, objects};
use flowlens_kube::{ApplyMode, ApplyRequest, CalicoApi, DeleteRequest, Kind, WriteError};
use flowlens_model::{PolicyId, PolicyKind};

const POLICY: &str = r#"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: allow-web
  namespace: shop
  labels: {owner: team-web}
spec:
  tier: default
  order: 100
  selector: app == 'db'
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source: {selector: app == 'web'}
    destination: {ports: [5432]}
"#;

fn apply_request(document: &str) -> ApplyRequest {
    ApplyRequest {
        document: document.into(),
        ..ApplyRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_is_a_dry_run_then_a_server_side_apply_and_the_watch_follows() {
    let fake = FakeApiServer::start().await;
    fake.apply(objects::namespace("shop", &[]));
    let watch = synced_watch(&fake).await;
    let writer = fake.cluster().writer();

    let applied = writer.apply(&apply_request(POLICY)).await.expect("applies");
    assert_eq!(applied.kind, Kind::CalicoNetworkPolicy);
    assert_eq!(applied.namespace.as_deref(), Some("shop"));
    assert!(!applied.dry_run);
    assert_eq!(applied.policy.as_ref().unwrap().order, Some(100.0));

    let patches: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(patches.len(), 2, "a dry run, then the apply");
    for (i, p) in patches.iter().enumerate() {
        assert_eq!(
            p.path,
            "/apis/projectcalico.org/v3/namespaces/shop/networkpolicies/allow-web"
        );
        assert_eq!(
            p.content_type.as_deref(),
            Some("application/apply-patch+yaml")
        );
        assert_eq!(
            p.query.get("fieldManager").map(String::as_str),
            Some("flowlens")
        );
        assert_eq!(p.query.contains_key("dryRun"), i == 0);
        // Fields Flowlens does not model travel as written.
        assert_eq!(
            p.body.as_ref().unwrap()["metadata"]["labels"]["owner"],
            "team-web"
        );
    }
    let id = PolicyId::parse("np:shop/allow-web").unwrap();
    eventually("the watch sees the applied policy", || {
        watch.inventory().policy(&id).is_some()
    })
    .await;
    assert_eq!(
        watch.policy_revisions(&id)[0].resource_version,
        applied.resource_version
    );

    // Only a dry run: nothing is stored.
    let edited = POLICY.replace("order: 100", "order: 50");
    let dry = writer
        .apply(&ApplyRequest {
            dry_run_only: true,
            ..apply_request(&edited)
        })
        .await
        .unwrap();
    assert!(dry.dry_run);
    assert_eq!(dry.policy.unwrap().order, Some(50.0));
    let stored = fake
        .get(
            "projectcalico.org/v3",
            "NetworkPolicy",
            Some("shop"),
            "allow-web",
        )
        .unwrap();
    assert_eq!(stored["spec"]["order"], 100.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staged_and_enforced_kinds() {
    let fake = FakeApiServer::start().await;
    fake.apply(objects::namespace("shop", &[]));
    let writer = fake.cluster().writer();
    let staged = writer
        .apply(&ApplyRequest {
            mode: ApplyMode::Staged,
            ..apply_request(POLICY)
        })
        .await
        .unwrap();
    assert_eq!(staged.kind, Kind::StagedNetworkPolicy);
    assert!(
        fake.get(
            "projectcalico.org/v3",
            "StagedNetworkPolicy",
            Some("shop"),
            "allow-web"
        )
        .is_some()
    );

    let knp = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
"#;
    let staged = writer
        .apply(&ApplyRequest {
            mode: ApplyMode::Staged,
            ..apply_request(knp)
        })
        .await
        .unwrap();
    assert_eq!(staged.kind, Kind::StagedKubernetesNetworkPolicy);
    assert_eq!(staged.api_version, "projectcalico.org/v3");
    // Enforcing the staged document writes the Kubernetes kind again.
    let staged_doc = serde_saphyr::to_string(&staged.object).unwrap();
    let enforced = writer
        .apply(&ApplyRequest {
            mode: ApplyMode::Enforced,
            ..apply_request(&staged_doc)
        })
        .await
        .unwrap();
    assert_eq!(enforced.kind, Kind::NetworkPolicy);
    assert!(
        fake.get("networking.k8s.io/v1", "NetworkPolicy", Some("shop"), "db")
            .is_some()
    );

    let anp = r#"
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: a}
spec: {priority: 1, subject: {namespaces: {}}}
"#;
    let err = writer
        .apply(&ApplyRequest {
            mode: ApplyMode::Staged,
            ..apply_request(anp)
        })
        .await
        .unwrap_err();
    assert!(matches!(err, WriteError::Unsupported(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_come_back_with_the_current_version() {
    let fake = FakeApiServer::start().await;
    fake.apply(objects::namespace("shop", &[]));
    let writer = fake.cluster().writer();
    let first = writer.apply(&apply_request(POLICY)).await.unwrap();

    // Someone else edits the policy after the user opened it.
    let mut theirs = fake
        .get(
            "projectcalico.org/v3",
            "NetworkPolicy",
            Some("shop"),
            "allow-web",
        )
        .unwrap();
    theirs["spec"]["order"] = serde_json::json!(7);
    fake.apply_as("kubectl", theirs);

    let mine = POLICY.replace("order: 100", "order: 300");
    let err = writer
        .apply(&ApplyRequest {
            base_resource_version: first.resource_version.clone(),
            ..apply_request(&mine)
        })
        .await
        .unwrap_err();
    let WriteError::Conflict { conflict, .. } = &err else {
        panic!("expected a conflict, got {err}");
    };
    assert!(
        conflict.message.contains("has been modified"),
        "{}",
        conflict.message
    );
    assert_ne!(conflict.current_resource_version, first.resource_version);
    assert_eq!(conflict.current.as_ref().unwrap()["spec"]["order"], 7);
    assert!(conflict.current_yaml.as_ref().unwrap().contains("order: 7"));
    assert!(
        err.to_string().contains("changed since it was read"),
        "{err}"
    );

    // Without a base version, the other manager's field is a server-side apply conflict…
    let err = writer.apply(&apply_request(&mine)).await.unwrap_err();
    let WriteError::Conflict { conflict, .. } = &err else {
        panic!("expected a conflict, got {err}");
    };
    assert_eq!(conflict.managers, ["kubectl"]);
    // …which `force` takes over.
    let forced = writer
        .apply(&ApplyRequest {
            force: true,
            ..apply_request(&mine)
        })
        .await
        .unwrap();
    assert_eq!(forced.policy.unwrap().order, Some(300.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_checks_its_precondition_and_runs_dry_first() {
    let fake = FakeApiServer::start().await;
    fake.apply(objects::namespace("shop", &[]));
    let writer = fake.cluster().writer();
    let applied = writer.apply(&apply_request(POLICY)).await.unwrap();
    let id = PolicyId {
        kind: PolicyKind::NetworkPolicy,
        namespace: Some("shop".into()),
        name: "allow-web".into(),
    };
    let err = writer
        .delete(&DeleteRequest {
            policy: id.clone(),
            base_resource_version: Some("1".into()),
            dry_run_only: false,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, WriteError::Conflict { .. }), "{err}");
    let deleted = writer
        .delete(&DeleteRequest {
            policy: id.clone(),
            base_resource_version: applied.resource_version,
            dry_run_only: false,
        })
        .await
        .unwrap();
    assert!(!deleted.dry_run);
    assert!(
        fake.get(
            "projectcalico.org/v3",
            "NetworkPolicy",
            Some("shop"),
            "allow-web"
        )
        .is_none()
    );
    let deletes: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.body.unwrap()["dryRun"].clone())
        .collect();
    assert_eq!(deletes.len(), 3);
    assert_eq!(deletes[1], serde_json::json!(["All"]));
    let err = writer
        .delete(&DeleteRequest {
            policy: id,
            base_resource_version: None,
            dry_run_only: false,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, WriteError::NotFound(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_write_permission_the_caller_gets_read_only_mode() {
    let fake = FakeApiServer::start().await;
    fake.apply(objects::namespace("shop", &[]));
    let writer = fake.cluster().writer();
    let review = writer.access(Some("shop")).await.unwrap();
    assert!(!review.read_only);
    assert!(review.kinds.iter().all(|k| k.can_apply && k.can_delete));

    fake.deny("*", "projectcalico.org", "*", true);
    fake.deny("*", "networking.k8s.io", "*", true);
    fake.deny("*", "policy.networking.k8s.io", "*", true);
    let review = writer.access(Some("shop")).await.unwrap();
    assert!(review.read_only);
    assert!(
        review
            .kinds
            .iter()
            .all(|k| !k.can_apply && k.reason.is_some())
    );
    let err = writer.apply(&apply_request(POLICY)).await.unwrap_err();
    assert!(matches!(err, WriteError::Forbidden(_)), "{err}");

    // Only Calico's storage CRDs: readable, never written.
    let crd = FakeApiServer::start_with(FakeConfig {
        calico: Some(CalicoApi::CrdV1),
        admin_network_policies: true,
    })
    .await;
    let writer = crd.cluster().writer();
    let err = writer.apply(&apply_request(POLICY)).await.unwrap_err();
    assert!(matches!(err, WriteError::CalicoStorageOnly), "{err}");
    let review = writer.access(None).await.unwrap();
    let calico = review
        .kinds
        .iter()
        .find(|k| k.kind == Kind::CalicoNetworkPolicy)
        .unwrap();
    assert!(!calico.can_apply);
    let knp = review
        .kinds
        .iter()
        .find(|k| k.kind == Kind::NetworkPolicy)
        .unwrap();
    assert!(knp.can_apply);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_documents_are_not_sent() {
    let fake = FakeApiServer::start().await;
    let writer = fake.cluster().writer();
    let broken = POLICY.replace("app == 'db'", "app == ");
    let err = writer.apply(&apply_request(&broken)).await.unwrap_err();
    let WriteError::Invalid(errors) = &err else {
        panic!("expected invalid, got {err}");
    };
    assert_eq!(errors.0[0].field, "spec.selector");
    let err = writer
        .apply(&apply_request(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a policy kind"), "{err}");
    assert!(fake.requests().iter().all(|r| r.method != "PATCH"));
}
