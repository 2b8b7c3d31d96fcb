//! Durations as profiles write them: Go's `time.ParseDuration` syntax (`"60s"`, `"250ms"`,
//! `"1m30s"`, `"1h2m"`, `"1.5h"`), which nexus-loadtest profiles use, on top of
//! `units::parse_duration` (`250us`, `50ms`, `1.5s`, `2m`, `1h`, bare `0`).

use std::time::Duration;

use crate::units::parse_duration;

const UNITS_HINT: &str = "use ns, us, ms, s, m or h, e.g. \"250ms\", \"60s\" or \"1m30s\"";

/// Parses a profile duration. Single-unit forms go through `units::parse_duration`; compound
/// Go forms (`1m30s`, `2h45m10.5s`) are summed here. Negative durations are rejected.
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if let Ok(d) = parse_duration(t) {
        return Ok(d);
    }
    if t.is_empty() {
        return Err(format!("empty duration ({UNITS_HINT})"));
    }
    if t.starts_with('-') {
        return Err(format!("{t:?} is negative"));
    }
    let body = t.strip_prefix('+').unwrap_or(t);
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = body;
    let mut total_ns = 0f64;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(format!("{t:?} is not a duration ({UNITS_HINT})"));
        }
        let unit_len = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let scale_ns = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("{t:?} has no unit ({UNITS_HINT})")),
            _ => return Err(format!("{t:?}: unknown unit {unit:?} ({UNITS_HINT})")),
        };
        let value: f64 = num.parse().map_err(|_| format!("{t:?} is not a duration ({UNITS_HINT})"))?;
        total_ns += value * scale_ns;
        rest = next;
    }
    if !total_ns.is_finite() || total_ns > u64::MAX as f64 {
        return Err(format!("{t:?} is out of range"));
    }
    Ok(Duration::from_nanos(total_ns.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        let s = Duration::from_secs;
        assert_eq!(parse_go_duration("60s").unwrap(), s(60));
        assert_eq!(parse_go_duration("2m").unwrap(), s(120));
        assert_eq!(parse_go_duration("1m30s").unwrap(), s(90));
        assert_eq!(parse_go_duration("1h2m").unwrap(), s(3720));
        assert_eq!(parse_go_duration("2h45m10.5s").unwrap(), Duration::from_millis(9_910_500));
        assert_eq!(parse_go_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_go_duration("1.5h").unwrap(), s(5400));
        assert_eq!(parse_go_duration("1s500ms").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_go_duration("300ns").unwrap(), Duration::from_nanos(300));
        assert_eq!(parse_go_duration("1m0.5s").unwrap(), Duration::from_millis(60_500));
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_go_duration("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse_go_duration("+5s").unwrap(), s(5));
    }

    #[test]
    fn bad_durations_say_why() {
        assert!(parse_go_duration("10").unwrap_err().contains("no unit"), "bare number");
        assert!(parse_go_duration("1m30").unwrap_err().contains("no unit"));
        assert!(parse_go_duration("5parsecs").unwrap_err().contains("unknown unit \"parsecs\""));
        assert!(parse_go_duration("-5s").unwrap_err().contains("negative"));
        assert!(parse_go_duration("").unwrap_err().contains("empty"));
        assert!(parse_go_duration("s").unwrap_err().contains("not a duration"));
        assert!(parse_go_duration("1..2s").unwrap_err().contains("not a duration"));
    }
}
