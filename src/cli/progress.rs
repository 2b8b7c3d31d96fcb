//! The live progress line: once a second (showing the second the engine sampled), and a
//! summary line as each stage ends.
//!
//! On a terminal the line is redrawn in place (`\r`, erase line, no line feed); every other
//! message goes through [`Progress::message`], which erases the live line first, so nothing
//! is garbled. Otherwise (a file, a pipe, CI) each tick is a plain log line.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use crate::engine::shard::Shard;
use crate::engine::{Observer, StageResult};
use crate::metrics::live::LiveSnapshot;
use crate::metrics::timeline::Second;
use crate::profile::stages::{Load, Stage};
use crate::report::jsonl::JsonlWriter;
use crate::report::text;
use crate::units::{format_us, sig3};

/// Erases the terminal line the cursor is on and returns to its start.
const ERASE_LINE: &str = "\r\x1b[2K";

/// Prints progress to stderr.
pub(super) struct Progress {
    stages: Vec<Stage>,
    /// `results.jsonl`, and the first write error (reported once at the end).
    pub jsonl: Option<JsonlWriter>,
    pub jsonl_error: Option<std::io::Error>,
    stop: Arc<AtomicBool>,
    told_stop: bool,
    /// stderr is a terminal: redraw the line in place.
    tty: bool,
    /// A live line is on the terminal, not yet erased.
    line_open: bool,
    /// When the stage running started (None before the engine said).
    stage_start: Option<(usize, std::time::Instant)>,
    /// The part of the load this process runs (shows its share of each stage's load).
    shard: Shard,
}

impl Progress {
    pub(super) fn new(stages: Vec<Stage>, jsonl: Option<JsonlWriter>, stop: Arc<AtomicBool>) -> Progress {
        Progress {
            stages,
            jsonl,
            jsonl_error: None,
            stop,
            told_stop: false,
            tty: std::io::stderr().is_terminal(),
            line_open: false,
            stage_start: None,
            shard: Shard::default(),
        }
    }

    /// A progress line for one shard of a distributed run: stages show its share.
    pub(super) fn for_shard(mut self, shard: Shard) -> Progress {
        self.shard = shard;
        self
    }

    /// Prints a whole line to stderr (ending the live line first).
    pub(super) fn message(&mut self, text: &str) {
        self.end_line();
        eprintln!("{text}");
    }

    /// Erases the live line, if one is on the terminal, so what follows starts clean. Call it
    /// before anything else is printed once the run is over.
    pub(super) fn end_line(&mut self) {
        if self.line_open {
            self.line_open = false;
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(ERASE_LINE.as_bytes());
            let _ = err.flush();
        }
    }

    /// The progress line for one tick. It counts what the stage line counts (rps: requests
    /// finished in the second; err: failed, not cancelled or dropped), and puts the figures a
    /// reader must not miss first, so a narrow terminal cuts only latencies.
    fn line(&self, now: &LiveSnapshot, second: &Second) -> String {
        let (stage, elapsed) = (second.stage, Duration::from_secs_f64(second.t));
        let total: Duration = self.stages.iter().map(|s| s.duration).sum();
        let planned = self.stages.get(stage).map_or(Duration::ZERO, |s| s.duration);
        let load = self.stages.get(stage).map(|s| load_text(&s.load, self.shard)).unwrap_or_default();
        // Past the stage's planned end, in-flight requests finish (the grace period).
        let before: Duration = self.stages.iter().take(stage).map(|s| s.duration).sum();
        let in_stage = match self.stage_start {
            Some((k, t)) if k == stage => t.elapsed(),
            _ => elapsed.saturating_sub(before),
        };
        let draining = in_stage > planned + Duration::from_millis(50);
        let us = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |us| format_us(sig3(us as f64)));
        let mut line = format!(
            "[{:>5.1}s/{:.0}s] {}/{} {load}{} rps {} err {}",
            elapsed.as_secs_f64(),
            total.as_secs_f64(),
            stage + 1,
            self.stages.len(),
            if draining { " draining" } else { "" },
            second.sent,
            now.totals.failed,
        );
        for (what, n) in [("drop", now.totals.dropped), ("cancel", now.totals.cancelled)] {
            if n > 0 {
                line.push_str(&format!(" {what} {n}"));
            }
        }
        line.push_str(&format!(
            " inflight {} p50 {} p99 {} ttft {}",
            now.totals.in_flight,
            us(second.latency_p50_us),
            us(second.latency_p99_us),
            us(second.ttft_p50_us),
        ));
        line
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.end_line();
    }
}

/// A stage's load: `8 users`, `8..16 users`, `@50/s`, `@50..100/s`; on a shard its share,
/// `shard 0/2: 25/s of 50/s` (see [`share_text`]).
fn load_text(load: &Load, shard: Shard) -> String {
    if shard.count > 1 {
        return format!("shard {shard}: {}", share_text(load, shard));
    }
    match *load {
        Load::Closed { from, to } if from == to => format!("{from} users"),
        Load::Closed { from, to } => format!("{from}..{to} users"),
        Load::Open { from, to } if from == to => format!("@{from}/s"),
        Load::Open { from, to } => format!("@{from}..{to}/s"),
        Load::Trace { records } => format!("trace of {records} records"),
    }
}

/// A shard's share of a stage's load next to the whole: `25/s of 50/s`, `3 of 5 users`,
/// `1..5 of 2..10 users` (exactly the split the engine runs, [`Shard::part`]).
pub(super) fn share_text(load: &Load, shard: Shard) -> String {
    let range = |a: String, b: String| if a == b { a } else { format!("{a}..{b}") };
    match (shard.part(*load), *load) {
        (Load::Open { from: a, to: b }, Load::Open { from, to }) => {
            format!("{}/s of {}/s", range(rate(a), rate(b)), range(rate(from), rate(to)))
        }
        (Load::Closed { from: a, to: b }, Load::Closed { from, to }) => {
            format!(
                "{} of {} users",
                range(a.to_string(), b.to_string()),
                range(from.to_string(), to.to_string())
            )
        }
        (Load::Trace { .. }, Load::Trace { records }) => {
            format!("its share of a trace of {records} records")
        }
        _ => String::new(),
    }
}

/// The start line of a shard: its share of every stage (None for an unsharded run).
pub(super) fn shard_line(stages: &[Stage], shard: Shard) -> Option<String> {
    if shard.count <= 1 {
        return None;
    }
    let shares: Vec<String> = stages
        .iter()
        .enumerate()
        .map(|(i, s)| format!("stage {} {}", i + 1, share_text(&s.load, shard)))
        .collect();
    Some(format!("llmload: shard {shard} runs its share of the load: {}", shares.join(", ")))
}

/// A rate with at most 3 decimals, no trailing zeros (`13.333`, `20`, `0.5`).
fn rate(r: f64) -> String {
    let s = format!("{r:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Truncates `line` to the terminal's width (asked of stderr; `COLUMNS` when that is set),
/// so an in-place redraw never wraps.
fn fit(line: String) -> String {
    let cols = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .or_else(|| terminal_size::terminal_size_of(std::io::stderr()).map(|(w, _)| usize::from(w.0)));
    match cols {
        Some(c) if c > 1 && line.chars().count() >= c => line.chars().take(c - 1).collect(),
        _ => line,
    }
}

impl Observer for Progress {
    fn tick(&mut self, second: &Second, live: &LiveSnapshot) {
        if self.stop.load(Relaxed) && !self.told_stop {
            self.told_stop = true;
            self.message(
                "llmload: interrupted — finishing in-flight requests and writing reports (again to quit at once)",
            );
        }
        let line = self.line(live, second);
        if self.tty {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "{ERASE_LINE}{}", fit(line));
            let _ = err.flush();
            self.line_open = true;
        } else {
            eprintln!("{line}");
        }
    }

    fn stage_done(&mut self, index: usize, result: &StageResult) {
        self.message(&text::stage_line(index, result));
    }

    fn stage_started(&mut self, index: usize, at: std::time::Instant) {
        self.stage_start = Some((index, at));
    }

    fn turns(&mut self, lines: &[u8], count: u64) {
        if let Some(w) = &mut self.jsonl {
            if let Err(e) = w.write(lines, count) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_the_sampled_second_and_the_totals() {
        let stages = vec![Stage::parse("8:4s").unwrap(), Stage::parse("@50:2s").unwrap()];
        let mut p = Progress::new(stages, None, Arc::new(AtomicBool::new(false)));
        p.tty = false;
        let mut now = LiveSnapshot::default();
        now.totals.failed = 1;
        let quiet = Second { t: 3.0, stage: 1, sent: 1, failed: 1, ..Second::default() };
        assert_eq!(p.line(&now, &quiet), "[  3.0s/6s] 2/2 @50/s rps 1 err 1 inflight 0 p50 - p99 - ttft -");
        let busy = Second {
            t: 2.0,
            sent: 31,
            ok: 31,
            latency_p50_us: Some(270_000),
            latency_p99_us: Some(336_000),
            ttft_p50_us: Some(1_234),
            ..Second::default()
        };
        now.totals.in_flight = 8;
        assert_eq!(
            p.line(&now, &busy),
            "[  2.0s/6s] 1/2 8 users rps 31 err 1 inflight 8 p50 270ms p99 336ms ttft 1.23ms"
        );
        // Drops and cancellations are shown apart from errors, and come before the latencies.
        now.totals.dropped = 4;
        let line = p.line(&now, &Second { t: 4.0, stage: 1, ..Second::default() });
        assert!(line.starts_with("[  4.0s/6s] 2/2 @50/s rps 0 err 1 drop 4 inflight 8"), "{line}");
        // Past the stage's planned end the line says the stage is draining.
        let late = Second { t: 7.0, stage: 1, ..Second::default() };
        assert!(p.line(&now, &late).contains("@50/s draining rps"));
        p.stage_start = Some((1, std::time::Instant::now()));
        assert!(!p.line(&now, &late).contains("draining"));
    }

    #[test]
    fn loads_read_shortly() {
        assert_eq!(load_text(&Load::Closed { from: 2, to: 8 }, Shard::default()), "2..8 users");
    }

    #[test]
    fn a_shard_shows_its_share() {
        let shard = Shard { index: 0, count: 2 };
        let open = Load::Open { from: 40.0, to: 40.0 };
        assert_eq!(load_text(&open, shard), "shard 0/2: 20/s of 40/s");
        assert_eq!(load_text(&Load::Closed { from: 5, to: 5 }, shard), "shard 0/2: 3 of 5 users");
        let third = Shard { index: 2, count: 3 };
        assert_eq!(share_text(&Load::Open { from: 10.0, to: 40.0 }, third), "3.333..13.333/s of 10..40/s");
        assert_eq!(
            share_text(&Load::Closed { from: 2, to: 10 }, Shard { index: 1, count: 2 }),
            "1..5 of 2..10 users"
        );
        let stages = vec![Stage::parse("@40:2s").unwrap(), Stage::parse("5:1s").unwrap()];
        assert_eq!(
            shard_line(&stages, shard).unwrap(),
            "llmload: shard 0/2 runs its share of the load: stage 1 20/s of 40/s, stage 2 3 of 5 users"
        );
        assert_eq!(shard_line(&stages, Shard::default()), None);
        let mut p = Progress::new(stages, None, Arc::default()).for_shard(shard);
        p.tty = false;
        let line = p.line(&LiveSnapshot::default(), &Second { t: 1.0, ..Second::default() });
        assert!(line.contains("] 1/2 shard 0/2: 20/s of 40/s rps"), "{line}");
    }
}
