//! The small value languages of scenario files: durations (`2m`, `1h30m`, `250ms`), amounts
//! with jitter (`12000 ±20%`), rates (`5`, `30/m`) and ports (`80`, `http`, `42000-43000`).
//!
//! Every parser returns a message meant to follow `file: field:` in an error.

use serde::Deserialize;

/// A YAML scalar before it is interpreted: `80`, `1.5` and `"2m"` all arrive here.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged, expecting = "a number or a string")]
pub enum Scalar {
    Int(i64),
    Float(f64),
    Str(String),
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Int(n) => write!(f, "{n}"),
            Scalar::Float(x) => write!(f, "{x}"),
            Scalar::Str(s) => write!(f, "{s:?}"),
        }
    }
}

impl From<u16> for Scalar {
    fn from(n: u16) -> Self {
        Scalar::Int(n.into())
    }
}

impl From<&str> for Scalar {
    fn from(s: &str) -> Self {
        Scalar::Str(s.to_owned())
    }
}

/// A value that varies per connection: uniformly within `value × (1 ± jitter)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Jittered {
    pub value: f64,
    /// A fraction: 0.2 for ±20 %.
    pub jitter: f64,
}

impl Jittered {
    pub const fn fixed(value: f64) -> Jittered {
        Jittered { value, jitter: 0.0 }
    }

    pub const fn new(value: f64, jitter: f64) -> Jittered {
        Jittered { value, jitter }
    }
}

/// Seconds from `90`, `1.5`, `"90s"`, `"2m"`, `"1h30m"`, `"250ms"`.
pub fn parse_duration(value: &Scalar) -> Result<f64, String> {
    let bad = || {
        format!(
            "invalid duration {value}: expected seconds (90, 1.5) or units such as 250ms, 90s, 2m, 1h30m"
        )
    };
    let seconds = match value {
        Scalar::Int(n) => *n as f64,
        Scalar::Float(x) => *x,
        Scalar::Str(text) => duration_text(text.trim()).ok_or_else(bad)?,
    };
    if seconds.is_finite() && seconds >= 0.0 {
        Ok(seconds)
    } else {
        Err(bad())
    }
}

fn duration_text(text: &str) -> Option<f64> {
    if let Ok(x) = text.parse::<f64>() {
        return Some(x);
    }
    let mut total = 0.0;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            _ => return None,
        };
        total += number * factor;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// Splits `"12000 ±20%"` (or `+-20%`) into the value text and the jitter fraction.
fn split_jitter(text: &str) -> Result<(&str, Option<f64>), String> {
    let Some((value, pct)) = text.split_once('±').or_else(|| text.split_once("+-")) else {
        return Ok((text.trim(), None));
    };
    let pct = pct.trim();
    let number = pct
        .strip_suffix('%')
        .ok_or_else(|| format!("jitter {pct:?} must be a percentage such as 20%"))?;
    let fraction: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("jitter {pct:?} must be a percentage such as 20%"))?;
    if !(0.0..=100.0).contains(&fraction) {
        return Err(format!("jitter {pct} must be between 0% and 100%"));
    }
    Ok((value.trim(), Some(fraction / 100.0)))
}

/// A jitter on its own: `20%`, `"20%"` or `0.2`.
pub fn parse_jitter(value: &Scalar) -> Result<f64, String> {
    let fraction = match value {
        Scalar::Int(n) => *n as f64 / 100.0,
        Scalar::Float(x) if *x <= 1.0 => *x,
        Scalar::Float(x) => *x / 100.0,
        Scalar::Str(text) => {
            let t = text.trim();
            let n = t.strip_suffix('%').unwrap_or(t).trim();
            n.parse::<f64>()
                .map_err(|_| format!("invalid jitter {value}: expected a percentage such as 20%"))?
                / 100.0
        }
    };
    if (0.0..=1.0).contains(&fraction) {
        Ok(fraction)
    } else {
        Err(format!(
            "invalid jitter {value}: expected a percentage between 0% and 100%"
        ))
    }
}

/// A byte or packet count, optionally with its own jitter: `800`, `"12k"`, `"1.5M ±10%"`.
/// `k`, `M` and `G` are powers of 1,000. `default_jitter` applies when none is written.
pub fn parse_amount(value: &Scalar, default_jitter: f64) -> Result<Jittered, String> {
    let bad = |why: &str| format!("invalid amount {value}: {why}");
    let (amount, jitter) = match value {
        Scalar::Int(n) => (*n as f64, None),
        Scalar::Float(x) => (*x, None),
        Scalar::Str(text) => {
            let (number, jitter) = split_jitter(text).map_err(|e| bad(&e))?;
            let (digits, factor) = match number.as_bytes().last() {
                Some(b'k' | b'K') => (&number[..number.len() - 1], 1e3),
                Some(b'M') => (&number[..number.len() - 1], 1e6),
                Some(b'G') => (&number[..number.len() - 1], 1e9),
                _ => (number, 1.0),
            };
            let n: f64 = digits
                .trim()
                .parse()
                .map_err(|_| bad("expected a number such as 800, 12k or \"12k ±20%\""))?;
            (n * factor, jitter)
        }
    };
    if !amount.is_finite() || amount < 0.0 {
        return Err(bad("must not be negative"));
    }
    Ok(Jittered::new(amount, jitter.unwrap_or(default_jitter)))
}

/// A duration with optional jitter: `2`, `"2s ±50%"`, `"250ms"`.
pub fn parse_jittered_duration(value: &Scalar, default_jitter: f64) -> Result<Jittered, String> {
    match value {
        Scalar::Str(text) => {
            let (number, jitter) =
                split_jitter(text).map_err(|e| format!("invalid duration {value}: {e}"))?;
            let seconds = parse_duration(&Scalar::Str(number.to_owned()))?;
            Ok(Jittered::new(seconds, jitter.unwrap_or(default_jitter)))
        }
        other => Ok(Jittered::new(parse_duration(other)?, default_jitter)),
    }
}

/// Connections per second from `5`, `0.5`, `"5/s"`, `"30/m"`, `"10/h"`.
pub fn parse_rate(value: &Scalar) -> Result<f64, String> {
    let bad = || {
        format!("invalid rate {value}: expected connections per second (5, 0.5) or 5/s, 30/m, 10/h")
    };
    let rate = match value {
        Scalar::Int(n) => *n as f64,
        Scalar::Float(x) => *x,
        Scalar::Str(text) => {
            let (number, per) = text.split_once('/').unwrap_or((text, "s"));
            let n: f64 = number.trim().parse().map_err(|_| bad())?;
            let per = match per.trim() {
                "s" | "sec" | "second" => 1.0,
                "m" | "min" | "minute" => 60.0,
                "h" | "hour" => 3600.0,
                _ => return Err(bad()),
            };
            n / per
        }
    };
    if rate.is_finite() && rate >= 0.0 {
        Ok(rate)
    } else {
        Err(bad())
    }
}

/// One item of a `port`/`ports` field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortItem {
    Single(u16),
    /// Inclusive; one port is picked per connection.
    Range(u16, u16),
    /// A service port name or a container port name, resolved against the destination.
    Named(String),
}

/// `80`, `"http"`, `"42000-43000"` or Calico's `"42000:43000"`.
pub fn parse_port(value: &Scalar) -> Result<PortItem, String> {
    let bad = || {
        format!(
            "invalid port {value}: expected 1-65535, a range such as 42000-43000, or a port name"
        )
    };
    let number = |n: i64| u16::try_from(n).ok().filter(|&p| p > 0).ok_or_else(bad);
    match value {
        Scalar::Int(n) => Ok(PortItem::Single(number(*n)?)),
        Scalar::Float(_) => Err(bad()),
        Scalar::Str(text) => {
            let t = text.trim();
            // `dns-tcp` is a name, `42000-43000` a range: only digits on both sides make one.
            let range = t
                .split_once('-')
                .or_else(|| t.split_once(':'))
                .and_then(|(a, b)| {
                    Some((a.trim().parse::<i64>().ok()?, b.trim().parse::<i64>().ok()?))
                });
            if let Some((a, b)) = range {
                let (first, last) = (number(a)?, number(b)?);
                if first > last {
                    return Err(format!(
                        "invalid port range {value}: the first port is above the last"
                    ));
                }
                return Ok(if first == last {
                    PortItem::Single(first)
                } else {
                    PortItem::Range(first, last)
                });
            }
            if let Ok(n) = t.parse::<i64>() {
                return Ok(PortItem::Single(number(n)?));
            }
            let valid_name = !t.is_empty()
                && t.len() <= 15
                && t.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && t.bytes().any(|b| b.is_ascii_lowercase());
            if valid_name {
                Ok(PortItem::Named(t.to_owned()))
            } else {
                Err(bad())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Scalar {
        Scalar::Str(text.into())
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration(&Scalar::Int(90)), Ok(90.0));
        assert_eq!(parse_duration(&s("2m")), Ok(120.0));
        assert_eq!(parse_duration(&s("1h30m")), Ok(5400.0));
        assert_eq!(parse_duration(&s("250ms")), Ok(0.25));
        assert_eq!(parse_duration(&s("1.5s")), Ok(1.5));
        assert!(parse_duration(&s("2 minutes")).is_err());
        assert!(parse_duration(&s("")).is_err());
        assert!(parse_duration(&Scalar::Int(-1)).is_err());
        assert!(parse_duration(&s("m")).is_err());
    }

    #[test]
    fn amounts_and_jitter() {
        assert_eq!(
            parse_amount(&Scalar::Int(800), 0.2),
            Ok(Jittered::new(800.0, 0.2))
        );
        assert_eq!(
            parse_amount(&s("12k ±10%"), 0.2),
            Ok(Jittered::new(12_000.0, 0.1))
        );
        assert_eq!(
            parse_amount(&s("1.5M +-0%"), 0.2),
            Ok(Jittered::new(1_500_000.0, 0.0))
        );
        assert!(parse_amount(&s("12 ±200%"), 0.2).is_err());
        assert!(parse_amount(&s("lots"), 0.2).is_err());
        assert!(parse_amount(&Scalar::Int(-5), 0.2).is_err());
        assert_eq!(parse_jitter(&s("25%")), Ok(0.25));
        assert_eq!(parse_jitter(&Scalar::Float(0.1)), Ok(0.1));
        assert_eq!(
            parse_jittered_duration(&s("2s ±50%"), 0.0),
            Ok(Jittered::new(2.0, 0.5))
        );
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate(&Scalar::Int(5)), Ok(5.0));
        assert_eq!(parse_rate(&s("30/m")), Ok(0.5));
        assert_eq!(parse_rate(&s("36/h")), Ok(0.01));
        assert!(parse_rate(&s("fast")).is_err());
        assert!(parse_rate(&Scalar::Float(-1.0)).is_err());
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port(&Scalar::Int(80)), Ok(PortItem::Single(80)));
        assert_eq!(
            parse_port(&s("42000-43000")),
            Ok(PortItem::Range(42000, 43000))
        );
        assert_eq!(
            parse_port(&s("42000:43000")),
            Ok(PortItem::Range(42000, 43000))
        );
        assert_eq!(parse_port(&s("http")), Ok(PortItem::Named("http".into())));
        assert_eq!(
            parse_port(&s("dns-tcp")),
            Ok(PortItem::Named("dns-tcp".into()))
        );
        assert!(parse_port(&Scalar::Int(0)).is_err());
        assert!(parse_port(&Scalar::Int(70000)).is_err());
        assert!(parse_port(&s("43000-42000")).is_err());
        assert!(parse_port(&s("Not A Port")).is_err());
    }
}
