//! [`scan`]: one pass over a trace before any load starts, to list what is wrong with it and
//! to learn what the engine plans with (records, span, token totals, where sessions end).

use std::collections::HashMap;
use std::path::Path;

use super::{TraceFormat, TraceReader};

/// Errors listed before the scan gives up on a file.
const MAX_ERRORS: usize = 10;

/// What a scan learnt about a valid trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TraceInfo {
    /// Usable records (within the limit).
    pub(crate) records: u64,
    /// The last record's offset (µs, unscaled).
    pub(crate) span_us: u64,
    /// BurstGPT rows skipped as failed requests (0 response tokens).
    pub(crate) skipped: u64,
    pub(crate) max_input_tokens: u32,
    pub(crate) total_input_tokens: u64,
    pub(crate) total_output_tokens: u64,
    /// Session id → where it ends and how many turns it has (llmload JSONL), so a
    /// conversation can be closed at its last turn without reading ahead.
    pub(crate) sessions: HashMap<String, SessionSpan>,
}

/// One session of a trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SessionSpan {
    /// Index (0-based record number) of its last record.
    pub(crate) last: u64,
    /// Its records.
    pub(crate) turns: u32,
}

/// Reads the whole trace (or its first `limit` records) once and checks every line. Errors
/// are the first 10 bad lines as `file:line: what is wrong`, then "… and more" if there were
/// more; a missing file or a trace without a usable record is one error naming the path.
pub(crate) fn scan(path: &Path, format: TraceFormat, limit: Option<u64>) -> Result<TraceInfo, Vec<String>> {
    let mut reader = TraceReader::open(path, format).map_err(|e| vec![e])?;
    let mut info = TraceInfo::default();
    let mut errors = Vec::new();
    while limit.is_none_or(|l| info.records < l) {
        match reader.next() {
            None => break,
            Some(Ok(r)) => {
                info.span_us = r.offset_us;
                info.max_input_tokens = info.max_input_tokens.max(r.input_tokens);
                info.total_input_tokens += u64::from(r.input_tokens);
                info.total_output_tokens += u64::from(r.output_tokens);
                if let Some(session) = r.session {
                    let s = info.sessions.entry(session).or_default();
                    s.last = info.records;
                    s.turns = s.turns.saturating_add(1);
                }
                info.records += 1;
            }
            Some(Err(_)) if errors.len() == MAX_ERRORS => {
                errors
                    .push(format!("{}: … and more (only the first {MAX_ERRORS} are listed)", path.display()));
                break;
            }
            Some(Err(e)) => errors.push(e),
        }
    }
    info.skipped = reader.skipped();
    if !errors.is_empty() {
        return Err(errors);
    }
    if info.records == 0 {
        let why = match info.skipped {
            0 => String::new(),
            n => format!(" (all {n} rows are failed requests with 0 Response tokens)"),
        };
        return Err(vec![format!("{}: the {} trace has no records{why}", path.display(), format.name())]);
    }
    Ok(info)
}
