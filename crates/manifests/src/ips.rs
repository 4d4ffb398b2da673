//! Deterministic addresses for pods and services whose manifests do not say.
//!
//! Manifests rarely carry pod IPs, yet flows are keyed by address. Addresses are handed out
//! in a fixed order (sorted by namespace and name, after every document is read), skipping
//! the network address and every address a manifest states explicitly, so the same
//! manifests always give the same addresses.

use ipnet::IpNet;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Hands out the addresses of one CIDR in order.
pub(crate) struct Allocator {
    net: IpNet,
    next_offset: u128,
    size: u128,
    taken: HashSet<IpAddr>,
}

impl Allocator {
    pub fn new(net: IpNet, taken: HashSet<IpAddr>) -> Allocator {
        let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
        let size = if host_bits >= 128 {
            u128::MAX
        } else {
            1u128 << host_bits
        };
        // Offset 0 is the network address. For IPv4 the last address is the broadcast
        // address, which no pod gets either.
        let size = if net.addr().is_ipv4() && size > 2 {
            size - 1
        } else {
            size
        };
        Allocator {
            net: net.trunc(),
            next_offset: 1,
            size,
            taken,
        }
    }

    /// The next free address, or `None` when the CIDR is used up.
    pub fn next(&mut self) -> Option<IpAddr> {
        while self.next_offset < self.size {
            let ip = add(self.net.network(), self.next_offset)?;
            self.next_offset += 1;
            if self.taken.insert(ip) {
                return Some(ip);
            }
        }
        None
    }

    pub fn net(&self) -> IpNet {
        self.net
    }
}

fn add(base: IpAddr, offset: u128) -> Option<IpAddr> {
    match base {
        IpAddr::V4(v4) => {
            let offset = u32::try_from(offset).ok()?;
            u32::from(v4)
                .checked_add(offset)
                .map(|n| IpAddr::V4(Ipv4Addr::from(n)))
        }
        IpAddr::V6(v6) => u128::from(v6)
            .checked_add(offset)
            .map(|n| IpAddr::V6(Ipv6Addr::from(n))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_network_taken_and_broadcast() {
        let net: IpNet = "10.0.0.0/30".parse().unwrap_or_else(|_| unreachable!());
        let taken = HashSet::from([IpAddr::from([10, 0, 0, 1])]);
        let mut a = Allocator::new(net, taken);
        assert_eq!(a.next(), Some(IpAddr::from([10, 0, 0, 2])));
        assert_eq!(a.next(), None);
    }

    #[test]
    fn ipv6_works() {
        let net: IpNet = "fd00::/120".parse().unwrap_or_else(|_| unreachable!());
        let mut a = Allocator::new(net, HashSet::new());
        assert_eq!(a.next(), "fd00::1".parse().ok());
    }
}
