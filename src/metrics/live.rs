//! Live counters for the once-a-second progress line: each worker bumps its own
//! cache-line-aligned shard with relaxed atomics; the coordinator sums them. Workers never
//! read them, so the hot path pays one uncontended add per event.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// One worker's live counters.
#[repr(align(128))]
#[derive(Default, Debug)]
pub struct LiveShard {
    pub sent: AtomicU64,
    pub ok: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
    pub tokens: AtomicU64,
    pub in_flight: AtomicI64,
}

/// A snapshot summed over workers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveTotals {
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    pub dropped: u64,
    pub tokens: u64,
    pub in_flight: i64,
}

/// Every worker's shard.
#[derive(Debug)]
pub struct Live {
    shards: Box<[LiveShard]>,
}

impl Live {
    pub fn new(workers: usize) -> Live {
        Live { shards: (0..workers.max(1)).map(|_| LiveShard::default()).collect() }
    }

    pub fn shard(&self, worker: usize) -> &LiveShard {
        &self.shards[worker]
    }

    pub fn totals(&self) -> LiveTotals {
        let mut t = LiveTotals::default();
        for s in self.shards.iter() {
            t.sent += s.sent.load(Relaxed);
            t.ok += s.ok.load(Relaxed);
            t.failed += s.failed.load(Relaxed);
            t.dropped += s.dropped.load(Relaxed);
            t.tokens += s.tokens.load(Relaxed);
            t.in_flight += s.in_flight.load(Relaxed);
        }
        t
    }
}

impl LiveShard {
    #[inline]
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }
}
