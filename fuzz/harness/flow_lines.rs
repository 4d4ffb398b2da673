//! Decodes arbitrary bytes as flow-log lines (Calico and raw), one line at a time and as a
//! block. Decoding must never panic: a bad line is an error with its number and reason. The
//! block decoder's views must hold what it promises: hits that parse, labels sorted by key
//! with each key once, and every line counted. The plain-shape Calico parser must read every
//! line it takes exactly as serde does (checked under cargo-fuzz, whose `--cfg fuzzing`
//! builds the comparison; the pipeline's unit tests compare the two on stable).

use flowlens_pipeline::LineDecoder;
use flowlens_pipeline::decode::{InputFormat, decode_line};

pub fn run(input: &[u8]) {
    for format in [InputFormat::Auto, InputFormat::Calico, InputFormat::Raw] {
        if let Ok(text) = std::str::from_utf8(input) {
            for (i, line) in text.lines().enumerate() {
                let _ = decode_line(line, i + 1, format);
                #[cfg(fuzzing)]
                flowlens_pipeline::decode::check_plain_parser(line);
            }
        }
        let mut decoder = LineDecoder::new(format);
        let block = decoder.decode_lines(input, 1, |view| {
            view.to_flow_log().expect("stored hit spellings parse");
            for labels in [view.source.labels, view.dest.labels] {
                let keys: Vec<&str> = labels
                    .iter()
                    .map(|l| l.split_once('=').expect("key=value").0)
                    .collect();
                assert!(keys.iter().all(|k| !k.is_empty()));
                assert!(keys.windows(2).all(|w| w[0] < w[1]), "{labels:?}");
            }
        });
        let body = input.strip_suffix(b"\n").unwrap_or(input);
        let lines = if input.is_empty() {
            0
        } else {
            body.split(|&b| b == b'\n').count()
        };
        assert_eq!(block.lines, lines);
        assert!(block.calico + block.raw.len() + block.rejected.len() <= lines);
    }
}
