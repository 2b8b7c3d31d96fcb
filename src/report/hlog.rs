//! `histograms.hlog`: every non-empty histogram of a run as an HdrHistogram interval log (the
//! format of Java's `HistogramLogWriter`, version 1.3), which HdrHistogram's own tools read:
//! `HistogramLogProcessor`, `HistogramLogAnalyzer`, Python's `hdrh.log.HistogramLogReader`
//! and Rust's `IntervalLogIterator`.
//!
//! One interval line per stage × scenario (and ALL) × metric, tagged
//! `stage<N>/<scenario>/<metric>` (N 1-based). Values are microseconds; the histogram is the
//! one in `summary.json` (V2 DEFLATE, base64). An interval starts at the sum of the earlier
//! stages' measured durations (seconds after the run's start, which is both StartTime and
//! BaseTime) and lasts its stage's measured duration. The Interval_Max column is in
//! milliseconds (µs / 1000), the column's usual unit; readers take the max from the
//! histogram itself.

use std::fmt::Write;

use super::summary::Figures;
use super::view::RunView;
use crate::metrics::Metric;

/// The legend line of the Java format.
pub(crate) const LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"";

/// A scenario name as a tag part: ASCII letters, digits and `-_.:@+=~` as they are, every
/// other byte (commas, spaces and line breaks are not allowed in tags; `/` separates the
/// parts) as `%XX`.
pub(crate) fn tag_part(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.:@+=~".contains(&b) {
            s.push(b as char);
        } else {
            let _ = write!(s, "%{b:02X}");
        }
    }
    s
}

/// A time in seconds as the format writes it: three decimals, never negative or NaN (the
/// Python reader takes only digits and a point).
fn secs(v: f64) -> String {
    format!("{:.3}", if v.is_finite() { v.max(0.0) } else { 0.0 })
}

fn lines(out: &mut String, stage: usize, scope: &str, start: f64, length: f64, fig: &Figures) {
    for metric in Metric::ALL {
        let Some(text) = fig.histograms.get(metric.name()) else { continue };
        let max_ms = fig.us.get(metric.name()).map_or(0.0, |p| p.max as f64 / 1e3);
        let _ = writeln!(
            out,
            "Tag=stage{stage}/{}/{},{},{},{},{}",
            tag_part(scope),
            metric.name(),
            secs(start),
            secs(length),
            secs(max_ms),
            text.trim()
        );
    }
}

/// Renders `histograms.hlog` of a run: the histograms as the summary encodes them. A
/// scenario named `ALL` is left out (its tag would be the aggregate's).
pub(crate) fn render(view: &RunView) -> String {
    let summary = view.summary;
    let start = summary.meta.start_unix_us as f64 / 1e6;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "#[llmload {} histograms: one interval per stage x scenario x metric, values in microseconds]",
        summary.llmload_version
    );
    out.push_str("#[Histogram log format version 1.3]\n");
    let _ = writeln!(out, "#[StartTime: {} (seconds since epoch)]", secs(start));
    let _ = writeln!(out, "#[BaseTime: {} (seconds since epoch)]", secs(start));
    out.push_str(LEGEND);
    out.push('\n');
    let mut offset = 0.0;
    for (i, st) in summary.stages.iter().enumerate() {
        for (name, fig) in st.scenarios.iter().filter(|(n, _)| *n != "ALL") {
            lines(&mut out, i + 1, name, offset, st.wall_s, fig);
        }
        lines(&mut out, i + 1, "ALL", offset, st.wall_s, &st.all);
        offset += if st.wall_s.is_finite() { st.wall_s.max(0.0) } else { 0.0 };
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    use super::*;
    use crate::metrics::{encode, Counters, Stats};
    use crate::report::summary::{Meta, StageSummary, Summary, SCHEMA_VERSION};

    fn figures(n: u64) -> Figures {
        let mut s = Stats::from(Counters { requests: n, ok: n, ..Counters::default() });
        for i in 0..n {
            s.hists.record(Metric::Latency, 1 + i * i % 2_000_003);
            s.hists.record(Metric::Itl, 1 + i % 977);
        }
        Figures::of(&s, 1.0)
    }

    fn summary() -> Summary {
        let stage = |load: &str, wall_s: f64| StageSummary {
            stage: load.to_string(),
            duration_s: 2.0,
            steady_s: 2.0,
            wall_s,
            worker_cpu_s: vec![],
            sink_dropped: 0,
            connecting_peak: vec![],
            generator_findings: vec![],
            tokenizer: None,
            target_findings: vec![],
            resources: Default::default(),
            server_metrics: Default::default(),
            interrupted: false,
            scenarios: [("chat".to_string(), figures(300)), ("a, b/c\n%\"é".to_string(), figures(40))]
                .into_iter()
                .collect(),
            all: figures(340),
        };
        Summary {
            schema_version: SCHEMA_VERSION,
            llmload_version: "9.9.9".into(),
            meta: Meta { start_unix_us: 1_700_000_000_250_000, ..Meta::default() },
            target: String::new(),
            dns_us: BTreeMap::new(),
            driver: "epoll".into(),
            workers: 1,
            fd_limit: 0,
            generator_bound: false,
            interrupted: false,
            stages: vec![stage("4:2s", 2.5), stage("8:2s", 2.25)],
            thresholds: vec![],
            pass: true,
            timeline: vec![],
        }
    }

    #[test]
    fn tags_escape_what_the_format_forbids() {
        assert_eq!(tag_part("chat-1.a_b"), "chat-1.a_b");
        assert_eq!(tag_part("a, b/c\n%\"é"), "a%2C%20b%2Fc%0A%25%22%C3%A9");
    }

    #[test]
    fn hdrhistogram_reads_it_back_exactly() {
        let s = summary();
        let text = render(&RunView::decode(&s).unwrap());
        assert!(text.starts_with("#[llmload 9.9.9 "), "{text}");
        assert!(text.contains("#[Histogram log format version 1.3]\n"));
        assert!(text.contains(&format!("\n{LEGEND}\n")));
        let mut seen = Vec::new();
        let (mut start_time, mut base_time) = (None, None);
        for entry in IntervalLogIterator::new(text.as_bytes()) {
            match entry.expect("parses") {
                LogEntry::StartTime(t) => start_time = Some(t),
                LogEntry::BaseTime(t) => base_time = Some(t),
                LogEntry::Interval(iv) => {
                    let tag = iv.tag().expect("tagged").as_str().to_string();
                    let parts: Vec<&str> = tag.split('/').collect();
                    assert_eq!(parts.len(), 3, "{tag}");
                    let stage: usize = parts[0].strip_prefix("stage").unwrap().parse().unwrap();
                    let st = &s.stages[stage - 1];
                    let fig = match parts[1] {
                        "ALL" => &st.all,
                        "chat" => &st.scenarios["chat"],
                        other => {
                            assert_eq!(other, "a%2C%20b%2Fc%0A%25%22%C3%A9");
                            &st.scenarios["a, b/c\n%\"é"]
                        }
                    };
                    let want_start = if stage == 1 { 0.0 } else { 2.5 };
                    assert_eq!(iv.start_timestamp(), Duration::from_secs_f64(want_start), "{tag}");
                    assert_eq!(iv.duration(), Duration::from_secs_f64(st.wall_s), "{tag}");
                    let h = encode::decode(iv.encoded_histogram()).expect("decodes");
                    let p = &fig.us[parts[2]];
                    assert_eq!(h.len(), p.count, "{tag}");
                    assert_eq!(h.max(), p.max, "{tag}");
                    assert_eq!(iv.max(), p.max as f64 / 1e3, "{tag}");
                    for (q, v) in [(0.5, p.p50), (0.9, p.p90), (0.99, p.p99), (0.999, p.p999)] {
                        assert_eq!(h.value_at_quantile(q), v, "{tag} q={q}");
                    }
                    seen.push(tag);
                }
            }
        }
        assert_eq!(start_time, Some(Duration::from_millis(1_700_000_000_250)));
        assert_eq!(base_time, start_time);
        // stages × (2 scenarios + ALL) × the two non-empty metrics, in stage order.
        assert_eq!(seen.len(), 2 * 3 * 2, "{seen:?}");
        assert!(seen[..6].iter().all(|t| t.starts_with("stage1/")), "{seen:?}");
        assert!(seen.contains(&"stage2/ALL/itl".to_string()));
    }
}
