//! libFuzzer entry for the `netflow_datagrams` harness (`fuzz/harness/netflow_datagrams.rs`), which the test suite
//! also runs over the seed corpus on stable.

#![no_main]

#[path = "../harness/netflow_datagrams.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|input: &[u8]| harness::run(input));
