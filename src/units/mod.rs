//! Units shared by the CLI, profiles and reports: durations in Go's syntax (`250ms`, `1.5s`,
//! `1m30s`) parsed for every flag and profile field, and printed back.

use std::time::Duration;

pub(crate) mod calendar;

const UNITS_HINT: &str = "use ns, us, ms, s, m or h, e.g. \"250ms\", \"60s\" or \"1m30s\"";

/// Parses a duration in Go's `time.ParseDuration` syntax, the one grammar of every flag and
/// profile field: a unit on every number (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`), decimals and
/// compound forms (`250ms`, `1.5s`, `1m30s`, `2h45m10.5s`), a bare `0`. A bare number is an
/// error, so `50` is never silently `50s`; negative durations are refused.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
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
    if !total_ns.is_finite() {
        return Err(format!("{t:?} is out of range"));
    }
    // Past u64 nanoseconds (584 years) it saturates; every caller's upper bound refuses it.
    Ok(Duration::from_nanos(total_ns.round() as u64))
}

/// `parse_duration`, in microseconds (fractions kept).
pub(crate) fn parse_duration_us(text: &str) -> Result<f64, String> {
    parse_duration(text).map(|d| d.as_nanos() as f64 / 1e3)
}

/// `n` per second over `secs` (0 when the window is empty: nothing was measured).
pub(crate) fn per_second(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

/// The one duration formatter: microseconds in the largest unit that keeps it readable, to
/// at most 3 decimals (`850us`, `12.5ms`, `3.2s`). A measured figure goes through [`sig3`]
/// first.
pub(crate) fn format_us(us: f64) -> String {
    if us < 1e3 {
        format!("{us:.0}us")
    } else if us < 1e6 {
        trim_float(us / 1e3, "ms")
    } else {
        trim_float(us / 1e6, "s")
    }
}

/// `v` rounded to 3 significant digits (`153_599` → `154_000`): what an HDR histogram with 3
/// significant figures can vouch for, so a measured latency is shown no finer than measured.
pub(crate) fn sig3(v: f64) -> f64 {
    if !v.is_finite() || v == 0.0 {
        return v;
    }
    let k = v.abs().log10().floor() as i32 - 2;
    if k >= 0 {
        let scale = 10f64.powi(k);
        (v / scale).round() * scale
    } else {
        let scale = 10f64.powi(-k);
        (v * scale).round() / scale
    }
}

fn trim_float(v: f64, unit: &str) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{unit}")
}

/// Parses a wall-clock time: unix seconds (`1764086400`, `1764086400.5`) or RFC 3339
/// (`2026-11-25T17:00:00Z`, `2026-11-25T18:00:00.250+01:00`). Returns µs since the epoch.
pub(crate) fn parse_wall_time_us(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs: f64 = t.parse().map_err(|_| format!("{t:?} is not a number of seconds"))?;
        return Ok((secs * 1e6).round() as u64);
    }
    let bad = || format!("{t:?}: expected RFC 3339 like 2026-11-25T17:00:00Z, or unix seconds");
    let b = t.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| t.get(r).and_then(|s| s.parse::<i64>().ok()).ok_or_else(bad);
    let (y, mo, d, h, mi, s) =
        (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(format!("{t:?}: a date or time field is out of range"));
    }
    let mut rest = &t[19..];
    let mut frac_us = 0i64;
    if let Some(f) = rest.strip_prefix('.') {
        let digits = f.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let padded = format!("{:0<6}", &f[..digits.min(6)]);
        frac_us = padded.parse().map_err(|_| bad())?;
        rest = &f[digits..];
    }
    let offset_s = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let (oh, om) =
                (o[1..3].parse::<i64>().map_err(|_| bad())?, o[4..6].parse::<i64>().map_err(|_| bad())?);
            let v = oh * 3600 + om * 60;
            if o.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return Err(format!("{t:?}: needs a time zone (Z or ±hh:mm)")),
    };
    let days = calendar::days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + s - offset_s;
    if secs < 0 {
        return Err(format!("{t:?} is before 1970"));
    }
    Ok(secs as u64 * 1_000_000 + frac_us as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_times_parse() {
        assert_eq!(parse_wall_time_us("1970-01-02T01:01:01Z").unwrap(), (86_400 + 3_661) * 1_000_000);
        assert_eq!(
            parse_wall_time_us("1970-01-02T02:01:01.25+01:00").unwrap(),
            (86_400 + 3_661) * 1_000_000 + 250_000
        );
        assert_eq!(parse_wall_time_us("1764086400").unwrap(), 1_764_086_400_000_000);
        assert_eq!(parse_wall_time_us("1764086400.5").unwrap(), 1_764_086_400_500_000);
        assert_eq!(
            parse_wall_time_us("2026-11-25T16:00:00Z").unwrap() / 1_000_000,
            calendar::days_from_civil(2026, 11, 25) as u64 * 86_400 + 16 * 3600
        );
        for bad in
            ["", "tomorrow", "2026-11-25T17:00:00", "2026-13-01T00:00:00Z", "2026-11-25T17:00Z", "12:00"]
        {
            assert!(parse_wall_time_us(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_each_unit() {
        assert_eq!(parse_duration_us("250us").unwrap(), 250.0);
        assert_eq!(parse_duration_us("50ms").unwrap(), 50_000.0);
        assert_eq!(parse_duration_us("1.5s").unwrap(), 1_500_000.0);
        assert_eq!(parse_duration_us("2m").unwrap(), 120e6);
        assert_eq!(parse_duration_us("0").unwrap(), 0.0);
        assert_eq!(parse_duration_us("1500ns").unwrap(), 1.5);
        assert_eq!(parse_duration("10ms").unwrap(), Duration::from_millis(10));
    }

    #[test]
    fn go_durations_parse() {
        let s = Duration::from_secs;
        assert_eq!(parse_duration("60s").unwrap(), s(60));
        assert_eq!(parse_duration("1m30s").unwrap(), s(90));
        assert_eq!(parse_duration("1h2m").unwrap(), s(3720));
        assert_eq!(parse_duration("2h45m10.5s").unwrap(), Duration::from_millis(9_910_500));
        assert_eq!(parse_duration("1.5h").unwrap(), s(5400));
        assert_eq!(parse_duration("1s500ms").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("300ns").unwrap(), Duration::from_nanos(300));
        assert_eq!(parse_duration("1m0.5s").unwrap(), Duration::from_millis(60_500));
        assert_eq!(parse_duration("250µs").unwrap(), Duration::from_micros(250));
        assert_eq!(parse_duration(" 0s ").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("+5s").unwrap(), s(5));
    }

    #[test]
    fn bad_durations_say_why() {
        assert!(parse_duration("10").unwrap_err().contains("no unit"), "bare number");
        assert!(parse_duration("1m30").unwrap_err().contains("no unit"));
        assert!(parse_duration("5parsecs").unwrap_err().contains("unknown unit \"parsecs\""));
        assert!(parse_duration("-5s").unwrap_err().contains("negative"));
        assert!(parse_duration("").unwrap_err().contains("empty"));
        assert!(parse_duration("s").unwrap_err().contains("not a duration"));
        assert!(parse_duration("1..2s").unwrap_err().contains("not a duration"));
        assert_eq!(parse_duration("99999999999999999999h").unwrap(), Duration::from_nanos(u64::MAX));
    }

    #[test]
    fn formats_round_trip_readably() {
        assert_eq!(format_us(850.0), "850us");
        assert_eq!(format_us(12_500.0), "12.5ms");
        assert_eq!(format_us(3_200_000.0), "3.2s");
        // Measured figures: three significant digits.
        let short = |us: f64| format_us(sig3(us));
        assert_eq!(short(850.0), "850us");
        assert_eq!(short(1_234.0), "1.23ms");
        assert_eq!(short(9_647.0), "9.65ms");
        assert_eq!(short(153_400.0), "153ms");
        assert_eq!(short(261_759.0), "262ms");
        assert_eq!(short(999_700.0), "1s");
        assert_eq!(short(2_346_000.0), "2.35s");
        assert_eq!(short(12_340_000.0), "12.3s");
        assert_eq!(short(62_000_000.0), "62s");
        assert_eq!(sig3(0.0), 0.0);
        assert_eq!(sig3(0.12345), 0.123);
    }
}
