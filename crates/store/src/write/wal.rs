//! The write-ahead log: every appended batch is written and fsynced here before `append`
//! returns, so a crash loses nothing that was acknowledged.
//!
//! Layout: `wal/<first-seq>.wal` segments; a new segment starts at every flush, and a
//! segment is deleted once the manifest says its frames are in Parquet. A segment is an
//! 8-byte magic followed by frames:
//!
//! ```text
//! u32 payload length | u32 CRC32 of the rest | u64 sequence | u64 first record id | payload
//! ```
//!
//! all little-endian; the payload is the appended rows as one Arrow IPC stream of one or more
//! batches, LZ4-compressed (format 1 wrote one uncompressed batch; both read back). On open
//! every frame is read back; a frame that is cut short or fails its CRC (a crash mid-write)
//! ends the segment: it and anything after it are truncated away, with a warning.

use crate::error::{Result, StoreError};
use crate::fsutil::sync_dir;
use crate::schema::flow_schema;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::ipc::CompressionType;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"FLWAL\0\0\x01";
const HEADER: usize = 24;
/// Larger "frames" are garbage lengths, not batches.
const MAX_FRAME: usize = 1 << 30;

/// One replayed append.
pub(crate) struct Frame {
    pub seq: u64,
    pub first_record_id: u64,
    /// The appended rows, in one or more batches.
    pub batches: Vec<RecordBatch>,
}

/// What reading the log back found.
pub(crate) struct Replay {
    pub frames: Vec<Frame>,
    /// Problems repaired (torn tails), for the caller to report.
    pub warnings: Vec<String>,
}

pub(crate) struct Wal {
    dir: PathBuf,
    file: File,
    path: PathBuf,
    /// Bytes of the current segment (what it is truncated back to if a write fails).
    len: u64,
    /// Bytes of older segments not yet deleted.
    older_bytes: u64,
    /// Set when a failed write could not be undone: further appends would land after
    /// garbage and be lost on replay, so they are refused.
    broken: bool,
}

fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}.wal")
}

fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(StoreError::io("listing the WAL", dir))?;
    for entry in entries {
        let entry = entry.map_err(StoreError::io("listing the WAL", dir))?;
        let path = entry.path();
        let seq = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".wal"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(seq) = seq {
            out.push((seq, path));
        }
    }
    out.sort();
    Ok(out)
}

/// The batches as one Arrow IPC stream, their buffers LZ4-compressed: flow logs shrink
/// several times, and writing (and fsyncing) the bytes costs more than compressing them.
pub(crate) fn encode_batches(batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let options =
        IpcWriteOptions::default().try_with_compression(Some(CompressionType::LZ4_FRAME))?;
    let mut writer = StreamWriter::try_new_with_options(Vec::new(), &flow_schema(), options)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    Ok(writer.into_inner()?)
}

fn decode_batches(payload: &[u8]) -> std::result::Result<Vec<RecordBatch>, String> {
    let reader =
        StreamReader::try_new(std::io::Cursor::new(payload), None).map_err(|e| e.to_string())?;
    // Frames written before format 3 declare the pending ids non-nullable: same columns.
    let (found, schema) = (reader.schema(), flow_schema());
    let same_columns = found.fields().len() == schema.fields().len()
        && (found.fields().iter().zip(schema.fields()))
            .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
    if !same_columns {
        return Err("batch schema differs from the stored schema".into());
    }
    let mut batches = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        batches.push(
            batch
                .with_schema(schema.clone())
                .map_err(|e| e.to_string())?,
        );
    }
    if batches.is_empty() {
        return Err("no batch in the frame".into());
    }
    Ok(batches)
}

/// The CRC of a frame: over the header after its CRC (sequence and first record id) and
/// the payload.
fn frame_crc(header_rest: &[u8], payload: &[u8]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    crc.update(header_rest);
    crc.update(payload);
    crc.finalize()
}

/// Reads one segment, truncating a torn or corrupt tail.
fn read_segment(path: &Path, frames: &mut Vec<Frame>, warnings: &mut Vec<String>) -> Result<()> {
    let bytes = std::fs::read(path).map_err(StoreError::io("reading the WAL", path))?;
    if bytes.len() < MAGIC.len() {
        // Created but never written (crash right after creation).
        truncate(path, 0)?;
        return Ok(());
    }
    if &bytes[..MAGIC.len()] != MAGIC {
        return Err(StoreError::corrupt(
            path,
            "not a flowlens WAL segment (bad magic)",
        ));
    }
    let mut pos = MAGIC.len();
    while pos < bytes.len() {
        let problem = parse_frame(&bytes[pos..]);
        match problem {
            Ok((frame, size)) => {
                frames.push(frame);
                pos += size;
            }
            Err(reason) => {
                let dropped = bytes.len() - pos;
                let warning = format!(
                    "{}: {reason} at byte {pos}; dropping the last {dropped} bytes (an append \
                     that never completed)",
                    path.display()
                );
                tracing::warn!("{warning}");
                warnings.push(warning);
                truncate(path, pos as u64)?;
                break;
            }
        }
    }
    Ok(())
}

fn parse_frame(bytes: &[u8]) -> std::result::Result<(Frame, usize), String> {
    if bytes.len() < HEADER {
        return Err("torn frame header".into());
    }
    let word =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let long = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let len = word(0) as usize;
    if len > MAX_FRAME || HEADER + len > bytes.len() {
        return Err("torn frame".into());
    }
    let crc = word(4);
    if frame_crc(&bytes[8..HEADER], &bytes[HEADER..HEADER + len]) != crc {
        return Err("frame checksum mismatch".into());
    }
    let batches = decode_batches(&bytes[HEADER..HEADER + len])
        .map_err(|e| format!("frame does not decode ({e})"))?;
    Ok((
        Frame {
            seq: long(8),
            first_record_id: long(16),
            batches,
        },
        HEADER + len,
    ))
}

fn truncate(path: &Path, len: u64) -> Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(StoreError::io("truncating the WAL", path))?;
    f.set_len(len)
        .and_then(|_| f.sync_all())
        .map_err(StoreError::io("truncating the WAL", path))
}

impl Wal {
    /// Reads every segment back (repairing torn tails), deletes segments whose frames are all
    /// at or below `flushed_seq`, and opens a fresh segment starting at `next_seq`.
    pub fn open(dir: &Path, flushed_seq: u64) -> Result<(Wal, Replay)> {
        std::fs::create_dir_all(dir).map_err(StoreError::io("creating the WAL directory", dir))?;
        let mut frames = Vec::new();
        let mut warnings = Vec::new();
        let mut older_bytes = 0;
        let mut max_seq = flushed_seq;
        for (_, path) in segments(dir)? {
            let before = frames.len();
            read_segment(&path, &mut frames, &mut warnings)?;
            let newest = frames[before..].iter().map(|f| f.seq).max();
            max_seq = max_seq.max(newest.unwrap_or(0));
            if newest.is_none_or(|s| s <= flushed_seq) {
                std::fs::remove_file(&path)
                    .map_err(StoreError::io("removing a flushed WAL segment", &path))?;
            } else {
                older_bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            }
        }
        frames.retain(|f| f.seq > flushed_seq);
        let path = dir.join(segment_name(max_seq + 1));
        let (file, len) = Self::create_segment(dir, &path)?;
        let wal = Wal {
            dir: dir.to_path_buf(),
            file,
            path,
            len,
            older_bytes,
            broken: false,
        };
        Ok((wal, Replay { frames, warnings }))
    }

    fn create_segment(dir: &Path, path: &Path) -> Result<(File, u64)> {
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)
            .map_err(StoreError::io("creating a WAL segment", path))?;
        file.write_all(MAGIC)
            .and_then(|_| file.sync_all())
            .map_err(StoreError::io("creating a WAL segment", path))?;
        sync_dir(dir)?;
        Ok((file, MAGIC.len() as u64))
    }

    /// Writes one frame and fsyncs it.
    pub fn append(&mut self, seq: u64, first_record_id: u64, payload: &[u8]) -> Result<()> {
        if self.broken {
            return Err(StoreError::Io {
                context: "appending to the WAL after a failed write",
                path: self.path.clone(),
                source: std::io::Error::other("reopen the store"),
            });
        }
        if payload.len() > MAX_FRAME {
            return Err(StoreError::invalid(format!(
                "batch encodes to {} bytes; append at most {} bytes at a time",
                payload.len(),
                MAX_FRAME
            )));
        }
        let mut header = [0u8; HEADER];
        header[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        header[8..16].copy_from_slice(&seq.to_le_bytes());
        header[16..].copy_from_slice(&first_record_id.to_le_bytes());
        let crc = frame_crc(&header[8..], payload);
        header[4..8].copy_from_slice(&crc.to_le_bytes());
        // Header and payload are written as they are rather than copied into one frame.
        let written = self
            .file
            .write_all(&header)
            .and_then(|_| self.file.write_all(payload))
            .and_then(|_| self.file.sync_data());
        if let Err(e) = written {
            // Undo the partial frame so later frames are not stranded behind it.
            if self
                .file
                .set_len(self.len)
                .and_then(|_| self.file.sync_all())
                .is_err()
            {
                self.broken = true;
            }
            return Err(StoreError::io("appending to the WAL", &self.path)(e));
        }
        self.len += (HEADER + payload.len()) as u64;
        Ok(())
    }

    /// Starts a new segment whose first frame will be `next_seq`. The old segments hold
    /// exactly the frames before it.
    pub fn rotate(&mut self, next_seq: u64) -> Result<()> {
        let path = self.dir.join(segment_name(next_seq));
        if path == self.path {
            return Ok(());
        }
        let (file, len) = Self::create_segment(&self.dir, &path)?;
        self.older_bytes += self.len;
        self.file = file;
        self.path = path;
        self.len = len;
        self.broken = false;
        Ok(())
    }

    /// Deletes every segment before the current one (their frames are now in Parquet).
    pub fn remove_older_segments(&mut self) -> Result<()> {
        for (_, path) in segments(&self.dir)? {
            if path != self.path {
                std::fs::remove_file(&path)
                    .map_err(StoreError::io("removing a flushed WAL segment", &path))?;
            }
        }
        self.older_bytes = 0;
        sync_dir(&self.dir)
    }

    pub fn bytes(&self) -> u64 {
        self.older_bytes + self.len
    }
}
