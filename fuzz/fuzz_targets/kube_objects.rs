//! Reads arbitrary bytes as a watched Kubernetes object of every kind and applies it to the
//! cluster index (created, then deleted): conversion and indexing must never panic, however
//! malformed the object.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    flowlens_kube::fuzz_convert(input);
});
