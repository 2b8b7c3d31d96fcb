//! `results.jsonl`: one line per finished turn, formatted by the worker that finished it (in
//! batches handed to the coordinator thread), written by the coordinator as batches arrive,
//! buffered and flushed on whole lines every 250 ms, so a killed run leaves a file whose
//! every line parses.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::engine::{TurnLines, TurnRecord};
use crate::metrics::outcome::us_between;
use crate::metrics::ErrorKind;
use crate::profile::stages::{Load, Stage};

/// One line of `results.jsonl`: written by [`JsonlWriter`], read back by `report::rebuild`
/// and `llmload export-ids`. Its strings borrow from the turn when written and from the line
/// when read (owned only where the line escapes them).
///
/// llmload writes every field. A reader takes lines that hold only the fields export-ids
/// exports (a line from another tool, or made by hand): the others read as their default
/// (`#[serde(default)]`), or as None where rebuilding a run needs them (`Option` without a
/// JSON null: `rebuild` refuses a line without them, naming the field).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct Line<'a> {
    /// 1-based.
    pub stage: usize,
    /// The stage's users (closed loop) or rate (open loop), at its end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    #[serde(borrow)]
    pub scenario: Cow<'a, str>,
    #[serde(borrow, default)]
    pub protocol: Cow<'a, str>,
    #[serde(borrow)]
    pub conv_uuid: Cow<'a, str>,
    pub turn: u32,
    #[serde(default)]
    pub turns_total: u32,
    #[serde(default)]
    pub stream: bool,
    /// Unix µs.
    pub intended_start: u64,
    /// Unix µs of the actual send.
    #[serde(default)]
    pub start: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_lag_us: Option<u64>,
    /// From the intended start (coordinated-omission corrected).
    pub latency_us: u64,
    /// From the actual send.
    #[serde(default)]
    pub service_us: u64,
    pub ttfb_us: Option<u64>,
    pub ttft_us: Option<u64>,
    pub itl_mean_us: Option<u64>,
    pub itl_max_us: Option<u64>,
    pub tpot_us: Option<u64>,
    pub status: u16,
    /// The error class (`ErrorKind::name`).
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub error: Option<Cow<'a, str>>,
    /// A request the client cancelled (`cancelled_by_client`): the output events it had seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_events: Option<u64>,
    /// Retry-policy attempts after the first (absent: none); latency counts from the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
    /// The pool key's index (`api_keys`, `--vk-file`; summary.json `keys`), never the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: u64,
    /// `usage`, `counted` or `none` (`TokenSource::name`).
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub token_source: Option<Cow<'a, str>>,
    /// With a tokenizer: the prompt (contents + the per-message overhead) and the reply as it
    /// counts them on the client, beside the server's `prompt_tokens` / `completion_tokens`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokenizer_prompt_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokenizer_completion_tokens: Option<u64>,
    /// Streams that reasoned: intended start → first answer event (text or a tool call), and
    /// first → last reasoning event (without reasoning the first equals `ttft_us`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_content_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_us: Option<u64>,
    /// Reasoning tokens and where they came from (`usage` or `counted` events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub reasoning_source: Option<Cow<'a, str>>,
    /// Of `content_len`: characters of reasoning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_len: Option<u64>,
    /// Tool calls, their argument bytes and the calls whose arguments are not JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_arg_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_args_invalid: Option<u32>,
    /// Usage's prompt cache: tokens read from it and written to it (normalised).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_prompt_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u64>,
    /// The provider's own figure where a normalised one differs from it: Anthropic's
    /// `input_tokens` (without the cache; `prompt_tokens` adds the cache reads and writes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_input_tokens: Option<u64>,
    /// How the reply ended, normalised (`stop`, `length`, `tool_calls`, `other`).
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<Cow<'a, str>>,
    /// Whether the answer is valid JSON, when the scenario asks for JSON (`response_format`)
    /// and the answer had text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_valid: Option<bool>,
    #[serde(default)]
    pub content_len: u64,
    pub warmup: bool,
    /// Finished inside the stage's measurement window (counted in the served rate). None
    /// also in lines of an llmload from before served requests were counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_window: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker: Option<usize>,
    /// The start of a failed response's body (`--capture-error-body`).
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub err_body: Option<Cow<'a, str>>,
}

/// Writes finished turns as lines, on the workers (`TurnLines`): the fields of a [`Line`],
/// in its order, written by hand (itoa) into the worker's batch — what serde_json would
/// write for the same `Line`, byte for byte, without its cost per request.
pub(crate) struct LineFormat {
    /// An instant and the Unix time at it, so every worker converts instants the same way.
    base: (Instant, u64),
    stages: Vec<Stage>,
    scenarios: Vec<String>,
}

impl LineFormat {
    pub(crate) fn new(stages: Vec<Stage>, scenarios: Vec<String>) -> LineFormat {
        let unix_us = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
        LineFormat { base: (Instant::now(), unix_us), stages, scenarios }
    }

    fn unix_us(&self, t: Instant) -> u64 {
        match t.checked_duration_since(self.base.0) {
            Some(d) => self.base.1 + d.as_micros() as u64,
            None => self.base.1 - us_between(t, self.base.0),
        }
    }

    /// The line of one turn.
    fn line<'a>(&'a self, t: &TurnRecord<'a>) -> Line<'a> {
        let o = t.outcome;
        let (concurrency, rate) = match self.stages.get(t.stage) {
            Some(Stage { load: Load::Closed { to, .. }, .. }) => (Some(*to), None),
            Some(s) => (None, s.rate()),
            None => (None, None),
        };
        let streamed_gaps = t.stream && o.content_events > 1;
        Line {
            stage: t.stage + 1,
            concurrency,
            rate,
            scenario: Cow::Borrowed(self.scenarios.get(t.scenario).map_or("", String::as_str)),
            protocol: Cow::Borrowed(t.protocol),
            conv_uuid: Cow::Borrowed(t.conv_uuid),
            turn: t.turn,
            turns_total: t.turns_total,
            stream: t.stream,
            intended_start: self.unix_us(o.intended),
            start: self.unix_us(o.sent),
            send_lag_us: Some(us_between(o.intended, o.sent)),
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
            error: o.error.map(|e| Cow::Borrowed(e.name())),
            cancel_events: (o.error == Some(ErrorKind::CancelledByClient)).then_some(o.content_events),
            retries: (o.throttle.retries > 0).then_some(u64::from(o.throttle.retries)),
            key: o.key.map(|k| u64::from(k.index)),
            prompt_tokens: Some(o.prompt_tokens),
            completion_tokens: o.completion_tokens,
            token_source: Some(Cow::Borrowed(o.token_source.name())),
            tokenizer_prompt_tokens: o.tokenizer.map(|t| t.prompt),
            tokenizer_completion_tokens: o.tokenizer.map(|t| t.completion),
            ttft_content_us: o
                .first_content
                .filter(|_| o.first_reasoning.is_some())
                .map(|t| us_between(o.intended, t)),
            reasoning_us: match (o.first_reasoning, o.last_reasoning) {
                (Some(f), Some(l)) => Some(us_between(f, l)),
                _ => None,
            },
            reasoning_tokens: o.reasoning_tokens,
            reasoning_source: o.reasoning_tokens.map(|_| Cow::Borrowed(o.reasoning_source.name())),
            reasoning_len: (o.reasoning_chars > 0).then_some(o.reasoning_chars),
            tool_calls: (o.tools.calls > 0).then_some(o.tools.calls),
            tool_arg_bytes: (o.tools.calls > 0).then_some(o.tools.arg_bytes),
            tool_args_invalid: (o.tools.calls > 0).then_some(o.tools.invalid),
            cached_prompt_tokens: o.cached_prompt_tokens,
            cache_write_tokens: o.cache_write_tokens,
            raw_input_tokens: o.raw_input_tokens,
            finish_reason: o.finish.map(|f| Cow::Borrowed(f.name())),
            json_valid: o.json_valid,
            content_len: o.content_chars,
            warmup: t.warmup,
            in_window: Some(t.in_window),
            worker: Some(t.worker),
            err_body: t.err_body.map(String::from_utf8_lossy),
        }
    }
}

impl TurnLines for LineFormat {
    fn write(&self, turn: &TurnRecord<'_>, out: &mut Vec<u8>) {
        write_line(&self.line(turn), out);
    }
}

/// Appends `line` as serde_json writes it, and a newline.
pub(crate) fn write_line(l: &Line<'_>, out: &mut Vec<u8>) {
    // Room for a whole usual line, so the copies below rarely grow the buffer.
    out.reserve(768);
    let w = &mut Fields { out };
    w.int(b"{\"stage\":", l.stage as u64);
    if let Some(c) = l.concurrency {
        w.int(b",\"concurrency\":", u64::from(c));
    }
    if let Some(r) = l.rate {
        w.key(b",\"rate\":");
        // serde_json's own float format (not ryu's: it writes 1e+21 as 1e21).
        serde_json::to_writer(&mut *w.out, &r).expect("a float always serializes");
    }
    w.str(b",\"scenario\":", &l.scenario);
    w.str(b",\"protocol\":", &l.protocol);
    w.str(b",\"conv_uuid\":", &l.conv_uuid);
    w.int(b",\"turn\":", u64::from(l.turn));
    w.int(b",\"turns_total\":", u64::from(l.turns_total));
    w.bool(b",\"stream\":", l.stream);
    w.int(b",\"intended_start\":", l.intended_start);
    w.int(b",\"start\":", l.start);
    if let Some(v) = l.send_lag_us {
        w.int(b",\"send_lag_us\":", v);
    }
    w.int(b",\"latency_us\":", l.latency_us);
    w.int(b",\"service_us\":", l.service_us);
    w.opt(b",\"ttfb_us\":", l.ttfb_us);
    w.opt(b",\"ttft_us\":", l.ttft_us);
    w.opt(b",\"itl_mean_us\":", l.itl_mean_us);
    w.opt(b",\"itl_max_us\":", l.itl_max_us);
    w.opt(b",\"tpot_us\":", l.tpot_us);
    w.int(b",\"status\":", u64::from(l.status));
    if let Some(e) = &l.error {
        w.str(b",\"error\":", e);
        if let Some(v) = l.cancel_events {
            w.int(b",\"cancel_events\":", v);
        }
    }
    for (name, v) in [(&b",\"retries\":"[..], l.retries), (b",\"key\":", l.key)] {
        if let Some(v) = v {
            w.int(name, v);
        }
    }
    if let Some(v) = l.prompt_tokens {
        w.int(b",\"prompt_tokens\":", v);
    }
    w.int(b",\"completion_tokens\":", l.completion_tokens);
    if let Some(s) = &l.token_source {
        w.str(b",\"token_source\":", s);
    }
    if let Some(v) = l.tokenizer_prompt_tokens {
        w.int(b",\"tokenizer_prompt_tokens\":", v);
    }
    if let Some(v) = l.tokenizer_completion_tokens {
        w.int(b",\"tokenizer_completion_tokens\":", v);
    }
    write_reply_fields(w, l);
    w.int(b",\"content_len\":", l.content_len);
    w.bool(b",\"warmup\":", l.warmup);
    if let Some(b) = l.in_window {
        w.bool(b",\"in_window\":", b);
    }
    if let Some(v) = l.worker {
        w.int(b",\"worker\":", v as u64);
    }
    if let Some(b) = &l.err_body {
        w.str(b",\"err_body\":", b);
    }
    w.out.extend_from_slice(b"}\n");
}

/// The optional figures of reasoning, tool calls, the cache and the finish (apart: a plain
/// reply has none of them).
#[inline]
fn write_reply_fields(w: &mut Fields<'_>, l: &Line<'_>) {
    let ints = [
        (&b",\"ttft_content_us\":"[..], l.ttft_content_us),
        (b",\"reasoning_us\":", l.reasoning_us),
        (b",\"reasoning_tokens\":", l.reasoning_tokens),
    ];
    for (key, v) in ints {
        if let Some(v) = v {
            w.int(key, v);
        }
    }
    if let Some(s) = &l.reasoning_source {
        w.str(b",\"reasoning_source\":", s);
    }
    let ints = [
        (&b",\"reasoning_len\":"[..], l.reasoning_len),
        (b",\"tool_calls\":", l.tool_calls.map(u64::from)),
        (b",\"tool_arg_bytes\":", l.tool_arg_bytes),
        (b",\"tool_args_invalid\":", l.tool_args_invalid.map(u64::from)),
        (b",\"cached_prompt_tokens\":", l.cached_prompt_tokens),
        (b",\"cache_write_tokens\":", l.cache_write_tokens),
        (b",\"raw_input_tokens\":", l.raw_input_tokens),
    ];
    for (key, v) in ints {
        if let Some(v) = v {
            w.int(key, v);
        }
    }
    if let Some(s) = &l.finish_reason {
        w.str(b",\"finish_reason\":", s);
    }
    if let Some(b) = l.json_valid {
        w.bool(b",\"json_valid\":", b);
    }
}

/// The members of one JSON object being written; each is given its key with the punctuation
/// before it (`{"stage":`, `,"turn":`), so a member costs one copy besides its value.
struct Fields<'o> {
    out: &'o mut Vec<u8>,
}

impl Fields<'_> {
    #[inline(always)]
    fn key(&mut self, key: &[u8]) {
        self.out.extend_from_slice(key);
    }

    #[inline(always)]
    fn int(&mut self, key: &[u8], v: u64) {
        self.key(key);
        self.out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }

    #[inline(always)]
    fn opt(&mut self, key: &[u8], v: Option<u64>) {
        match v {
            Some(v) => self.int(key, v),
            None => {
                self.key(key);
                self.out.extend_from_slice(b"null");
            }
        }
    }

    #[inline(always)]
    fn bool(&mut self, key: &[u8], v: bool) {
        self.key(key);
        self.out.extend_from_slice(if v { b"true" } else { b"false" });
    }

    #[inline(always)]
    fn str(&mut self, key: &[u8], v: &str) {
        self.key(key);
        crate::protocol::write_json_string(v, self.out);
    }
}

/// Writes `results.jsonl`: the lines the workers wrote, buffered and flushed on whole lines.
pub(crate) struct JsonlWriter {
    out: BufWriter<File>,
    /// Lines written.
    pub lines: u64,
}

impl JsonlWriter {
    pub(crate) fn create(path: &Path) -> io::Result<JsonlWriter> {
        Ok(JsonlWriter { out: BufWriter::with_capacity(1 << 20, File::create(path)?), lines: 0 })
    }

    /// Writes `count` whole lines (buffered).
    pub(crate) fn write(&mut self, lines: &[u8], count: u64) -> io::Result<()> {
        self.out.write_all(lines)?;
        self.lines += count;
        Ok(())
    }

    /// Flushes whole lines to the file.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> Line<'static> {
        Line {
            stage: 2,
            concurrency: None,
            rate: Some(12.5),
            scenario: "chat".into(),
            protocol: "openai-chat".into(),
            conv_uuid: "0b5e3c1a-9f1d-4c2b-8a7e-2d4f6a8b0c1e".into(),
            turn: 1,
            turns_total: 3,
            stream: true,
            intended_start: 1_700_000_000_000_000,
            start: 1_700_000_000_000_100,
            send_lag_us: Some(100),
            latency_us: 250_000,
            service_us: 249_900,
            ttfb_us: Some(1_000),
            ttft_us: None,
            itl_mean_us: None,
            itl_max_us: None,
            tpot_us: None,
            status: 429,
            error: None,
            cancel_events: None,
            retries: Some(2),
            key: Some(1),
            prompt_tokens: Some(5),
            completion_tokens: 0,
            token_source: Some("none".into()),
            tokenizer_prompt_tokens: None,
            tokenizer_completion_tokens: None,
            ttft_content_us: None,
            reasoning_us: None,
            reasoning_tokens: None,
            reasoning_source: None,
            reasoning_len: None,
            tool_calls: None,
            tool_arg_bytes: None,
            tool_args_invalid: None,
            cached_prompt_tokens: None,
            cache_write_tokens: None,
            raw_input_tokens: None,
            finish_reason: None,
            json_valid: None,
            content_len: 0,
            warmup: false,
            in_window: Some(true),
            worker: Some(1),
            err_body: Some("slow \"down\"".into()),
        }
    }

    #[test]
    fn a_line_reads_back_as_written_borrowing_its_strings() {
        let l = line();
        let text = serde_json::to_string(&l).unwrap();
        // Absent optional fields are left out; the others keep their place.
        assert!(
            text.starts_with(r#"{"stage":2,"rate":12.5,"scenario":"chat","protocol":"openai-chat","#),
            "{text}"
        );
        assert!(!text.contains("concurrency") && !text.contains("\"error\""), "{text}");
        assert!(text.contains(r#""ttft_us":null"#), "{text}");
        assert!(
            text.ends_with(r#""warmup":false,"in_window":true,"worker":1,"err_body":"slow \"down\""}"#),
            "{text}"
        );
        let back: Line = serde_json::from_str(&text).unwrap();
        assert_eq!(back, l);
        assert!(matches!(back.scenario, Cow::Borrowed(_)), "read without copying");
        // A line of an older llmload: no in_window; a line with only what export-ids reads.
        let old = text.replace(r#""in_window":true,"#, "");
        assert_eq!(serde_json::from_str::<Line>(&old).unwrap().in_window, None);
        let few = r#"{"stage":1,"scenario":"s","conv_uuid":"u","turn":2,"intended_start":7,"latency_us":9,
            "status":200,"completion_tokens":3,"warmup":false}"#;
        let l: Line = serde_json::from_str(few).unwrap();
        assert_eq!(
            (l.turn, l.turns_total, l.send_lag_us, l.worker, l.protocol.as_ref()),
            (2, 0, None, None, "")
        );
        // A line missing an exported figure is refused.
        let bad = text.replace(r#""latency_us":250000,"#, "");
        let err = serde_json::from_str::<Line>(&bad).unwrap_err().to_string();
        assert!(err.contains("missing field `latency_us`"), "{err}");
    }

    #[test]
    fn lines_are_written_as_serde_writes_them() {
        let mut variants = vec![line()];
        let mut l = line();
        (l.concurrency, l.rate, l.send_lag_us, l.ttft_us, l.tpot_us) =
            (Some(64), None, None, Some(5), Some(7));
        (l.error, l.prompt_tokens, l.token_source, l.in_window, l.worker) =
            (Some("timeout_total".into()), None, None, None, None);
        (l.err_body, l.scenario) = (None, "a \"b\"\\\n\u{1}é".into());
        variants.push(l);
        variants.push(Line {
            tokenizer_prompt_tokens: Some(306),
            tokenizer_completion_tokens: Some(0),
            ..line()
        });
        // A reasoning, tool-calling, cached reply: every optional figure, and some alone.
        let full = Line {
            ttft_content_us: Some(90_000),
            reasoning_us: Some(80_000),
            reasoning_tokens: Some(12),
            reasoning_source: Some("usage".into()),
            reasoning_len: Some(300),
            tool_calls: Some(2),
            tool_arg_bytes: Some(41),
            tool_args_invalid: Some(0),
            cached_prompt_tokens: Some(1024),
            cache_write_tokens: Some(0),
            raw_input_tokens: Some(17),
            finish_reason: Some("tool_calls".into()),
            json_valid: Some(false),
            ..line()
        };
        variants.push(full.clone());
        variants.push(Line { reasoning_us: None, tool_calls: None, raw_input_tokens: None, ..full.clone() });
        variants.push(Line { cached_prompt_tokens: Some(0), finish_reason: Some("length".into()), ..line() });
        variants.push(Line { json_valid: Some(true), ..line() });
        let text = serde_json::to_string(&full).unwrap();
        assert_eq!(serde_json::from_str::<Line>(&text).unwrap(), full);
        for rate in [50.0, 0.1, 1e21, f64::NAN] {
            variants.push(Line { rate: Some(rate), ..line() });
        }
        for l in &variants {
            let mut out = b"x".to_vec();
            write_line(l, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), format!("x{}\n", serde_json::to_string(l).unwrap()));
        }
    }
}
