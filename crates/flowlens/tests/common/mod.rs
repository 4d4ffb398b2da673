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
    manifest_dir().join("../../scenarios")
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

/// The package's directory, read when the test runs rather than when it is compiled: a shared
/// build cache may hold this test binary built from another checkout.
fn manifest_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
}
