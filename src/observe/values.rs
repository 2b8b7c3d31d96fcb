//! What a server's metrics add up to over one stage: counter increases, gauge ranges and
//! histogram bucket increases as `series` gathers them, and the shapes summary.json keeps
//! of gauges and histograms. `known` reads the same to recognise metrics by name.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// A gauge over a stage.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub struct GaugeRange {
    pub min: f64,
    pub max: f64,
    /// At the stage's last scrape.
    pub last: f64,
}

impl GaugeRange {
    pub(crate) fn of(v: f64) -> GaugeRange {
        GaugeRange { min: v, max: v, last: v }
    }

    pub(crate) fn add(&mut self, v: f64) {
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.last = v;
    }
}

/// A histogram's increase over a stage.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct HistogramDelta {
    /// Observations in the stage, and their sum (the histogram's unit, seconds for vLLM's).
    pub count: f64,
    pub sum: f64,
    /// `sum` ÷ `count` (null: nothing observed).
    pub mean: Option<f64>,
    /// Estimated from the buckets as Prometheus's `histogram_quantile` does: linear within
    /// the bucket the rank falls in, the highest finite bound when it falls in `+Inf`.
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    /// Cumulative increase per upper bound (`le` as the server wrote it), ascending.
    pub buckets: Vec<(String, f64)>,
}

impl HistogramDelta {
    /// The figures of `buckets` (upper bound → cumulative increase), `sum` and `count`.
    pub(crate) fn of(buckets: &[(f64, String, f64)], sum: f64, count: f64) -> HistogramDelta {
        let mut b: Vec<&(f64, String, f64)> = buckets.iter().collect();
        b.sort_by(|x, y| x.0.total_cmp(&y.0));
        let q = |q: f64| quantile(&b, q);
        HistogramDelta {
            count,
            sum,
            mean: (count > 0.0).then(|| sum / count),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            buckets: b.iter().map(|(_, le, n)| (le.clone(), *n)).collect(),
        }
    }
}

/// `histogram_quantile` over sorted cumulative buckets.
fn quantile(buckets: &[&(f64, String, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.2;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (None::<f64>, 0.0);
    for &&(le, _, cum) in buckets {
        if cum >= rank {
            if le == f64::INFINITY {
                return lower;
            }
            // The first bucket reaches down to 0 (observations of latency are ≥ 0).
            let from = match lower {
                Some(l) => l,
                None if le > 0.0 => 0.0,
                None => return Some(le),
            };
            if cum <= below {
                return Some(le);
            }
            return Some(from + (le - from) * (rank - below) / (cum - below));
        }
        (lower, below) = (Some(le), cum);
    }
    lower
}

/// A counter's increase in the stage, with what identifies it.
pub(crate) struct CounterAcc {
    pub family: String,
    pub labels: Vec<(String, String)>,
    pub delta: f64,
}

/// A histogram's increase in the stage.
#[derive(Default)]
pub(crate) struct HistAcc {
    pub family: String,
    /// (upper bound, as written, cumulative increase).
    pub buckets: Vec<(f64, String, f64)>,
    pub sum: f64,
    pub count: f64,
}

/// What a stage has gathered so far.
#[derive(Default)]
pub(crate) struct Acc {
    pub counters: HashMap<String, CounterAcc>,
    pub gauges: HashMap<String, GaugeRange>,
    /// Per family, the range of its series summed at each scrape (running requests of
    /// every model together).
    pub family_gauges: HashMap<String, GaugeRange>,
    pub hists: HashMap<String, HistAcc>,
    pub scrapes: u64,
    pub failed: u64,
    pub last_error: Option<String>,
    pub bad_lines: u64,
}
