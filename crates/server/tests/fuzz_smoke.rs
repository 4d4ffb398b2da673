//! The fuzz targets of this crate run on stable as a bounded smoke test: each harness
//! (shared with `fuzz/fuzz_targets`) over its seed corpus and fixed mutations of it, see
//! `fuzz/harness/smoke.rs`.

#[path = "../../../fuzz/harness/page_tokens.rs"]
mod page_tokens;
#[path = "../../../fuzz/harness/smoke.rs"]
mod smoke;

#[test]
fn page_tokens_survive_their_seeds_and_their_mutations() {
    let runs = smoke::run("page_tokens", page_tokens::run);
    assert!(runs > smoke::MUTATIONS_PER_SEED, "{runs} inputs");
}

/// The seeds reach past the token's parsing: the well-formed ones are answered with pages.
#[test]
fn well_formed_seed_tokens_get_pages() {
    let seeds = smoke::seeds("page_tokens");
    let accepted = |name: &str| {
        let (_, bytes) = seeds.iter().find(|(n, _)| n == name).unwrap();
        page_tokens::accepted(bytes)
    };
    // The reader's searches on no end take merged tokens: one per sort order.
    assert_eq!(accepted("scoped-middle.txt"), 2);
    assert_eq!(accepted("scoped-first.txt"), 2);
    // The store's token of the newest-first order: the administrator's two searches of that
    // order, and the reader's search by source name (one part, the store's tokens).
    assert_eq!(accepted("store-end-time.txt"), 3);
    assert_eq!(accepted("store-name-sort.txt"), 3);
    assert_eq!(accepted("odd-hex.txt"), 0);
    assert_eq!(accepted("scoped-negative.txt"), 0);
}
