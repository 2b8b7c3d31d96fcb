//! One stage's accounts on one worker. A request is accounted in the stage it started in,
//! however long it runs: a closed-loop user that persists into the next stage keeps its
//! request in flight, so a stage's accounts stay open after its end until the last request
//! it started has ended, and are handed to the coordinator then (see docs/metrics.md,
//! "Stage boundaries").

use std::time::{Duration, Instant};

use super::StageRun;
use crate::metrics::{ErrorKind, Stats};

/// When a stage's load was over on this worker: every task it ends (removed users,
/// open-loop conversations) had ended.
#[derive(Clone, Copy)]
pub(super) struct Closed {
    pub cpu: Duration,
    pub ended: Instant,
    /// The most connects in progress at once while it ran.
    pub connecting_peak: usize,
}

pub(super) struct Ledger {
    /// The stage as run, once it started.
    pub run: Option<StageRun>,
    /// Per scenario.
    pub stats: Vec<Stats>,
    /// Requests started in this stage still in flight, per scenario.
    pub in_flight: Vec<u64>,
    /// Tasks that end in this stage (users it removes, its open-loop conversations) still
    /// running: the stage's load is over when none is left.
    pub tasks: usize,
    pub closed: Option<Closed>,
    pub reported: bool,
}

impl Ledger {
    pub(super) fn new(scenarios: usize) -> Ledger {
        Ledger {
            run: None,
            stats: (0..scenarios).map(|_| Stats::default()).collect(),
            in_flight: vec![0; scenarios],
            tasks: 0,
            closed: None,
            reported: false,
        }
    }

    /// Closed, not yet reported, and no request of the stage still in flight.
    pub(super) fn settled(&self) -> bool {
        self.closed.is_some() && !self.reported && self.in_flight.iter().all(|n| *n == 0)
    }

    /// Counts the requests still in flight as cancelled (tasks that did not end after an
    /// interrupt's grace: a bug, but a run must always end with every request accounted).
    pub(super) fn abandon(&mut self) {
        for (s, n) in self.stats.iter_mut().zip(self.in_flight.iter_mut()) {
            s.requests += *n;
            s.cancelled += *n;
            s.errors[ErrorKind::Cancelled.index()] += *n;
            *n = 0;
        }
    }
}
