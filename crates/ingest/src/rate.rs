//! Records per second over the last ten seconds, cheap enough to update for every record.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// How far back [`RateWindow::per_second`] looks, in seconds.
const WINDOW_SECS: f64 = 10.0;

/// Samples of a running total, one a second at most, covering the last ten seconds.
#[derive(Debug)]
pub struct RateWindow {
    started: Instant,
    /// The whole second (since `started`) of the newest sample: updating the total costs an
    /// atomic load, and the lock is taken once a second.
    last_second: AtomicU64,
    /// `(seconds since started, total)`.
    samples: Mutex<VecDeque<(f64, u64)>>,
}

impl Default for RateWindow {
    fn default() -> Self {
        RateWindow {
            started: Instant::now(),
            last_second: AtomicU64::new(u64::MAX),
            samples: Mutex::new(VecDeque::new()),
        }
    }
}

impl RateWindow {
    /// Notes the running `total` when a new second has begun since the last sample.
    pub fn sample(&self, total: u64) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let second = elapsed as u64;
        if self.last_second.swap(second, Ordering::Relaxed) == second {
            return;
        }
        if let Ok(mut samples) = self.samples.lock() {
            samples.push_back((elapsed, total));
            // Keep one sample older than the window, to measure the whole window from it.
            while samples.len() > 2 && samples[1].0 <= elapsed - WINDOW_SECS {
                samples.pop_front();
            }
        }
    }

    /// The total's growth per second over about the last ten seconds, `total` being its
    /// value now.
    pub fn per_second(&self, total: u64) -> f64 {
        self.sample(total);
        let now = self.started.elapsed().as_secs_f64();
        let Ok(samples) = self.samples.lock() else {
            return 0.0;
        };
        let base = samples
            .iter()
            .rev()
            .find(|(t, _)| *t <= now - WINDOW_SECS)
            .or(samples.front())
            .copied();
        match base {
            Some((t, n)) if now - t > 0.0 => total.saturating_sub(n) as f64 / (now - t),
            _ => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_sample_has_no_rate_and_growth_is_measured_from_the_oldest() {
        let w = RateWindow::default();
        w.sample(0);
        assert_eq!(w.per_second(0), 0.0);
        // A sample taken "two seconds ago" by hand: the rate is the growth over that time.
        {
            let mut s = w.samples.lock().unwrap();
            s.clear();
            s.push_back((w.started.elapsed().as_secs_f64() - 2.0, 100));
        }
        let rate = w.per_second(300);
        assert!((90.0..=101.0).contains(&rate), "{rate}");
    }
}
