//! Ports in rules: parsing Calico's `80` / `"80"` / `"1000:2000"` / `"http"` forms, and the
//! per-protocol grouping and range merging Calico applies when it converts Kubernetes
//! policies (`SimplifyPorts` in libcalico-go's conversion).

use crate::errors::Diag;
use crate::node::Value;
use crate::read::Field;
use flowlens_model::{PortMatch, Protocol};
use std::collections::BTreeMap;

pub(crate) const PORT_FORMS: &str = r#"expected a port number, a range "a:b" or a port name"#;

/// A container port name as Kubernetes allows it (IANA service name rules, with a relaxed
/// length so host-endpoint port names fit): lower-case letters, digits and inner `-`, with
/// at least one letter so `"80-90"` is not mistaken for a name.
pub(crate) fn is_port_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.bytes().any(|b| b.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// A single port, `Range` normalised to `Single` when both ends are equal.
fn range(first: u16, last: u16) -> PortMatch {
    if first == last {
        PortMatch::Single(first)
    } else {
        PortMatch::Range { first, last }
    }
}

/// One entry of a Calico `ports`/`notPorts` list.
pub(crate) fn calico_port(d: &mut Diag, f: &Field) -> Option<PortMatch> {
    match &f.node.value {
        Value::Int(n) => match u16::try_from(*n) {
            Ok(p) => Some(PortMatch::Single(p)),
            Err(_) => {
                d.error(f.node, &f.path, format!("port {n} is out of range 0-65535"));
                None
            }
        },
        Value::Str(s) => parse_port_text(s)
            .map_err(|msg| d.error(f.node, &f.path, msg))
            .ok(),
        _ => {
            d.type_error(f, "a port number, a range \"a:b\" or a port name");
            None
        }
    }
}

fn parse_port_text(s: &str) -> Result<PortMatch, String> {
    let t = s.trim();
    let number = |x: &str| -> Result<u16, String> {
        x.trim()
            .parse::<u32>()
            .map_err(|_| format!("invalid port {s:?}: {PORT_FORMS}"))
            .and_then(|n| u16::try_from(n).map_err(|_| format!("port {n} is out of range 0-65535")))
    };
    if let Some((a, b)) = t.split_once(':') {
        let (first, last) = (number(a)?, number(b)?);
        if first > last {
            return Err(format!(
                "invalid port range {s:?}: {first} is greater than {last}"
            ));
        }
        return Ok(range(first, last));
    }
    if t.bytes().all(|b| b.is_ascii_digit()) && !t.is_empty() {
        return number(t).map(PortMatch::Single);
    }
    if is_port_name(t) {
        return Ok(PortMatch::Named(t.to_owned()));
    }
    Err(format!("invalid port {s:?}: {PORT_FORMS}"))
}

/// Calico's `SimplifyPorts`: numeric ports and ranges merged into the fewest ranges, named
/// ports first in their original order. Lists with at most one numeric port are returned
/// unchanged, as Calico does, so the rule order people wrote is kept where nothing merges.
pub(crate) fn simplify_ports(ports: Vec<PortMatch>) -> Vec<PortMatch> {
    let mut named = Vec::new();
    let mut numeric: Vec<(u16, u16)> = Vec::new();
    for p in &ports {
        match p {
            PortMatch::Named(_) => named.push(p.clone()),
            PortMatch::Single(n) => numeric.push((*n, *n)),
            PortMatch::Range { first, last } => numeric.push((*first, *last)),
        }
    }
    let single_port = match numeric.as_slice() {
        [] => true,
        [(a, b)] => a == b,
        _ => false,
    };
    if ports.len() <= 1 || single_port {
        return ports;
    }
    numeric.sort_unstable();
    let mut merged: Vec<(u16, u16)> = Vec::new();
    for (first, last) in numeric {
        match merged.last_mut() {
            Some((_, prev_last)) if u32::from(first) <= u32::from(*prev_last) + 1 => {
                *prev_last = (*prev_last).max(last);
            }
            _ => merged.push((first, last)),
        }
    }
    named.extend(merged.into_iter().map(|(a, b)| range(a, b)));
    named
}

/// One port entry of a Kubernetes policy: a protocol and, optionally, a port.
pub(crate) type ProtocolPort = (Protocol, Option<PortMatch>);

/// Calico's grouping of Kubernetes port entries into one rule per protocol: protocols sorted
/// by name, a protocol-only entry meaning "all ports" for that protocol, and no entries at
/// all meaning one rule with neither protocol nor ports.
pub(crate) fn group_by_protocol(
    entries: Vec<ProtocolPort>,
) -> Vec<(Option<Protocol>, Vec<PortMatch>)> {
    if entries.is_empty() {
        return vec![(None, Vec::new())];
    }
    // `None` = all ports of that protocol, which later ports cannot narrow.
    let mut groups: BTreeMap<String, (Protocol, Option<Vec<PortMatch>>)> = BTreeMap::new();
    for (protocol, port) in entries {
        let entry = groups
            .entry(protocol.to_string())
            .or_insert((protocol, Some(Vec::new())));
        match (port, &mut entry.1) {
            (None, slot) => *slot = None,
            (Some(p), Some(list)) => list.push(p),
            (Some(_), None) => {}
        }
    }
    groups
        .into_values()
        .map(|(protocol, ports)| (Some(protocol), simplify_ports(ports.unwrap_or_default())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use PortMatch::*;

    #[test]
    fn simplify_merges_like_calico() {
        assert_eq!(
            simplify_ports(vec![
                Single(80),
                Range {
                    first: 2000,
                    last: 3000
                },
                Named("foo".into())
            ]),
            vec![
                Named("foo".into()),
                Single(80),
                Range {
                    first: 2000,
                    last: 3000
                }
            ]
        );
        assert_eq!(
            simplify_ports(vec![Single(81), Single(80), Single(82), Single(9090)]),
            vec![
                Range {
                    first: 80,
                    last: 82
                },
                Single(9090)
            ]
        );
        // One numeric port: order kept.
        assert_eq!(
            simplify_ports(vec![Single(80), Named("foo".into())]),
            vec![Single(80), Named("foo".into())]
        );
    }

    #[test]
    fn port_text_forms() {
        assert_eq!(parse_port_text("80"), Ok(Single(80)));
        assert_eq!(
            parse_port_text("1000:2000"),
            Ok(Range {
                first: 1000,
                last: 2000
            })
        );
        assert_eq!(parse_port_text("5:5"), Ok(Single(5)));
        assert_eq!(parse_port_text("http"), Ok(Named("http".into())));
        assert!(parse_port_text("2000:1000").is_err());
        assert!(parse_port_text("70000").is_err());
        assert!(parse_port_text("80-90").is_err());
        assert!(parse_port_text("").is_err());
    }

    #[test]
    fn grouping_sorts_protocols_and_keeps_all_ports() {
        let g = group_by_protocol(vec![
            (Protocol::Udp, Some(Single(53))),
            (Protocol::Tcp, Some(Single(80))),
            (Protocol::Tcp, None),
            (Protocol::Tcp, Some(Single(81))),
            (Protocol::Sctp, Some(Single(9))),
        ]);
        assert_eq!(
            g,
            vec![
                (Some(Protocol::Sctp), vec![Single(9)]),
                (Some(Protocol::Tcp), vec![]),
                (Some(Protocol::Udp), vec![Single(53)]),
            ]
        );
        assert_eq!(group_by_protocol(vec![]), vec![(None, vec![])]);
    }
}
