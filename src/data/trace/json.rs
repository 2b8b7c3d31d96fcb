//! The JSONL formats: Mooncake (`timestamp` ms, `input_length`, `output_length`, `hash_ids`;
//! other fields are ignored, as published traces and their derivatives carry extras) and
//! llmload's own (`timestamp_ms`, `input_tokens`, `output_tokens`, optional `prompt` or
//! `messages`, optional `session_id`; unknown fields are refused, so a typo is caught).
//!
//! Each line is deserialized with serde_json into a struct that borrows from the line, and
//! errors carry the field's path (`messages[1].content: invalid type …`).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Number;

use super::{Line, Parsed};

#[derive(Deserialize)]
struct MooncakeLine {
    timestamp: Number,
    input_length: u64,
    output_length: u64,
    hash_ids: Vec<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonlLine<'a> {
    timestamp_ms: Number,
    input_tokens: u64,
    output_tokens: u64,
    #[serde(default, borrow)]
    prompt: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    messages: Option<Vec<Message<'a>>>,
    #[serde(default, borrow)]
    session_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Message<'a> {
    #[serde(borrow)]
    role: Cow<'a, str>,
    #[serde(borrow)]
    content: Cow<'a, str>,
}

/// Reads one Mooncake line.
pub(super) fn mooncake(line: &str) -> Result<Line, String> {
    let m: MooncakeLine = deserialize(line)?;
    Ok(Line::Record(Parsed {
        ts_us: ms_to_us("timestamp", &m.timestamp)?,
        input: m.input_length,
        output: m.output_length,
        hash_ids: m.hash_ids,
        ..Parsed::default()
    }))
}

/// Reads one llmload JSONL line.
pub(super) fn jsonl(line: &str) -> Result<Line, String> {
    let j: JsonlLine = deserialize(line)?;
    if j.prompt.is_some() && j.messages.is_some() {
        return Err("has both prompt and messages; give one".into());
    }
    if j.prompt.as_deref() == Some("") {
        return Err("prompt is empty".into());
    }
    let messages = match j.messages {
        Some(list) if list.is_empty() => return Err("messages is empty".into()),
        Some(list) => {
            if let Some(i) = list.iter().position(|m| m.role.is_empty()) {
                return Err(format!("messages[{i}].role is empty"));
            }
            Some(list.into_iter().map(|m| (m.role.into_owned(), m.content.into_owned())).collect())
        }
        None => None,
    };
    if j.session_id.as_deref() == Some("") {
        return Err("session_id is empty".into());
    }
    Ok(Line::Record(Parsed {
        ts_us: ms_to_us("timestamp_ms", &j.timestamp_ms)?,
        input: j.input_tokens,
        output: j.output_tokens,
        hash_ids: Vec::new(),
        prompt: j.prompt.map(Cow::into_owned),
        messages,
        session: j.session_id.map(Cow::into_owned),
    }))
}

/// Deserializes a whole line (trailing text is an error), naming the field that failed.
/// Paths are tracked only on a second pass over a line that failed: the first pass is
/// plain serde_json, as fast as it goes.
fn deserialize<'a, T: Deserialize<'a>>(line: &'a str) -> Result<T, String> {
    // serde would take `[ts, in, out, ids]` for a struct too; a record is an object.
    if !line.trim_start().starts_with('{') {
        return Err("not a JSON object".into());
    }
    if let Ok(value) = serde_json::from_str(line) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_str(line);
    let value =
        serde_path_to_error::deserialize(&mut de).map_err(|e| describe(&e.path().to_string(), e.inner()))?;
    de.end().map_err(|e| describe(".", &e))?;
    Ok(value)
}

/// serde_json's message without its "at line 1 column N" (the line is ours to name), with
/// the field path in front, or the column for a syntax error.
fn describe(path: &str, e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = full.strip_suffix(&suffix).unwrap_or(&full);
    // An unknown field's path ends with that field's name, which the message already gives.
    let path = if msg.starts_with("unknown field") {
        path.rsplit_once('.').map_or(".", |(parent, _)| parent)
    } else {
        path
    };
    if e.is_syntax() || e.is_eof() {
        format!("not valid JSON: {msg} (column {})", e.column())
    } else if path == "." {
        msg.to_string()
    } else {
        format!("{path}: {msg}")
    }
}

/// A millisecond timestamp (whole or fractional) in microseconds.
fn ms_to_us(name: &str, n: &Number) -> Result<i64, String> {
    if let Some(ms) = n.as_u64() {
        return ms
            .checked_mul(1000)
            .and_then(|us| i64::try_from(us).ok())
            .ok_or_else(|| format!("{name} {n} is too large"));
    }
    match n.as_f64() {
        Some(ms) if ms >= 0.0 && ms * 1000.0 < 9.2e18 => Ok((ms * 1000.0).round() as i64),
        _ => Err(format!("{name} {n} must be a non-negative number of milliseconds")),
    }
}
