//! Anthropic Messages (`/v1/messages`), streaming and not: the request body and the response
//! decoder.
//!
//! A stream is `message_start` → (`content_block_start` → `content_block_delta`* →
//! `content_block_stop`)+ → `message_delta` → `message_stop`, with `ping` anywhere before the
//! end. An event's JSON `type` is trusted over its `event:` line (they agree on the real API);
//! the line is the fallback when the JSON has no `type`. TTFT is the first delta carrying text,
//! thinking or tool-input JSON; `thinking` and `redacted_thinking` blocks are reasoning,
//! `tool_use` blocks are tool calls whose `input_json_delta` fragments are accumulated per
//! block. Usage arrives in two halves — input tokens in `message_start`, the cumulative output
//! count in `message_delta` — and is reported whole on each `message_delta`. Anthropic's
//! `input_tokens` leaves out the cache (`cache_read_input_tokens`,
//! `cache_creation_input_tokens`): the prompt tokens reported are their sum, as OpenAI counts
//! them. Out-of-order events (a delta before `message_start` or its block's
//! `content_block_start`, anything after `message_stop`) are protocol errors, as they break the
//! official SDK.

use std::borrow::Cow;

use serde::Deserialize;

use serde_json::Value;

use super::openai_responses::MaybeText;
use super::{
    body, take_reasoning, take_text, Decoder, Finish, KeptCall, Seen, ToolCalls, ToolTally, TurnBody, Usage,
};
use crate::metrics::ErrorKind;

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
}

/// Input tokens as Anthropic splits them: (uncached input, cache reads, cache writes).
#[derive(Clone, Copy, Default)]
struct Input {
    input: u64,
    read: Option<u64>,
    write: Option<u64>,
}

impl Input {
    /// A later report: each part it has wins (input tokens only grow).
    fn update(&mut self, u: &WireUsage) {
        self.input = self.input.max(u.input_tokens.unwrap_or(0));
        self.read = u.cache_read_input_tokens.or(self.read);
        self.write = u.cache_creation_input_tokens.or(self.write);
    }

    fn usage(self, completion_tokens: u64) -> Usage {
        let cached = self.read.is_some() || self.write.is_some();
        Usage {
            prompt_tokens: self.input + self.read.unwrap_or(0) + self.write.unwrap_or(0),
            completion_tokens,
            cached_prompt_tokens: self.read.or(self.write.map(|_| 0)),
            cache_write_tokens: self.write.or(self.read.map(|_| 0)),
            raw_input_tokens: cached.then_some(self.input),
            ..Usage::default()
        }
    }
}

#[derive(Deserialize)]
struct StartMessage {
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct StartBlock<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    thinking: Option<Cow<'a, str>>,
    /// A `tool_use` block's id and name.
    #[serde(borrow, default)]
    id: MaybeText<'a>,
    #[serde(borrow, default)]
    name: MaybeText<'a>,
}

/// The `delta` of a `content_block_delta` (text, thinking, tool input; a `signature_delta`
/// is not output) or a `message_delta` (the stop reason).
#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    thinking: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    partial_json: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    stop_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    message: Option<StartMessage>,
    #[serde(borrow, default)]
    content_block: Option<StartBlock<'a>>,
    #[serde(borrow, default)]
    delta: Option<Delta<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

/// The event types the decoder acts on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    MessageStart,
    BlockStart,
    BlockDelta,
    BlockStop,
    MessageDelta,
    MessageStop,
    Ping,
    Error,
    Other,
}

impl Kind {
    fn of(name: &[u8]) -> Kind {
        match name {
            b"message_start" => Kind::MessageStart,
            b"content_block_start" => Kind::BlockStart,
            b"content_block_delta" => Kind::BlockDelta,
            b"content_block_stop" => Kind::BlockStop,
            b"message_delta" => Kind::MessageDelta,
            b"message_stop" => Kind::MessageStop,
            b"ping" => Kind::Ping,
            b"error" => Kind::Error,
            _ => Kind::Other,
        }
    }
}

#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum Phase {
    /// No `message_start` yet.
    #[default]
    Before,
    /// Between `message_start` and `message_stop`.
    Message,
    /// After `message_stop`: nothing more may come.
    Stopped,
}

#[derive(Deserialize)]
struct BodyBlock<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    thinking: Option<Cow<'a, str>>,
    /// A `tool_use` block's id, name and arguments.
    #[serde(borrow, default)]
    id: MaybeText<'a>,
    #[serde(borrow, default)]
    name: MaybeText<'a>,
    #[serde(default)]
    input: Option<Value>,
}

#[derive(Deserialize)]
struct MessageBody<'a> {
    #[serde(borrow)]
    content: Vec<BodyBlock<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(borrow, default)]
    stop_reason: Option<Cow<'a, str>>,
}

/// Appends the JSON request body of `turn`: `max_tokens` first (required), the system
/// prompt as its own field.
pub(crate) fn write_body(turn: &TurnBody<'_>, out: &mut Vec<u8>) {
    body::open(turn, out);
    body::number(b"max_tokens", turn.max_tokens, out);
    if let Some(system) = turn.system_json {
        body::literal(b"system", system, out);
    }
    out.extend_from_slice(b",\"messages\":[");
    body::messages(turn.messages, false, out);
    out.push(b']');
    body::close(turn, false, out);
}

/// Decoder for Anthropic Messages.
#[derive(Default)]
pub(crate) struct Anthropic {
    phase: Phase,
    /// Content blocks started so far (a delta must name one of them).
    blocks: u64,
    /// Input tokens from `message_start` (and a later `message_delta`).
    input: Input,
    tools: ToolCalls,
    /// The last cumulative output count from `message_delta`.
    completion_tokens: u64,
}

impl Decoder for Anthropic {
    fn reset(&mut self) {
        let mut tools = std::mem::take(&mut self.tools);
        tools.reset();
        *self = Anthropic { tools, ..Anthropic::default() };
    }

    fn event(&mut self, name: &[u8], data: &[u8], reply: Option<&mut String>) -> Result<Seen, ErrorKind> {
        let event: Event = serde_json::from_slice(data).map_err(|_| ErrorKind::ProtocolError)?;
        let kind = match &event.kind {
            Some(t) => Kind::of(t.as_bytes()),
            None => Kind::of(name),
        };
        let mut seen = Seen::default();
        let mut reply = reply;
        match (self.phase, kind) {
            (Phase::Stopped, _) => return Err(ErrorKind::ProtocolError),
            (_, Kind::Ping | Kind::Other) => {}
            (_, Kind::Error) => seen.error = true,
            (Phase::Before, Kind::MessageStart) => {
                self.phase = Phase::Message;
                if let Some(u) = event.message.as_ref().and_then(|m| m.usage.as_ref()) {
                    self.input.update(u);
                }
            }
            (Phase::Before, _) | (Phase::Message, Kind::MessageStart) => {
                return Err(ErrorKind::ProtocolError)
            }
            (Phase::Message, Kind::BlockStart) => {
                self.blocks += 1;
                let index = event.index.unwrap_or(self.blocks - 1);
                let Some(block) = &event.content_block else { return Ok(seen) };
                match block.kind.as_deref() {
                    Some("tool_use" | "server_tool_use") => {
                        self.tools.start(index, block.id.0.as_deref(), block.name.0.as_deref())
                    }
                    // Opaque (encrypted) thinking: one reasoning event, no text.
                    Some("redacted_thinking") => (seen.content_chars, seen.reasoning_chars) = (1, 1),
                    _ => {}
                }
                if let Some(text) = &block.thinking {
                    take_reasoning(&mut seen, &mut reply, text);
                }
                if let Some(text) = &block.text {
                    take_text(&mut seen, &mut reply, text);
                }
            }
            (Phase::Message, Kind::BlockDelta) => {
                if event.index.unwrap_or(0) >= self.blocks {
                    return Err(ErrorKind::ProtocolError);
                }
                if let Some(delta) = &event.delta {
                    if let Some(text) = &delta.thinking {
                        take_reasoning(&mut seen, &mut reply, text);
                    }
                    if let Some(text) = &delta.text {
                        take_text(&mut seen, &mut reply, text);
                    }
                    if let Some(json) = &delta.partial_json {
                        let index = event.index.unwrap_or(0);
                        self.tools.append(index, json);
                        seen.content_chars += json.chars().count() as u64;
                    }
                }
            }
            (Phase::Message, Kind::BlockStop) => {
                if self.blocks == 0 {
                    return Err(ErrorKind::ProtocolError);
                }
            }
            (Phase::Message, Kind::MessageDelta) => {
                if let Some(reason) = event.delta.as_ref().and_then(|d| d.stop_reason.as_deref()) {
                    seen.finish = Some(Finish::of(reason.as_bytes()));
                }
                if let Some(u) = &event.usage {
                    self.input.update(u);
                    self.completion_tokens = u.output_tokens.unwrap_or(self.completion_tokens);
                    seen.usage = Some(self.input.usage(self.completion_tokens));
                }
            }
            (Phase::Message, Kind::MessageStop) => {
                self.phase = Phase::Stopped;
                seen.done = true;
            }
        }
        Ok(seen)
    }

    fn body(&mut self, body: &[u8], reply: Option<&mut String>) -> Result<Seen, ErrorKind> {
        let message: MessageBody = serde_json::from_slice(body).map_err(|_| ErrorKind::ProtocolError)?;
        let usage = message.usage.as_ref().map(|u| {
            let mut input = Input::default();
            input.update(u);
            input.usage(u.output_tokens.unwrap_or(0))
        });
        let mut seen = Seen {
            usage,
            done: true,
            finish: message.stop_reason.as_deref().map(|r| Finish::of(r.as_bytes())),
            ..Seen::default()
        };
        let mut reply = reply;
        let mut other_blocks = false;
        self.tools.reset();
        for (i, block) in message.content.iter().enumerate() {
            match block.kind.as_deref() {
                Some("text") => {
                    if let Some(text) = &block.text {
                        take_text(&mut seen, &mut reply, text);
                    }
                }
                Some("thinking") => {
                    if let Some(text) = &block.thinking {
                        take_reasoning(&mut seen, &mut reply, text);
                    }
                }
                Some("redacted_thinking") => {
                    seen.content_chars += 1;
                    seen.reasoning_chars += 1;
                }
                Some("tool_use" | "server_tool_use") => {
                    // The arguments as compact JSON (the body's own spacing is not kept).
                    let args = block.input.as_ref().map(Value::to_string).unwrap_or_default();
                    self.tools.start(i as u64, block.id.0.as_deref(), block.name.0.as_deref());
                    self.tools.append(i as u64, &args);
                    seen.content_chars += args.chars().count() as u64;
                    other_blocks = true;
                }
                _ => other_blocks = true,
            }
        }
        // A tool call is content even when it has no text.
        if other_blocks && seen.content_chars == 0 {
            seen.content_chars = 1;
        }
        self.phase = Phase::Stopped;
        Ok(seen)
    }

    fn stream_complete(&self) -> bool {
        self.phase == Phase::Stopped
    }

    fn tool_calls(&self) -> ToolTally {
        self.tools.tally()
    }

    fn tool_call(&self, i: usize) -> Option<KeptCall<'_>> {
        self.tools.kept(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::body::testing::{body, conversations, expected, pairs};
    use crate::protocol::body::unquote;
    use serde_json::Value;

    #[test]
    fn request_bodies() {
        for (system, messages) in conversations() {
            for stream in [false, true] {
                let json = body(write_body, system.as_deref(), &messages, stream, true);
                assert_eq!(pairs(&json["messages"]), expected(&messages));
                assert_eq!(json["max_tokens"], 77);
                assert_eq!(
                    json.get("system").and_then(Value::as_str),
                    system.as_deref().map(unquote).as_deref()
                );
                assert!(json.get("stream_options").is_none());
            }
        }
    }

    /// The docs' text-only stream (§3.9), spaces after the colons and all.
    const DOCS_STREAM: &[(&str, &str)] = &[
        (
            "message_start",
            r#"{"type": "message_start", "message": {"id": "msg_1nZd", "type": "message", "role": "assistant", "content": [], "model": "claude-x", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 25, "output_tokens": 1}}}"#,
        ),
        (
            "content_block_start",
            r#"{"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}"#,
        ),
        ("ping", r#"{"type": "ping"}"#),
        (
            "content_block_delta",
            r#"{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}}"#,
        ),
        ("content_block_stop", r#"{"type": "content_block_stop", "index": 0}"#),
        (
            "message_delta",
            r#"{"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 15}}"#,
        ),
        ("message_stop", r#"{"type": "message_stop"}"#),
    ];

    /// Feeds `events`, returning (content events, chars, last usage, any error flag).
    fn run(
        d: &mut Anthropic,
        events: &[(&str, &str)],
        reply: &mut String,
    ) -> (u64, u64, Option<Usage>, bool) {
        crate::protocol::replay(d, events, reply)
    }

    #[test]
    fn anthropic_docs_stream_decodes() {
        let mut d = Anthropic::default();
        let mut reply = String::new();
        let (n, chars, usage, error) = run(&mut d, DOCS_STREAM, &mut reply);
        assert_eq!((n, chars, error), (2, 6, false));
        assert_eq!(reply, "Hello!");
        assert_eq!(usage, Some(Usage::new(25, 15)));
        assert!(d.stream_complete());
        d.reset();
        assert!(!d.stream_complete());
    }

    #[test]
    fn anthropic_type_wins_over_event_name_and_name_is_the_fallback() {
        // No `event:` lines at all: the JSON type drives the decoder.
        let mut d = Anthropic::default();
        let unnamed: Vec<_> = DOCS_STREAM.iter().map(|(_, data)| ("", *data)).collect();
        let mut reply = String::new();
        assert_eq!(run(&mut d, &unnamed, &mut reply).0, 2);
        assert!(d.stream_complete());
        // A JSON without `type`: the event name decides.
        let mut d = Anthropic::default();
        d.event(b"message_start", br#"{"message":{"usage":{"input_tokens":3}}}"#, None).unwrap();
        d.event(b"content_block_start", br#"{"index":0}"#, None).unwrap();
        let seen = d.event(b"content_block_delta", br#"{"index":0,"delta":{"text":"h\u00e9"}}"#, None);
        assert_eq!(seen.unwrap().content_chars, 2);
        // A lying event name is ignored.
        assert!(d.event(b"message_stop", br#"{"type":"ping"}"#, None).is_ok());
        assert!(!d.stream_complete());
    }

    #[test]
    fn anthropic_thinking_and_tool_input_are_content() {
        let mut d = Anthropic::default();
        let mut reply = String::new();
        let events: &[(&str, &str)] = &[
            (
                "message_start",
                r#"{"type":"message_start","message":{"usage":{"input_tokens":4,"output_tokens":1}}}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"abc"}}"#,
            ),
            ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{}}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"loc"}}"#,
            ),
            ("content_block_stop", r#"{"type":"content_block_stop","index":1}"#),
            (
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":7}}"#,
            ),
            (
                "message_delta",
                r#"{"type":"message_delta","delta":{},"usage":{"input_tokens":9,"output_tokens":8}}"#,
            ),
            ("message_stop", r#"{"type":"message_stop"}"#),
        ];
        let (n, chars, usage, _) = run(&mut d, events, &mut reply);
        assert_eq!((n, chars), (2, 3 + 5));
        assert_eq!(reply, "hmm", "tool input JSON is counted, not kept as reply text");
        assert_eq!(usage, Some(Usage::new(9, 8)), "a later value wins");
    }

    #[test]
    fn anthropic_error_event_sets_error() {
        let mut d = Anthropic::default();
        d.event(b"message_start", DOCS_STREAM[0].1.as_bytes(), None).unwrap();
        let err = br#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#;
        assert!(d.event(b"error", err, None).unwrap().error);
        assert!(!d.stream_complete());
        // Before message_start too, and by event name alone.
        let mut d = Anthropic::default();
        assert!(d.event(b"error", br#"{"error":{"message":"x"}}"#, None).unwrap().error);
    }

    #[test]
    fn anthropic_wrong_order_is_a_protocol_error() {
        let delta = DOCS_STREAM[3].1.as_bytes();
        let mut d = Anthropic::default();
        assert_eq!(d.event(b"content_block_delta", delta, None), Err(ErrorKind::ProtocolError));
        // A delta before its block started.
        let mut d = Anthropic::default();
        d.event(b"", DOCS_STREAM[0].1.as_bytes(), None).unwrap();
        assert_eq!(d.event(b"", delta, None), Err(ErrorKind::ProtocolError));
        // Two message_starts.
        let mut d = Anthropic::default();
        d.event(b"", DOCS_STREAM[0].1.as_bytes(), None).unwrap();
        assert_eq!(d.event(b"", DOCS_STREAM[0].1.as_bytes(), None), Err(ErrorKind::ProtocolError));
        // message_stop before message_start.
        let mut d = Anthropic::default();
        assert_eq!(d.event(b"", br#"{"type":"message_stop"}"#, None), Err(ErrorKind::ProtocolError));
        // Anything after message_stop, even a ping.
        let mut d = Anthropic::default();
        run(&mut d, DOCS_STREAM, &mut String::new());
        assert_eq!(d.event(b"ping", br#"{"type":"ping"}"#, None), Err(ErrorKind::ProtocolError));
        assert_eq!(d.event(b"", delta, None), Err(ErrorKind::ProtocolError));
    }

    #[test]
    fn anthropic_missing_message_stop_is_incomplete() {
        let mut d = Anthropic::default();
        run(&mut d, &DOCS_STREAM[..DOCS_STREAM.len() - 1], &mut String::new());
        assert!(!d.stream_complete());
    }

    #[test]
    fn anthropic_non_json_is_a_protocol_error() {
        let mut d = Anthropic::default();
        assert_eq!(d.event(b"message_start", b"[DONE]", None), Err(ErrorKind::ProtocolError));
        assert_eq!(d.event(b"", b"", None), Err(ErrorKind::ProtocolError));
        assert_eq!(d.body(b"not json", None), Err(ErrorKind::ProtocolError));
    }

    #[test]
    fn anthropic_body() {
        let mut d = Anthropic::default();
        let body = br#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5",
            "content":[{"type":"text","text":"Hello"},{"type":"tool_use","id":"t","name":"f","input":{"a":1}},{"type":"text","text":" w\u00f6rld"}],
            "stop_reason":"end_turn","stop_sequence":null,
            "usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":6}}"#;
        let mut reply = String::new();
        let seen = d.body(body, Some(&mut reply)).unwrap();
        assert_eq!(reply, "Hello wörld");
        assert_eq!(seen.content_chars, 11 + 7, "the tool's arguments are output");
        let cache = Usage {
            cached_prompt_tokens: Some(0),
            cache_write_tokens: Some(0),
            raw_input_tokens: Some(12),
            ..Usage::new(12, 6)
        };
        assert_eq!(seen.usage, Some(cache));
        assert_eq!((seen.finish, d.tool_calls().calls), (Some(Finish::Stop), 1));
        let tool_only = br#"{"content":[{"type":"tool_use","id":"t","name":"f","input":{}}]}"#;
        assert_eq!(d.body(tool_only, None).unwrap().content_chars, 2, "its arguments, `{{}}`");
        // No content: a 200 carrying an error object, say.
        let error = br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(d.body(error, None), Err(ErrorKind::ProtocolError));
        assert_eq!(d.body(br#"{"content":null}"#, None), Err(ErrorKind::ProtocolError));
    }

    #[test]
    fn anthropic_fuzz_never_panics() {
        crate::protocol::kind::fuzz::run(&mut Anthropic::default(), DOCS_STREAM, 0xA17);
    }
}
