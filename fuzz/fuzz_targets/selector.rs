//! libFuzzer entry for the `selector` harness (`fuzz/harness/selector.rs`), which the test suite
//! also runs over the seed corpus on stable.

#![no_main]

#[path = "../harness/selector.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|input: &[u8]| harness::run(input));
