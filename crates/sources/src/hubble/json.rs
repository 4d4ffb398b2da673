//! `hubble observe -o jsonpb`: one `GetFlowsResponse` per line in protobuf's JSON mapping
//! (Hubble prints proto field names; the JSON names, e.g. `sourcePort`, are accepted too, as
//! protobuf's own parser accepts them). Enums are names or numbers, 64-bit integers strings
//! or numbers, timestamps RFC 3339. Unknown fields are skipped, like `hubble observe
//! --input-file` does. Each line becomes the protobuf message the gRPC client receives, and
//! from there the same [`observed_flow`] mapping.

use super::{HubbleError, Skipped, err, observed_flow};
use crate::proto::flow as pb;
use crate::queue::{ItemSender, ObservedFlow, Sent, SourceItem};
use serde::Deserialize;
use serde::de::{self, Deserializer};
use std::io::BufRead;

/// What one line held.
#[derive(Clone, Debug, PartialEq)]
pub enum HubbleEvent {
    Flow(Box<ObservedFlow>),
    /// A flow event that is not a connection (L7, socket trace, non-IP).
    Skipped(Skipped),
    /// Hubble reporting events it lost before sending them.
    Lost(u64),
    /// A node status notice from Hubble Relay.
    NodeStatus,
    /// A blank line.
    Empty,
}

/// Decodes one line of `hubble observe -o jsonpb` output. Never panics.
pub fn decode_jsonpb_line(line: &str) -> Result<HubbleEvent, HubbleError> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(HubbleEvent::Empty);
    }
    let response: Response = serde_json::from_str(line)
        .map_err(|e| HubbleError(format!("not a Hubble jsonpb line: {e}")))?;
    let time = response.time.as_deref().map(timestamp).transpose()?;
    if let Some(flow) = response.flow {
        let drop_reason_name = flow.drop_reason_name();
        let flow = flow.into_proto()?;
        return Ok(
            match observed_flow(
                flow,
                response.node_name.as_deref().unwrap_or(""),
                time.as_ref(),
            )? {
                Ok(mut observed) => {
                    if let Some(name) = drop_reason_name {
                        observed.observation.drop_reason = Some(name);
                    }
                    HubbleEvent::Flow(Box::new(observed))
                }
                Err(skipped) => HubbleEvent::Skipped(skipped),
            },
        );
    }
    if let Some(lost) = response.lost_events {
        return Ok(HubbleEvent::Lost(lost.num_events_lost.map_or(0, |n| n.0)));
    }
    if response.node_status.is_some() {
        return Ok(HubbleEvent::NodeStatus);
    }
    err("line holds neither a flow, a lost-events notice nor a node status")
}

/// What [`read_jsonpb`] read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JsonpbReport {
    pub lines: u64,
    pub flows: u64,
    pub skipped: u64,
    pub rejected: u64,
    /// The first rejected lines: line number (one-based) and reason.
    pub rejections: Vec<(u64, String)>,
}

const REJECTIONS_KEPT: usize = 100;

/// Reads a whole `hubble observe -o jsonpb` file into `tx`, counting on its counters.
/// Stops early only when the consumer has gone. Lines that are not valid are counted and
/// their reasons kept (the first hundred).
pub fn read_jsonpb(reader: impl BufRead, tx: &ItemSender) -> std::io::Result<JsonpbReport> {
    let mut report = JsonpbReport::default();
    let counters = tx.counters();
    for line in reader.lines() {
        let line = line?;
        report.lines += 1;
        match decode_jsonpb_line(&line) {
            Ok(HubbleEvent::Flow(flow)) => {
                report.flows += 1;
                if tx.send(SourceItem::Observed(flow)) == Sent::Closed {
                    break;
                }
            }
            Ok(HubbleEvent::Skipped(_) | HubbleEvent::NodeStatus) => {
                report.skipped += 1;
                counters.add_ignored(1);
            }
            Ok(HubbleEvent::Lost(n)) => counters.add_lost_upstream(n),
            Ok(HubbleEvent::Empty) => {}
            Err(e) => {
                report.rejected += 1;
                counters.error(format!("line {}: {e}", report.lines));
                if report.rejections.len() < REJECTIONS_KEPT {
                    report.rejections.push((report.lines, e.0));
                }
            }
        }
    }
    Ok(report)
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    flow: Option<JsonFlow>,
    #[serde(default, alias = "nodeStatus")]
    node_status: Option<de::IgnoredAny>,
    #[serde(default, alias = "lostEvents")]
    lost_events: Option<JsonLostEvent>,
    #[serde(default, alias = "nodeName")]
    node_name: Option<String>,
    #[serde(default)]
    time: Option<String>,
}

#[derive(Deserialize)]
struct JsonLostEvent {
    #[serde(default, alias = "numEventsLost")]
    num_events_lost: Option<Int>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct JsonFlow {
    time: Option<String>,
    uuid: Option<String>,
    verdict: Option<EnumValue>,
    #[serde(rename = "IP")]
    ip: Option<JsonIp>,
    l4: Option<JsonLayer4>,
    source: Option<JsonEndpoint>,
    destination: Option<JsonEndpoint>,
    #[serde(rename = "Type")]
    flow_type: Option<EnumValue>,
    #[serde(alias = "nodeName")]
    node_name: Option<String>,
    #[serde(alias = "sourceService")]
    source_service: Option<JsonService>,
    #[serde(alias = "destinationService")]
    destination_service: Option<JsonService>,
    #[serde(alias = "trafficDirection")]
    traffic_direction: Option<EnumValue>,
    #[serde(alias = "policyMatchType")]
    policy_match_type: Option<Int>,
    #[serde(alias = "traceObservationPoint")]
    trace_observation_point: Option<EnumValue>,
    #[serde(alias = "dropReasonDesc")]
    drop_reason_desc: Option<EnumValue>,
    #[serde(alias = "isReply")]
    is_reply: Option<bool>,
    #[serde(alias = "egressAllowedBy")]
    egress_allowed_by: Option<Vec<JsonPolicy>>,
    #[serde(alias = "ingressAllowedBy")]
    ingress_allowed_by: Option<Vec<JsonPolicy>>,
    #[serde(alias = "egressDeniedBy")]
    egress_denied_by: Option<Vec<JsonPolicy>>,
    #[serde(alias = "ingressDeniedBy")]
    ingress_denied_by: Option<Vec<JsonPolicy>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct JsonIp {
    source: Option<String>,
    destination: Option<String>,
    #[serde(alias = "sourceXlated")]
    source_xlated: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct JsonLayer4 {
    #[serde(rename = "TCP")]
    tcp: Option<JsonPorts>,
    #[serde(rename = "UDP")]
    udp: Option<JsonPorts>,
    #[serde(rename = "SCTP")]
    sctp: Option<JsonPorts>,
    #[serde(rename = "ICMPv4")]
    icmpv4: Option<JsonIcmp>,
    #[serde(rename = "ICMPv6")]
    icmpv6: Option<JsonIcmp>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct JsonPorts {
    #[serde(alias = "sourcePort")]
    source_port: Option<Int>,
    #[serde(alias = "destinationPort")]
    destination_port: Option<Int>,
    flags: Option<JsonTcpFlags>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct JsonTcpFlags {
    #[serde(rename = "SYN")]
    syn: bool,
    #[serde(rename = "ACK")]
    ack: bool,
    #[serde(rename = "FIN")]
    fin: bool,
    #[serde(rename = "RST")]
    rst: bool,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct JsonIcmp {
    #[serde(rename = "type")]
    icmp_type: Option<Int>,
    code: Option<Int>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct JsonEndpoint {
    #[serde(rename = "ID")]
    id: Option<Int>,
    identity: Option<Int>,
    #[serde(alias = "clusterName")]
    cluster_name: Option<String>,
    namespace: Option<String>,
    labels: Option<Vec<String>>,
    #[serde(alias = "podName")]
    pod_name: Option<String>,
    workloads: Option<Vec<JsonWorkload>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct JsonWorkload {
    name: Option<String>,
    kind: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct JsonService {
    name: Option<String>,
    namespace: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct JsonPolicy {
    name: Option<String>,
    namespace: Option<String>,
    labels: Option<Vec<String>>,
    revision: Option<Int>,
    kind: Option<String>,
}

/// An enum as protobuf's JSON writes it: its name, or its number.
enum EnumValue {
    Name(String),
    Number(i64),
}

impl<'de> Deserialize<'de> for EnumValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(EnumValue::Name(s)),
            serde_json::Value::Number(n) => n
                .as_i64()
                .map(EnumValue::Number)
                .ok_or_else(|| de::Error::custom(format!("enum value {n} is not an integer"))),
            other => Err(de::Error::custom(format!(
                "enum value {other} is not a name or a number"
            ))),
        }
    }
}

/// An integer as protobuf's JSON writes it: a number, or (for 64-bit ones) a string.
struct Int(u64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => n
                .as_u64()
                .map(Int)
                .ok_or_else(|| de::Error::custom(format!("{n} is not an unsigned integer"))),
            serde_json::Value::String(s) => s
                .parse()
                .map(Int)
                .map_err(|_| de::Error::custom(format!("{s:?} is not an unsigned integer"))),
            other => Err(de::Error::custom(format!("{other} is not an integer"))),
        }
    }
}

fn enum_number<E: Into<i32>>(
    value: &Option<EnumValue>,
    from_name: fn(&str) -> Option<E>,
    field: &str,
) -> Result<i32, HubbleError> {
    match value {
        None => Ok(0),
        Some(EnumValue::Name(name)) => from_name(name)
            .map(Into::into)
            .ok_or_else(|| HubbleError(format!("{field}: unknown value {name:?}"))),
        Some(EnumValue::Number(n)) => {
            i32::try_from(*n).or_else(|_| err(format!("{field}: {n} is out of range")))
        }
    }
}

fn u32_field(value: &Option<Int>, field: &str) -> Result<u32, HubbleError> {
    match value {
        None => Ok(0),
        Some(Int(n)) => u32::try_from(*n).or_else(|_| err(format!("{field}: {n} is out of range"))),
    }
}

fn text(value: Option<String>) -> String {
    value.unwrap_or_default()
}

impl JsonFlow {
    /// A drop reason whose name these definitions do not know: kept by name.
    fn drop_reason_name(&self) -> Option<String> {
        match &self.drop_reason_desc {
            Some(EnumValue::Name(name)) if pb::DropReason::from_str_name(name).is_none() => {
                Some(name.clone())
            }
            _ => None,
        }
    }

    fn into_proto(self) -> Result<pb::Flow, HubbleError> {
        let drop_reason_desc = match (&self.drop_reason_desc, self.drop_reason_name()) {
            (_, Some(_)) => 0,
            (value, None) => enum_number(value, pb::DropReason::from_str_name, "drop_reason_desc")?,
        };
        Ok(pb::Flow {
            time: self.time.as_deref().map(timestamp).transpose()?,
            uuid: text(self.uuid),
            verdict: enum_number(&self.verdict, pb::Verdict::from_str_name, "verdict")?,
            ip: self.ip.map(|ip| pb::Ip {
                source: text(ip.source),
                source_xlated: text(ip.source_xlated),
                destination: text(ip.destination),
                ..Default::default()
            }),
            l4: self.l4.map(layer4).transpose()?,
            source: self.source.map(endpoint).transpose()?,
            destination: self.destination.map(endpoint).transpose()?,
            r#type: enum_number(&self.flow_type, pb::FlowType::from_str_name, "Type")?,
            node_name: text(self.node_name),
            source_service: self.source_service.map(service),
            destination_service: self.destination_service.map(service),
            traffic_direction: enum_number(
                &self.traffic_direction,
                pb::TrafficDirection::from_str_name,
                "traffic_direction",
            )?,
            policy_match_type: u32_field(&self.policy_match_type, "policy_match_type")?,
            trace_observation_point: enum_number(
                &self.trace_observation_point,
                pb::TraceObservationPoint::from_str_name,
                "trace_observation_point",
            )?,
            drop_reason_desc,
            is_reply: self.is_reply,
            egress_allowed_by: policies(self.egress_allowed_by)?,
            ingress_allowed_by: policies(self.ingress_allowed_by)?,
            egress_denied_by: policies(self.egress_denied_by)?,
            ingress_denied_by: policies(self.ingress_denied_by)?,
        })
    }
}

fn layer4(l4: JsonLayer4) -> Result<pb::Layer4, HubbleError> {
    use pb::layer4::Protocol;
    let ports = |p: &JsonPorts, proto: &str| -> Result<(u32, u32), HubbleError> {
        Ok((
            u32_field(&p.source_port, &format!("{proto}.source_port"))?,
            u32_field(&p.destination_port, &format!("{proto}.destination_port"))?,
        ))
    };
    let icmp = |i: &JsonIcmp| -> Result<(u32, u32), HubbleError> {
        Ok((
            u32_field(&i.icmp_type, "ICMP type")?,
            u32_field(&i.code, "ICMP code")?,
        ))
    };
    let protocol = if let Some(p) = &l4.tcp {
        let (source_port, destination_port) = ports(p, "TCP")?;
        Some(Protocol::Tcp(pb::Tcp {
            source_port,
            destination_port,
            flags: p.flags.as_ref().map(|f| pb::TcpFlags {
                syn: f.syn,
                ack: f.ack,
                fin: f.fin,
                rst: f.rst,
                ..Default::default()
            }),
        }))
    } else if let Some(p) = &l4.udp {
        let (source_port, destination_port) = ports(p, "UDP")?;
        Some(Protocol::Udp(pb::Udp {
            source_port,
            destination_port,
        }))
    } else if let Some(p) = &l4.sctp {
        let (source_port, destination_port) = ports(p, "SCTP")?;
        Some(Protocol::Sctp(pb::Sctp {
            source_port,
            destination_port,
        }))
    } else if let Some(i) = &l4.icmpv4 {
        let (r#type, code) = icmp(i)?;
        Some(Protocol::IcmPv4(pb::IcmPv4 { r#type, code }))
    } else if let Some(i) = &l4.icmpv6 {
        let (r#type, code) = icmp(i)?;
        Some(Protocol::IcmPv6(pb::IcmPv6 { r#type, code }))
    } else {
        None
    };
    Ok(pb::Layer4 { protocol })
}

fn endpoint(ep: JsonEndpoint) -> Result<pb::Endpoint, HubbleError> {
    Ok(pb::Endpoint {
        id: u32_field(&ep.id, "ID")?,
        identity: u32_field(&ep.identity, "identity")?,
        cluster_name: text(ep.cluster_name),
        namespace: text(ep.namespace),
        labels: ep.labels.unwrap_or_default(),
        pod_name: text(ep.pod_name),
        workloads: ep
            .workloads
            .unwrap_or_default()
            .into_iter()
            .map(|w| pb::Workload {
                name: text(w.name),
                kind: text(w.kind),
            })
            .collect(),
    })
}

fn service(s: JsonService) -> pb::Service {
    pb::Service {
        name: text(s.name),
        namespace: text(s.namespace),
    }
}

fn policies(list: Option<Vec<JsonPolicy>>) -> Result<Vec<pb::Policy>, HubbleError> {
    list.unwrap_or_default()
        .into_iter()
        .map(|p| {
            Ok(pb::Policy {
                name: text(p.name),
                namespace: text(p.namespace),
                labels: p.labels.unwrap_or_default(),
                revision: p.revision.map_or(0, |r| r.0),
                kind: text(p.kind),
            })
        })
        .collect()
}

/// An RFC 3339 timestamp (`2024-05-01T10:11:12.123456789Z`, or with an offset) as
/// protobuf's `Timestamp`.
pub(crate) fn timestamp(text: &str) -> Result<prost_types::Timestamp, HubbleError> {
    let bad = |why: &str| HubbleError(format!("time {text:?}: {why}"));
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Result<i64, HubbleError> {
        let part = b.get(range).ok_or_else(|| bad("too short"))?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return Err(bad("expected digits"));
        }
        Ok(part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let expect = |at: usize, options: &[u8]| -> Result<(), HubbleError> {
        match b.get(at) {
            Some(c) if options.contains(c) => Ok(()),
            _ => Err(bad("not RFC 3339")),
        }
    };
    let year = digits(0..4)?;
    expect(4, b"-")?;
    let month = digits(5..7)?;
    expect(7, b"-")?;
    let day = digits(8..10)?;
    expect(10, b"Tt ")?;
    let hour = digits(11..13)?;
    expect(13, b":")?;
    let minute = digits(14..16)?;
    expect(16, b":")?;
    let second = digits(17..19)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(bad("no such date"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(bad("no such time of day"));
    }
    let mut at = 19;
    let mut nanos = 0i64;
    if b.get(at) == Some(&b'.') {
        let start = at + 1;
        let end = start + b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
        if end == start || end - start > 9 {
            return Err(bad("fraction must have 1 to 9 digits"));
        }
        nanos = digits(start..end)? * 10i64.pow(9 - (end - start) as u32);
        at = end;
    }
    let offset = match b.get(at) {
        Some(b'Z' | b'z') if at + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if at + 6 == b.len() => {
            expect(at + 3, b":")?;
            let (h, m) = (digits(at + 1..at + 3)?, digits(at + 4..at + 6)?);
            if h > 23 || m > 59 {
                return Err(bad("bad offset"));
            }
            let minutes = h * 60 + m;
            if *sign == b'+' { minutes } else { -minutes }
        }
        _ => return Err(bad("needs a Z or an offset at the end")),
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second
        - offset * 60;
    Ok(prost_types::Timestamp {
        seconds,
        nanos: nanos as i32,
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{ObservedDirection, ObservedPolicyVerdict, ObservedVerdict};
    use flowlens_model::{Protocol, Reporter};

    /// Shaped like `hubble observe -o jsonpb` prints the Star Wars demo of Cilium's
    /// documentation: proto field names, enum names, 64-bit integers as strings.
    const DEATHSTAR_LINES: &str = include_str!("../../tests/fixtures/starwars.jsonpb");

    #[test]
    fn jsonpb_lines_decode_like_grpc_messages() {
        let events: Vec<HubbleEvent> = DEATHSTAR_LINES
            .lines()
            .map(|l| decode_jsonpb_line(l).unwrap())
            .collect();
        let HubbleEvent::Flow(drop) = &events[0] else {
            panic!("{:?}", events[0]);
        };
        assert_eq!(drop.raw.start_time, 1_700_000_123);
        assert_eq!((drop.raw.src_port, drop.raw.dst_port), (50_528, 80));
        assert_eq!(drop.raw.reporter, Some(Reporter::Dst));
        assert_eq!(drop.observation.verdict, ObservedVerdict::Dropped);
        assert_eq!(
            drop.observation.policy_verdict(),
            ObservedPolicyVerdict::Denied
        );
        assert_eq!(drop.observation.policies[0].revision, 3);
        assert_eq!(drop.observation.direction, Some(ObservedDirection::Ingress));
        assert!(drop.observation.tcp_flags.unwrap().syn);
        let HubbleEvent::Flow(reply) = &events[1] else {
            panic!("{:?}", events[1]);
        };
        assert_eq!(reply.raw.src_ip.to_string(), "10.0.0.207");
        assert_eq!((reply.raw.src_port, reply.raw.dst_port), (43_210, 80));
        assert_eq!(reply.raw.proto, Protocol::Tcp);
        assert_eq!(reply.observation.source.pod.as_deref(), Some("tiefighter"));
        assert_eq!(events[2], HubbleEvent::Skipped(Skipped::L7));
        assert_eq!(events[3], HubbleEvent::Lost(12));
        assert_eq!(events[4], HubbleEvent::NodeStatus);
    }

    #[test]
    fn json_names_and_numbers_are_read_too() {
        let line = r#"{"flow":{"time":"2023-11-14T22:15:23+01:00","verdict":2,"IP":{"source":"fd00::1","destination":"fd00::2"},"l4":{"UDP":{"sourcePort":"5353","destinationPort":53}},"trafficDirection":"EGRESS","dropReasonDesc":"SOME_FUTURE_REASON","isReply":false}}"#;
        let HubbleEvent::Flow(flow) = decode_jsonpb_line(line).unwrap() else {
            panic!()
        };
        assert_eq!(flow.raw.start_time, 1_700_000_123 - 3_600);
        assert_eq!((flow.raw.src_port, flow.raw.proto), (5_353, Protocol::Udp));
        assert_eq!(flow.raw.reporter, Some(Reporter::Src));
        assert_eq!(flow.observation.verdict, ObservedVerdict::Dropped);
        assert_eq!(
            flow.observation.drop_reason.as_deref(),
            Some("SOME_FUTURE_REASON")
        );
    }

    #[test]
    fn bad_lines_are_rejected_with_a_reason() {
        for (line, expected) in [
            ("not json", "not a Hubble jsonpb line"),
            ("{}", "neither a flow"),
            (r#"{"flow":{"verdict":"MAYBE"}}"#, "verdict: unknown value"),
            (
                r#"{"flow":{"time":"2023-02-30T00:00:00Z","IP":{"source":"1.1.1.1","destination":"1.1.1.2"},"l4":{"UDP":{}}}}"#,
                "no such date",
            ),
            (
                r#"{"flow":{"time":"2023-01-01T00:00:00Z","IP":{"source":"1.1.1.1","destination":"1.1.1.2"},"l4":{"TCP":{"source_port":70000}}}}"#,
                "not a port",
            ),
            (
                r#"{"flow":{"l4":{"TCP":{"source_port":-1}}}}"#,
                "not a Hubble jsonpb line",
            ),
        ] {
            let e = decode_jsonpb_line(line).unwrap_err();
            assert!(e.0.contains(expected), "{line}: {e}");
        }
    }

    #[test]
    fn timestamps_follow_rfc_3339() {
        let t = timestamp("1970-01-01T00:00:00Z").unwrap();
        assert_eq!((t.seconds, t.nanos), (0, 0));
        let t = timestamp("2000-02-29T23:59:59.5-00:30").unwrap();
        assert_eq!((t.seconds, t.nanos), (951_868_799 + 1_800, 500_000_000));
        let t = timestamp("1969-12-31T23:59:59.000000001Z").unwrap();
        assert_eq!((t.seconds, t.nanos), (-1, 1));
        for bad in [
            "",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00.1234567890Z",
            "2024-01-01T00:00:00+0100",
            "2024-01-01T00:00:00Zjunk",
            "２024-01-01T00:00:00Z",
        ] {
            assert!(timestamp(bad).is_err(), "{bad}");
        }
    }
}
