//! The CSV formats: the Azure LLM inference trace (`TIMESTAMP,ContextTokens,GeneratedTokens`,
//! datetimes) and BurstGPT (`Timestamp,Model,Request tokens,Response tokens,Total tokens,Log
//! Type`, seconds from the start). Parsed by hand: fields are split in place into byte ranges
//! of the line (no allocation per row); double-quoted fields are tolerated, as BurstGPT's
//! Model column may be quoted.

use super::{Line, Parsed, TraceFormat};
use crate::units::calendar::{civil_from_days, days_from_civil};

/// Where a format's columns are in this file: from its header row, or the published order
/// when the file has no header.
#[derive(Clone, Copy, Debug)]
pub(super) struct Columns {
    ts: usize,
    input: usize,
    output: usize,
    /// Fields a row needs at least (the furthest column read, plus one).
    needed: usize,
}

/// The published header of each CSV format.
fn published(format: TraceFormat) -> &'static [&'static str] {
    match format {
        TraceFormat::Azure => &["TIMESTAMP", "ContextTokens", "GeneratedTokens"],
        _ => &["Timestamp", "Model", "Request tokens", "Response tokens", "Total tokens", "Log Type"],
    }
}

impl Columns {
    /// The published column order (a file without a header row).
    fn published(format: TraceFormat) -> Columns {
        match format {
            TraceFormat::Azure => Columns { ts: 0, input: 1, output: 2, needed: 3 },
            _ => Columns { ts: 0, input: 2, output: 3, needed: 4 },
        }
    }
}

/// True when a first line is a header, not data: its first field does not start with a
/// digit (every timestamp of both formats does).
pub(super) fn is_header(line: &str) -> bool {
    !line.trim_start_matches([' ', '"']).starts_with(|c: char| c.is_ascii_digit() || c == '.')
}

/// Reads a header row: finds the columns this reader uses, by their exact names (any
/// order; other columns are ignored).
pub(super) fn header(
    format: TraceFormat,
    line: &str,
    fields: &mut Vec<(usize, usize)>,
) -> Result<Columns, String> {
    split(line, fields)?;
    let names: Vec<&str> = fields.iter().map(|&(a, b)| line[a..b].trim()).collect();
    let [ts, input, output] = format.field_names();
    let find = |want: &str| -> Result<usize, String> {
        if let Some(i) = names.iter().position(|n| *n == want) {
            return Ok(i);
        }
        let near = names.iter().find(|n| n.eq_ignore_ascii_case(want));
        let hint = near.map(|n| format!(" (found {n:?}; names are case-sensitive)")).unwrap_or_default();
        Err(format!("the header has no {want:?} column{hint}; expected {}", published(format).join(",")))
    };
    let (ts, input, output) = (find(ts)?, find(input)?, find(output)?);
    Ok(Columns { ts, input, output, needed: ts.max(input).max(output) + 1 })
}

/// Reads one data row. `columns` is `None` on the file's first row, which may be a header.
pub(super) fn row(
    format: TraceFormat,
    line: &str,
    columns: &mut Option<Columns>,
    fields: &mut Vec<(usize, usize)>,
) -> Result<Line, String> {
    let cols = match *columns {
        Some(c) => c,
        None if is_header(line) => {
            *columns = Some(header(format, line, fields)?);
            return Ok(Line::Header);
        }
        None => *columns.insert(Columns::published(format)),
    };
    split(line, fields)?;
    if fields.len() < cols.needed {
        let expected = published(format);
        return Err(format!(
            "row has {} columns, expected {} ({})",
            fields.len(),
            expected.len(),
            expected.join(",")
        ));
    }
    let field = |i: usize| line[fields[i].0..fields[i].1].trim();
    let [ts_name, input_name, output_name] = format.field_names();
    let ts_text = field(cols.ts);
    let ts_us = match format {
        TraceFormat::Azure => parse_datetime_us(ts_text).ok_or_else(|| {
            format!("{ts_name} {ts_text:?} is not a date-time like \"2023-11-16 18:15:46.6805900\"")
        })?,
        _ => parse_scaled(ts_text, 6)
            .and_then(|us| i64::try_from(us).ok())
            .ok_or_else(|| format!("{ts_name} {ts_text:?} is not a number of seconds (like 12 or 12.5)"))?,
    };
    let count = |name: &str, text: &str| -> Result<u64, String> {
        text.parse::<u64>().map_err(|_| format!("{name} {text:?} is not a whole number of tokens"))
    };
    let input = count(input_name, field(cols.input))?;
    let output = count(output_name, field(cols.output))?;
    // BurstGPT logs a failed request with 0 response tokens; it is skipped, not an error.
    if format == TraceFormat::BurstGpt && output == 0 {
        return Ok(Line::Failed);
    }
    Ok(Line::Record(Parsed { ts_us, input, output, ..Parsed::default() }))
}

/// Splits one CSV row into byte ranges of its fields. A field wrapped in double quotes may
/// hold commas and doubled quotes; its range excludes the wrapping quotes.
fn split(line: &str, out: &mut Vec<(usize, usize)>) -> Result<(), String> {
    out.clear();
    let b = line.as_bytes();
    let mut i = 0;
    loop {
        let start = i + b[i..].iter().take_while(|&&c| c == b' ').count();
        if b.get(start) == Some(&b'"') {
            let mut j = start + 1;
            loop {
                match memchr::memchr(b'"', &b[j..]) {
                    None => return Err(format!("column {} has an unclosed quote", out.len() + 1)),
                    Some(k) if b.get(j + k + 1) == Some(&b'"') => j += k + 2,
                    Some(k) => {
                        j += k;
                        break;
                    }
                }
            }
            out.push((start + 1, j));
            let after = j + 1 + b[j + 1..].iter().take_while(|&&c| c == b' ').count();
            match b.get(after) {
                None => return Ok(()),
                Some(b',') => i = after + 1,
                Some(_) => return Err(format!("column {} has text after its closing quote", out.len())),
            }
        } else {
            let end = memchr::memchr(b',', &b[i..]).map_or(b.len(), |k| i + k);
            out.push((i, end));
            if end == b.len() {
                return Ok(());
            }
            i = end + 1;
        }
    }
}

/// A non-negative decimal (`12`, `12.5`, `.5`, `1e3`) times 10^`digits`, rounded to the
/// nearest whole number. Plain decimals are read exactly, not through a float.
pub(super) fn parse_scaled(text: &str, digits: u32) -> Option<u64> {
    if text.contains(['e', 'E']) {
        let v: f64 = text.parse().ok()?;
        let scaled = (v * 10f64.powi(digits as i32)).round();
        return (v.is_finite() && v >= 0.0 && scaled < 1.8e19).then_some(scaled as u64);
    }
    let text = text.strip_prefix('+').unwrap_or(text);
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let all_digits = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !all_digits(whole) || !all_digits(frac) {
        return None;
    }
    let mut value: u64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let mut frac = frac.bytes();
    for _ in 0..digits {
        let d = frac.next().map_or(0, |c| u64::from(c - b'0'));
        value = value.checked_mul(10)?.checked_add(d)?;
    }
    if frac.next().is_some_and(|c| c >= b'5') {
        value = value.checked_add(1)?;
    }
    Some(value)
}

/// Microseconds since the epoch of `YYYY-MM-DD HH:MM:SS[.fraction][Z|±HH:MM]` (a `T` may
/// stand for the space; up to 9 fraction digits, rounded to the µs; no zone means UTC).
pub(super) fn parse_datetime_us(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b' ' | b'T') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        let s = &text[from..to];
        s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse().ok())?
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, s) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    if civil_from_days(days) != (i64::from(y), mo, d) {
        return None; // 2023-02-30 and the like
    }
    let mut rest = &text[19..];
    let mut ns: u64 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 9 {
            return None;
        }
        ns = frac[..n].parse::<u64>().ok()? * 10u64.pow(9 - n as u32);
        rest = &frac[n..];
    }
    let zone_s: i64 = match rest.as_bytes() {
        [] | [b'Z'] => 0,
        [sign @ (b'+' | b'-'), ..] => {
            let z = rest[1..].replace(':', "");
            if z.len() != 4 || !z.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let secs =
                i64::from(z[..2].parse::<u32>().ok()?) * 3600 + i64::from(z[2..].parse::<u32>().ok()?) * 60;
            if *sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return None,
    };
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + s) - zone_s;
    Some(secs * 1_000_000 + ((ns + 500) / 1000) as i64)
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC) of microseconds since the epoch, for messages.
pub(super) fn format_datetime_us(us: i64) -> String {
    let (secs, frac) = (us.div_euclid(1_000_000), us.rem_euclid(1_000_000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let hms = format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60);
    if frac == 0 {
        hms
    } else {
        format!("{hms}.{}", format!("{frac:06}").trim_end_matches('0'))
    }
}
