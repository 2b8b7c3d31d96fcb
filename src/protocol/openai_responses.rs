//! OpenAI Responses (`/v1/responses`), streaming and not: the request body and the response
//! decoder.
//!
//! A stream is named events whose JSON `type` matches the `event:` line and whose
//! `sequence_number` strictly increases; it has no `[DONE]` and ends with `response.completed`,
//! `response.incomplete` or `response.failed`, whose `response.usage` holds the token counts.
//! TTFT is the first `response.output_text.delta` (or refusal, reasoning text, or function-call
//! arguments delta); `response.reasoning_*` deltas are reasoning, and function calls are keyed
//! by `output_index`, their argument fragments accumulated per call. Events after the end are
//! protocol errors, except a stray `[DONE]`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::{
    body, count_reasoning, take_reasoning, take_text, Decoder, Finish, KeptCall, Seen, ToolCalls, ToolTally,
    TurnBody, Usage,
};
use crate::metrics::ErrorKind;

/// A field that is a string on the events read here but may be another value on others
/// (`delta`, `text`): the string, or nothing.
#[derive(Default)]
pub(crate) struct MaybeText<'a>(pub(crate) Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for MaybeText<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;

        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Option<Cow<'de, str>>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Some(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Some(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Some(Cow::Owned(v)))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                IgnoredAny.visit_map(map).map(|_| None)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                IgnoredAny.visit_seq(seq).map(|_| None)
            }
        }

        deserializer.deserialize_any(TextVisitor).map(MaybeText)
    }
}

#[derive(Deserialize)]
struct InputDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct OutputDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    input_tokens_details: Option<InputDetails>,
    #[serde(default)]
    output_tokens_details: Option<OutputDetails>,
}

impl WireUsage {
    fn usage(&self) -> Usage {
        Usage {
            reasoning_tokens: self.output_tokens_details.as_ref().and_then(|d| d.reasoning_tokens),
            cached_prompt_tokens: self.input_tokens_details.as_ref().and_then(|d| d.cached_tokens),
            ..Usage::new(self.input_tokens.unwrap_or(0), self.output_tokens.unwrap_or(0))
        }
    }
}

#[derive(Deserialize)]
struct Incomplete<'a> {
    #[serde(borrow, default)]
    reason: MaybeText<'a>,
}

#[derive(Deserialize)]
struct ResponseObject<'a> {
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(borrow, default)]
    incomplete_details: Option<Incomplete<'a>>,
}

/// The `item` of `response.output_item.added` (its type, and a function call's id and name).
#[derive(Deserialize)]
struct AddedItem<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: MaybeText<'a>,
    #[serde(borrow, default)]
    call_id: MaybeText<'a>,
    #[serde(borrow, default)]
    name: MaybeText<'a>,
}

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    sequence_number: Option<u64>,
    #[serde(borrow, default)]
    delta: MaybeText<'a>,
    #[serde(default)]
    output_index: Option<u64>,
    #[serde(borrow, default)]
    item: Option<AddedItem<'a>>,
    #[serde(borrow, default)]
    response: Option<ResponseObject<'a>>,
}

/// How a response ended: its end event (or body status), its incomplete reason, whether it
/// called functions.
fn finish_of(status: &[u8], incomplete: Option<&Incomplete<'_>>, calls: bool) -> Finish {
    match status {
        b"completed" | b"response.completed" if calls => Finish::ToolCalls,
        b"completed" | b"response.completed" => Finish::Stop,
        b"incomplete" | b"response.incomplete" => match incomplete.and_then(|i| i.reason.0.as_deref()) {
            Some(reason) => Finish::of(reason.as_bytes()),
            None => Finish::Other,
        },
        _ => Finish::Other,
    }
}

/// A reasoning event's text delta (`response.reasoning_text.delta`,
/// `response.reasoning_summary_text.delta`, and any other `response.reasoning*.delta`).
fn is_reasoning_delta(kind: &[u8]) -> bool {
    kind.starts_with(b"response.reasoning") && kind.ends_with(b".delta")
}

#[derive(Deserialize)]
struct Part<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    text: MaybeText<'a>,
}

#[derive(Deserialize)]
struct OutputItem<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    content: Option<Vec<Part<'a>>>,
    /// A reasoning item's summary parts.
    #[serde(borrow, default)]
    summary: Option<Vec<Part<'a>>>,
    /// A function call's id, name and arguments.
    #[serde(borrow, default)]
    call_id: MaybeText<'a>,
    #[serde(borrow, default)]
    name: MaybeText<'a>,
    #[serde(borrow, default)]
    arguments: MaybeText<'a>,
}

#[derive(Deserialize)]
struct ResponseBody<'a> {
    #[serde(borrow)]
    output: Vec<OutputItem<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<IgnoredAny>,
    #[serde(borrow, default)]
    status: MaybeText<'a>,
    #[serde(borrow, default)]
    incomplete_details: Option<Incomplete<'a>>,
}

/// Appends the JSON request body of `turn`: the system prompt as `instructions`, the
/// conversation as `input`.
pub(crate) fn write_body(turn: &TurnBody<'_>, out: &mut Vec<u8>) {
    body::open(turn, out);
    if let Some(system) = turn.system_json {
        body::literal(b"instructions", system, out);
    }
    out.extend_from_slice(b",\"input\":[");
    body::messages(turn.messages, false, out);
    out.push(b']');
    body::number(b"max_output_tokens", turn.max_tokens, out);
    body::close(turn, false, out);
}

/// Decoder for the OpenAI Responses API.
#[derive(Default)]
pub(crate) struct OpenAiResponses {
    done: bool,
    last_sequence: Option<u64>,
    tools: ToolCalls,
}

impl Decoder for OpenAiResponses {
    fn reset(&mut self) {
        self.done = false;
        self.last_sequence = None;
        self.tools.reset();
    }

    fn event(&mut self, name: &[u8], data: &[u8], reply: Option<&mut String>) -> Result<Seen, ErrorKind> {
        if self.done {
            // Some gateways append the chat API's end marker; anything else is out of order.
            return if data == b"[DONE]" { Ok(Seen::default()) } else { Err(ErrorKind::ProtocolError) };
        }
        let event: Event = serde_json::from_slice(data).map_err(|_| ErrorKind::ProtocolError)?;
        if let Some(n) = event.sequence_number {
            if self.last_sequence.is_some_and(|last| n <= last) {
                return Err(ErrorKind::ProtocolError);
            }
            self.last_sequence = Some(n);
        }
        let kind = match &event.kind {
            Some(t) => t.as_bytes(),
            None => name,
        };
        let mut seen = Seen::default();
        let mut reply = reply;
        match kind {
            b"response.output_text.delta" | b"response.refusal.delta" => {
                if let Some(text) = &event.delta.0 {
                    take_text(&mut seen, &mut reply, text);
                }
            }
            k if is_reasoning_delta(k) => {
                if let Some(text) = &event.delta.0 {
                    take_reasoning(&mut seen, &mut reply, text);
                }
            }
            b"response.output_item.added" => {
                if let Some(item) =
                    event.item.as_ref().filter(|i| i.kind.0.as_deref() == Some("function_call"))
                {
                    let key = event.output_index.unwrap_or(self.tools.len() as u64);
                    self.tools.start(key, item.call_id.0.as_deref(), item.name.0.as_deref());
                }
            }
            b"response.function_call_arguments.delta" => {
                if let Some(args) = &event.delta.0 {
                    let key = event.output_index.unwrap_or(0);
                    self.tools.append(key, args);
                    seen.content_chars = args.chars().count() as u64;
                }
            }
            b"response.completed" | b"response.incomplete" | b"response.failed" => {
                let response = event.response.as_ref();
                seen.usage = response.and_then(|r| r.usage.as_ref()).map(WireUsage::usage);
                let incomplete = response.and_then(|r| r.incomplete_details.as_ref());
                seen.finish = Some(finish_of(kind, incomplete, self.tools.len() > 0));
                seen.error = kind == b"response.failed";
                seen.done = true;
                self.done = true;
            }
            b"error" => seen.error = true,
            _ => {}
        }
        Ok(seen)
    }

    fn body(&mut self, body: &[u8], reply: Option<&mut String>) -> Result<Seen, ErrorKind> {
        let response: ResponseBody = serde_json::from_slice(body).map_err(|_| ErrorKind::ProtocolError)?;
        let mut seen = Seen {
            usage: response.usage.as_ref().map(WireUsage::usage),
            done: true,
            error: response.error.is_some(),
            ..Seen::default()
        };
        let mut reply = reply;
        let mut calls = false;
        self.tools.reset();
        for (i, item) in response.output.iter().enumerate() {
            match item.kind.as_deref() {
                Some("message") | None => {}
                Some("reasoning") => {
                    let parts = item.summary.iter().flatten().chain(item.content.iter().flatten());
                    for text in parts.filter_map(|p| p.text.0.as_ref()) {
                        count_reasoning(&mut seen, text);
                    }
                    continue;
                }
                Some("function_call") => {
                    calls = true;
                    let args = item.arguments.0.as_deref().unwrap_or("");
                    self.tools.start(i as u64, item.call_id.0.as_deref(), item.name.0.as_deref());
                    self.tools.append(i as u64, args);
                    seen.content_chars += args.chars().count() as u64;
                    continue;
                }
                Some(_) => calls = true,
            }
            let parts = item.content.iter().flatten();
            for text in
                parts.filter(|p| p.kind.as_deref() == Some("output_text")).filter_map(|p| p.text.0.as_ref())
            {
                take_text(&mut seen, &mut reply, text);
            }
        }
        // A function call is content even when it has no text.
        if calls && seen.content_chars == 0 {
            seen.content_chars = 1;
        }
        if let Some(status) = &response.status.0 {
            seen.finish = Some(finish_of(
                status.as_bytes(),
                response.incomplete_details.as_ref(),
                self.tools.len() > 0,
            ));
        }
        self.done = true;
        Ok(seen)
    }

    fn stream_complete(&self) -> bool {
        self.done
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
                assert_eq!(pairs(&json["input"]), expected(&messages));
                assert_eq!(json["max_output_tokens"], 77);
                let instructions = json.get("instructions").and_then(Value::as_str);
                assert_eq!(instructions, system.as_deref().map(unquote).as_deref());
                assert!(json.get("max_tokens").is_none() && json.get("stream_options").is_none());
            }
        }
    }

    /// The text-only order of §3.6, as the llm-d sim and our mock send it.
    const STREAM: &[(&str, &str)] = &[
        (
            "response.created",
            r#"{"type":"response.created","response":{"id":"resp_1","object":"response","created_at":1741570283,"status":"in_progress","model":"gpt-4o","output":[],"parallel_tool_calls":true,"tool_choice":"auto","tools":[],"error":null,"incomplete_details":null,"usage":null},"sequence_number":0}"#,
        ),
        (
            "response.in_progress",
            r#"{"type":"response.in_progress","response":{"id":"resp_1","object":"response","status":"in_progress","output":[],"usage":null},"sequence_number":1}"#,
        ),
        (
            "response.output_item.added",
            r#"{"type":"response.output_item.added","output_index":0,"item":{"id":"msg_1","type":"message","role":"assistant","status":"in_progress","content":[]},"sequence_number":2}"#,
        ),
        (
            "response.content_part.added",
            r#"{"type":"response.content_part.added","item_id":"msg_1","output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]},"sequence_number":3}"#,
        ),
        (
            "response.output_text.delta",
            r#"{"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hel","logprobs":[],"sequence_number":4}"#,
        ),
        (
            "response.output_text.delta",
            r#"{"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"l\u00f6!","logprobs":[],"sequence_number":5}"#,
        ),
        (
            "response.output_text.done",
            r#"{"type":"response.output_text.done","item_id":"msg_1","output_index":0,"content_index":0,"text":"Hell\u00f6!","logprobs":[],"sequence_number":6}"#,
        ),
        (
            "response.content_part.done",
            r#"{"type":"response.content_part.done","item_id":"msg_1","output_index":0,"content_index":0,"part":{"type":"output_text","text":"Hell\u00f6!","annotations":[]},"sequence_number":7}"#,
        ),
        (
            "response.output_item.done",
            r#"{"type":"response.output_item.done","output_index":0,"item":{"id":"msg_1","type":"message","role":"assistant","status":"completed","content":[{"type":"output_text","text":"Hell\u00f6!","annotations":[]}]},"sequence_number":8}"#,
        ),
        (
            "response.completed",
            r#"{"type":"response.completed","response":{"id":"resp_1","object":"response","status":"completed","output":[{"id":"msg_1","type":"message","role":"assistant","status":"completed","content":[{"type":"output_text","text":"Hell\u00f6!","annotations":[]}]}],"usage":{"input_tokens":9,"input_tokens_details":{"cached_tokens":0,"cache_write_tokens":0},"output_tokens":2,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":11}},"sequence_number":9}"#,
        ),
    ];

    fn run(
        d: &mut OpenAiResponses,
        events: &[(&str, &str)],
        reply: &mut String,
    ) -> (u64, u64, Option<Usage>) {
        let (n, chars, usage, _) = crate::protocol::replay(d, events, reply);
        (n, chars, usage)
    }

    #[test]
    fn responses_stream_decodes() {
        let mut d = OpenAiResponses::default();
        let mut reply = String::new();
        let (n, chars, usage) = run(&mut d, STREAM, &mut reply);
        assert_eq!((n, chars), (2, 6));
        assert_eq!(reply, "Hellö!");
        assert_eq!(
            usage,
            Some(Usage { reasoning_tokens: Some(0), cached_prompt_tokens: Some(0), ..Usage::new(9, 2) })
        );
        assert!(d.stream_complete());
        d.reset();
        assert!(!d.stream_complete());
        // A fresh response restarts the sequence.
        assert!(d.event(b"", STREAM[0].1.as_bytes(), None).is_ok());
    }

    #[test]
    fn responses_incomplete_and_failed_end_the_stream() {
        let incomplete = br#"{"type":"response.incomplete","response":{"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"usage":{"input_tokens":3,"output_tokens":16}},"sequence_number":12}"#;
        let mut d = OpenAiResponses::default();
        let seen = d.event(b"response.incomplete", incomplete, None).unwrap();
        assert!(seen.done && !seen.error);
        assert_eq!(seen.usage, Some(Usage::new(3, 16)));
        assert!(d.stream_complete());
        let failed = br#"{"type":"response.failed","response":{"status":"failed","error":{"code":"server_error","message":"x"},"usage":null},"sequence_number":3}"#;
        let mut d = OpenAiResponses::default();
        let seen = d.event(b"response.failed", failed, None).unwrap();
        assert!(seen.done && seen.error && seen.usage.is_none());
    }

    #[test]
    fn responses_error_event_sets_error() {
        let mut d = OpenAiResponses::default();
        run(&mut d, &STREAM[..5], &mut String::new());
        let err = br#"{"type":"error","code":"server_error","message":"The server had an error.","param":null,"sequence_number":5}"#;
        let seen = d.event(b"error", err, None).unwrap();
        assert!(seen.error && !seen.done);
        assert!(!d.stream_complete());
    }

    #[test]
    fn responses_sequence_must_increase() {
        let mut d = OpenAiResponses::default();
        run(&mut d, &STREAM[..5], &mut String::new());
        assert_eq!(d.event(b"", STREAM[4].1.as_bytes(), None), Err(ErrorKind::ProtocolError));
        // Without sequence numbers nothing is checked.
        let mut d = OpenAiResponses::default();
        let plain = br#"{"type":"response.output_text.delta","delta":"a"}"#;
        assert_eq!(d.event(b"", plain, None).unwrap().content_chars, 1);
        assert_eq!(d.event(b"", plain, None).unwrap().content_chars, 1);
    }

    #[test]
    fn responses_events_after_the_end_and_garbage() {
        let mut d = OpenAiResponses::default();
        run(&mut d, STREAM, &mut String::new());
        assert_eq!(d.event(b"", b"[DONE]", None), Ok(Seen::default()));
        let late = br#"{"type":"response.output_text.delta","delta":"x","sequence_number":99}"#;
        assert_eq!(d.event(b"", late, None), Err(ErrorKind::ProtocolError));
        let mut d = OpenAiResponses::default();
        assert_eq!(d.event(b"", b"[DONE]", None), Err(ErrorKind::ProtocolError));
        assert_eq!(d.event(b"", b"{not json", None), Err(ErrorKind::ProtocolError));
    }

    #[test]
    fn responses_missing_end_is_incomplete() {
        let mut d = OpenAiResponses::default();
        run(&mut d, &STREAM[..STREAM.len() - 1], &mut String::new());
        assert!(!d.stream_complete());
    }

    #[test]
    fn responses_type_wins_and_tool_and_reasoning_deltas_count() {
        let mut d = OpenAiResponses::default();
        // The event line lies; the JSON type is trusted.
        let named = br#"{"type":"response.in_progress","delta":"ignored"}"#;
        assert_eq!(d.event(b"response.output_text.delta", named, None).unwrap().content_chars, 0);
        // No type: the event line decides.
        assert_eq!(
            d.event(b"response.output_text.delta", br#"{"delta":"ab"}"#, None).unwrap().content_chars,
            2
        );
        let mut reply = String::new();
        let args = br#"{"type":"response.function_call_arguments.delta","item_id":"fc_1","output_index":0,"delta":"{\"a\":"}"#;
        assert_eq!(d.event(b"", args, Some(&mut reply)).unwrap().content_chars, 5);
        let think = br#"{"type":"response.reasoning_summary_text.delta","delta":"hm"}"#;
        assert_eq!(d.event(b"", think, Some(&mut reply)).unwrap().content_chars, 2);
        assert_eq!(reply, "hm");
        // A non-string delta on some other event is skipped, not an error.
        let other = br#"{"type":"response.something.delta","delta":{"x":[1,2]}}"#;
        assert_eq!(d.event(b"", other, None).unwrap(), Seen::default());
    }

    #[test]
    fn responses_body() {
        let body = br#"{"id":"resp_1","object":"response","created_at":1741570283,"status":"completed","model":"gpt-4o",
            "output":[{"id":"rs_1","type":"reasoning","summary":[],"content":[{"type":"reasoning_text","text":"secret"}]},
                      {"id":"msg_1","type":"message","role":"assistant","status":"completed",
                       "content":[{"type":"output_text","text":"Hello","annotations":[]},{"type":"output_text","text":" there!","annotations":[]}]}],
            "parallel_tool_calls":true,"tool_choice":"auto","tools":[],"error":null,"incomplete_details":null,
            "usage":{"input_tokens":9,"input_tokens_details":{"cached_tokens":0,"cache_write_tokens":0},"output_tokens":2,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":11}}"#;
        let mut d = OpenAiResponses::default();
        let mut reply = String::new();
        let seen = d.body(body, Some(&mut reply)).unwrap();
        assert_eq!(reply, "Hello there!");
        assert_eq!((seen.content_chars, seen.reasoning_chars, seen.error), (12 + 6, 6, false));
        assert_eq!(
            seen.usage,
            Some(Usage { reasoning_tokens: Some(0), cached_prompt_tokens: Some(0), ..Usage::new(9, 2) })
        );
        assert_eq!(seen.finish, Some(Finish::Stop));
        let call = br#"{"status":"completed","output":[{"type":"function_call","call_id":"c","name":"f","arguments":"{}"}]}"#;
        let seen = d.body(call, None).unwrap();
        assert_eq!((seen.content_chars, seen.finish), (2, Some(Finish::ToolCalls)));
        assert_eq!(d.tool_calls(), ToolTally { calls: 1, arg_bytes: 2, invalid: 0 });
        let failed = br#"{"status":"failed","output":[],"error":{"code":"server_error","message":"x"}}"#;
        assert!(d.body(failed, None).unwrap().error);
        assert_eq!(d.body(br#"{"id":"resp_1"}"#, None), Err(ErrorKind::ProtocolError));
        assert_eq!(d.body(b"<html>", None), Err(ErrorKind::ProtocolError));
    }

    #[test]
    fn responses_fuzz_never_panics() {
        crate::protocol::kind::fuzz::run(&mut OpenAiResponses::default(), STREAM, 0x5E5);
    }
}
