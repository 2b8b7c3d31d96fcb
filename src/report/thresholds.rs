//! Thresholds: pass/fail limits checked per stage on all scenarios together and on each
//! scenario (nexus-loadtest's `ttft_p95_ms`, `p95_ms`, `error_rate`, and ours).

use serde::{Deserialize, Serialize};

use crate::engine::RunResult;
use crate::metrics::{Metric, Stats};
use crate::profile::Thresholds;

/// One checked limit.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Check {
    /// 0-based stage index.
    pub stage: usize,
    /// `ALL` or a scenario name.
    pub scope: String,
    pub name: String,
    pub limit: f64,
    pub actual: f64,
    pub pass: bool,
}

fn ms(s: &Stats, m: Metric, q: f64) -> f64 {
    let h = s.hists.get(m);
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(q) as f64 / 1e3
    }
}

/// The value a threshold measures, and whether a larger value is worse.
fn measure(name: &str, s: &Stats, steady_s: f64) -> (f64, bool) {
    let share = |n: u64| if s.requests > 0 { n as f64 / s.requests as f64 } else { 0.0 };
    match name {
        "ttft_p95_ms" => (ms(s, Metric::Ttft, 0.95), true),
        "ttft_p99_ms" => (ms(s, Metric::Ttft, 0.99), true),
        "p95_ms" => (ms(s, Metric::Latency, 0.95), true),
        "p99_ms" => (ms(s, Metric::Latency, 0.99), true),
        "itl_p95_ms" => (ms(s, Metric::Itl, 0.95), true),
        "error_rate" => (if s.requests > 0 { 1.0 - share(s.ok) } else { 0.0 }, true),
        "min_goodput" => (share(s.good), false),
        "min_rps" => (crate::report::summary::rate(s.served, steady_s), false),
        _ => (0.0, true),
    }
}

/// Checks every threshold on every stage (ALL, then each scenario that saw requests).
pub fn evaluate(thresholds: &Thresholds, run: &RunResult) -> Vec<Check> {
    let limits = thresholds.list();
    let mut checks = Vec::new();
    for (i, stage) in run.stages.iter().enumerate() {
        let steady = stage.steady.as_secs_f64();
        let mut scopes = vec![("ALL".to_string(), &stage.all)];
        if run.scenarios.len() > 1 {
            scopes
                .extend(run.scenarios.iter().cloned().zip(&stage.scenarios).filter(|(_, s)| s.requests > 0));
        }
        for (scope, stats) in scopes {
            for &(name, limit) in &limits {
                // Rates are properties of the whole stage, not of a scenario's share.
                if name == "min_rps" && scope != "ALL" {
                    continue;
                }
                let (actual, larger_is_worse) = measure(name, stats, steady);
                let pass = if larger_is_worse { actual <= limit } else { actual >= limit };
                checks.push(Check {
                    stage: i,
                    scope: scope.clone(),
                    name: name.to_string(),
                    limit,
                    actual,
                    pass,
                });
            }
        }
    }
    checks
}
