//! The kit every API module builds its reply with: the reply and stream types, the `Render`
//! trait each API's stream implements, a request's planned generation, the per-request
//! context (errors in the provider's shape, model lookup, faults) and `admit`, the preamble
//! every generating route shares. Below the API modules; `dispatch` (above them) routes to
//! them.

use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde::Serialize;

use monoio::io::{AsyncWriteRent, AsyncWriteRentExt};

use super::batched::Ticket;
use super::config::{ContentMode, Model, NonstreamDelay};
use super::dist::Dist;
use super::faults::FaultPlan;
use super::head::{status_message, Head};
use super::request::{parse, Requested};
use super::text::Words;
use super::tools::ToolCall;
use super::Core;
use crate::tokens::Tokenizer;
use crate::wire::api_error::{write_error_body, Family};
use crate::wire::encode;

/// What to send back.
pub(crate) enum Reply {
    /// A complete response whose body is in the connection's `out` buffer, sent `delay` after
    /// the request arrived. `drop` closes the connection instead of answering.
    Full {
        status: u16,
        content_type: &'static str,
        delay: Duration,
        retry_after: bool,
        /// A rate-limit refusal's headers (`ratelimit`): `retry-after` and the provider's
        /// limit headers, in place of the plain `retry-after: 1`.
        limit_headers: Option<Vec<(&'static str, String)>>,
        drop: bool,
        /// Methods for the `allow` header of a 405.
        allow: Option<&'static str>,
        /// With the capacity model: the reply waits for `until` tokens of this, then `delay`.
        batch: Option<Ticket>,
    },
    /// A paced SSE stream.
    Stream(Box<StreamJob>),
}

/// Everything the pacer needs to send one stream.
pub(crate) struct StreamJob {
    pub render: Box<dyn Render>,
    pub gen: Generation,
    pub faults: FaultPlan,
    /// With the capacity model: each event waits for its tokens from the batch.
    pub batch: Option<Ticket>,
}

/// The per-API event renderer of a stream, implemented by each API's stream type.
pub(crate) trait Render {
    /// The content type of the stream.
    fn content_type(&self) -> &'static str {
        "text/event-stream"
    }
    /// Whose request-id header the stream carries.
    fn family(&self) -> Family {
        Family::OpenAi
    }
    /// Events sent with the head, before the first token.
    fn prelude(&mut self, _gen: &Generation, _out: &mut Vec<u8>) {}
    /// One content event carrying `text`.
    fn content(&mut self, text: &str, out: &mut Vec<u8>);
    /// One reasoning event carrying `text` (only routes that plan reasoning get these).
    fn reasoning(&mut self, _text: &str, _out: &mut Vec<u8>) {}
    /// Fragment `frag` of tool call `call`'s arguments (only routes that plan calls).
    fn call_fragment(&mut self, _gen: &Generation, _call: usize, _frag: usize, _out: &mut Vec<u8>) {}
    /// The closing events after the last token.
    fn finish(&mut self, gen: &Generation, out: &mut Vec<u8>);
    /// An in-stream error event.
    fn error(&mut self, out: &mut Vec<u8>);
}

/// The planned output of one request: reasoning tokens, then answer tokens, then tool calls.
pub(crate) struct Generation {
    /// Answer (content) tokens to emit.
    pub tokens: u64,
    /// Reasoning tokens sent before the answer (0: none).
    pub reasoning: u64,
    /// Tool calls sent after the answer; each argument fragment is one token.
    pub calls: Vec<ToolCall>,
    /// Prompt tokens served from the prefix cache (0 without one).
    pub cached_tokens: u64,
    /// Prompt tokens this request stored in the prefix cache (Anthropic reports them).
    pub cache_written_tokens: u64,
    /// True when the request's cap cut the output (finish reason `length` / `max_tokens`).
    pub hit_cap: bool,
    pub prompt_tokens: u64,
    pub ttft: Duration,
    pub itl: Dist,
    pub tokens_per_event: u32,
    pub words: Words,
    /// The answer's shape when the request asked for JSON (`response_format`).
    pub json: Option<JsonAnswer>,
}

/// A JSON answer (`response_format` json_object / json_schema): the words as
/// `{"answer": "…"}`, closed unless the cap cut it (an answer cut short is not JSON, as a
/// real model's is not), or, with the `json-invalid` fault, closed with a trailing comma.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JsonAnswer {
    Valid,
    Broken,
}

/// What one streamed event carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Reasoning tokens `[from, to)`.
    Reasoning(u64, u64),
    /// Answer tokens `[from, to)`.
    Content(u64, u64),
    /// Argument fragment `frag` of tool call `call`.
    Call { call: usize, frag: usize },
}

impl Step {
    /// Tokens the event carries (what its pacing gap is drawn for).
    pub(crate) fn tokens(self) -> u64 {
        match self {
            Step::Reasoning(a, b) | Step::Content(a, b) => b - a,
            Step::Call { .. } => 1,
        }
    }
}

impl Generation {
    fn reasoning_events(&self) -> u64 {
        self.reasoning.div_ceil(u64::from(self.tokens_per_event))
    }

    fn content_events(&self) -> u64 {
        self.tokens.div_ceil(u64::from(self.tokens_per_event))
    }

    /// Number of streamed events (reasoning, content and argument fragments).
    pub(crate) fn events(&self) -> u64 {
        self.reasoning_events() + self.content_events() + self.call_tokens()
    }

    /// Tokens of tool-call arguments (one per fragment).
    pub(crate) fn call_tokens(&self) -> u64 {
        self.calls.iter().map(|c| c.fragments() as u64).sum()
    }

    /// Completion tokens as usage reports them: reasoning + answer + tool-call arguments.
    pub(crate) fn completion_tokens(&self) -> u64 {
        self.reasoning + self.tokens + self.call_tokens()
    }

    /// What event `e` carries.
    pub(crate) fn step(&self, e: u64) -> Step {
        let per = u64::from(self.tokens_per_event);
        let r = self.reasoning_events();
        if e < r {
            return Step::Reasoning(e * per, ((e + 1) * per).min(self.reasoning));
        }
        let c = self.content_events();
        if e < r + c {
            let (from, to) = self.event_tokens(e - r);
            return Step::Content(from, to);
        }
        let mut k = (e - r - c) as usize;
        for (call, c) in self.calls.iter().enumerate() {
            if k < c.fragments() {
                return Step::Call { call, frag: k };
            }
            k -= c.fragments();
        }
        unreachable!("event {e} is past the last of {}", self.events())
    }

    /// The reasoning text.
    pub(crate) fn reasoning_text(&self) -> String {
        self.words.text(0, self.reasoning)
    }

    /// The gap before content event `e` (e ≥ 1): one ITL draw per token it carries.
    pub(crate) fn gap<R: Rng>(&self, rng: &mut R, tokens_in_event: u64) -> Duration {
        Duration::from_nanos((self.itl.sample(rng, 0) * 1e3) as u64 * tokens_in_event)
    }

    /// Tokens carried by content event `e` (counted among content events): `[from, to)`.
    pub(crate) fn event_tokens(&self, e: u64) -> (u64, u64) {
        let per = u64::from(self.tokens_per_event);
        (e * per, ((e + 1) * per).min(self.tokens))
    }

    /// The whole reply text.
    pub(crate) fn text(&self) -> String {
        if self.json.is_none() {
            return self.words.text(0, self.tokens);
        }
        let mut s = String::with_capacity((self.tokens * 8) as usize + 16);
        for k in 0..self.tokens {
            self.push_answer(k, &mut s);
        }
        s
    }

    /// Appends answer token `k`: its word, in the JSON shape when the answer is JSON.
    pub(crate) fn push_answer(&self, k: u64, out: &mut String) {
        let Some(json) = self.json else { return self.words.push_token(k, out) };
        if k == 0 {
            out.push_str("{\"answer\": \"");
        }
        let mut word = String::new();
        self.words.push_token(k, &mut word);
        let mut escaped = Vec::with_capacity(word.len());
        super::json::escaped(&mut escaped, &word);
        out.push_str(std::str::from_utf8(&escaped).expect("escaping keeps UTF-8"));
        if k + 1 == self.tokens && !self.hit_cap {
            out.push_str(if json == JsonAnswer::Valid { "\"}" } else { "\",}" });
        }
    }

    /// The answer text escaped for the inside of a JSON string.
    pub(crate) fn write_answer_json(&self, out: &mut Vec<u8>) {
        match self.json {
            None => self.words.write_json(0, self.tokens, out),
            Some(_) => super::json::escaped(out, &self.text()),
        }
    }

    /// Whether the answer is valid JSON, when it was asked for as JSON and is not tool calls.
    pub(crate) fn json_valid(&self) -> Option<bool> {
        let json = self.json.filter(|_| self.calls.is_empty())?;
        Some(json == JsonAnswer::Valid && !self.hit_cap && self.tokens > 0)
    }

    /// Shapes the answer as JSON when the request asked for it (`wants`); the fault breaks it.
    pub(crate) fn shape_json(&mut self, wants: bool, faults: &FaultPlan) {
        if wants {
            self.json = Some(if faults.json_invalid { JsonAnswer::Broken } else { JsonAnswer::Valid });
        }
    }
}

/// One request's context while its reply is built.
pub(crate) struct Call<'a> {
    pub core: &'a Core,
    pub head: &'a Head,
    pub request_id: &'a str,
    pub out: &'a mut Vec<u8>,
    pub faults: FaultPlan,
    /// The request's place in the batch (capacity model), for a non-streaming reply.
    pub batch: Option<Ticket>,
}

/// Seconds since the epoch, for `created` fields.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl<'a> Call<'a> {
    /// An error reply in the route's provider shape.
    pub(crate) fn error(&mut self, status: u16, message: &str, code: Option<&str>) -> Reply {
        self.out.clear();
        write_error_body(self.out, self.head.family, status, message, code, self.request_id);
        let delay = Duration::from_millis(self.faults.first_byte_ms.unwrap_or(0));
        Reply::Full {
            status,
            content_type: "application/json",
            delay,
            retry_after: matches!(status, 429 | 503 | 529),
            limit_headers: None,
            drop: false,
            allow: None,
            batch: None,
        }
    }

    /// A JSON reply rendered from `value`.
    pub(crate) fn json<T: Serialize>(&mut self, value: &T, delay: Duration) -> Reply {
        self.out.clear();
        serde_json::to_writer(&mut *self.out, value).expect("serializing to a Vec cannot fail");
        self.full(200, "application/json", delay)
    }

    /// A 200 reply whose body is already in `out`.
    pub(crate) fn full(&mut self, status: u16, content_type: &'static str, delay: Duration) -> Reply {
        let first_byte = Duration::from_millis(self.faults.first_byte_ms.unwrap_or(0));
        Reply::Full {
            status,
            content_type,
            delay: delay + first_byte,
            retry_after: false,
            limit_headers: None,
            drop: self.faults.drop_after_events.is_some(),
            allow: None,
            batch: self.batch.take(),
        }
    }

    /// Looks a model up; unknown models get the provider's 404.
    pub(crate) fn model(&mut self, id: &str) -> Result<&'a Model, Reply> {
        // Borrowed from the core (lifetime 'a), not from `self`, so `self` stays usable.
        let core: &'a Core = self.core;
        match core.settings.model(id) {
            Some(m) => Ok(m),
            None => {
                let message = match self.head.family {
                    Family::OpenAi => {
                        format!("The model `{id}` does not exist or you do not have access to it.")
                    }
                    Family::Anthropic => format!("model: {id}"),
                };
                Err(self.error(404, &message, Some("model_not_found")))
            }
        }
    }

    /// `--rate-limit`: admits the request in its key's and model's windows, or answers 429 in
    /// the provider's shape with its rate-limit headers.
    pub(crate) fn rate_limit(&mut self, model: &Model) -> Result<(), Reply> {
        let Some(limiter) = &self.core.limiter else { return Ok(()) };
        let key = self.head.key_id();
        let Err(refusal) = limiter.admit(key, &model.id, std::time::Instant::now()) else { return Ok(()) };
        let mut reply = self.error(429, &refusal.message(), Some("rate_limit_exceeded"));
        if let Reply::Full { limit_headers, .. } = &mut reply {
            *limit_headers = Some(refusal.headers(self.head.family));
        }
        Err(reply)
    }

    /// Draws the model's fault rules and merges the header's plan (the header wins). A status
    /// fault becomes the reply.
    pub(crate) fn apply_faults(&mut self, model: &Model) -> Result<(), Reply> {
        let mut plan = FaultPlan::default();
        if !model.faults.is_empty() {
            let mut rng = self.core.rng.borrow_mut();
            for (rate, rule) in &model.faults {
                if rng.gen::<f64>() < *rate {
                    plan.merge(rule);
                }
            }
        }
        if let Ok(header) = &self.head.fault {
            plan.merge(header);
        }
        if !plan.is_empty() {
            self.core.counters().fault();
        }
        self.faults = plan;
        match self.faults.status {
            Some(status) => Err(self.error(status, status_message(status), None)),
            None => Ok(()),
        }
    }

    /// The prompt tokens to report: the `estimate`, or with `--tokenizer` what `counted`
    /// counts (see `counted`).
    pub(crate) fn prompt_tokens(&self, estimate: u64, counted: impl FnOnce(Tokenizer) -> Option<u64>) -> u64 {
        self.core.settings.tokenizer.and_then(counted).unwrap_or(estimate)
    }

    /// Plans a generation: output length (header, or the model's distribution), capped by
    /// the request; TTFT and ITL (headers, or the model's); the reply's words.
    pub(crate) fn plan(
        &self,
        model: &Model,
        limits: Limits,
        prompt_tokens: u64,
        echo_text: &str,
    ) -> Generation {
        let head = self.head;
        let mut rng = self.core.rng.borrow_mut();
        let cap = limits.cap.max(1);
        let mut wanted = head
            .output_tokens
            .unwrap_or_else(|| model.output_tokens.sample(&mut *rng, 0).round().max(1.0) as u64);
        wanted = wanted.max(limits.min_tokens.unwrap_or(0)).max(1);
        if limits.ignore_eos {
            wanted = cap;
        }
        let ttft_us = head.ttft_ms.map_or_else(|| model.ttft.sample(&mut *rng, prompt_tokens), |ms| ms * 1e3);
        let itl = head.itl_ms.map_or_else(|| model.itl.clone(), |ms| Dist::Fixed(ms * 1e3));
        let offset = rng.gen_range(0..1024);
        if let Some(limiter) = &self.core.limiter {
            limiter.charge(head.key_id(), &model.id, prompt_tokens + wanted.min(cap));
        }
        let words = match self.core.settings.content {
            ContentMode::Echo => Words::echo(echo_text, offset),
            ContentMode::Filler => Words::filler(offset, self.core.settings.tokenizer),
        };
        Generation {
            tokens: wanted.min(cap),
            reasoning: 0,
            calls: Vec::new(),
            cached_tokens: 0,
            cache_written_tokens: 0,
            hit_cap: wanted >= cap,
            prompt_tokens,
            ttft: Duration::from_nanos((ttft_us * 1e3) as u64),
            itl,
            tokens_per_event: model.tokens_per_event,
            words,
            json: None,
        }
    }

    /// When a non-streaming reply goes out, counted from the request's arrival (with the
    /// capacity model: after its last token, or first with `ttft`); the error reply when the
    /// batch's queue is full.
    pub(crate) fn nonstream_delay(&mut self, gen: &Generation) -> Result<Duration, Reply> {
        let stall = Duration::from_millis(self.faults.stall_ms.unwrap_or(0));
        let mode = self.core.settings.nonstream_delay;
        if self.core.batch.is_some() && mode != NonstreamDelay::None {
            // `ttft`: the reply goes out with the first token, so that is all it decodes.
            let decode = if mode == NonstreamDelay::Ttft { 1 } else { gen.completion_tokens() };
            self.batch = Some(self.schedule(gen, decode)?);
            return Ok(stall);
        }
        Ok(stall
            + match mode {
                NonstreamDelay::None => Duration::ZERO,
                NonstreamDelay::Ttft => gen.ttft,
                NonstreamDelay::Stream => {
                    let mut rng = self.core.rng.borrow_mut();
                    let mut total = gen.ttft;
                    for e in 1..gen.events() {
                        total += gen.gap(&mut *rng, gen.step(e).tokens());
                    }
                    total
                }
            })
    }

    /// Wraps a renderer into a stream reply (with the capacity model, queued in the batch).
    pub(crate) fn stream(&mut self, render: Box<dyn Render>, gen: Generation) -> Reply {
        let batch = match self.core.batch {
            Some(_) => match self.schedule(&gen, gen.completion_tokens()) {
                Ok(ticket) => Some(ticket),
                Err(reply) => return reply,
            },
            None => None,
        };
        Reply::Stream(Box::new(StreamJob { render, gen, faults: std::mem::take(&mut self.faults), batch }))
    }

    /// Queues `gen` in the batch: its uncached prompt to prefill, `decode` tokens to
    /// generate. A full queue is the provider's "overloaded" (OpenAI 503, Anthropic 529), as a
    /// server shedding load answers — not a 429, which clients read as their own quota.
    fn schedule(&mut self, gen: &Generation, decode: u64) -> Result<Ticket, Reply> {
        let batch = self.core.batch.as_ref().expect("the capacity model is on");
        let prefill = gen.prompt_tokens.saturating_sub(gen.cached_tokens);
        match batch.submit(prefill, decode) {
            Some(ticket) => Ok(ticket),
            None => {
                let status = match self.head.family {
                    Family::OpenAi => 503,
                    Family::Anthropic => 529,
                };
                Err(self.error(status, status_message(status), None))
            }
        }
    }

    /// The preamble of every generating route: the body parsed as `T` (else 400 with the
    /// parser's message), `check` on it (else 400 with its message), the model looked up
    /// (else the provider's 404) and the faults drawn (a status fault is the reply).
    pub(crate) fn admit<'b, T: Requested<'b>>(
        &mut self,
        body: &'b [u8],
        check: impl FnOnce(&T) -> Result<(), String>,
    ) -> Result<(T, &'a Model), Reply> {
        let req = match T::scan(body) {
            Some(req) => req,
            None => parse::<T>(body).map_err(|e| self.error(400, &e, None))?,
        };
        check(&req).map_err(|e| self.error(400, &e, None))?;
        let model = self.model(req.model())?;
        self.rate_limit(model)?;
        self.apply_faults(model)?;
        Ok((req, model))
    }
}

/// A request's length controls.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub cap: u64,
    pub min_tokens: Option<u64>,
    pub ignore_eos: bool,
}

/// Writes one SSE event (`event:` line when named, one `data:` line) as one HTTP chunk.
pub(crate) fn emit<T: Serialize>(out: &mut Vec<u8>, scratch: &mut Vec<u8>, event: Option<&str>, data: &T) {
    scratch.clear();
    if let Some(name) = event {
        scratch.extend_from_slice(b"event: ");
        scratch.extend_from_slice(name.as_bytes());
        scratch.push(b'\n');
    }
    scratch.extend_from_slice(b"data: ");
    serde_json::to_writer(&mut *scratch, data).expect("serializing to a Vec cannot fail");
    scratch.extend_from_slice(b"\n\n");
    encode::chunk(out, scratch);
}

/// Writes a raw `data:` event (e.g. `[DONE]`) as one HTTP chunk.
pub(crate) fn emit_raw(out: &mut Vec<u8>, scratch: &mut Vec<u8>, data: &[u8]) {
    scratch.clear();
    scratch.extend_from_slice(b"data: ");
    scratch.extend_from_slice(data);
    scratch.extend_from_slice(b"\n\n");
    encode::chunk(out, scratch);
}

/// Writes the whole of `buf` and gives it back cleared.
pub(crate) async fn write_all<S: AsyncWriteRent>(stream: &mut S, buf: &mut Vec<u8>) -> io::Result<()> {
    let owned = std::mem::take(buf);
    let (res, mut owned) = stream.write_all(owned).await;
    owned.clear();
    *buf = owned;
    res.map(|_| ())
}
