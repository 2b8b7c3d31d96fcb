//! A run rebuilt from its `results.jsonl` alone (after a crash, or a SIGKILL before the
//! summary was written). Each line becomes an outcome recorded exactly as the workers record
//! one, so latency, service time, send lag, TTFB, TTFT, TPOT, statuses, error classes and
//! tokens are exact. What the lines cannot carry is estimated and said so: inter-token gaps
//! (each turn's mean stands for its gaps), stage durations (the span of the stage's turns),
//! goodput (SLOs unknown: counted as ok) and connect/TLS times (absent).

use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::summary::{self, Summary};
use crate::engine::{RunResult, StageResult};
use crate::metrics::outcome::{Outcome, TokenSource};
use crate::metrics::{ErrorKind, Stats};
use crate::net::cores::Driver;
use crate::profile::stages::{Load, Stage};

/// The fields of a `results.jsonl` line this needs.
#[derive(Deserialize)]
struct Line {
    stage: usize,
    concurrency: Option<u32>,
    rate: Option<f64>,
    scenario: String,
    intended_start: u64,
    send_lag_us: u64,
    latency_us: u64,
    ttfb_us: Option<u64>,
    ttft_us: Option<u64>,
    itl_mean_us: Option<u64>,
    tpot_us: Option<u64>,
    status: u16,
    error: Option<String>,
    prompt_tokens: u64,
    completion_tokens: u64,
    token_source: String,
    warmup: bool,
    in_window: bool,
    worker: usize,
}

/// One stage as the lines describe it.
#[derive(Default)]
struct StageAcc {
    load: Option<Load>,
    scenarios: Vec<Stats>,
    first_us: u64,
    last_us: u64,
    workers: usize,
}

fn outcome(l: &Line) -> Result<Outcome, String> {
    let t0 = Instant::now();
    let at = |us: u64| t0 + Duration::from_micros(us);
    let mut o = Outcome::new(t0);
    o.sent = at(l.send_lag_us);
    o.end = at(l.latency_us);
    o.first_byte = l.ttfb_us.map(at);
    o.first_token = l.ttft_us.map(at);
    o.last_token = match (l.ttft_us, l.tpot_us) {
        (Some(f), Some(tpot)) if l.completion_tokens > 1 => Some(at(f + tpot * (l.completion_tokens - 1))),
        (Some(f), _) => Some(at(f)),
        _ => None,
    };
    o.status = l.status;
    o.error = match &l.error {
        Some(name) => {
            Some(ErrorKind::from_name(name).ok_or_else(|| format!("unknown error class {name:?}"))?)
        }
        None => None,
    };
    o.prompt_tokens = l.prompt_tokens;
    o.completion_tokens = l.completion_tokens;
    o.token_source = match l.token_source.as_str() {
        "usage" => TokenSource::Usage,
        "counted" => TokenSource::Counted,
        _ => TokenSource::None,
    };
    Ok(o)
}

/// Reads `results.jsonl` into a summary; a line that does not parse is an error naming
/// its number, except a torn last line (the writer was killed mid-line), which is skipped.
pub fn from_jsonl(path: &Path) -> Result<Summary, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut stages: Vec<StageAcc> = Vec::new();
    let mut scenarios: Vec<String> = Vec::new();
    let mut lines = std::io::BufReader::new(file).lines().enumerate().peekable();
    let mut gaps = Vec::new();
    let mut measured = 0u64;
    // The run id of a rebuilt run comes from the lines, so rebuilding the same file twice
    // gives the same id (and `merge` refuses the two).
    let mut hash = <sha2::Sha256 as sha2::Digest>::new();
    while let Some((i, line)) = lines.next() {
        let text = line.map_err(|e| format!("{}: line {}: {e}", path.display(), i + 1))?;
        sha2::Digest::update(&mut hash, text.as_bytes());
        sha2::Digest::update(&mut hash, b"\n");
        if text.trim().is_empty() {
            continue;
        }
        let l: Line = match serde_json::from_str(&text) {
            Ok(l) => l,
            Err(_) if lines.peek().is_none() && !text.ends_with('}') => break,
            Err(e) => return Err(format!("{}: line {}: {e}", path.display(), i + 1)),
        };
        let at = |what: &str| format!("{}: line {}: {what}", path.display(), i + 1);
        if l.stage == 0 || l.stage > 10_000 {
            return Err(at(&format!("stage {} out of range", l.stage)));
        }
        let scenario = match scenarios.iter().position(|s| *s == l.scenario) {
            Some(j) => j,
            None => {
                scenarios.push(l.scenario.clone());
                scenarios.len() - 1
            }
        };
        if stages.len() < l.stage {
            stages.resize_with(l.stage, StageAcc::default);
        }
        let st = &mut stages[l.stage - 1];
        st.load = st.load.or(match (l.concurrency, l.rate) {
            (Some(c), _) => Some(Load::Closed { from: c, to: c }),
            (_, Some(r)) => Some(Load::Open { from: r, to: r }),
            _ => None,
        });
        if st.scenarios.len() <= scenario {
            st.scenarios.resize_with(scenario + 1, Stats::default);
        }
        let o = outcome(&l).map_err(|e| at(&e))?;
        if l.in_window {
            st.scenarios[scenario].record_served(&o);
        }
        if l.warmup {
            continue;
        }
        measured += 1;
        let finished = o.error != Some(ErrorKind::Cancelled);
        st.scenarios[scenario].late += u64::from(finished && !l.in_window);
        gaps.clear();
        if let Some(mean) = l.itl_mean_us {
            gaps.resize(l.completion_tokens.saturating_sub(1).max(1) as usize, mean);
        }
        let ok = o.is_ok();
        st.scenarios[scenario].record(&o, &gaps, ok);
        let end = l.intended_start + l.latency_us;
        st.first_us = if st.first_us == 0 { l.intended_start } else { st.first_us.min(l.intended_start) };
        st.last_us = st.last_us.max(end);
        st.workers = st.workers.max(l.worker + 1);
    }
    if measured == 0 {
        return Err(format!("{}: no measured turns (empty, or warmup only)", path.display()));
    }
    let started = stages.iter().map(|s| s.first_us).filter(|t| *t > 0).min().unwrap_or(0);
    let ended = stages.iter().map(|s| s.last_us).max().unwrap_or(0);
    let workers = stages.iter().map(|s| s.workers).max().unwrap_or(1);
    let results: Vec<StageResult> = stages
        .into_iter()
        .map(|mut st| {
            let span =
                Duration::from_micros(st.last_us.saturating_sub(st.first_us)).max(Duration::from_millis(1));
            st.scenarios.resize_with(scenarios.len(), Stats::default);
            let mut all = Stats::default();
            st.scenarios.iter().for_each(|s| all.add(s));
            let load = st.load.unwrap_or(Load::Closed { from: 1, to: 1 });
            StageResult {
                stage: Stage {
                    load,
                    duration: Duration::from_secs(span.as_secs_f64().round().max(1.0) as u64),
                },
                scenarios: st.scenarios,
                all,
                wall: span,
                steady: span,
                interrupted: false,
                worker_cpu: Vec::new(),
                sink_dropped: 0,
            }
        })
        .collect();
    let run = RunResult {
        stages: results,
        interrupted: false,
        fixed_connections: false,
        scenarios,
        driver: Driver::Epoll,
        workers,
        started: std::time::UNIX_EPOCH + Duration::from_micros(started),
        elapsed: Duration::from_micros(ended.saturating_sub(started)),
    };
    let info = super::summary::RunInfo {
        target: "(rebuilt from results.jsonl)".into(),
        fd_limit: 0,
        dns: Vec::new(),
    };
    let mut out = summary::build(&run, &info, &[]);
    out.driver = "unknown (rebuilt from results.jsonl)".into();
    out.meta.profile_origin = format!("rebuilt from {}", path.display());
    out.meta.start_unix_us = started;
    out.meta.end_unix_us = ended;
    out.meta.host = "unknown".into();
    let digest = sha2::Digest::finalize(hash);
    out.meta.run_id =
        format!("jsonl-{}", digest[..16].iter().map(|b| format!("{b:02x}")).collect::<String>());
    out.meta.notes.push(
        "rebuilt from results.jsonl: stage lengths are the spans of their turns, ITL comes from per-turn \
         means, goodput is counted as ok, connect/TLS times are absent"
            .into(),
    );
    Ok(out)
}
