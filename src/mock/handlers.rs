//! Request → reply. Checks shared by every route (method, auth, mock headers, model, faults)
//! happen here once; each API module renders its own bodies and stream events.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde::Serialize;

use super::config::{ContentMode, Model, NonstreamDelay};
use super::conn::{status_message, Head};
use super::dist::Dist;
use super::faults::FaultPlan;
use super::routes::Route;
use super::text::Words;
use super::{anthropic, openai, responses, Core};
use crate::wire::api_error::{write_error_body, Family};
use crate::wire::encode;

/// What to send back.
pub enum Reply {
    /// A complete response whose body is in the connection's `out` buffer, sent `delay` after
    /// the request arrived. `drop` closes the connection instead of answering.
    Full {
        status: u16,
        content_type: &'static str,
        delay: Duration,
        retry_after: bool,
        drop: bool,
        /// Methods for the `allow` header of a 405.
        allow: Option<&'static str>,
    },
    /// A paced SSE stream.
    Stream(Box<StreamJob>),
}

/// Everything the pacer needs to send one stream.
pub struct StreamJob {
    pub render: Renderer,
    pub gen: Generation,
    pub faults: FaultPlan,
}

/// The per-API event renderer of a stream.
pub enum Renderer {
    Chat(openai::ChatStream),
    Completion(openai::CompletionStream),
    Responses(Box<responses::ResponsesStream>),
    Anthropic(anthropic::MessagesStream),
}

impl Renderer {
    /// The content type of the stream.
    pub fn content_type(&self) -> &'static str {
        match self {
            Renderer::Chat(_) | Renderer::Completion(_) => "text/event-stream; charset=utf-8",
            _ => "text/event-stream",
        }
    }
    /// The request-id header name.
    pub fn family(&self) -> Family {
        match self {
            Renderer::Anthropic(_) => Family::Anthropic,
            _ => Family::OpenAi,
        }
    }
    /// Events sent with the head, before the first token.
    pub fn prelude(&mut self, gen: &Generation, out: &mut Vec<u8>) {
        match self {
            Renderer::Chat(s) => s.prelude(out),
            Renderer::Completion(_) => {}
            Renderer::Responses(s) => s.prelude(out),
            Renderer::Anthropic(s) => s.prelude(gen, out),
        }
    }
    /// One content event carrying `text`.
    pub fn content(&mut self, text: &str, out: &mut Vec<u8>) {
        match self {
            Renderer::Chat(s) => s.content(text, out),
            Renderer::Completion(s) => s.content(text, out),
            Renderer::Responses(s) => s.content(text, out),
            Renderer::Anthropic(s) => s.content(text, out),
        }
    }
    /// The closing events after the last token.
    pub fn finish(&mut self, gen: &Generation, out: &mut Vec<u8>) {
        match self {
            Renderer::Chat(s) => s.finish(gen, out),
            Renderer::Completion(s) => s.finish(gen, out),
            Renderer::Responses(s) => s.finish(gen, out),
            Renderer::Anthropic(s) => s.finish(gen, out),
        }
    }
    /// An in-stream error event.
    pub fn error(&mut self, out: &mut Vec<u8>) {
        match self {
            Renderer::Chat(s) => s.error(out),
            Renderer::Completion(s) => s.error(out),
            Renderer::Responses(s) => s.error(out),
            Renderer::Anthropic(s) => s.error(out),
        }
    }
}

/// The planned output of one request.
pub struct Generation {
    /// Completion tokens to emit.
    pub tokens: u64,
    /// True when the request's cap cut the output (finish reason `length` / `max_tokens`).
    pub hit_cap: bool,
    pub prompt_tokens: u64,
    pub ttft: Duration,
    pub itl: Dist,
    pub tokens_per_event: u32,
    pub words: Words,
}

impl Generation {
    /// Number of content events.
    pub fn events(&self) -> u64 {
        self.tokens.div_ceil(u64::from(self.tokens_per_event))
    }

    /// The gap before content event `e` (e ≥ 1): one ITL draw per token it carries.
    pub fn gap<R: Rng>(&self, rng: &mut R, tokens_in_event: u64) -> Duration {
        Duration::from_nanos((self.itl.sample(rng, 0) * 1e3) as u64 * tokens_in_event)
    }

    /// Tokens carried by content event `e`: `[from, to)`.
    pub fn event_tokens(&self, e: u64) -> (u64, u64) {
        let per = u64::from(self.tokens_per_event);
        (e * per, ((e + 1) * per).min(self.tokens))
    }

    /// The whole reply text.
    pub fn text(&self) -> String {
        self.words.text(0, self.tokens)
    }
}

/// One request's context while its reply is built.
pub struct Ctx<'a> {
    pub core: &'a Core,
    pub head: &'a Head,
    pub request_id: &'a str,
    pub out: &'a mut Vec<u8>,
    pub faults: FaultPlan,
}

/// Seconds since the epoch, for `created` fields.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl<'a> Ctx<'a> {
    /// An error reply in the route's provider shape.
    pub fn error(&mut self, status: u16, message: &str, code: Option<&str>) -> Reply {
        self.out.clear();
        write_error_body(self.out, self.head.family, status, message, code, self.request_id);
        let delay = Duration::from_millis(self.faults.first_byte_ms.unwrap_or(0));
        Reply::Full {
            status,
            content_type: "application/json",
            delay,
            retry_after: matches!(status, 429 | 503 | 529),
            drop: false,
            allow: None,
        }
    }

    /// A JSON reply rendered from `value`.
    pub fn json<T: Serialize>(&mut self, value: &T, delay: Duration) -> Reply {
        self.out.clear();
        serde_json::to_writer(&mut *self.out, value).expect("serializing to a Vec cannot fail");
        self.full(200, "application/json", delay)
    }

    /// A 200 reply whose body is already in `out`.
    pub fn full(&mut self, status: u16, content_type: &'static str, delay: Duration) -> Reply {
        let first_byte = Duration::from_millis(self.faults.first_byte_ms.unwrap_or(0));
        Reply::Full {
            status,
            content_type,
            delay: delay + first_byte,
            retry_after: false,
            drop: self.faults.drop_after_events.is_some(),
            allow: None,
        }
    }

    /// Looks a model up; unknown models get the provider's 404.
    pub fn model(&mut self, id: &str) -> Result<&'a Model, Reply> {
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

    /// Draws the model's fault rules and merges the header's plan (the header wins). A status
    /// fault becomes the reply.
    pub fn apply_faults(&mut self, model: &Model) -> Result<(), Reply> {
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
            self.core.shard().fault();
        }
        self.faults = plan;
        match self.faults.status {
            Some(status) => Err(self.error(status, status_message(status), None)),
            None => Ok(()),
        }
    }

    /// Plans a generation: output length (header, or the model's distribution), capped by
    /// the request; TTFT and ITL (headers, or the model's); the reply's words.
    pub fn plan(&self, model: &Model, limits: Limits, prompt_tokens: u64, echo_text: &str) -> Generation {
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
        let words = match self.core.settings.content {
            ContentMode::Echo => Words::echo(echo_text, offset),
            ContentMode::Filler => Words::Filler(offset),
        };
        Generation {
            tokens: wanted.min(cap),
            hit_cap: wanted >= cap,
            prompt_tokens,
            ttft: Duration::from_nanos((ttft_us * 1e3) as u64),
            itl,
            tokens_per_event: model.tokens_per_event,
            words,
        }
    }

    /// When a non-streaming reply goes out, counted from the request's arrival.
    pub fn nonstream_delay(&self, gen: &Generation) -> Duration {
        let stall = Duration::from_millis(self.faults.stall_ms.unwrap_or(0));
        stall
            + match self.core.settings.nonstream_delay {
                NonstreamDelay::None => Duration::ZERO,
                NonstreamDelay::Ttft => gen.ttft,
                NonstreamDelay::Stream => {
                    let mut rng = self.core.rng.borrow_mut();
                    let mut total = gen.ttft;
                    for e in 1..gen.events() {
                        let (a, b) = gen.event_tokens(e);
                        total += gen.gap(&mut *rng, b - a);
                    }
                    total
                }
            }
    }

    /// Wraps a renderer into a stream reply.
    pub fn stream(&mut self, render: Renderer, gen: Generation) -> Reply {
        Reply::Stream(Box::new(StreamJob { render, gen, faults: std::mem::take(&mut self.faults) }))
    }
}

/// A request's length controls.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub cap: u64,
    pub min_tokens: Option<u64>,
    pub ignore_eos: bool,
}

/// The answer when `max_concurrency` requests are already being served: 429 in the
/// provider's shape, with `retry-after`.
pub fn over_capacity(core: &Core, head: &Head, request_id: &str, out: &mut Vec<u8>) -> Reply {
    let mut ctx = Ctx { core, head, request_id, out, faults: FaultPlan::default() };
    let mut reply =
        ctx.error(429, "The server is at its concurrency limit; retry later.", Some("rate_limit_exceeded"));
    if let Reply::Full { retry_after, .. } = &mut reply {
        *retry_after = true;
    }
    reply
}

/// Answers one request.
pub fn handle(core: &Core, head: &Head, body: &[u8], request_id: &str, out: &mut Vec<u8>) -> Reply {
    let mut ctx = Ctx { core, head, request_id, out, faults: FaultPlan::default() };
    if head.route == Route::NotFound {
        return ctx.error(404, "Unknown request URL. Please check the URL and method.", Some("unknown_url"));
    }
    if !head.method_ok {
        let allowed = if head.route.is_get() { "GET, HEAD" } else { "POST" };
        let message = format!("Method not allowed; this route takes {allowed}.");
        let mut reply = ctx.error(405, &message, None);
        if let Reply::Full { allow, .. } = &mut reply {
            *allow = Some(allowed);
        }
        return reply;
    }
    if !head.authorized {
        return ctx.error(401, status_message(401), None);
    }
    if let Some(bad) = &head.bad_header {
        return ctx.error(400, bad, None);
    }
    if let Err(e) = &head.fault {
        return ctx.error(400, &format!("x-mock-fault: {e}"), None);
    }
    match head.route {
        Route::Health => {
            ctx.out.extend_from_slice(b"{\"status\":\"ok\"}");
            ctx.full(200, "application/json", Duration::ZERO)
        }
        Route::Metrics => {
            ctx.out.extend_from_slice(core.metrics.render().as_bytes());
            ctx.full(200, "text/plain; version=0.0.4; charset=utf-8", Duration::ZERO)
        }
        Route::Models | Route::Model => openai::models(&mut ctx),
        Route::ChatCompletions => openai::chat(&mut ctx, body),
        Route::Completions => openai::completions(&mut ctx, body),
        Route::Embeddings => openai::embeddings(&mut ctx, body),
        Route::Responses => responses::create(&mut ctx, body),
        Route::Messages => anthropic::messages(&mut ctx, body),
        Route::CountTokens => anthropic::count_tokens(&mut ctx, body),
        Route::NotFound => unreachable!("answered above"),
    }
}

/// Writes one SSE event (`event:` line when named, one `data:` line) as one HTTP chunk.
pub fn emit<T: Serialize>(out: &mut Vec<u8>, scratch: &mut Vec<u8>, event: Option<&str>, data: &T) {
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
pub fn emit_raw(out: &mut Vec<u8>, scratch: &mut Vec<u8>, data: &[u8]) {
    scratch.clear();
    scratch.extend_from_slice(b"data: ");
    scratch.extend_from_slice(data);
    scratch.extend_from_slice(b"\n\n");
    encode::chunk(out, scratch);
}
