//! The fuzz targets of this crate run on stable as a bounded smoke test: each harness
//! (shared with `fuzz/fuzz_targets`) over its seed corpus and fixed mutations of it, see
//! `fuzz/harness/smoke.rs`.

#[path = "../../../fuzz/harness/manifests.rs"]
mod manifests;
#[path = "../../../fuzz/harness/smoke.rs"]
mod smoke;

#[test]
fn manifests_survives_its_seeds_and_their_mutations() {
    let runs = smoke::run("manifests", manifests::run);
    assert!(runs > smoke::MUTATIONS_PER_SEED, "{runs} inputs");
}
