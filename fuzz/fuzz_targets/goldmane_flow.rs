//! libFuzzer entry for the `goldmane_flow` harness (`fuzz/harness/goldmane_flow.rs`), which the test suite
//! also runs over the seed corpus on stable.

#![no_main]

#[path = "../harness/goldmane_flow.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|input: &[u8]| harness::run(input));
