//! Decoding one line of input into a flow log or a raw record.

mod calico;
mod lenient;

pub use calico::decode_calico;
use flowlens_model::{FlowLog, RawFlow};

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
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(Decoded::Empty);
    }
    let err = |reason: String| DecodeError { line, reason };
    let format = match format {
        InputFormat::Auto => sniff(trimmed),
        f => f,
    };
    match format {
        InputFormat::Raw => serde_json::from_str::<RawFlow>(trimmed)
            .map(Decoded::Raw)
            .map_err(|e| err(format!("not a raw flow record: {e}"))),
        _ => decode_calico(trimmed)
            .map(|l| Decoded::Calico(Box::new(l)))
            .map_err(err),
    }
}

fn sniff(line: &str) -> InputFormat {
    if line.contains("\"src_ip\"") && !line.contains("\"source_name_aggr\"") {
        InputFormat::Raw
    } else {
        InputFormat::Calico
    }
}
