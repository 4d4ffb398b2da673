//! The impact-preview service over an embedded store holding FME traffic: the fix of the
//! engine policy turns the denied port-pool flows allowed, exactly as the comparison says
//! when called on the store's tuples directly.

use flowlens_impact::{ImpactError, PolicyChange, preview_change, preview_change_timed};
use flowlens_manifests::{LoadOptions, load_paths, parse_policy};
use flowlens_model::{Inventory, PolicyId, Protocol, RawFlow};
use flowlens_pipeline::{AggregationConfig, Ingest};
use flowlens_policy::Engine;
use flowlens_policy::preview::{Window, preview};
use flowlens_store::{EmbeddedOptions, EmbeddedStore, FlowSearch, Store, TimeRange};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn fme() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/fme")
}

fn ip(inv: &Inventory, prefix: &str) -> IpAddr {
    inv.endpoints
        .iter()
        .find(|e| e.name.starts_with(prefix))
        .unwrap()
        .ips[0]
}

/// Engine → core connections on the port pool (denied today) and on 7070 (allowed).
async fn stored(inv: &Arc<Inventory>, store: &EmbeddedStore) {
    let mut ingest = Ingest::new(
        Arc::new(Engine::new(inv.clone())),
        AggregationConfig::default(),
    );
    for (i, port) in [42001u16, 42500, 7070, 7070].into_iter().enumerate() {
        let raw = RawFlow {
            start_time: 1_000 + i as i64,
            end_time: 1_001 + i as i64,
            src_ip: ip(inv, "engine-standard-group"),
            src_port: 40_000 + i as u16,
            dst_ip: ip(inv, "fmeserver-core"),
            dst_port: port,
            proto: Protocol::Tcp,
            bytes_out: 10,
            bytes_in: 20,
            packets_out: 1,
            packets_in: 1,
            process_name: None,
            process_id: None,
            reporter: None,
        };
        ingest.raw("test", i + 1, &raw);
    }
    store.append(ingest.finish()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fix_turns_the_pool_allowed_as_the_comparison_says() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    let loaded = load_paths(&[fme().join("manifests")], &LoadOptions::default()).unwrap();
    let inventory = Arc::new(loaded.inventory);
    stored(&inventory, &store).await;
    let current = Arc::new(Engine::new(inventory.clone()));
    let text = std::fs::read_to_string(fme().join("steps/fix.yaml")).unwrap();
    let fix = parse_policy(&text, "fix.yaml", &LoadOptions::default()).unwrap();

    let change = PolicyChange::Upsert(Box::new(fix.clone()));
    let (result, timings) = preview_change_timed(&store, &current, change, TimeRange::all())
        .await
        .unwrap();
    assert!(result.summary.deny_to_allow > 0, "{result:#?}");
    assert_eq!(result.summary.allow_to_deny, 0);
    assert_eq!(result.window, None);
    assert!(timings.tuples_read >= result.tuples);
    assert!(timings.total >= timings.evaluation);

    // The same as the comparison over the store's tuples.
    let draft = Engine::new(inventory.with_policy(fix.clone()).unwrap());
    let source_ports = inventory.uses_source_ports();
    let tuples = store
        .flow_tuples(&FlowSearch::new(TimeRange::all()), source_ports)
        .await
        .unwrap();
    let direct = preview(&current, &draft, &fix.id(), &tuples).unwrap();
    assert_eq!(direct, result);

    // A bounded window is reported with the preview.
    let window = TimeRange { from: 0, to: 5_000 };
    let change = PolicyChange::Upsert(Box::new(fix));
    let bounded = preview_change(&store, &current, change, window)
        .await
        .unwrap();
    assert_eq!(bounded.window, Some(Window { from: 0, to: 5_000 }));
    assert_eq!(bounded.summary, result.summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_does_not_fit_the_inventory_is_an_edit_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    let loaded = load_paths(&[fme().join("manifests")], &LoadOptions::default()).unwrap();
    let current = Arc::new(Engine::new(loaded.inventory));
    let missing = PolicyId::parse("np:fme/nope").unwrap();
    let err = preview_change(
        &store,
        &current,
        PolicyChange::Delete(missing),
        TimeRange::all(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ImpactError::Edit(_)), "{err:?}");
    assert!(err.to_string().contains("np:fme/nope"), "{err}");
}
