//! A run rebuilt from its `results.jsonl` alone (after a crash, or a SIGKILL before the
//! summary was written). Each line becomes an outcome recorded exactly as the workers record
//! one, so latency, service time, send lag, TTFB, TTFT, TPOT, statuses, error classes and
//! tokens are exact. What the lines cannot carry is estimated and said so: inter-token gaps
//! (each turn's mean stands for its gaps), stage durations (the span of the stage's turns),
//! goodput (SLOs unknown: counted as ok) and connect/TLS times (absent).

use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, Instant};

use super::jsonl::Line;
use super::summary::{self, Summary};
use crate::engine::{RunResult, StageResult};
use crate::metrics::outcome::{Outcome, TokenSource};
use crate::metrics::{ErrorKind, Stats};
use crate::net::cores::Driver;
use crate::profile::stages::{Load, Stage};

/// One stage as the lines describe it.
#[derive(Default)]
struct StageAcc {
    load: Option<Load>,
    scenarios: Vec<Stats>,
    first_us: u64,
    last_us: u64,
    workers: usize,
}

/// A field llmload always writes that a line lacks (see `jsonl::Line`).
fn need<T>(v: Option<T>, field: &str) -> Result<T, String> {
    v.ok_or_else(|| format!("missing field `{field}`"))
}

fn outcome(l: &Line) -> Result<Outcome, String> {
    let t0 = Instant::now();
    let at = |us: u64| t0 + Duration::from_micros(us);
    let mut o = Outcome::new(t0);
    o.sent = at(need(l.send_lag_us, "send_lag_us")?);
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
    o.prompt_tokens = need(l.prompt_tokens, "prompt_tokens")?;
    o.first_content = l.ttft_content_us.map(at);
    if let (Some(f), Some(r)) = (l.ttft_content_us.or(l.ttft_us), l.reasoning_us) {
        // The lines keep the span of the reasoning, not its start: it is put to end where the
        // answer starts (the reasoning-time histogram is exact; nothing reads its start).
        o.first_reasoning = Some(at(f.saturating_sub(r)));
        o.last_reasoning = Some(at(f));
    }
    o.reasoning_tokens = l.reasoning_tokens;
    o.content_chars = l.content_len;
    o.reasoning_chars = l.reasoning_len.unwrap_or(0);
    o.reasoning_source = match l.reasoning_source.as_deref() {
        Some("usage") => TokenSource::Usage,
        Some("counted") => TokenSource::Counted,
        _ => TokenSource::None,
    };
    if let Some(calls) = l.tool_calls {
        o.tools = crate::metrics::reply::ToolTally {
            calls,
            arg_bytes: l.tool_arg_bytes.unwrap_or(0),
            invalid: l.tool_args_invalid.unwrap_or(0),
        };
    }
    (o.cached_prompt_tokens, o.cache_write_tokens) = (l.cached_prompt_tokens, l.cache_write_tokens);
    o.raw_input_tokens = l.raw_input_tokens;
    o.finish = l.finish_reason.as_deref().and_then(crate::metrics::reply::Finish::from_name);
    o.json_valid = l.json_valid;
    o.completion_tokens = l.completion_tokens;
    o.tokenizer = match (l.tokenizer_prompt_tokens, l.tokenizer_completion_tokens) {
        (Some(prompt), Some(completion)) => Some(crate::metrics::TokenizerCounts { prompt, completion }),
        _ => None,
    };
    o.token_source = match need(l.token_source.as_deref(), "token_source")? {
        "usage" => TokenSource::Usage,
        "counted" => TokenSource::Counted,
        _ => TokenSource::None,
    };
    Ok(o)
}

/// Reads `results.jsonl` into a summary; a line that does not parse is an error naming
/// its number, except a torn last line (the writer was killed mid-line), which is skipped.
pub(crate) fn from_jsonl(path: &Path) -> Result<Summary, String> {
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
        let in_window = l
            .in_window
            .ok_or_else(|| at("no in_window (written by an llmload that did not count served requests)"))?;
        let worker = need(l.worker, "worker").map_err(|e| at(&e))?;
        let scenario = match scenarios.iter().position(|s| *s == l.scenario) {
            Some(j) => j,
            None => {
                scenarios.push(l.scenario.to_string());
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
        if in_window {
            st.scenarios[scenario].record_served(&o);
        }
        if l.warmup {
            continue;
        }
        measured += 1;
        let finished = !o.error.is_some_and(ErrorKind::is_cancel);
        st.scenarios[scenario].late += u64::from(finished && !in_window);
        gaps.clear();
        if let Some(mean) = l.itl_mean_us {
            gaps.resize(l.completion_tokens.saturating_sub(1).max(1) as usize, mean);
        }
        let ok = o.is_ok();
        st.scenarios[scenario].record(&o, &gaps, ok);
        let end = l.intended_start + l.latency_us;
        st.first_us = if st.first_us == 0 { l.intended_start } else { st.first_us.min(l.intended_start) };
        st.last_us = st.last_us.max(end);
        st.workers = st.workers.max(worker + 1);
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
                    trace: None,
                },
                scenarios: st.scenarios,
                all,
                wall: span,
                steady: span,
                interrupted: false,
                worker_cpu: Vec::new(),
                sink_dropped: 0,
                connecting_peak: Vec::new(),
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
        timeline: Vec::new(),
    };
    let info = super::summary::RunInfo {
        target: "(rebuilt from results.jsonl)".into(),
        fd_limit: 0,
        dns: Vec::new(),
        // The lines carry the counts, not the tokenizer's name.
        tokenizer: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"stage":1,"concurrency":2,"scenario":"chat","protocol":"openai-chat","conv_uuid":"0b5e3c1a-9f1d-4c2b-8a7e-2d4f6a8b0c1e","turn":1,"turns_total":1,"stream":true,"intended_start":1700000000000000,"start":1700000000000100,"send_lag_us":100,"latency_us":250000,"service_us":249900,"ttfb_us":1000,"ttft_us":2000,"itl_mean_us":500,"itl_max_us":900,"tpot_us":600,"status":200,"prompt_tokens":5,"completion_tokens":7,"token_source":"usage","content_len":30,"warmup":false,"in_window":true,"worker":1}"#;

    fn rebuild(name: &str, text: &str) -> Result<Summary, String> {
        let path = std::env::temp_dir().join(format!("llmload-rebuild-{}-{name}.jsonl", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let out = from_jsonl(&path);
        let _ = std::fs::remove_file(&path);
        out
    }

    #[test]
    fn lines_become_the_run_and_a_missing_field_is_named() {
        // Two whole lines and a torn last one (the writer was killed mid-line).
        let s = rebuild("ok", &format!("{LINE}\n{LINE}\n{}", &LINE[..40])).unwrap();
        let all = &s.stages[0].all;
        assert_eq!((all.requests, all.ok, all.served, all.prompt_tokens), (2, 2, 2, 10));
        assert_eq!((s.workers, s.stages[0].stage.as_str()), (2, "2:1s"));
        assert_eq!(all.us["send_lag"].max, 100);
        for field in ["send_lag_us", "prompt_tokens", "token_source", "worker"] {
            let line = LINE.replacen(&format!("\"{field}\":"), "\"gone\":", 1);
            let err = rebuild(field, &format!("{LINE}\n{line}\n")).unwrap_err();
            assert!(err.ends_with(&format!("line 2: missing field `{field}`")), "{err}");
        }
        let err = rebuild("window", &LINE.replace(r#""in_window":true,"#, "")).unwrap_err();
        assert!(err.contains("line 1: no in_window"), "{err}");
    }
}
