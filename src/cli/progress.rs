//! The live progress line: once a second, and a summary line as each stage ends.

use std::time::Duration;

use crate::engine::{Observer, StageResult};
use crate::metrics::live::Live;
use crate::profile::stages::Stage;
use crate::report::text;

/// Prints progress to stderr.
pub struct Progress {
    pub stages: Vec<Stage>,
    pub last_sent: u64,
}

impl Observer for Progress {
    fn tick(&mut self, stage: usize, elapsed: Duration, live: &Live) {
        let t = live.totals();
        let rps = t.sent - self.last_sent;
        self.last_sent = t.sent;
        let total: Duration = self.stages.iter().map(|s| s.duration).sum();
        eprintln!(
            "[{:>5.1}s/{:.0}s] stage {} {}  rps {}  in flight {}  ok {}  failed {}  dropped {}  tokens {}",
            elapsed.as_secs_f64(),
            total.as_secs_f64(),
            stage + 1,
            self.stages.get(stage).map(|s| s.to_string()).unwrap_or_default(),
            rps,
            t.in_flight,
            t.ok,
            t.failed,
            t.dropped,
            t.tokens
        );
    }

    fn stage_done(&mut self, index: usize, result: &StageResult) {
        eprintln!("{}", text::stage_line(index, result));
    }
}
