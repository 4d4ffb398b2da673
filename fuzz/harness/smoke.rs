//! A bounded fuzz smoke run on stable Rust, for the test suite: a target's harness over
//! every file of its checked-in seed corpus (`fuzz/seeds/<target>/`), then over a fixed
//! number of deterministic mutations of each seed (bit flips, byte changes, insertions,
//! deletions, duplicated and swapped ranges, truncations, and splices of two seeds). It
//! finds the shallow crashes; `cargo +nightly fuzz run <target>` explores for real.

#![allow(dead_code)]

use std::path::PathBuf;

/// Mutated inputs per seed.
pub const MUTATIONS_PER_SEED: usize = 300;

/// The seed files of `target`, by name. Panics when the corpus is missing or empty, so that
/// the smoke run cannot pass without running anything.
pub fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("seed corpus {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                bytes,
            )
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "seed corpus {} is empty", dir.display());
    seeds
}

/// Runs `harness` over the seeds of `target` and their mutations; returns how many inputs
/// it ran. A panic names the input (seed and mutation number) to reproduce it.
pub fn run(target: &str, harness: fn(&[u8])) -> usize {
    let seeds = seeds(target);
    let mut runs = 0;
    for (name, seed) in &seeds {
        check(target, name, None, seed, harness);
        runs += 1;
    }
    // The same inputs on every run: the generator's state comes from the target's name.
    let mut rng = XorShift::new(target);
    for (i, (name, seed)) in seeds.iter().enumerate() {
        let other = &seeds[(i + 1) % seeds.len()].1;
        for m in 0..MUTATIONS_PER_SEED {
            let input = mutate(&mut rng, seed, other);
            check(target, name, Some(m), &input, harness);
            runs += 1;
        }
    }
    runs
}

fn check(target: &str, seed: &str, mutation: Option<usize>, input: &[u8], harness: fn(&[u8])) {
    let result = std::panic::catch_unwind(|| harness(input));
    if let Err(panic) = result {
        let what = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        panic!(
            "fuzz target {target} panicked on seed {seed}, mutation {mutation:?}: {what}\ninput: {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

/// One to four stacked mutations of `seed`, sometimes spliced with `other`.
fn mutate(rng: &mut XorShift, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                out[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let i = rng.below(len + 1);
                let byte = INTERESTING[rng.below(INTERESTING.len())];
                out.insert(i, byte);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(16));
                out.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(32));
                let copy: Vec<u8> = out[i..i + n].to_vec();
                let at = rng.below(len + 1);
                out.splice(at..at, copy);
            }
            5 if len > 1 => {
                let (a, b) = (rng.below(len), rng.below(len));
                out.swap(a, b);
            }
            6 => out.truncate(rng.below(len + 1)),
            7 if !other.is_empty() => {
                let cut = rng.below(len + 1);
                let from = rng.below(other.len());
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            _ => {
                // A 16-bit length or count field set to an edge value.
                if len >= 2 {
                    let i = rng.below(len - 1);
                    let v: u16 = [0, 1, 0x7fff, 0xffff, 4, 8][rng.below(6)];
                    out[i..i + 2].copy_from_slice(&v.to_be_bytes());
                }
            }
        }
    }
    out
}

/// Bytes that change meaning in the inputs these targets read (text and binary).
const INTERESTING: &[u8] = b"\0\xff\x7f\x80\n\r\t \"'\\{}[]:,|=!&()-.0123456789#*/";

struct XorShift(u64);

impl XorShift {
    fn new(name: &str) -> XorShift {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for b in name.bytes() {
            state = (state ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        XorShift(state | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}
