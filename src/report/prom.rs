//! `metrics.prom`: a run's figures in the Prometheus text format, for node_exporter's textfile
//! collector (or any scraper that reads a file). Names carry the `llmload_` prefix and base
//! units (`_seconds`, `_bytes`, `_total`); every series of a stage × scenario is labelled
//! `stage` (1-based), `load` (the stage as written, e.g. `@2000:60s`), `scenario` and
//! `protocol`.
//!
//! There are no series for the stage as a whole (summary.json's `all`): they would sit beside
//! the scenarios' under the same names, and `sum()` would count every request twice. Nor are
//! they needed: a stage's figures are the sum of its scenarios' (`engine::merge_stage` adds
//! the scenarios' `Stats`, histograms included), so `sum without (scenario, protocol)` gives
//! them exactly, buckets too — every histogram has the same HDR ranges, so a bucket of the sum
//! is the sum of the buckets. Ratios are counter quotients (docs/metrics.md shows the queries).
//!
//! Latency histograms are Prometheus histograms on a fixed ladder of bounds ([`BUCKETS_US`]),
//! their counts taken exactly from the HdrHistogram: a range of equivalent HDR values counts
//! under a bound when its highest value (the value HDR reports percentiles at) is at most the
//! bound. So a bucket agrees with the percentiles of `summary.json`: `p(q) ≤ le` exactly when
//! the bucket holds at least `ceil(q·count)` requests.

use hdrhistogram::Histogram;

use super::promtext::{Kind, PromText};
use super::summary::Figures;
use super::view::RunView;
use crate::metrics::{Metric, Stats};

/// The histogram bucket bounds in µs: 1, 2.5 and 5 per decade from 100 µs to 500 s.
pub(crate) const BUCKETS_US: [u64; 21] = [
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
pub(crate) fn count_at_most(h: &Histogram<u64>, le_us: u64) -> u64 {
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

/// One stage × scenario: its labels, figures and decoded statistics.
struct Scope<'a> {
    labels: Vec<(&'static str, String)>,
    fig: &'a Figures,
    stats: &'a Stats,
}

impl Scope<'_> {
    /// The scope's labels plus `extra`.
    fn with<'b>(&'b self, extra: &[(&'b str, &'b str)]) -> Vec<(&'b str, &'b str)> {
        self.labels.iter().map(|(k, v)| (*k, v.as_str())).chain(extra.iter().copied()).collect()
    }
}

/// Every stage × scenario of the run (a scenario named `ALL` too: it is one of the
/// scenarios here, and leaving it out would make `sum()` short).
fn scopes<'a>(view: &'a RunView) -> Vec<Scope<'a>> {
    let protocols = &view.summary.meta.protocols;
    let mut out = Vec::new();
    for (i, st) in view.summary.stages.iter().enumerate() {
        for (name, fig) in &st.scenarios {
            let Some(stats) = view.stats(i, name) else { continue };
            let protocol = protocols.get(name).map_or("", String::as_str);
            let labels = vec![
                ("stage", (i + 1).to_string()),
                ("load", st.stage.clone()),
                ("scenario", name.clone()),
                ("protocol", protocol.to_string()),
            ];
            out.push(Scope { labels, fig, stats });
        }
    }
    out
}

type Value = fn(&Figures) -> f64;

/// Counters and gauges with one sample per scope: (name, kind, help, value).
const SIMPLE: &[(&str, Kind, &str, Value)] = &[
    (
        "llmload_dropped_total",
        Kind::Counter,
        "Open-loop arrivals never sent (the in-flight limit, or llmload behind its schedule).",
        |f| f.dropped as f64,
    ),
    (
        "llmload_dropped_behind_total",
        Kind::Counter,
        "Of the dropped arrivals: never sent because llmload fell behind its schedule.",
        |f| f.dropped_behind as f64,
    ),
    (
        "llmload_served_requests_total",
        Kind::Counter,
        "Requests that finished inside the measurement window (sent whenever).",
        |f| f.served as f64,
    ),
    (
        "llmload_late_requests_total",
        Kind::Counter,
        "Requests of the window that finished after it (in the grace period).",
        |f| f.late as f64,
    ),
    (
        "llmload_backoffs_total",
        Kind::Counter,
        "Closed-loop waits after a request that never reached the server.",
        |f| f.backoffs as f64,
    ),
    (
        "llmload_token_mismatch_total",
        Kind::Counter,
        "Streams whose usage reported fewer completion tokens than content events arrived.",
        |f| f.token_mismatch as f64,
    ),
    (
        "llmload_good_requests_total",
        Kind::Counter,
        "Successful requests within their scenario's SLOs.",
        |f| f.good as f64,
    ),
    (
        "llmload_rate_limited_total",
        Kind::Counter,
        "429 and 529 responses, every attempt's (retried requests count each).",
        |f| f.rate_limited as f64,
    ),
    ("llmload_retry_after_invalid_total", Kind::Counter, "retry-after values that could not be read.", |f| {
        f.retry_after_invalid as f64
    }),
    (
        "llmload_retries_total",
        Kind::Counter,
        "Retry policy: attempts after the first (each request counts once in requests_total).",
        |f| f.retries as f64,
    ),
    ("llmload_retried_requests_total", Kind::Counter, "Requests retried at least once.", |f| {
        f.retried_requests as f64
    }),
    (
        "llmload_retry_exhausted_total",
        Kind::Counter,
        "Requests that used every attempt and ended on a status the policy retries.",
        |f| f.retry_exhausted as f64,
    ),
    (
        "llmload_retry_cut_total",
        Kind::Counter,
        "Requests whose next retry wait would have passed the stage's end (or the stop).",
        |f| f.retry_cut as f64,
    ),
    ("llmload_connections_total", Kind::Counter, "New connections opened.", |f| f.connects as f64),
    ("llmload_received_bytes_total", Kind::Counter, "Bytes received.", |f| f.bytes_in as f64),
    ("llmload_sent_bytes_total", Kind::Counter, "Bytes sent.", |f| f.bytes_out as f64),
    (
        "llmload_requests_per_second",
        Kind::Gauge,
        "Served throughput: requests that finished inside the window, per second of it.",
        |f| f.rps,
    ),
    (
        "llmload_offered_requests_per_second",
        Kind::Gauge,
        "Offered load: requests sent or dropped whose intended start fell in the window, per second.",
        |f| f.offered_rps,
    ),
    ("llmload_ok_ratio", Kind::Gauge, "Share of requests that succeeded (0-1).", |f| f.ok_rate),
    ("llmload_goodput_ratio", Kind::Gauge, "Share of requests within their scenario's SLOs (0-1).", |f| {
        f.goodput
    }),
    (
        "llmload_output_tokens_per_second",
        Kind::Gauge,
        "Completion tokens of successful requests that finished inside the window, per second.",
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
        Metric::Ttft => "Intended start to the first content-bearing event of a stream (streams only).",
        Metric::TtftContent => {
            "Intended start to the first answer event of a stream that reasoned (text or a tool call)."
        }
        Metric::ReasoningTime => "First to last reasoning event of a stream (streams with reasoning only).",
        Metric::Itl => "Gaps between consecutive content events.",
        Metric::Tpot => "Per request: (last - first content time) / (tokens - 1).",
        Metric::Connect => "TCP connect time of a new connection.",
        Metric::Tls => "TLS handshake time of a new connection.",
        Metric::RetryAfter => "Every readable retry-after received, as the server gave it.",
    }
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Renders `metrics.prom` of a run.
pub(crate) fn render(view: &RunView) -> String {
    let summary = view.summary;
    let scopes = scopes(view);
    let mut p = PromText::new();

    p.family(
        "llmload_requests_total",
        Kind::Counter,
        "Requests by outcome (ok, failed, cancelled by the stage, cancelled by the client).",
    );
    for s in &scopes {
        let outcomes = [
            ("ok", s.fig.ok),
            ("failed", s.fig.failed),
            ("cancelled", s.fig.cancelled),
            ("client_cancelled", s.fig.client_cancelled),
        ];
        for (outcome, n) in outcomes {
            p.sample("llmload_requests_total", &s.with(&[("outcome", outcome)]), n as f64);
        }
    }
    p.family("llmload_responses_total", Kind::Counter, "Responses by HTTP status.");
    for s in &scopes {
        for (status, n) in &s.fig.status_counts() {
            p.sample("llmload_responses_total", &s.with(&[("status", status)]), *n as f64);
        }
    }
    p.family("llmload_errors_total", Kind::Counter, "Failed requests by error class.");
    for s in &scopes {
        for (class, n) in &s.fig.error_counts() {
            p.sample("llmload_errors_total", &s.with(&[("class", class)]), *n as f64);
        }
    }
    p.family("llmload_tokens_total", Kind::Counter, "Tokens by kind (prompt or completion), all requests.");
    for s in &scopes {
        for (kind, n) in [("prompt", s.fig.prompt_tokens), ("completion", s.fig.completion_tokens)] {
            p.sample("llmload_tokens_total", &s.with(&[("kind", kind)]), n as f64);
        }
    }
    for (name, kind, help, value) in SIMPLE.iter().chain(super::prom_replies::REPLIES) {
        p.family(name, *kind, help);
        for s in &scopes {
            p.sample(name, &s.with(&[]), value(s.fig));
        }
    }

    let les: Vec<String> = BUCKETS_US.iter().map(|us| le_label(*us)).collect();
    for metric in Metric::ALL.iter() {
        let family = format!("llmload_{}_seconds", metric.name());
        let (bucket, sum, count) =
            (format!("{family}_bucket"), format!("{family}_sum"), format!("{family}_count"));
        p.family(&family, Kind::Histogram, metric_help(*metric));
        for s in &scopes {
            let h = s.stats.hists.get(*metric);
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
    p.family("llmload_stage_interrupted", Kind::Gauge, "1 when a signal stopped the stage before its end.");
    for (i, st) in summary.stages.iter().enumerate() {
        let stage = (i + 1).to_string();
        p.sample(
            "llmload_stage_interrupted",
            &[("stage", &stage), ("load", &st.stage)],
            flag(st.interrupted),
        );
    }

    super::observed::prom(&mut p, &summary.stages);

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
#[path = "prom_tests.rs"]
mod tests;
