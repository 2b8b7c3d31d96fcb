//! OpenAI legacy completions (`/v1/completions`), streaming and not: the request body and the
//! response decoder.
//!
//! The chat API's framing with `choices[].text` in place of a delta: data-only chunks, usage
//! on whichever chunk carries it (the `include_usage` chunk, or LiteLLM's repeat on a chunk
//! with non-empty `choices`), `[DONE]` at the end, `{"error":…}` for a mid-stream error.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::{body, take_text, write_json_string, Decoder, Role, Seen, TurnBody, Usage};
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
        Usage::new(self.prompt_tokens.unwrap_or(0), self.completion_tokens.unwrap_or(0))
    }
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(borrow, default)]
    choices: Vec<Choice<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Completion<'a> {
    #[serde(borrow)]
    choices: Vec<Choice<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

/// Appends the JSON request body of `turn`. Completions has no messages: the conversation
/// is flattened into one prompt, `System\n\nUser: …\nAssistant: …\nUser: …\nAssistant:`,
/// except that a lone user message without a system prompt is sent as it is.
pub(crate) fn write_body(turn: &TurnBody<'_>, out: &mut Vec<u8>) {
    body::open(turn, out);
    out.extend_from_slice(b",\"prompt\":");
    write_prompt(turn, out);
    body::number(b"max_tokens", turn.max_tokens, out);
    body::close(turn, true, out);
}

/// The completions prompt for `turn` (see `write_body`).
fn write_prompt(turn: &TurnBody<'_>, out: &mut Vec<u8>) {
    match composed_prompt(turn) {
        None => out.extend_from_slice(turn.messages[0].content_json.as_bytes()),
        Some(prompt) => write_json_string(&prompt, out),
    }
}

/// The prompt text `write_body` sends for `turn`, unless it is the one user message's text as
/// it is (`None`): with a system prompt or a history, the messages are put into one text.
pub(crate) fn composed_prompt(turn: &TurnBody<'_>) -> Option<String> {
    if let (None, [_]) = (turn.system_json, turn.messages) {
        return None;
    }
    let mut prompt = String::new();
    if let Some(system) = turn.system_json {
        prompt.push_str(&body::unquote(system));
        prompt.push_str("\n\n");
    }
    for (i, m) in turn.messages.iter().enumerate() {
        if i > 0 {
            prompt.push('\n');
        }
        prompt.push_str(if m.role == Role::User { "User: " } else { "Assistant: " });
        prompt.push_str(&body::unquote(&m.content_json));
    }
    if turn.messages.last().is_some_and(|m| m.role == Role::User) {
        prompt.push_str("\nAssistant:");
    }
    Some(prompt)
}

/// Decoder for OpenAI legacy completions.
#[derive(Default)]
pub(crate) struct OpenAiCompletions {
    done: bool,
}

impl Decoder for OpenAiCompletions {
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
        for text in chunk.choices.iter().filter_map(|c| c.text.as_deref()) {
            take_text(&mut seen, &mut reply, text);
        }
        Ok(seen)
    }

    fn body(&mut self, body: &[u8], reply: Option<&mut String>) -> Result<Seen, ErrorKind> {
        let completion: Completion = serde_json::from_slice(body).map_err(|_| ErrorKind::ProtocolError)?;
        let mut seen =
            Seen { usage: completion.usage.as_ref().map(WireUsage::usage), done: true, ..Seen::default() };
        let mut reply = reply;
        for text in completion.choices.iter().filter_map(|c| c.text.as_deref()) {
            take_text(&mut seen, &mut reply, text);
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
    use crate::protocol::body::testing::{body, conversations};

    #[test]
    fn request_bodies() {
        let prompts = [
            "Say \"hi\"\n\u{e9}",
            "Be \"brief\".\n\nUser: Say \"hi\"\n\u{e9}\nAssistant:",
            "User: first\nAssistant: reply \\ one\nUser: second \u{1F980}\nAssistant:",
            "Be \"brief\".\n\nUser: first\nAssistant: reply \\ one\nUser: second \u{1F980}\nAssistant:",
        ];
        for ((system, messages), prompt) in conversations().into_iter().zip(prompts) {
            for stream in [false, true] {
                let json = body(write_body, system.as_deref(), &messages, stream, false);
                assert_eq!(json["prompt"], prompt);
                assert_eq!(json["max_tokens"], 77);
                assert_eq!(json["stream_options"]["include_usage"] == true, stream);
                assert!(json.get("messages").is_none());
            }
        }
    }

    /// A streamed completion with `include_usage` (§3.4: chat framing, `text_completion` chunks).
    const STREAM: &[(&str, &str)] = &[
        (
            "",
            r#"{"id":"cmpl-1","object":"text_completion","created":1712420078,"model":"gpt-3.5-turbo-instruct","choices":[{"index":0,"text":"Hel","logprobs":null,"finish_reason":null}],"usage":null}"#,
        ),
        (
            "",
            r#"{"id":"cmpl-1","object":"text_completion","created":1712420078,"model":"gpt-3.5-turbo-instruct","choices":[{"index":0,"text":"l\u00f6","logprobs":null,"finish_reason":null}],"usage":null}"#,
        ),
        (
            "",
            r#"{"id":"cmpl-1","object":"text_completion","created":1712420078,"model":"gpt-3.5-turbo-instruct","choices":[{"index":0,"text":"","logprobs":null,"finish_reason":"length"}],"usage":null}"#,
        ),
        (
            "",
            r#"{"id":"cmpl-1","object":"text_completion","created":1712420078,"model":"gpt-3.5-turbo-instruct","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":16,"total_tokens":26}}"#,
        ),
        ("", "[DONE]"),
    ];

    fn run(
        d: &mut OpenAiCompletions,
        events: &[(&str, &str)],
        reply: &mut String,
    ) -> (u64, u64, Option<Usage>) {
        let (n, chars, usage, _) = crate::protocol::replay(d, events, reply);
        (n, chars, usage)
    }

    #[test]
    fn completions_stream_decodes() {
        let mut d = OpenAiCompletions::default();
        let mut reply = String::new();
        let (n, chars, usage) = run(&mut d, STREAM, &mut reply);
        assert_eq!((n, chars), (2, 5));
        assert_eq!(reply, "Hellö");
        assert_eq!(usage, Some(Usage::new(10, 16)));
        assert!(d.stream_complete());
        d.reset();
        assert!(!d.stream_complete());
    }

    #[test]
    fn completions_litellm_usage_on_a_chunk_with_choices() {
        let mut d = OpenAiCompletions::default();
        let chunk = br#"{"id":"cmpl-1","object":"text_completion","choices":[{"index":0,"text":"","finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":7,"total_tokens":10}}"#;
        let seen = d.event(b"", chunk, None).unwrap();
        assert_eq!(seen.usage, Some(Usage::new(3, 7)));
        assert_eq!(seen.content_chars, 0);
        // Usage on a content chunk: both are taken.
        let both =
            br#"{"choices":[{"index":0,"text":"ok"}],"usage":{"prompt_tokens":3,"completion_tokens":8}}"#;
        let seen = d.event(b"", both, None).unwrap();
        assert_eq!((seen.content_chars, seen.usage.unwrap().completion_tokens), (2, 8));
    }

    #[test]
    fn completions_errors_garbage_and_missing_done() {
        let mut d = OpenAiCompletions::default();
        let err = br#"{"error":{"message":"boom","type":"server_error","param":null,"code":null}}"#;
        assert!(d.event(b"", err, None).unwrap().error);
        assert_eq!(d.event(b"", b"not json", None), Err(ErrorKind::ProtocolError));
        let mut d = OpenAiCompletions::default();
        run(&mut d, &STREAM[..STREAM.len() - 1], &mut String::new());
        assert!(!d.stream_complete());
    }

    #[test]
    fn completions_body() {
        let mut d = OpenAiCompletions::default();
        let body = br#"{"id":"cmpl-1","object":"text_completion","created":1712420078,"model":"gpt-3.5-turbo-instruct",
            "choices":[{"index":0,"text":"Hi th\u00e9re","logprobs":null,"finish_reason":"length"}],
            "usage":{"prompt_tokens":10,"completion_tokens":16,"total_tokens":26}}"#;
        let mut reply = String::new();
        let seen = d.body(body, Some(&mut reply)).unwrap();
        assert_eq!((reply.as_str(), seen.content_chars), ("Hi thére", 8));
        assert_eq!(seen.usage, Some(Usage::new(10, 16)));
        assert!(d.stream_complete());
        assert_eq!(d.body(b"{}", None), Err(ErrorKind::ProtocolError));
        assert_eq!(d.body(br#"{"error":{"message":"x"}}"#, None), Err(ErrorKind::ProtocolError));
    }

    #[test]
    fn completions_fuzz_never_panics() {
        crate::protocol::kind::fuzz::run(&mut OpenAiCompletions::default(), STREAM, 0xC0);
    }
}
