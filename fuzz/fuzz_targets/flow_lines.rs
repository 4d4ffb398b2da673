//! Decodes arbitrary text as flow-log lines (Calico and raw). Decoding must never panic: a
//! bad line is an error with its number and reason.

#![no_main]

use flowlens_pipeline::decode::{InputFormat, decode_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    for (i, line) in input.lines().enumerate() {
        for format in [InputFormat::Auto, InputFormat::Calico, InputFormat::Raw] {
            let _ = decode_line(line, i + 1, format);
        }
    }
});
