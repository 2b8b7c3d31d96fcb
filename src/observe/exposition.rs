//! The Prometheus text exposition format (0.0.4, and the OpenMetrics text a server may send
//! instead), read: samples with their labels and value, and each family's type from its
//! `# TYPE` line. A pure function of the text, so it is tested on real expositions and can
//! be fuzzed. A line it cannot read is counted and skipped, never fatal: one odd series must
//! not hide a server's others.
//!
//! No crate fits: prometheus-parse 0.2.5 reads names as `\w+` (every `vllm:` metric has a
//! colon) and splits labels on `,` and `=` (an escaped value breaks it), and
//! openmetrics-parser is LGPL.

use std::collections::HashMap;

/// A family's type, as its `# TYPE` line says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
}

impl Kind {
    fn parse(s: &str) -> Kind {
        match s {
            "counter" => Kind::Counter,
            "gauge" => Kind::Gauge,
            "histogram" | "gaugehistogram" => Kind::Histogram,
            "summary" => Kind::Summary,
            _ => Kind::Untyped,
        }
    }
}

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Sample {
    /// The series name as written (`x_bucket`, `x_total`…).
    pub name: String,
    /// Labels in the order written.
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    /// The value of label `name`.
    pub(crate) fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The series key: the name and its labels sorted, less `skip`, as Prometheus writes them
    /// (`name{a="1",b="x"}`; the bare name without labels).
    pub(crate) fn key(&self, skip: Option<&str>) -> String {
        let mut labels: Vec<&(String, String)> =
            self.labels.iter().filter(|(k, _)| Some(k.as_str()) != skip).collect();
        labels.sort();
        let mut key = self.name.clone();
        if !labels.is_empty() {
            key.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    key.push(',');
                }
                key.push_str(k);
                key.push_str("=\"");
                key.push_str(&escape_label(v));
                key.push('"');
            }
            key.push('}');
        }
        key
    }
}

/// What a sample is part of: its family's name and type, and its role in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// A counter's value (`x_total`, or `x` itself).
    Counter,
    Gauge,
    /// A histogram's `_bucket` (with `le`), `_sum` or `_count`.
    Bucket,
    Sum,
    Count,
    /// A summary's quantile (a gauge of sorts) or anything else not added up.
    Other,
    /// `_created`: when the series was created (a timestamp, not a measurement).
    Created,
}

/// A whole exposition.
#[derive(Debug, Default)]
pub(crate) struct Exposition {
    pub samples: Vec<Sample>,
    /// Family name → its declared type.
    types: HashMap<String, Kind>,
    /// Lines that could not be read, and the first of them (cut short) for the report.
    pub bad_lines: u64,
    pub first_bad: Option<String>,
}

impl Exposition {
    /// The family `sample` belongs to, and its role there. Without a `# TYPE` line a name
    /// ending in `_total` reads as a counter, anything else as a gauge.
    pub(crate) fn role(&self, sample: &Sample) -> (String, Role) {
        let name = sample.name.as_str();
        if let Some(kind) = self.types.get(name) {
            let role = match kind {
                Kind::Counter => Role::Counter,
                Kind::Histogram | Kind::Summary => Role::Other,
                Kind::Gauge | Kind::Untyped => Role::Gauge,
            };
            return (name.to_string(), role);
        }
        for (suffix, role) in [
            ("_bucket", Role::Bucket),
            ("_sum", Role::Sum),
            ("_count", Role::Count),
            ("_total", Role::Counter),
            ("_created", Role::Created),
        ] {
            let Some(family) = name.strip_suffix(suffix) else { continue };
            match (self.types.get(family), role) {
                (Some(Kind::Histogram), Role::Bucket | Role::Sum | Role::Count) => {
                    return (family.to_string(), role)
                }
                (Some(Kind::Summary), Role::Sum | Role::Count) => return (family.to_string(), role),
                (Some(Kind::Counter), Role::Counter) => return (family.to_string(), Role::Counter),
                (Some(_), Role::Created) => return (family.to_string(), Role::Created),
                (None, Role::Counter) => return (name.to_string(), Role::Counter),
                _ => {}
            }
        }
        (name.to_string(), Role::Gauge)
    }
}

/// Escapes a label value as the format writes it (`\`, `"` and line feeds).
pub(crate) fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// Reads an exposition.
pub(crate) fn parse(text: &str) -> Exposition {
    let mut out = Exposition::default();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            let mut words = comment.split_whitespace();
            match words.next() {
                Some("TYPE") => {
                    if let (Some(name), Some(kind)) = (words.next(), words.next()) {
                        out.types.insert(name.to_string(), Kind::parse(kind));
                    }
                }
                // OpenMetrics ends with `# EOF`; nothing after it counts.
                Some("EOF") => break,
                _ => {}
            }
            continue;
        }
        match sample(trimmed) {
            Ok(s) => out.samples.push(s),
            Err(why) => {
                out.bad_lines += 1;
                if out.first_bad.is_none() {
                    let shown: String = trimmed.chars().take(80).collect();
                    out.first_bad = Some(format!("{why}: {shown:?}"));
                }
            }
        }
    }
    out
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

fn is_name_char(b: u8) -> bool {
    is_name_start(b) || b.is_ascii_digit()
}

/// The length of the name at the start of `s` (metric names may hold `:`, label names not).
fn name_len(s: &[u8], colon: bool) -> usize {
    match s.first() {
        Some(&b) if is_name_start(b) && (colon || b != b':') => {}
        _ => return 0,
    }
    s.iter().take_while(|&&b| is_name_char(b) && (colon || b != b':')).count()
}

/// One sample line: `name{labels} value [timestamp] [# exemplar]`.
fn sample(line: &str) -> Result<Sample, &'static str> {
    let bytes = line.as_bytes();
    let n = name_len(bytes, true);
    if n == 0 {
        return Err("no metric name");
    }
    let name = line[..n].to_string();
    let mut rest = &line[n..];
    let mut labels = Vec::new();
    // Prometheus's lexer allows blanks between the name and the labels.
    if let Some(inner) = rest.trim_start().strip_prefix('{') {
        let (parsed, after) = label_set(inner)?;
        labels = parsed;
        rest = after;
    }
    if !rest.starts_with([' ', '\t']) {
        return Err("no space before the value");
    }
    let value = rest.split_whitespace().next().ok_or("no value")?;
    Ok(Sample { name, labels, value: parse_value(value).ok_or("not a number")? })
}

/// The labels after `{`, and the text after the closing `}`.
/// Label pairs in the order written.
type Labels = Vec<(String, String)>;

fn label_set(mut s: &str) -> Result<(Labels, &str), &'static str> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start();
        if let Some(after) = s.strip_prefix('}') {
            return Ok((labels, after));
        }
        let n = name_len(s.as_bytes(), false);
        if n == 0 {
            return Err("bad label name");
        }
        let key = s[..n].to_string();
        s = s[n..].trim_start().strip_prefix('=').ok_or("no = after a label name")?;
        s = s.trim_start().strip_prefix('"').ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    // Unknown escapes are kept as written, as Prometheus does.
                    Some((_, c)) => {
                        value.push('\\');
                        value.push(c);
                    }
                    None => return Err("unterminated label value"),
                },
                Some((_, c)) => value.push(c),
                None => return Err("unterminated label value"),
            }
        };
        labels.push((key, value));
        s = s[end + 1..].trim_start();
        if let Some(after) = s.strip_prefix(',') {
            s = after;
        } else if !s.starts_with('}') {
            return Err("no , or } after a label");
        }
    }
}

/// A sample value: a float, `NaN`, `+Inf`, `-Inf` (any case, as Go's ParseFloat reads them).
pub(crate) fn parse_value(v: &str) -> Option<f64> {
    match v.to_ascii_lowercase().as_str() {
        "nan" => Some(f64::NAN),
        "+inf" | "inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        // Rust would also read `infinity` and `1_0`-free forms alike; reject what Prometheus
        // would not (hex floats are not accepted by either).
        s if s.bytes().all(|b| b.is_ascii_digit() || b"+-.e".contains(&b)) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
#[path = "exposition_tests.rs"]
mod tests;
