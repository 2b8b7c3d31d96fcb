//! A summary decoded once: [`RunView`] holds a `Summary` beside the run it describes, every
//! histogram decoded from its text exactly once. Every report (text, HTML, Prometheus, CSV,
//! hlog) renders from a view, so `llmload run`, `merge` and `report` share one rendering
//! path and cannot drift apart; `merge` adds up the runs of views.

use std::time::{Duration, UNIX_EPOCH};

use super::summary::{Figures, StageSummary, Summary};
use crate::engine::{RunResult, StageResult};
use crate::metrics::{encode, Metric, Stats};
use crate::net::cores::Driver;
use crate::profile::stages::Stage;

/// A summary and its run, decoded.
pub struct RunView<'a> {
    pub summary: &'a Summary,
    /// The run the summary describes: counters copied, histograms decoded. Its scenarios are
    /// [`scenario_names`] of the summary, in that order, in every stage.
    pub run: RunResult,
    /// Every stage's `all` added up: the whole run.
    pub total: Stats,
}

impl<'a> RunView<'a> {
    /// Decodes `summary`; the error names the stage, scope and histogram at fault.
    pub fn decode(summary: &'a Summary) -> Result<RunView<'a>, String> {
        let scenarios = scenario_names(summary);
        let stages = summary
            .stages
            .iter()
            .enumerate()
            .map(|(i, s)| stage_result(s, &scenarios).map_err(|e| format!("stages[{i}]: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let mut total = Stats::default();
        for st in &stages {
            total.add(&st.all);
        }
        let meta = &summary.meta;
        let run = RunResult {
            stages,
            interrupted: summary.interrupted,
            fixed_connections: meta.fixed_connections,
            scenarios,
            driver: Driver::from_name(&summary.driver),
            workers: summary.workers,
            started: UNIX_EPOCH + Duration::from_micros(meta.start_unix_us),
            elapsed: Duration::from_micros(meta.end_unix_us.saturating_sub(meta.start_unix_us)),
            timeline: summary.timeline.clone(),
        };
        Ok(RunView { summary, run, total })
    }

    /// The decoded statistics of scenario `name` in stage `stage` (0-based).
    pub fn stats(&self, stage: usize, name: &str) -> Option<&Stats> {
        let j = self.run.scenarios.iter().position(|n| n == name)?;
        self.run.stages.get(stage).map(|st| &st.scenarios[j])
    }

    /// The run, for adding up (`merge`) or judging again.
    pub fn into_run(self) -> RunResult {
        self.run
    }
}

/// The statistics a figures object was made from (counters copied, histograms decoded).
pub(crate) fn stats_of(f: &Figures) -> Result<Stats, String> {
    let mut s = Stats::from(f.counters.clone());
    for (name, text) in &f.histograms {
        let metric = Metric::from_name(name).ok_or_else(|| format!("unknown metric {name:?}"))?;
        let h = encode::decode(text).map_err(|e| format!("{name}: {e}"))?;
        s.hists.add_histogram(metric, &h).map_err(|e| format!("{name}: {e}"))?;
    }
    s.keys = super::summary::KeyFigures::to_set(&f.keys)?;
    Ok(s)
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

fn stage_result(s: &StageSummary, scenarios: &[String]) -> Result<StageResult, String> {
    let stage = Stage::parse(&s.stage)?;
    let per = scenarios
        .iter()
        .map(|name| match s.scenarios.get(name) {
            Some(f) => stats_of(f).map_err(|e| format!("scenario {name:?}: {e}")),
            None => Ok(Stats::default()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(StageResult {
        stage,
        all: stats_of(&s.all).map_err(|e| format!("ALL: {e}"))?,
        scenarios: per,
        wall: secs(s.wall_s),
        steady: secs(s.steady_s),
        interrupted: s.interrupted,
        worker_cpu: s.worker_cpu_s.iter().map(|c| secs(*c)).collect(),
        sink_dropped: s.sink_dropped,
        connecting_peak: s.connecting_peak.clone(),
    })
}

/// The scenario names of a summary, in the order of its first stage (then any others).
pub(crate) fn scenario_names(summary: &Summary) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::metrics::Counters;

    #[test]
    fn figures_turn_back_into_the_stats_they_were_made_of() {
        let mut s = Stats::from(Counters { requests: 7, ok: 6, failed: 1, served: 5, ..Counters::default() });
        s.status.insert(200, 6);
        s.errors[crate::metrics::ErrorKind::Eof.index()] = 1;
        for v in [10, 2_000, 2_000, 900_000] {
            s.hists.record(Metric::Latency, v);
            s.hists.record(Metric::Ttft, v / 2);
        }
        let f = Figures::of(&s, 2.0);
        let back = stats_of(&f).unwrap();
        assert_eq!(back.counters, s.counters);
        for m in Metric::ALL {
            let (a, b) = (back.hists.get(m), s.hists.get(m));
            assert_eq!(
                (a.len(), a.max(), a.value_at_quantile(0.5)),
                (b.len(), b.max(), b.value_at_quantile(0.5))
            );
        }
        // And once more through JSON, as a saved summary is read.
        let again: Figures = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert_eq!(stats_of(&again).unwrap().counters, s.counters);
        let mut bad = f.clone();
        bad.histograms.insert("latency".into(), "AAAA".into());
        assert!(stats_of(&bad).unwrap_err().starts_with("latency: "));
        bad.histograms = BTreeMap::from([("nonsense".to_string(), "AAAA".to_string())]);
        assert!(stats_of(&bad).unwrap_err().contains("unknown metric \"nonsense\""));
    }
}
