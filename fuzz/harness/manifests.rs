//! Loads arbitrary bytes as a manifest file. Loading must never panic, whatever the input:
//! bad documents become errors naming the file, document, line and field.

pub fn run(input: &[u8]) {
    flowlens_manifests::fuzz_load(input);
}
