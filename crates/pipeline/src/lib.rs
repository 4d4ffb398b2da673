//! The Flowlens flow pipeline: flow records in, Calico-quality flow logs out.
//!
//! ```text
//! lines ─► decode ─┬─ Calico flow logs (already attributed) ──────────────────┐
//!                  └─ raw 5-tuple records ─► attribute (enrich + policy) ─► aggregate ─► FlowLog
//! ```
//!
//! Decoding is lenient where Calico's own output varies (`-` or `null` for "not applicable",
//! numbers as strings, both policy-hit spellings) and strict about everything else: a bad
//! line is rejected with its number and the reason, and the lines around it are kept.
//! Attribution asks the policy engine, exactly as `flowlens explain` does. Aggregation
//! follows Calico's levels 0–3 and time buckets. Nothing here does I/O beyond reading the
//! lines it is handed; where logs go is the caller's business.

pub mod aggregate;
pub mod attribute;
pub mod clock;
pub mod decode;
pub mod encode;
pub mod ingest;

pub use aggregate::{AggregationConfig, AggregationLevel, Aggregator};
pub use attribute::{Attributed, Attributor};
pub use decode::{
    CalicoDecoder, DecodeError, Decoded, DecodedLines, InputFormat, LINE_TOO_LONG, LineDecoder,
    MAX_LINE_BYTES, decode_line,
};
pub use ingest::{Ingest, IngestStats, Rejection};
