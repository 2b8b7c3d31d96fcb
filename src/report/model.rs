//! A saved run back in memory: `summary.json` → [`RunResult`], exactly (counters copied,
//! histograms decoded). Every report is rendered from a `Summary`, so `llmload run`,
//! `llmload merge` and `llmload report` share one rendering path and cannot drift apart.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::summary::{Figures, StageSummary, Summary};
use crate::engine::{RunResult, StageResult};
use crate::metrics::{encode, ErrorKind, Metric, Stats};
use crate::net::cores::Driver;
use crate::profile::stages::Stage;

impl Figures {
    /// The statistics these figures were made from (histograms decoded, counters copied).
    pub fn to_stats(&self) -> Result<Stats, String> {
        let mut s = Stats {
            requests: self.requests,
            ok: self.ok,
            good: self.good,
            failed: self.failed,
            cancelled: self.cancelled,
            dropped: self.dropped,
            dropped_behind: self.dropped_behind,
            served: self.served,
            served_ok: self.served_ok,
            served_tokens: self.served_tokens,
            late: self.late,
            backoffs: self.backoffs,
            followups: self.followup_turns,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            ok_completion_tokens: self.ok_completion_tokens,
            content_events: self.content_events,
            token_mismatch: self.token_mismatch,
            counted_tokens: self.counted_tokens,
            connects: self.connects,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            ..Stats::default()
        };
        for (code, n) in &self.status {
            let code = code.parse::<u16>().map_err(|_| format!("status {code:?} is not an HTTP status"))?;
            s.status.insert(code, *n);
        }
        for (name, n) in &self.errors {
            let kind = ErrorKind::from_name(name).ok_or_else(|| format!("unknown error class {name:?}"))?;
            s.errors[kind.index()] = *n;
        }
        for (name, text) in &self.histograms {
            let metric = Metric::from_name(name).ok_or_else(|| format!("unknown metric {name:?}"))?;
            let h = encode::decode(text).map_err(|e| format!("{name}: {e}"))?;
            s.hists.add_histogram(metric, &h).map_err(|e| format!("{name}: {e}"))?;
        }
        Ok(s)
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

fn stage_result(s: &StageSummary, scenarios: &[String]) -> Result<StageResult, String> {
    let stage = Stage::parse(&s.stage)?;
    let per = scenarios
        .iter()
        .map(|name| match s.scenarios.get(name) {
            Some(f) => f.to_stats().map_err(|e| format!("scenario {name:?}: {e}")),
            None => Ok(Stats::default()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(StageResult {
        stage,
        all: s.all.to_stats().map_err(|e| format!("ALL: {e}"))?,
        scenarios: per,
        wall: secs(s.wall_s),
        steady: secs(s.steady_s),
        interrupted: s.interrupted,
        worker_cpu: s.worker_cpu_s.iter().map(|c| secs(*c)).collect(),
        sink_dropped: s.sink_dropped,
    })
}

/// The scenario names of a summary, in the order of its first stage (then any others).
pub fn scenario_names(summary: &Summary) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for st in &summary.stages {
        for name in st.scenarios.keys() {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    names
}

/// Rebuilds the run a summary describes; the error names the stage and field at fault.
pub fn run_from_summary(summary: &Summary) -> Result<RunResult, String> {
    let scenarios = scenario_names(summary);
    let stages = summary
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| stage_result(s, &scenarios).map_err(|e| format!("stages[{i}]: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let meta = &summary.meta;
    Ok(RunResult {
        stages,
        interrupted: summary.interrupted,
        fixed_connections: meta.fixed_connections,
        scenarios,
        driver: Driver::from_name(&summary.driver),
        workers: summary.workers,
        started: UNIX_EPOCH + Duration::from_micros(meta.start_unix_us),
        elapsed: Duration::from_micros(meta.end_unix_us.saturating_sub(meta.start_unix_us)),
    })
}

/// Microseconds since the Unix epoch.
pub fn unix_us(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// Reads and checks a `summary.json`; the error names the file.
pub fn load(path: &std::path::Path) -> Result<Summary, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    match value.get("schema_version").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(super::summary::SCHEMA_VERSION) => {}
        Some(v) => {
            return Err(format!(
                "{}: schema_version {v}, this llmload reads {}{}",
                path.display(),
                super::summary::SCHEMA_VERSION,
                if v == 1 {
                    " (version 1 counted rps as requests sent, not requests served: run the test again)"
                } else {
                    ""
                }
            ))
        }
        None => return Err(format!("{}: not a summary.json (no schema_version)", path.display())),
    }
    serde_path_to_error::deserialize(value)
        .map_err(|e| format!("{}: {}: {}", path.display(), e.path(), e.inner()))
}
