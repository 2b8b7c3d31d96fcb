//! The limits of every profile value and run flag, in one place: each check uses these
//! constants, and README.md lists them. Each limit is far above a real run and well below
//! where later arithmetic breaks (an `Instant` plus a duration, a body allocated for a token
//! count, a schedule of arrivals), so a value past it is refused before any load, with the
//! field or flag named, instead of failing (or spinning) mid-run.

use std::time::Duration;

use crate::metrics::Limit;
use crate::units::format_us;
use crate::units::parse_duration;

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

/// Shortest stage: the engine's timers tick in milliseconds.
pub(crate) const MIN_STAGE: Duration = Duration::from_millis(1);
/// Longest stage (30 days).
pub(crate) const MAX_STAGE: Duration = Duration::from_secs(30 * DAY);
/// Most virtual users in a closed-loop stage (the peak of a ramp; all shards together).
pub(crate) const MAX_USERS: u32 = 1_000_000;
/// Highest open-loop rate in arrivals/s (either end of a ramp; all shards together).
pub(crate) const MAX_RATE: f64 = 10_000_000.0;
/// Most turns of one conversation.
pub(crate) const MAX_TURNS: u32 = 10_000;
/// Largest `max_tokens` of a request.
pub(crate) const MAX_OUTPUT_TOKENS: u32 = 1_000_000;
/// Largest generated input: `approx_input_tokens` and `shared_prefix_tokens` (about 4 bytes
/// a token, rendered once per scenario).
pub(crate) const MAX_INPUT_TOKENS: u32 = 4_000_000;
/// Shortest timeout (whole request, connect, first byte, idle).
pub(crate) const MIN_TIMEOUT: Duration = Duration::from_millis(1);
/// Longest timeout (a day).
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(DAY);
/// Longest pause: `grace` after the last stage and `think_time` between turns (a day).
pub(crate) const MAX_PAUSE: Duration = Duration::from_secs(DAY);
/// Most requests in flight (`max_inflight`) and fixed connections (`connections`).
pub(crate) const MAX_INFLIGHT: u64 = 1_000_000;
/// Largest scenario weight.
pub(crate) const MAX_WEIGHT: u64 = u32::MAX as u64;

/// The allowed range of a duration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Span {
    pub min: Duration,
    pub max: Duration,
}

/// A stage's duration.
pub(crate) const STAGE: Span = Span { min: MIN_STAGE, max: MAX_STAGE };
/// Every timeout.
pub(crate) const TIMEOUT: Span = Span { min: MIN_TIMEOUT, max: MAX_TIMEOUT };
/// `grace` and `think_time` (0 = none).
pub(crate) const PAUSE: Span = Span { min: Duration::ZERO, max: MAX_PAUSE };
/// `warmup` (0 = none); it must also be shorter than every stage.
pub(crate) const WARMUP: Span = Span { min: Duration::ZERO, max: MAX_STAGE };

impl Span {
    /// `d` if within the span, else why not (without a field name).
    pub(crate) fn check(&self, d: Duration) -> Result<Duration, String> {
        if d < self.min {
            if d.is_zero() {
                return Err("must be above 0".into());
            }
            return Err(format!("{} is below the minimum {}", show(d), show(self.min)));
        }
        if d > self.max {
            return Err(format!("{} is above the limit {}", show(d), show(self.max)));
        }
        Ok(d)
    }
}

/// `n` if within `min..=max`, else why not (without a field name).
pub(crate) fn within(n: u64, min: u64, max: u64) -> Result<u64, String> {
    if n < min {
        Err(format!("{n} must be at least {min}"))
    } else if n > max {
        Err(format!("{n} is above the limit {max}"))
    } else {
        Ok(n)
    }
}

/// A whole-number profile field within `min..=max`; absent → `None`; errors name the path.
pub(super) fn count(errs: &mut Vec<String>, path: &str, v: Option<i64>, min: u64, max: u64) -> Option<u64> {
    let v = v?;
    let checked = match u64::try_from(v) {
        Ok(n) => within(n, min, max),
        Err(_) => Err(format!("{v} must be at least {min}")),
    };
    checked.map_err(|e| errs.push(format!("{path}: {e}"))).ok()
}

/// A duration profile field (Go syntax) within `span`; absent → `default`; errors name the path.
pub(super) fn duration(
    errs: &mut Vec<String>,
    path: &str,
    text: Option<&str>,
    default: Duration,
    span: Span,
) -> Duration {
    let Some(text) = text else { return default };
    match parse_duration(text).and_then(|d| span.check(d)) {
        Ok(d) => d,
        Err(e) => {
            errs.push(format!("{path}: {e}"));
            default
        }
    }
}

/// A profile limit: 0 sets none (nexus's rule), anything else is a [`Limit`] or an error
/// naming the path.
pub(super) fn limit(errs: &mut Vec<String>, path: &str, name: &str, v: f64, zero: &str) -> Option<Limit> {
    if v == 0.0 {
        return None;
    }
    Limit::from_number(name, v).map_err(|e| errs.push(format!("{path}: {e} ({zero})"))).ok()
}

/// A duration as messages show it: `1ns`, `250us`, `1.5s`, whole hours as `720h`.
pub(crate) fn show(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns > 0 && ns < 1000 {
        format!("{ns}ns")
    } else if d.as_secs() >= HOUR && d.subsec_nanos() == 0 && d.as_secs().is_multiple_of(HOUR) {
        format!("{}h", d.as_secs() / HOUR)
    } else {
        format_us(d.as_micros() as f64)
    }
}

/// A number as messages show it: `2000`, `0.5`, and `1e9` rather than ten digits.
pub(crate) fn show_number(r: f64) -> String {
    if r.abs() >= 1e9 {
        format!("{r:e}")
    } else {
        format!("{r}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_say_why() {
        let ms = Duration::from_millis;
        assert_eq!(STAGE.check(ms(1)).unwrap(), ms(1));
        assert_eq!(STAGE.check(Duration::ZERO).unwrap_err(), "must be above 0");
        assert_eq!(STAGE.check(Duration::from_nanos(1)).unwrap_err(), "1ns is below the minimum 1ms");
        assert_eq!(STAGE.check(MAX_STAGE).unwrap(), MAX_STAGE);
        assert_eq!(STAGE.check(MAX_STAGE + ms(1)).unwrap_err(), "2592000.001s is above the limit 720h");
        assert_eq!(TIMEOUT.check(Duration::ZERO).unwrap_err(), "must be above 0");
        assert_eq!(TIMEOUT.check(Duration::from_secs(2 * DAY)).unwrap_err(), "48h is above the limit 24h");
        assert_eq!(PAUSE.check(Duration::ZERO).unwrap(), Duration::ZERO);
    }

    #[test]
    fn counts_say_why() {
        assert_eq!(within(5, 1, 10), Ok(5));
        assert_eq!(within(0, 1, 10).unwrap_err(), "0 must be at least 1");
        assert_eq!(within(11, 1, 10).unwrap_err(), "11 is above the limit 10");
        let mut errs = Vec::new();
        assert_eq!(count(&mut errs, "x", Some(-3), 1, 10), None);
        assert_eq!(count(&mut errs, "y", None, 1, 10), None);
        assert_eq!(errs, ["x: -3 must be at least 1"]);
        assert_eq!(show_number(1e9), "1e9");
        assert_eq!(show_number(1e300), "1e300");
        assert_eq!(show_number(2000.0), "2000");
    }
}
