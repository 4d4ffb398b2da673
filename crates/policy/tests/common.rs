//! Helpers shared by the engine's tests: load YAML, evaluate a named flow, read the trace.

#![allow(dead_code)]

use flowlens_manifests::{LoadOptions, load_paths, load_str};
use flowlens_model::{Action, PolicyHitFormat, Protocol};
use flowlens_policy::{Engine, FiveTuple, PeerSpec};
use std::path::PathBuf;

pub fn engine_from_yaml(yaml: &str) -> Engine {
    match load_str(yaml, "test.yaml", &LoadOptions::default()) {
        Ok(loaded) => Engine::new(loaded.inventory),
        Err(e) => panic!("test manifests do not load:\n{e}"),
    }
}

pub fn engine_from_scenario(parts: &[&str]) -> Engine {
    let root = scenarios_dir();
    let paths: Vec<PathBuf> = parts.iter().map(|p| root.join(p)).collect();
    match load_paths(&paths, &LoadOptions::default()) {
        Ok(loaded) => Engine::new(loaded.inventory),
        Err(e) => panic!("scenario does not load:\n{e}"),
    }
}

/// The outcome of a flow in the words tests compare: action and hit strings per direction.
#[derive(Debug)]
pub struct Outcome {
    pub action: Action,
    pub egress: Option<Vec<String>>,
    pub ingress: Option<Vec<String>>,
    pub pending_action: Action,
    pub pending_egress: Option<Vec<String>>,
    pub pending_ingress: Option<Vec<String>>,
    pub undecidable: bool,
}

pub fn flow(engine: &Engine, src: &str, dst: &str, proto: &str, port: u16) -> Outcome {
    flow_from_port(engine, src, dst, proto, 40000, port)
}

pub fn flow_from_port(
    engine: &Engine,
    src: &str,
    dst: &str,
    proto: &str,
    src_port: u16,
    port: u16,
) -> Outcome {
    let src = engine
        .resolve_spec(&src.parse::<PeerSpec>().unwrap())
        .unwrap();
    let dst = engine
        .resolve_spec(&dst.parse::<PeerSpec>().unwrap())
        .unwrap();
    let q = FiveTuple {
        src: src.ip,
        dst: dst.ip,
        protocol: Protocol::parse(proto).unwrap(),
        src_port,
        dst_port: port,
        icmp: None,
    };
    let v = engine.evaluate_peers(&src, &dst, &q);
    // The explained walk must agree with the plain one, every time.
    let e = engine.explain(&src, &dst, &q, PolicyHitFormat::Calico);
    assert_eq!(e.action, v.action);
    let hits = |d: &Option<flowlens_policy::DirectionVerdict>| {
        d.as_ref()
            .map(|d| engine.hit_strings(&d.hits, PolicyHitFormat::Calico))
    };
    Outcome {
        action: v.action,
        egress: hits(&v.egress),
        ingress: hits(&v.ingress),
        pending_action: v.pending.action,
        pending_egress: hits(&v.pending.egress),
        pending_ingress: hits(&v.pending.ingress),
        undecidable: v.undecidable,
    }
}

pub fn strs(items: &[&str]) -> Option<Vec<String>> {
    Some(items.iter().map(|s| s.to_string()).collect())
}

/// The repository's `scenarios/`, found from the package directory cargo names when the test
/// runs (not when it is compiled: a shared build cache may hold this test built elsewhere).
fn scenarios_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
}
