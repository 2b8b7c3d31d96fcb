//! The gateway's own CPU and memory in `llmload overhead` (`--pid`/`--cgroup NAME=…`, NAME a
//! gateway): sampled during that gateway's via-runs only, so each figure is the gateway
//! serving exactly one stage of one trial's load.

use serde::Serialize;

use super::{median, Input};
use crate::observe::ResourceFigures;

/// `gateways[].resources` in overhead.json.
#[derive(Debug, Serialize)]
pub(crate) struct Resources {
    /// What was sampled: `pid N` or `cgroup PATH` (of the first via-run).
    pub source: String,
    pub stages: Vec<ResourceStage>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ResourceStage {
    pub stage: usize,
    pub label: String,
    /// Medians across trials, except the peaks: the highest trial's.
    pub cpu_s_per_1m_requests: Option<f64>,
    pub cpu_pct_avg: Option<f64>,
    pub cpu_pct_peak: Option<f64>,
    pub rss_avg_bytes: Option<u64>,
    pub rss_peak_bytes: Option<u64>,
    /// Each trial's figures, as a run's summary.json `stages[].resources.NAME`.
    pub trials: Vec<ResourceTrial>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ResourceTrial {
    pub trial: usize,
    #[serde(flatten)]
    pub figures: ResourceFigures,
}

impl Input {
    /// The gateway `via`'s sampled figures; None when it was not sampled.
    pub(crate) fn resources(&self, via: usize) -> Option<Resources> {
        let runs: Vec<_> = self.runs.iter().filter(|r| r.target == via && !r.resources.is_empty()).collect();
        let source = runs.first()?.resources.iter().map(|f| f.source.clone()).next()?;
        let stages = self
            .stage_labels
            .iter()
            .enumerate()
            .map(|(stage, label)| {
                let trials: Vec<ResourceTrial> = runs
                    .iter()
                    .filter_map(|r| {
                        let figures = r.resources.get(stage)?.clone();
                        Some(ResourceTrial { trial: r.trial, figures })
                    })
                    .collect();
                let sampled = || trials.iter().map(|t| &t.figures).filter(|f| f.samples > 0);
                let mid =
                    |f: fn(&ResourceFigures) -> Option<f64>| median(&sampled().map(f).collect::<Vec<_>>());
                let top = |f: fn(&ResourceFigures) -> Option<f64>| sampled().filter_map(f).reduce(f64::max);
                ResourceStage {
                    stage,
                    label: label.clone(),
                    cpu_s_per_1m_requests: mid(|f| f.cpu_s_per_1m_requests),
                    cpu_pct_avg: mid(|f| Some(f.cpu_pct_avg)),
                    cpu_pct_peak: top(|f| Some(f.cpu_pct_peak)),
                    rss_avg_bytes: mid(|f| f.rss_avg_bytes.map(|b| b as f64)).map(|b| b as u64),
                    rss_peak_bytes: sampled().filter_map(|f| f.rss_peak_bytes).max(),
                    trials,
                }
            })
            .collect();
        Some(Resources { source, stages })
    }
}
