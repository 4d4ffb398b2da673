//! Loading never panics: random bytes, and random mutations of the real fixtures.

use flowlens_manifests::{LoadOptions, fuzz_load, load_str, parse_policy};
use proptest::prelude::*;

const FIXTURES: &[&str] = &[
    include_str!("../../../scenarios/storefront/manifests/10-storefront.yaml"),
    include_str!("../../../scenarios/storefront/manifests/50-guard-rails.yaml"),
    include_str!("../../../scenarios/storefront/manifests/60-zones.yaml"),
    include_str!("../../../scenarios/fme/manifests/50-application-policies.yaml"),
    include_str!("../../../scenarios/fme/manifests/60-kubernetes-policies.yaml"),
];

/// Bytes that tend to matter to YAML and to our parsers.
const INTERESTING: &[&str] = &[
    "\n",
    " ",
    "  ",
    "-",
    "- ",
    ":",
    ": ",
    "---\n",
    "...\n",
    "[",
    "]",
    "{",
    "}",
    "'",
    "\"",
    "&a ",
    "*a",
    "!!str ",
    "#",
    "|",
    ">",
    "\t",
    "0",
    "65536",
    "-1",
    "1e400",
    "null",
    "~",
    "true",
    "kind: List\n",
    "items:\n",
    "apiVersion: v1\n",
    "kind: Pod\n",
    "ports:\n",
    "'1000:2000'",
    "999999999999999999999999",
    "\u{0}",
    "é",
    "\u{feff}",
    "selector: '",
    "replicas: 10001\n",
];

#[derive(Clone, Debug)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, usize),
    Replace(usize, usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Edit::Delete(at, len)),
        (any::<usize>(), any::<usize>()).prop_map(|(at, what)| Edit::Insert(at, what)),
        (any::<usize>(), 1usize..10, any::<usize>())
            .prop_map(|(at, len, what)| Edit::Replace(at, len, what)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for e in edits {
        let n = bytes.len().max(1);
        match *e {
            Edit::Delete(at, len) => {
                let at = at % n;
                let end = (at + len).min(bytes.len());
                if at < end {
                    bytes.drain(at..end);
                }
            }
            Edit::Insert(at, what) => {
                let at = at % (bytes.len() + 1);
                let piece = INTERESTING[what % INTERESTING.len()].as_bytes();
                bytes.splice(at..at, piece.iter().copied());
            }
            Edit::Replace(at, len, what) => {
                let at = at % n;
                let end = (at + len).min(bytes.len());
                let piece = INTERESTING[what % INTERESTING.len()].as_bytes();
                if at <= end {
                    bytes.splice(at..end, piece.iter().copied());
                }
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        fuzz_load(&bytes);
    }

    #[test]
    fn mutated_fixtures_never_panic(which in 0..FIXTURES.len(), edits in proptest::collection::vec(edit(), 1..8)) {
        let text = apply(FIXTURES[which], &edits);
        let opts = LoadOptions::default();
        let _ = load_str(&text, "mutated.yaml", &opts);
        let _ = load_str(&text, "mutated.json", &opts);
        let _ = parse_policy(&text, "mutated.yaml", &opts);
    }
}

#[test]
fn unmutated_fixtures_load() {
    for text in FIXTURES {
        if let Err(e) = load_str(text, "fixture.yaml", &LoadOptions::default()) {
            // Policy files alone lack their tiers; nothing else may fail.
            assert!(e.iter().all(|e| e.field == "spec.tier"), "{e}");
        }
    }
}
