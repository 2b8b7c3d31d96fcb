//! OpenAI chat completions (`/chat/completions`), streaming and not: the request body and the
//! response decoder.
//!
//! TTFT is the first chunk whose `delta` carries content (text, reasoning or tool-call
//! arguments), not the role-only chunk a server sends first. Usage is read from whichever
//! chunk carries it: LiteLLM repeats it on a chunk with non-empty `choices`.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::{body, take_text, Decoder, Seen, TurnBody, Usage};
use crate::metrics::ErrorKind;

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

impl WireUsage {
    fn usage(&self) -> Usage {
        Usage {
            prompt_tokens: self.prompt_tokens.unwrap_or(0),
            completion_tokens: self.completion_tokens.unwrap_or(0),
        }
    }
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(default)]
    tool_calls: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct ChunkChoice<'a> {
    #[serde(borrow, default)]
    delta: Option<Delta<'a>>,
}

#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(borrow, default)]
    choices: Vec<ChunkChoice<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(default)]
    tool_calls: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(borrow)]
    message: Message<'a>,
}

#[derive(Deserialize)]
struct Completion<'a> {
    #[serde(borrow)]
    choices: Vec<Choice<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

/// Appends the JSON request body of `turn`: the system prompt as the first message.
pub(crate) fn write_body(turn: &TurnBody<'_>, out: &mut Vec<u8>) {
    body::open(turn, out);
    out.extend_from_slice(b",\"messages\":[");
    if let Some(system) = turn.system_json {
        out.extend_from_slice(b"{\"role\":\"system\",\"content\":");
        out.extend_from_slice(system.as_bytes());
        out.push(b'}');
    }
    body::messages(turn.messages, turn.system_json.is_some(), out);
    out.push(b']');
    body::number(b"max_tokens", turn.max_tokens, out);
    body::close(turn, true, out);
}

/// Decoder for OpenAI chat completions.
#[derive(Default)]
pub(crate) struct OpenAiChat {
    done: bool,
}

impl Decoder for OpenAiChat {
    fn reset(&mut self) {
        self.done = false;
    }

    fn event(&mut self, _name: &[u8], data: &[u8], reply: Option<&mut String>) -> Result<Seen, ErrorKind> {
        if data == b"[DONE]" {
            self.done = true;
            return Ok(Seen { done: true, ..Seen::default() });
        }
        let chunk: Chunk = serde_json::from_slice(data).map_err(|_| ErrorKind::ProtocolError)?;
        let mut seen = Seen { usage: chunk.usage.as_ref().map(WireUsage::usage), ..Seen::default() };
        if chunk.error.is_some() {
            seen.error = true;
            return Ok(seen);
        }
        let mut reply = reply;
        for delta in chunk.choices.iter().filter_map(|c| c.delta.as_ref()) {
            for text in [&delta.content, &delta.reasoning_content].into_iter().flatten() {
                take_text(&mut seen, &mut reply, text);
            }
            if delta.tool_calls.is_some() && seen.content_chars == 0 {
                seen.content_chars = 1;
            }
        }
        Ok(seen)
    }

    fn body(&mut self, body: &[u8], reply: Option<&mut String>) -> Result<Seen, ErrorKind> {
        let completion: Completion = serde_json::from_slice(body).map_err(|_| ErrorKind::ProtocolError)?;
        let mut seen =
            Seen { usage: completion.usage.as_ref().map(WireUsage::usage), done: true, ..Seen::default() };
        let mut reply = reply;
        for choice in &completion.choices {
            if let Some(text) = &choice.message.content {
                take_text(&mut seen, &mut reply, text);
            }
            if choice.message.tool_calls.is_some() && seen.content_chars == 0 {
                seen.content_chars = 1;
            }
        }
        self.done = true;
        Ok(seen)
    }

    fn stream_complete(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::body::testing::{body, conversations, expected, pairs};
    use crate::protocol::body::unquote;

    #[test]
    fn request_bodies() {
        for (system, messages) in conversations() {
            for stream in [false, true] {
                let json = body(write_body, system.as_deref(), &messages, stream, true);
                let mut want = expected(&messages);
                if let Some(s) = &system {
                    want.insert(0, ("system".into(), unquote(s)));
                }
                assert_eq!(pairs(&json["messages"]), want);
                assert_eq!(json["max_tokens"], 77);
                assert_eq!(json["stream_options"]["include_usage"] == true, stream);
                assert_eq!(json.as_object().unwrap().len(), if stream { 5 } else { 4 });
            }
        }
    }

    #[test]
    fn role_chunk_is_not_content_and_usage_is_read_anywhere() {
        let mut d = OpenAiChat::default();
        let role = br#"{"id":"x","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#;
        assert_eq!(d.event(b"", role, None).unwrap().content_chars, 0);
        let mut text = String::new();
        let c = br#"{"choices":[{"index":0,"delta":{"content":"h\u00e9llo"}}]}"#;
        assert_eq!(d.event(b"", c, Some(&mut text)).unwrap().content_chars, 5);
        assert_eq!(text, "héllo");
        let litellm =
            br#"{"choices":[{"index":0,"delta":{}}],"usage":{"prompt_tokens":3,"completion_tokens":7}}"#;
        let seen = d.event(b"", litellm, None).unwrap();
        assert_eq!(seen.usage, Some(Usage { prompt_tokens: 3, completion_tokens: 7 }));
        assert!(!d.stream_complete());
        assert!(d.event(b"", b"[DONE]", None).unwrap().done);
        assert!(d.stream_complete());
    }

    #[test]
    fn errors_and_garbage() {
        let mut d = OpenAiChat::default();
        assert!(d.event(b"", br#"{"error":{"message":"boom"}}"#, None).unwrap().error);
        assert_eq!(d.event(b"", b"not json", None), Err(ErrorKind::ProtocolError));
        assert_eq!(d.body(b"{}", None), Err(ErrorKind::ProtocolError));
        let body = br#"{"choices":[{"message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#;
        let seen = d.body(body, None).unwrap();
        assert_eq!((seen.content_chars, seen.usage.unwrap().completion_tokens), (2, 2));
    }

    /// The reference stream of §3.3 with `include_usage`, then LiteLLM's variant that repeats
    /// the usage on a chunk with non-empty `choices`.
    const STREAM: &[(&str, &str)] = &[
        (
            "",
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o","system_fingerprint":"fp_mock","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        ),
        (
            "",
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o","system_fingerprint":"fp_mock","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        ),
        (
            "",
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o","system_fingerprint":"fp_mock","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#,
        ),
        (
            "",
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o","system_fingerprint":"fp_mock","choices":[],"usage":{"prompt_tokens":19,"completion_tokens":7,"total_tokens":26}}"#,
        ),
        (
            "",
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":19,"completion_tokens":7,"total_tokens":26}}"#,
        ),
        ("", "[DONE]"),
    ];

    #[test]
    fn reference_stream_decodes() {
        let mut d = OpenAiChat::default();
        let mut reply = String::new();
        let (mut events, mut usage) = (0, None);
        for (name, data) in &STREAM[..STREAM.len() - 1] {
            let seen = d.event(name.as_bytes(), data.as_bytes(), Some(&mut reply)).unwrap();
            events += (seen.content_chars > 0) as u32;
            usage = seen.usage.or(usage);
        }
        assert_eq!((events, reply.as_str()), (1, "Hello"));
        assert_eq!(usage, Some(Usage { prompt_tokens: 19, completion_tokens: 7 }));
        assert!(!d.stream_complete(), "no [DONE] yet");
        assert!(d.event(b"", b"[DONE]", None).unwrap().done);
        assert!(d.stream_complete());
    }

    #[test]
    fn fuzz_never_panics() {
        crate::protocol::kind::fuzz::run(&mut OpenAiChat::default(), STREAM, 0xC4A7);
    }
}
