//! libFuzzer entry for the `page_tokens` harness (`fuzz/harness/page_tokens.rs`), which the
//! test suite also runs over the seed corpus on stable.

#![no_main]

#[path = "../harness/page_tokens.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|input: &[u8]| harness::run(input));
