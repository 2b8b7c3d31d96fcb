//! OpenAI legacy completions (`/v1/completions`), streaming and not.
//!
//! The chat API's framing with `choices[].text` in place of a delta: data-only chunks, usage
//! on whichever chunk carries it (the `include_usage` chunk, or LiteLLM's repeat on a chunk
//! with non-empty `choices`), `[DONE]` at the end, `{"error":…}` for a mid-stream error.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::{take_text, Decoder, Seen, Usage};
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

/// Decoder for OpenAI legacy completions.
#[derive(Default)]
pub struct OpenAiCompletions {
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
        assert_eq!(usage, Some(Usage { prompt_tokens: 10, completion_tokens: 16 }));
        assert!(d.stream_complete());
        d.reset();
        assert!(!d.stream_complete());
    }

    #[test]
    fn completions_litellm_usage_on_a_chunk_with_choices() {
        let mut d = OpenAiCompletions::default();
        let chunk = br#"{"id":"cmpl-1","object":"text_completion","choices":[{"index":0,"text":"","finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":7,"total_tokens":10}}"#;
        let seen = d.event(b"", chunk, None).unwrap();
        assert_eq!(seen.usage, Some(Usage { prompt_tokens: 3, completion_tokens: 7 }));
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
        assert_eq!(seen.usage, Some(Usage { prompt_tokens: 10, completion_tokens: 16 }));
        assert!(d.stream_complete());
        assert_eq!(d.body(b"{}", None), Err(ErrorKind::ProtocolError));
        assert_eq!(d.body(br#"{"error":{"message":"x"}}"#, None), Err(ErrorKind::ProtocolError));
    }

    #[test]
    fn completions_fuzz_never_panics() {
        crate::protocol::kind::fuzz::run(&mut OpenAiCompletions::default(), STREAM, 0xC0);
    }
}
