//! A stage object with `trace`: the file is found (relative to the profile), its format
//! checked, and the whole file scanned before any load, so a bad record is reported as
//! `file:line: …` and nothing is sent.

use super::limits::{self, count};
use super::schema::RawStageObject;
use super::stages::{Stage, TraceStage};
use super::suggest::not_one_of;
use super::Resolving;
use crate::data::trace::{scan, TraceFormat};

/// Tokens per Mooncake prefix block (the block size of Mooncake's published traces).
pub(crate) const DEFAULT_BLOCK_TOKENS: u32 = 512;

/// `{"trace": "file", "format": "mooncake", "time_scale": 1.0, "limit": N, "block_tokens": 512}`.
pub(super) fn trace_stage(
    o: &RawStageObject,
    path: &str,
    ctx: &Resolving,
    warns: &mut Vec<String>,
) -> Result<Stage, Vec<String>> {
    let mut errs = Vec::new();
    for (key, set) in [
        ("concurrency", o.concurrency.is_some()),
        ("users", o.users.is_some()),
        ("rate", o.rate.is_some()),
        ("duration", o.duration.is_some()),
    ] {
        if set {
            errs.push(format!("{path}.{key}: not with trace (a trace gives its own arrivals and length)"));
        }
    }
    let written = o.trace.as_deref().unwrap_or_default();
    if written.is_empty() {
        errs.push(format!("{path}.trace: empty (the path of a trace file)"));
    }
    let format = match o.format.as_deref() {
        None => {
            errs.push(format!("{path}.format: missing (one of {})", TraceFormat::NAMES.join(", ")));
            None
        }
        Some(f) => TraceFormat::parse(f).or_else(|| {
            errs.push(not_one_of(&format!("{path}.format"), f, &TraceFormat::NAMES));
            None
        }),
    };
    let time_scale = o.time_scale.unwrap_or(1.0);
    if !(time_scale.is_finite() && time_scale > 0.0 && time_scale <= 1e6) {
        errs.push(format!("{path}.time_scale: {time_scale} must be above 0 and at most 1e6"));
    }
    let limit = count(&mut errs, &format!("{path}.limit"), o.limit, 1, u64::MAX >> 1);
    let block_tokens =
        count(&mut errs, &format!("{path}.block_tokens"), o.block_tokens, 1, limits::MAX_INPUT_TOKENS.into())
            .map_or(DEFAULT_BLOCK_TOKENS, |n| n as u32);
    let (Some(format), true) = (format, errs.is_empty()) else { return Err(errs) };
    let file = ctx.data_path(written);
    let info = scan(&file, format, limit)
        .map_err(|e| e.into_iter().map(|e| format!("{path}.trace: {e}")).collect::<Vec<_>>())?;
    if info.max_input_tokens > limits::MAX_INPUT_TOKENS {
        return Err(vec![format!(
            "{path}.trace: a record asks for {} input tokens, above the limit {}",
            info.max_input_tokens,
            limits::MAX_INPUT_TOKENS
        )]);
    }
    if info.skipped > 0 {
        warns.push(format!(
            "{path}.trace: {} failed rows (0 Response tokens) are skipped; {} records replay",
            info.skipped, info.records
        ));
    }
    let stage = TraceStage { path: file, format, time_scale, limit, block_tokens, info }.stage();
    limits::STAGE.check(stage.duration).map_err(|e| vec![format!("{path}: the replay lasts {e}")])?;
    Ok(stage)
}
