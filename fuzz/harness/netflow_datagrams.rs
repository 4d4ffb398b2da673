//! Feeds arbitrary datagrams from two exporters to one IPFIX/NetFlow decoder, so templates,
//! sequence numbers and time bases carry over from one datagram to the next. Input: a
//! series of `[exporter byte][u16 length][datagram]`. Decoding must never panic, and every
//! record it produces must be whole: its end not before its start.

use flowlens_sources::netflow::NetflowDecoder;
use std::net::SocketAddr;

pub fn run(input: &[u8]) {
    let exporters: [SocketAddr; 2] = [
        "192.0.2.1:4739".parse().unwrap(),
        "[2001:db8::1]:2055".parse().unwrap(),
    ];
    let mut decoder = NetflowDecoder::new();
    let mut out = Vec::new();
    let mut rest = input;
    while rest.len() >= 3 {
        let exporter = exporters[usize::from(rest[0] & 1)];
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
        let end = (3 + len).min(rest.len());
        let datagram = &rest[3..end];
        rest = &rest[end..];
        let before = out.len();
        let report = decoder.decode(exporter, datagram, &mut out);
        assert_eq!(report.records as usize, out.len() - before);
        for raw in &out[before..] {
            assert!(raw.start_time <= raw.end_time, "{raw:?}");
        }
    }
}
