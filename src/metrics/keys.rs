//! Per-key figures of a key pool (`api_keys`, `--vk-file`): requests, outcomes, rate limits
//! and latency of each key, under its index in the pool and a short id (never the key).
//! Latency is kept at 2 significant digits: a pool of hundreds of keys must not cost a
//! full-precision histogram each per stage × scenario × worker.

use hdrhistogram::Histogram;

use super::hist::MAX_US;
pub(crate) use super::outcome::KeyTag;
use super::outcome::{us_between, Outcome};
use super::ErrorKind;

/// Significant digits of the per-key latency histograms.
pub(crate) const KEY_SIGFIG: u8 = 2;

/// One key's counts (on one worker, or added up).
#[derive(Clone, Debug)]
pub struct KeyStats {
    pub tag: KeyTag,
    pub requests: u64,
    pub ok: u64,
    /// Errors and non-200 final statuses (as `Counters::failed`).
    pub failed: u64,
    /// Cancelled at a stage's end or by the client's `cancel` (neither ok nor failed).
    pub cancelled: u64,
    /// 429 / 529 responses, retried attempts included.
    pub rate_limited: u64,
    pub retries: u64,
    /// Successful requests, intended start → end (µs).
    pub latency: Histogram<u64>,
}

/// An empty per-key latency histogram.
pub(crate) fn key_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, KEY_SIGFIG).expect("valid histogram bounds")
}

impl KeyStats {
    pub fn new(tag: KeyTag) -> KeyStats {
        KeyStats {
            tag,
            requests: 0,
            ok: 0,
            failed: 0,
            cancelled: 0,
            rate_limited: 0,
            retries: 0,
            latency: key_histogram(),
        }
    }

    fn record(&mut self, o: &Outcome) {
        self.requests += 1;
        self.rate_limited += u64::from(o.throttle.rate_limited);
        self.retries += u64::from(o.throttle.retries);
        if o.error.is_some_and(ErrorKind::is_cancel) {
            self.cancelled += 1;
        } else if o.is_ok() {
            self.ok += 1;
            self.latency.saturating_record(us_between(o.intended, o.end).max(1));
        } else {
            self.failed += 1;
        }
    }

    /// Adds `other` (the same key) into these counts.
    pub fn add(&mut self, other: &KeyStats) {
        self.requests += other.requests;
        self.ok += other.ok;
        self.failed += other.failed;
        self.cancelled += other.cancelled;
        self.rate_limited += other.rate_limited;
        self.retries += other.retries;
        self.latency.add(&other.latency).expect("per-key histograms share bounds");
    }
}

/// The keys of one stage × scenario, in index order (only keys that sent a request).
#[derive(Clone, Debug, Default)]
pub struct KeySet(pub Vec<KeyStats>);

impl KeySet {
    /// The stats of `tag`'s key, made when first needed.
    pub fn of(&mut self, tag: KeyTag) -> &mut KeyStats {
        let i = match self.0.binary_search_by_key(&tag.index, |k| k.tag.index) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, KeyStats::new(tag));
                i
            }
        };
        &mut self.0[i]
    }

    /// Records a finished request sent with a pool key.
    pub fn record(&mut self, o: &Outcome) {
        if let Some(tag) = o.key {
            self.of(tag).record(o);
        }
    }

    /// Adds every key of `other` into this set.
    pub fn add(&mut self, other: &KeySet) {
        for k in &other.0 {
            self.of(k.tag).add(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn tag(index: u16) -> KeyTag {
        KeyTag { index, id: *b"0123abcd" }
    }

    #[test]
    fn keys_are_counted_apart_and_added_by_index() {
        let t0 = Instant::now();
        let mut a = KeySet::default();
        for (key, status, ms) in [(1, 200, 10), (0, 200, 30), (1, 429, 0), (1, 200, 50)] {
            let mut o = Outcome::new(t0);
            o.key = Some(tag(key));
            o.status = status;
            o.throttle.rate_limited = u32::from(status == 429);
            o.end = t0 + Duration::from_millis(ms);
            a.record(&o);
        }
        let unkeyed = Outcome::new(t0);
        a.record(&unkeyed);
        assert_eq!(a.0.iter().map(|k| k.tag.index).collect::<Vec<_>>(), [0, 1]);
        let k1 = &a.0[1];
        assert_eq!((k1.requests, k1.ok, k1.failed, k1.rate_limited, k1.latency.len()), (3, 2, 1, 1, 2));
        let mut b = KeySet::default();
        b.add(&a);
        b.add(&a);
        assert_eq!((b.0[0].requests, b.0[1].requests, b.0[1].latency.len()), (2, 6, 4));
    }
}
