//! `RawProfile` → `Profile`: the top-level fields, stages and thresholds, with nexus's
//! defaults and `limits`. Every error is collected as `path: reason`; scenarios are in
//! `scenario`, checks across fields in `checks`.

use std::time::Duration;

use serde_json::Value;

use super::checks;
use super::limits::{self, count, duration, limit};
use super::scenario::resolve_scenarios;
use super::schema::{RawProfile, RawSpan, RawStage, RawStageObject, RawStages};
use super::stages::{Load, Stage};
use super::suggest::not_one_of;
use super::trace_stage::trace_stage;
use super::{CacheMode, Concurrency, Correlation, Profile, Resolving, Reuse, Sessions};
use crate::metrics::Limit;
use crate::tokens::Tokenizer;
use crate::units::parse_duration;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
const DEFAULT_SHARED_PREFIX_TOKENS: u32 = 1024;
const DEFAULT_CORRELATION_HEADER: &str = "x-request-id";

pub(super) fn resolve(raw: RawProfile, ctx: &Resolving) -> Result<Profile, Vec<String>> {
    let mut errs = Vec::new();
    let mut warns = Vec::new();
    let e = &mut errs;
    let stages = resolve_stages(raw.stages.as_ref(), ctx, e, &mut warns);
    let warmup = duration(e, ctx.warmup_path, raw.warmup.as_deref(), Duration::ZERO, limits::WARMUP);
    let cache_mode = match raw.cache_mode.as_deref().filter(|s| !s.is_empty()) {
        None => CacheMode::Bust,
        Some(name) => CacheMode::parse(name).unwrap_or_else(|| {
            e.push(not_one_of("cache_mode", name, &CacheMode::NAMES));
            CacheMode::Bust
        }),
    };
    let shared_prefix_tokens =
        count(e, "shared_prefix_tokens", raw.shared_prefix_tokens, 1, limits::MAX_INPUT_TOKENS.into())
            .map_or(DEFAULT_SHARED_PREFIX_TOKENS, |n| n as u32);
    let correlation = resolve_correlation(&raw, e);
    let sessions = resolve_sessions(&raw, e);
    let thresholds = resolve_thresholds(&raw, e);
    let timeout = duration(e, "timeout", raw.timeout.as_deref(), DEFAULT_TIMEOUT, limits::TIMEOUT);
    let think_time = duration(e, "think_time", raw.think_time.as_deref(), Duration::ZERO, limits::PAUSE);
    let grace = raw.grace.as_deref().map(|g| duration(e, "grace", Some(g), Duration::ZERO, limits::PAUSE));
    let arrival = raw.arrival.as_deref().filter(|s| !s.is_empty()).and_then(|a| {
        let parsed = super::Arrival::parse(a);
        if parsed.is_none() {
            e.push(not_one_of("arrival", a, &super::Arrival::NAMES));
        }
        parsed
    });
    let max_inflight =
        count(e, "max_inflight", raw.max_inflight, 1, limits::MAX_INFLIGHT).map(|n| n as usize);
    let connections = count(e, "connections", raw.connections, 1, limits::MAX_INFLIGHT).map(|n| n as usize);
    let tokenizer = raw.tokenizer.as_deref().filter(|s| !s.is_empty()).and_then(|name| {
        let parsed = Tokenizer::parse(name);
        if parsed.is_none() {
            e.push(not_one_of("tokenizer", name, &Tokenizer::NAMES));
        }
        parsed
    });
    // Datasets are counted with the run's tokenizer: the flag's, else the profile's.
    let with_tokenizer = Resolving { tokenizer: ctx.tokenizer.or(tokenizer), ..*ctx };
    let scenarios = resolve_scenarios(&raw, think_time, &with_tokenizer, e, &mut warns);
    if !errs.is_empty() {
        return Err(errs);
    }
    let profile = Profile {
        stages,
        warmup,
        cache_mode,
        shared_prefix_tokens,
        correlation,
        thresholds,
        scenarios,
        disable_keepalive: raw.disable_keepalive.unwrap_or(false),
        insecure_skip_verify: raw.insecure_skip_verify.unwrap_or(false),
        timeout,
        think_time,
        capture_error_body: raw.capture_error_body.unwrap_or(false),
        arrival,
        seed: raw.seed,
        max_inflight,
        connections,
        grace,
        sessions,
        tokenizer,
        comment: raw.comment.as_ref().and_then(comment_text),
        warnings: Vec::new(),
    };
    // Checks across fields, once every field is valid (so indexes match the file).
    checks::across(&raw, &profile, ctx, &mut errs, &mut warns);
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(Profile { warnings: warns, ..profile })
}

fn comment_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => {
            let lines: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            (!lines.is_empty()).then(|| lines.join("\n"))
        }
        _ => None,
    }
}

fn resolve_correlation(raw: &RawProfile, errs: &mut Vec<String>) -> Correlation {
    let c = raw.correlation.clone().unwrap_or_default();
    let header = match c.header {
        None => Some(DEFAULT_CORRELATION_HEADER.to_string()),
        Some(h) if h.is_empty() => None,
        Some(h) => {
            if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                errs.push(format!("correlation.header: {h:?} is not a valid header name"));
            }
            Some(h)
        }
    };
    Correlation { uuid_in_prompt: c.uuid_in_prompt.unwrap_or(true), header }
}

fn resolve_sessions(raw: &RawProfile, errs: &mut Vec<String>) -> Sessions {
    let concurrency = match raw.concurrency.as_deref() {
        None => Concurrency::default(),
        Some(c) => Concurrency::parse(c).unwrap_or_else(|| {
            errs.push(not_one_of("concurrency", c, &Concurrency::NAMES));
            Concurrency::default()
        }),
    };
    let connection = match raw.connection.as_deref() {
        None => Reuse::default(),
        Some(c) => Reuse::parse(c).unwrap_or_else(|| {
            errs.push(not_one_of("connection", c, &Reuse::NAMES));
            Reuse::default()
        }),
    };
    let header = raw.session_header.clone().filter(|h| !h.is_empty());
    if let Some(h) = &header {
        if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
            errs.push(format!("session_header: {h:?} is not a valid header name"));
        }
    }
    Sessions { concurrency, connection, header }
}

fn resolve_thresholds(raw: &RawProfile, errs: &mut Vec<String>) -> Vec<Limit> {
    let Some(t) = raw.thresholds.clone() else { return Vec::new() };
    [
        ("ttft_p95_ms", t.ttft_p95_ms),
        ("p95_ms", t.p95_ms),
        ("error_rate", t.error_rate),
        ("p99_ms", t.p99_ms),
        ("ttft_p99_ms", t.ttft_p99_ms),
        ("itl_p95_ms", t.itl_p95_ms),
        ("min_goodput", t.min_goodput),
        ("min_rps", t.min_rps),
    ]
    .into_iter()
    .filter_map(|(name, v)| limit(errs, &format!("thresholds.{name}"), name, v?, "0 disables it"))
    .collect()
}

fn resolve_stages(
    raw: Option<&RawStages>,
    ctx: &Resolving,
    errs: &mut Vec<String>,
    warns: &mut Vec<String>,
) -> Vec<Stage> {
    let path = ctx.stages_path;
    let mut out = Vec::new();
    match raw {
        Some(RawStages::Text(text)) => {
            for item in text.split(',').filter(|s| !s.trim().is_empty()) {
                match Stage::parse(item) {
                    Ok(st) => out.push(st),
                    Err(e) => errs.push(format!("{path}: {e}")),
                }
            }
        }
        Some(RawStages::List(items)) => {
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                let parsed = match item {
                    RawStage::Text(t) => Stage::parse(t).map_err(|e| vec![format!("{p}: {e}")]),
                    RawStage::Object(o) if o.trace.is_some() => trace_stage(o, &p, ctx, warns),
                    RawStage::Object(o) => stage_object(o, &p).map_err(|e| vec![e]),
                };
                match parsed {
                    Ok(st) => out.push(st),
                    Err(e) => errs.extend(e),
                }
            }
        }
        None => {}
    }
    let had_items = match raw {
        Some(RawStages::Text(t)) => t.split(',').any(|s| !s.trim().is_empty()),
        Some(RawStages::List(l)) => !l.is_empty(),
        None => false,
    };
    if !had_items {
        errs.push(format!(
            "{path}: no stages (e.g. \"stages\": [{{\"concurrency\": 10, \"duration\": \"60s\"}}] \
             or [\"10:60s\", \"@50:60s\"]; or pass --stages)"
        ));
    }
    out
}

/// `{"concurrency": N | "users": N | {from,to} | "rate": R | {from,to}, "duration": D}`.
fn stage_object(o: &RawStageObject, path: &str) -> Result<Stage, String> {
    let given: Vec<&str> =
        [("concurrency", o.concurrency.is_some()), ("users", o.users.is_some()), ("rate", o.rate.is_some())]
            .into_iter()
            .filter_map(|(n, set)| set.then_some(n))
            .collect();
    if given.len() != 1 {
        let what = if given.is_empty() { "none".to_string() } else { given.join(" and ") };
        return Err(format!("{path}: give exactly one of concurrency, users or rate (found {what})"));
    }
    let dur = o.duration.as_deref().ok_or_else(|| format!("{path}.duration: missing (e.g. \"60s\")"))?;
    let duration = parse_duration(dur)
        .and_then(|d| limits::STAGE.check(d))
        .map_err(|e| format!("{path}.duration: {e}"))?;
    let (key, load) = if let Some(n) = o.concurrency {
        let n = u64::try_from(n)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{path}.concurrency: {n} must be a whole number above 0"))?;
        let n = limits::within(n, 1, limits::MAX_USERS.into())
            .map_err(|e| format!("{path}.concurrency: {e}"))? as u32;
        ("concurrency", Load::Closed { from: n, to: n })
    } else if let Some(users) = &o.users {
        let (from, to) = span(users);
        if ![from, to].iter().all(|v| v.fract() == 0.0 && *v >= 0.0) {
            return Err(format!("{path}.users: must be whole numbers ≥ 0"));
        }
        if from.max(to) > f64::from(limits::MAX_USERS) {
            let (peak, max) = (limits::show_number(from.max(to)), limits::MAX_USERS);
            return Err(format!("{path}.users: {peak} is above the limit {max}"));
        }
        ("users", Load::Closed { from: from as u32, to: to as u32 })
    } else {
        let (from, to) = span(o.rate.as_ref().expect("one of three is set"));
        ("rate", Load::Open { from, to })
    };
    load.check().map_err(|e| format!("{path}.{key}: {e}"))?;
    Ok(Stage { load, duration, trace: None })
}

fn span(s: &RawSpan) -> (f64, f64) {
    match s {
        RawSpan::One(v) => (*v, *v),
        RawSpan::Ramp(r) => (r.from, r.to),
    }
}
