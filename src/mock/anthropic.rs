//! Anthropic routes: `POST /messages` (streaming and not) and `POST /messages/count_tokens`.
//! Every stream event has an `event:` line equal to its `type` (the SDK silently drops events
//! without one); `message_delta.usage.output_tokens` is cumulative.

use serde::Serialize;
use serde_json::json;

use super::counted;
use super::kit::{emit, Call, Generation, Limits, Render, Reply};
use super::request::MessagesRequest;
use crate::wire::api_error::{write_stream_error, Family};

fn stop_reason(gen: &Generation) -> &'static str {
    if gen.hit_cap {
        "max_tokens"
    } else {
        "end_turn"
    }
}

fn usage(gen: &Generation, output_tokens: u64) -> serde_json::Value {
    json!({"input_tokens": gen.prompt_tokens, "cache_creation_input_tokens": 0,
           "cache_read_input_tokens": 0, "output_tokens": output_tokens})
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
    let gen = ctx.plan(model, limits, input_tokens, &req.messages.last_user_text());
    let id = format!("msg_{}", &ctx.request_id[4..]);
    if req.stream.unwrap_or(false) {
        let stream = MessagesStream { id, model: req.model.into_owned(), scratch: Vec::with_capacity(512) };
        return ctx.stream(Box::new(stream), gen);
    }
    let delay = ctx.nonstream_delay(&gen);
    ctx.core.counters().tokens(gen.tokens);
    let body = json!({
        "id": id, "type": "message", "role": "assistant", "model": req.model,
        "content": [{"type": "text", "text": gen.text()}],
        "stop_reason": stop_reason(&gen), "stop_sequence": null,
        "usage": usage(&gen, gen.tokens),
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
    text: &'a str,
}

/// Renders a Messages stream.
pub(crate) struct MessagesStream {
    id: String,
    model: String,
    scratch: Vec<u8>,
}

impl Render for MessagesStream {
    fn family(&self) -> Family {
        Family::Anthropic
    }

    fn prelude(&mut self, gen: &Generation, out: &mut Vec<u8>) {
        let start = json!({"type": "message_start", "message": {
            "id": self.id, "type": "message", "role": "assistant", "content": [], "model": self.model,
            "stop_reason": null, "stop_sequence": null, "usage": usage(gen, 1)}});
        emit(out, &mut self.scratch, Some("message_start"), &start);
        let block =
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}});
        emit(out, &mut self.scratch, Some("content_block_start"), &block);
        emit(out, &mut self.scratch, Some("ping"), &json!({"type": "ping"}));
    }

    fn content(&mut self, text: &str, out: &mut Vec<u8>) {
        let delta = TextDelta {
            kind: "content_block_delta",
            index: 0,
            delta: TextDeltaInner { kind: "text_delta", text },
        };
        emit(out, &mut self.scratch, Some("content_block_delta"), &delta);
    }

    fn finish(&mut self, gen: &Generation, out: &mut Vec<u8>) {
        emit(
            out,
            &mut self.scratch,
            Some("content_block_stop"),
            &json!({"type": "content_block_stop", "index": 0}),
        );
        let delta = json!({"type": "message_delta",
                           "delta": {"stop_reason": stop_reason(gen), "stop_sequence": null},
                           "usage": usage(gen, gen.tokens)});
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
