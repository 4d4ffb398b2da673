//! The write path: appends go through the write-ahead log ([`wal`]) into the in-memory
//! buffer, which is flushed to a data file ([`buffer`]); large appends and bulk loads are
//! written straight into data files ([`bulk`]). Either way each record's policy hits are
//! numbered first ([`with_hit_ids`]).

pub(crate) mod buffer;
pub(crate) mod bulk;
pub(crate) mod wal;

use crate::error::Result;
use crate::fsutil::lock;
use crate::state::Inner;
use datafusion::arrow::array::RecordBatch;

/// `parts` with their policy hits numbered (the id columns attached).
pub(crate) fn with_hit_ids(inner: &Inner, parts: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
    let mut hits = lock(&inner.hits);
    parts.iter().map(|part| hits.attach_ids(part)).collect()
}
