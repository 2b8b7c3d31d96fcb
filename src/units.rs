//! Units shared by the CLI, profiles and reports: durations with a unit suffix
//! (`250us`, `50ms`, `1.5s`, `2m`, `1h`) parsed to microseconds, and printed back.

use std::time::Duration;

/// Parse a duration with a unit suffix (`us`, `µs`, `ms`, `s`, `m`, `h`) into microseconds.
/// A bare `0` is accepted; any other bare number is an error so `50` is never silently `50s`.
pub fn parse_duration_us(text: &str) -> Result<f64, String> {
    let t = text.trim();
    if t == "0" {
        return Ok(0.0);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("duration {t:?} has no unit (use us, ms, s, m or h)"))?;
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("duration {t:?}: {num:?} is not a number"))?;
    let scale = match unit {
        "us" | "µs" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => return Err(format!("duration {t:?}: unknown unit {unit:?} (use us, ms, s, m or h)")),
    };
    let us = value * scale;
    if !us.is_finite() {
        return Err(format!("duration {t:?} is out of range"));
    }
    Ok(us)
}

/// Parse a duration into a `Duration`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    parse_duration_us(text).map(|us| Duration::from_nanos((us * 1e3).round() as u64))
}

/// Format microseconds with the largest unit that keeps it readable (`850us`, `12.5ms`, `3.2s`).
pub fn format_us(us: f64) -> String {
    if us < 1e3 {
        format!("{us:.0}us")
    } else if us < 1e6 {
        trim_float(us / 1e3, "ms")
    } else {
        trim_float(us / 1e6, "s")
    }
}

fn trim_float(v: f64, unit: &str) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit() {
        assert_eq!(parse_duration_us("250us").unwrap(), 250.0);
        assert_eq!(parse_duration_us("50ms").unwrap(), 50_000.0);
        assert_eq!(parse_duration_us("1.5s").unwrap(), 1_500_000.0);
        assert_eq!(parse_duration_us("2m").unwrap(), 120e6);
        assert_eq!(parse_duration_us("0").unwrap(), 0.0);
        assert_eq!(parse_duration("10ms").unwrap(), Duration::from_millis(10));
    }

    #[test]
    fn rejects_missing_or_unknown_units() {
        assert!(parse_duration_us("50").unwrap_err().contains("no unit"));
        assert!(parse_duration_us("5parsecs").unwrap_err().contains("unknown unit"));
        assert!(parse_duration_us("ms").unwrap_err().contains("not a number"));
    }

    #[test]
    fn formats_round_trip_readably() {
        assert_eq!(format_us(850.0), "850us");
        assert_eq!(format_us(12_500.0), "12.5ms");
        assert_eq!(format_us(3_200_000.0), "3.2s");
    }
}
