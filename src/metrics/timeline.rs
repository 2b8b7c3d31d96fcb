//! The per-second timeline: the engine samples the live counters once a tick into a
//! [`Second`] (the difference from the previous sample), keeps them for the reports'
//! timelines and hands each to its observer (the progress line shows it).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::live::LiveSnapshot;

/// One second of the run, sampled from the workers' live counters (for timelines). Counts
/// are for that second; `in_flight` is the level at its end.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct Second {
    /// Seconds since the run started (end of the sampled second).
    pub t: f64,
    /// 0-based stage index.
    pub stage: usize,
    /// Requests that finished (ok or failed) in that second.
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    #[serde(default)]
    pub cancelled: u64,
    pub dropped: u64,
    pub tokens: u64,
    pub in_flight: i64,
    /// Latency (from the intended start) of the requests that finished in that second, µs;
    /// None when none did. Coarse (live buckets), for timelines only.
    pub latency_p50_us: Option<u64>,
    pub latency_p99_us: Option<u64>,
    pub ttft_p50_us: Option<u64>,
}

/// Turns successive snapshots of the live counters into [`Second`]s.
#[derive(Default)]
pub(crate) struct Sampler {
    last: LiveSnapshot,
}

impl Sampler {
    /// The second that ended `elapsed` after the run's start in stage `stage`: what `now`
    /// counted since the previous sample. `now` becomes the previous sample.
    pub(crate) fn sample(&mut self, stage: usize, elapsed: Duration, now: LiveSnapshot) -> Second {
        let (t, last) = (now.totals, self.last.totals);
        let latency = now.latency.since(&self.last.latency);
        let ttft = now.ttft.since(&self.last.ttft);
        let second = Second {
            t: elapsed.as_secs_f64(),
            stage,
            sent: t.sent - last.sent,
            ok: t.ok - last.ok,
            failed: t.failed - last.failed,
            cancelled: t.cancelled - last.cancelled,
            dropped: t.dropped - last.dropped,
            tokens: t.tokens - last.tokens,
            in_flight: t.in_flight,
            latency_p50_us: latency.quantile(0.5),
            latency_p99_us: latency.quantile(0.99),
            ttft_p50_us: ttft.quantile(0.5),
        };
        self.last = now;
        second
    }

    /// The latest snapshot (cumulative counters since the run started).
    pub(crate) fn last(&self) -> &LiveSnapshot {
        &self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::live::{Live, WorkerCounters};

    #[test]
    fn each_sample_counts_the_last_second() {
        let live = Live::new(2);
        let mut sampler = Sampler::default();
        live.of_worker(0).latency.record(100_000);
        live.of_worker(1).latency.record(200_000);
        live.of_worker(1).ttft.record(40_000);
        let a = sampler.sample(0, Duration::from_secs(1), live.snapshot());
        // The next second: one slow request only.
        live.of_worker(0).latency.record(900_000);
        let b = sampler.sample(0, Duration::from_secs(2), live.snapshot());
        // A second without successful requests.
        WorkerCounters::add(&live.of_worker(1).failed, 1);
        WorkerCounters::add(&live.of_worker(0).dropped, 4);
        let c = sampler.sample(1, Duration::from_secs(3), live.snapshot());
        assert_eq!((a.t, a.stage, a.ok, a.sent), (1.0, 0, 2, 2));
        let p50 = a.latency_p50_us.unwrap();
        assert!(p50.abs_diff(100_000) <= 100_000 / 32, "{p50}");
        assert!(a.latency_p99_us.unwrap().abs_diff(200_000) <= 200_000 / 32);
        assert!(a.ttft_p50_us.unwrap().abs_diff(40_000) <= 40_000 / 32);
        assert_eq!((b.ok, b.sent), (1, 1));
        assert!(b.latency_p50_us.unwrap().abs_diff(900_000) <= 900_000 / 32);
        assert_eq!(b.ttft_p50_us, None);
        assert_eq!((c.ok, c.failed, c.dropped, c.stage, c.t), (0, 1, 4, 1, 3.0));
        assert_eq!(c.latency_p50_us, None);
        // The cumulative counters stay readable for the progress line.
        assert_eq!((sampler.last().totals.ok, sampler.last().totals.dropped), (3, 4));
    }
}
