//! `metrics.prom`: a run's figures in the Prometheus text format, for node_exporter's textfile
//! collector (or any scraper that reads a file). Names carry the `llmload_` prefix and base
//! units (`_seconds`, `_bytes`, `_total`); every series of a stage × scenario is labelled
//! `stage` (1-based), `load` (the stage as written, e.g. `@2000:1m0s`), `scenario` (a name or
//! `ALL`) and `protocol`.
//!
//! Latency histograms are Prometheus histograms on a fixed ladder of bounds ([`BUCKETS_US`]),
//! their counts taken exactly from the HdrHistogram: a range of equivalent HDR values counts
//! under a bound when its highest value (the value HDR reports percentiles at) is at most the
//! bound. So a bucket agrees with the percentiles of `summary.json`: `p(q) ≤ le` exactly when
//! the bucket holds at least `ceil(q·count)` requests.

use std::collections::BTreeSet;

use hdrhistogram::Histogram;

use super::promtext::{Kind, PromText};
use super::summary::{Figures, Summary};
use crate::metrics::{encode, hist::new_histogram, Metric};

/// The histogram bucket bounds in µs: 1, 2.5 and 5 per decade from 100 µs to 500 s.
pub const BUCKETS_US: [u64; 21] = [
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
];

/// Values recorded at most `le_us`: every range of equivalent values whose highest value is
/// at most `le_us`.
pub fn count_at_most(h: &Histogram<u64>, le_us: u64) -> u64 {
    if h.is_empty() {
        return 0;
    }
    let top = if h.highest_equivalent(le_us) == le_us {
        le_us
    } else {
        // The range holding `le_us` reaches past it: stop below that range.
        match h.lowest_equivalent(le_us).checked_sub(1) {
            Some(top) => top,
            None => return 0,
        }
    };
    h.count_between(0, top)
}

/// A bound in seconds, as written in `le`.
fn le_label(us: u64) -> String {
    super::promtext::format_value(us as f64 / 1e6)
}

/// One stage × scenario (or ALL): its labels, figures and decoded histograms.
struct Scope<'a> {
    labels: Vec<(&'static str, String)>,
    fig: &'a Figures,
    /// Per metric of `Metric::ALL`; None when the text does not decode.
    hists: Vec<Option<Histogram<u64>>>,
}

impl Scope<'_> {
    /// The scope's labels plus `extra`.
    fn with<'b>(&'b self, extra: &[(&'b str, &'b str)]) -> Vec<(&'b str, &'b str)> {
        self.labels.iter().map(|(k, v)| (*k, v.as_str())).chain(extra.iter().copied()).collect()
    }
}

fn scope<'a>(stage: usize, load: &str, scenario: &str, protocol: &str, fig: &'a Figures) -> Scope<'a> {
    let hists = Metric::ALL
        .iter()
        .map(|m| match fig.histograms.get(m.name()) {
            Some(text) => encode::decode(text).ok(),
            None => Some(new_histogram()),
        })
        .collect();
    Scope {
        labels: vec![
            ("stage", stage.to_string()),
            ("load", load.to_string()),
            ("scenario", scenario.to_string()),
            ("protocol", protocol.to_string()),
        ],
        fig,
        hists,
    }
}

/// Every stage × scenario of the summary, each stage's scenarios before its ALL. A scenario
/// named `ALL` is left out: its series would be those of the aggregate.
fn scopes(summary: &Summary) -> Vec<Scope<'_>> {
    let protocols = &summary.meta.protocols;
    let mut out = Vec::new();
    for (i, st) in summary.stages.iter().enumerate() {
        let mut seen = BTreeSet::new();
        for (name, fig) in &st.scenarios {
            let protocol = protocols.get(name).map_or("", String::as_str);
            seen.insert(protocol);
            if name != "ALL" {
                out.push(scope(i + 1, &st.stage, name, protocol, fig));
            }
        }
        let all_protocol = match seen.len() {
            0 => "",
            1 => seen.first().copied().unwrap_or(""),
            _ => "mixed",
        };
        out.push(scope(i + 1, &st.stage, "ALL", all_protocol, &st.all));
    }
    out
}

type Value = fn(&Figures) -> f64;

/// Counters and gauges with one sample per scope: (name, kind, help, value).
const SIMPLE: &[(&str, Kind, &str, Value)] = &[
    (
        "llmload_dropped_total",
        Kind::Counter,
        "Open-loop arrivals that could not start (max in-flight reached).",
        |f| f.dropped as f64,
    ),
    (
        "llmload_good_requests_total",
        Kind::Counter,
        "Successful requests within their scenario's SLOs.",
        |f| f.good as f64,
    ),
    ("llmload_connections_total", Kind::Counter, "New connections opened.", |f| f.connects as f64),
    ("llmload_received_bytes_total", Kind::Counter, "Bytes received.", |f| f.bytes_in as f64),
    ("llmload_sent_bytes_total", Kind::Counter, "Bytes sent.", |f| f.bytes_out as f64),
    (
        "llmload_requests_per_second",
        Kind::Gauge,
        "Requests per second over the stage's steady window.",
        |f| f.rps,
    ),
    ("llmload_ok_ratio", Kind::Gauge, "Share of requests that succeeded (0-1).", |f| f.ok_rate),
    ("llmload_goodput_ratio", Kind::Gauge, "Share of requests within their scenario's SLOs (0-1).", |f| {
        f.goodput
    }),
    (
        "llmload_output_tokens_per_second",
        Kind::Gauge,
        "Completion tokens of successful requests per second over the steady window.",
        |f| f.output_tokens_per_s,
    ),
];

/// What each histogram family measures.
fn metric_help(m: Metric) -> &'static str {
    match m {
        Metric::Latency => {
            "Latency from the intended start to the end of the response (coordinated-omission corrected)."
        }
        Metric::Service => "Latency from the actual send to the end of the response.",
        Metric::SendLag => "Actual send minus intended start (open loop).",
        Metric::Ttfb => "Intended start to the first response byte.",
        Metric::Ttft => "Intended start to the first content-bearing event (the response when not streamed).",
        Metric::Itl => "Gaps between consecutive content events.",
        Metric::Tpot => "Per request: (last - first content time) / (tokens - 1).",
        Metric::Connect => "TCP connect time of a new connection.",
        Metric::Tls => "TLS handshake time of a new connection.",
    }
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Renders `metrics.prom` for a summary.
pub fn render(summary: &Summary) -> String {
    let scopes = scopes(summary);
    let mut p = PromText::new();

    p.family("llmload_requests_total", Kind::Counter, "Requests by outcome (ok, failed or cancelled).");
    for s in &scopes {
        for (outcome, n) in [("ok", s.fig.ok), ("failed", s.fig.failed), ("cancelled", s.fig.cancelled)] {
            p.sample("llmload_requests_total", &s.with(&[("outcome", outcome)]), n as f64);
        }
    }
    p.family("llmload_responses_total", Kind::Counter, "Responses by HTTP status.");
    for s in &scopes {
        for (status, n) in &s.fig.status {
            p.sample("llmload_responses_total", &s.with(&[("status", status)]), *n as f64);
        }
    }
    p.family("llmload_errors_total", Kind::Counter, "Failed requests by error class.");
    for s in &scopes {
        for (class, n) in &s.fig.errors {
            p.sample("llmload_errors_total", &s.with(&[("class", class)]), *n as f64);
        }
    }
    p.family("llmload_tokens_total", Kind::Counter, "Tokens by kind (prompt or completion), all requests.");
    for s in &scopes {
        for (kind, n) in [("prompt", s.fig.prompt_tokens), ("completion", s.fig.completion_tokens)] {
            p.sample("llmload_tokens_total", &s.with(&[("kind", kind)]), n as f64);
        }
    }
    for (name, kind, help, value) in SIMPLE {
        p.family(name, *kind, help);
        for s in &scopes {
            p.sample(name, &s.with(&[]), value(s.fig));
        }
    }

    let les: Vec<String> = BUCKETS_US.iter().map(|us| le_label(*us)).collect();
    for (mi, metric) in Metric::ALL.iter().enumerate() {
        let family = format!("llmload_{}_seconds", metric.name());
        let (bucket, sum, count) =
            (format!("{family}_bucket"), format!("{family}_sum"), format!("{family}_count"));
        p.family(&family, Kind::Histogram, metric_help(*metric));
        for s in &scopes {
            let Some(h) = &s.hists[mi] else { continue };
            for (le, us) in les.iter().zip(BUCKETS_US) {
                p.sample(&bucket, &s.with(&[("le", le)]), count_at_most(h, us) as f64);
            }
            p.sample(&bucket, &s.with(&[("le", "+Inf")]), h.len() as f64);
            let mean = if h.is_empty() { 0.0 } else { h.mean() };
            p.sample(&sum, &s.with(&[]), mean * h.len() as f64 / 1e6);
            p.sample(&count, &s.with(&[]), h.len() as f64);
        }
    }

    p.family("llmload_stage_steady_seconds", Kind::Gauge, "Steady window of the stage (rates are over it).");
    for (i, st) in summary.stages.iter().enumerate() {
        let stage = (i + 1).to_string();
        p.sample("llmload_stage_steady_seconds", &[("stage", &stage), ("load", &st.stage)], st.steady_s);
    }
    p.family("llmload_stage_wall_seconds", Kind::Gauge, "Measured duration of the stage, grace included.");
    for (i, st) in summary.stages.iter().enumerate() {
        let stage = (i + 1).to_string();
        p.sample("llmload_stage_wall_seconds", &[("stage", &stage), ("load", &st.stage)], st.wall_s);
    }

    p.family("llmload_threshold_pass", Kind::Gauge, "1 when the threshold held, 0 when it was missed.");
    // A check deferred to merge (a shard's absolute limit) held or failed nowhere yet.
    for c in summary.thresholds.iter().filter(|c| !c.deferred) {
        let stage = (c.stage + 1).to_string();
        let load = summary.stages.get(c.stage).map_or("", |s| s.stage.as_str());
        let labels =
            [("stage", stage.as_str()), ("load", load), ("scenario", &c.scope), ("threshold", &c.name)];
        p.sample("llmload_threshold_pass", &labels, flag(c.pass));
    }

    let meta = &summary.meta;
    p.family("llmload_run_info", Kind::Gauge, "The run: llmload version, I/O driver, host and shard (K/N).");
    p.sample(
        "llmload_run_info",
        &[
            ("version", &summary.llmload_version),
            ("driver", &summary.driver),
            ("host", &meta.host),
            ("shard", &meta.shard),
        ],
        1.0,
    );
    p.family("llmload_run_interrupted", Kind::Gauge, "1 when a signal stopped the run early.");
    p.sample("llmload_run_interrupted", &[], flag(summary.interrupted));
    p.family("llmload_run_generator_bound", Kind::Gauge, "1 when the load generator itself limited the run.");
    p.sample("llmload_run_generator_bound", &[], flag(summary.generator_bound));
    p.family("llmload_run_thresholds_pass", Kind::Gauge, "1 when every threshold held (or none was set).");
    p.sample("llmload_run_thresholds_pass", &[], flag(summary.pass));
    if meta.start_unix_us > 0 {
        p.family("llmload_run_start_timestamp_seconds", Kind::Gauge, "Unix time the run started.");
        p.sample("llmload_run_start_timestamp_seconds", &[], meta.start_unix_us as f64 / 1e6);
        p.family("llmload_run_end_timestamp_seconds", Kind::Gauge, "Unix time the run ended.");
        p.sample("llmload_run_end_timestamp_seconds", &[], meta.end_unix_us as f64 / 1e6);
    }
    p.finish()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use super::*;
    use crate::metrics::Stats;
    use crate::report::summary::{Meta, StageSummary, SCHEMA_VERSION};
    use crate::report::thresholds::Check;

    fn figures(values_us: &[u64], ok: u64) -> Figures {
        let mut s = Stats { requests: ok + 2, ok, failed: 1, cancelled: 1, ..Stats::default() };
        s.status.insert(200, ok);
        s.status.insert(500, 1);
        s.errors[crate::metrics::ErrorKind::ALL[0].index()] = 1;
        for v in values_us {
            s.hists.record(Metric::Latency, *v);
            s.hists.record(Metric::Ttft, *v / 2);
        }
        Figures::of(&s, 2.0)
    }

    fn summary() -> Summary {
        let values: Vec<u64> =
            (0..5000).map(|i| 1 + i * i * 13 % 3_000_000).chain([10_000, 10_003]).collect();
        let nasty = "we\"ird\\name\nx";
        let stage = |load: &str| StageSummary {
            stage: load.to_string(),
            duration_s: 2.0,
            steady_s: 2.0,
            wall_s: 2.1,
            worker_cpu_s: vec![0.1],
            sink_dropped: 0,
            generator_findings: vec![],
            scenarios: [
                ("chat".to_string(), figures(&values, 7)),
                (nasty.to_string(), figures(&values[..100], 3)),
                ("ALL".to_string(), figures(&[], 0)),
            ]
            .into_iter()
            .collect(),
            all: figures(&values, 10),
        };
        Summary {
            schema_version: SCHEMA_VERSION,
            llmload_version: "9.9.9".into(),
            meta: Meta {
                host: "h\"1".into(),
                start_unix_us: 1_700_000_000_000_000,
                end_unix_us: 1_700_000_004_000_000,
                protocols: [("chat", "openai-chat"), (nasty, "anthropic")]
                    .into_iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect(),
                ..Meta::default()
            },
            target: "mock".into(),
            dns_us: BTreeMap::new(),
            driver: "io_uring".into(),
            workers: 1,
            fd_limit: 1024,
            generator_bound: false,
            interrupted: false,
            stages: vec![stage("4:2s"), stage("@2000:1m0s")],
            thresholds: vec![Check {
                stage: 1,
                scope: "ALL".into(),
                name: "p95_ms".into(),
                limit: 1.0,
                actual: 2.0,
                pass: false,
                deferred: false,
            }],
            pass: false,
            timeline: vec![],
        }
    }

    /// Parses a label set `{a="x",b="y"}` (with the format's escapes) into pairs.
    fn parse_labels(s: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut chars = s.chars().peekable();
        while chars.peek().is_some() {
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            assert_eq!(chars.next(), Some('"'), "label {key} in {s}");
            let mut val = String::new();
            loop {
                match chars.next().expect("unterminated label value") {
                    '\\' => match chars.next() {
                        Some('n') => val.push('\n'),
                        Some(c @ ('\\' | '"')) => val.push(c),
                        c => panic!("bad escape {c:?} in {s}"),
                    },
                    '"' => break,
                    c => val.push(c),
                }
            }
            out.push((key, val));
            if chars.peek() == Some(&',') {
                chars.next();
            }
        }
        out
    }

    type Sample = (String, Vec<(String, String)>, f64);

    /// (name, labels, value) for every sample; asserts HELP/TYPE come once per family, before
    /// its samples, and that no series repeats.
    fn parse(text: &str) -> Vec<Sample> {
        let mut types: HashMap<String, String> = HashMap::new();
        let mut helps = BTreeSet::new();
        let mut series = BTreeSet::new();
        let mut out = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(types.insert(name.to_string(), kind.to_string()).is_none(), "two TYPEs for {name}");
                assert!(helps.contains(name), "TYPE before HELP for {name}");
                continue;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split_once(' ').unwrap().0;
                assert!(helps.insert(name.to_string()), "two HELPs for {name}");
                continue;
            }
            assert!(!line.starts_with('#'), "{line}");
            let (series_text, value) = line.rsplit_once(' ').unwrap();
            assert!(series.insert(series_text.to_string()), "duplicate series {series_text}");
            let (name, labels) = match series_text.split_once('{') {
                Some((n, l)) => (n, parse_labels(l.strip_suffix('}').unwrap())),
                None => (series_text, vec![]),
            };
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s).filter(|f| types.get(*f).is_some_and(|k| k == "histogram"))
                })
                .unwrap_or(name);
            assert!(types.contains_key(family), "sample {name} without a TYPE");
            assert!(name.starts_with("llmload_"), "{name}");
            let value = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("value {v:?}")),
            };
            out.push((name.to_string(), labels, value));
        }
        out
    }

    fn label<'a>(labels: &'a [(String, String)], k: &str) -> Option<&'a str> {
        labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn families_series_and_escaping() {
        let s = summary();
        let text = render(&s);
        let samples = parse(&text);
        assert!(text.contains(r#"scenario="we\"ird\\name\nx""#), "{text}");
        assert!(text.contains(r#"host="h\"1""#));
        // The nasty name survives a round trip through the format.
        let names: BTreeSet<&str> = samples.iter().filter_map(|(_, l, _)| label(l, "scenario")).collect();
        assert_eq!(names, ["ALL", "chat", "we\"ird\\name\nx"].into_iter().collect());
        // requests_total over outcomes equals requests, per stage and scenario.
        for (stage, scope) in [("1", "ALL"), ("2", "chat")] {
            let total: f64 = samples
                .iter()
                .filter(|(n, l, _)| {
                    n == "llmload_requests_total"
                        && label(l, "stage") == Some(stage)
                        && label(l, "scenario") == Some(scope)
                })
                .map(|(_, _, v)| v)
                .sum();
            let fig = if scope == "ALL" { &s.stages[0].all } else { &s.stages[1].scenarios["chat"] };
            assert_eq!(total, fig.requests as f64);
        }
        let find = |name: &str, stage: &str, scope: &str| {
            samples
                .iter()
                .find(|(n, l, _)| {
                    n == name && label(l, "stage") == Some(stage) && label(l, "scenario") == Some(scope)
                })
                .unwrap_or_else(|| panic!("{name} {stage} {scope}"))
                .clone()
        };
        let (_, l, _) = find("llmload_requests_total", "2", "chat");
        assert_eq!(label(&l, "load"), Some("@2000:1m0s"));
        assert_eq!(label(&l, "protocol"), Some("openai-chat"));
        let (_, l, _) = find("llmload_requests_total", "1", "ALL");
        assert_eq!(label(&l, "protocol"), Some("mixed"));
        assert!(text.contains("llmload_run_thresholds_pass 0\n"));
        assert!(text.contains(
            r#"llmload_threshold_pass{stage="2",load="@2000:1m0s",scenario="ALL",threshold="p95_ms"} 0"#
        ));
        assert!(text.contains("llmload_run_start_timestamp_seconds 1700000000\n"));
    }

    #[test]
    fn histograms_are_cumulative_and_exact() {
        let s = summary();
        let samples = parse(&render(&s));
        let mut checked = 0;
        let all = "ALL".to_string();
        for (stage_i, st) in s.stages.iter().enumerate() {
            let scopes = st.scenarios.iter().filter(|(n, _)| *n != "ALL").chain([(&all, &st.all)]);
            for (scope, fig) in scopes {
                for metric in Metric::ALL {
                    let family = format!("llmload_{}_seconds", metric.name());
                    let stage = (stage_i + 1).to_string();
                    let ours = |suffix: &str| {
                        samples
                            .iter()
                            .filter(|(n, l, _)| {
                                *n == format!("{family}{suffix}")
                                    && label(l, "stage") == Some(&stage)
                                    && label(l, "scenario") == Some(scope)
                            })
                            .cloned()
                            .collect::<Vec<_>>()
                    };
                    let buckets = ours("_bucket");
                    assert_eq!(buckets.len(), BUCKETS_US.len() + 1);
                    let les: Vec<f64> =
                        buckets.iter().map(|(_, l, _)| label(l, "le").unwrap().parse().unwrap()).collect();
                    assert!(les.windows(2).all(|w| w[0] < w[1]), "{les:?}");
                    assert_eq!(les.last(), Some(&f64::INFINITY));
                    let counts: Vec<f64> = buckets.iter().map(|b| b.2).collect();
                    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "not cumulative: {counts:?}");
                    let count = ours("_count");
                    assert_eq!(count.len(), 1);
                    assert_eq!(*counts.last().unwrap(), count[0].2, "+Inf != _count");
                    let p = &fig.us[metric.name()];
                    assert_eq!(count[0].2, p.count as f64);
                    let sum = ours("_sum")[0].2;
                    assert!((sum - p.mean * p.count as f64 / 1e6).abs() < 1e-9 * sum.max(1.0));
                    // Buckets agree with the summary's percentiles.
                    for (i, le_us) in BUCKETS_US.iter().enumerate() {
                        for (q, v) in [(0.5, p.p50), (0.9, p.p90), (0.99, p.p99)] {
                            if p.count == 0 {
                                continue;
                            }
                            let need = ((q * p.count as f64).ceil() as u64).max(1) as f64;
                            assert_eq!(v <= *le_us, counts[i] >= need, "{family} {scope} q={q} le={le_us}");
                        }
                    }
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 2 * 3 * Metric::ALL.len());
    }

    #[test]
    fn bucket_counts_mind_equivalent_ranges() {
        let mut h = new_histogram();
        // 10_000 µs sits in a range of 8 equivalent values (10_000..=10_007).
        assert_eq!(h.highest_equivalent(10_000), 10_007);
        for v in [9_999, 10_000, 10_007, 10_008, 2_047, 2_048] {
            h.record(v).unwrap();
        }
        // The range holding 10_000 reaches past it, so its values count only under a later bound.
        assert_eq!(count_at_most(&h, 10_000), 3);
        assert_eq!(count_at_most(&h, 10_007), 5);
        assert_eq!(count_at_most(&h, 2_047), 1);
        assert_eq!(count_at_most(&h, 1), 0);
        assert_eq!(count_at_most(&new_histogram(), 1_000), 0);
        assert_eq!(le_label(100), "0.0001");
        assert_eq!(le_label(2_500_000), "2.5");
        assert_eq!(le_label(500_000_000), "500");
    }
}
