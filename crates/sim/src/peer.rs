//! How a traffic entry names its ends: `ns/name`, `service:ns/name`, an address, a CIDR, a
//! network set, a domain name or `internet`.

use ipnet::IpNet;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// One end of a traffic entry, as written in a scenario.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PeerRef {
    /// `ns/name`: a Service of that name if there is one (as a destination its cluster IP, as
    /// a source its backends), otherwise a workload (Deployment, StatefulSet, …), a pod, or a
    /// namespaced network set.
    Named {
        namespace: String,
        name: String,
    },
    /// `service:ns/name`.
    Service {
        namespace: String,
        name: String,
    },
    /// `workload:ns/name`: the pods of a controller, addressed directly (no Service).
    Workload {
        namespace: String,
        name: String,
    },
    /// `pod:ns/name`.
    Pod {
        namespace: String,
        name: String,
    },
    /// A bare name (`twilio`), `networkset:name` (global) or `networkset:ns/name`: addresses
    /// drawn from the set's nets. A bare name matches a GlobalNetworkSet first, then a
    /// namespaced set if exactly one namespace has one of that name.
    NetworkSet {
        namespace: Option<String>,
        name: String,
    },
    Ip(IpAddr),
    /// Addresses drawn at random from the network.
    Net(IpNet),
    /// A domain name, mapped to fixed addresses by the scenario's `hosts` or the built-in
    /// table (see [`crate::hosts`]).
    Host(String),
    /// Random public IPv4 addresses (no private, reserved or documentation ranges).
    Internet,
}

impl fmt::Display for PeerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerRef::Named { namespace, name } => write!(f, "{namespace}/{name}"),
            PeerRef::Service { namespace, name } => write!(f, "service:{namespace}/{name}"),
            PeerRef::Workload { namespace, name } => write!(f, "workload:{namespace}/{name}"),
            PeerRef::Pod { namespace, name } => write!(f, "pod:{namespace}/{name}"),
            PeerRef::NetworkSet {
                namespace: Some(ns),
                name,
            } => write!(f, "networkset:{ns}/{name}"),
            PeerRef::NetworkSet {
                namespace: None,
                name,
            } => write!(f, "networkset:{name}"),
            PeerRef::Ip(ip) => write!(f, "{ip}"),
            PeerRef::Net(net) => write!(f, "{net}"),
            PeerRef::Host(host) => f.write_str(host),
            PeerRef::Internet => f.write_str("internet"),
        }
    }
}

fn namespaced(text: &str, what: &str) -> Result<(String, String), String> {
    match text.split_once('/') {
        Some((ns, name)) if valid_name(ns) && valid_name(name) => {
            Ok((ns.to_owned(), name.to_owned()))
        }
        _ => Err(format!("{what} {text:?} must be written namespace/name")),
    }
}

/// Kubernetes object names: lower-case alphanumerics, `-` and `.`.
fn valid_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

impl FromStr for PeerRef {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text == "internet" {
            return Ok(PeerRef::Internet);
        }
        if let Some((prefix, rest)) = text.split_once(':') {
            let (namespace, name) = match prefix {
                "service" | "svc" => {
                    let (namespace, name) = namespaced(rest, "service")?;
                    return Ok(PeerRef::Service { namespace, name });
                }
                "workload" => {
                    let (namespace, name) = namespaced(rest, "workload")?;
                    return Ok(PeerRef::Workload { namespace, name });
                }
                "pod" => {
                    let (namespace, name) = namespaced(rest, "pod")?;
                    return Ok(PeerRef::Pod { namespace, name });
                }
                "networkset" | "netset" => match rest.split_once('/') {
                    Some(_) => {
                        let (ns, name) = namespaced(rest, "network set")?;
                        (Some(ns), name)
                    }
                    None if valid_name(rest) => (None, rest.to_owned()),
                    None => return Err(format!("invalid network set name {rest:?}")),
                },
                // An IPv6 address has colons too.
                _ => {
                    return text
                        .parse::<IpAddr>()
                        .map(PeerRef::Ip)
                        .or_else(|_| parse_net(text));
                }
            };
            return Ok(PeerRef::NetworkSet { namespace, name });
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(PeerRef::Ip(ip));
        }
        if let Ok(net) = text.parse::<IpNet>() {
            return Ok(PeerRef::Net(net.trunc()));
        }
        if let Some((before, _)) = text.split_once('/') {
            if before.parse::<IpAddr>().is_ok() {
                return Err(format!("invalid CIDR {text:?}"));
            }
            let (namespace, name) = namespaced(text, "name")?;
            return Ok(PeerRef::Named { namespace, name });
        }
        if text.contains('.') {
            if valid_name(&text.to_ascii_lowercase()) {
                return Ok(PeerRef::Host(text.to_ascii_lowercase()));
            }
            return Err(format!("invalid domain name {text:?}"));
        }
        if valid_name(text) {
            return Ok(PeerRef::NetworkSet {
                namespace: None,
                name: text.to_owned(),
            });
        }
        Err(format!(
            "cannot read {text:?} as a peer: expected namespace/name, service:ns/name, workload:ns/name, \
             pod:ns/name, a network set name, an IP address, a CIDR, a domain name or internet"
        ))
    }
}

fn parse_net(text: &str) -> Result<PeerRef, String> {
    text.parse::<IpNet>()
        .map(|n| PeerRef::Net(n.trunc()))
        .map_err(|_| format!("cannot read {text:?} as a peer: unknown prefix before ':'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> PeerRef {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(
            p("fme/fmeserver-core"),
            PeerRef::Named {
                namespace: "fme".into(),
                name: "fmeserver-core".into()
            }
        );
        assert_eq!(
            p("service:fme/x"),
            PeerRef::Service {
                namespace: "fme".into(),
                name: "x".into()
            }
        );
        assert_eq!(
            p("workload:fme/x"),
            PeerRef::Workload {
                namespace: "fme".into(),
                name: "x".into()
            }
        );
        assert_eq!(
            p("pod:fme/x-0"),
            PeerRef::Pod {
                namespace: "fme".into(),
                name: "x-0".into()
            }
        );
        assert_eq!(
            p("twilio"),
            PeerRef::NetworkSet {
                namespace: None,
                name: "twilio".into()
            }
        );
        assert_eq!(
            p("networkset:storefront/twilio"),
            PeerRef::NetworkSet {
                namespace: Some("storefront".into()),
                name: "twilio".into()
            }
        );
        assert_eq!(
            p("54.172.60.1"),
            PeerRef::Ip("54.172.60.1".parse().unwrap())
        );
        assert_eq!(
            p("2001:db8::1"),
            PeerRef::Ip("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            p("54.172.60.9/23"),
            PeerRef::Net("54.172.60.0/23".parse().unwrap())
        );
        assert_eq!(
            p("2001:db8::/32"),
            PeerRef::Net("2001:db8::/32".parse().unwrap())
        );
        assert_eq!(p("API.twilio.com"), PeerRef::Host("api.twilio.com".into()));
        assert_eq!(p("internet"), PeerRef::Internet);
    }

    #[test]
    fn rejects_nonsense() {
        for bad in [
            "",
            "a/b/c",
            "/x",
            "10.0.0.0/33",
            "Frontend/x",
            "service:frontend",
            "bogus:x",
            "a b",
            "networkset:A",
        ] {
            assert!(bad.parse::<PeerRef>().is_err(), "{bad:?} should not parse");
        }
    }
}
