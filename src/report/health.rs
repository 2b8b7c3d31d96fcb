//! Generator health: whether a run's numbers describe the server or llmload itself.

use crate::engine::{RunResult, StageResult};
use crate::metrics::Metric;

/// Open-loop send-lag p99 above this means the generator could not keep its schedule.
pub const SEND_LAG_P99_LIMIT_US: u64 = 5_000;
/// A worker busier than this share of the stage's wall time is saturated.
pub const WORKER_CPU_LIMIT: f64 = 0.90;

/// Why a stage's numbers may describe the generator rather than the server.
pub fn stage_findings(stage: &StageResult, fixed_connections: bool) -> Vec<String> {
    let mut out = Vec::new();
    if stage.all.dropped > 0 {
        out.push(format!("{} arrivals dropped at the in-flight limit", stage.all.dropped));
    }
    out.extend(generator_limits(stage, fixed_connections));
    out
}

/// The findings that mean llmload itself ran out of something (ports, fds, CPU, its
/// schedule) — unlike drops at the in-flight limit, which a slow server causes.
pub fn generator_limits(stage: &StageResult, fixed_connections: bool) -> Vec<String> {
    let mut out = Vec::new();
    let all = &stage.all;
    let gen_errors = all.generator_errors();
    if gen_errors > 0 {
        out.push(format!(
            "{gen_errors} generator-side errors (port or fd exhaustion, unusable source address)"
        ));
    }
    if stage.stage.is_open() && !fixed_connections {
        let lag = all.hists.get(Metric::SendLag);
        if !lag.is_empty() && lag.value_at_quantile(0.99) > SEND_LAG_P99_LIMIT_US {
            out.push(format!(
                "send lag p99 {} above {}",
                crate::units::format_us(lag.value_at_quantile(0.99) as f64),
                crate::units::format_us(SEND_LAG_P99_LIMIT_US as f64)
            ));
        }
    }
    let wall = stage.wall.as_secs_f64().max(1e-9);
    if let Some(max_cpu) = stage.worker_cpu.iter().map(|c| c.as_secs_f64() / wall).reduce(f64::max) {
        if max_cpu > WORKER_CPU_LIMIT {
            out.push(format!("a worker used {:.0}% of a core", max_cpu * 100.0));
        }
    }
    out
}

/// True when any stage was generator-bound.
pub fn generator_bound(run: &RunResult) -> bool {
    run.stages.iter().any(|s| !stage_findings(s, run.fixed_connections).is_empty())
}
