//! The live progress line: once a second, and a summary line as each stage ends.

use std::time::Duration;

use crate::engine::{Observer, StageResult, TurnRecord};
use crate::metrics::live::{Live, LiveTotals};
use crate::profile::stages::Stage;
use crate::report::jsonl::JsonlWriter;
use crate::report::summary::Second;
use crate::report::text;

/// Prints progress to stderr.
pub struct Progress {
    pub stages: Vec<Stage>,
    pub last_sent: u64,
    /// The totals at the previous tick.
    pub last: LiveTotals,
    /// `results.jsonl`, and the first write error (reported once at the end).
    pub jsonl: Option<JsonlWriter>,
    pub jsonl_error: Option<std::io::Error>,
    pub stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub told_stop: bool,
    /// One sample per tick, for the timelines of the reports.
    pub timeline: Vec<Second>,
}

impl Observer for Progress {
    fn tick(&mut self, stage: usize, elapsed: Duration, live: &Live) {
        if self.stop.load(std::sync::atomic::Ordering::Relaxed) && !self.told_stop {
            self.told_stop = true;
            eprintln!("llmload: interrupted — finishing in-flight requests and writing reports (again to quit at once)");
        }
        let t = live.totals();
        let rps = t.sent - self.last_sent;
        self.last_sent = t.sent;
        let last = self.last;
        self.last = t;
        self.timeline.push(Second {
            t: elapsed.as_secs_f64(),
            stage,
            sent: t.sent - last.sent,
            ok: t.ok - last.ok,
            failed: t.failed - last.failed,
            dropped: t.dropped - last.dropped,
            tokens: t.tokens - last.tokens,
            in_flight: t.in_flight,
            ..Second::default()
        });
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

    fn turn(&mut self, turn: &TurnRecord) {
        if let Some(w) = &mut self.jsonl {
            if let Err(e) = w.write(turn) {
                self.jsonl_error.get_or_insert(e);
            }
        }
    }

    fn flush(&mut self) {
        if let Some(w) = &mut self.jsonl {
            if let Err(e) = w.flush() {
                self.jsonl_error.get_or_insert(e);
            }
        }
    }
}
