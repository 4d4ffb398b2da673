//! Why an ingest run failed.

/// An error that ends the loop. A source that fails does not end it: its error is reported
/// in the [`IngestSummary`](crate::IngestSummary) and the other sources go on.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("storing flow logs")]
    Store(#[source] flowlens_store::StoreError),
    #[error("encoding flow logs")]
    Encode(#[source] flowlens_store::StoreError),
    #[error("writing flow logs")]
    Write(#[source] std::io::Error),
    #[error("a decoding thread stopped")]
    DecoderStopped,
    #[error("the storing task stopped: {0}")]
    StoringStopped(String),
    #[error("cannot start a thread")]
    Thread(#[source] std::io::Error),
    #[error("the ingest loop panicked")]
    Panicked,
}

pub type Result<T, E = IngestError> = std::result::Result<T, E>;
