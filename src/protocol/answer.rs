//! The answer of a scenario that asks for JSON (`response_format` `json_object` or
//! `json_schema`): a decoder wrapped so that it also keeps the answer's text — content only,
//! not reasoning nor tool-call arguments — and checks it as JSON once the response is in.
//! Only such scenarios are wrapped: a plain one keeps its decoder as it is and pays nothing.
//!
//! What is checked: the text is one JSON value (serde_json, whitespace around it allowed);
//! `json_object` also wants it to be an object, as that mode promises. A `json_schema` answer
//! is not validated against its schema (that needs a JSON Schema engine per request): only as
//! JSON. An answer cut at the token budget is usually invalid — as it is for the application
//! that parses it.

use serde::de::IgnoredAny;

use super::kind::AnyDecoder;
use super::{Decoder, KeptCall, Seen, ToolTally};
use crate::metrics::ErrorKind;

/// What a scenario's `response_format` asks the answer to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JsonShape {
    /// `json_object`: a JSON object.
    Object,
    /// `json_schema`: a JSON value (not checked against the schema).
    Value,
}

impl JsonShape {
    /// The shape a `response_format` (or Responses `text.format`) object asks for; None for
    /// `text` and anything else.
    pub(crate) fn of(format: &serde_json::Value) -> Option<JsonShape> {
        match format.get("type")?.as_str()? {
            "json_object" => Some(JsonShape::Object),
            "json_schema" => Some(JsonShape::Value),
            _ => None,
        }
    }

    /// Whether `text` is an answer of this shape.
    pub(crate) fn holds(self, text: &str) -> bool {
        let object = || text.trim_start().starts_with('{');
        serde_json::from_str::<IgnoredAny>(text).is_ok() && (self == JsonShape::Value || object())
    }
}

/// `inner`, keeping the answer text of each response to check it as `shape`.
pub(crate) struct JsonAnswer<D> {
    inner: D,
    shape: JsonShape,
    /// The answer so far.
    text: String,
    /// What the decoder kept of the current event, when the caller keeps no reply.
    scratch: String,
}

impl<D: Decoder> JsonAnswer<D> {
    pub(crate) fn new(inner: D, shape: JsonShape) -> JsonAnswer<D> {
        JsonAnswer { inner, shape, text: String::new(), scratch: String::new() }
    }

    /// Decodes with a reply kept (the caller's, else the scratch) and takes the answer's part
    /// of what the decoder appended to it. `skip_reasoning`: the appended text starts with
    /// the event's reasoning — every stream decoder takes an event's reasoning before its
    /// text; a whole body's reasoning is not kept in the reply (`count_reasoning`).
    fn decode(
        &mut self,
        reply: Option<&mut String>,
        skip_reasoning: bool,
        f: impl FnOnce(&mut D, &mut String) -> Result<Seen, ErrorKind>,
    ) -> Result<Seen, ErrorKind> {
        let (kept, mark) = match reply {
            Some(r) => {
                let mark = r.len();
                (r, mark)
            }
            None => {
                self.scratch.clear();
                (&mut self.scratch, 0)
            }
        };
        let seen = f(&mut self.inner, kept)?;
        let appended = &kept[mark..];
        let reasoning = if skip_reasoning { seen.reasoning_chars as usize } else { 0 };
        let from = appended.char_indices().nth(reasoning).map_or(appended.len(), |(i, _)| i);
        self.text.push_str(&appended[from..]);
        Ok(seen)
    }
}

impl<D: Decoder> Decoder for JsonAnswer<D> {
    fn reset(&mut self) {
        self.inner.reset();
        self.text.clear();
    }

    fn event(&mut self, name: &[u8], data: &[u8], reply: Option<&mut String>) -> Result<Seen, ErrorKind> {
        self.decode(reply, true, |d, kept| d.event(name, data, Some(kept)))
    }

    fn body(&mut self, body: &[u8], reply: Option<&mut String>) -> Result<Seen, ErrorKind> {
        self.decode(reply, false, |d, kept| d.body(body, Some(kept)))
    }

    fn stream_complete(&self) -> bool {
        self.inner.stream_complete()
    }

    fn tool_calls(&self) -> ToolTally {
        self.inner.tool_calls()
    }

    fn tool_call(&self, i: usize) -> Option<KeptCall<'_>> {
        self.inner.tool_call(i)
    }

    /// An answer of only tool calls has no text to check.
    fn json_answer(&self) -> Option<bool> {
        if self.text.trim().is_empty() && self.inner.tool_calls().calls > 0 {
            return None;
        }
        Some(self.shape.holds(&self.text))
    }
}

/// A conversation's decoder: its protocol's, wrapped when the scenario checks JSON answers.
pub(crate) enum ReplyDecoder {
    Plain(AnyDecoder),
    Json(Box<JsonAnswer<AnyDecoder>>),
}

impl ReplyDecoder {
    pub(crate) fn new(inner: AnyDecoder, json: Option<JsonShape>) -> ReplyDecoder {
        match json {
            Some(shape) => ReplyDecoder::Json(Box::new(JsonAnswer::new(inner, shape))),
            None => ReplyDecoder::Plain(inner),
        }
    }

    /// The decoder to hand the exchange (the plain one itself: no indirection per event).
    pub(crate) fn get(&mut self) -> &mut dyn Decoder {
        match self {
            ReplyDecoder::Plain(d) => d,
            ReplyDecoder::Json(d) => &mut **d,
        }
    }

    /// The decoder, to read what it kept (tool calls for a tool-result turn).
    pub(crate) fn read(&self) -> &dyn Decoder {
        match self {
            ReplyDecoder::Plain(d) => d,
            ReplyDecoder::Json(d) => &**d,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ProtocolKind;

    fn json(kind: ProtocolKind, shape: JsonShape) -> JsonAnswer<AnyDecoder> {
        JsonAnswer::new(kind.decoder(), shape)
    }

    #[test]
    fn shapes_of_response_formats() {
        let of = |v: serde_json::Value| JsonShape::of(&v);
        assert_eq!(of(serde_json::json!({"type": "json_object"})), Some(JsonShape::Object));
        assert_eq!(of(serde_json::json!({"type": "json_schema", "json_schema": {}})), Some(JsonShape::Value));
        assert_eq!(of(serde_json::json!({"type": "text"})), None);
        assert_eq!(of(serde_json::json!({})), None);
        assert!(JsonShape::Object.holds(" {\"a\": [1, 2]}\n"));
        assert!(!JsonShape::Object.holds("[1]"), "json_object wants an object");
        assert!(JsonShape::Value.holds("[1]"));
        for bad in ["", "{\"a\": 1", "{\"a\": 1,}", "{} {}", "the model answers"] {
            assert!(!JsonShape::Value.holds(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_chat_stream_answer_is_checked_without_its_reasoning() {
        let events = [
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"reasoning_content":"think {"}}]}"#,
            // Reasoning and answer in one chunk: the reasoning comes first.
            r#"{"choices":[{"index":0,"delta":{"reasoning_content":"hard","content":"{\"a\":"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":" 1}"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            "[DONE]",
        ];
        for kept in [false, true] {
            let mut d = json(ProtocolKind::OpenAiChat, JsonShape::Object);
            let mut reply = String::new();
            for e in events {
                d.event(b"", e.as_bytes(), kept.then_some(&mut reply)).unwrap();
            }
            assert_eq!(d.text, "{\"a\": 1}");
            assert_eq!(d.json_answer(), Some(true));
            // The caller's reply is what the decoder keeps, as without the wrapper.
            assert_eq!(reply, if kept { "think {hard{\"a\": 1}" } else { "" });
            d.reset();
            assert_eq!(d.json_answer(), Some(false), "no answer is not JSON");
        }
    }

    #[test]
    fn bodies_and_responses_streams() {
        let mut d = json(ProtocolKind::OpenAiChat, JsonShape::Value);
        let body = br#"{"choices":[{"index":0,"message":{"role":"assistant","content":"{\"a\":1,}",
            "reasoning_content":"hm"},"finish_reason":"stop"}]}"#;
        d.body(body, None).unwrap();
        assert_eq!((d.text.as_str(), d.json_answer()), ("{\"a\":1,}", Some(false)));
        let mut d = json(ProtocolKind::OpenAiResponses, JsonShape::Value);
        let body = br#"{"status":"completed","output":[{"type":"reasoning","summary":[{"type":"summary_text","text":"x"}]},
            {"type":"message","content":[{"type":"output_text","text":"[true]"}]}]}"#;
        d.body(body, None).unwrap();
        assert_eq!(d.json_answer(), Some(true));
        d.reset();
        let events = [
            (
                "response.reasoning_summary_text.delta",
                r#"{"type":"response.reasoning_summary_text.delta","delta":"{{"}"#,
            ),
            ("response.output_text.delta", r#"{"type":"response.output_text.delta","delta":"{}"}"#),
            ("response.completed", r#"{"type":"response.completed","response":{"status":"completed"}}"#),
        ];
        for (name, data) in events {
            d.event(name.as_bytes(), data.as_bytes(), None).unwrap();
        }
        assert_eq!((d.text.as_str(), d.json_answer()), ("{}", Some(true)));
    }

    #[test]
    fn an_answer_of_tool_calls_is_not_checked() {
        let mut d = json(ProtocolKind::OpenAiChat, JsonShape::Object);
        let body = br#"{"choices":[{"index":0,"message":{"role":"assistant","content":null,
            "tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}"#;
        d.body(body, None).unwrap();
        assert_eq!(d.json_answer(), None);
        let plain = ProtocolKind::OpenAiChat.decoder();
        assert_eq!(plain.json_answer(), None, "a plain decoder checks nothing");
    }
}
