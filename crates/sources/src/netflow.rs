//! IPFIX, NetFlow v9 and NetFlow v5 over UDP (`ipfix://0.0.0.0:4739`,
//! `netflow://0.0.0.0:2055`): one socket takes all three, told apart by the version field.
//!
//! Decoding is `netflow_parser`'s scoped parser: templates are kept per exporter (address
//! and port) and observation domain (IPFIX) or source id (v9), as RFC 7011 and RFC 3954
//! scope them. On top of it this module keeps, per exporter and domain:
//!
//! - **sequence numbers**, to count gaps: v5 numbers flows, v9 export packets, IPFIX data
//!   records. Some exporters (softflowd 1.1) write IPFIX sequence numbers that already count
//!   the message's own records; the first unambiguous message tells which style an
//!   exporter uses. A gap adds to `lost_upstream` (flows for v5 and IPFIX, packets for v9);
//!   a step back is taken as an exporter restart, not a loss.
//! - **the time base**: v5 and v9 times are milliseconds of exporter uptime, placed on the
//!   clock by the header's export time; IPFIX times are absolute (`flowStart*Seconds`,
//!   `…Milliseconds`, `…Microseconds`, `…Nanoseconds`), relative to the export time
//!   (`flowStartDeltaMicroseconds`) or uptime with `systemInitTimeMilliseconds` from an
//!   options record. A record without any keeps the export time.
//!
//! Records become [`RawFlow`]s in the connection's direction. Most exporters write one
//! record per direction; the two records of one connection in the same message are merged
//! (`bytes_out` from the side that opened it, `bytes_in` from the other). Which side opened
//! it: the earlier start; on a tie, the ICMP echo request, or for ports the client side —
//! an ephemeral port (≥ 32768) against a lower one, else the higher port. A lone record
//! that goes from a lower port to an ephemeral one, or a lone ICMP echo reply, is taken as
//! a reply and turned around. IPFIX biflow records (RFC 5103 reverse elements) carry both
//! directions already. Records of the same connection in different messages are not
//! merged.

use crate::queue::{ItemSender, Sent, SourceItem};
use flowlens_model::{Protocol, RawFlow};
use netflow_parser::static_versions::v5::V5;
use netflow_parser::variable_versions::ipfix::lookup::IPFixField;
use netflow_parser::variable_versions::ipfix::{FlowSetBody as IpfixBody, IPFix};
use netflow_parser::variable_versions::v9::{FlowSetBody as V9Body, V9};
use netflow_parser::{AutoScopedParser, FieldValue, NetflowPacket};
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};

/// Seconds between the NTP epoch (1900) and the Unix epoch.
const NTP_UNIX_OFFSET_MS: u64 = 2_208_988_800_000;
/// Ports from here up are taken as client (ephemeral) ports.
const EPHEMERAL_PORTS: u16 = 32_768;
/// The IANA enterprise number of RFC 5103's reverse information elements.
const REVERSE_PEN: u32 = 29_305;

/// What one datagram held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DatagramReport {
    /// 5, 9 or 10 (IPFIX), when the header could be read.
    pub version: Option<u16>,
    /// Raw records produced.
    pub records: u64,
    /// Records the exporter says it sent that never arrived (packets for v9).
    pub lost: u64,
    /// Sequence discontinuities seen.
    pub gaps: u64,
    /// Flow records that could not become raw records (no addresses, or data for a template
    /// not yet received).
    pub unusable: u64,
    pub error: Option<String>,
}

/// Decodes datagrams into raw records; keeps templates, sequence numbers and time bases
/// per exporter. Synchronous, so it can be driven by the receiver, a benchmark or a fuzzer.
pub struct NetflowDecoder {
    parser: AutoScopedParser,
    streams: HashMap<StreamKey, StreamState>,
    records: Vec<Record>,
    /// Messages decoded so far: the clock that tells which streams went quiet.
    messages: u64,
}

/// Exporter streams tracked at most; beyond this the quietest half is forgotten (as the
/// parser forgets its least recently used exporters), so spoofed sources cannot grow the
/// state without bound.
const MAX_STREAMS: usize = 4096;

impl Default for NetflowDecoder {
    fn default() -> NetflowDecoder {
        NetflowDecoder::new()
    }
}

impl std::fmt::Debug for NetflowDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetflowDecoder")
            .field("streams", &self.streams.len())
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct StreamKey {
    exporter: SocketAddr,
    version: u16,
    domain: u32,
}

#[derive(Clone, Debug, Default)]
struct StreamState {
    /// When the stream's last message came, in messages decoded.
    seen_at: u64,
    /// The last message's sequence number and what it counted (flows, packets or data
    /// records); `None` when the count is unknown.
    last: Option<(u32, Option<u32>)>,
    style: Option<SequenceStyle>,
    /// IPFIX `systemInitTimeMilliseconds`: the exporter's boot time, Unix ms.
    system_init_ms: Option<u64>,
}

/// How an exporter numbers its messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SequenceStyle {
    /// RFC: what was sent before this message.
    Before,
    /// Including this message's own records.
    Including,
}

/// One flow record in exporter terms, before pairing.
#[derive(Clone, Debug)]
struct Record {
    src: IpAddr,
    dst: IpAddr,
    src_port: u16,
    dst_port: u16,
    proto: u8,
    icmp_type: Option<u8>,
    octets: u64,
    packets: u64,
    reverse_octets: u64,
    reverse_packets: u64,
    /// Carries both directions (RFC 5103).
    biflow: bool,
    start_ms: i64,
    end_ms: i64,
}

impl NetflowDecoder {
    pub fn new() -> NetflowDecoder {
        NetflowDecoder {
            parser: AutoScopedParser::new(),
            streams: HashMap::new(),
            records: Vec::new(),
            messages: 0,
        }
    }

    /// Decodes one datagram from `exporter`, appending its records to `out`. Never panics.
    pub fn decode(
        &mut self,
        exporter: SocketAddr,
        datagram: &[u8],
        out: &mut Vec<RawFlow>,
    ) -> DatagramReport {
        let mut report = DatagramReport {
            version: (datagram.len() >= 2).then(|| u16::from_be_bytes([datagram[0], datagram[1]])),
            ..DatagramReport::default()
        };
        let result = self.parser.parse_from_source(exporter, datagram);
        for packet in &result.packets {
            self.records.clear();
            match packet {
                NetflowPacket::V5(v5) => self.v5(exporter, v5, &mut report),
                NetflowPacket::V9(v9) => self.v9(exporter, v9, &mut report),
                NetflowPacket::IPFix(ipfix) => self.ipfix(exporter, ipfix, &mut report),
                _ => report.error = Some("only IPFIX and NetFlow v9 and v5 are read".into()),
            }
            let before = out.len();
            pair_into(&mut self.records, out);
            report.records += (out.len() - before) as u64;
        }
        if let Some(e) = result.error {
            report.error = Some(e.to_string());
        }
        report
    }

    fn v5(&mut self, exporter: SocketAddr, v5: &V5, report: &mut DatagramReport) {
        let h = &v5.header;
        let key = StreamKey {
            exporter,
            version: 5,
            domain: u32::from(h.engine_type) << 8 | u32::from(h.engine_id),
        };
        self.check_sequence(key, h.flow_sequence, Some(u32::from(h.count)), report);
        let export_ms = i64::from(h.unix_secs) * 1000 + i64::from(h.unix_nsecs / 1_000_000);
        let at = |uptime: u32| export_ms - i64::from(h.sys_up_time.wrapping_sub(uptime));
        for f in &v5.flowsets {
            let icmp = f.protocol_number == 1;
            let start_ms = at(f.first);
            self.records.push(Record {
                src: IpAddr::V4(f.src_addr),
                dst: IpAddr::V4(f.dst_addr),
                // v5 puts ICMP type and code in the destination port.
                src_port: if icmp { 0 } else { f.src_port },
                dst_port: if icmp { 0 } else { f.dst_port },
                proto: f.protocol_number,
                icmp_type: icmp.then_some((f.dst_port >> 8) as u8),
                octets: u64::from(f.d_octets),
                packets: u64::from(f.d_pkts),
                reverse_octets: 0,
                reverse_packets: 0,
                biflow: false,
                start_ms,
                // An end before the start is the exporter's mistake; keep the record.
                end_ms: at(f.last).max(start_ms),
            });
        }
    }

    fn v9(&mut self, exporter: SocketAddr, v9: &V9, report: &mut DatagramReport) {
        let h = &v9.header;
        let key = StreamKey {
            exporter,
            version: 9,
            domain: h.source_id,
        };
        self.check_sequence(key, h.sequence_number, Some(1), report);
        let export_ms = i64::from(h.unix_secs) * 1000;
        let clock = Clock {
            export_ms,
            uptime_ms: Some(i64::from(h.sys_up_time)),
            system_init_ms: None,
        };
        for set in &v9.flowsets {
            match &set.body {
                V9Body::Data(data) => {
                    for record in &data.fields {
                        let fields = record.iter().map(|(f, v)| (Some(u16::from(*f)), v));
                        match record_from(fields, &clock) {
                            Some(r) => self.records.push(r),
                            None => report.unusable += 1,
                        }
                    }
                }
                V9Body::NoTemplate(_) => report.unusable += 1,
                _ => {}
            }
        }
    }

    fn ipfix(&mut self, exporter: SocketAddr, ipfix: &IPFix, report: &mut DatagramReport) {
        let h = &ipfix.header;
        let key = StreamKey {
            exporter,
            version: 10,
            domain: h.observation_domain_id,
        };
        // Options first: they may carry the boot time the data records' times count from.
        let mut data_records = Some(0u32);
        for set in &ipfix.flowsets {
            match &set.body {
                IpfixBody::OptionsData(options) => {
                    for record in &options.fields {
                        add(&mut data_records, 1);
                        if let Some(init) = record.iter().find_map(|(f, v)| {
                            (ipfix_id(f) == Some(IE_SYSTEM_INIT_MS))
                                .then(|| v.as_u64())
                                .flatten()
                        }) {
                            self.stream(key).system_init_ms = Some(init);
                        }
                    }
                }
                IpfixBody::V9OptionsData(options) => {
                    add(&mut data_records, options.fields.len() as u32)
                }
                IpfixBody::Data(data) => add(&mut data_records, data.fields.len() as u32),
                IpfixBody::V9Data(data) => add(&mut data_records, data.fields.len() as u32),
                IpfixBody::NoTemplate(_) => data_records = None,
                _ => {}
            }
        }
        self.check_sequence(key, h.sequence_number, data_records, report);
        let clock = Clock {
            export_ms: i64::from(h.export_time) * 1000,
            uptime_ms: None,
            system_init_ms: self.streams.get(&key).and_then(|s| s.system_init_ms),
        };
        for set in &ipfix.flowsets {
            match &set.body {
                IpfixBody::Data(data) => {
                    for record in &data.fields {
                        let fields = record.iter().map(|(f, v)| (ipfix_id(f), v));
                        match record_from(fields, &clock) {
                            Some(r) => self.records.push(r),
                            None => report.unusable += 1,
                        }
                    }
                }
                IpfixBody::V9Data(data) => {
                    for record in &data.fields {
                        let fields = record.iter().map(|(f, v)| (Some(u16::from(*f)), v));
                        match record_from(fields, &clock) {
                            Some(r) => self.records.push(r),
                            None => report.unusable += 1,
                        }
                    }
                }
                IpfixBody::NoTemplate(_) => report.unusable += 1,
                _ => {}
            }
        }
    }

    /// The stream's state, made room for when it is new.
    fn stream(&mut self, key: StreamKey) -> &mut StreamState {
        self.messages += 1;
        if self.streams.len() >= MAX_STREAMS && !self.streams.contains_key(&key) {
            let mut ages: Vec<u64> = self.streams.values().map(|s| s.seen_at).collect();
            let middle = ages.len() / 2;
            let cutoff = *ages.select_nth_unstable(middle).1;
            self.streams.retain(|_, s| s.seen_at > cutoff);
        }
        let state = self.streams.entry(key).or_default();
        state.seen_at = self.messages;
        state
    }

    /// Compares a message's sequence number with what the stream's last message leads to
    /// expect. `count` is what this message adds to the sequence (`None`: unknown).
    fn check_sequence(
        &mut self,
        key: StreamKey,
        seq: u32,
        count: Option<u32>,
        report: &mut DatagramReport,
    ) {
        let state = self.stream(key);
        if let Some((last_seq, last_count)) = state.last {
            let before = last_count.map(|c| last_seq.wrapping_add(c));
            let including = count.map(|c| last_seq.wrapping_add(c));
            let expected = match state.style {
                Some(SequenceStyle::Before) => before,
                Some(SequenceStyle::Including) => including,
                None => match (before == Some(seq), including == Some(seq)) {
                    (true, false) => {
                        state.style = Some(SequenceStyle::Before);
                        before
                    }
                    (false, true) => {
                        state.style = Some(SequenceStyle::Including);
                        including
                    }
                    _ => before,
                },
            };
            if let Some(expected) = expected {
                let ahead = seq.wrapping_sub(expected);
                // Less than half the number space ahead is a gap; anything else is the
                // exporter starting over (or an old, reordered datagram).
                if ahead != 0 && ahead < 1 << 31 {
                    report.gaps += 1;
                    report.lost += u64::from(ahead);
                }
            }
        }
        state.last = Some((seq, count));
    }
}

fn add(total: &mut Option<u32>, n: u32) {
    if let Some(t) = total {
        *t = t.wrapping_add(n);
    }
}

/// The element ids this module reads; reverse elements (RFC 5103) get the high bit, as
/// their enterprise bit is written on the wire.
fn ipfix_id(field: &IPFixField) -> Option<u16> {
    use netflow_parser::variable_versions::ipfix::lookup::{
        IANAIPFixField as F, ReverseInformationElement as R,
    };
    Some(match field {
        IPFixField::IANA(f) => match f {
            F::OctetDeltaCount => IE_OCTET_DELTA,
            F::PacketDeltaCount => IE_PACKET_DELTA,
            F::ProtocolIdentifier => IE_PROTOCOL,
            F::SourceTransportPort => IE_SRC_PORT,
            F::SourceIpv4address => IE_SRC_V4,
            F::DestinationTransportPort => IE_DST_PORT,
            F::DestinationIpv4address => IE_DST_V4,
            F::FlowEndSysUpTime => IE_END_UPTIME,
            F::FlowStartSysUpTime => IE_START_UPTIME,
            F::SourceIpv6address => IE_SRC_V6,
            F::DestinationIpv6address => IE_DST_V6,
            F::IcmpTypeCodeIpv4 => IE_ICMP_V4,
            F::OctetTotalCount => IE_OCTET_TOTAL,
            F::PacketTotalCount => IE_PACKET_TOTAL,
            F::IcmpTypeCodeIpv6 => IE_ICMP_V6,
            F::FlowStartSeconds => IE_START_S,
            F::FlowEndSeconds => IE_END_S,
            F::FlowStartMilliseconds => IE_START_MS,
            F::FlowEndMilliseconds => IE_END_MS,
            F::FlowStartMicroseconds => IE_START_US,
            F::FlowEndMicroseconds => IE_END_US,
            F::FlowStartNanoseconds => IE_START_NS,
            F::FlowEndNanoseconds => IE_END_NS,
            F::FlowStartDeltaMicroseconds => IE_START_DELTA_US,
            F::FlowEndDeltaMicroseconds => IE_END_DELTA_US,
            F::SystemInitTimeMilliseconds => IE_SYSTEM_INIT_MS,
            _ => return None,
        },
        IPFixField::ReverseInformationElement(r) => match r {
            R::ReverseOctetDeltaCount => REVERSE | IE_OCTET_DELTA,
            R::ReversePacketDeltaCount => REVERSE | IE_PACKET_DELTA,
            R::ReverseOctetTotalCount => REVERSE | IE_OCTET_TOTAL,
            R::ReversePacketTotalCount => REVERSE | IE_PACKET_TOTAL,
            _ => return None,
        },
        IPFixField::Enterprise {
            enterprise_number: REVERSE_PEN,
            field_number,
        } => field_number | REVERSE,
        _ => return None,
    })
}

const IE_OCTET_DELTA: u16 = 1;
const IE_PACKET_DELTA: u16 = 2;
const IE_PROTOCOL: u16 = 4;
const IE_SRC_PORT: u16 = 7;
const IE_SRC_V4: u16 = 8;
const IE_DST_PORT: u16 = 11;
const IE_DST_V4: u16 = 12;
const IE_END_UPTIME: u16 = 21;
const IE_START_UPTIME: u16 = 22;
const IE_SRC_V6: u16 = 27;
const IE_DST_V6: u16 = 28;
const IE_ICMP_V4: u16 = 32;
const IE_OCTET_TOTAL: u16 = 85;
const IE_PACKET_TOTAL: u16 = 86;
const IE_ICMP_V6: u16 = 139;
const IE_START_S: u16 = 150;
const IE_END_S: u16 = 151;
const IE_START_MS: u16 = 152;
const IE_END_MS: u16 = 153;
const IE_START_US: u16 = 154;
const IE_END_US: u16 = 155;
const IE_START_NS: u16 = 156;
const IE_END_NS: u16 = 157;
const IE_START_DELTA_US: u16 = 158;
const IE_END_DELTA_US: u16 = 159;
const IE_SYSTEM_INIT_MS: u16 = 160;
const REVERSE: u16 = 0x8000;

/// What a message's times are relative to.
struct Clock {
    export_ms: i64,
    /// v9: the exporter's uptime at export, to place uptime stamps.
    uptime_ms: Option<i64>,
    /// IPFIX: the exporter's boot time, to place uptime stamps.
    system_init_ms: Option<u64>,
}

impl Clock {
    fn at_uptime(&self, uptime: u64) -> Option<i64> {
        if let Some(now) = self.uptime_ms {
            // Uptime is a wrapping 32-bit millisecond counter.
            let ago = (now as u32).wrapping_sub(uptime as u32);
            return Some(self.export_ms - i64::from(ago));
        }
        self.system_init_ms.map(|init| init as i64 + uptime as i64)
    }
}

/// A flow record from its `(element id, value)` pairs; `None` without both addresses.
fn record_from<'a>(
    fields: impl Iterator<Item = (Option<u16>, &'a FieldValue)>,
    clock: &Clock,
) -> Option<Record> {
    let mut r = Record {
        src: IpAddr::V4([0, 0, 0, 0].into()),
        dst: IpAddr::V4([0, 0, 0, 0].into()),
        src_port: 0,
        dst_port: 0,
        proto: 0,
        icmp_type: None,
        octets: 0,
        packets: 0,
        reverse_octets: 0,
        reverse_packets: 0,
        biflow: false,
        start_ms: clock.export_ms,
        end_ms: clock.export_ms,
    };
    let (mut src, mut dst) = (None, None);
    let (mut start, mut end) = (None, None);
    let (mut start_uptime, mut end_uptime) = (None, None);
    for (id, value) in fields {
        let Some(id) = id else { continue };
        let number = || value.as_u64();
        match id {
            IE_SRC_V4 | IE_SRC_V6 => src = ip(value).or(src),
            IE_DST_V4 | IE_DST_V6 => dst = ip(value).or(dst),
            IE_SRC_PORT => r.src_port = value.as_u16().unwrap_or(0),
            IE_DST_PORT => r.dst_port = value.as_u16().unwrap_or(0),
            IE_PROTOCOL => r.proto = value.as_u8().unwrap_or(0),
            IE_ICMP_V4 | IE_ICMP_V6 => r.icmp_type = value.as_u16().map(|t| (t >> 8) as u8),
            IE_OCTET_DELTA | IE_OCTET_TOTAL => r.octets = number().unwrap_or(0),
            IE_PACKET_DELTA | IE_PACKET_TOTAL => r.packets = number().unwrap_or(0),
            id if id == REVERSE | IE_OCTET_DELTA || id == REVERSE | IE_OCTET_TOTAL => {
                r.reverse_octets = number().unwrap_or(0);
                r.biflow = true;
            }
            id if id == REVERSE | IE_PACKET_DELTA || id == REVERSE | IE_PACKET_TOTAL => {
                r.reverse_packets = number().unwrap_or(0);
                r.biflow = true;
            }
            IE_START_S | IE_START_MS => start = number().map(|ms| ms as i64),
            IE_END_S | IE_END_MS => end = number().map(|ms| ms as i64),
            IE_START_US | IE_START_NS => start = ntp_ms(value),
            IE_END_US | IE_END_NS => end = ntp_ms(value),
            IE_START_DELTA_US => start = number().map(|us| clock.export_ms - (us / 1000) as i64),
            IE_END_DELTA_US => end = number().map(|us| clock.export_ms - (us / 1000) as i64),
            IE_START_UPTIME => start_uptime = number(),
            IE_END_UPTIME => end_uptime = number(),
            _ => {}
        }
    }
    r.src = src?;
    r.dst = dst?;
    if r.proto == 1 || r.proto == 58 {
        // ICMP has no ports; v9 exporters often put type and code in the destination port.
        if r.icmp_type.is_none() && r.dst_port != 0 {
            r.icmp_type = Some((r.dst_port >> 8) as u8);
        }
        r.src_port = 0;
        r.dst_port = 0;
    }
    r.start_ms = start
        .or_else(|| start_uptime.and_then(|u| clock.at_uptime(u)))
        .unwrap_or(clock.export_ms);
    r.end_ms = end
        .or_else(|| end_uptime.and_then(|u| clock.at_uptime(u)))
        .unwrap_or(r.start_ms)
        .max(r.start_ms);
    Some(r)
}

fn ip(value: &FieldValue) -> Option<IpAddr> {
    match value {
        FieldValue::Ip4Addr(a) => Some(IpAddr::V4(*a)),
        FieldValue::Ip6Addr(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

/// NTP-format timestamps (seconds since 1900) as Unix milliseconds.
fn ntp_ms(value: &FieldValue) -> Option<i64> {
    value
        .as_u64()
        .and_then(|ms| ms.checked_sub(NTP_UNIX_OFFSET_MS))
        .map(|ms| ms as i64)
}

/// A connection's protocol and ends, in the same order whichever way a record goes.
type ConnectionKey = (u8, (IpAddr, u16), (IpAddr, u16));

fn connection_key(r: &Record) -> ConnectionKey {
    let a = (r.src, r.src_port);
    let b = (r.dst, r.dst_port);
    if a <= b {
        (r.proto, a, b)
    } else {
        (r.proto, b, a)
    }
}

/// Merges the two directions of each connection in `records` and appends raw records.
fn pair_into(records: &mut Vec<Record>, out: &mut Vec<RawFlow>) {
    let mut open: HashMap<ConnectionKey, usize> = HashMap::new();
    let mut partner: Vec<Option<usize>> = vec![None; records.len()];
    for (i, r) in records.iter().enumerate() {
        if r.biflow {
            continue;
        }
        let key = connection_key(r);
        match open.get(&key) {
            Some(&j) if records[j].src == r.dst && records[j].src_port == r.dst_port => {
                partner[j] = Some(i);
                partner[i] = Some(j);
                open.remove(&key);
            }
            _ => {
                open.insert(key, i);
            }
        }
    }
    for (i, r) in records.iter().enumerate() {
        let raw = match partner[i] {
            Some(j) if j < i => continue,
            Some(j) => {
                let other = &records[j];
                if opened_first(r, other) {
                    merged(r, other)
                } else {
                    merged(other, r)
                }
            }
            None if !r.biflow && looks_like_reply(r) => reversed(r),
            None => merged_alone(r),
        };
        out.push(raw);
    }
    records.clear();
}

fn is_echo_request(r: &Record) -> bool {
    matches!((r.proto, r.icmp_type), (1, Some(8)) | (58, Some(128)))
}

fn is_echo_reply(r: &Record) -> bool {
    matches!((r.proto, r.icmp_type), (1, Some(0)) | (58, Some(129)))
}

fn client_port(port: u16) -> bool {
    port >= EPHEMERAL_PORTS
}

/// Whether `a` (rather than its reverse `b`) is the direction that opened the connection.
fn opened_first(a: &Record, b: &Record) -> bool {
    if a.start_ms != b.start_ms {
        return a.start_ms < b.start_ms;
    }
    if is_echo_request(a) || is_echo_reply(b) {
        return true;
    }
    if is_echo_request(b) || is_echo_reply(a) {
        return false;
    }
    match (client_port(a.src_port), client_port(b.src_port)) {
        (true, false) => true,
        (false, true) => false,
        _ => a.src_port >= b.src_port,
    }
}

fn looks_like_reply(r: &Record) -> bool {
    if is_echo_reply(r) {
        return true;
    }
    r.src_port != 0 && !client_port(r.src_port) && client_port(r.dst_port)
}

fn raw_flow(r: &Record) -> RawFlow {
    RawFlow {
        start_time: r.start_ms.div_euclid(1000),
        end_time: r.end_ms.div_euclid(1000),
        src_ip: r.src,
        src_port: r.src_port,
        dst_ip: r.dst,
        dst_port: r.dst_port,
        proto: Protocol::from_number(r.proto),
        bytes_out: r.octets,
        bytes_in: r.reverse_octets,
        packets_out: r.packets,
        packets_in: r.reverse_packets,
        process_name: None,
        process_id: None,
        reporter: None,
    }
}

fn merged_alone(r: &Record) -> RawFlow {
    raw_flow(r)
}

fn merged(opener: &Record, answer: &Record) -> RawFlow {
    let mut raw = raw_flow(opener);
    raw.bytes_in = answer.octets;
    raw.packets_in = answer.packets;
    raw.start_time = opener.start_ms.min(answer.start_ms).div_euclid(1000);
    raw.end_time = opener.end_ms.max(answer.end_ms).div_euclid(1000);
    raw
}

fn reversed(r: &Record) -> RawFlow {
    let mut raw = raw_flow(r);
    std::mem::swap(&mut raw.src_ip, &mut raw.dst_ip);
    std::mem::swap(&mut raw.src_port, &mut raw.dst_port);
    std::mem::swap(&mut raw.bytes_out, &mut raw.bytes_in);
    std::mem::swap(&mut raw.packets_out, &mut raw.packets_in);
    raw
}

/// A UDP socket bound to `addr` with a large receive buffer, for [`NetflowReceiver::from_std`]
/// (binding needs no runtime, so a command can report a port in use before it starts one).
pub fn bind_udp(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    // The kernel may grant less (net.core.rmem_max); that is not an error.
    let _ = socket.set_recv_buffer_size(RECEIVE_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Receives IPFIX and NetFlow datagrams on one UDP socket and queues their records.
#[derive(Debug)]
pub struct NetflowReceiver {
    socket: tokio::net::UdpSocket,
    decoder: NetflowDecoder,
}

/// The kernel receive buffer asked for: bursts of export packets wait here while a record
/// batch is being queued.
const RECEIVE_BUFFER: usize = 8 << 20;

impl NetflowReceiver {
    /// Binds `addr` with a large receive buffer.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<NetflowReceiver> {
        NetflowReceiver::from_std(bind_udp(addr)?)
    }

    /// Takes a socket bound elsewhere (in another network namespace, say).
    pub fn from_std(socket: std::net::UdpSocket) -> std::io::Result<NetflowReceiver> {
        socket.set_nonblocking(true)?;
        Ok(NetflowReceiver {
            socket: tokio::net::UdpSocket::from_std(socket)?,
            decoder: NetflowDecoder::new(),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Receives until `shutdown` resolves or the consumer goes away. Socket errors are
    /// counted and receiving goes on.
    pub async fn run(
        mut self,
        tx: ItemSender,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let counters = tx.counters().clone();
        let _bound = crate::connected_guard(&counters);
        let mut buf = vec![0u8; 65_536];
        let mut records = Vec::with_capacity(64);
        tokio::pin!(shutdown);
        loop {
            let (len, from) = tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = tx.closed() => return Ok(()),
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok(r) => r,
                    Err(e) => {
                        counters.error(format!("receive: {e}"));
                        continue;
                    }
                },
            };
            let report = self.decoder.decode(from, &buf[..len], &mut records);
            if report.gaps > 0 {
                counters.add_lost_upstream(report.lost);
                counters.add_sequence_gaps(report.gaps);
            }
            if report.unusable > 0 {
                counters.add_ignored(report.unusable);
            }
            if let Some(e) = &report.error {
                counters.error(format!("{from}: {e}"));
            }
            for raw in records.drain(..) {
                if tx.send(SourceItem::Raw(raw)) == Sent::Closed {
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Source, destination, ports, protocol, packets, octets.
    type V5Flow = ([u8; 4], [u8; 4], u16, u16, u8, u32, u32);

    fn v5_datagram(sequence: u32, flows: &[V5Flow]) -> Vec<u8> {
        let mut d = Vec::new();
        d.extend_from_slice(&5u16.to_be_bytes());
        d.extend_from_slice(&(flows.len() as u16).to_be_bytes());
        d.extend_from_slice(&10_000u32.to_be_bytes()); // uptime ms
        d.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        d.extend_from_slice(&0u32.to_be_bytes());
        d.extend_from_slice(&sequence.to_be_bytes());
        d.extend_from_slice(&[0, 0, 0, 0]);
        for &(src, dst, sport, dport, proto, pkts, octets) in flows {
            d.extend_from_slice(&src);
            d.extend_from_slice(&dst);
            d.extend_from_slice(&[0; 4]); // next hop
            d.extend_from_slice(&[0; 4]); // interfaces
            d.extend_from_slice(&pkts.to_be_bytes());
            d.extend_from_slice(&octets.to_be_bytes());
            d.extend_from_slice(&4_000u32.to_be_bytes()); // first
            d.extend_from_slice(&9_000u32.to_be_bytes()); // last
            d.extend_from_slice(&sport.to_be_bytes());
            d.extend_from_slice(&dport.to_be_bytes());
            d.extend_from_slice(&[0, 0x1b, proto, 0]);
            d.extend_from_slice(&[0; 8]);
        }
        d
    }

    const CLIENT: [u8; 4] = [10, 1, 0, 5];
    const SERVER: [u8; 4] = [10, 2, 0, 9];

    #[test]
    fn both_directions_become_one_record_from_the_client() {
        let exporter: SocketAddr = "192.0.2.1:9995".parse().unwrap();
        let mut d = NetflowDecoder::new();
        let mut out = Vec::new();
        // The server's direction first, to show order does not decide.
        let datagram = v5_datagram(
            0,
            &[
                (SERVER, CLIENT, 443, 51_000, 6, 4, 4_000),
                (CLIENT, SERVER, 51_000, 443, 6, 6, 900),
                (CLIENT, SERVER, 0, 2048, 1, 3, 252),
                (SERVER, CLIENT, 0, 0, 1, 3, 252),
            ],
        );
        let report = d.decode(exporter, &datagram, &mut out);
        assert_eq!(
            (report.version, report.records, report.error),
            (Some(5), 2, None)
        );
        let tcp = &out[0];
        assert_eq!(tcp.src_ip, IpAddr::from(CLIENT));
        assert_eq!(
            (tcp.src_port, tcp.dst_port, tcp.proto),
            (51_000, 443, Protocol::Tcp)
        );
        assert_eq!(
            (tcp.bytes_out, tcp.bytes_in, tcp.packets_out, tcp.packets_in),
            (900, 4_000, 6, 4)
        );
        // Uptime 4 s and 9 s against an export at uptime 10 s, 1 700 000 000.
        assert_eq!(
            (tcp.start_time, tcp.end_time),
            (1_699_999_994, 1_699_999_999)
        );
        let icmp = &out[1];
        assert_eq!(
            (icmp.src_ip, icmp.proto),
            (IpAddr::from(CLIENT), Protocol::Icmp)
        );
        assert_eq!((icmp.bytes_out, icmp.bytes_in), (252, 252));
    }

    #[test]
    fn a_lone_reply_is_turned_around() {
        let exporter: SocketAddr = "192.0.2.1:9995".parse().unwrap();
        let mut out = Vec::new();
        NetflowDecoder::new().decode(
            exporter,
            &v5_datagram(0, &[(SERVER, CLIENT, 5432, 40_000, 6, 2, 300)]),
            &mut out,
        );
        let raw = &out[0];
        assert_eq!(
            (raw.src_ip, raw.src_port, raw.dst_port),
            (IpAddr::from(CLIENT), 40_000, 5432)
        );
        assert_eq!((raw.bytes_out, raw.bytes_in), (0, 300));
    }

    #[test]
    fn v5_sequence_gaps_are_counted_per_exporter_and_engine() {
        let a: SocketAddr = "192.0.2.1:9995".parse().unwrap();
        let b: SocketAddr = "192.0.2.2:9995".parse().unwrap();
        let flow = (CLIENT, SERVER, 51_000, 443, 6, 1, 60);
        let mut d = NetflowDecoder::new();
        let mut out = Vec::new();
        assert_eq!(
            d.decode(a, &v5_datagram(100, &[flow, flow]), &mut out).gaps,
            0
        );
        assert_eq!(d.decode(b, &v5_datagram(7, &[flow]), &mut out).gaps, 0);
        assert_eq!(d.decode(a, &v5_datagram(102, &[flow]), &mut out).gaps, 0);
        let r = d.decode(a, &v5_datagram(110, &[flow]), &mut out);
        assert_eq!((r.gaps, r.lost), (1, 7));
        // A restart (the sequence goes back) is not a loss.
        let r = d.decode(a, &v5_datagram(0, &[flow]), &mut out);
        assert_eq!((r.gaps, r.lost), (0, 0));
        assert_eq!(d.decode(b, &v5_datagram(8, &[flow]), &mut out).gaps, 0);
    }

    #[test]
    fn exporter_state_stays_bounded() {
        let mut d = NetflowDecoder::new();
        let mut out = Vec::new();
        let flow = (CLIENT, SERVER, 51_000, 443, 6, 1, 60);
        for port in 0..(MAX_STREAMS as u16 + 1000) {
            let exporter = SocketAddr::from(([192, 0, 2, 1], port));
            d.decode(exporter, &v5_datagram(0, &[flow]), &mut out);
            assert!(d.streams.len() <= MAX_STREAMS);
        }
        // The newest exporters are still known: their next packet is checked.
        let last = SocketAddr::from(([192, 0, 2, 1], MAX_STREAMS as u16 + 999));
        assert_eq!(d.decode(last, &v5_datagram(5, &[flow]), &mut out).gaps, 1);
    }

    #[test]
    fn garbage_is_reported_not_panicked_on() {
        let exporter: SocketAddr = "192.0.2.1:9995".parse().unwrap();
        let mut d = NetflowDecoder::new();
        let mut out = Vec::new();
        for datagram in [
            &[][..],
            &[0, 5],
            &[0, 10, 0, 16, 0, 0],
            &[0, 9, 0, 1, 2, 3, 4],
            &[1; 40],
        ] {
            let r = d.decode(exporter, datagram, &mut out);
            assert!(r.error.is_some() || r.records == 0, "{datagram:?}");
        }
        assert!(out.is_empty());
    }
}
