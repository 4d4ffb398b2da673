//! Loads arbitrary bytes as a manifest file. Loading must never panic, whatever the input:
//! bad documents become errors naming the file, document, line and field.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    flowlens_manifests::fuzz_load(bytes);
});
