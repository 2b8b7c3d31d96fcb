//! Thresholds: pass/fail [`Limit`]s checked per stage on all scenarios together and on each
//! scenario (nexus-loadtest's `ttft_p95_ms`, `p95_ms`, `error_rate`, and ours).
//!
//! A shard of a distributed run holds part of the load, so only thresholds on shares and
//! percentiles mean the same on it as on the whole; absolute ones (`min_rps`) are recorded
//! as deferred there and judged by `llmload merge` on the merged figures.

use serde::{Deserialize, Serialize};

use crate::engine::RunResult;
use crate::metrics::{Limit, Measure};

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
    /// True unless the limit was missed (a deferred check does not fail).
    pub pass: bool,
    /// Not judged here: an absolute limit on a shard, left to `llmload merge` (`actual` is
    /// this shard's own figure, for information).
    #[serde(default)]
    pub deferred: bool,
}

impl Check {
    /// Judged and missed.
    pub fn failed(&self) -> bool {
        !self.pass && !self.deferred
    }
}

/// What the evaluated figures cover: the whole run, or one shard's part of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Coverage {
    Whole,
    Shard,
}

/// The failed share a run may have when its profile sets no `error_rate` threshold
/// (`--max-error-rate` changes it; 1 turns it off).
pub(crate) const DEFAULT_MAX_ERROR_RATE: f64 = 0.10;
/// The check every stage gets: at least one successful request (a stage where nothing
/// succeeded describes no server, whatever else passed).
pub(crate) const OK_REQUESTS: &str = "ok_requests";

/// The limits a run is judged by: the profile's thresholds, the default error-rate limit
/// when the profile sets none (`max_error_rate` below 1), and `ok_requests ≥ 1`.
pub(crate) fn limits(thresholds: &[Limit], max_error_rate: f64) -> Vec<Limit> {
    let mut out = thresholds.to_vec();
    let own_rate = thresholds.iter().any(|l| l.measure == Measure::ErrorRate);
    if !own_rate && max_error_rate < 1.0 {
        out.push(
            Limit::from_number("error_rate", max_error_rate).expect("--max-error-rate is checked as a share"),
        );
    }
    out.push(Limit::from_number(OK_REQUESTS, 1.0).expect("a known measure"));
    out
}

/// Checks every limit on every stage (ALL, then each scenario that saw requests); on a
/// shard, the ones that do not [hold per shard](Measure::holds_per_shard) are recorded as
/// deferred. A figure that was not measured (no request, an empty histogram) counts as 0.
pub(crate) fn evaluate(limits: &[Limit], run: &RunResult, coverage: Coverage) -> Vec<Check> {
    let mut checks = Vec::new();
    for (i, stage) in run.stages.iter().enumerate() {
        let steady = stage.steady.as_secs_f64();
        let mut scopes = vec![("ALL".to_string(), &stage.all)];
        if run.scenarios.len() > 1 {
            scopes
                .extend(run.scenarios.iter().cloned().zip(&stage.scenarios).filter(|(_, s)| s.requests > 0));
        }
        for (scope, stats) in scopes {
            for limit in limits {
                // Rates and the success check are properties of the whole stage.
                if limit.measure.whole_stage_only() && scope != "ALL" {
                    continue;
                }
                let actual = limit.value(stats, steady).unwrap_or(0.0);
                let deferred = coverage == Coverage::Shard && !limit.measure.holds_per_shard();
                checks.push(Check {
                    stage: i,
                    scope: scope.clone(),
                    name: limit.name.clone(),
                    limit: limit.bound,
                    actual,
                    pass: deferred || limit.holds(actual),
                    deferred,
                });
            }
        }
    }
    checks
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::engine::StageResult;
    use crate::metrics::Stats;
    use crate::profile::stages::Stage;

    fn limit(name: &str, bound: f64) -> Limit {
        Limit::from_number(name, bound).unwrap()
    }

    /// One 5 s stage of 100 requests, 10 of them failed: 20 req/s, error rate 0.1.
    fn run() -> RunResult {
        let all = Stats::from(crate::metrics::Counters {
            requests: 100,
            ok: 90,
            failed: 10,
            served: 100,
            ..Default::default()
        });
        RunResult {
            stages: vec![StageResult {
                stage: Stage::parse("@20:5s").unwrap(),
                scenarios: vec![all.clone()],
                all,
                wall: Duration::from_secs(5),
                steady: Duration::from_secs(5),
                interrupted: false,
                worker_cpu: Vec::new(),
                sink_dropped: 0,
                connecting_peak: Vec::new(),
            }],
            interrupted: false,
            fixed_connections: false,
            scenarios: vec!["default".into()],
            driver: crate::net::cores::Driver::Epoll,
            workers: 1,
            started: std::time::UNIX_EPOCH,
            elapsed: Duration::from_secs(5),
            timeline: Vec::new(),
        }
    }

    #[test]
    fn a_shard_defers_absolute_limits_and_judges_shares() {
        let t = [limit("min_rps", 30.0), limit("error_rate", 0.05)];
        let t = limits(&t, DEFAULT_MAX_ERROR_RATE);
        let whole = evaluate(&t, &run(), Coverage::Whole);
        let shard = evaluate(&t, &run(), Coverage::Shard);
        let find = |checks: &[Check], name: &str| checks.iter().find(|c| c.name == name).unwrap().clone();
        // The whole run: 20/s misses 30/s, 10 % errors miss 5 %.
        assert!(find(&whole, "min_rps").failed());
        assert!(find(&whole, "error_rate").failed());
        assert!(whole.iter().all(|c| !c.deferred));
        // A shard: its 20/s is a part, not judged (and not failed); its error share is.
        let rps = find(&shard, "min_rps");
        assert!(rps.deferred && rps.pass && !rps.failed(), "{rps:?}");
        assert_eq!(rps.actual, 20.0);
        let errors = find(&shard, "error_rate");
        assert!(!errors.deferred && errors.failed(), "{errors:?}");
        for name in
            ["ttft_p95_ms", "ttft_p99_ms", "p95_ms", "p99_ms", "itl_p95_ms", "error_rate", "min_goodput"]
        {
            assert!(limit(name, 0.5).measure.holds_per_shard(), "{name}");
        }
        assert!(!limit("min_rps", 1.0).measure.holds_per_shard());
        // The success check is judged on the whole (a shard may have no user in a stage).
        assert!(find(&shard, OK_REQUESTS).deferred && !find(&whole, OK_REQUESTS).deferred);
    }

    #[test]
    fn default_limits_fail_runs_that_failed() {
        let none = [];
        // Without thresholds: error rate at most 10 % (10 % passes), and a success per stage.
        let l = limits(&none, DEFAULT_MAX_ERROR_RATE);
        assert_eq!(l, vec![limit("error_rate", 0.10), limit(OK_REQUESTS, 1.0)]);
        assert!(evaluate(&l, &run(), Coverage::Whole).iter().all(|c| c.pass));
        let mut bad = run();
        bad.stages[0].all.ok = 0;
        bad.stages[0].all.failed = 100;
        let checks = evaluate(&l, &bad, Coverage::Whole);
        assert!(checks.iter().all(Check::failed), "{checks:?}");
        // --max-error-rate 1 turns the rate off, never the success check; a profile's own
        // error_rate replaces the default.
        let l = limits(&none, 1.0);
        assert_eq!(l, vec![limit(OK_REQUESTS, 1.0)]);
        assert!(evaluate(&l, &bad, Coverage::Whole)[0].failed());
        let own = [limit("error_rate", 0.5)];
        assert_eq!(limits(&own, 0.01)[0], limit("error_rate", 0.5));
        assert_eq!(limits(&own, 0.01).len(), 2);
    }
}
