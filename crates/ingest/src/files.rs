//! Files and standard input as a source: read in blocks of whole lines, one file after the
//! other; the last one may be followed as it grows, by name, across log rotation.

use crate::blocks::{LineBlocks, Next};
use crate::source::{Closed, Feed, Input, Pace, Source, SourceError};
use flowlens_store::ReadMark;
use std::fs::File;
use std::io::{Read, Seek};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a followed file waits at its end before looking for more.
const FOLLOW_POLL: Duration = Duration::from_millis(250);

/// Lines from files read in order (`-` is standard input). The last one may be followed
/// like `tail -F`: when the name comes to hold another file (rename rotation) the old one
/// is read to its end and the new one from its start; when the file shrinks (copytruncate)
/// it is read again from its start.
pub struct FileSource {
    paths: Vec<PathBuf>,
    follow_last: bool,
    /// How far earlier runs stored the files.
    stored: Vec<ReadMark>,
}

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot open {name}")]
    Open {
        name: String,
        #[source]
        error: std::io::Error,
    },
    #[error("reading {name}")]
    Read {
        name: String,
        #[source]
        error: std::io::Error,
    },
}

impl FileSource {
    /// The files at `paths`, in order; with `follow_last` the last one is followed: at its
    /// end the source waits for more (a half-written last line waits for its newline) until
    /// the loop stops.
    pub fn new(paths: Vec<PathBuf>, follow_last: bool) -> FileSource {
        FileSource {
            paths,
            follow_last,
            stored: Vec::new(),
        }
    }

    /// Reads each file on from where `stored` says an earlier run stopped, when the mark is
    /// of the very file now under its name (same device and inode) and the file is not
    /// shorter; other files are read from their start.
    pub fn resuming(self, stored: Vec<ReadMark>) -> FileSource {
        FileSource { stored, ..self }
    }
}

impl Source for FileSource {
    fn name(&self) -> String {
        match &self.paths[..] {
            [one] => one.display().to_string(),
            paths => format!("{} files", paths.len()),
        }
    }

    fn kind(&self) -> &'static str {
        if self.paths.iter().any(|p| p.as_os_str() == "-") {
            "stdin"
        } else {
            "file"
        }
    }

    /// Followed files and standard input are live; files read to their end are not.
    fn pace(&self) -> Pace {
        if self.follow_last || self.paths.iter().any(|p| p.as_os_str() == "-") {
            Pace::Live
        } else {
            Pace::ReadToEnd
        }
    }

    fn run(self: Box<Self>, feed: Feed) -> Result<(), SourceError> {
        let last = self.paths.len().saturating_sub(1);
        for (i, path) in self.paths.iter().enumerate() {
            let name = path.display().to_string();
            if path.as_os_str() == "-" {
                feed.push(Input::Begin(name.clone()))?;
                read_to_end(&mut LineBlocks::new(std::io::stdin()), &feed, &name)?;
                continue;
            }
            let mut file = OpenFile::open(path).map_err(|error| FileError::Open {
                name: name.clone(),
                error,
            })?;
            feed.push(Input::Begin(name.clone()))?;
            file.start(&self.stored, &name, &feed)?;
            if self.follow_last && i == last {
                return follow(path, file, &feed);
            }
            read_blocks(&mut file.blocks, &feed, &name)?;
            let read = file.blocks.position();
            if read < file.len_at_open {
                // Cut short under the reader (copytruncate): the line the cut went through
                // is not a line of the file.
                let now = file.len().map_err(|e| read_error(&name, e))?;
                feed.push(Input::Warning(format!(
                    "file shrank from {} to {now} bytes while being read; lines after byte {read} were not read",
                    file.len_at_open
                )))?;
                continue;
            }
            push_last_line(&mut file.blocks, &feed)?;
        }
        Ok(())
    }
}

/// A file being read, and what tells whether it shrank or was replaced.
struct OpenFile {
    blocks: LineBlocks<File>,
    /// Its absolute path: the name its read marks are kept under.
    input: String,
    /// Device and inode: another file under the same name is a rotation.
    id: (u64, u64),
    len_at_open: u64,
}

impl OpenFile {
    fn open(path: &Path) -> std::io::Result<OpenFile> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        Ok(OpenFile {
            blocks: LineBlocks::new(file),
            input: std::path::absolute(path)?.display().to_string(),
            id: (meta.dev(), meta.ino()),
            len_at_open: meta.len(),
        })
    }

    /// Where reading starts, told to the loop: after what an earlier run stored of this
    /// file (`stored`), or at its start.
    fn start(&mut self, stored: &[ReadMark], name: &str, feed: &Feed) -> Result<(), SourceError> {
        let mut at = self.mark_at(0, 0);
        match stored.iter().find(|m| m.input == self.input) {
            Some(mark) if (mark.device, mark.inode) != self.id => {}
            Some(mark) if mark.offset > self.len_at_open => {
                feed.push(Input::Warning(format!(
                    "an earlier run stored {} bytes of this file, which now holds {}: reading it again from its start",
                    mark.offset, self.len_at_open
                )))?;
            }
            Some(mark) if mark.offset > 0 => {
                let file = self.blocks.reader_mut();
                file.seek(std::io::SeekFrom::Start(mark.offset))
                    .map_err(|e| read_error(name, e))?;
                let file = file.try_clone().map_err(|e| read_error(name, e))?;
                self.blocks = LineBlocks::starting_at(file, mark.offset);
                feed.push(Input::Warning(format!(
                    "reading on after line {} (byte {}), where an earlier run stopped (--from-start reads it all)",
                    mark.lines, mark.offset
                )))?;
                at = mark.clone();
            }
            _ => {}
        }
        feed.push(Input::At(at))?;
        Ok(())
    }

    fn mark_at(&self, offset: u64, lines: u64) -> ReadMark {
        ReadMark {
            input: self.input.clone(),
            device: self.id.0,
            inode: self.id.1,
            offset,
            lines,
        }
    }

    /// The file's length now.
    fn len(&mut self) -> std::io::Result<u64> {
        Ok(self.blocks.reader_mut().metadata()?.len())
    }
}

/// Pushes every block up to the end of the input, its last line included.
fn read_to_end<R: Read>(
    blocks: &mut LineBlocks<R>,
    feed: &Feed,
    name: &str,
) -> Result<(), SourceError> {
    read_blocks(blocks, feed, name)?;
    push_last_line(blocks, feed)
}

/// Pushes every block up to the end of the input, without a last line that lacks its
/// newline.
fn read_blocks<R: Read>(
    blocks: &mut LineBlocks<R>,
    feed: &Feed,
    name: &str,
) -> Result<(), SourceError> {
    loop {
        take_spare_buffers(blocks, feed);
        match blocks.next().map_err(|e| read_error(name, e))? {
            Next::End => return Ok(()),
            next => push(next, blocks.lines_end(), feed)?,
        }
    }
}

fn push_last_line<R: Read>(blocks: &mut LineBlocks<R>, feed: &Feed) -> Result<(), SourceError> {
    if let Some(last) = blocks.last_line() {
        push(Next::Block(last), blocks.lines_end(), feed)?;
    }
    Ok(())
}

/// Follows the file at `path` by name until the loop stops.
fn follow(path: &Path, mut file: OpenFile, feed: &Feed) -> Result<(), SourceError> {
    let name = path.display().to_string();
    loop {
        take_spare_buffers(&mut file.blocks, feed);
        match file.blocks.next().map_err(|e| read_error(&name, e))? {
            Next::End => {}
            next => {
                push(next, file.blocks.lines_end(), feed)?;
                continue;
            }
        }
        // At the end of what the file holds: has it been cut short or replaced?
        let len = file.len().map_err(|e| read_error(&name, e))?;
        let read = file.blocks.position();
        if len < read {
            feed.push(Input::Warning(format!(
                "file shrank from {read} to {len} bytes; reading it again from its start"
            )))?;
            file.blocks
                .reader_mut()
                .rewind()
                .map_err(|e| read_error(&name, e))?;
            file.blocks.restart();
            feed.push(Input::Begin(name.clone()))?;
            feed.push(Input::At(file.mark_at(0, 0)))?;
            continue;
        }
        if let Some(replaced) = reopen_if_replaced(path, &file) {
            // Lines written to the old file before it was moved away are read first.
            read_to_end(&mut file.blocks, feed, &name)?;
            file = replaced;
            feed.push(Input::Begin(name.clone()))?;
            feed.push(Input::At(file.mark_at(0, 0)))?;
            continue;
        }
        // Tailing: what was read is stored, with the buckets closed by now.
        feed.push(Input::Watermark(now()))?;
        if feed.sleep(FOLLOW_POLL) {
            return Ok(());
        }
    }
}

fn read_error(name: &str, error: std::io::Error) -> FileError {
    FileError::Read {
        name: name.to_string(),
        error,
    }
}

/// The file now under `path`, if it is not the one being read. A name that holds nothing
/// (between a rename and the new file's creation) or cannot be opened keeps the old file.
fn reopen_if_replaced(path: &Path, file: &OpenFile) -> Option<OpenFile> {
    let meta = std::fs::metadata(path).ok()?;
    if (meta.dev(), meta.ino()) == file.id {
        return None;
    }
    OpenFile::open(path).ok()
}

/// Pushes what `blocks` read; a block with where its last line ends (`lines_end`).
fn push(next: Next, lines_end: u64, feed: &Feed) -> Result<(), Closed> {
    match next {
        Next::Block(block) => feed.push(Input::Lines(block.ending_at(lines_end))),
        Next::LineTooLong => feed.push(Input::LineTooLong),
        Next::End => Ok(()),
    }
}

fn take_spare_buffers<R: Read>(blocks: &mut LineBlocks<R>, feed: &Feed) {
    while let Some(buffer) = feed.spare_buffer() {
        blocks.recycle(buffer);
    }
}

/// The current time in unix seconds.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
