//! libFuzzer entry for the `hubble_jsonpb` harness (`fuzz/harness/hubble_jsonpb.rs`), which the test suite
//! also runs over the seed corpus on stable.

#![no_main]

#[path = "../harness/hubble_jsonpb.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|input: &[u8]| harness::run(input));
