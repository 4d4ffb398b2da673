//! Reads arbitrary bytes as a watched Kubernetes object of every kind and applies it to the
//! cluster index (created, then deleted): conversion and indexing must never panic, however
//! malformed the object.

pub fn run(input: &[u8]) {
    flowlens_kube::fuzz_convert(input);
}
