//! Common stage boundaries without a lock: stage 0 starts at the run's epoch; the last
//! worker to finish stage k publishes the start of stage k + 1 for everyone. Held (for an
//! observer that measures at every boundary), the coordinator publishes each start instead,
//! once it has measured.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Gap between the last worker finishing a stage and the next stage starting.
const STAGE_GAP: Duration = Duration::from_millis(5);

pub(super) struct StageSync {
    epoch: Instant,
    workers: usize,
    /// Workers done with each stage.
    done: Vec<AtomicUsize>,
    /// Start of each stage, ns after the epoch + 1 (0 = not yet known).
    start_ns: Vec<AtomicU64>,
    current: AtomicUsize,
    /// Starts are published by the coordinator (`publish`), not by the last worker.
    held: bool,
}

impl StageSync {
    pub(super) fn new(epoch: Instant, stages: usize, workers: usize, held: bool) -> StageSync {
        let start_ns: Vec<AtomicU64> = (0..stages).map(|_| AtomicU64::new(0)).collect();
        if let Some(first) = start_ns.first().filter(|_| !held) {
            first.store(1, Ordering::Release);
        }
        StageSync {
            epoch,
            workers,
            done: (0..stages).map(|_| AtomicUsize::new(0)).collect(),
            start_ns,
            current: AtomicUsize::new(0),
            held,
        }
    }

    /// The start of stage `k`, once known.
    pub(super) fn stage_start(&self, k: usize) -> Option<Instant> {
        match self.start_ns.get(k)?.load(Ordering::Acquire) {
            0 => None,
            ns => Some(self.epoch + Duration::from_nanos(ns - 1)),
        }
    }

    /// The stage now running (for progress).
    pub(super) fn current_stage(&self) -> usize {
        self.current.load(Ordering::Relaxed)
    }

    /// Waits (polling every millisecond) for stage `k`'s start time, then until it; `None`
    /// when `stop` is set first.
    pub(super) async fn wait_start(&self, k: usize, stop: &std::sync::atomic::AtomicBool) -> Option<Instant> {
        let start = loop {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            if let Some(s) = self.stage_start(k) {
                break s;
            }
            monoio::time::sleep(Duration::from_millis(1)).await;
        };
        if start > Instant::now() {
            monoio::time::sleep_until(start.into()).await;
        }
        Some(start)
    }

    /// A worker finished stage `k`; the last one publishes stage `k + 1`'s start, unless
    /// held. True for the last one.
    pub(super) fn finish(&self, k: usize) -> bool {
        let last = self.done[k].fetch_add(1, Ordering::AcqRel) + 1 == self.workers;
        if last && !self.held {
            self.publish(k + 1, Instant::now());
        }
        last
    }

    /// Starts are published by the coordinator.
    pub(super) fn held(&self) -> bool {
        self.held
    }

    /// Publishes stage `k`'s start: a moment from now, and not before `not_before`.
    pub(super) fn publish(&self, k: usize, not_before: Instant) {
        if let Some(start) = self.start_ns.get(k) {
            let at = (Instant::now() + STAGE_GAP).max(not_before);
            start.store(at.duration_since(self.epoch).as_nanos() as u64 + 1, Ordering::Release);
            self.current.store(k, Ordering::Relaxed);
        }
    }
}
