//! Reading input in blocks of whole lines, so that blocks can be decoded on any thread.
//!
//! Files are read into buffers like streams, not mapped: a mapped file that shrinks under
//! the reader (logrotate's `copytruncate`) kills the process with SIGBUS, while a read just
//! ends early. No line is held beyond [`MAX_LINE_BYTES`]: a longer one is skipped up to its
//! newline without being buffered, and the caller rejects it.

use flowlens_pipeline::MAX_LINE_BYTES;
use std::io::{BufRead, ErrorKind, Read};

/// About how many bytes a block holds: thousands of lines, so that handing a block to a
/// thread costs little next to decoding it.
const BLOCK_BYTES: usize = 4 << 20;

// A line at the cap, and the start of the next, fit in one buffer.
const _: () = assert!(MAX_LINE_BYTES < BLOCK_BYTES);

/// Whole lines (the last one may lack its newline at the end of an input). They are
/// numbered when decoded, from the block's start, so that the reading thread does not pass
/// over every byte a second time.
pub struct Block {
    bytes: Vec<u8>,
    /// Where its last line ends in the input (a file), when that is known.
    end: Option<u64>,
}

impl Block {
    /// A block of the lines in `bytes`, which end at a newline or at the end of the input.
    pub fn lines(bytes: Vec<u8>) -> Block {
        Block { bytes, end: None }
    }

    /// The block, whose last line ends at byte `end` of its input.
    pub fn ending_at(self, end: u64) -> Block {
        Block {
            end: Some(end),
            ..self
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn end(&self) -> Option<u64> {
        self.end
    }

    /// The buffer, to read the next block into once the block is decoded.
    pub fn into_buffer(self) -> Vec<u8> {
        self.bytes
    }
}

/// What [`read_capped_line`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CappedLine {
    /// A line, in the buffer without its line ending.
    Line,
    /// A line longer than [`MAX_LINE_BYTES`], skipped up to its newline.
    TooLong,
    End,
}

/// Reads the next line of `reader` into `line` (cleared first) for readers that take a line
/// at a time; never holds more than [`MAX_LINE_BYTES`] of it.
pub fn read_capped_line(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
) -> std::io::Result<CappedLine> {
    line.clear();
    let cap = MAX_LINE_BYTES as u64 + 1;
    if reader.by_ref().take(cap).read_until(b'\n', line)? == 0 {
        return Ok(CappedLine::End);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    } else if line.len() > MAX_LINE_BYTES {
        line.clear();
        reader.skip_until(b'\n')?;
        return Ok(CappedLine::TooLong);
    }
    Ok(CappedLine::Line)
}

/// What the next read found.
pub enum Next {
    Block(Block),
    /// A line longer than [`MAX_LINE_BYTES`] comes here, after the lines of the blocks
    /// before: its bytes are skipped.
    LineTooLong,
    /// Nothing more for now. A last line without a newline is kept back: a followed file's
    /// may still be being written; [`LineBlocks::last_line`] takes it at a real end.
    End,
}

/// Splits a reader into blocks that end at a newline. Every read is handed on as soon as it
/// holds a complete line, so a pipe that trickles lines in is not held back.
pub struct LineBlocks<R> {
    reader: R,
    /// Bytes after the last newline handed on: the start of a line not yet complete (or,
    /// after a skipped line, the rest of the read that ended it).
    partial: Vec<u8>,
    /// Buffers of decoded blocks, to read into again: fresh memory costs a page fault per
    /// page.
    spare: Vec<Vec<u8>>,
    /// Inside a line longer than the cap: its bytes are read and dropped up to its newline.
    skipping: bool,
    /// Bytes taken from the reader.
    position: u64,
}

/// Spare buffers kept at most.
const SPARE_BUFFERS: usize = 8;

impl<R: Read> LineBlocks<R> {
    pub fn new(reader: R) -> LineBlocks<R> {
        LineBlocks {
            reader,
            partial: Vec::new(),
            spare: Vec::new(),
            skipping: false,
            position: 0,
        }
    }

    /// Takes back the buffer of a block that has been decoded.
    pub fn recycle(&mut self, buffer: Vec<u8>) {
        if self.spare.len() < SPARE_BUFFERS && buffer.capacity() >= BLOCK_BYTES {
            self.spare.push(buffer);
        }
    }

    /// How many bytes have been read.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Where the last line handed on ends: the bytes read, less those of a line not yet
    /// complete.
    pub fn lines_end(&self) -> u64 {
        self.position - self.partial.len() as u64
    }

    /// Blocks of `reader`, which stands at byte `position` of its input (a file read on
    /// from where an earlier run stopped).
    pub fn starting_at(reader: R, position: u64) -> LineBlocks<R> {
        LineBlocks {
            position,
            ..LineBlocks::new(reader)
        }
    }

    pub fn reader_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// Forgets what was read, for reading the input again from where the reader now stands
    /// (a file cut short, read again from its start).
    pub fn restart(&mut self) {
        self.partial.clear();
        self.skipping = false;
        self.position = 0;
    }

    /// At the real end of the input: its last line if it has no newline (a line being
    /// skipped was already counted).
    pub fn last_line(&mut self) -> Option<Block> {
        let skipped = std::mem::take(&mut self.skipping);
        if skipped || self.partial.is_empty() {
            self.partial.clear();
            return None;
        }
        Some(Block::lines(std::mem::take(&mut self.partial)))
    }

    /// A buffer of a block's size, from the spares if there is one.
    fn buffer(&mut self) -> Vec<u8> {
        match self.spare.pop() {
            // Only the tail past the old contents is zeroed again.
            Some(mut spare) => {
                spare.resize(BLOCK_BYTES, 0);
                spare
            }
            // Zeroed allocations of this size come from fresh pages: no filling paid twice.
            None => vec![0u8; BLOCK_BYTES],
        }
    }

    /// The next block of whole lines, [`Next::LineTooLong`] where a line is skipped, or
    /// [`Next::End`] when the reader has nothing more for now.
    pub fn next(&mut self) -> std::io::Result<Next> {
        if self.skipping && !self.skip_long_line()? {
            return Ok(Next::End);
        }
        // Whole lines left over from the read that ended a skipped line.
        if let Some(last) = memchr::memrchr(b'\n', &self.partial) {
            let mut bytes = self.buffer();
            bytes.clear();
            bytes.extend_from_slice(&self.partial[..=last]);
            self.partial.drain(..=last);
            return Ok(Next::Block(Block::lines(bytes)));
        }
        let mut bytes = self.buffer();
        let mut filled = self.partial.len();
        bytes[..filled].copy_from_slice(&self.partial);
        self.partial.clear();
        loop {
            // No newline in `bytes[..filled]`. (Never full: the cap is below its size.)
            if filled > MAX_LINE_BYTES {
                self.skipping = true;
                self.recycle(bytes);
                return Ok(Next::LineTooLong);
            }
            let n = match self.reader.read(&mut bytes[filled..]) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.partial.extend_from_slice(&bytes[..filled]);
                    self.recycle(bytes);
                    return Err(e);
                }
            };
            if n == 0 {
                self.partial.extend_from_slice(&bytes[..filled]);
                self.recycle(bytes);
                return Ok(Next::End);
            }
            self.position += n as u64;
            let read = filled..filled + n;
            filled += n;
            if let Some(last) = memchr::memrchr(b'\n', &bytes[read.clone()]) {
                let end = read.start + last + 1;
                self.partial.extend_from_slice(&bytes[end..filled]);
                bytes.truncate(end);
                return Ok(Next::Block(Block::lines(bytes)));
            }
        }
    }

    /// Reads and drops the rest of a line that is too long; whether its newline came (what
    /// follows it is kept).
    fn skip_long_line(&mut self) -> std::io::Result<bool> {
        self.partial.clear();
        let mut bytes = self.buffer();
        let result = loop {
            let n = match self.reader.read(&mut bytes) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            };
            if n == 0 {
                break Ok(false);
            }
            self.position += n as u64;
            if let Some(end) = memchr::memchr(b'\n', &bytes[..n]) {
                self.partial.extend_from_slice(&bytes[end + 1..n]);
                self.skipping = false;
                break Ok(true);
            }
        };
        self.recycle(bytes);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowlens_pipeline::{InputFormat, LineDecoder};

    /// What a reader gives: each block's text, `<too long>` where a line was skipped; at
    /// the end, the last line without a newline unless the input is `follow`ed.
    fn read_all<R: Read>(reader: &mut LineBlocks<R>, follow: bool) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            // Never more than a block's worth of a line held, whatever the input.
            assert!(reader.partial.capacity() <= BLOCK_BYTES + MAX_LINE_BYTES);
            match reader.next().unwrap() {
                Next::Block(b) => out.push(String::from_utf8(b.bytes().to_vec()).unwrap()),
                Next::LineTooLong => out.push("<too long>".into()),
                Next::End => break,
            }
        }
        if !follow && let Some(b) = reader.last_line() {
            out.push(String::from_utf8(b.into_buffer()).unwrap());
        }
        out
    }

    fn blocks(input: &[u8], follow: bool) -> Vec<String> {
        read_all(&mut LineBlocks::new(input), follow)
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
    fn a_file_is_read_in_blocks_holding_every_byte_once() {
        // Lines across block boundaries, one just under the cap, no newline at the end.
        let line = |i: usize| format!("{i:0>width$}\n", width = 1000 + i % 700);
        let mut input: String = (0..12_000).map(line).collect();
        input.push_str(&"x".repeat(MAX_LINE_BYTES - 1));
        input.push_str("\nlast");
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, input.as_bytes()).unwrap();
        std::io::Seek::rewind(&mut file).unwrap();
        let mut reader = LineBlocks::new(file);
        let got = read_all(&mut reader, false);
        assert!(got.len() > 3, "{}", got.len());
        assert!(got[..got.len() - 1].iter().all(|b| b.ends_with('\n')));
        assert_eq!(got.concat(), input);
        assert_eq!(reader.position(), input.len() as u64);
    }

    /// `len` bytes of `a` with no newline (as `cat /dev/zero | tr '\\0' a` gives), then
    /// `tail`; remembers the largest read it was asked for.
    struct Endless {
        left: usize,
        tail: &'static [u8],
        largest_read: usize,
    }

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.largest_read = self.largest_read.max(buf.len());
            if self.left > 0 {
                let n = buf.len().min(self.left).min(1 << 16);
                buf[..n].fill(b'a');
                self.left -= n;
                return Ok(n);
            }
            let n = buf.len().min(self.tail.len());
            buf[..n].copy_from_slice(&self.tail[..n]);
            self.tail = &self.tail[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_line_longer_than_the_cap_is_skipped_without_being_held() {
        let mut reader = LineBlocks::new(Endless {
            left: 64 << 20,
            tail: b"\ngood\n",
            largest_read: 0,
        });
        assert_eq!(read_all(&mut reader, false), ["<too long>", "good\n"]);
        assert!(reader.reader.largest_read <= BLOCK_BYTES);

        // Between good lines; at the end of the input without a newline; just at the cap.
        let cap = MAX_LINE_BYTES;
        let input = format!(
            "one\n{}\ntwo\n{}\nthree\n{}",
            "b".repeat(5 << 20),
            "c".repeat(cap),
            "d".repeat(cap + 1)
        );
        let mut reader = LineBlocks::new(Trickle(input.as_bytes()));
        let got = read_all(&mut reader, false).concat();
        let want = format!("one\n<too long>two\n{}\nthree\n<too long>", "c".repeat(cap));
        assert!(got == want, "{} bytes", got.len());
    }

    #[test]
    fn capped_lines_skip_what_is_too_long_and_keep_the_rest() {
        let input = format!(
            "one\r\n{}\ntwo\n{}\n{}",
            "x".repeat(MAX_LINE_BYTES),
            "y".repeat(5 << 20),
            "z"
        );
        let mut reader = std::io::BufReader::new(input.as_bytes());
        let mut line = Vec::new();
        let mut got = Vec::new();
        loop {
            match read_capped_line(&mut reader, &mut line).unwrap() {
                CappedLine::Line => got.push(String::from_utf8(line.clone()).unwrap()),
                CappedLine::TooLong => got.push("<too long>".into()),
                CappedLine::End => break,
            }
            assert!(line.capacity() <= 2 * (MAX_LINE_BYTES + 1));
        }
        assert_eq!(
            got,
            [
                "one".to_string(),
                "x".repeat(MAX_LINE_BYTES),
                "two".into(),
                "<too long>".into(),
                "z".into()
            ]
        );
    }

    #[test]
    fn a_followed_file_skips_a_long_line_still_being_written() {
        let mut reader = LineBlocks::new(Endless {
            left: 3 << 20,
            tail: b"",
            largest_read: 0,
        });
        assert_eq!(read_all(&mut reader, true), ["<too long>"]);
        // The rest of the line arrives, then a good one.
        reader.reader.left = 2 << 20;
        reader.reader.tail = b"\nnext\n";
        assert_eq!(read_all(&mut reader, true), ["next\n"]);
        // A line skipped up to the end of the input is not a last line too.
        reader.reader.left = 2 << 20;
        assert_eq!(read_all(&mut reader, false), ["<too long>"]);
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
        let mut take = |b: Block| {
            let mut decoded = decoder.decode_lines(b.bytes(), 1, |_| {});
            decoded.shift_lines(lines_before);
            lines_before += decoded.lines;
            rejected.extend(decoded.rejected.into_iter().map(|(n, _)| n));
        };
        while let Next::Block(b) = reader.next().unwrap() {
            take(b);
        }
        take(reader.last_line().unwrap());
        assert_eq!(lines_before, 4);
        assert_eq!(rejected, vec![1, 2, 3, 4]);
    }
}
