//! Which record times are plausible. A record that ends more than a day after the clock is
//! a wrong clock or a unit mistake (milliseconds given as seconds): stored, it would become
//! every view's "now" and empty them all, so it is rejected with its reason.

use std::time::{SystemTime, UNIX_EPOCH};

/// How far after the clock (unix seconds) a record may end.
pub const FUTURE_TOLERANCE: i64 = 86_400;

/// 2100-01-01: a later time is most likely milliseconds.
const MILLISECONDS_LIKELY: i64 = 4_102_444_800;

/// The wall clock in unix seconds.
pub fn wall_clock() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Why a record ending at `end_time` is implausible when the clock reads `now`, if it is.
pub fn implausible_end(end_time: i64, now: i64) -> Option<String> {
    if end_time <= now.saturating_add(FUTURE_TOLERANCE) {
        return None;
    }
    let hint = if end_time > MILLISECONDS_LIKELY {
        " (milliseconds instead of seconds?)"
    } else {
        ""
    };
    Some(format!(
        "end_time {end_time} is more than a day after the clock ({now}){hint}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_ahead_is_allowed_and_more_is_not() {
        let now = 1_765_000_000;
        assert_eq!(implausible_end(now, now), None);
        assert_eq!(implausible_end(now + FUTURE_TOLERANCE, now), None);
        let ahead = implausible_end(now + FUTURE_TOLERANCE + 1, now).unwrap();
        assert!(ahead.contains("more than a day after the clock"), "{ahead}");
        assert!(!ahead.contains("milliseconds"), "{ahead}");
        let millis = implausible_end(now * 1000, now).unwrap();
        assert!(
            millis.contains("milliseconds instead of seconds"),
            "{millis}"
        );
    }
}
