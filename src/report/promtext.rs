//! The Prometheus text exposition format (0.0.4), written correctly by construction: each
//! family gets its HELP and TYPE once, before its samples; label values are escaped; values
//! print as Prometheus reads them (`+Inf`, `NaN`, integers without a fraction). Used by
//! `metrics.prom` and by the live `/metrics` endpoint.

use std::collections::BTreeSet;
use std::fmt::Write;

/// A family's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// An exposition being written.
#[derive(Default, Debug)]
pub(crate) struct PromText {
    out: String,
    families: BTreeSet<String>,
    series: BTreeSet<String>,
}

/// Label values are escaped as the reader (`observe::exposition`) unescapes them.
pub(crate) use crate::observe::exposition::escape_label;

/// Escapes HELP text (`\` and line feeds).
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value as Prometheus reads it.
pub(crate) fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

impl PromText {
    pub(crate) fn new() -> PromText {
        PromText::default()
    }

    /// Starts a family: `# HELP` and `# TYPE`. A family started twice is a bug (one TYPE
    /// per family), so it panics in tests and debug builds and is ignored otherwise.
    pub(crate) fn family(&mut self, name: &str, kind: Kind, help: &str) {
        if !self.families.insert(name.to_string()) {
            debug_assert!(false, "family {name} started twice");
            return;
        }
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.name());
    }

    /// One sample: `name` is the family name plus any suffix (`_bucket`, `_sum`, `_count`).
    /// A series written twice (same name and labels) is skipped: Prometheus rejects
    /// duplicates.
    pub(crate) fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let mut line = String::with_capacity(64);
        line.push_str(name);
        if !labels.is_empty() {
            line.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                let _ = write!(line, "{k}=\"{}\"", escape_label(v));
            }
            line.push('}');
        }
        if !self.series.insert(line.clone()) {
            debug_assert!(false, "duplicate series {line}");
            return;
        }
        let _ = writeln!(self.out, "{line} {}", format_value(value));
    }

    /// The text, ending with a line feed.
    pub(crate) fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_families_and_escapes() {
        let mut p = PromText::new();
        p.family("llmload_requests_total", Kind::Counter, "Requests.\nAll of them.");
        p.sample("llmload_requests_total", &[("scenario", "a\"b\\c\nd")], 3.0);
        p.sample("llmload_requests_total", &[], 0.5);
        let text = p.finish();
        assert!(text.contains("# HELP llmload_requests_total Requests.\\nAll of them.\n"));
        assert!(text.contains("# TYPE llmload_requests_total counter\n"));
        assert!(text.contains(r#"llmload_requests_total{scenario="a\"b\\c\nd"} 3"#), "{text}");
        assert!(text.contains("llmload_requests_total 0.5\n"));
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(1e20), "100000000000000000000");
    }
}
