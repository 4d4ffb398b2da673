//! libFuzzer entry for the `store_open` harness (`fuzz/harness/store_open.rs`), which the test suite
//! also runs over the seed corpus on stable.

#![no_main]

#[path = "../harness/store_open.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|input: &[u8]| harness::run(input));
