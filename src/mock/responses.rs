//! OpenAI Responses API: `POST /responses`, streaming (named events with a strictly
//! increasing `sequence_number`, no `[DONE]`) and not.

use serde::Serialize;
use serde_json::{json, Value};

use super::kit::{emit, unix_now, Call, Generation, Limits, Render, Reply};
use super::request::ResponsesRequest;
use super::tools::ToolCall;
use super::{agentic, cache, counted};

const DEFAULT_CAP: u64 = 4096;

fn usage(gen: &Generation) -> Value {
    json!({"input_tokens": gen.prompt_tokens,
           "input_tokens_details": {"cached_tokens": gen.cached_tokens, "cache_write_tokens": 0},
           "output_tokens": gen.completion_tokens(),
           "output_tokens_details": {"reasoning_tokens": gen.reasoning},
           "total_tokens": gen.prompt_tokens + gen.completion_tokens()})
}

/// The message output item, with its text so far.
fn message_item(item_id: &str, status: &str, text: Option<&str>) -> Value {
    let content = match text {
        Some(t) => json!([{"type": "output_text", "text": t, "annotations": [], "logprobs": []}]),
        None => json!([]),
    };
    json!({"id": item_id, "type": "message", "role": "assistant", "status": status, "content": content})
}

/// The reasoning output item: its summary (the reasoning text) once complete.
fn reasoning_item(item_id: &str, text: Option<&str>) -> Value {
    let summary = match text {
        Some(t) => json!([{"type": "summary_text", "text": t}]),
        None => json!([]),
    };
    json!({"id": item_id, "type": "reasoning", "summary": summary})
}

/// A function_call output item (`fc_…`, with its `call_…` id).
fn call_item(call: &ToolCall, arguments: &str, status: &str) -> Value {
    json!({"id": call.id.replacen("call_", "fc_", 1), "type": "function_call", "status": status,
           "call_id": call.id, "name": call.name, "arguments": arguments})
}

/// The whole response object in a given state.
fn response_object(
    id: &str,
    model: &str,
    created: u64,
    status: &str,
    output: Value,
    gen: Option<&Generation>,
) -> Value {
    let incomplete = matches!(gen, Some(g) if g.hit_cap);
    json!({
        "id": id, "object": "response", "created_at": created, "status": status, "model": model,
        "output": output, "parallel_tool_calls": true, "tool_choice": "auto", "tools": [],
        "error": null,
        "incomplete_details": if incomplete { json!({"reason": "max_output_tokens"}) } else { Value::Null },
        "usage": gen.map_or(Value::Null, usage),
    })
}

fn final_status(gen: &Generation) -> &'static str {
    if gen.hit_cap {
        "incomplete"
    } else {
        "completed"
    }
}

/// `POST /responses`.
pub(crate) fn create(ctx: &mut Call<'_>, body: &[u8]) -> Reply {
    let check = |r: &ResponsesRequest| match r.max_output_tokens {
        Some(0) => Err("max_output_tokens: must be at least 1".to_string()),
        _ => Ok(()),
    };
    let (req, model) = match ctx.admit(body, check) {
        Ok(admitted) => admitted,
        Err(reply) => return reply,
    };
    let limits =
        Limits { cap: req.max_output_tokens.unwrap_or(DEFAULT_CAP), min_tokens: None, ignore_eos: false };
    let prompt_tokens = ctx.prompt_tokens(req.prompt_tokens(), |t| Some(counted::responses(t, &req)));
    let mut gen = ctx.plan(model, limits, prompt_tokens, &req.last_user_text());
    agentic::add_reasoning(&mut gen, agentic::reasoning_wanted(ctx.core, ctx.head, model), limits.cap);
    if let Some(tools) = &req.tools {
        agentic::add_calls(&mut gen, ctx, tools, req.last_turn(), "call_");
    }
    let format = req.text.as_ref().and_then(|t| t.format.as_ref());
    gen.shape_json(format.is_some_and(|f| f.wants_json()), &ctx.faults);
    cache::apply(ctx, model, &mut gen, body);
    let suffix = &ctx.request_id[4..];
    let id = format!("resp_{suffix}");
    let item_id = format!("msg_{suffix}");
    let reasoning_id = format!("rs_{suffix}");
    let created = unix_now();
    if req.stream.unwrap_or(false) {
        let stream = ResponsesStream {
            id,
            item_id,
            model: req.model.into_owned(),
            created,
            sequence: 0,
            reasoning_id,
            phase: Phase::Start,
            msg_index: u32::from(gen.reasoning > 0),
            reasoning_text: String::new(),
            scratch: Vec::with_capacity(512),
        };
        return ctx.stream(Box::new(stream), gen);
    }
    let delay = match ctx.nonstream_delay(&gen) {
        Ok(d) => d,
        Err(reply) => return reply,
    };
    ctx.core.counters().generation(&gen);
    let mut output = Vec::new();
    if gen.reasoning > 0 {
        output.push(reasoning_item(&reasoning_id, Some(&gen.reasoning_text())));
    }
    if gen.tokens > 0 || (gen.reasoning == 0 && gen.calls.is_empty()) {
        output.push(message_item(&item_id, final_status(&gen), Some(&gen.text())));
    }
    output.extend(gen.calls.iter().map(|c| call_item(c, &c.arguments, "completed")));
    let output = Value::Array(output);
    let body = response_object(&id, &req.model, created, final_status(&gen), output, Some(&gen));
    ctx.json(&body, delay)
}

#[derive(Serialize)]
struct TextDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    item_id: &'a str,
    output_index: u32,
    content_index: u32,
    delta: &'a str,
    logprobs: [(); 0],
    sequence_number: u64,
}

/// Where a Responses stream is: before any item, in the reasoning item, in the message.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Start,
    Reasoning,
    Message,
    Calls,
}

/// Renders a Responses stream.
pub(crate) struct ResponsesStream {
    id: String,
    item_id: String,
    model: String,
    created: u64,
    sequence: u64,
    reasoning_id: String,
    phase: Phase,
    /// The message item's output index (1 after a reasoning item).
    msg_index: u32,
    /// The reasoning sent so far (the summary's text when it closes).
    reasoning_text: String,
    scratch: Vec<u8>,
}

impl ResponsesStream {
    /// Emits a named event, stamping `type` and the next `sequence_number`.
    fn event(&mut self, out: &mut Vec<u8>, kind: &str, mut body: Value) {
        body["type"] = json!(kind);
        body["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        emit(out, &mut self.scratch, Some(kind), &body);
    }

    fn open_reasoning(&mut self, out: &mut Vec<u8>) {
        self.phase = Phase::Reasoning;
        let item = reasoning_item(&self.reasoning_id, None);
        self.event(out, "response.output_item.added", json!({"output_index": 0, "item": item}));
        let part = json!({"item_id": self.reasoning_id, "output_index": 0, "summary_index": 0,
                          "part": {"type": "summary_text", "text": ""}});
        self.event(out, "response.reasoning_summary_part.added", part);
    }

    fn close_reasoning(&mut self, out: &mut Vec<u8>) {
        let text = std::mem::take(&mut self.reasoning_text);
        let ids = json!({"item_id": self.reasoning_id, "output_index": 0, "summary_index": 0});
        let mut done = ids.clone();
        done["text"] = json!(text);
        self.event(out, "response.reasoning_summary_text.done", done);
        let mut part = ids;
        part["part"] = json!({"type": "summary_text", "text": text});
        self.event(out, "response.reasoning_summary_part.done", part);
        let item = reasoning_item(&self.reasoning_id, Some(&text));
        self.event(out, "response.output_item.done", json!({"output_index": 0, "item": item}));
        self.reasoning_text = text;
    }

    fn open_message(&mut self, out: &mut Vec<u8>) {
        if self.phase == Phase::Reasoning {
            self.close_reasoning(out);
        }
        self.phase = Phase::Message;
        let index = self.msg_index;
        let item = message_item(&self.item_id, "in_progress", None);
        self.event(out, "response.output_item.added", json!({"output_index": index, "item": item}));
        let part = json!({"type": "output_text", "text": "", "annotations": [], "logprobs": []});
        let added = json!({"item_id": self.item_id, "output_index": index, "content_index": 0, "part": part});
        self.event(out, "response.content_part.added", added);
    }
}

impl Render for ResponsesStream {
    fn prelude(&mut self, gen: &Generation, out: &mut Vec<u8>) {
        let resp = response_object(&self.id, &self.model, self.created, "in_progress", json!([]), None);
        self.event(out, "response.created", json!({"response": resp.clone()}));
        self.event(out, "response.in_progress", json!({"response": resp}));
        if gen.reasoning > 0 {
            self.open_reasoning(out);
        } else if gen.calls.is_empty() {
            self.open_message(out);
        }
    }

    /// A call's item opens with its first fragment and closes with its last.
    fn call_fragment(&mut self, gen: &Generation, call: usize, frag: usize, out: &mut Vec<u8>) {
        if self.phase == Phase::Reasoning {
            self.close_reasoning(out);
        }
        self.phase = Phase::Calls;
        let c = &gen.calls[call];
        let index = self.msg_index + call as u32;
        let item_id = c.id.replacen("call_", "fc_", 1);
        if frag == 0 {
            let item = call_item(c, "", "in_progress");
            self.event(out, "response.output_item.added", json!({"output_index": index, "item": item}));
        }
        let delta = json!({"item_id": item_id, "output_index": index, "delta": c.fragment(frag)});
        self.event(out, "response.function_call_arguments.delta", delta);
        if frag + 1 == c.fragments() {
            let done = json!({"item_id": item_id, "output_index": index, "arguments": c.arguments});
            self.event(out, "response.function_call_arguments.done", done);
            let item = call_item(c, &c.arguments, "completed");
            self.event(out, "response.output_item.done", json!({"output_index": index, "item": item}));
        }
    }

    fn reasoning(&mut self, text: &str, out: &mut Vec<u8>) {
        self.reasoning_text.push_str(text);
        let delta =
            json!({"item_id": self.reasoning_id, "output_index": 0, "summary_index": 0, "delta": text});
        self.event(out, "response.reasoning_summary_text.delta", delta);
    }

    fn content(&mut self, text: &str, out: &mut Vec<u8>) {
        if self.phase != Phase::Message {
            self.open_message(out);
        }
        let delta = TextDelta {
            kind: "response.output_text.delta",
            item_id: &self.item_id,
            output_index: self.msg_index,
            content_index: 0,
            delta: text,
            logprobs: [],
            sequence_number: self.sequence,
        };
        self.sequence += 1;
        emit(out, &mut self.scratch, Some("response.output_text.delta"), &delta);
    }

    fn finish(&mut self, gen: &Generation, out: &mut Vec<u8>) {
        let status = final_status(gen);
        let mut output = Vec::new();
        if gen.reasoning > 0 {
            if self.phase == Phase::Reasoning {
                self.close_reasoning(out);
            }
            output.push(reasoning_item(&self.reasoning_id, Some(&self.reasoning_text)));
        }
        if !gen.calls.is_empty() {
            output.extend(gen.calls.iter().map(|c| call_item(c, &c.arguments, "completed")));
            let resp =
                response_object(&self.id, &self.model, self.created, status, Value::Array(output), Some(gen));
            self.event(out, "response.completed", json!({"response": resp}));
            return;
        }
        // Reasoning that used the whole budget leaves no message item.
        if gen.tokens == 0 && gen.reasoning > 0 {
            let resp =
                response_object(&self.id, &self.model, self.created, status, Value::Array(output), Some(gen));
            self.event(out, "response.incomplete", json!({"response": resp}));
            return;
        }
        let text = gen.text();
        let index = self.msg_index;
        let ids = json!({"item_id": self.item_id, "output_index": index, "content_index": 0});
        let mut done = ids.clone();
        done["text"] = json!(text);
        done["logprobs"] = json!([]);
        self.event(out, "response.output_text.done", done);
        let mut part_done = ids;
        part_done["part"] = json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []});
        self.event(out, "response.content_part.done", part_done);
        let item = message_item(&self.item_id, status, Some(&text));
        self.event(out, "response.output_item.done", json!({"output_index": index, "item": item.clone()}));
        output.push(item);
        let resp =
            response_object(&self.id, &self.model, self.created, status, Value::Array(output), Some(gen));
        let kind = if gen.hit_cap { "response.incomplete" } else { "response.completed" };
        self.event(out, kind, json!({"response": resp}));
    }

    fn error(&mut self, out: &mut Vec<u8>) {
        let body = json!({"code": "server_error", "message": "The server had an error while processing your request.", "param": null});
        self.event(out, "error", body);
    }
}
