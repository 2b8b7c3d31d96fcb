//! Anthropic routes: `POST /messages` (streaming and not) and `POST /messages/count_tokens`.
//! Every stream event has an `event:` line equal to its `type` (the SDK silently drops events
//! without one); `message_delta.usage.output_tokens` is cumulative.

use serde::Serialize;
use serde_json::json;

use super::kit::{emit, Call, Generation, Limits, Render, Reply};
use super::request::MessagesRequest;
use super::{agentic, cache, counted};
use crate::wire::api_error::{write_stream_error, Family};

/// The signature every mock thinking block carries (base64, as real ones are).
const SIGNATURE: &str = "bGxtbG9hZC1tb2NrLXRoaW5raW5nLXNpZ25hdHVyZQ==";

fn stop_reason(gen: &Generation) -> &'static str {
    if !gen.calls.is_empty() {
        "tool_use"
    } else if gen.hit_cap {
        "max_tokens"
    } else {
        "end_turn"
    }
}

/// Anthropic's usage: `input_tokens` counts only what was neither read from nor written to
/// the cache (the three add up to the prompt).
fn usage(gen: &Generation, output_tokens: u64) -> serde_json::Value {
    let input = gen.prompt_tokens - gen.cached_tokens - gen.cache_written_tokens;
    json!({"input_tokens": input, "cache_creation_input_tokens": gen.cache_written_tokens,
           "cache_read_input_tokens": gen.cached_tokens, "output_tokens": output_tokens})
}

/// `POST /messages`.
pub(crate) fn messages(ctx: &mut Call<'_>, body: &[u8]) -> Reply {
    let check = |r: &MessagesRequest| match r.max_tokens {
        Some(0) => Err("max_tokens: must be greater than or equal to 1".to_string()),
        Some(_) => Ok(()),
        None => Err("max_tokens: Field required".to_string()),
    };
    let (req, model) = match ctx.admit(body, check) {
        Ok(admitted) => admitted,
        Err(reply) => return reply,
    };
    let limits = Limits { cap: req.max_tokens.unwrap_or(1), min_tokens: None, ignore_eos: false };
    let input_tokens = ctx.prompt_tokens(req.input_tokens(), |t| counted::anthropic(t, body));
    let mut gen = ctx.plan(model, limits, input_tokens, &req.messages.last_user_text());
    // Thinking only when the request enables it, within its budget.
    if let Some(budget) = req.thinking.as_ref().and_then(|t| t.budget()) {
        let wanted = agentic::reasoning_wanted(ctx.core, ctx.head, model).min(budget);
        agentic::add_reasoning(&mut gen, wanted, limits.cap);
    }
    if let Some(tools) = &req.tools {
        agentic::add_calls(&mut gen, ctx, tools, req.messages.last, "toolu_");
    }
    cache::apply(ctx, model, &mut gen, body);
    let id = format!("msg_{}", &ctx.request_id[4..]);
    if req.stream.unwrap_or(false) {
        let stream = MessagesStream {
            id,
            model: req.model.into_owned(),
            open: None,
            next_index: 0,
            scratch: Vec::with_capacity(512),
        };
        return ctx.stream(Box::new(stream), gen);
    }
    let delay = match ctx.nonstream_delay(&gen) {
        Ok(d) => d,
        Err(reply) => return reply,
    };
    ctx.core.counters().generation(&gen);
    let mut content = Vec::new();
    if gen.reasoning > 0 {
        content.push(json!({"type": "thinking", "thinking": gen.reasoning_text(), "signature": SIGNATURE}));
    }
    if gen.tokens > 0 || (gen.reasoning == 0 && gen.calls.is_empty()) {
        content.push(json!({"type": "text", "text": gen.text()}));
    }
    for call in &gen.calls {
        let input: serde_json::Value = serde_json::from_str(&call.arguments).expect("own JSON parses");
        content.push(json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input}));
    }
    let body = json!({
        "id": id, "type": "message", "role": "assistant", "model": req.model,
        "content": content,
        "stop_reason": stop_reason(&gen), "stop_sequence": null,
        "usage": usage(&gen, gen.completion_tokens()),
    });
    ctx.json(&body, delay)
}

/// `POST /messages/count_tokens`: the same input count `/messages` reports.
pub(crate) fn count_tokens(ctx: &mut Call<'_>, body: &[u8]) -> Reply {
    let req = match ctx.admit(body, |_: &MessagesRequest| Ok(())) {
        Ok((req, _)) => req,
        Err(reply) => return reply,
    };
    let input_tokens = ctx.prompt_tokens(req.input_tokens(), |t| counted::anthropic(t, body));
    ctx.json(&json!({"input_tokens": input_tokens}), std::time::Duration::ZERO)
}

#[derive(Serialize)]
struct TextDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: u32,
    delta: TextDeltaInner<'a>,
}

#[derive(Serialize)]
struct TextDeltaInner<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    partial_json: Option<&'a str>,
}

/// The kind of the content block being streamed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    Thinking,
    Text,
    ToolUse,
}

/// Renders a Messages stream: blocks in order (thinking, text, tool_use…), each opened by
/// the first event that needs it and closed before the next opens.
pub(crate) struct MessagesStream {
    id: String,
    model: String,
    /// The open block and its index.
    open: Option<(Block, u32)>,
    next_index: u32,
    scratch: Vec<u8>,
}

impl MessagesStream {
    fn start_block(&mut self, out: &mut Vec<u8>, kind: Block, content_block: serde_json::Value) {
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((kind, index));
        let block = json!({"type": "content_block_start", "index": index, "content_block": content_block});
        emit(out, &mut self.scratch, Some("content_block_start"), &block);
    }

    /// Closes the open block (a thinking block gets its signature first).
    fn stop_block(&mut self, out: &mut Vec<u8>) {
        let Some((kind, index)) = self.open.take() else { return };
        if kind == Block::Thinking {
            let sig = json!({"type": "content_block_delta", "index": index,
                             "delta": {"type": "signature_delta", "signature": SIGNATURE}});
            emit(out, &mut self.scratch, Some("content_block_delta"), &sig);
        }
        let stop = json!({"type": "content_block_stop", "index": index});
        emit(out, &mut self.scratch, Some("content_block_stop"), &stop);
    }

    /// The index of the open block of `kind`, opening one (closing another) if needed.
    fn ensure(&mut self, out: &mut Vec<u8>, kind: Block) -> u32 {
        match self.open {
            Some((k, index)) if k == kind => index,
            _ => {
                self.stop_block(out);
                let block = match kind {
                    Block::Thinking => json!({"type": "thinking", "thinking": "", "signature": ""}),
                    _ => json!({"type": "text", "text": ""}),
                };
                self.start_block(out, kind, block);
                self.next_index - 1
            }
        }
    }

    fn delta(&mut self, out: &mut Vec<u8>, index: u32, delta: TextDeltaInner<'_>) {
        let delta = TextDelta { kind: "content_block_delta", index, delta };
        emit(out, &mut self.scratch, Some("content_block_delta"), &delta);
    }
}

const NO_DELTA: TextDeltaInner<'static> =
    TextDeltaInner { kind: "", text: None, thinking: None, partial_json: None };

impl Render for MessagesStream {
    fn family(&self) -> Family {
        Family::Anthropic
    }

    fn prelude(&mut self, gen: &Generation, out: &mut Vec<u8>) {
        let start = json!({"type": "message_start", "message": {
            "id": self.id, "type": "message", "role": "assistant", "content": [], "model": self.model,
            "stop_reason": null, "stop_sequence": null, "usage": usage(gen, 1)}});
        emit(out, &mut self.scratch, Some("message_start"), &start);
        // The first block opens with the head; a reply of tool calls only opens at its first.
        if gen.reasoning > 0 {
            self.ensure(out, Block::Thinking);
        } else if gen.tokens > 0 || gen.calls.is_empty() {
            self.ensure(out, Block::Text);
        }
        emit(out, &mut self.scratch, Some("ping"), &json!({"type": "ping"}));
    }

    fn content(&mut self, text: &str, out: &mut Vec<u8>) {
        let index = self.ensure(out, Block::Text);
        self.delta(out, index, TextDeltaInner { kind: "text_delta", text: Some(text), ..NO_DELTA });
    }

    fn reasoning(&mut self, text: &str, out: &mut Vec<u8>) {
        let index = self.ensure(out, Block::Thinking);
        self.delta(out, index, TextDeltaInner { kind: "thinking_delta", thinking: Some(text), ..NO_DELTA });
    }

    fn call_fragment(&mut self, gen: &Generation, call: usize, frag: usize, out: &mut Vec<u8>) {
        let c = &gen.calls[call];
        if frag == 0 {
            self.stop_block(out);
            let block = json!({"type": "tool_use", "id": c.id, "name": c.name, "input": {}});
            self.start_block(out, Block::ToolUse, block);
        }
        let index = self.next_index - 1;
        let delta =
            TextDeltaInner { kind: "input_json_delta", partial_json: Some(c.fragment(frag)), ..NO_DELTA };
        self.delta(out, index, delta);
    }

    fn finish(&mut self, gen: &Generation, out: &mut Vec<u8>) {
        self.stop_block(out);
        let delta = json!({"type": "message_delta",
                           "delta": {"stop_reason": stop_reason(gen), "stop_sequence": null},
                           "usage": usage(gen, gen.completion_tokens())});
        emit(out, &mut self.scratch, Some("message_delta"), &delta);
        emit(out, &mut self.scratch, Some("message_stop"), &json!({"type": "message_stop"}));
    }

    fn error(&mut self, out: &mut Vec<u8>) {
        let mut payload = Vec::with_capacity(128);
        write_stream_error(&mut payload, Family::Anthropic, 529, "Overloaded");
        let value: serde_json::Value = serde_json::from_slice(&payload).expect("own JSON parses");
        emit(out, &mut self.scratch, Some("error"), &value);
    }
}
