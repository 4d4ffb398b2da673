//! The `flow_query` fuzz target's body over its seeds, on stable: every seed gets an answer
//! without a panic, the valid ones are read as meant, and the invalid one is refused.

use std::path::Path;

#[test]
fn the_fuzz_seeds_are_read_without_panics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/flow_query");
    let mut seeds = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let answer = flowlens_server::read_flow_query(&text, 1_765_000_000);
        match name.as_str() {
            "invalid.txt" | "many-filters.txt" => {
                let e = answer.expect_err(&name);
                assert_eq!(e.status, 400, "{name}: {}", e.message);
            }
            _ => {
                let search = answer.unwrap_or_else(|e| panic!("{name}: {}", e.message));
                assert!(search.filters.len() <= flowlens_server::MAX_FILTERS);
            }
        }
        seeds += 1;
    }
    assert!(seeds >= 5, "seeds in {}", dir.display());
    // Some shapes beyond the seeds.
    for text in [
        "",
        "&&&",
        "=",
        "filter",
        "filter=%",
        "sort=",
        "from=9&to=1",
        "since=99999999999d",
    ] {
        let _ = flowlens_server::read_flow_query(text, 0);
    }
}
