//! Files and standard input as a source: read in blocks of whole lines, one file after the
//! other; the last one may be followed as it grows.

use crate::blocks::{Blocks, Next};
use crate::source::{Feed, Input, Pace, Source, SourceError};
use std::path::PathBuf;
use std::time::Duration;

/// How long a followed file waits at its end before looking for more.
const FOLLOW_POLL: Duration = Duration::from_millis(250);

/// Lines from files read in order (`-` is standard input). A regular file read to its end
/// is mapped into memory, so it must not be truncated while it is read; a file that is
/// still being written is followed instead.
pub struct FileSource {
    paths: Vec<PathBuf>,
    follow_last: bool,
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
        FileSource { paths, follow_last }
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
            let follow = self.follow_last && i == last;
            let mut blocks = Blocks::open(path, follow).map_err(|error| FileError::Open {
                name: name.clone(),
                error,
            })?;
            feed.push(Input::Begin(name.clone()))?;
            loop {
                while let Some(buffer) = feed.spare_buffer() {
                    blocks.recycle(Some(buffer));
                }
                let next = blocks.next(follow).map_err(|error| FileError::Read {
                    name: name.clone(),
                    error,
                })?;
                match next {
                    Next::Block(block) => feed.push(Input::Lines(block))?,
                    // Tailing: what was read is stored, with the buckets closed by now.
                    Next::End if follow => {
                        feed.push(Input::Watermark(now()))?;
                        if feed.sleep(FOLLOW_POLL) {
                            return Ok(());
                        }
                    }
                    Next::End => break,
                }
            }
        }
        Ok(())
    }
}

/// The current time in unix seconds.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
