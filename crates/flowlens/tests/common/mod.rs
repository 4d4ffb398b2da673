//! Helpers shared by the command-line tests.

#![allow(dead_code)]

use assert_cmd::Command;
use std::path::PathBuf;

/// The `flowlens` binary built for this test run.
pub fn flowlens() -> Command {
    Command::cargo_bin("flowlens").expect("binary builds")
}

/// The repository's built-in scenarios.
pub fn scenarios() -> PathBuf {
    flowlens_sim::scenarios_dir().expect("the repository's scenarios/ directory")
}

/// `flowlens ingest` of `input` into `data`, attributed with the `fme` scenario's manifests.
pub fn ingest_fme(data: &std::path::Path, input: &std::path::Path) -> Command {
    let mut cmd = flowlens();
    cmd.arg("ingest")
        .arg("--data")
        .arg(data)
        .arg("--snapshot")
        .arg(scenarios().join("fme/manifests"))
        .arg(input);
    cmd
}

/// Runs `cmd`, asserts it succeeded, and returns its standard output.
pub fn stdout(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}
