//! Raw flow records as JSON lines: one `RawFlow` serialized with serde_json per line. This
//! is the raw-record file format the pipeline's ingest reads.

use flowlens_model::RawFlow;
use std::io::{self, Write};

/// Writes raw flow records as JSON lines. Buffer the inner writer (`BufWriter`) when it is
/// a file or socket.
pub struct JsonLinesWriter<W: Write> {
    inner: W,
    written: u64,
}

impl<W: Write> JsonLinesWriter<W> {
    pub fn new(inner: W) -> Self {
        JsonLinesWriter { inner, written: 0 }
    }

    pub fn write(&mut self, flow: &RawFlow) -> io::Result<()> {
        serde_json::to_writer(&mut self.inner, flow).map_err(io::Error::other)?;
        self.inner.write_all(b"\n")?;
        self.written += 1;
        Ok(())
    }

    pub fn write_all(&mut self, flows: &[RawFlow]) -> io::Result<()> {
        flows.iter().try_for_each(|f| self.write(f))
    }

    /// Records written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

/// One record as a JSON line, without the newline.
pub fn to_json_line(flow: &RawFlow) -> String {
    // Serializing plain data (numbers, strings, addresses) into a String cannot fail.
    serde_json::to_string(flow).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowlens_model::Protocol;

    #[test]
    fn lines_round_trip() {
        let flow = RawFlow {
            start_time: 1_700_000_000,
            end_time: 1_700_000_001,
            src_ip: "10.244.0.5".parse().expect("ip"),
            src_port: 40001,
            dst_ip: "10.96.0.10".parse().expect("ip"),
            dst_port: 53,
            proto: Protocol::Udp,
            bytes_out: 70,
            bytes_in: 130,
            packets_out: 1,
            packets_in: 1,
            process_name: Some("coredns".into()),
            process_id: None,
            reporter: None,
        };
        let mut w = JsonLinesWriter::new(Vec::new());
        w.write_all(&[flow.clone(), flow.clone()]).expect("write");
        assert_eq!(w.written(), 2);
        let text = String::from_utf8(w.into_inner()).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let back: RawFlow = serde_json::from_str(lines[0]).expect("parse");
        assert_eq!(back, flow);
        assert_eq!(to_json_line(&flow), lines[1]);
    }
}
