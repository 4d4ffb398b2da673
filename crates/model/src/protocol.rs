//! IP protocols as policies and flow logs name them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

/// An IP protocol. Named variants are the ones Calico accepts by name; anything else is kept
/// by number so that `protocol: 47` in a rule still compares equal to a GRE flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    IcmpV6,
    Sctp,
    UdpLite,
    Other(u8),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown protocol {0:?}: expected TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a number 1-255")]
pub struct ProtocolParseError(pub String);

impl Protocol {
    /// The IANA protocol number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Icmp => 1,
            Protocol::IcmpV6 => 58,
            Protocol::Sctp => 132,
            Protocol::UdpLite => 136,
            Protocol::Other(n) => n,
        }
    }

    /// The protocol with this number, named when Calico has a name for it.
    pub fn from_number(n: u8) -> Protocol {
        match n {
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            1 => Protocol::Icmp,
            58 => Protocol::IcmpV6,
            132 => Protocol::Sctp,
            136 => Protocol::UdpLite,
            n => Protocol::Other(n),
        }
    }

    /// Parses a name (case-insensitive, as flow logs and manifests write them) or a number.
    pub fn parse(text: &str) -> Result<Protocol, ProtocolParseError> {
        let t = text.trim();
        if let Ok(n) = t.parse::<u16>() {
            return match u8::try_from(n) {
                Ok(n) if n > 0 => Ok(Protocol::from_number(n)),
                _ => Err(ProtocolParseError(text.to_string())),
            };
        }
        // Compared without lower-casing a copy: every flow log line is parsed here.
        const NAMES: [(&str, Protocol); 8] = [
            ("tcp", Protocol::Tcp),
            ("udp", Protocol::Udp),
            ("icmp", Protocol::Icmp),
            ("icmpv6", Protocol::IcmpV6),
            ("icmp6", Protocol::IcmpV6),
            ("ipv6-icmp", Protocol::IcmpV6),
            ("sctp", Protocol::Sctp),
            ("udplite", Protocol::UdpLite),
        ];
        NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(t))
            .map(|&(_, protocol)| protocol)
            .ok_or_else(|| ProtocolParseError(text.to_string()))
    }

    /// Whether rules may name ports with this protocol (Calico: TCP, UDP and SCTP only).
    pub fn has_ports(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Udp | Protocol::Sctp)
    }

    /// Lower-case name as Calico flow logs print it (`tcp`, `udp`, `icmp`, …, or the number).
    pub fn flow_log_name(self) -> Cow<'static, str> {
        match self {
            Protocol::Tcp => "tcp".into(),
            Protocol::Udp => "udp".into(),
            Protocol::Icmp => "icmp".into(),
            Protocol::IcmpV6 => "icmp6".into(),
            Protocol::Sctp => "sctp".into(),
            Protocol::UdpLite => "udplite".into(),
            Protocol::Other(n) => n.to_string().into(),
        }
    }
}

/// Prints the name as Calico manifests spell it (`TCP`, `ICMPv6`, …).
impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Tcp => f.write_str("TCP"),
            Protocol::Udp => f.write_str("UDP"),
            Protocol::Icmp => f.write_str("ICMP"),
            Protocol::IcmpV6 => f.write_str("ICMPv6"),
            Protocol::Sctp => f.write_str("SCTP"),
            Protocol::UdpLite => f.write_str("UDPLite"),
            Protocol::Other(n) => write!(f, "{n}"),
        }
    }
}

impl std::str::FromStr for Protocol {
    type Err = ProtocolParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Protocol::parse(s)
    }
}

impl Serialize for Protocol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Protocol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(u16),
            Text(String),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Num(n) => n.to_string(),
            Raw::Text(t) => t,
        };
        Protocol::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_round_trip() {
        for p in [
            Protocol::Tcp,
            Protocol::Udp,
            Protocol::Icmp,
            Protocol::IcmpV6,
            Protocol::Sctp,
        ] {
            assert_eq!(Protocol::parse(&p.to_string()), Ok(p));
            assert_eq!(Protocol::from_number(p.number()), p);
            assert_eq!(Protocol::parse(&p.flow_log_name()), Ok(p));
        }
        assert_eq!(Protocol::parse("tcp"), Ok(Protocol::Tcp));
        assert_eq!(Protocol::parse("47"), Ok(Protocol::Other(47)));
        assert_eq!(Protocol::parse("6"), Ok(Protocol::Tcp));
        assert!(Protocol::parse("0").is_err());
        assert!(Protocol::parse("256").is_err());
        assert!(Protocol::parse("tcpx").is_err());
    }

    #[test]
    fn names_are_read_in_any_case_with_their_aliases() {
        for (text, p) in [
            ("TCP", Protocol::Tcp),
            (" Udp ", Protocol::Udp),
            ("ICMPv6", Protocol::IcmpV6),
            ("icmp6", Protocol::IcmpV6),
            ("IPv6-ICMP", Protocol::IcmpV6),
            ("SCTP", Protocol::Sctp),
            ("UDPLite", Protocol::UdpLite),
        ] {
            assert_eq!(Protocol::parse(text), Ok(p), "{text}");
        }
        for text in ["", "icmpv", "tcp6", "udp-lite"] {
            assert!(Protocol::parse(text).is_err(), "{text}");
        }
    }
}
