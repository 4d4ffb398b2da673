//! libFuzzer entry for the `kube_objects` harness (`fuzz/harness/kube_objects.rs`), which the test suite
//! also runs over the seed corpus on stable.

#![no_main]

#[path = "../harness/kube_objects.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|input: &[u8]| harness::run(input));
