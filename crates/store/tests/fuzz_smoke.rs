//! The fuzz targets of this crate run on stable as a bounded smoke test: each harness
//! (shared with `fuzz/fuzz_targets`) over its seed corpus and fixed mutations of it, see
//! `fuzz/harness/smoke.rs`.

#[path = "../../../fuzz/harness/smoke.rs"]
mod smoke;
#[path = "../../../fuzz/harness/store_open.rs"]
mod store_open;
#[path = "../../../fuzz/harness/wal_segment.rs"]
mod wal_segment;

#[test]
fn wal_segment_survives_its_seeds_and_their_mutations() {
    let runs = smoke::run("wal_segment", wal_segment::run);
    assert!(runs > smoke::MUTATIONS_PER_SEED, "{runs} inputs");
}

#[test]
fn store_open_survives_its_seeds_and_their_mutations() {
    let runs = smoke::run("store_open", store_open::run);
    assert!(runs > smoke::MUTATIONS_PER_SEED, "{runs} inputs");
}
