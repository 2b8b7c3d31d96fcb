//! `results.jsonl`: one line per finished turn, written by the coordinator thread as turns
//! arrive from the workers, buffered and flushed on whole lines every 250 ms, so a killed run
//! leaves a file whose every line parses.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::engine::TurnRecord;
use crate::metrics::outcome::us_between;
use crate::profile::stages::{Load, Stage};

/// One line of `results.jsonl`.
#[derive(Serialize)]
struct Line<'a> {
    stage: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    concurrency: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate: Option<f64>,
    scenario: &'a str,
    protocol: &'a str,
    conv_uuid: &'a str,
    turn: u32,
    turns_total: u32,
    stream: bool,
    /// Unix µs.
    intended_start: u64,
    /// Unix µs of the actual send.
    start: u64,
    send_lag_us: u64,
    /// From the intended start (coordinated-omission corrected).
    latency_us: u64,
    /// From the actual send.
    service_us: u64,
    ttfb_us: Option<u64>,
    ttft_us: Option<u64>,
    itl_mean_us: Option<u64>,
    itl_max_us: Option<u64>,
    tpot_us: Option<u64>,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
    prompt_tokens: u64,
    completion_tokens: u64,
    token_source: &'static str,
    content_len: u64,
    warmup: bool,
    /// Finished inside the stage's measurement window (counted in the served rate).
    in_window: bool,
    worker: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    err_body: Option<String>,
}

/// Writes turn records as JSON lines.
pub struct JsonlWriter {
    out: BufWriter<File>,
    base: (Instant, u64),
    stages: Vec<Stage>,
    scenarios: Vec<String>,
    /// Lines written.
    pub lines: u64,
}

impl JsonlWriter {
    pub fn create(path: &Path, stages: Vec<Stage>, scenarios: Vec<String>) -> io::Result<JsonlWriter> {
        let unix_us = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
        Ok(JsonlWriter {
            out: BufWriter::with_capacity(1 << 20, File::create(path)?),
            base: (Instant::now(), unix_us),
            stages,
            scenarios,
            lines: 0,
        })
    }

    fn unix_us(&self, t: Instant) -> u64 {
        match t.checked_duration_since(self.base.0) {
            Some(d) => self.base.1 + d.as_micros() as u64,
            None => self.base.1 - us_between(t, self.base.0),
        }
    }

    /// Writes one record (buffered).
    pub fn write(&mut self, t: &TurnRecord) -> io::Result<()> {
        let o = &t.outcome;
        let (concurrency, rate) = match self.stages.get(t.stage).map(|s| s.load) {
            Some(Load::Closed { to, .. }) => (Some(to), None),
            Some(Load::Open { to, .. }) => (None, Some(to)),
            None => (None, None),
        };
        let streamed_gaps = t.stream && o.content_events > 1;
        let line = Line {
            stage: t.stage + 1,
            concurrency,
            rate,
            scenario: self.scenarios.get(t.scenario).map_or("", String::as_str),
            protocol: t.protocol,
            conv_uuid: &t.conv_uuid,
            turn: t.turn,
            turns_total: t.turns_total,
            stream: t.stream,
            intended_start: self.unix_us(o.intended),
            start: self.unix_us(o.sent),
            send_lag_us: us_between(o.intended, o.sent),
            latency_us: us_between(o.intended, o.end),
            service_us: us_between(o.sent, o.end),
            ttfb_us: o.first_byte.map(|t| us_between(o.intended, t)),
            ttft_us: o.first_token.map(|t| us_between(o.intended, t)),
            itl_mean_us: streamed_gaps.then_some(t.itl_mean_us),
            itl_max_us: streamed_gaps.then_some(t.itl_max_us),
            tpot_us: match (o.first_token, o.last_token) {
                (Some(f), Some(l)) if o.completion_tokens > 1 => {
                    Some(us_between(f, l) / (o.completion_tokens - 1))
                }
                _ => None,
            },
            status: o.status,
            error: o.error.map(|e| e.name()),
            prompt_tokens: o.prompt_tokens,
            completion_tokens: o.completion_tokens,
            token_source: o.token_source.name(),
            content_len: o.content_chars,
            warmup: t.warmup,
            in_window: t.in_window,
            worker: t.worker,
            err_body: t.err_body.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()),
        };
        serde_json::to_writer(&mut self.out, &line)?;
        self.out.write_all(b"\n")?;
        self.lines += 1;
        Ok(())
    }

    /// Flushes whole lines to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
