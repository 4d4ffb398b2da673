//! libFuzzer entry for the `flow_lines` harness (`fuzz/harness/flow_lines.rs`), which the test suite
//! also runs over the seed corpus on stable.

#![no_main]

#[path = "../harness/flow_lines.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|input: &[u8]| harness::run(input));
