//! Observed destination ports into the port list of a rule: single ports where traffic used a
//! few, a range where it used a dense pool (FME's engines use the core's 42000–43000 pool: a
//! person writes `42000:43000`, not 974 ports).

use flowlens_model::PortMatch;
use serde::Serialize;
use std::collections::BTreeSet;

/// When observed ports count as a pool.
///
/// A *dense run* is a sequence of observed ports, in ascending order, in which each port is
/// at most `max_gap` above the one before, holding at least `min_ports` ports. A dense run
/// becomes one range; every other port stays single. The ends of a range are then widened to
/// the roundest number (a multiple of 10, 100, 1000 or 10000, the multiple no larger than the
/// run's span) that is at most `max_gap` away, because pools are configured with round ends
/// and traffic in a learning window rarely touches the very first and last port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PortDensity {
    pub min_ports: usize,
    pub max_gap: u16,
}

impl Default for PortDensity {
    fn default() -> Self {
        PortDensity {
            min_ports: 10,
            max_gap: 32,
        }
    }
}

/// The ports of a rule for the observed `ports`, ascending; singles and ranges never overlap.
pub fn collapse(ports: &BTreeSet<u16>, density: PortDensity) -> Vec<PortMatch> {
    let mut runs: Vec<Vec<u16>> = Vec::new();
    for &port in ports {
        match runs.last_mut() {
            Some(run)
                if run
                    .last()
                    .is_some_and(|&last| port - last <= density.max_gap.max(1)) =>
            {
                run.push(port)
            }
            _ => runs.push(vec![port]),
        }
    }
    let mut out: Vec<PortMatch> = Vec::new();
    let mut floor: u16 = 0; // the widened start may not reach back over an earlier port
    for (i, run) in runs.iter().enumerate() {
        let (Some(&first), Some(&last)) = (run.first(), run.last()) else {
            continue;
        };
        if run.len() >= density.min_ports.max(2) {
            let ceiling = runs
                .get(i + 1)
                .and_then(|next| next.first())
                .map_or(u16::MAX, |&next| next - 1);
            let span = last - first;
            let start = widen_down(first, span, density.max_gap).max(floor);
            let end = widen_up(last, span, density.max_gap).min(ceiling);
            out.push(PortMatch::Range {
                first: start,
                last: end,
            });
            floor = end.saturating_add(1);
        } else {
            out.extend(run.iter().map(|&p| PortMatch::Single(p)));
            floor = last.saturating_add(1);
        }
    }
    out
}

const ROUND: [u32; 4] = [10_000, 1_000, 100, 10];

fn widen_down(first: u16, span: u16, max_gap: u16) -> u16 {
    let first32 = u32::from(first);
    for step in ROUND {
        let candidate = first32 / step * step;
        if step <= u32::from(span) && first32 - candidate <= u32::from(max_gap) {
            return u16::try_from(candidate).unwrap_or(first).max(1);
        }
    }
    first
}

fn widen_up(last: u16, span: u16, max_gap: u16) -> u16 {
    let last32 = u32::from(last);
    for step in ROUND {
        let candidate = last32.div_ceil(step) * step;
        if step <= u32::from(span)
            && candidate - last32 <= u32::from(max_gap)
            && candidate <= u32::from(u16::MAX)
        {
            return u16::try_from(candidate).unwrap_or(last);
        }
    }
    last
}

/// Whether a rule's ports allow `port`.
pub fn allows(ports: &[PortMatch], port: u16) -> bool {
    ports.iter().any(|m| match m {
        PortMatch::Single(p) => *p == port,
        PortMatch::Range { first, last } => (*first..=*last).contains(&port),
        PortMatch::Named(_) => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(ports: impl IntoIterator<Item = u16>) -> BTreeSet<u16> {
        ports.into_iter().collect()
    }

    #[test]
    fn few_ports_stay_single() {
        let got = collapse(&set([443, 80, 8080]), PortDensity::default());
        assert_eq!(
            got,
            [
                PortMatch::Single(80),
                PortMatch::Single(443),
                PortMatch::Single(8080)
            ]
        );
    }

    #[test]
    fn a_pool_becomes_a_round_range() {
        // 974 of the 1001 ports of 42000–43000, as a learning window of FME traffic shows.
        let pool: BTreeSet<u16> = (42000..=43000)
            .filter(|p| p % 37 != 0)
            .filter(|&p| p > 42002 && p < 42998)
            .collect();
        let mut ports = pool.clone();
        ports.insert(7070);
        let got = collapse(&ports, PortDensity::default());
        assert_eq!(
            got,
            [
                PortMatch::Single(7070),
                PortMatch::Range {
                    first: 42000,
                    last: 43000
                }
            ]
        );
    }

    #[test]
    fn a_gap_larger_than_allowed_splits_runs() {
        let ports = set((1000..1020).chain(1100..1120));
        let got = collapse(&ports, PortDensity::default());
        assert_eq!(
            got,
            [
                // Widened to the round end a pool is configured with.
                PortMatch::Range {
                    first: 1000,
                    last: 1020
                },
                PortMatch::Range {
                    first: 1100,
                    last: 1120
                }
            ]
        );
        // Nine ports in a row are not a pool yet; ten are.
        assert_eq!(collapse(&set(5000..5009), PortDensity::default()).len(), 9);
        assert_eq!(
            collapse(&set(5000..5010), PortDensity::default()),
            [PortMatch::Range {
                first: 5000,
                last: 5009
            }]
        );
    }

    #[test]
    fn widening_never_swallows_a_neighbour_or_leaves_the_port_space() {
        let ports = set((65500..=65535).chain([65460]));
        let got = collapse(&ports, PortDensity::default());
        assert_eq!(got.first(), Some(&PortMatch::Single(65460)));
        assert!(matches!(got[1], PortMatch::Range { first, last: 65535 } if first > 65460));
        let low = collapse(&set(1..40), PortDensity::default());
        assert!(matches!(low[0], PortMatch::Range { first, .. } if first >= 1));
    }

    proptest! {
        /// Every observed port stays allowed, ranges and singles are ascending and disjoint,
        /// and a range holds only ports within `max_gap` of observed ones.
        #[test]
        fn collapsing_keeps_every_observed_port(ports in proptest::collection::btree_set(1u16.., 0..200),
                                                min_ports in 2usize..20, max_gap in 1u16..100) {
            let density = PortDensity { min_ports, max_gap };
            let got = collapse(&ports, density);
            for &p in &ports {
                prop_assert!(allows(&got, p), "{p} lost in {got:?}");
            }
            let bounds: Vec<(u16, u16)> = got.iter().map(|m| match m {
                PortMatch::Single(p) => (*p, *p),
                PortMatch::Range { first, last } => (*first, *last),
                PortMatch::Named(_) => unreachable!(),
            }).collect();
            for w in bounds.windows(2) {
                prop_assert!(w[0].1 < w[1].0, "{bounds:?}");
            }
            for (first, last) in bounds {
                for q in first..=last {
                    let near = ports.range(q.saturating_sub(max_gap)..=q.saturating_add(max_gap)).next().is_some();
                    prop_assert!(near, "{q} in {first}:{last} is far from every observed port");
                }
            }
        }
    }
}
