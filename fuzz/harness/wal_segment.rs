//! Reads arbitrary bytes as a write-ahead-log segment, as replay does after a crash or on a
//! damaged disk. It must never panic: a torn tail is cut, damage in the middle is skipped
//! over to the frames after it.

pub fn run(input: &[u8]) {
    flowlens_store::fuzzing::wal_segment(input);
}
