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
//! batches, LZ4-compressed (format 1 wrote one uncompressed batch; both read back). The
//! append's read marks, if any, are JSON in the stream schema's metadata, so they are as
//! durable as the rows.
//!
//! On open every frame is read back. A frame cut short or failing its CRC with nothing valid
//! after it is a torn tail (a crash mid-write, or an append that failed and was never
//! acknowledged): it is truncated away with a warning. Damage followed by valid frames is
//! corruption, not a crash: the frames after it are recovered, the segment is copied to the
//! quarantine directory as it was, and the sequence numbers are checked for gaps, so a lost
//! acknowledged append is reported rather than silently skipped.

use crate::error::{Result, StoreError};
use crate::fsutil::{sync_dir, sync_file, sync_file_data};
use crate::schema::flow_schema;
use crate::types::ReadMark;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::ipc::CompressionType;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
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
    /// How far the inputs of these rows are stored.
    pub marks: Vec<ReadMark>,
}

/// What reading the log back found.
pub(crate) struct Replay {
    pub frames: Vec<Frame>,
    /// Problems repaired (torn tails) or found (corruption, gaps), for the caller to report.
    pub warnings: Vec<String>,
    /// Acknowledged appends that replay could not find (corruption): sequence numbers
    /// missing between the flushed point and the newest frame.
    pub lost_frames: u64,
}

/// A failure injected into the next append, in tests.
#[cfg(test)]
#[derive(Clone, Copy, Debug)]
pub(crate) enum Fault {
    /// The write stops with "no space left" after this many bytes of the frame.
    WriteFailsAfter(usize),
    /// The frame is written but fsync reports an I/O error.
    SyncFails,
}

pub(crate) struct Wal {
    dir: PathBuf,
    file: File,
    path: PathBuf,
    /// Bytes of the current segment (what it is truncated back to if a write fails).
    len: u64,
    /// Bytes of older segments not yet deleted.
    older_bytes: u64,
    /// Set when an fsync failed or a failed write could not be undone: the segment's tail is
    /// unknown (Linux does not retry a failed fsync's pages), so the next append starts a
    /// new segment rather than writing after it.
    broken: bool,
    #[cfg(test)]
    pub(crate) fault: Option<Fault>,
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
pub(crate) fn encode_batches(batches: &[RecordBatch], marks: &[ReadMark]) -> Result<Vec<u8>> {
    let options =
        IpcWriteOptions::default().try_with_compression(Some(CompressionType::LZ4_FRAME))?;
    let mut schema = flow_schema().as_ref().clone();
    if !marks.is_empty() {
        let json = serde_json::to_string(marks)
            .map_err(|e| StoreError::invalid(format!("read marks: {e}")))?;
        schema.metadata.insert(MARKS_KEY.to_string(), json);
    }
    let mut writer = StreamWriter::try_new_with_options(Vec::new(), &schema, options)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    Ok(writer.into_inner()?)
}

/// The schema metadata key of an append's read marks.
const MARKS_KEY: &str = "flowlens.read_marks";

type Decoded = (Vec<RecordBatch>, Vec<ReadMark>);

fn decode_batches(payload: &[u8]) -> std::result::Result<Decoded, String> {
    let reader =
        StreamReader::try_new(std::io::Cursor::new(payload), None).map_err(|e| e.to_string())?;
    let marks = match reader.schema().metadata().get(MARKS_KEY) {
        Some(json) => serde_json::from_str(json).map_err(|e| format!("read marks: {e}"))?,
        None => Vec::new(),
    };
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
        // The columns under the stored schema, without the frame's metadata (the marks).
        batches.push(
            RecordBatch::try_new(schema.clone(), batch.columns().to_vec())
                .map_err(|e| e.to_string())?,
        );
    }
    if batches.is_empty() {
        return Err("no batch in the frame".into());
    }
    Ok((batches, marks))
}

/// The CRC of a frame: over the header after its CRC (sequence and first record id) and
/// the payload.
fn frame_crc(header_rest: &[u8], payload: &[u8]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    crc.update(header_rest);
    crc.update(payload);
    crc.finalize()
}

/// One segment read back.
struct SegmentRead {
    frames: Vec<Frame>,
    /// Damage with valid frames after it: the segment is kept as it was for inspection.
    corrupt: bool,
}

/// What the bytes of a segment hold.
pub(crate) struct Scan {
    pub frames: Vec<Frame>,
    /// Damaged ranges with valid frames after them: (start, length, what was wrong).
    pub skipped: Vec<(usize, usize, String)>,
    /// Where a torn tail starts (nothing valid after it), and what was wrong.
    pub torn_at: Option<(usize, String)>,
}

/// Reads the frames of a segment's bytes (after the magic), skipping over damage in the
/// middle to the frames after it: a frame is found again by its header (a plausible sequence
/// number, a length that fits, a matching CRC).
pub(crate) fn scan_segment(bytes: &[u8]) -> std::result::Result<Scan, &'static str> {
    if bytes.get(..MAGIC.len()) != Some(MAGIC.as_slice()) {
        return Err("not a flowlens WAL segment (bad magic)");
    }
    let mut scan = Scan {
        frames: Vec::new(),
        skipped: Vec::new(),
        torn_at: None,
    };
    let mut pos = MAGIC.len();
    while pos < bytes.len() {
        match parse_frame(&bytes[pos..]) {
            Ok((frame, size)) => {
                scan.frames.push(frame);
                pos += size;
            }
            Err(reason) => {
                let last_seq = scan.frames.last().map_or(0, |f| f.seq);
                match resync(bytes, pos + 1, last_seq) {
                    Some(next) => {
                        scan.skipped.push((pos, next - pos, reason));
                        pos = next;
                    }
                    None => {
                        scan.torn_at = Some((pos, reason));
                        break;
                    }
                }
            }
        }
    }
    Ok(scan)
}

/// Reads one segment: truncates a torn tail, reports damage in the middle.
fn read_segment(path: &Path, warnings: &mut Vec<String>) -> Result<SegmentRead> {
    let bytes = std::fs::read(path).map_err(StoreError::io("reading the WAL", path))?;
    if bytes.len() < MAGIC.len() {
        // Created but never written (crash right after creation).
        truncate(path, 0)?;
        return Ok(SegmentRead {
            frames: Vec::new(),
            corrupt: false,
        });
    }
    let scan = scan_segment(&bytes).map_err(|reason| StoreError::corrupt(path, reason))?;
    for (at, len, reason) in &scan.skipped {
        let warning = format!(
            "{}: {reason} at byte {at}; skipped {len} damaged bytes and recovered the frames \
             after them",
            path.display()
        );
        tracing::error!("{warning}");
        warnings.push(warning);
    }
    if let Some((at, reason)) = &scan.torn_at {
        let warning = format!(
            "{}: {reason} at byte {at}; dropping the last {} bytes (an append that never \
             completed)",
            path.display(),
            bytes.len() - at
        );
        tracing::warn!("{warning}");
        warnings.push(warning);
        truncate(path, *at as u64)?;
    }
    Ok(SegmentRead {
        corrupt: !scan.skipped.is_empty(),
        frames: scan.frames,
    })
}

/// The first offset from `from` on where a valid frame newer than `last_seq` starts. The
/// sequence number is checked before the CRC, so scanning garbage costs little.
fn resync(bytes: &[u8], from: usize, last_seq: u64) -> Option<usize> {
    (from..bytes.len().saturating_sub(HEADER - 1)).find(|&at| {
        let header = &bytes[at..at + HEADER];
        let seq = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
        seq > last_seq
            && seq - last_seq < 1 << 32
            && at + HEADER + len <= bytes.len()
            && parse_frame(&bytes[at..]).is_ok()
    })
}

/// The frames above `flushed_seq` in sequence order, one per sequence number, and how many
/// numbers are missing. Two frames share a number only when an append failed after its bytes
/// reached the disk and was retried in a new segment: the later segment's frame is the one
/// acknowledged.
fn in_sequence(
    frames: Vec<Frame>,
    flushed_seq: u64,
    warnings: &mut Vec<String>,
) -> (Vec<Frame>, u64) {
    let mut by_seq = std::collections::BTreeMap::new();
    for frame in frames.into_iter().filter(|f| f.seq > flushed_seq) {
        by_seq.insert(frame.seq, frame);
    }
    let mut expected = flushed_seq + 1;
    let mut lost = 0;
    for &seq in by_seq.keys() {
        if seq > expected {
            let warning = format!(
                "WAL frames {expected} to {} are missing: {} acknowledged appends were lost to \
                 corruption",
                seq - 1,
                seq - expected
            );
            tracing::error!("{warning}");
            warnings.push(warning);
            lost += seq - expected;
        }
        expected = seq + 1;
    }
    (by_seq.into_values().collect(), lost)
}

/// Copies a damaged segment, as it is, into `quarantine` (once: a later open finds the same
/// damage and keeps the first copy). Returns the warning that says where it went.
fn keep_damaged_segment(path: &Path, quarantine: &Path) -> Result<String> {
    crate::fsutil::create_dir_durably(quarantine)?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("segment");
    let target = quarantine.join(format!("wal-{name}"));
    if !target.exists() {
        std::fs::copy(path, &target).map_err(StoreError::io("quarantining", path))?;
    }
    Ok(format!(
        "kept a copy of the damaged WAL segment {} in {}",
        path.display(),
        target.display()
    ))
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
    let (batches, marks) = decode_batches(&bytes[HEADER..HEADER + len])
        .map_err(|e| format!("frame does not decode ({e})"))?;
    Ok((
        Frame {
            seq: long(8),
            first_record_id: long(16),
            batches,
            marks,
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
        .and_then(|_| sync_file(&f))
        .map_err(StoreError::io("truncating the WAL", path))
}

impl Wal {
    /// Reads every segment back (repairing torn tails, recovering frames after damage, whose
    /// segments are copied into `quarantine`), deletes segments whose frames are all at or
    /// below `flushed_seq`, and opens a fresh segment for the next frame.
    pub fn open(dir: &Path, flushed_seq: u64, quarantine: &Path) -> Result<(Wal, Replay)> {
        crate::fsutil::create_dir_durably(dir)?;
        let mut frames = Vec::new();
        let mut warnings = Vec::new();
        let mut older_bytes = 0;
        for (_, path) in segments(dir)? {
            let read = read_segment(&path, &mut warnings)?;
            if read.corrupt {
                warnings.push(keep_damaged_segment(&path, quarantine)?);
            }
            if read.frames.iter().all(|f| f.seq <= flushed_seq) {
                std::fs::remove_file(&path)
                    .map_err(StoreError::io("removing a flushed WAL segment", &path))?;
            } else {
                older_bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            }
            frames.extend(read.frames);
        }
        let (frames, lost_frames) = in_sequence(frames, flushed_seq, &mut warnings);
        let next_seq = frames.last().map_or(flushed_seq, |f| f.seq) + 1;
        let path = dir.join(segment_name(next_seq));
        let (file, len) = Self::create_segment(dir, &path)?;
        let wal = Wal {
            dir: dir.to_path_buf(),
            file,
            path,
            len,
            older_bytes,
            broken: false,
            #[cfg(test)]
            fault: None,
        };
        Ok((
            wal,
            Replay {
                frames,
                warnings,
                lost_frames,
            },
        ))
    }

    fn create_segment(dir: &Path, path: &Path) -> Result<(File, u64)> {
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)
            .map_err(StoreError::io("creating a WAL segment", path))?;
        file.write_all(MAGIC)
            .and_then(|_| sync_file(&file))
            .map_err(StoreError::io("creating a WAL segment", path))?;
        sync_dir(dir)?;
        Ok((file, MAGIC.len() as u64))
    }

    /// Writes one frame and fsyncs it. On an error nothing of the frame is left where the
    /// next append goes: a failed write is cut off again, and after a failed fsync (or a cut
    /// that failed) the next append starts a new segment.
    pub fn append(&mut self, seq: u64, first_record_id: u64, payload: &[u8]) -> Result<()> {
        if payload.len() > MAX_FRAME {
            return Err(StoreError::invalid(format!(
                "batch encodes to {} bytes; append at most {} bytes at a time",
                payload.len(),
                MAX_FRAME
            )));
        }
        if self.broken {
            // The failed frame's sequence number was not used: this frame takes it, in a
            // segment of its own, and replay prefers it to anything the old tail holds.
            self.start_segment(seq)?;
        }
        let mut header = [0u8; HEADER];
        header[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        header[8..16].copy_from_slice(&seq.to_le_bytes());
        header[16..].copy_from_slice(&first_record_id.to_le_bytes());
        let crc = frame_crc(&header[8..], payload);
        header[4..8].copy_from_slice(&crc.to_le_bytes());
        if let Err(e) = self.write_frame(&header, payload) {
            if self.cut_back().is_err() {
                self.broken = true;
            }
            return Err(StoreError::io("appending to the WAL", &self.path)(e));
        }
        if let Err(e) = self.sync() {
            self.broken = true;
            return Err(StoreError::io("syncing the WAL", &self.path)(e));
        }
        self.len += (HEADER + payload.len()) as u64;
        Ok(())
    }

    /// Header and payload written as they are rather than copied into one frame.
    fn write_frame(&mut self, header: &[u8], payload: &[u8]) -> std::io::Result<()> {
        #[cfg(test)]
        if let Some(Fault::WriteFailsAfter(n)) = self.fault {
            self.fault = None;
            let frame = [header, payload].concat();
            self.file.write_all(&frame[..n.min(frame.len())])?;
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "injected: no space left on device",
            ));
        }
        self.file.write_all(header)?;
        self.file.write_all(payload)
    }

    fn sync(&mut self) -> std::io::Result<()> {
        #[cfg(test)]
        if let Some(Fault::SyncFails) = self.fault {
            self.fault = None;
            return Err(std::io::Error::other("injected: fsync failed"));
        }
        sync_file_data(&self.file)
    }

    /// Cuts a partly written frame off and moves the write position back to where it started.
    fn cut_back(&mut self) -> std::io::Result<()> {
        self.file.set_len(self.len)?;
        self.file.seek(SeekFrom::Start(self.len))?;
        sync_file(&self.file)
    }

    /// Continues in a new segment whose first frame will be `seq`.
    fn start_segment(&mut self, seq: u64) -> Result<()> {
        let path = self.dir.join(segment_name(seq));
        let (file, len) = Self::create_segment(&self.dir, &path)?;
        if path != self.path {
            self.older_bytes += self.len;
        }
        self.file = file;
        self.path = path;
        self.len = len;
        self.broken = false;
        Ok(())
    }

    /// Starts a new segment whose first frame will be `next_seq`. The old segments hold
    /// exactly the frames before it.
    pub fn rotate(&mut self, next_seq: u64) -> Result<()> {
        if self.dir.join(segment_name(next_seq)) == self.path {
            return Ok(());
        }
        self.start_segment(next_seq)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::hit_dictionary::HitDictionary;
    use crate::records::encode::encode_flows;
    use crate::testutil::sample_flow;

    /// A frame whose payload is one flow ending at `end_time`, as appends write them.
    fn payload(end_time: i64) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let mut hits = HitDictionary::open(dir.path()).unwrap();
        let batch = encode_flows(&[sample_flow(1, end_time)], end_time as u64).unwrap();
        encode_batches(&[hits.attach_ids(&batch).unwrap()], &[]).unwrap()
    }

    fn open(dir: &Path, flushed_seq: u64) -> (Wal, Replay) {
        Wal::open(&dir.join("wal"), flushed_seq, &dir.join("quarantine")).unwrap()
    }

    fn seqs(replay: &Replay) -> Vec<u64> {
        replay.frames.iter().map(|f| f.seq).collect()
    }

    #[test]
    fn a_failed_write_leaves_no_gap_before_the_next_frame() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = open(dir.path(), 0);
        wal.append(1, 1, &payload(1)).unwrap();
        wal.fault = Some(Fault::WriteFailsAfter(HEADER + 10));
        assert!(wal.append(2, 2, &payload(2)).is_err());
        // The caller retries with the same sequence number, then goes on.
        wal.append(2, 2, &payload(2)).unwrap();
        wal.append(3, 3, &payload(3)).unwrap();
        drop(wal);
        let (_, replay) = open(dir.path(), 0);
        assert_eq!(seqs(&replay), [1, 2, 3]);
        assert!(replay.warnings.is_empty(), "{:?}", replay.warnings);
    }

    #[test]
    fn after_a_failed_fsync_the_next_frame_goes_to_a_new_segment() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = open(dir.path(), 0);
        wal.append(1, 1, &payload(1)).unwrap();
        wal.fault = Some(Fault::SyncFails);
        assert!(wal.append(2, 2, &payload(2)).is_err());
        let broken_segment = wal.path.clone();
        wal.append(2, 2, &payload(2)).unwrap();
        assert_ne!(
            wal.path, broken_segment,
            "not written after an unknown tail"
        );
        wal.append(3, 3, &payload(3)).unwrap();
        drop(wal);
        // The failed frame reached the file (only its fsync failed): replay keeps one frame 2.
        let (_, replay) = open(dir.path(), 0);
        assert_eq!(seqs(&replay), [1, 2, 3]);
        assert_eq!(replay.lost_frames, 0);
    }

    #[test]
    fn damage_in_the_middle_keeps_the_frames_after_it_and_reports_the_gap() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = open(dir.path(), 0);
        let mut ends = vec![MAGIC.len()];
        for seq in 1..=5 {
            let p = payload(seq as i64);
            wal.append(seq, seq, &p).unwrap();
            ends.push(ends.last().unwrap() + HEADER + p.len());
        }
        let segment = wal.path.clone();
        drop(wal);
        let mut bytes = std::fs::read(&segment).unwrap();
        let original = bytes.clone();
        // A flipped bit in frame 2's payload.
        bytes[ends[1] + HEADER + 5] ^= 0x10;
        std::fs::write(&segment, &bytes).unwrap();

        let (_, replay) = open(dir.path(), 0);
        assert_eq!(seqs(&replay), [1, 3, 4, 5]);
        assert_eq!(replay.lost_frames, 1);
        let all = replay.warnings.join("\n");
        assert!(all.contains("frames 2 to 2 are missing"), "{all}");
        let copy = dir.path().join("quarantine").join(format!(
            "wal-{}",
            segment.file_name().unwrap().to_str().unwrap()
        ));
        assert_eq!(std::fs::read(copy).unwrap(), bytes, "kept as found");
        assert_ne!(bytes, original);
        // Nothing was cut away: the damaged segment is still whole where it was.
        assert_eq!(std::fs::read(&segment).unwrap(), bytes);
    }

    #[test]
    fn a_torn_last_frame_is_cut_off_without_a_loss() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = open(dir.path(), 0);
        for seq in 1..=3 {
            wal.append(seq, seq, &payload(seq as i64)).unwrap();
        }
        let segment = wal.path.clone();
        drop(wal);
        let bytes = std::fs::read(&segment).unwrap();
        std::fs::write(&segment, &bytes[..bytes.len() - 7]).unwrap();
        let (_, replay) = open(dir.path(), 0);
        assert_eq!(seqs(&replay), [1, 2]);
        assert_eq!(replay.lost_frames, 0);
        assert!(!dir.path().join("quarantine").exists());
    }
}
