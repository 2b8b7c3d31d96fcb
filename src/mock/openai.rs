//! OpenAI routes: models, chat completions, completions and embeddings, streaming and not.
//! Shapes follow the official SDK's types (openai 3.x): every required key present, `usage`
//! on the final chunk only with `stream_options.include_usage`, `[DONE]` last.

use std::time::Duration;

use base64::Engine;
use serde::Serialize;
use serde_json::json;

use super::json;
use super::kit::{emit, emit_raw, unix_now, Call, Generation, Limits, Render, Reply};
use super::request::{ChatRequest, CompletionRequest, EmbeddingRequest};
use super::{agentic, cache, counted};
use crate::wire::api_error::{write_stream_error, Family};
use crate::wire::encode;

/// Default cap for chat when the request gives none.
const CHAT_DEFAULT_CAP: u64 = 4096;
/// OpenAI's default `max_tokens` for legacy completions.
const COMPLETIONS_DEFAULT_CAP: u64 = 16;
/// A fixed `created` for listed models.
const MODEL_CREATED: u64 = 1_700_000_000;

/// `GET /models` and `GET /models/{id}`, in the OpenAI or Anthropic shape.
pub(crate) fn models(ctx: &mut Call<'_>) -> Reply {
    let settings = &ctx.core.settings;
    let anthropic = ctx.head.family == Family::Anthropic;
    let entry = |id: &str| {
        if anthropic {
            json!({"type": "model", "id": id, "display_name": id,
                   "created_at": "2025-01-01T00:00:00Z", "lifecycle": "active"})
        } else {
            json!({"id": id, "object": "model", "created": MODEL_CREATED, "owned_by": "llmload-mock"})
        }
    };
    if ctx.head.route == super::routes::Route::Model {
        let id = ctx.head.model_id.clone();
        return match ctx.model(&id) {
            Ok(_) => ctx.json(&entry(&id), Duration::ZERO),
            Err(reply) => reply,
        };
    }
    let data: Vec<_> = settings.models.iter().map(|m| entry(&m.id)).collect();
    let body = if anthropic {
        let first = settings.models.first().map(|m| m.id.as_str());
        let last = settings.models.last().map(|m| m.id.as_str());
        json!({"data": data, "has_more": false, "first_id": first, "last_id": last})
    } else {
        json!({"object": "list", "data": data})
    };
    ctx.json(&body, Duration::ZERO)
}

/// The chat `usage` object (also the final chunk's with `include_usage`).
fn write_usage(out: &mut Vec<u8>, gen: &Generation) {
    out.extend_from_slice(b"{\"prompt_tokens\":");
    json::uint(out, gen.prompt_tokens);
    out.extend_from_slice(b",\"completion_tokens\":");
    json::uint(out, gen.completion_tokens());
    out.extend_from_slice(b",\"total_tokens\":");
    json::uint(out, gen.prompt_tokens + gen.completion_tokens());
    out.extend_from_slice(b",\"prompt_tokens_details\":{\"cached_tokens\":");
    json::uint(out, gen.cached_tokens);
    out.extend_from_slice(b",\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":");
    json::uint(out, gen.reasoning);
    out.extend_from_slice(
        b",\"audio_tokens\":0,\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}",
    );
}

fn finish_reason(gen: &Generation) -> &'static str {
    if !gen.calls.is_empty() {
        "tool_calls"
    } else if gen.hit_cap {
        "length"
    } else {
        "stop"
    }
}

/// `n` other than 1 is refused (the mock generates one choice), and so is a cap of 0.
fn check_n_and_cap(n: Option<u64>, cap: Option<u64>) -> Result<(), String> {
    match (n, cap) {
        (None | Some(1), Some(0)) => Err("max_tokens: must be at least 1".into()),
        (None | Some(1), _) => Ok(()),
        (Some(n), _) => Err(format!("n: only n=1 is supported by the mock, got {n}")),
    }
}

/// `POST /chat/completions`.
pub(crate) fn chat(ctx: &mut Call<'_>, body: &[u8]) -> Reply {
    let check = |r: &ChatRequest| check_n_and_cap(r.n, r.max_completion_tokens.or(r.max_tokens));
    let (req, model) = match ctx.admit(body, check) {
        Ok(admitted) => admitted,
        Err(reply) => return reply,
    };
    let cap = req.max_completion_tokens.or(req.max_tokens);
    let limits = Limits {
        cap: cap.unwrap_or(CHAT_DEFAULT_CAP),
        min_tokens: req.min_tokens,
        ignore_eos: req.ignore_eos.unwrap_or(false),
    };
    let prompt_tokens = ctx.prompt_tokens(req.prompt_tokens(), |t| counted::chat(t, body));
    let mut gen = ctx.plan(model, limits, prompt_tokens, &req.messages.last_user_text());
    agentic::add_reasoning(&mut gen, agentic::reasoning_wanted(ctx.core, ctx.head, model), limits.cap);
    if let Some(tools) = &req.tools {
        agentic::add_calls(&mut gen, ctx, tools, req.messages.last, "call_");
    }
    gen.shape_json(req.response_format.as_ref().is_some_and(|f| f.wants_json()), &ctx.faults);
    cache::apply(ctx, model, &mut gen, body);
    if req.stream.unwrap_or(false) {
        let include_usage = req.stream_options.as_ref().and_then(|o| o.include_usage).unwrap_or(false);
        let stream = ChatStream::new(&ctx.request_id[4..], &req.model, unix_now(), include_usage);
        return ctx.stream(Box::new(stream), gen);
    }
    let delay = match ctx.nonstream_delay(&gen) {
        Ok(d) => d,
        Err(reply) => return reply,
    };
    ctx.core.counters().generation(&gen);
    ctx.out.clear();
    write_chat_completion(ctx.out, &ctx.request_id[4..], unix_now(), &req.model, &gen);
    ctx.full(200, "application/json", delay)
}

/// A non-streaming chat completion (the mock's hottest body), `chatcmpl-<id_hex>`.
fn write_chat_completion(out: &mut Vec<u8>, id_hex: &str, created: u64, model: &str, gen: &Generation) {
    out.extend_from_slice(b"{\"id\":\"chatcmpl-");
    out.extend_from_slice(id_hex.as_bytes()); // hex: nothing to escape
    out.extend_from_slice(b"\",\"object\":\"chat.completion\",\"created\":");
    json::uint(out, created);
    out.extend_from_slice(b",\"model\":");
    json::string(out, model);
    out.extend_from_slice(b",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
    // No answer (tool calls, or reasoning used the budget): `null`, as providers send.
    if gen.tokens == 0 {
        out.extend_from_slice(b"null");
    } else {
        out.push(b'"');
        gen.write_answer_json(out);
        out.push(b'"');
    }
    if gen.reasoning > 0 {
        out.extend_from_slice(b",\"reasoning_content\":\"");
        gen.words.write_json(0, gen.reasoning, out);
        out.push(b'"');
    }
    out.extend_from_slice(b",\"refusal\":null,\"annotations\":[]");
    if !gen.calls.is_empty() {
        out.extend_from_slice(b",\"tool_calls\":[");
        for (i, call) in gen.calls.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"id\":");
            json::string(out, &call.id);
            out.extend_from_slice(b",\"type\":\"function\",\"function\":{\"name\":");
            json::string(out, &call.name);
            out.extend_from_slice(b",\"arguments\":");
            json::string(out, &call.arguments);
            out.extend_from_slice(b"}}");
        }
        out.push(b']');
    }
    out.extend_from_slice(b"},\"logprobs\":null,\"finish_reason\":\"");
    out.extend_from_slice(finish_reason(gen).as_bytes());
    out.extend_from_slice(b"\"}],\"usage\":");
    write_usage(out, gen);
    out.extend_from_slice(b",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_llmload_mock\"}");
}

/// Renders a chat completion stream: every chunk is `head`, its choices, then `tail`.
pub(crate) struct ChatStream {
    /// `data: {"id":…,"object":…,"created":…,"model":…,"system_fingerprint":…,"choices":[`
    head: Vec<u8>,
    /// Every chunk carries `"usage":null`, and a last one the usage.
    include_usage: bool,
    scratch: Vec<u8>,
}

impl ChatStream {
    pub(crate) fn new(id_hex: &str, model: &str, created: u64, include_usage: bool) -> ChatStream {
        let mut head = Vec::with_capacity(160 + model.len());
        head.extend_from_slice(b"data: {\"id\":\"chatcmpl-");
        json::escaped(&mut head, id_hex);
        head.extend_from_slice(b"\",\"object\":\"chat.completion.chunk\",\"created\":");
        json::uint(&mut head, created);
        head.extend_from_slice(b",\"model\":");
        json::string(&mut head, model);
        head.extend_from_slice(b",\"system_fingerprint\":\"fp_llmload_mock\",\"choices\":[");
        ChatStream { head, include_usage, scratch: Vec::with_capacity(512) }
    }

    /// One chunk with one choice: `delta` (the delta object's inside, JSON) and `finish`.
    fn chunk(&mut self, out: &mut Vec<u8>, delta: &[u8], text: Option<&str>, finish: Option<&str>) {
        let s = &mut self.scratch;
        s.clear();
        s.extend_from_slice(&self.head);
        s.extend_from_slice(b"{\"index\":0,\"delta\":{");
        s.extend_from_slice(delta);
        if let Some(text) = text {
            json::escaped(s, text);
            s.push(b'"');
        }
        s.extend_from_slice(b"},\"logprobs\":null,\"finish_reason\":");
        match finish {
            Some(reason) => json::string(s, reason),
            None => s.extend_from_slice(b"null"),
        }
        s.push(b'}');
        s.push(b']');
        if self.include_usage {
            s.extend_from_slice(b",\"usage\":null");
        }
        s.extend_from_slice(b"}\n\n");
        encode::chunk(out, s);
    }
}

impl Render for ChatStream {
    fn content_type(&self) -> &'static str {
        "text/event-stream; charset=utf-8"
    }

    fn prelude(&mut self, _gen: &Generation, out: &mut Vec<u8>) {
        self.chunk(out, b"\"role\":\"assistant\",\"content\":\"\"", None, None);
    }

    fn content(&mut self, text: &str, out: &mut Vec<u8>) {
        self.chunk(out, b"\"content\":\"", Some(text), None);
    }

    fn reasoning(&mut self, text: &str, out: &mut Vec<u8>) {
        self.chunk(out, b"\"reasoning_content\":\"", Some(text), None);
    }

    /// The first fragment of a call opens it (index, id, type, name, empty arguments), as
    /// OpenAI streams them; every fragment then carries only its index and arguments.
    fn call_fragment(&mut self, gen: &Generation, call: usize, frag: usize, out: &mut Vec<u8>) {
        let c = &gen.calls[call];
        let mut delta = Vec::with_capacity(96 + c.name.len());
        if frag == 0 {
            delta.extend_from_slice(b"\"tool_calls\":[{\"index\":");
            json::uint(&mut delta, call as u64);
            delta.extend_from_slice(b",\"id\":");
            json::string(&mut delta, &c.id);
            delta.extend_from_slice(b",\"type\":\"function\",\"function\":{\"name\":");
            json::string(&mut delta, &c.name);
            delta.extend_from_slice(b",\"arguments\":\"\"}}]");
            self.chunk(out, &delta, None, None);
            delta.clear();
        }
        delta.extend_from_slice(b"\"tool_calls\":[{\"index\":");
        json::uint(&mut delta, call as u64);
        delta.extend_from_slice(b",\"function\":{\"arguments\":");
        json::string(&mut delta, c.fragment(frag));
        delta.extend_from_slice(b"}}]");
        self.chunk(out, &delta, None, None);
    }

    fn finish(&mut self, gen: &Generation, out: &mut Vec<u8>) {
        self.chunk(out, b"", None, Some(finish_reason(gen)));
        if self.include_usage {
            let s = &mut self.scratch;
            s.clear();
            s.extend_from_slice(&self.head);
            s.extend_from_slice(b"],\"usage\":");
            write_usage(s, gen);
            s.extend_from_slice(b"}\n\n");
            encode::chunk(out, s);
        }
        emit_raw(out, &mut self.scratch, b"[DONE]");
    }

    fn error(&mut self, out: &mut Vec<u8>) {
        stream_error(out, &mut self.scratch);
    }
}

/// The OpenAI mid-stream error frame: `data: {"error":{…}}`.
fn stream_error(out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
    let mut payload = Vec::with_capacity(160);
    write_stream_error(
        &mut payload,
        Family::OpenAi,
        500,
        "The server had an error while processing your request.",
    );
    emit_raw(out, scratch, &payload);
}

/// `POST /completions`.
pub(crate) fn completions(ctx: &mut Call<'_>, body: &[u8]) -> Reply {
    let (req, model) = match ctx.admit(body, |r: &CompletionRequest| check_n_and_cap(r.n, r.max_tokens)) {
        Ok(admitted) => admitted,
        Err(reply) => return reply,
    };
    let limits = Limits {
        cap: req.max_tokens.unwrap_or(COMPLETIONS_DEFAULT_CAP),
        min_tokens: req.min_tokens,
        ignore_eos: req.ignore_eos.unwrap_or(false),
    };
    let prompt_tokens = ctx.prompt_tokens(req.prompt.tokens(), |t| Some(counted::prompt(t, &req.prompt)));
    let gen = ctx.plan(model, limits, prompt_tokens, req.prompt.last_text());
    let id = format!("cmpl-{}", &ctx.request_id[4..]);
    if req.stream.unwrap_or(false) {
        let include_usage = req.stream_options.as_ref().and_then(|o| o.include_usage).unwrap_or(false);
        let stream = CompletionStream {
            id,
            model: req.model.into_owned(),
            created: unix_now(),
            include_usage,
            scratch: Vec::with_capacity(512),
        };
        return ctx.stream(Box::new(stream), gen);
    }
    let delay = match ctx.nonstream_delay(&gen) {
        Ok(d) => d,
        Err(reply) => return reply,
    };
    ctx.core.counters().generation(&gen);
    let body = json!({
        "id": id, "object": "text_completion", "created": unix_now(), "model": req.model,
        "choices": [{"index": 0, "text": gen.text(), "logprobs": null, "finish_reason": finish_reason(&gen)}],
        "usage": {"prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.tokens,
                  "total_tokens": gen.prompt_tokens + gen.tokens},
        "system_fingerprint": "fp_llmload_mock",
    });
    ctx.json(&body, delay)
}

#[derive(Serialize)]
struct CompletionChunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: &'a [TextChoice<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<serde_json::Value>>,
}

#[derive(Serialize)]
struct TextChoice<'a> {
    index: u32,
    text: &'a str,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

/// Renders a legacy completion stream.
pub(crate) struct CompletionStream {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    scratch: Vec<u8>,
}

impl CompletionStream {
    fn chunk(
        &mut self,
        out: &mut Vec<u8>,
        choices: &[TextChoice<'_>],
        usage: Option<Option<serde_json::Value>>,
    ) {
        let chunk = CompletionChunk {
            id: &self.id,
            object: "text_completion",
            created: self.created,
            model: &self.model,
            system_fingerprint: "fp_llmload_mock",
            choices,
            usage,
        };
        emit(out, &mut self.scratch, None, &chunk);
    }
}

impl Render for CompletionStream {
    fn content_type(&self) -> &'static str {
        "text/event-stream; charset=utf-8"
    }

    fn content(&mut self, text: &str, out: &mut Vec<u8>) {
        let usage = self.include_usage.then_some(None);
        self.chunk(out, &[TextChoice { index: 0, text, logprobs: None, finish_reason: None }], usage);
    }

    fn finish(&mut self, gen: &Generation, out: &mut Vec<u8>) {
        let usage = self.include_usage.then_some(None);
        let finish = Some(finish_reason(gen));
        self.chunk(out, &[TextChoice { index: 0, text: "", logprobs: None, finish_reason: finish }], usage);
        if self.include_usage {
            let usage = json!({"prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.tokens,
                               "total_tokens": gen.prompt_tokens + gen.tokens});
            self.chunk(out, &[], Some(Some(usage)));
        }
        emit_raw(out, &mut self.scratch, b"[DONE]");
    }

    fn error(&mut self, out: &mut Vec<u8>) {
        stream_error(out, &mut self.scratch);
    }
}

/// `POST /embeddings`: a deterministic unit vector per input, as floats or base64 f32 LE.
pub(crate) fn embeddings(ctx: &mut Call<'_>, body: &[u8]) -> Reply {
    let (req, model) = match ctx.admit(body, |_: &EmbeddingRequest| Ok(())) {
        Ok(admitted) => admitted,
        Err(reply) => return reply,
    };
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return ctx.error(400, &format!("encoding_format: {other:?} is not one of float, base64"), None)
        }
    };
    let dims = match req.dimensions {
        None => model.embedding_dimensions,
        Some(d @ 1..=65_536) => d,
        Some(d) => return ctx.error(400, &format!("dimensions: {d} is not between 1 and 65536"), None),
    };
    let items = req.input.items();
    let data: Vec<_> = items
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let v = unit_vector(text.as_bytes(), dims as usize);
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    let tokens = ctx.prompt_tokens(req.input.tokens(), |t| Some(counted::prompt(t, &req.input)));
    let body = json!({"object": "list", "model": req.model, "data": data,
                      "usage": {"prompt_tokens": tokens, "total_tokens": tokens}});
    let delay = match ctx.head.ttft_ms {
        Some(ms) => Duration::from_micros((ms * 1e3) as u64),
        None => Duration::ZERO,
    };
    ctx.json(&body, delay)
}

/// A deterministic unit vector seeded by `text` (FNV-1a, then xorshift).
fn unit_vector(text: &[u8], dims: usize) -> Vec<f32> {
    let mut state =
        text.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let mut v: Vec<f32> = (0..dims)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_vectors_are_deterministic_and_normalised() {
        let a = unit_vector(b"hello", 64);
        assert_eq!(a, unit_vector(b"hello", 64));
        assert_ne!(a, unit_vector(b"hellp", 64));
        let norm: f32 = a.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-4);
    }
}

#[cfg(test)]
#[path = "openai_tests.rs"]
mod template_tests;
