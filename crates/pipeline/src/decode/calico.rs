//! Calico flow logs: Felix `flows.log` JSON lines and Elasticsearch `_source` exports.

use super::lenient::{LabelTexts, OptInt, OptText, Text};
use flowlens_model::{
    Action, EndpointType, FlowEndView, FlowLog, FlowLogView, FlowServiceView, PolicyHit, Protocol,
    Reporter,
};
use rustc_hash::FxHashMap;
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr};

mod plain;

#[derive(Deserialize)]
struct Wrapped<'a> {
    #[serde(rename = "_source", borrow)]
    source: Record<'a>,
}

#[derive(Deserialize, Default)]
#[cfg_attr(any(test, fuzzing), derive(Debug, PartialEq))]
#[serde(default)]
struct Policies<'a> {
    #[serde(borrow)]
    all_policies: Option<Vec<Text<'a>>>,
    #[serde(borrow)]
    enforced_policies: Option<Vec<Text<'a>>>,
    #[serde(borrow)]
    pending_policies: Option<Vec<Text<'a>>>,
}

#[derive(Deserialize, Default)]
#[cfg_attr(any(test, fuzzing), derive(Debug, PartialEq))]
struct Record<'a> {
    start_time: OptInt,
    end_time: OptInt,
    #[serde(default, borrow)]
    source_ip: OptText<'a>,
    #[serde(default, borrow)]
    source_name: OptText<'a>,
    #[serde(default, borrow)]
    source_name_aggr: OptText<'a>,
    #[serde(default, borrow)]
    source_namespace: OptText<'a>,
    #[serde(default)]
    source_port: OptInt,
    #[serde(default, borrow)]
    source_type: OptText<'a>,
    #[serde(default, borrow)]
    source_labels: LabelTexts<'a>,
    #[serde(default, borrow)]
    dest_ip: OptText<'a>,
    #[serde(default, borrow)]
    dest_name: OptText<'a>,
    #[serde(default, borrow)]
    dest_name_aggr: OptText<'a>,
    #[serde(default, borrow)]
    dest_namespace: OptText<'a>,
    #[serde(default)]
    dest_port: OptInt,
    #[serde(default, borrow)]
    dest_type: OptText<'a>,
    #[serde(default, borrow)]
    dest_labels: LabelTexts<'a>,
    #[serde(default, borrow)]
    dest_service_namespace: OptText<'a>,
    #[serde(default, borrow)]
    dest_service_name: OptText<'a>,
    #[serde(default, borrow)]
    dest_service_port: OptText<'a>,
    #[serde(default)]
    dest_service_port_num: OptInt,
    #[serde(borrow)]
    proto: OptText<'a>,
    #[serde(borrow)]
    action: OptText<'a>,
    #[serde(borrow)]
    reporter: OptText<'a>,
    #[serde(default, borrow)]
    policies: Option<Policies<'a>>,
    #[serde(default)]
    bytes_in: OptInt,
    #[serde(default)]
    bytes_out: OptInt,
    #[serde(default)]
    packets_in: OptInt,
    #[serde(default)]
    packets_out: OptInt,
    #[serde(default)]
    num_flows: OptInt,
    #[serde(default)]
    num_flows_started: OptInt,
    #[serde(default)]
    num_flows_completed: OptInt,
    #[serde(default, borrow)]
    process_name: OptText<'a>,
    #[serde(default)]
    process_id: OptInt,
    #[serde(default, borrow)]
    host: OptText<'a>,
}

/// Decodes Calico flow log lines into [`FlowLogView`]s, borrowing their texts from the line.
/// It remembers how each distinct policy-hit text is spelled in storage: lines repeat a few
/// hundred hits millions of times, so each is parsed once.
pub struct CalicoDecoder {
    hits: FxHashMap<Box<str>, Result<KnownHit, String>>,
    /// The Calico ≥ 3.32 spellings of the hits spelled otherwise, numbered by [`KnownHit`].
    respellings: Vec<Box<str>>,
    /// The key order of the last line read, for the plain-shape parser.
    order: plain::KeyOrder,
    /// Distinct hit texts remembered at most; past that the memory starts over, so that a
    /// stream of ever-new hits cannot grow it without bound.
    remembered_at_most: usize,
    spare: Spare,
}

impl Default for CalicoDecoder {
    fn default() -> Self {
        CalicoDecoder {
            hits: FxHashMap::default(),
            respellings: Vec::new(),
            order: plain::KeyOrder::default(),
            remembered_at_most: 100_000,
            spare: Spare::default(),
        }
    }
}

/// The per-line vectors of a decoder, kept empty between lines for their allocations (see
/// [`reuse`]), so a line costs no allocation once the first lines have sized them.
#[derive(Default)]
struct Spare {
    /// Source and destination labels.
    labels: [Vec<&'static str>; 2],
    /// Enforced and pending hits, as known and as spelled.
    known: [Vec<(&'static str, KnownHit)>; 2],
    spelled: [Vec<&'static str>; 2],
}

/// `v` emptied and retyped, keeping its allocation: collecting from a vector's own iterator
/// into a vector of a same-sized type reuses the allocation. This lets vectors of one line's
/// borrowed texts serve the next line.
fn reuse<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

/// What one policy-hit text was found to be.
#[derive(Clone, Copy)]
struct KnownHit {
    /// The number of its Calico ≥ 3.32 spelling, when the text is spelled otherwise.
    respelled: Option<u32>,
    /// From a staged policy.
    staged: bool,
}

impl CalicoDecoder {
    /// Decodes one line (plain, or wrapped as `{"_source": {...}}`) and hands the flow log
    /// to `with`.
    pub fn decode<T>(
        &mut self,
        text: &str,
        with: impl FnOnce(&FlowLogView<'_>) -> T,
    ) -> Result<T, String> {
        let mut record = Record::default();
        if !plain::parse_into(text, &mut self.order, &mut record) {
            record = serde_record(text)?;
        }
        // Forgetting happens between lines only: `spell` relies on the respellings of every
        // hit of this line.
        if self.hits.len() >= self.remembered_at_most {
            self.hits.clear();
            self.respellings.clear();
        }
        let policies = record.policies.as_ref();
        let enforced = policies.and_then(|p| p.enforced_policies.as_deref());
        let pending = policies.and_then(|p| p.pending_policies.as_deref());
        let all = policies.and_then(|p| p.all_policies.as_deref());
        let [mut known, mut known_pending] = std::mem::take(&mut self.spare.known).map(reuse);
        let [mut spelled, mut spelled_pending] = std::mem::take(&mut self.spare.spelled).map(reuse);
        let [mut source_labels, mut dest_labels] =
            std::mem::take(&mut self.spare.labels).map(reuse);
        // `pending` is false when the pending trace is the enforced one.
        let pending = match (enforced, pending, all) {
            // Older Calico logs carry one `all_policies` list with staged hits mixed in: the
            // enforced trace is its non-staged part, and the whole list is the closest thing
            // to a pending one.
            (None, None, Some(all)) => {
                self.learn(all, "policies.all_policies", &mut known)?;
                self.spell(&known, false, &mut spelled);
                self.spell(&known, true, &mut spelled_pending);
                true
            }
            (enforced, pending, _) => {
                let (enforced, pending) =
                    (enforced.unwrap_or_default(), pending.unwrap_or_default());
                // Without staged policies both traces are the same list: spelled once.
                let differs = pending != enforced;
                self.learn(enforced, "policies.enforced_policies", &mut known)?;
                if differs {
                    self.learn(pending, "policies.pending_policies", &mut known_pending)?;
                }
                self.spell(&known, true, &mut spelled);
                self.spell(&known_pending, true, &mut spelled_pending);
                differs
            }
        };
        source_labels.extend(record.source_labels.0.iter().map(|l| &**l));
        dest_labels.extend(record.dest_labels.0.iter().map(|l| &**l));
        let enforced = &spelled[..];
        let pending = if pending {
            &spelled_pending[..]
        } else {
            enforced
        };
        let decoded =
            view(&record, &source_labels, &dest_labels, enforced, pending).map(|v| with(&v));
        self.spare = Spare {
            labels: [source_labels, dest_labels].map(reuse),
            known: [known, known_pending].map(reuse),
            spelled: [spelled, spelled_pending].map(reuse),
        };
        decoded
    }

    /// Checks every hit text of `texts` into `known`, remembering the new ones: each text
    /// looked up once.
    fn learn<'t>(
        &mut self,
        texts: &'t [Text<'_>],
        field: &str,
        known: &mut Vec<(&'t str, KnownHit)>,
    ) -> Result<(), String> {
        for text in texts {
            let text = &*text.0;
            let hit = match self.hits.get(text) {
                Some(hit) => hit,
                None => {
                    // Calico's own hit-parser rules: what it would reject is never stored.
                    let hit = PolicyHit::parse_strict(text)
                        .map(|hit| {
                            let spelled = hit.to_string();
                            let respelled = (spelled != text).then(|| {
                                self.respellings.push(spelled.into());
                                self.respellings.len() as u32 - 1
                            });
                            KnownHit {
                                respelled,
                                staged: hit.kind.is_some_and(|k| k.is_staged()),
                            }
                        })
                        .map_err(|e| e.to_string());
                    self.hits.entry(text.into()).or_insert(hit)
                }
            };
            match hit {
                Ok(hit) => known.push((text, *hit)),
                Err(e) => return Err(format!("{field}: {e}")),
            }
        }
        Ok(())
    }

    /// The stored spellings of learnt hits into `spelled`, without staged hits unless `staged`.
    fn spell<'a>(
        &'a self,
        known: &[(&'a str, KnownHit)],
        staged: bool,
        spelled: &mut Vec<&'a str>,
    ) {
        let kept = known.iter().filter(|(_, hit)| staged || !hit.staged);
        spelled.extend(kept.map(|&(text, hit)| match hit.respelled {
            Some(n) => &*self.respellings[n as usize],
            None => text,
        }));
    }
}

/// The record of `text` as serde reads it: whatever JSON allows, and the words of the error.
fn serde_record(text: &str) -> Result<Record<'_>, String> {
    // Felix lines are far more common than Elasticsearch exports, so the wrapper is only
    // looked for when a line does not read as a plain flow log.
    serde_json::from_str::<Record>(text)
        .or_else(|plain| match text.contains("\"_source\"") {
            true => serde_json::from_str::<Wrapped>(text).map(|w| w.source),
            false => Err(plain),
        })
        .map_err(|e| format!("not a Calico flow log: {e}"))
}

/// Checks the plain-shape parser against serde on `text`: whenever it takes a line, serde
/// must read the same record, with no key order predicted and with the line's own. For the
/// fuzz target.
#[cfg(fuzzing)]
pub fn check_plain_parser(text: &str) {
    let mut order = plain::KeyOrder::default();
    for _ in 0..2 {
        if let Some(plain) = plain::parse(text, &mut order) {
            let serde = serde_json::from_str::<Record>(text);
            assert_eq!(serde.as_ref().ok(), Some(&plain), "{text}");
        }
    }
}

/// Decodes one Calico flow log line into an owned flow log.
pub fn decode_calico(text: &str) -> Result<FlowLog, String> {
    CalicoDecoder::default()
        .decode(text, |view| view.to_flow_log())?
        .map_err(|e| e.to_string())
}

fn required<T>(value: Option<T>, field: &str) -> Result<T, String> {
    value.ok_or_else(|| format!("{field} is missing"))
}

fn count(value: OptInt, field: &str) -> Result<u64, String> {
    match value.0 {
        None => Ok(0),
        Some(n) => u64::try_from(n).map_err(|_| format!("{field} is negative")),
    }
}

fn port(value: OptInt, field: &str) -> Result<Option<u16>, String> {
    value
        .0
        .map(|p| u16::try_from(p).map_err(|_| format!("{field} {p} is not a port")))
        .transpose()
}

fn ip(value: &OptText<'_>, field: &str) -> Result<Option<IpAddr>, String> {
    value
        .as_deref()
        .map(|t| {
            ipv4(t)
                .map(IpAddr::V4)
                .or_else(|| t.parse().ok())
                .ok_or_else(|| format!("{field} {t:?} is not an IP address"))
        })
        .transpose()
}

/// An IPv4 address in dotted decimal without leading zeros, the form Calico writes; `None`
/// for anything else (which the standard parser then decides). Every address it reads, the
/// standard parser reads alike; it is only faster.
fn ipv4(text: &str) -> Option<Ipv4Addr> {
    let bytes = text.as_bytes();
    if !(7..=15).contains(&bytes.len()) {
        return None;
    }
    let mut octets = [0u8; 4];
    let mut parts = bytes.split(|&b| b == b'.');
    for octet in &mut octets {
        let digits = parts.next()?;
        let leading_zero = digits.len() > 1 && digits[0] == b'0';
        if digits.is_empty() || digits.len() > 3 || leading_zero {
            return None;
        }
        let mut value = 0u16;
        for &d in digits {
            if !d.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u16::from(d - b'0');
        }
        *octet = u8::try_from(value).ok()?;
    }
    parts.next().is_none().then_some(Ipv4Addr::from(octets))
}

fn endpoint_type(value: &OptText<'_>, field: &str) -> Result<Option<EndpointType>, String> {
    value
        .as_deref()
        .map(|t| {
            EndpointType::parse(t)
                .ok_or_else(|| format!("{field} {t:?} is not wep, hep, ns or net"))
        })
        .transpose()
}

fn view<'a>(
    r: &'a Record<'_>,
    source_labels: &'a [&'a str],
    dest_labels: &'a [&'a str],
    enforced: &'a [&'a str],
    pending: &'a [&'a str],
) -> Result<FlowLogView<'a>, String> {
    let start_time = required(r.start_time.0, "start_time")?;
    let end_time = required(r.end_time.0, "end_time")?;
    if end_time < start_time {
        return Err("end_time is before start_time".into());
    }
    let proto_text = required(r.proto.as_deref(), "proto")?;
    let proto = Protocol::parse(proto_text).map_err(|e| format!("proto: {e}"))?;
    let action_text = required(r.action.as_deref(), "action")?;
    let action = Action::parse(action_text)
        .ok_or_else(|| format!("action {action_text:?} is not allow or deny"))?;
    let reporter_text = required(r.reporter.as_deref(), "reporter")?;
    let reporter = Reporter::parse(reporter_text)
        .ok_or_else(|| format!("reporter {reporter_text:?} is not src or dst"))?;
    let dest_service = match (
        r.dest_service_namespace.as_deref(),
        r.dest_service_name.as_deref(),
    ) {
        (Some(namespace), Some(name)) => Some(FlowServiceView {
            namespace,
            name,
            port_name: r.dest_service_port.as_deref().unwrap_or("-"),
            port_num: port(r.dest_service_port_num, "dest_service_port_num")?.unwrap_or(0),
        }),
        _ => None,
    };
    Ok(FlowLogView {
        start_time,
        end_time,
        source: FlowEndView {
            ip: ip(&r.source_ip, "source_ip")?,
            name: r.source_name.as_deref(),
            name_aggr: r.source_name_aggr.as_deref().unwrap_or("-"),
            namespace: r.source_namespace.as_deref(),
            port: port(r.source_port, "source_port")?,
            endpoint_type: endpoint_type(&r.source_type, "source_type")?,
            labels: source_labels,
        },
        dest: FlowEndView {
            ip: ip(&r.dest_ip, "dest_ip")?,
            name: r.dest_name.as_deref(),
            name_aggr: r.dest_name_aggr.as_deref().unwrap_or("-"),
            namespace: r.dest_namespace.as_deref(),
            port: port(r.dest_port, "dest_port")?,
            endpoint_type: endpoint_type(&r.dest_type, "dest_type")?,
            labels: dest_labels,
        },
        dest_service,
        proto,
        action,
        reporter,
        enforced_policies: enforced,
        pending_policies: pending,
        bytes_in: count(r.bytes_in, "bytes_in")?,
        bytes_out: count(r.bytes_out, "bytes_out")?,
        packets_in: count(r.packets_in, "packets_in")?,
        packets_out: count(r.packets_out, "packets_out")?,
        num_flows: count(r.num_flows, "num_flows")?,
        num_flows_started: count(r.num_flows_started, "num_flows_started")?,
        num_flows_completed: count(r.num_flows_completed, "num_flows_completed")?,
        process_name: r.process_name.as_deref(),
        process_id: r.process_id.0,
        host: r.host.as_deref(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_reads_what_the_standard_parser_reads() {
        // Separated by `|`: one has a trailing space and one is empty.
        let mut texts: Vec<String> = "0.0.0.0|10.128.3.12|255.255.255.255|256.1.1.1|01.2.3.4|\
            1.2.3|1.2.3.4.|.1.2.3.4|1.2.3.4.5|1..2.3|1.2.3.-4|1.2.3.4 |::1|1.2.3.04|\
            100.200.250.255|1.2.3.a|1.2.3.1000|"
            .split('|')
            .map(String::from)
            .collect();
        for a in [0u16, 1, 9, 10, 99, 100, 199, 249, 255, 256, 999] {
            texts.push(format!("{a}.{a}.1.{a}"));
        }
        for text in &texts {
            let fast = ipv4(text);
            let std = text.parse::<Ipv4Addr>().ok();
            assert!(fast.is_none() || fast == std, "{text}");
            if std.is_some_and(|a| a.to_string() == *text) {
                assert_eq!(fast, std, "{text} is in the form Calico writes");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn ipv4_agrees_with_the_standard_parser(text in "[0-9.]{0,17}") {
            let (fast, std) = (ipv4(&text), text.parse::<Ipv4Addr>().ok());
            proptest::prop_assert!(fast.is_none() || fast == std);
            if std.is_some_and(|a| a.to_string() == text) {
                proptest::prop_assert_eq!(fast, std);
            }
        }
    }

    const LINE: &str = r#"{"start_time":1,"end_time":2,"proto":"tcp","action":"allow","reporter":"src","policies":{"enforced_policies":["0|t|np:ns/a|pass|0","1|t2|gnp:b|allow|1"],"pending_policies":["0|t|np:ns/a|pass|0","1|t2|sgnp:c|deny|-1"]}}"#;

    fn hits(decoder: &mut CalicoDecoder, line: &str) -> (Vec<String>, Vec<String>) {
        decoder
            .decode(line, |v| {
                let own = |h: &[&str]| h.iter().map(|t| t.to_string()).collect();
                (own(v.enforced_policies), own(v.pending_policies))
            })
            .unwrap()
    }

    #[test]
    fn forgetting_hits_never_drops_a_lines_hits() {
        let mut small = CalicoDecoder {
            remembered_at_most: 1,
            ..CalicoDecoder::default()
        };
        let expected = hits(&mut CalicoDecoder::default(), LINE);
        assert_eq!(expected.0.len(), 2);
        assert_eq!(expected.1.len(), 2);
        for _ in 0..3 {
            assert_eq!(hits(&mut small, LINE), expected);
        }
    }

    #[test]
    fn older_spellings_are_stored_in_the_current_one() {
        let older = LINE.replace("np:ns/a", "ns/t.a");
        let (enforced, _) = hits(&mut CalicoDecoder::default(), &older);
        assert_eq!(enforced[0], "0|t|np:ns/a|pass|0");
    }
}
