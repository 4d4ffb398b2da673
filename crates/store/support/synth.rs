//! Synthetic but realistic flow logs for benchmarks, examples and tests: 2000 namespaces of
//! 5 apps, labels, 1–3 enforced policy hits (sometimes a pending one), mostly allowed.
//! Deterministic for a given seed. Shared by `benches/`, `examples/` and `tests/` via
//! `#[path]`.

#![allow(dead_code)]

use flowlens_model::{
    Action, EndpointType, FlowEnd, FlowLog, FlowService, HitAction, Labels, PolicyHit, PolicyKind,
    Protocol, Reporter,
};
use std::net::{IpAddr, Ipv4Addr};

pub const NAMESPACES: u64 = 2000;
pub const APPS: u64 = 5;
const TIERS: [&str; 3] = ["web", "api", "db"];

/// SplitMix64: small, fast, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Calico aggregation levels: 0 keeps every pod, IP and port; 2 aggregates them away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Zero,
    Two,
}

pub struct Generator {
    rng: Rng,
    level: Level,
}

fn ns_name(ns: u64) -> String {
    format!("ns-{ns:04}")
}

fn app_name(app: u64) -> String {
    ["frontend", "checkout", "catalog", "payments", "redis"][app as usize % 5].to_string()
}

fn labels(ns: u64, app: u64) -> Labels {
    Labels::from([
        ("app".to_string(), app_name(app)),
        ("tier".to_string(), TIERS[(app % 3) as usize].to_string()),
        ("team".to_string(), format!("team-{}", ns % 50)),
        ("version".to_string(), format!("v{}", (ns + app) % 4)),
    ])
}

fn hit(
    index: u32,
    tier: &str,
    kind: PolicyKind,
    ns: Option<String>,
    name: String,
    action: HitAction,
    rule: i32,
) -> PolicyHit {
    PolicyHit {
        index,
        tier: tier.into(),
        kind: Some(kind),
        namespace: ns,
        name,
        action,
        rule,
    }
}

impl Generator {
    pub fn new(seed: u64, level: Level) -> Generator {
        Generator {
            rng: Rng::new(seed),
            level,
        }
    }

    fn end(&mut self, ns: u64, app: u64, is_source: bool) -> FlowEnd {
        let rng = &mut self.rng;
        let aggr = format!("{}-{:x}-*", app_name(app), (ns * 7919 + app) % 0xfffff);
        match self.level {
            Level::Zero => {
                let pod = rng.below(4);
                let ip = Ipv4Addr::new(
                    10,
                    (ns / 250) as u8,
                    (ns % 250) as u8,
                    (app * 40 + pod) as u8,
                );
                FlowEnd {
                    ip: Some(IpAddr::V4(ip)),
                    name: Some(format!(
                        "{}{:05x}",
                        &aggr[..aggr.len() - 1],
                        rng.below(1 << 20)
                    )),
                    name_aggr: aggr,
                    namespace: Some(ns_name(ns)),
                    port: Some(if is_source {
                        32768 + rng.below(28000) as u16
                    } else {
                        [80, 443, 8080, 6379, 5432][app as usize % 5]
                    }),
                    endpoint_type: Some(EndpointType::Wep),
                    labels: labels(ns, app),
                }
            }
            Level::Two => FlowEnd {
                ip: None,
                name: None,
                name_aggr: aggr,
                namespace: Some(ns_name(ns)),
                port: if is_source {
                    None
                } else {
                    Some([80, 443, 8080, 6379, 5432][app as usize % 5])
                },
                endpoint_type: Some(EndpointType::Wep),
                labels: labels(ns, app),
            },
        }
    }

    /// One flow log ending at `end_time`.
    pub fn flow(&mut self, end_time: i64) -> FlowLog {
        let src_ns = self.rng.below(NAMESPACES);
        // Most traffic stays in its namespace or goes to a few shared ones.
        let dst_ns = if self.rng.chance(70) {
            src_ns
        } else {
            self.rng.below(20)
        };
        let (src_app, dst_app) = (self.rng.below(APPS), self.rng.below(APPS));
        let source = self.end(src_ns, src_app, true);
        let mut dest = self.end(dst_ns, dst_app, false);
        let external = self.rng.chance(3);
        if external {
            dest = FlowEnd {
                ip: (self.level == Level::Zero)
                    .then(|| IpAddr::V4(Ipv4Addr::new(52, 1, (self.rng.below(250)) as u8, 7))),
                name: None,
                name_aggr: "pub".into(),
                namespace: None,
                port: Some(443),
                endpoint_type: Some(EndpointType::Net),
                labels: Labels::new(),
            };
        }
        let denied = self.rng.chance(5);
        let action = if denied { Action::Deny } else { Action::Allow };
        let mut enforced = Vec::new();
        if self.rng.chance(40) {
            enforced.push(hit(
                0,
                "security",
                PolicyKind::GlobalNetworkPolicy,
                None,
                format!("sec-{}", self.rng.below(8)),
                HitAction::Pass,
                -1,
            ));
        }
        if self.rng.chance(30) {
            let idx = enforced.len() as u32;
            enforced.push(hit(
                idx,
                "platform",
                PolicyKind::GlobalNetworkPolicy,
                None,
                format!("plat-{}", self.rng.below(12)),
                HitAction::Pass,
                self.rng.below(3) as i32,
            ));
        }
        let idx = enforced.len() as u32;
        let final_action = if denied {
            HitAction::Deny
        } else {
            HitAction::Allow
        };
        let rule = if denied { -1 } else { self.rng.below(4) as i32 };
        enforced.push(hit(
            idx,
            "default",
            PolicyKind::NetworkPolicy,
            Some(ns_name(dst_ns)),
            format!("allow-{}", app_name(dst_app)),
            final_action,
            rule,
        ));
        let pending = if self.rng.chance(10) {
            vec![hit(
                0,
                "default",
                PolicyKind::StagedNetworkPolicy,
                Some(ns_name(dst_ns)),
                "staged-lockdown".into(),
                HitAction::Deny,
                -1,
            )]
        } else {
            Vec::new()
        };
        let flows = 1 + self
            .rng
            .below(if self.level == Level::Two { 40 } else { 3 });
        let packets = flows * (1 + self.rng.below(200));
        let duration = 300;
        FlowLog {
            start_time: end_time - duration,
            end_time,
            source,
            dest,
            dest_service: (!external && self.rng.chance(60)).then(|| FlowService {
                namespace: ns_name(dst_ns),
                name: app_name(dst_app),
                port_name: "http".into(),
                port_num: 80,
            }),
            proto: if self.rng.chance(90) {
                Protocol::Tcp
            } else {
                Protocol::Udp
            },
            action,
            reporter: if self.rng.chance(50) {
                Reporter::Src
            } else {
                Reporter::Dst
            },
            enforced_policies: enforced,
            pending_policies: pending,
            bytes_in: packets * (60 + self.rng.below(1400)),
            bytes_out: packets * (60 + self.rng.below(1400)),
            packets_in: packets,
            packets_out: packets + self.rng.below(10),
            num_flows: flows,
            num_flows_started: flows.saturating_sub(self.rng.below(2)),
            num_flows_completed: flows.saturating_sub(self.rng.below(2)),
            process_name: (self.level == Level::Zero && self.rng.chance(20))
                .then(|| "nginx".to_string()),
            process_id: (self.level == Level::Zero && self.rng.chance(20))
                .then(|| self.rng.below(60000) as i64),
            host: Some(format!("node-{}", self.rng.below(200))),
        }
    }

    /// `n` flow logs with end times spread evenly over `[start, start + span)`.
    pub fn batch(
        &mut self,
        n: usize,
        start: i64,
        span: i64,
        offset: u64,
        total: u64,
    ) -> Vec<FlowLog> {
        (0..n as u64)
            .map(|i| {
                let pos = offset + i;
                let t = start + (pos as i128 * span as i128 / total.max(1) as i128) as i64;
                self.flow(t)
            })
            .collect()
    }
}
