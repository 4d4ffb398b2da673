//! libFuzzer entry for the `wal_segment` harness (`fuzz/harness/wal_segment.rs`), which the test suite
//! also runs over the seed corpus on stable.

#![no_main]

#[path = "../harness/wal_segment.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|input: &[u8]| harness::run(input));
