//! The one error type of the store: every failure says what went wrong and, where it can,
//! which file and what to do about it.

use std::path::PathBuf;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{context}: {source} ({path})")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "data directory {path} has format version {found}, but this build reads versions up to \
         {supported}: use a newer flowlens, or point it at another directory"
    )]
    UnsupportedFormat {
        path: PathBuf,
        found: String,
        supported: u32,
    },

    #[error(
        "{path} holds {files} Parquet data files but no manifest.json, so which of them are \
         live cannot be told; refusing to open rather than delete them. Restore manifest.json \
         from a backup, or move {path}/data away to start an empty store"
    )]
    ManifestMissing { path: PathBuf, files: usize },

    #[error(
        "the store is not keeping up: {buffered} rows wait in memory and writing them to a data \
         file failed ({reason}); this append was refused and nothing of it was stored"
    )]
    Overloaded { buffered: usize, reason: String },

    #[error("{path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },

    #[error("unknown field {name:?}; valid fields: {}", valid.join(", "))]
    UnknownField {
        name: String,
        valid: Vec<&'static str>,
    },

    #[error("invalid query: {0}")]
    InvalidQuery(String),

    #[error("invalid stored record: {0}")]
    InvalidRecord(String),

    #[error("{0} is not supported by this store")]
    NotSupported(&'static str),

    #[error("query engine: {0}")]
    Engine(datafusion::error::DataFusionError),

    /// The query's operators needed more memory than the store gives its queries
    /// ([`EmbeddedOptions::query_memory`](crate::EmbeddedOptions::query_memory)), after
    /// spilling what they could.
    #[error(
        "the query needs more memory than the store allows its queries ({0}): narrow the \
         time window or the filters, wait for other queries to finish, or raise --query-memory"
    )]
    OutOfQueryMemory(String),

    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),

    #[error("parquet file {path}: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: datafusion::parquet::errors::ParquetError,
    },

    #[error("background task failed: {0}")]
    Task(String),

    /// A database server behind the store (ClickHouse) failed or refused a request; the
    /// message names the server (never its credentials).
    #[error("{0}")]
    Backend(String),
}

impl From<datafusion::error::DataFusionError> for StoreError {
    fn from(e: datafusion::error::DataFusionError) -> StoreError {
        use datafusion::error::DataFusionError;
        match e.find_root() {
            DataFusionError::ResourcesExhausted(reason) => {
                StoreError::OutOfQueryMemory(reason.clone())
            }
            _ => StoreError::Engine(e),
        }
    }
}

impl StoreError {
    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io {
            context,
            path,
            source,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> StoreError {
        StoreError::InvalidQuery(reason.into())
    }

    /// Stored or appended rows that are not shaped as flow logs.
    pub(crate) fn invalid_record(reason: impl Into<String>) -> StoreError {
        StoreError::InvalidRecord(reason.into())
    }
}
