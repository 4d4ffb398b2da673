//! Helpers shared by the integration tests.
#![allow(dead_code)]

use flowlens_manifests::{LoadError, LoadOptions, Loaded, load_str};
use flowlens_model::{Endpoint, Inventory, Policy};
use flowlens_selector::Selector;
use std::path::PathBuf;

pub fn load(text: &str) -> Loaded {
    match load_str(text, "test.yaml", &LoadOptions::default()) {
        Ok(loaded) => loaded,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

pub fn inventory(text: &str) -> Inventory {
    load(text).inventory
}

/// The errors of a text that must fail to load.
pub fn errors(text: &str) -> Vec<LoadError> {
    match load_str(text, "test.yaml", &LoadOptions::default()) {
        Ok(_) => panic!("expected errors, but the text loaded"),
        Err(e) => e.0,
    }
}

/// The only error of a text, checked to be at `field`.
pub fn error_at(text: &str, field: &str) -> LoadError {
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "expected one error, got:\n{}", list(&errs));
    let e = errs.into_iter().next().unwrap_or_else(|| unreachable!());
    assert_eq!(e.field, field, "wrong field for error: {e}");
    e
}

pub fn list(errs: &[LoadError]) -> String {
    errs.iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn sel(text: &str) -> Selector {
    Selector::parse(text).unwrap_or_else(|e| panic!("bad selector in test: {e}"))
}

pub fn policy<'a>(inv: &'a Inventory, name: &str) -> &'a Policy {
    inv.policies
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no policy {name}"))
}

pub fn endpoints<'a>(inv: &'a Inventory, prefix: &str) -> Vec<&'a Endpoint> {
    inv.endpoints
        .iter()
        .filter(|e| e.name.starts_with(prefix))
        .map(|e| &**e)
        .collect()
}

/// The 1-based line of the first line of `text` containing `needle`.
pub fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} not in text"))
}

/// The repository's `scenarios/`, found from the package directory cargo names when the test
/// runs (not when it is compiled: a shared build cache may hold this test built elsewhere).
pub fn scenarios_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
}
