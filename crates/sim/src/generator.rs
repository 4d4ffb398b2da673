//! The generator: a simulated clock that turns a scenario's compiled traffic into raw flow
//! records, deterministically for a seed.
//!
//! Each traffic entry is a Poisson process (exponential gaps at its rate) with its own two
//! random streams, one for arrival times and one for what each connection looks like, both
//! derived from the seed and where the entry was declared. Records carry whole seconds, so
//! the generator works a second at a time: a second's records come out once the clock has
//! passed its end, entry by entry in declaration order (which keeps each entry's data hot in
//! the cache). So records come out in `start_time` order, they do not depend on how time is
//! cut into batches (ephemeral ports included), and entries that keep running across a step
//! keep their streams.

use crate::compile::{Addr, CompiledEntry, fnv1a};
use crate::scenario::Scenario;
use crate::spec::Pick;
use crate::units::Jittered;
use flowlens_model::{Protocol, RawFlow};
use ipnet::IpNet;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rustc_hash::FxHashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// Linux's default ephemeral port range (`net.ipv4.ip_local_port_range`).
pub const EPHEMERAL_PORTS: std::ops::RangeInclusive<u16> = 32768..=60999;
/// Payload bytes per packet when packet counts are derived from byte counts.
pub const MSS: u64 = 1448;

enum Source {
    /// A fixed address with its own ephemeral port counter.
    Ip {
        ip: IpAddr,
        counter: u32,
    },
    Net(IpNet),
    Internet,
}

struct Running {
    entry: Arc<CompiledEntry>,
    sources: Vec<Source>,
    /// What each connection looks like.
    rng: ChaCha8Rng,
    /// When connections start: a separate stream, so that how many arrivals are drawn
    /// before a batch ends cannot shift the contents.
    arrivals: SplitMix,
    /// 1 / rate; infinite when the rate is 0.
    mean_gap: f64,
    rr_source: u32,
    rr_target: u32,
    rr_addr: u32,
    emitted: u64,
}

/// How much one entry has produced.
#[derive(Clone, Debug, PartialEq)]
pub struct EntryStats {
    /// The entry's name, or where it was declared (`traffic[3]`).
    pub label: String,
    /// Connections per second.
    pub rate: f64,
    pub emitted: u64,
}

/// Generates raw flow records for a scenario.
///
/// ```no_run
/// # fn main() -> Result<(), flowlens_sim::Error> {
/// use flowlens_sim::{Generator, Scenario};
/// let mut scenario = Scenario::builtin("fme")?;
/// let mut generator = Generator::new(&scenario, 42, 1_700_000_000);
/// let before = generator.advance(60.0);
/// let inventory = scenario.apply_step("fix")?; // rebuild the policy engine from this
/// generator.set_scenario(&scenario);
/// let after = generator.advance(60.0);
/// # Ok(()) }
/// ```
pub struct Generator {
    seed: u64,
    start_time: i64,
    /// Seconds since `start_time`.
    now: f64,
    /// Seconds before this (since `start_time`, a whole number) have been emitted.
    emitted_to: f64,
    running: Vec<Running>,
    /// Next arrival of each running entry, in seconds since `start_time`.
    next: Vec<f64>,
    ports: Vec<u16>,
    port_of: FxHashMap<IpAddr, u32>,
    emitted: u64,
}

impl Generator {
    /// A generator at `start_time` (unix seconds) for the scenario's current traffic.
    pub fn new(scenario: &Scenario, seed: u64, start_time: i64) -> Generator {
        let mut generator = Generator {
            seed,
            start_time,
            now: 0.0,
            emitted_to: 0.0,
            running: Vec::new(),
            next: Vec::new(),
            ports: Vec::new(),
            port_of: FxHashMap::default(),
            emitted: 0,
        };
        generator.set_scenario(scenario);
        generator
    }

    /// Takes up the scenario's current traffic mix (after [`Scenario::apply_step`]). Entries
    /// that keep running keep their random stream and schedule; new ones start now; source
    /// addresses keep their ephemeral port counters.
    pub fn set_scenario(&mut self, scenario: &Scenario) {
        let mut previous: FxHashMap<u64, (Running, f64)> = self
            .running
            .drain(..)
            .zip(self.next.drain(..))
            .map(|(r, n)| (r.entry.key, (r, n)))
            .collect();
        for entry in &scenario.traffic.entries {
            let sources = self.sources(entry);
            let mean_gap = if entry.rate > 0.0 {
                1.0 / entry.rate
            } else {
                f64::INFINITY
            };
            let (running, next) = match previous.remove(&entry.key) {
                Some((mut kept, next)) => {
                    kept.entry = entry.clone();
                    kept.sources = sources;
                    kept.mean_gap = mean_gap;
                    (kept, next)
                }
                None => {
                    let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
                    rng.set_stream(entry.key);
                    let mut arrivals = SplitMix(splitmix(self.seed ^ entry.key.rotate_left(17)));
                    let first = self.now + arrivals.exponential(mean_gap);
                    let running = Running {
                        entry: entry.clone(),
                        sources,
                        rng,
                        arrivals,
                        mean_gap,
                        rr_source: 0,
                        rr_target: 0,
                        rr_addr: 0,
                        emitted: 0,
                    };
                    (running, first)
                }
            };
            self.running.push(running);
            self.next.push(next);
        }
    }

    fn sources(&mut self, entry: &CompiledEntry) -> Vec<Source> {
        entry
            .sources
            .iter()
            .map(|a| match a {
                Addr::Ip(ip) => Source::Ip {
                    ip: *ip,
                    counter: self.port_counter(*ip),
                },
                Addr::Net(net) => Source::Net(*net),
                Addr::Internet => Source::Internet,
            })
            .collect()
    }

    /// Each source address starts at its own (seeded) place in the ephemeral range.
    fn port_counter(&mut self, ip: IpAddr) -> u32 {
        if let Some(&i) = self.port_of.get(&ip) {
            return i;
        }
        let span = u64::from(EPHEMERAL_PORTS.end() - EPHEMERAL_PORTS.start()) + 1;
        let start =
            EPHEMERAL_PORTS.start() + (splitmix(self.seed ^ fnv1a(&ip.to_string())) % span) as u16;
        let i = self.ports.len() as u32;
        self.ports.push(start);
        self.port_of.insert(ip, i);
        i
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn start_time(&self) -> i64 {
        self.start_time
    }

    /// The simulated clock, in unix seconds.
    pub fn now(&self) -> f64 {
        self.start_time as f64 + self.now
    }

    /// Simulated seconds since the start.
    pub fn elapsed(&self) -> f64 {
        self.now
    }

    /// Connections per second of all running entries together.
    pub fn total_rate(&self) -> f64 {
        self.running.iter().map(|r| r.entry.rate).sum()
    }

    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    pub fn entry_stats(&self) -> Vec<EntryStats> {
        self.running
            .iter()
            .map(|r| EntryStats {
                label: r.entry.label.clone(),
                rate: r.entry.rate,
                emitted: r.emitted,
            })
            .collect()
    }

    /// Moves the clock `seconds` forward and returns the connections that started in the
    /// seconds it completed. A second cut by the end of a batch comes out with the batch
    /// that completes it.
    pub fn advance(&mut self, seconds: f64) -> Vec<RawFlow> {
        let mut out = Vec::new();
        self.advance_into(seconds, &mut out);
        out
    }

    /// [`Generator::advance`] into a caller's buffer (appended), to reuse its allocation.
    pub fn advance_into(&mut self, seconds: f64, out: &mut Vec<RawFlow>) {
        if seconds.is_finite() && seconds > 0.0 {
            self.run_until(self.now + seconds, out);
        }
    }

    /// The connections that start before `until` (unix seconds); the clock moves to it. The
    /// `next_batch(until)` of a caller polling the generator.
    pub fn advance_to(&mut self, until: i64) -> Vec<RawFlow> {
        let mut out = Vec::new();
        self.advance_until(until as f64, &mut out);
        out
    }

    /// [`Generator::advance_to`] for a fractional time, into a caller's buffer (for a
    /// [`crate::SimClock`] driving the generator at some speed).
    pub fn advance_until(&mut self, until: f64, out: &mut Vec<RawFlow>) {
        let target = until - self.start_time as f64;
        if target.is_finite() && target > self.now {
            self.run_until(target, out);
        }
    }

    fn run_until(&mut self, until: f64, out: &mut Vec<RawFlow>) {
        let complete = until.floor();
        let expected = self.total_rate() * (complete - self.emitted_to);
        if expected.is_finite() && expected > 0.0 {
            out.reserve((expected * 1.05) as usize + 16);
        }
        let before = out.len();
        while self.emitted_to < complete {
            let second_end = self.emitted_to + 1.0;
            for (run, next) in self.running.iter_mut().zip(self.next.iter_mut()) {
                while *next < second_end {
                    emit(run, &mut self.ports, self.start_time, *next, out);
                    *next += run.arrivals.exponential(run.mean_gap);
                }
            }
            self.emitted_to = second_end;
        }
        self.emitted += (out.len() - before) as u64;
        self.now = until;
    }
}

/// A small, fast, seedable stream (splitmix64) for arrival times.
struct SplitMix(u64);

impl SplitMix {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        (splitmix(self.0) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// An exponential gap with the given mean; `-ln(1 - u)` with `u` in [0, 1) is finite.
    fn exponential(&mut self, mean: f64) -> f64 {
        if mean.is_infinite() {
            return f64::INFINITY;
        }
        -(1.0 - self.next_f64()).ln() * mean
    }
}

/// splitmix64's output function.
fn splitmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[inline]
fn pick_index(len: usize, pick: Pick, rr: &mut u32, rng: &mut ChaCha8Rng) -> usize {
    if len <= 1 {
        return 0;
    }
    match pick {
        Pick::Random => rng.random_range(0..len),
        Pick::RoundRobin => {
            let i = *rr as usize % len;
            *rr = rr.wrapping_add(1);
            i
        }
    }
}

#[inline]
fn sample(j: Jittered, rng: &mut ChaCha8Rng) -> f64 {
    if j.jitter == 0.0 {
        j.value
    } else {
        j.value * (1.0 + j.jitter * (2.0 * rng.random::<f64>() - 1.0))
    }
}

fn count(j: Jittered, rng: &mut ChaCha8Rng) -> u64 {
    sample(j, rng).round().max(0.0) as u64
}

/// Packets for a byte count when the scenario gives none: full-size segments, plus the
/// handshake and teardown for TCP (SYN, ACK, FIN out; SYN-ACK, FIN in). Nothing sent, no
/// packets.
fn derived_packets(bytes: u64, protocol: Protocol, outbound: bool) -> u64 {
    if bytes == 0 {
        return 0;
    }
    let data = bytes.div_ceil(MSS);
    match (protocol, outbound) {
        (Protocol::Tcp, true) => data + 3,
        (Protocol::Tcp, false) => data + 2,
        _ => data,
    }
}

fn random_ephemeral(rng: &mut ChaCha8Rng) -> u16 {
    rng.random_range(EPHEMERAL_PORTS)
}

/// A host address of `net`: not the network or broadcast address when there is a choice.
fn random_in(net: &IpNet, rng: &mut ChaCha8Rng) -> IpAddr {
    match net {
        IpNet::V4(n) => {
            let bits = 32 - u32::from(n.prefix_len());
            let base = u32::from(n.network());
            let offset = match bits {
                0 => 0,
                1 => rng.random_range(0..2),
                32 => rng.random::<u32>(),
                b => rng.random_range(1..(1u32 << b) - 1),
            };
            IpAddr::V4(Ipv4Addr::from(base | offset))
        }
        IpNet::V6(n) => {
            let bits = 128 - u32::from(n.prefix_len());
            let base = u128::from(n.network());
            let offset = match bits {
                0 => 0,
                128 => rng.random::<u128>(),
                b => rng.random::<u128>() & ((1u128 << b) - 1),
            };
            IpAddr::V6(Ipv6Addr::from(base | offset))
        }
    }
}

/// A random public IPv4 address: no private, shared, loopback, link-local, multicast or
/// reserved space, and no documentation ranges (scenarios use those for threat feeds).
fn random_public(rng: &mut ChaCha8Rng) -> IpAddr {
    loop {
        let a: u32 = rng.random();
        if is_public(a) {
            return IpAddr::V4(Ipv4Addr::from(a));
        }
    }
}

fn is_public(a: u32) -> bool {
    let [o0, o1, o2, _] = a.to_be_bytes();
    !(o0 == 0
        || o0 == 10
        || o0 == 127
        || o0 >= 224
        || (o0 == 100 && (o1 & 0xc0) == 64)
        || (o0 == 169 && o1 == 254)
        || (o0 == 172 && (o1 & 0xf0) == 16)
        || (o0 == 192 && o1 == 168)
        || (o0 == 192 && o1 == 0 && (o2 == 0 || o2 == 2))
        || (o0 == 198 && (o1 & 0xfe) == 18)
        || (o0 == 198 && o1 == 51 && o2 == 100)
        || (o0 == 203 && o1 == 0 && o2 == 113))
}

/// One connection of `run` starting at `at` (seconds since `start_time`).
fn emit(run: &mut Running, ports: &mut [u16], start_time: i64, at: f64, out: &mut Vec<RawFlow>) {
    let Running {
        entry,
        sources,
        rng,
        rr_source,
        rr_target,
        rr_addr,
        emitted,
        ..
    } = run;
    let has_ports = entry.protocol.has_ports();

    let source = &sources[pick_index(sources.len(), entry.pick, rr_source, rng)];
    let (src_ip, src_port) = match source {
        Source::Ip { ip, counter } => {
            let port = &mut ports[*counter as usize];
            let current = *port;
            *port = if current >= *EPHEMERAL_PORTS.end() {
                *EPHEMERAL_PORTS.start()
            } else {
                current + 1
            };
            (*ip, current)
        }
        Source::Net(net) => (random_in(net, rng), random_ephemeral(rng)),
        Source::Internet => (random_public(rng), random_ephemeral(rng)),
    };

    let target = &entry.targets[pick_index(entry.targets.len(), entry.pick, rr_target, rng)];
    let dst_ip = match &target.addrs[pick_index(target.addrs.len(), entry.pick, rr_addr, rng)] {
        Addr::Ip(ip) => *ip,
        Addr::Net(net) => random_in(net, rng),
        Addr::Internet => random_public(rng),
    };
    // Ports are always picked at random: a port pool is used that way.
    let port_choice = if target.ports.len() > 1 {
        rng.random_range(0..target.ports.len())
    } else {
        0
    };
    let (first, last) = target.ports[port_choice];
    let dst_port = if first == last {
        first
    } else {
        rng.random_range(first..=last)
    };

    let bytes_out = count(entry.bytes_out, rng);
    let bytes_in = count(entry.bytes_in, rng);
    let packets_out = match entry.packets_out {
        Some(p) => count(p, rng),
        None => derived_packets(bytes_out, entry.protocol, true),
    };
    let packets_in = match entry.packets_in {
        Some(p) => count(p, rng),
        None => derived_packets(bytes_in, entry.protocol, false),
    };
    let duration = sample(entry.duration, rng).max(0.0);

    *emitted += 1;
    out.push(RawFlow {
        start_time: start_time + at.floor() as i64,
        end_time: start_time + (at + duration).floor() as i64,
        src_ip,
        src_port: if has_ports { src_port } else { 0 },
        dst_ip,
        dst_port,
        proto: entry.protocol,
        bytes_out,
        bytes_in,
        packets_out,
        packets_in,
        process_name: entry.process_name.clone(),
        process_id: None,
        reporter: None,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses_avoid_special_ranges() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..10_000 {
            let IpAddr::V4(a) = random_public(&mut rng) else {
                unreachable!("v4 only")
            };
            assert!(
                !a.is_private() && !a.is_loopback() && !a.is_multicast() && !a.is_documentation(),
                "{a}"
            );
        }
    }

    #[test]
    fn addresses_stay_in_their_network() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for text in [
            "54.172.60.0/23",
            "10.0.0.0/31",
            "10.0.0.7/32",
            "2001:db8::/64",
            "0.0.0.0/0",
        ] {
            let net: IpNet = text.parse().expect("net");
            for _ in 0..1000 {
                let ip = random_in(&net, &mut rng);
                assert!(net.contains(&ip), "{ip} not in {net}");
            }
        }
        let net: IpNet = "192.168.1.0/24".parse().expect("net");
        for _ in 0..1000 {
            let IpAddr::V4(a) = random_in(&net, &mut rng) else {
                unreachable!("v4")
            };
            assert!(a.octets()[3] != 0 && a.octets()[3] != 255);
        }
    }

    #[test]
    fn derived_packets_follow_bytes() {
        assert_eq!(derived_packets(0, Protocol::Tcp, true), 0);
        assert_eq!(derived_packets(1, Protocol::Tcp, true), 4);
        assert_eq!(derived_packets(3000, Protocol::Tcp, false), 5);
        assert_eq!(derived_packets(100, Protocol::Udp, true), 1);
    }
}
