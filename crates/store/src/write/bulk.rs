//! Bulk loads: flow logs written straight into data files as they arrive, bypassing the
//! write-ahead log. Each append is encoded at once into the data file being written (see
//! `files/data_file.rs`), so a load of any size holds only the batch in hand in memory, not a whole
//! file's rows. A file is finished and listed when it is full, when rows arrive that sort
//! before those it holds (files are sorted by time), and when the load finishes.

use crate::error::Result;
use crate::files::data_file::DataFileWriter;
use crate::files::manifest;
use crate::files::parquet::sort_by_time;
use crate::files::rollups;
use crate::fsutil::lock;
use crate::records::encode::FlowBatch;
use crate::records::numbered;
use crate::state::{DataFile, Inner};
use crate::types::{AppendReceipt, ReadMark, merge_marks};
use crate::write::with_hit_ids;
use datafusion::arrow::array::RecordBatch;
use std::sync::Arc;

/// A bulk load into an [`EmbeddedStore`](crate::EmbeddedStore), from
/// [`EmbeddedStore::bulk_load`](crate::EmbeddedStore::bulk_load).
///
/// Appended rows become durable and visible to queries when the data file holding them is
/// finished: once it reaches the store's `direct_write_rows`, when later rows sort before
/// it, and at [`finish`](Self::finish). Rows of a file not yet finished are lost if the
/// process stops (or the load is dropped); a crash never leaves part of a file visible.
/// Its methods block: call them from a blocking thread, not an async task.
pub struct BulkLoad {
    inner: Arc<Inner>,
    file: Option<DataFileWriter>,
    /// Rows per data file at most.
    max_rows: usize,
    /// The marks of the rows appended since the last finished file: stored with it.
    marks: Vec<ReadMark>,
}

impl BulkLoad {
    pub(crate) fn new(inner: Arc<Inner>, max_rows: usize) -> BulkLoad {
        BulkLoad {
            inner,
            file: None,
            max_rows: max_rows.max(1),
            marks: Vec::new(),
        }
    }

    /// Numbers the records of `batch` and writes them into the data file being written
    /// (in time order; a batch out of order is sorted first). They are durable once that
    /// file is finished, and so are the batch's marks. After an error the file being
    /// written is dropped with its rows and their marks.
    pub fn append(&mut self, batch: FlowBatch) -> Result<AppendReceipt> {
        let (parts, marks) = batch.into_parts();
        let parts = with_hit_ids(&self.inner, parts)?;
        self.append_with_ids(parts, marks)
    }

    /// [`append`](Self::append) for parts whose hit ids are attached.
    pub(crate) fn append_with_ids(
        &mut self,
        parts: Vec<RecordBatch>,
        marks: Vec<ReadMark>,
    ) -> Result<AppendReceipt> {
        let records = parts.iter().map(RecordBatch::num_rows).sum::<usize>();
        let (first_record_id, sequence) = {
            let mut log = lock(&self.inner.log);
            let first = log.next_record_id;
            log.next_record_id += records as u64;
            // No WAL frame is written: report the last sequence the WAL holds.
            (first, log.next_seq - 1)
        };
        let sorted = sort_by_time(&numbered(parts, first_record_id)?)?;
        if let Err(e) = self.write(sorted) {
            self.file = None;
            self.marks.clear();
            return Err(e);
        }
        // After the rows: a file finished while they were written may not hold all of
        // them, so it must not take their marks.
        merge_marks(&mut self.marks, marks);
        Ok(AppendReceipt {
            records,
            first_record_id,
            sequence,
        })
    }

    /// Writes `sorted` into data files, finishing each when it is full or when rows sort
    /// before it.
    fn write(&mut self, sorted: Vec<RecordBatch>) -> Result<()> {
        let mut rest = sorted;
        while rest.iter().any(|b| b.num_rows() > 0) {
            if let Some(file) = &self.file
                && !file.takes(&rest)?
            {
                self.finish_file()?;
            }
            let file = match &mut self.file {
                Some(file) => file,
                None => self
                    .file
                    .insert(DataFileWriter::create(&self.inner.layout, self.max_rows)?),
            };
            let room = self.max_rows.saturating_sub(file.rows() as usize);
            let (now, later) = split(rest, room);
            file.write(&now)?;
            if file.rows() as usize >= self.max_rows {
                self.finish_file()?;
            }
            rest = later;
        }
        Ok(())
    }

    /// Finishes the data file being written.
    pub fn finish(mut self) -> Result<()> {
        self.finish_file()
    }

    /// Finishes the data file being written, if any, and lists it in the manifest with the
    /// marks of the rows written so far.
    fn finish_file(&mut self) -> Result<()> {
        let file = self.file.take();
        if file.is_none() && self.marks.is_empty() {
            return Ok(());
        }
        let inner = &self.inner;
        // Same lock order as a flush: maintenance, then log, then state.
        let _maintenance = lock(&inner.maintenance);
        let mut manifest = lock(&inner.state).manifest.clone();
        let layout = &inner.layout;
        let meta = match file {
            Some(file) => file.finish(layout, manifest.next_file_id)?,
            None => None,
        };
        if meta.is_none() && self.marks.is_empty() {
            return Ok(());
        }
        if let Some(meta) = &meta {
            manifest.next_file_id += 1;
            manifest.next_record_id = manifest.next_record_id.max(meta.max_record_id + 1);
            manifest.files.push(meta.clone());
        }
        merge_marks(&mut manifest.read_marks, self.marks.drain(..));
        if let Err(e) = manifest::save(&inner.dir, &manifest) {
            if let Some(meta) = &meta {
                let _ = std::fs::remove_file(layout.data_dir.join(&meta.name));
                rollups::remove(&layout.rollup_dir, &meta.name);
            }
            return Err(e);
        }
        let mut st = lock(&inner.state);
        st.manifest = manifest;
        st.files
            .extend(meta.map(|meta| DataFile::new(layout, meta)));
        Ok(())
    }
}

/// The first `n` rows of `batches` (one after the other), and the rest; slicing copies
/// nothing.
fn split(batches: Vec<RecordBatch>, n: usize) -> (Vec<RecordBatch>, Vec<RecordBatch>) {
    let (mut now, mut later) = (Vec::new(), Vec::new());
    let mut left = n;
    for batch in batches {
        if left >= batch.num_rows() {
            left -= batch.num_rows();
            now.push(batch);
        } else if left > 0 {
            now.push(batch.slice(0, left));
            later.push(batch.slice(left, batch.num_rows() - left));
            left = 0;
        } else {
            later.push(batch);
        }
    }
    (now, later)
}
