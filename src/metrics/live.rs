//! Live counters for the once-a-second progress line and the `/metrics` endpoint: each
//! worker bumps its own cache-line-aligned counters with relaxed atomics; readers (the
//! coordinator, the metrics server) sum them. Workers never read them, so the hot path pays
//! one uncontended add per event.
//!
//! Latency and TTFT go into coarse log-linear bucket histograms ([`LiveHist`]): one relaxed
//! add per recorded value, no floats, no locks. They serve live views only (the progress
//! line, `Second` samples, `/metrics`); the reports use the exact HdrHistograms of `Stats`.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Sub-buckets per power of two, as a power of two.
pub(crate) const SUB_BITS: u32 = 4;
/// Sub-buckets per power of two.
pub(crate) const SUB: usize = 1 << SUB_BITS;
/// The largest value kept apart (µs, ~71.6 min); larger values count in the last bucket.
pub(crate) const MAX_US: u64 = (1 << 32) - 1;
/// Buckets of one histogram: values below `2 * SUB` exactly, then `SUB` per power of two up
/// to 2^32 µs (464 buckets, 3.7 KiB).
pub(crate) const BUCKETS: usize = (32 - SUB_BITS as usize + 1) * SUB;

/// The bucket of a value in µs.
///
/// Values below `2 * SUB` (32 µs) have a bucket each; above, the power of two `2^e` holding
/// the value is split into `SUB` equal buckets of width `2^(e - SUB_BITS)`, so a bucket's
/// width is at most 1/`SUB` of its lower bound. Computed from `leading_zeros` and shifts
/// only.
#[inline]
pub(crate) fn bucket_of(us: u64) -> usize {
    let v = us.min(MAX_US);
    let shift = (63 - (v | 1).leading_zeros()).saturating_sub(SUB_BITS);
    ((shift as usize) << SUB_BITS) + (v >> shift) as usize
}

/// The lowest value (µs) of bucket `i`, and the bucket's width.
pub(crate) fn bucket_range(i: usize) -> (u64, u64) {
    if i < 2 * SUB {
        return (i as u64, 1);
    }
    let shift = (i >> SUB_BITS) - 1;
    let mantissa = (i & (SUB - 1)) + SUB;
    ((mantissa as u64) << shift, 1 << shift)
}

/// The value reported for bucket `i`: its midpoint (exact below 32 µs).
///
/// **Relative error.** A value `v` in bucket `[lo, lo + w)` is reported as `lo + w/2`, and
/// `w <= lo / SUB` (above 32 µs; below, `w = 1` and the value is exact), so the reported value
/// is within `w/2 <= v / (2 * SUB)` = **1/32 (3.125 %)** of `v`, for `v <= MAX_US`. A
/// percentile computed from the buckets is therefore within 1/32 of the exact percentile of
/// the same values (same rank definition: the smallest value with at least `ceil(q * n)`
/// values at or below it).
pub(crate) fn bucket_value(i: usize) -> u64 {
    let (lo, w) = bucket_range(i);
    lo + w / 2
}

/// The relative error bound of [`bucket_value`] (see there).
#[cfg(test)]
const RELATIVE_ERROR: f64 = 1.0 / (2 * SUB) as f64;

/// A bucket histogram written by one worker.
#[derive(Debug)]
pub(crate) struct LiveHist {
    buckets: [AtomicU64; BUCKETS],
}

impl Default for LiveHist {
    fn default() -> LiveHist {
        LiveHist { buckets: std::array::from_fn(|_| AtomicU64::new(0)) }
    }
}

impl LiveHist {
    /// Counts one value (µs): one relaxed add.
    #[inline]
    pub(crate) fn record(&self, us: u64) {
        self.buckets[bucket_of(us)].fetch_add(1, Relaxed);
    }

    fn add_into(&self, into: &mut Buckets) {
        for (acc, b) in into.counts.iter_mut().zip(self.buckets.iter()) {
            *acc += b.load(Relaxed);
        }
    }
}

/// Bucket counts read from [`LiveHist`]s (summed over workers, or the difference of two
/// snapshots).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Buckets {
    counts: Box<[u64]>,
}

impl Default for Buckets {
    fn default() -> Buckets {
        Buckets { counts: vec![0; BUCKETS].into_boxed_slice() }
    }
}

impl Buckets {
    /// Counts `us` (workers use [`LiveHist::record`]).
    #[cfg(test)]
    fn record(&mut self, us: u64) {
        self.counts[bucket_of(us)] += 1;
    }

    pub(crate) fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Values counted here but not in `earlier` (an earlier snapshot of the same histograms).
    pub(crate) fn since(&self, earlier: &Buckets) -> Buckets {
        let counts =
            self.counts.iter().zip(earlier.counts.iter()).map(|(a, b)| a.saturating_sub(*b)).collect();
        Buckets { counts }
    }

    /// The `q`-quantile (0 < q <= 1) in µs, within 1/(2·SUB) of the exact one; None
    /// when empty.
    pub(crate) fn quantile(&self, q: f64) -> Option<u64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(bucket_value(i));
            }
        }
        None
    }

    /// Values below `us`, exactly when `us` is a bucket boundary (else up to the bucket
    /// holding it, exclusive).
    pub(crate) fn below(&self, us: u64) -> u64 {
        if us > MAX_US {
            return self.count();
        }
        self.counts[..bucket_of(us)].iter().sum()
    }

    /// The sum of the values (µs), estimated from bucket midpoints (within
    /// [`RELATIVE_ERROR`]).
    pub(crate) fn sum_estimate(&self) -> u64 {
        self.counts.iter().enumerate().map(|(i, c)| c * bucket_value(i)).sum()
    }
}

/// One worker's live counters. Aligned (and sized) to whole 128-byte blocks so no two
/// workers' counters share a cache line (or an adjacent-line prefetch pair).
#[repr(align(128))]
#[derive(Default, Debug)]
pub(crate) struct WorkerCounters {
    /// Failed requests (not cancelled). Successful ones are counted by `latency`.
    pub failed: AtomicU64,
    /// Requests cancelled by the generator (in flight at a stage's end or an interrupt, or
    /// abandoned by a scenario's `cancel`).
    pub cancelled: AtomicU64,
    pub dropped: AtomicU64,
    /// Completion tokens of successful requests.
    pub tokens: AtomicU64,
    pub in_flight: AtomicI64,
    /// Latency (from the intended start) of every successful request, µs: its count is the
    /// number of successful requests.
    pub latency: LiveHist,
    /// TTFT (from the intended start) of every successful request that had a first token.
    pub ttft: LiveHist,
}

/// Counters summed over workers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LiveTotals {
    /// Finished requests: `ok + failed` (not cancelled).
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub dropped: u64,
    pub tokens: u64,
    pub in_flight: i64,
}

/// Everything live, summed over workers at one moment (each counter read once).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LiveSnapshot {
    pub totals: LiveTotals,
    pub latency: Buckets,
    pub ttft: Buckets,
    /// 0-based index of the stage running (the last one started).
    pub stage: usize,
}

/// Every worker's counters.
#[derive(Debug)]
pub(crate) struct Live {
    workers: Box<[WorkerCounters]>,
    stage: AtomicUsize,
}

impl Live {
    pub(crate) fn new(workers: usize) -> Live {
        Live {
            workers: (0..workers.max(1)).map(|_| WorkerCounters::default()).collect(),
            stage: AtomicUsize::new(0),
        }
    }

    /// Workers counted (at least the number a run may use).
    pub(crate) fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Worker `worker`'s counters.
    pub(crate) fn of_worker(&self, worker: usize) -> &WorkerCounters {
        &self.workers[worker]
    }

    /// Marks stage `index` as running (workers call it as they start a stage).
    pub(crate) fn set_stage(&self, index: usize) {
        self.stage.store(index, Relaxed);
    }

    /// Sums every worker. `ok` is the latency histogram's count, so the counts and the
    /// latency buckets of one snapshot always agree.
    pub(crate) fn snapshot(&self) -> LiveSnapshot {
        let mut s = LiveSnapshot { stage: self.stage.load(Relaxed), ..LiveSnapshot::default() };
        for w in self.workers.iter() {
            s.totals.failed += w.failed.load(Relaxed);
            s.totals.cancelled += w.cancelled.load(Relaxed);
            s.totals.dropped += w.dropped.load(Relaxed);
            s.totals.tokens += w.tokens.load(Relaxed);
            s.totals.in_flight += w.in_flight.load(Relaxed);
            w.latency.add_into(&mut s.latency);
            w.ttft.add_into(&mut s.ttft);
        }
        s.totals.ok = s.latency.count();
        s.totals.sent = s.totals.ok + s.totals.failed;
        s
    }
}

impl WorkerCounters {
    #[inline]
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn buckets_cover_every_value_in_order() {
        assert_eq!(bucket_of(MAX_US), BUCKETS - 1);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        let mut values: Vec<u64> = (0..5000).collect();
        for e in 5..33 {
            let p = 1u64 << e;
            values.extend([p - 1, p, p + 1, p + p / 3, p + p / 2 - 1, p + p / 2]);
        }
        values.retain(|&v| v <= MAX_US);
        values.sort_unstable();
        let mut last = 0;
        for &v in &values {
            let i = bucket_of(v);
            let (lo, w) = bucket_range(i);
            assert!(lo <= v && v < lo + w, "{v} in bucket {i} = [{lo}, {})", lo + w);
            assert!(w == 1 || w * SUB as u64 <= lo, "bucket {i} too wide");
            assert!(i >= last, "monotonic at {v}");
            last = i;
        }
        // Contiguous: each bucket starts where the previous one ends.
        for i in 1..BUCKETS {
            let (lo, _) = bucket_range(i);
            let (plo, pw) = bucket_range(i - 1);
            assert_eq!(plo + pw, lo, "bucket {i}");
            assert_eq!(bucket_of(lo), i);
        }
        assert_eq!(bucket_range(BUCKETS - 1).0 + bucket_range(BUCKETS - 1).1, MAX_US + 1);
    }

    #[test]
    fn every_value_is_reported_within_the_bound() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        for _ in 0..200_000 {
            let v = rng.gen_range(0..=MAX_US) >> rng.gen_range(0..32);
            let r = bucket_value(bucket_of(v));
            assert!(r.abs_diff(v) as f64 <= v as f64 * RELATIVE_ERROR, "{v} reported as {r}");
        }
    }

    #[test]
    fn percentiles_are_within_the_bound_of_the_exact_ones() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
        for round in 0..200 {
            let n = rng.gen_range(1..3000);
            // Log-uniform between 1 µs and ~1 h: every octave is exercised.
            let mut values: Vec<u64> =
                (0..n).map(|_| (2f64.powf(rng.gen_range(0.0..31.7))) as u64 + round % 3).collect();
            let mut b = Buckets::default();
            values.iter().for_each(|&v| b.record(v));
            values.sort_unstable();
            for q in [0.01, 0.5, 0.9, 0.99, 0.999, 1.0] {
                let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
                let exact = values[rank - 1];
                let got = b.quantile(q).unwrap();
                assert!(
                    got.abs_diff(exact) as f64 <= exact as f64 * RELATIVE_ERROR,
                    "q {q} of {n}: exact {exact}, got {got}"
                );
            }
        }
        assert_eq!(Buckets::default().quantile(0.5), None);
        // Known values: 1..=100 ms.
        let mut b = Buckets::default();
        (1..=100).for_each(|ms| b.record(ms * 1000));
        let p50 = b.quantile(0.5).unwrap();
        let p99 = b.quantile(0.99).unwrap();
        assert!(p50.abs_diff(50_000) <= 50_000 / 32, "{p50}");
        assert!(p99.abs_diff(99_000) <= 99_000 / 32, "{p99}");
    }

    #[test]
    fn snapshots_sum_workers_and_subtract() {
        let live = Live::new(3);
        live.of_worker(0).latency.record(1000);
        live.of_worker(2).latency.record(3000);
        WorkerCounters::add(&live.of_worker(1).failed, 2);
        live.of_worker(1).ttft.record(500);
        let a = live.snapshot();
        assert_eq!(a.totals.ok, 2);
        assert_eq!(a.totals.sent, 4);
        assert_eq!(a.ttft.count(), 1);
        live.of_worker(1).latency.record(100_000);
        live.set_stage(2);
        let b = live.snapshot();
        let d = b.latency.since(&a.latency);
        assert_eq!(d.count(), 1);
        assert_eq!(d.quantile(0.5), Some(bucket_value(bucket_of(100_000))));
        assert_eq!(b.stage, 2);
        assert_eq!(b.latency.below(2048), 1);
        assert_eq!(b.latency.below(1 << 32), 3);
        assert!(b.latency.sum_estimate().abs_diff(104_000) <= 104_000 / 32);
    }

    #[test]
    fn workers_do_not_share_cache_lines() {
        assert_eq!(std::mem::align_of::<WorkerCounters>(), 128);
        assert_eq!(std::mem::size_of::<WorkerCounters>() % 128, 0);
        // Two histograms of BUCKETS counters, plus one block of counters.
        assert!(std::mem::size_of::<WorkerCounters>() <= 2 * BUCKETS * 8 + 128);
    }
}
