//! Decoding one line of input into a flow log or a raw record.

mod calico;
mod lenient;

#[cfg(fuzzing)]
pub use calico::check_plain_parser;
pub use calico::{CalicoDecoder, decode_calico};
use flowlens_model::{FlowLog, FlowLogView, RawFlow};

/// The longest line decoded. A longer one is rejected with [`LINE_TOO_LONG`] and readers skip
/// its bytes rather than buffer them: a flow log line runs about a kilobyte, and an endless
/// "line" (`cat /dev/zero`) must not take the memory with it.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Why a line longer than [`MAX_LINE_BYTES`] was rejected.
pub const LINE_TOO_LONG: &str = "line longer than 1 MiB";

/// Which decoder a line goes to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InputFormat {
    /// Decide per line: raw records have `src_ip`, Calico logs `source_name_aggr` or `_source`.
    #[default]
    Auto,
    /// Felix `flows.log` lines or Elasticsearch `_source` exports.
    Calico,
    /// Raw 5-tuple records.
    Raw,
}

/// What a line held.
#[derive(Clone, Debug, PartialEq)]
pub enum Decoded {
    /// An attributed Calico flow log, stored as it is.
    Calico(Box<FlowLog>),
    /// A raw record, to be enriched and attributed.
    Raw(RawFlow),
    /// A blank line.
    Empty,
}

/// Why a line was rejected. The caller adds the file name; `line` is one-based.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct DecodeError {
    pub line: usize,
    pub reason: String,
}

/// Decodes one line. Never panics, whatever the input.
pub fn decode_line(text: &str, line: usize, format: InputFormat) -> Result<Decoded, DecodeError> {
    let err = |reason: String| DecodeError { line, reason };
    if text.len() > MAX_LINE_BYTES {
        return Err(err(LINE_TOO_LONG.to_string()));
    }
    match classify(text, format) {
        None => Ok(Decoded::Empty),
        Some((InputFormat::Raw, text)) => decode_raw(text).map(Decoded::Raw).map_err(err),
        Some((_, text)) => decode_calico(text)
            .map(|l| Decoded::Calico(Box::new(l)))
            .map_err(err),
    }
}

/// The line without surrounding blanks and which decoder it goes to; `None` for a blank line.
fn classify(text: &str, format: InputFormat) -> Option<(InputFormat, &str)> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return None;
    }
    let format = match format {
        InputFormat::Auto => sniff(trimmed),
        f => f,
    };
    Some((format, trimmed))
}

fn decode_raw(text: &str) -> Result<RawFlow, String> {
    serde_json::from_str::<RawFlow>(text).map_err(|e| format!("not a raw flow record: {e}"))
}

fn sniff(line: &str) -> InputFormat {
    if line.contains("\"src_ip\"") && !line.contains("\"source_name_aggr\"") {
        InputFormat::Raw
    } else {
        InputFormat::Calico
    }
}

/// What a block of lines held, apart from its Calico flow logs (which went to the caller as
/// they were decoded). Blocks can be decoded on any thread; [`Ingest::take`](crate::Ingest::take)
/// then counts them and runs the raw records through attribution, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DecodedLines {
    /// Lines in the block, blank ones included.
    pub lines: usize,
    /// How many Calico flow logs were handed to the caller.
    pub calico: usize,
    /// Raw records with their line numbers.
    pub raw: Vec<(usize, RawFlow)>,
    /// Malformed lines: number and reason.
    pub rejected: Vec<(usize, String)>,
}

impl DecodedLines {
    /// Renumbers the lines of a block decoded on its own (numbered from 1) that follows
    /// `lines_before` lines of its input.
    pub fn shift_lines(&mut self, lines_before: usize) {
        for (number, _) in &mut self.raw {
            *number += lines_before;
        }
        for (number, _) in &mut self.rejected {
            *number += lines_before;
        }
    }
}

/// Decodes blocks of lines with [`decode_lines`](LineDecoder::decode_lines), keeping what
/// it learns from one block for the next (one per thread).
#[derive(Default)]
pub struct LineDecoder {
    format: InputFormat,
    calico: CalicoDecoder,
}

impl LineDecoder {
    pub fn new(format: InputFormat) -> LineDecoder {
        LineDecoder {
            format,
            calico: CalicoDecoder::default(),
        }
    }

    pub fn format(&self) -> InputFormat {
        self.format
    }

    /// Decodes newline-separated `bytes` whose first line is number `first_line`, handing
    /// each Calico flow log to `calico` as a view borrowed from its line (no [`FlowLog`] is
    /// built). A final line without a newline counts as a line.
    pub fn decode_lines(
        &mut self,
        bytes: &[u8],
        first_line: usize,
        mut calico: impl FnMut(&FlowLogView<'_>),
    ) -> DecodedLines {
        let mut out = DecodedLines::default();
        if bytes.is_empty() {
            return out;
        }
        let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let clock = crate::clock::wall_clock();
        let mut start = 0;
        // memchr finds newlines many bytes at a time rather than testing byte by byte.
        let ends = memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len()));
        for (i, end) in ends.enumerate() {
            let line = &body[start..end];
            start = end + 1;
            let number = first_line + i;
            out.lines += 1;
            if line.len() > MAX_LINE_BYTES {
                out.rejected.push((number, LINE_TOO_LONG.to_string()));
                continue;
            }
            // The SIMD check is several times faster; std's, on failure, says where.
            let text = match simdutf8::basic::from_utf8(line) {
                Ok(text) => text,
                Err(_) => {
                    let why = std::str::from_utf8(line).err().map(|e| e.to_string());
                    let why = why.unwrap_or_else(|| "invalid".to_string());
                    out.rejected
                        .push((number, format!("not UTF-8 text: {why}")));
                    continue;
                }
            };
            let result = match classify(text, self.format) {
                None => Ok(()),
                Some((InputFormat::Raw, text)) => {
                    decode_raw(text).map(|raw| out.raw.push((number, raw)))
                }
                Some((_, text)) => {
                    let mut implausible = None;
                    let decoded = self.calico.decode(text, |view| {
                        implausible = crate::clock::implausible_end(view.end_time, clock);
                        if implausible.is_none() {
                            out.calico += 1;
                            calico(view);
                        }
                    });
                    decoded.and_then(|()| implausible.map_or(Ok(()), Err))
                }
            };
            if let Err(reason) = result {
                out.rejected.push((number, reason));
            }
        }
        out
    }
}
