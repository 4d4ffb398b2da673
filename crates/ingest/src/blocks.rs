//! Reading input in blocks of whole lines, so that blocks can be decoded on any thread.
//!
//! A file read to its end is mapped into memory a block at a time ([`MappedBlocks`]); streams
//! and followed files are read into buffers ([`LineBlocks`]).

use memmap2::{Mmap, MmapOptions};
use std::fs::File;
use std::io::{ErrorKind, Read};

/// About how many bytes a block holds: thousands of lines, so that handing a block to a
/// thread costs little next to decoding it.
const BLOCK_BYTES: usize = 4 << 20;

/// Whole lines (the last one may lack its newline at the end of an input). They are
/// numbered when decoded, from the block's start, so that the reading thread does not pass
/// over every byte a second time.
pub struct Block(Bytes);

enum Bytes {
    /// Read into a buffer, which can be read into again once the block is decoded.
    Read(Vec<u8>),
    /// The first `len` bytes of a mapped part of a file.
    Mapped { map: Mmap, len: usize },
}

impl Block {
    /// A block of the lines in `bytes`, which end at a newline or at the end of the input.
    pub fn lines(bytes: Vec<u8>) -> Block {
        Block(Bytes::Read(bytes))
    }

    pub fn bytes(&self) -> &[u8] {
        match &self.0 {
            Bytes::Read(bytes) => bytes,
            Bytes::Mapped { map, len } => &map[..*len],
        }
    }

    /// The buffer to read the next block into, if the block was read.
    pub fn into_buffer(self) -> ReadBuffer {
        match self.0 {
            Bytes::Read(bytes) => Some(bytes),
            Bytes::Mapped { .. } => None,
        }
    }
}

/// A decoded block's buffer, handed back to read into again; `None` for a mapped block.
pub type ReadBuffer = Option<Vec<u8>>;

/// What the next read found.
pub enum Next {
    Block(Block),
    /// Nothing more for now: the end of a file (which may still grow, when followed).
    End,
}

/// Splits a reader into blocks that end at a newline. Every read is handed on as soon as it
/// holds a complete line, so a pipe that trickles lines in is not held back.
pub struct LineBlocks<R> {
    reader: R,
    /// Bytes after the last newline read so far: the start of a line not yet complete.
    partial: Vec<u8>,
    /// Buffers of decoded blocks, to read into again: fresh memory costs a page fault per
    /// page.
    spare: Vec<Vec<u8>>,
}

/// Spare buffers kept at most.
const SPARE_BUFFERS: usize = 8;

impl<R: Read> LineBlocks<R> {
    pub fn new(reader: R) -> LineBlocks<R> {
        LineBlocks {
            reader,
            partial: Vec::new(),
            spare: Vec::new(),
        }
    }

    /// Takes back the buffer of a block that has been decoded.
    pub fn recycle(&mut self, buffer: Vec<u8>) {
        if self.spare.len() < SPARE_BUFFERS && buffer.capacity() >= BLOCK_BYTES {
            self.spare.push(buffer);
        }
    }

    /// The next block. At the end of the input, a last line without a newline is a block of
    /// its own unless `follow` is set (a followed file's last line may still be being written).
    pub fn next(&mut self, follow: bool) -> std::io::Result<Next> {
        let size = BLOCK_BYTES.max(self.partial.len() * 2);
        let mut bytes = match self.spare.pop() {
            // Only the tail past the old contents is zeroed again.
            Some(mut spare) => {
                spare.resize(size, 0);
                spare
            }
            // Zeroed allocations of this size come from fresh pages: no filling paid twice.
            None => vec![0u8; size],
        };
        let mut filled = self.partial.len();
        bytes[..filled].copy_from_slice(&self.partial);
        self.partial.clear();
        loop {
            if filled == bytes.len() {
                bytes.resize(bytes.len() * 2, 0);
            }
            let n = match self.reader.read(&mut bytes[filled..]) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    bytes.truncate(filled);
                    self.partial = bytes;
                    return Err(e);
                }
            };
            if n == 0 {
                bytes.truncate(filled);
                if bytes.is_empty() || follow {
                    self.partial = bytes;
                    return Ok(Next::End);
                }
                return Ok(Next::Block(Block::lines(bytes)));
            }
            let read = filled..filled + n;
            filled += n;
            if let Some(last) = memchr::memrchr(b'\n', &bytes[read.clone()]) {
                self.partial = bytes[read.start + last + 1..filled].to_vec();
                bytes.truncate(read.start + last + 1);
                return Ok(Next::Block(Block::lines(bytes)));
            }
        }
    }
}

/// The blocks of one input.
pub enum Blocks {
    Read(LineBlocks<Box<dyn Read>>),
    Mapped(MappedBlocks),
}

impl Blocks {
    /// The blocks of the file at `path`, or of standard input for `-`. A regular file read to
    /// its end is mapped; one that is followed (it may still grow) is read, as are pipes,
    /// devices and files that report no length (such as those under `/proc`).
    pub fn open(path: &std::path::Path, follow: bool) -> std::io::Result<Blocks> {
        if path.as_os_str() == "-" {
            return Ok(Blocks::Read(LineBlocks::new(Box::new(std::io::stdin()))));
        }
        let file = File::open(path)?;
        let meta = file.metadata()?;
        if !follow && meta.is_file() && meta.len() > 0 {
            return Ok(Blocks::Mapped(MappedBlocks::new(file)?));
        }
        Ok(Blocks::Read(LineBlocks::new(Box::new(file))))
    }

    /// The next block (see [`LineBlocks::next`]; a mapped file is never followed).
    pub fn next(&mut self, follow: bool) -> std::io::Result<Next> {
        match self {
            Blocks::Read(blocks) => blocks.next(follow),
            Blocks::Mapped(blocks) => blocks.next(),
        }
    }

    /// Takes back the buffer of a block that has been decoded, if it was read.
    pub fn recycle(&mut self, buffer: ReadBuffer) {
        if let (Blocks::Read(blocks), Some(buffer)) = (self, buffer) {
            blocks.recycle(buffer);
        }
    }
}

/// Splits a file read to its end into blocks that end at a newline, each a part of the file
/// mapped into memory: the lines are decoded where the page cache holds them, instead of
/// being copied into a buffer first (a copy the decoders would pay for in CPU time and
/// memory bandwidth). Each block is unmapped when it is dropped, so memory holds only the blocks in
/// flight.
///
/// The file must not be truncated while it is read (a mapped page past its end faults);
/// files that may change are followed instead, and followed files are read.
pub struct MappedBlocks {
    file: File,
    /// The file's length when it was opened: what is read.
    len: u64,
    /// Where the next block starts.
    at: u64,
}

impl MappedBlocks {
    pub fn new(file: File) -> std::io::Result<MappedBlocks> {
        let len = file.metadata()?.len();
        Ok(MappedBlocks { file, len, at: 0 })
    }

    /// The next block; the last line is a block's end even without a newline.
    pub fn next(&mut self) -> std::io::Result<Next> {
        let mut size = BLOCK_BYTES as u64;
        loop {
            let rest = self.len - self.at;
            if rest == 0 {
                return Ok(Next::End);
            }
            let window = size.min(rest);
            // SAFETY: the mapping is read only. The file is not written here, and a caller
            // maps only files that are read to their end, not ones being written (see above).
            let map = unsafe {
                MmapOptions::new()
                    .offset(self.at)
                    .len(window as usize)
                    .map(&self.file)?
            };
            let _ = map.advise(memmap2::Advice::Sequential);
            let len = if window == rest {
                // The file's last bytes: whole lines, or a last line with no newline.
                map.len()
            } else {
                match memchr::memrchr(b'\n', &map) {
                    Some(last) => last + 1,
                    // A line longer than the window: map more of it.
                    None => {
                        size *= 2;
                        continue;
                    }
                }
            };
            self.at += len as u64;
            return Ok(Next::Block(Block(Bytes::Mapped { map, len })));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowlens_pipeline::{InputFormat, LineDecoder};

    fn blocks(input: &[u8], follow: bool) -> Vec<String> {
        let mut reader = LineBlocks::new(input);
        let mut out = Vec::new();
        while let Next::Block(b) = reader.next(follow).unwrap() {
            out.push(String::from_utf8(b.into_buffer().unwrap()).unwrap());
        }
        out
    }

    fn mapped(input: &[u8]) -> Vec<String> {
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, input).unwrap();
        let mut blocks = MappedBlocks::new(file).unwrap();
        let mut out = Vec::new();
        while let Next::Block(b) = blocks.next().unwrap() {
            out.push(String::from_utf8(b.bytes().to_vec()).unwrap());
        }
        out
    }

    #[test]
    fn files_that_report_no_length_are_read_not_mapped() {
        let mut blocks = Blocks::open(std::path::Path::new("/proc/self/status"), false).unwrap();
        assert!(matches!(blocks, Blocks::Read(_)));
        let Next::Block(block) = blocks.next(false).unwrap() else {
            panic!("/proc/self/status read as empty");
        };
        assert!(block.bytes().starts_with(b"Name:"));
        let empty = tempfile::NamedTempFile::new().unwrap();
        let mut blocks = Blocks::open(empty.path(), false).unwrap();
        assert!(matches!(blocks.next(false).unwrap(), Next::End));
    }

    #[test]
    fn mapped_blocks_end_at_newlines_and_hold_every_byte_once() {
        assert_eq!(mapped(b"a\nb\nc\n"), vec!["a\nb\nc\n"]);
        assert_eq!(mapped(b"a\nb\nc"), vec!["a\nb\nc"]);
        assert_eq!(mapped(b""), Vec::<String>::new());
        // Lines across block boundaries, one longer than two blocks, no newline at the end.
        let line = |i: usize| format!("{i:0>width$}\n", width = 1000 + i % 700);
        let mut input: String = (0..12_000).map(line).collect();
        input.push_str(&"x".repeat(BLOCK_BYTES * 2 + 7));
        input.push_str("\nlast");
        let blocks = mapped(input.as_bytes());
        assert!(blocks.len() > 3, "{}", blocks.len());
        assert!(blocks[..blocks.len() - 1].iter().all(|b| b.ends_with('\n')));
        assert_eq!(blocks.concat(), input);
    }

    #[test]
    fn blocks_end_at_newlines() {
        assert_eq!(blocks(b"a\nb\nc\n", false), vec!["a\nb\nc\n"]);
        assert_eq!(blocks(b"a\nb\nc", false), vec!["a\nb\n", "c"]);
        assert_eq!(blocks(b"", false), Vec::<String>::new());
    }

    #[test]
    fn a_followed_file_keeps_its_unfinished_last_line() {
        assert_eq!(blocks(b"a\nb", true), vec!["a\n"]);
    }

    #[test]
    fn lines_longer_than_a_block_stay_whole() {
        let long = "x".repeat(BLOCK_BYTES * 2 + 7);
        let input = format!("{long}\nshort\n");
        let got = blocks(input.as_bytes(), false);
        assert_eq!(got, vec![input]);
    }

    /// A reader that returns its input a few bytes at a time, as a pipe does.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(3);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_trickling_reader_gives_every_line_once_numbered_in_order() {
        // Numbered as `ingest` numbers them: each block from 1 while decoded, then shifted
        // by the lines of the blocks before it.
        let input = b"one\ntwo\nthree\nfour";
        let mut reader = LineBlocks::new(Trickle(input));
        let mut decoder = LineDecoder::new(InputFormat::Calico);
        let (mut lines_before, mut rejected) = (0, Vec::new());
        while let Next::Block(b) = reader.next(false).unwrap() {
            let mut decoded = decoder.decode_lines(b.bytes(), 1, |_| {});
            decoded.shift_lines(lines_before);
            lines_before += decoded.lines;
            rejected.extend(decoded.rejected.into_iter().map(|(n, _)| n));
        }
        assert_eq!(lines_before, 4);
        assert_eq!(rejected, vec![1, 2, 3, 4]);
    }
}
