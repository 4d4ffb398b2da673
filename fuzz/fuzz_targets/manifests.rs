//! libFuzzer entry for the `manifests` harness (`fuzz/harness/manifests.rs`), which the test suite
//! also runs over the seed corpus on stable.

#![no_main]

#[path = "../harness/manifests.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|input: &[u8]| harness::run(input));
