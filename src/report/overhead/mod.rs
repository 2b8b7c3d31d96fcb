//! `llmload overhead`'s comparison: runs of one schedule direct to the upstream and via each
//! gateway, trial by trial → per gateway and stage the latency added (Δ at p50/p90/p99 with
//! its spread across trials), whether streams pass through unbuffered, the error classes the
//! gateway added, and whether client cancels reached the upstream. Rendered as overhead.json
//! (these types, serialized) and overhead.txt (`text`); docs/gateway-testing.md describes
//! every field.

pub(crate) mod passthrough;
pub(crate) mod resources;
pub(crate) mod text;

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::metrics::{Metric, Stats};

pub(crate) use passthrough::PassThrough;
pub(crate) use resources::Resources;

/// The quantiles every Δ is taken at.
pub(crate) const QUANTILES: [(&str, f64); 3] = [("p50", 0.50), ("p90", 0.90), ("p99", 0.99)];
/// The latency figures compared, as overhead.json names them.
pub(crate) const METRICS: [(&str, Metric); 3] =
    [("ttft", Metric::Ttft), ("e2e", Metric::Latency), ("itl", Metric::Itl)];

/// One stage of one run: every scenario together, and the streamed scenarios alone (the
/// pass-through check looks only at streams).
#[derive(Clone, Debug, Default)]
pub(crate) struct StageStats {
    pub all: Stats,
    pub streamed: Stats,
}

/// The upstream mock's disconnect counters (`llmload_mock_*` on its /metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub(crate) struct Disconnects {
    pub disconnects: f64,
    pub events: f64,
    pub seconds: f64,
}

impl Disconnects {
    /// What happened between `before` and `self`.
    pub(crate) fn since(&self, before: &Disconnects) -> Disconnects {
        Disconnects {
            disconnects: self.disconnects - before.disconnects,
            events: self.events - before.events,
            seconds: self.seconds - before.seconds,
        }
    }
    fn add(&mut self, o: &Disconnects) {
        self.disconnects += o.disconnects;
        self.events += o.events;
        self.seconds += o.seconds;
    }
}

/// One run: a target in a trial.
#[derive(Clone, Debug)]
pub(crate) struct TargetRun {
    /// Index into `Input::targets` (0 = direct).
    pub target: usize,
    /// From 1.
    pub trial: usize,
    pub stages: Vec<StageStats>,
    /// The upstream mock's disconnects during this run, when measured.
    pub disconnects: Option<Disconnects>,
    /// The gateway's own CPU and RSS per stage (`--pid`/`--cgroup` for this gateway, via-runs
    /// only); empty when not sampled.
    pub resources: Vec<crate::observe::ResourceFigures>,
    /// The run's own exit code, as `llmload run` would give it.
    pub exit_code: i32,
    pub dir: String,
}

/// A target: `direct` first, then each gateway.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Target {
    pub name: String,
    pub url: String,
}

/// Everything the comparison is computed from.
pub(crate) struct Input {
    pub targets: Vec<Target>,
    pub stage_labels: Vec<String>,
    pub runs: Vec<TargetRun>,
    pub trials: usize,
    /// Why cancellation propagation is not measured, when it is not.
    pub cancel_unmeasured: Option<String>,
}

/// overhead.json.
#[derive(Debug, Serialize)]
pub(crate) struct Overhead {
    pub seed: u64,
    pub trials: usize,
    pub profile: String,
    pub upstream: Upstream,
    /// The order the targets ran in, per trial (names).
    pub order: Vec<Vec<String>>,
    pub runs: Vec<RunRow>,
    pub gateways: Vec<Gateway>,
    /// True when every check passed and every run was valid (the exit code is 0).
    pub pass: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct Upstream {
    pub url: String,
    /// Started in-process by `llmload overhead` (no `--direct`).
    pub builtin_mock: bool,
    /// Its /metrics has the llmload mock's disconnect counters.
    pub llmload_mock: bool,
}

/// One run, where its full reports are.
#[derive(Debug, Serialize)]
pub(crate) struct RunRow {
    pub trial: usize,
    pub target: String,
    pub dir: String,
    pub exit_code: i32,
    pub ok: u64,
    pub requests: u64,
}

#[derive(Debug, Serialize)]
pub(crate) struct Gateway {
    pub name: String,
    pub url: String,
    pub stages: Vec<GatewayStage>,
    pub cancellation: Cancellation,
    /// Gateway CPU and RSS per stage and trial, when `--pid`/`--cgroup` names this gateway.
    pub resources: Option<Resources>,
    /// False when the pass-through check failed in a stage or a run of this gateway was not
    /// valid or failed its limits.
    pub pass: bool,
    pub reasons: Vec<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct GatewayStage {
    pub stage: usize,
    pub label: String,
    /// Metric (ttft, e2e, itl) → quantile (p50, p90, p99) → figures.
    pub delta: BTreeMap<&'static str, BTreeMap<&'static str, Delta>>,
    pub pass_through: PassThrough,
    /// Error classes (and non-200 statuses as `http_NNN`) seen more often via the gateway
    /// than direct, summed over trials: the excess count.
    pub errors_added: BTreeMap<String, u64>,
}

/// A quantile direct and via, and their difference, each trial paired with its own direct
/// run. Values in µs; null when a side had no successful request.
#[derive(Debug, Serialize)]
pub(crate) struct Delta {
    /// Medians across trials.
    pub direct_us: Option<f64>,
    pub via_us: Option<f64>,
    /// Median, min and max across trials of (via − direct), and each trial's.
    pub delta_us: Option<f64>,
    pub delta_min_us: Option<f64>,
    pub delta_max_us: Option<f64>,
    pub trials_us: Vec<Option<f64>>,
}

/// Whether the gateway passed client cancels to the upstream (the mock's disconnects per
/// request the client abandoned) and how fast (request arrival → disconnect noticed).
#[derive(Debug, Serialize)]
pub(crate) struct Cancellation {
    pub measured: bool,
    /// Why not, when not measured.
    pub reason: Option<String>,
    pub via: Option<CancelSide>,
    pub direct: Option<CancelSide>,
    /// `propagated` (≥ 90 % of cancels reached the upstream), `partly`, `not_propagated`;
    /// null when not measured or nothing was cancelled.
    pub verdict: Option<&'static str>,
    /// Mean time to disconnect via − direct, ms: how much later the upstream learns of it.
    pub added_delay_ms: Option<f64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct CancelSide {
    /// Requests the client abandoned (`cancelled_by_client`), all trials.
    pub client_cancelled: u64,
    /// Disconnects the upstream mock noticed in the same runs.
    pub upstream_disconnects: f64,
    /// upstream_disconnects ÷ client_cancelled.
    pub propagated_share: Option<f64>,
    /// Upstream's mean time from request arrival to the noticed disconnect, ms.
    pub mean_time_to_disconnect_ms: Option<f64>,
    /// Mean events the upstream wrote before it noticed.
    pub mean_events_before_disconnect: Option<f64>,
}

/// The value of `h` at quantile `q`, µs; None when empty.
pub(crate) fn quantile(h: &Histogram<u64>, q: f64) -> Option<f64> {
    (!h.is_empty()).then(|| h.value_at_quantile(q) as f64)
}

/// The median of the values present.
pub(crate) fn median(values: &[Option<f64>]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().flatten().copied().collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

fn extreme(values: &[Option<f64>], max: bool) -> Option<f64> {
    let it = values.iter().flatten().copied();
    if max {
        it.reduce(f64::max)
    } else {
        it.reduce(f64::min)
    }
}

impl Input {
    /// The run of `target` in `trial`.
    fn run(&self, target: usize, trial: usize) -> Option<&TargetRun> {
        self.runs.iter().find(|r| r.target == target && r.trial == trial)
    }

    /// Stage `stage` of `target`, every trial added up.
    fn pooled(&self, target: usize, stage: usize) -> StageStats {
        let mut sum = StageStats::default();
        for r in self.runs.iter().filter(|r| r.target == target) {
            if let Some(s) = r.stages.get(stage) {
                sum.all.add(&s.all);
                sum.streamed.add(&s.streamed);
            }
        }
        sum
    }

    fn delta(&self, via: usize, stage: usize, metric: Metric, q: f64) -> Delta {
        let at = |target: usize, trial: usize| {
            self.run(target, trial)
                .and_then(|r| r.stages.get(stage))
                .and_then(|s| quantile(s.all.hists.get(metric), q))
        };
        let (mut direct, mut gateway, mut deltas) = (Vec::new(), Vec::new(), Vec::new());
        for trial in 1..=self.trials {
            let (d, v) = (at(0, trial), at(via, trial));
            direct.push(d);
            gateway.push(v);
            deltas.push(d.zip(v).map(|(d, v)| v - d));
        }
        Delta {
            direct_us: median(&direct),
            via_us: median(&gateway),
            delta_us: median(&deltas),
            delta_min_us: extreme(&deltas, false),
            delta_max_us: extreme(&deltas, true),
            trials_us: deltas,
        }
    }

    /// Error classes and statuses seen more often via `via` than direct, per trial, summed.
    fn errors_added(&self, via: usize, stage: usize) -> BTreeMap<String, u64> {
        let classes = |target: usize, trial: usize| {
            let mut m = BTreeMap::new();
            if let Some(s) = self.run(target, trial).and_then(|r| r.stages.get(stage)) {
                for (k, v) in s.all.error_counts() {
                    m.insert(k.to_string(), v);
                }
                for (code, v) in &s.all.status {
                    if *code != 200 {
                        m.insert(format!("http_{code}"), *v);
                    }
                }
            }
            m
        };
        let mut added = BTreeMap::new();
        for trial in 1..=self.trials {
            let direct = classes(0, trial);
            for (k, v) in classes(via, trial) {
                let excess = v.saturating_sub(direct.get(&k).copied().unwrap_or(0));
                if excess > 0 {
                    *added.entry(k).or_insert(0) += excess;
                }
            }
        }
        added
    }

    fn cancel_side(&self, target: usize) -> Option<CancelSide> {
        let runs: Vec<&TargetRun> = self.runs.iter().filter(|r| r.target == target).collect();
        let mut d = Disconnects::default();
        for r in &runs {
            d.add(r.disconnects.as_ref()?);
        }
        let cancelled: u64 = runs.iter().flat_map(|r| &r.stages).map(|s| s.all.client_cancelled).sum();
        let per = |x: f64| (d.disconnects > 0.0).then(|| x / d.disconnects);
        Some(CancelSide {
            client_cancelled: cancelled,
            upstream_disconnects: d.disconnects,
            propagated_share: (cancelled > 0).then(|| d.disconnects / cancelled as f64),
            mean_time_to_disconnect_ms: per(d.seconds * 1e3),
            mean_events_before_disconnect: per(d.events),
        })
    }

    fn cancellation(&self, via: usize) -> Cancellation {
        if let Some(reason) = &self.cancel_unmeasured {
            return Cancellation {
                measured: false,
                reason: Some(reason.clone()),
                via: None,
                direct: None,
                verdict: None,
                added_delay_ms: None,
            };
        }
        let (v, d) = (self.cancel_side(via), self.cancel_side(0));
        let verdict = v.as_ref().and_then(|v| v.propagated_share).map(|share| match share {
            s if s >= 0.9 => "propagated",
            s if s > 0.0 => "partly",
            _ => "not_propagated",
        });
        let delay = |s: &Option<CancelSide>| s.as_ref().and_then(|s| s.mean_time_to_disconnect_ms);
        Cancellation {
            measured: v.is_some(),
            reason: v
                .is_none()
                .then(|| "the upstream's counters could not be read for every run".to_string()),
            added_delay_ms: delay(&v).zip(delay(&d)).map(|(v, d)| v - d),
            via: v,
            direct: d,
            verdict,
        }
    }

    /// The comparison of every gateway with the direct runs.
    pub(crate) fn gateways(&self) -> Vec<Gateway> {
        (1..self.targets.len())
            .map(|via| {
                let mut reasons = Vec::new();
                let stages: Vec<GatewayStage> = self
                    .stage_labels
                    .iter()
                    .enumerate()
                    .map(|(stage, label)| {
                        let delta = METRICS
                            .iter()
                            .map(|(name, m)| {
                                let qs =
                                    QUANTILES.iter().map(|(qn, q)| (*qn, self.delta(via, stage, *m, *q)));
                                (*name, qs.collect())
                            })
                            .collect();
                        let pass_through = PassThrough::judge(
                            &self.pooled(0, stage).streamed,
                            &self.pooled(via, stage).streamed,
                        );
                        if pass_through.verdict == passthrough::FAIL {
                            reasons.push(format!("stage {} ({label}): pass-through check failed", stage + 1));
                        }
                        GatewayStage {
                            stage,
                            label: label.clone(),
                            delta,
                            pass_through,
                            errors_added: self.errors_added(via, stage),
                        }
                    })
                    .collect();
                for r in self.runs.iter().filter(|r| r.target == via && r.exit_code != 0) {
                    reasons
                        .push(format!("trial {}: its run exited {} (see {})", r.trial, r.exit_code, r.dir));
                }
                Gateway {
                    name: self.targets[via].name.clone(),
                    url: self.targets[via].url.clone(),
                    stages,
                    cancellation: self.cancellation(via),
                    resources: self.resources(via),
                    pass: reasons.is_empty(),
                    reasons,
                }
            })
            .collect()
    }

    /// One row per run, in the order they ran.
    pub(crate) fn rows(&self) -> Vec<RunRow> {
        self.runs
            .iter()
            .map(|r| RunRow {
                trial: r.trial,
                target: self.targets[r.target].name.clone(),
                dir: r.dir.clone(),
                exit_code: r.exit_code,
                ok: r.stages.iter().map(|s| s.all.ok).sum(),
                requests: r.stages.iter().map(|s| s.all.requests).sum(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
