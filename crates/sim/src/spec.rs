//! `scenario.yaml`: the raw YAML shape, and its validation into typed specs with errors that
//! name the file, the entry and the field.

use crate::error::{ScenarioError, ScenarioErrors};
use crate::peer::PeerRef;
use crate::units::{
    Jittered, PortItem, Scalar, parse_amount, parse_duration, parse_jitter,
    parse_jittered_duration, parse_port, parse_rate,
};
use flowlens_model::Protocol;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

/// Jitter of amounts and durations that name none (and the entry sets no `jitter`).
pub const DEFAULT_JITTER: f64 = 0.2;
/// Per-connection defaults: a small request, a larger response, one second.
pub const DEFAULT_BYTES_OUT: f64 = 800.0;
pub const DEFAULT_BYTES_IN: f64 = 4000.0;
pub const DEFAULT_DURATION: f64 = 1.0;

#[derive(Deserialize)]
#[serde(untagged, expecting = "a value or a list of values")]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(t) => vec![t],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    manifests: Vec<String>,
    #[serde(default)]
    hosts: BTreeMap<String, OneOrMany<String>>,
    #[serde(default)]
    traffic: Vec<Spanned<RawTraffic>>,
    #[serde(default)]
    steps: Vec<Spanned<RawStep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTraffic {
    name: Option<String>,
    from: Option<OneOrMany<String>>,
    to: Option<OneOrMany<String>>,
    protocol: Option<Scalar>,
    port: Option<Scalar>,
    ports: Option<OneOrMany<Scalar>>,
    rate: Option<Scalar>,
    bytes_out: Option<Scalar>,
    bytes_in: Option<Scalar>,
    packets_out: Option<Scalar>,
    packets_in: Option<Scalar>,
    duration: Option<Scalar>,
    jitter: Option<Scalar>,
    process_name: Option<String>,
    pick: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: String,
    #[serde(default)]
    description: String,
    at: Option<Scalar>,
    #[serde(default)]
    apply: Vec<String>,
    #[serde(default)]
    delete: Vec<String>,
    #[serde(default)]
    traffic: Vec<Spanned<RawTraffic>>,
    #[serde(default)]
    stop: Vec<String>,
}

/// Where a traffic entry or step was declared, for errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    /// `traffic[3]`, `steps[0].traffic[1]`.
    pub field: String,
    pub line: Option<usize>,
}

impl Origin {
    /// For entries built in code (the `scale` scenario).
    pub fn generated(scenario: &str, field: String) -> Origin {
        Origin {
            file: scenario.to_owned(),
            field,
            line: None,
        }
    }

    pub(crate) fn error(&self, field: &str, message: impl Into<String>) -> ScenarioError {
        let field = if field.is_empty() {
            self.field.clone()
        } else {
            format!("{}.{field}", self.field)
        };
        ScenarioError {
            file: self.file.clone(),
            line: self.line,
            field,
            message: message.into(),
        }
    }
}

/// How replicas (and list items) are chosen per connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pick {
    #[default]
    Random,
    RoundRobin,
}

/// One traffic model entry: connections from `from` to `to` at `rate` per second.
#[derive(Clone, Debug, PartialEq)]
pub struct TrafficSpec {
    /// Optional; steps `stop` entries by name.
    pub name: Option<String>,
    /// Sources, pooled: each connection picks one address among all of them.
    pub from: Vec<PeerRef>,
    /// Destinations: each connection picks one, then one of its addresses and ports.
    pub to: Vec<PeerRef>,
    pub protocol: Protocol,
    /// Empty: each destination's own ports (a Service's ports, a workload's container ports).
    pub ports: Vec<PortItem>,
    /// Connections per second, across all sources.
    pub rate: f64,
    pub bytes_out: Jittered,
    pub bytes_in: Jittered,
    /// `None`: derived from the bytes (see [`crate::Generator`]).
    pub packets_out: Option<Jittered>,
    pub packets_in: Option<Jittered>,
    /// Seconds per connection.
    pub duration: Jittered,
    pub process_name: Option<String>,
    pub pick: Pick,
    pub origin: Origin,
}

impl TrafficSpec {
    /// An entry with the documented defaults: TCP, the destination's ports, 800 bytes out and
    /// 4,000 in, one second, all ±20 %, replicas at random.
    pub fn new(from: Vec<PeerRef>, to: Vec<PeerRef>, rate: f64, origin: Origin) -> TrafficSpec {
        TrafficSpec {
            name: None,
            from,
            to,
            protocol: Protocol::Tcp,
            ports: Vec::new(),
            rate,
            bytes_out: Jittered::new(DEFAULT_BYTES_OUT, DEFAULT_JITTER),
            bytes_in: Jittered::new(DEFAULT_BYTES_IN, DEFAULT_JITTER),
            packets_out: None,
            packets_in: None,
            duration: Jittered::new(DEFAULT_DURATION, DEFAULT_JITTER),
            process_name: None,
            pick: Pick::Random,
            origin,
        }
    }
}

/// `kind/ns/name` or `kind/name` of a step's `delete`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteRef {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for DeleteRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{ns}/{}", self.kind, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// A step: at an offset or on demand, apply manifests, delete resources, start and stop
/// traffic.
#[derive(Clone, Debug, PartialEq)]
pub struct StepSpec {
    pub name: String,
    pub description: String,
    /// Seconds after the start; `None` for a manual step.
    pub at: Option<f64>,
    /// Manifest files or directories, relative to the scenario directory.
    pub apply: Vec<String>,
    pub delete: Vec<DeleteRef>,
    pub traffic: Vec<TrafficSpec>,
    /// Names of traffic entries that stop with this step.
    pub stop: Vec<String>,
    pub origin: Origin,
}

/// A validated `scenario.yaml`.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioSpec {
    pub name: String,
    pub description: String,
    pub manifests: Vec<String>,
    pub hosts: BTreeMap<String, Vec<IpAddr>>,
    pub traffic: Vec<TrafficSpec>,
    pub steps: Vec<StepSpec>,
}

/// Just the description, for listings (built-in scenarios are named by their directory).
#[derive(Deserialize)]
pub(crate) struct Summary {
    #[serde(default)]
    pub description: String,
}

pub(crate) fn parse_summary(text: &str) -> Option<Summary> {
    serde_saphyr::from_str(text).ok()
}

fn line_of<T>(s: &Spanned<T>) -> Option<usize> {
    let line = s.referenced.line();
    (line > 0).then_some(line as usize)
}

/// Parses and validates `scenario.yaml`. `file` names it in errors.
pub fn parse_scenario(text: &str, file: &str) -> Result<ScenarioSpec, ScenarioErrors> {
    let raw: RawScenario = serde_saphyr::from_str(text).map_err(|e| {
        // The YAML error carries its own line, column and a snippet of the file.
        let message = e.to_string().replace("<input>:", &format!("{file}:"));
        ScenarioErrors(vec![ScenarioError::new(file, "", message)])
    })?;
    let mut errors = Vec::new();
    if raw.name.trim().is_empty() {
        errors.push(ScenarioError::new(file, "name", "must not be empty"));
    }
    let mut hosts = BTreeMap::new();
    for (host, ips) in raw.hosts {
        let mut parsed = Vec::new();
        for (i, ip) in ips.into_vec().into_iter().enumerate() {
            match ip.trim().parse::<IpAddr>() {
                Ok(ip) => parsed.push(ip),
                Err(_) => errors.push(ScenarioError::new(
                    file,
                    format!("hosts.{host}[{i}]"),
                    format!("{ip:?} is not an IP address"),
                )),
            }
        }
        if parsed.is_empty() {
            errors.push(ScenarioError::new(
                file,
                format!("hosts.{host}"),
                "needs at least one address",
            ));
        }
        hosts.insert(host.to_ascii_lowercase(), parsed);
    }
    let traffic = raw
        .traffic
        .into_iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let origin = Origin {
                file: file.to_owned(),
                field: format!("traffic[{i}]"),
                line: line_of(&t),
            };
            validate_traffic(t.value, origin, &mut errors)
        })
        .collect::<Vec<_>>();
    let mut steps = Vec::new();
    for (i, s) in raw.steps.into_iter().enumerate() {
        let origin = Origin {
            file: file.to_owned(),
            field: format!("steps[{i}]"),
            line: line_of(&s),
        };
        steps.push(validate_step(s.value, origin, &mut errors));
    }
    check_names(&traffic, &steps, &mut errors);
    if errors.is_empty() {
        Ok(ScenarioSpec {
            name: raw.name,
            description: raw.description,
            manifests: raw.manifests,
            hosts,
            traffic,
            steps,
        })
    } else {
        Err(ScenarioErrors(errors))
    }
}

/// Step names unique and non-empty; traffic names unique; `stop` names something.
fn check_names(traffic: &[TrafficSpec], steps: &[StepSpec], errors: &mut Vec<ScenarioError>) {
    let mut step_names = HashSet::new();
    let mut traffic_names = HashSet::new();
    let all_traffic = traffic
        .iter()
        .chain(steps.iter().flat_map(|s| s.traffic.iter()));
    for t in all_traffic {
        if let Some(name) = &t.name
            && !traffic_names.insert(name.as_str())
        {
            errors.push(t.origin.error(
                "name",
                format!("another traffic entry is already named {name:?}"),
            ));
        }
    }
    for s in steps {
        if s.name.trim().is_empty() {
            errors.push(s.origin.error("name", "must not be empty"));
        } else if !step_names.insert(s.name.as_str()) {
            errors.push(s.origin.error(
                "name",
                format!("another step is already named {:?}", s.name),
            ));
        }
        for (i, stop) in s.stop.iter().enumerate() {
            if !traffic_names.contains(stop.as_str()) {
                errors.push(s.origin.error(
                    &format!("stop[{i}]"),
                    format!("no traffic entry is named {stop:?}"),
                ));
            }
        }
    }
}

fn validate_step(raw: RawStep, origin: Origin, errors: &mut Vec<ScenarioError>) -> StepSpec {
    let at = raw.at.as_ref().and_then(|at| {
        parse_duration(at)
            .map_err(|e| errors.push(origin.error("at", e)))
            .ok()
    });
    let delete = raw
        .delete
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            parse_delete(d)
                .map_err(|e| errors.push(origin.error(&format!("delete[{i}]"), e)))
                .ok()
        })
        .collect();
    for (i, path) in raw.apply.iter().enumerate() {
        if path.trim().is_empty() {
            errors.push(origin.error(&format!("apply[{i}]"), "must not be empty"));
        }
    }
    let traffic = raw
        .traffic
        .into_iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let o = Origin {
                file: origin.file.clone(),
                field: format!("{}.traffic[{i}]", origin.field),
                line: line_of(&t),
            };
            validate_traffic(t.value, o, errors)
        })
        .collect();
    StepSpec {
        name: raw.name,
        description: raw.description,
        at,
        apply: raw.apply,
        delete,
        traffic,
        stop: raw.stop,
        origin,
    }
}

fn parse_delete(text: &str) -> Result<DeleteRef, String> {
    let parts: Vec<&str> = text.trim().split('/').collect();
    let ok = |s: &str| !s.is_empty();
    match parts.as_slice() {
        [kind, ns, name] if ok(kind) && ok(ns) && ok(name) => Ok(DeleteRef {
            kind: (*kind).to_owned(),
            namespace: Some((*ns).to_owned()),
            name: (*name).to_owned(),
        }),
        [kind, name] if ok(kind) && ok(name) => Ok(DeleteRef {
            kind: (*kind).to_owned(),
            namespace: None,
            name: (*name).to_owned(),
        }),
        _ => Err(format!(
            "{text:?} must be kind/namespace/name or, for cluster-wide kinds, kind/name"
        )),
    }
}

fn peers(
    raw: Option<OneOrMany<String>>,
    field: &str,
    origin: &Origin,
    errors: &mut Vec<ScenarioError>,
) -> Vec<PeerRef> {
    let Some(raw) = raw else {
        errors.push(origin.error(field, "is required"));
        return Vec::new();
    };
    let items = raw.into_vec();
    if items.is_empty() {
        errors.push(origin.error(field, "needs at least one peer"));
    }
    let many = items.len() > 1;
    items
        .iter()
        .enumerate()
        .filter_map(|(i, text)| {
            let at = if many {
                format!("{field}[{i}]")
            } else {
                field.to_owned()
            };
            text.parse::<PeerRef>()
                .map_err(|e| errors.push(origin.error(&at, e)))
                .ok()
        })
        .collect()
}

fn validate_traffic(
    raw: RawTraffic,
    origin: Origin,
    errors: &mut Vec<ScenarioError>,
) -> Option<TrafficSpec> {
    let before = errors.len();
    let from = peers(raw.from, "from", &origin, errors);
    let to = peers(raw.to, "to", &origin, errors);
    let mut report = |field: &str, message: String| errors.push(origin.error(field, message));

    let protocol = match &raw.protocol {
        None => Protocol::Tcp,
        Some(Scalar::Int(n)) => match u8::try_from(*n) {
            Ok(n) if n > 0 => Protocol::from_number(n),
            _ => {
                report("protocol", format!("invalid protocol number {n}"));
                Protocol::Tcp
            }
        },
        Some(Scalar::Str(s)) => Protocol::parse(s).unwrap_or_else(|e| {
            report("protocol", e.to_string());
            Protocol::Tcp
        }),
        Some(other) => {
            report("protocol", format!("invalid protocol {other}"));
            Protocol::Tcp
        }
    };

    let mut ports = Vec::new();
    match (raw.port, raw.ports) {
        (Some(_), Some(_)) => report("ports", "give either port or ports, not both".into()),
        (Some(p), None) => match parse_port(&p) {
            Ok(p) => ports.push(p),
            Err(e) => report("port", e),
        },
        (None, Some(list)) => {
            let list = list.into_vec();
            if list.is_empty() {
                report(
                    "ports",
                    "needs at least one port; leave it out to use the destination's ports".into(),
                );
            }
            for (i, p) in list.iter().enumerate() {
                match parse_port(p) {
                    Ok(p) => ports.push(p),
                    Err(e) => report(&format!("ports[{i}]"), e),
                }
            }
        }
        (None, None) => {}
    }
    if !ports.is_empty() && !protocol.has_ports() {
        report(
            "ports",
            format!("{protocol} has no ports; leave port and ports out"),
        );
    }

    let rate = match &raw.rate {
        None => {
            report("rate", "is required (connections per second)".into());
            0.0
        }
        Some(r) => parse_rate(r).unwrap_or_else(|e| {
            report("rate", e);
            0.0
        }),
    };
    let jitter = match &raw.jitter {
        None => DEFAULT_JITTER,
        Some(j) => parse_jitter(j).unwrap_or_else(|e| {
            report("jitter", e);
            DEFAULT_JITTER
        }),
    };
    let mut amount = |field: &str, value: &Option<Scalar>, default: f64| match value {
        None => Some(Jittered::new(default, jitter)),
        Some(v) => parse_amount(v, jitter).map_err(|e| report(field, e)).ok(),
    };
    let bytes_out = amount("bytes_out", &raw.bytes_out, DEFAULT_BYTES_OUT);
    let bytes_in = amount("bytes_in", &raw.bytes_in, DEFAULT_BYTES_IN);
    let packets_out = raw
        .packets_out
        .as_ref()
        .and_then(|_| amount("packets_out", &raw.packets_out, 0.0));
    let packets_in = raw
        .packets_in
        .as_ref()
        .and_then(|_| amount("packets_in", &raw.packets_in, 0.0));
    let duration = match &raw.duration {
        None => Some(Jittered::new(DEFAULT_DURATION, jitter)),
        Some(d) => parse_jittered_duration(d, jitter)
            .map_err(|e| report("duration", e))
            .ok(),
    };
    let pick = match raw.pick.as_deref().map(str::trim) {
        None | Some("random") => Pick::Random,
        Some("round-robin" | "roundrobin" | "round_robin") => Pick::RoundRobin,
        Some(other) => {
            report(
                "pick",
                format!("{other:?} is not a choice: use random or round-robin"),
            );
            Pick::Random
        }
    };
    if raw.name.as_ref().is_some_and(|n| n.trim().is_empty()) {
        report("name", "must not be empty".into());
    }
    if errors.len() > before {
        return None;
    }
    Some(TrafficSpec {
        name: raw.name,
        from,
        to,
        protocol,
        ports,
        rate,
        bytes_out: bytes_out?,
        bytes_in: bytes_in?,
        packets_out,
        packets_in,
        duration: duration?,
        process_name: raw.process_name.filter(|p| !p.is_empty()),
        pick,
        origin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name: demo
description: A demo.
manifests: [manifests/]
hosts:
  api.example.com: [203.0.113.10, 203.0.113.11]
traffic:
  - name: web-to-api
    from: [demo/web, internet]
    to: demo/api
    ports: [80, "42000-43000"]
    rate: 30/m
    bytes_out: 2k ±10%
    bytes_in: 12000
    duration: 250ms
    process_name: curl
    pick: round-robin
steps:
  - name: later
    at: 2m
    apply: [steps/later.yaml]
    delete: [NetworkPolicy/demo/old, GlobalNetworkPolicy/guard]
    stop: [web-to-api]
    traffic:
      - from: demo/api
        to: api.example.com
        port: 443
        protocol: TCP
        rate: 1
"#;

    #[test]
    fn parses_a_full_scenario() {
        let spec = parse_scenario(GOOD, "demo/scenario.yaml").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec.name, "demo");
        let t = &spec.traffic[0];
        assert_eq!(t.from.len(), 2);
        assert_eq!(
            t.ports,
            vec![PortItem::Single(80), PortItem::Range(42000, 43000)]
        );
        assert!((t.rate - 0.5).abs() < 1e-12);
        assert_eq!(t.bytes_out, Jittered::new(2000.0, 0.1));
        assert_eq!(t.bytes_in, Jittered::new(12000.0, DEFAULT_JITTER));
        assert_eq!(t.pick, Pick::RoundRobin);
        assert_eq!(t.origin.line, Some(8));
        let s = &spec.steps[0];
        assert_eq!(s.at, Some(120.0));
        assert_eq!(
            s.delete[1],
            DeleteRef {
                kind: "GlobalNetworkPolicy".into(),
                namespace: None,
                name: "guard".into()
            }
        );
        assert_eq!(s.traffic[0].origin.field, "steps[0].traffic[0]");
        assert_eq!(spec.hosts["api.example.com"].len(), 2);
    }

    #[test]
    fn errors_name_file_entry_and_field() {
        let text = "name: x\ntraffic:\n  - from: a/b\n    to: a/c\n    rate: fast\n  - from: a/b\n    rate: 1\n    port: 0\n";
        let errors = parse_scenario(text, "x/scenario.yaml").unwrap_err();
        let messages: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("x/scenario.yaml: line 3: traffic[0].rate: invalid rate")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("traffic[1].to: is required")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("traffic[1].port: invalid port")),
            "{messages:?}"
        );
    }

    #[test]
    fn unknown_fields_and_bad_yaml_are_errors() {
        let unknown = parse_scenario(
            "name: x\ntraffic:\n  - from: a/b\n    to: a/c\n    rate: 1\n    prot: udp\n",
            "s.yaml",
        );
        assert!(unknown.unwrap_err().to_string().contains("prot"));
        assert!(parse_scenario("name: [unclosed", "s.yaml").is_err());
        assert!(parse_scenario("", "s.yaml").is_err());
    }

    #[test]
    fn names_must_be_unique_and_stops_must_exist() {
        let text = "name: x\ntraffic:\n  - {name: a, from: a/b, to: a/c, rate: 1}\n  - {name: a, from: a/b, to: a/c, rate: 1}\nsteps:\n  - {name: s, stop: [zzz]}\n  - {name: s}\n";
        let e = parse_scenario(text, "s.yaml").unwrap_err().to_string();
        assert!(e.contains("traffic[1].name: another traffic entry"), "{e}");
        assert!(
            e.contains("steps[0].stop[0]: no traffic entry is named \"zzz\""),
            "{e}"
        );
        assert!(e.contains("steps[1].name: another step"), "{e}");
    }
}
