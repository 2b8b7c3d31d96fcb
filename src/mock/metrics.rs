//! The mock's own counters, for `GET /metrics` (Prometheus text 0.0.4).
//!
//! Each core writes only its own cache-line-aligned counters with relaxed atomics, so the
//! hot path never contends; a scrape sums every core's.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use super::routes::Route;

/// Statuses counted individually; anything else is counted as `other`.
const STATUSES: [u16; 16] = [200, 400, 401, 402, 403, 404, 405, 408, 409, 413, 429, 431, 500, 503, 504, 529];
const N_STATUS: usize = STATUSES.len() + 1;
const N_ROUTE: usize = Route::ALL.len();

/// Upper bounds of the pacing-lag histogram, in seconds.
pub(crate) const LAG_BOUNDS: [f64; 12] =
    [0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0];

/// One core's counters.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct CoreCounters {
    requests: [[AtomicU64; N_STATUS]; N_ROUTE],
    in_flight: AtomicI64,
    streams: AtomicI64,
    tokens: AtomicU64,
    reasoning_tokens: AtomicU64,
    tool_calls: AtomicU64,
    tool_replies: AtomicU64,
    cached_tokens: AtomicU64,
    json_answers: AtomicU64,
    json_invalid: AtomicU64,
    faults: AtomicU64,
    disconnects: AtomicU64,
    disconnect_events: AtomicU64,
    disconnect_ns: AtomicU64,
    lag_buckets: [AtomicU64; LAG_BOUNDS.len() + 1],
    lag_sum_ns: AtomicU64,
}

fn status_index(status: u16) -> usize {
    STATUSES.iter().position(|&s| s == status).unwrap_or(STATUSES.len())
}

impl CoreCounters {
    pub(crate) fn request_done(&self, route: Route, status: u16) {
        self.requests[route.index()][status_index(status)].fetch_add(1, Relaxed);
    }
    pub(crate) fn in_flight(&self, delta: i64) {
        self.in_flight.fetch_add(delta, Relaxed);
    }
    pub(crate) fn streams(&self, delta: i64) {
        self.streams.fetch_add(delta, Relaxed);
    }
    pub(crate) fn tokens(&self, n: u64) {
        self.tokens.fetch_add(n, Relaxed);
    }
    pub(crate) fn reasoning_tokens(&self, n: u64) {
        self.reasoning_tokens.fetch_add(n, Relaxed);
    }
    /// One reply's tool calls (called once per reply): the calls, and the reply if it had any.
    pub(crate) fn tool_calls(&self, n: u64) {
        if n > 0 {
            self.tool_calls.fetch_add(n, Relaxed);
            self.tool_replies.fetch_add(1, Relaxed);
        }
    }
    pub(crate) fn cached_tokens(&self, n: u64) {
        self.cached_tokens.fetch_add(n, Relaxed);
    }
    /// A whole answer asked for as JSON (`valid`: whether it is; None: not such an answer).
    pub(crate) fn json_answer(&self, valid: Option<bool>) {
        if let Some(valid) = valid {
            self.json_answers.fetch_add(1, Relaxed);
            self.json_invalid.fetch_add(u64::from(!valid), Relaxed);
        }
    }
    /// A non-streaming reply's tokens, reasoning and calls, all sent at once.
    pub(crate) fn generation(&self, gen: &super::kit::Generation) {
        self.tokens(gen.completion_tokens());
        self.reasoning_tokens(gen.reasoning);
        self.tool_calls(gen.calls.len() as u64);
        self.cached_tokens(gen.cached_tokens);
        self.json_answer(gen.json_valid());
    }
    /// A client that went away mid-reply (a write failed): how many events had been written,
    /// and how long after the request arrived the mock noticed and stopped generating.
    pub(crate) fn disconnect(&self, events: u64, after: Duration) {
        self.disconnects.fetch_add(1, Relaxed);
        self.disconnect_events.fetch_add(events, Relaxed);
        self.disconnect_ns.fetch_add(after.as_nanos() as u64, Relaxed);
    }
    pub(crate) fn fault(&self) {
        self.faults.fetch_add(1, Relaxed);
    }
    /// Records how late an event went out relative to its deadline.
    pub(crate) fn lag(&self, lag: Duration) {
        let secs = lag.as_secs_f64();
        let i = LAG_BOUNDS.iter().position(|&b| secs <= b).unwrap_or(LAG_BOUNDS.len());
        self.lag_buckets[i].fetch_add(1, Relaxed);
        self.lag_sum_ns.fetch_add(lag.as_nanos() as u64, Relaxed);
    }
}

/// All cores' counters.
pub(crate) struct Metrics {
    cores: Box<[CoreCounters]>,
    /// Requests admitted under `max_concurrency` (shared by every core: the one contended
    /// counter, used only when a limit is set).
    admitted: AtomicUsize,
}

impl Metrics {
    pub(crate) fn new(cores: usize) -> Metrics {
        Metrics {
            cores: (0..cores.max(1)).map(|_| CoreCounters::default()).collect(),
            admitted: AtomicUsize::new(0),
        }
    }

    /// Takes one of `max` places; false when all are taken.
    pub(crate) fn try_admit(&self, max: usize) -> bool {
        self.admitted.fetch_update(Relaxed, Relaxed, |n| (n < max).then_some(n + 1)).is_ok()
    }

    /// Gives back a place taken by `try_admit`.
    pub(crate) fn release(&self) {
        self.admitted.fetch_sub(1, Relaxed);
    }

    /// Core `core`'s counters.
    pub(crate) fn of_core(&self, core: usize) -> &CoreCounters {
        &self.cores[core]
    }

    fn sum<F: Fn(&CoreCounters) -> u64>(&self, f: F) -> u64 {
        self.cores.iter().map(f).sum()
    }

    /// Cumulative pacing-lag bucket counts (for tests and benchmarks).
    pub(crate) fn lag_counts(&self) -> Vec<u64> {
        let mut acc = 0;
        (0..=LAG_BOUNDS.len())
            .map(|i| {
                acc += self.sum(|s| s.lag_buckets[i].load(Relaxed));
                acc
            })
            .collect()
    }

    /// Renders the Prometheus text exposition.
    pub(crate) fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP llmload_mock_requests_total Requests answered, by route and status.\n");
        out.push_str("# TYPE llmload_mock_requests_total counter\n");
        for route in Route::ALL {
            for (si, label) in STATUSES.iter().map(|s| s.to_string()).chain(["other".to_string()]).enumerate()
            {
                let n = self.sum(|s| s.requests[route.index()][si].load(Relaxed));
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "llmload_mock_requests_total{{route=\"{}\",status=\"{label}\"}} {n}",
                        route.label()
                    );
                }
            }
        }
        let gauge = |out: &mut String, name: &str, help: &str, v: i64| {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n");
        };
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n");
        };
        gauge(
            &mut out,
            "llmload_mock_in_flight",
            "Requests being served.",
            self.cores.iter().map(|s| s.in_flight.load(Relaxed)).sum(),
        );
        gauge(
            &mut out,
            "llmload_mock_streams_in_flight",
            "SSE streams being sent.",
            self.cores.iter().map(|s| s.streams.load(Relaxed)).sum(),
        );
        counter(
            &mut out,
            "llmload_mock_tokens_emitted_total",
            "Completion tokens sent.",
            self.sum(|s| s.tokens.load(Relaxed)),
        );
        counter(
            &mut out,
            "llmload_mock_reasoning_tokens_emitted_total",
            "Reasoning tokens sent (included in tokens_emitted).",
            self.sum(|s| s.reasoning_tokens.load(Relaxed)),
        );
        counter(
            &mut out,
            "llmload_mock_tool_calls_emitted_total",
            "Tool calls sent (streams: calls whose first fragment went out).",
            self.sum(|s| s.tool_calls.load(Relaxed)),
        );
        counter(
            &mut out,
            "llmload_mock_tool_call_replies_total",
            "Replies that called tools (see --tool-call-rate).",
            self.sum(|s| s.tool_replies.load(Relaxed)),
        );
        counter(
            &mut out,
            "llmload_mock_cached_prompt_tokens_total",
            "Prompt tokens reported as served from the prefix cache.",
            self.sum(|s| s.cached_tokens.load(Relaxed)),
        );
        counter(
            &mut out,
            "llmload_mock_client_disconnects_total",
            "Replies cut short because the client closed the connection (noticed at the next write; \
             generation stopped there).",
            self.sum(|s| s.disconnects.load(Relaxed)),
        );
        counter(
            &mut out,
            "llmload_mock_disconnect_events_total",
            "Events written to those replies before the disconnect was noticed.",
            self.sum(|s| s.disconnect_events.load(Relaxed)),
        );
        let _ = writeln!(
            out,
            "# HELP llmload_mock_disconnect_seconds_total Time from request arrival to the noticed disconnect, summed.\n\
             # TYPE llmload_mock_disconnect_seconds_total counter\n\
             llmload_mock_disconnect_seconds_total {}",
            self.sum(|s| s.disconnect_ns.load(Relaxed)) as f64 / 1e9
        );
        counter(
            &mut out,
            "llmload_mock_json_answers_total",
            "Whole answers asked for as JSON (response_format json_object or json_schema), tool calls aside.",
            self.sum(|s| s.json_answers.load(Relaxed)),
        );
        counter(
            &mut out,
            "llmload_mock_json_invalid_total",
            "Of the JSON answers: not valid JSON (the json-invalid fault, or cut at the token cap).",
            self.sum(|s| s.json_invalid.load(Relaxed)),
        );
        counter(
            &mut out,
            "llmload_mock_faults_injected_total",
            "Requests given an injected fault.",
            self.sum(|s| s.faults.load(Relaxed)),
        );
        out.push_str(
            "# HELP llmload_mock_pacing_lag_seconds How late stream events went out after their deadline.\n",
        );
        out.push_str("# TYPE llmload_mock_pacing_lag_seconds histogram\n");
        let counts = self.lag_counts();
        for (i, bound) in LAG_BOUNDS.iter().enumerate() {
            let _ = writeln!(out, "llmload_mock_pacing_lag_seconds_bucket{{le=\"{bound}\"}} {}", counts[i]);
        }
        let total = counts[LAG_BOUNDS.len()];
        let _ = writeln!(out, "llmload_mock_pacing_lag_seconds_bucket{{le=\"+Inf\"}} {total}");
        let sum = self.sum(|s| s.lag_sum_ns.load(Relaxed)) as f64 / 1e9;
        let _ = writeln!(out, "llmload_mock_pacing_lag_seconds_sum {sum}");
        let _ = writeln!(out, "llmload_mock_pacing_lag_seconds_count {total}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_sums_cores_and_is_well_formed() {
        let m = Metrics::new(2);
        m.of_core(0).request_done(Route::ChatCompletions, 200);
        m.of_core(1).request_done(Route::ChatCompletions, 200);
        m.of_core(1).request_done(Route::Messages, 777);
        m.of_core(0).lag(Duration::from_micros(30));
        m.of_core(1).lag(Duration::from_millis(3));
        m.of_core(1).tokens(5);
        m.of_core(0).reasoning_tokens(3);
        m.of_core(1).tool_calls(2);
        m.of_core(0).disconnect(3, Duration::from_millis(250));
        m.of_core(1).disconnect(0, Duration::from_millis(250));
        m.of_core(0).json_answer(Some(true));
        m.of_core(1).json_answer(Some(false));
        m.of_core(1).json_answer(None);
        let text = m.render();
        assert!(text.contains("llmload_mock_requests_total{route=\"chat_completions\",status=\"200\"} 2"));
        assert!(text.contains("llmload_mock_requests_total{route=\"messages\",status=\"other\"} 1"));
        assert!(text.contains("llmload_mock_pacing_lag_seconds_bucket{le=\"0.00005\"} 1"));
        assert!(text.contains("llmload_mock_pacing_lag_seconds_bucket{le=\"+Inf\"} 2"));
        assert!(text.contains("llmload_mock_tokens_emitted_total 5"));
        assert!(text.contains("llmload_mock_reasoning_tokens_emitted_total 3\n"));
        assert!(text.contains("llmload_mock_tool_calls_emitted_total 2\n"));
        assert!(text.contains("llmload_mock_tool_call_replies_total 1\n"));
        assert!(text.contains("llmload_mock_cached_prompt_tokens_total 0\n"));
        assert!(text.contains("llmload_mock_json_answers_total 2\n"));
        assert!(text.contains("llmload_mock_json_invalid_total 1\n"));
        assert!(text.contains("llmload_mock_client_disconnects_total 2\n"));
        assert!(text.contains("llmload_mock_disconnect_events_total 3\n"));
        assert!(text.contains("llmload_mock_disconnect_seconds_total 0.5\n"));
        // One TYPE line per family.
        let types = text.lines().filter(|l| l.starts_with("# TYPE")).count();
        assert_eq!(types, 15);
    }
}
