//! The protocols `llmload` speaks, as one value: name, default path, request body, decoder
//! and the headers each needs. Each protocol's body writer and decoder live in its own module.

use std::fmt;
use std::str::FromStr;

use super::anthropic::{self, Anthropic};
use super::openai_chat::{self, OpenAiChat};
use super::openai_completions::{self, OpenAiCompletions};
use super::openai_responses::{self, OpenAiResponses};
use super::{Decoder, KeptCall, Seen, ToolTally, TurnBody};
use crate::metrics::ErrorKind;

/// A wire protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProtocolKind {
    /// OpenAI chat completions.
    OpenAiChat,
    /// Anthropic Messages.
    Anthropic,
    /// OpenAI Responses.
    OpenAiResponses,
    /// OpenAI legacy completions.
    OpenAiCompletions,
}

impl ProtocolKind {
    /// Every protocol, in the order names are listed.
    pub const ALL: [ProtocolKind; 4] = [
        ProtocolKind::OpenAiChat,
        ProtocolKind::Anthropic,
        ProtocolKind::OpenAiResponses,
        ProtocolKind::OpenAiCompletions,
    ];

    /// The protocol called `name` (`openai-chat`, `anthropic`, `openai-responses`,
    /// `openai-completions`); the error lists the known names.
    pub fn parse(name: &str) -> Result<ProtocolKind, String> {
        ProtocolKind::ALL.into_iter().find(|k| k.name().eq_ignore_ascii_case(name.trim())).ok_or_else(|| {
            let known: Vec<&str> = ProtocolKind::ALL.iter().map(|k| k.name()).collect();
            format!("unknown protocol `{name}` (known: {})", known.join(", "))
        })
    }

    /// The protocol's name, as `parse` accepts it.
    pub fn name(self) -> &'static str {
        match self {
            ProtocolKind::OpenAiChat => "openai-chat",
            ProtocolKind::Anthropic => "anthropic",
            ProtocolKind::OpenAiResponses => "openai-responses",
            ProtocolKind::OpenAiCompletions => "openai-completions",
        }
    }

    /// The request path on a server rooted at `/`.
    pub fn default_path(self) -> &'static str {
        match self {
            ProtocolKind::OpenAiChat => "/v1/chat/completions",
            ProtocolKind::Anthropic => "/v1/messages",
            ProtocolKind::OpenAiResponses => "/v1/responses",
            ProtocolKind::OpenAiCompletions => "/v1/completions",
        }
    }

    /// A fresh decoder for this protocol's responses.
    pub fn decoder(self) -> AnyDecoder {
        AnyDecoder(match self {
            ProtocolKind::OpenAiChat => Decoders::OpenAiChat(OpenAiChat::default()),
            ProtocolKind::Anthropic => Decoders::Anthropic(Anthropic::default()),
            ProtocolKind::OpenAiResponses => Decoders::OpenAiResponses(OpenAiResponses::default()),
            ProtocolKind::OpenAiCompletions => Decoders::OpenAiCompletions(OpenAiCompletions::default()),
        })
    }

    /// Headers every request of this protocol carries (besides auth and framing).
    pub fn extra_headers(self) -> &'static [(&'static str, &'static str)] {
        match self {
            ProtocolKind::Anthropic => &[("anthropic-version", "2023-06-01")],
            _ => &[],
        }
    }

    /// Whether an API key should also be sent as `x-api-key` (Anthropic's own auth header).
    pub fn uses_x_api_key(self) -> bool {
        self == ProtocolKind::Anthropic
    }

    /// Appends the JSON request body of `turn` to `out` (each protocol's `write_body`).
    pub fn write_body(self, turn: &TurnBody<'_>, out: &mut Vec<u8>) {
        match self {
            ProtocolKind::OpenAiChat => openai_chat::write_body(turn, out),
            ProtocolKind::Anthropic => anthropic::write_body(turn, out),
            ProtocolKind::OpenAiResponses => openai_responses::write_body(turn, out),
            ProtocolKind::OpenAiCompletions => openai_completions::write_body(turn, out),
        }
    }
}

/// The decoder of any protocol, held by value (a conversation keeps it without allocating).
pub struct AnyDecoder(Decoders);

enum Decoders {
    OpenAiChat(OpenAiChat),
    Anthropic(Anthropic),
    OpenAiResponses(OpenAiResponses),
    OpenAiCompletions(OpenAiCompletions),
}

impl AnyDecoder {
    fn inner(&mut self) -> &mut dyn Decoder {
        match &mut self.0 {
            Decoders::OpenAiChat(d) => d,
            Decoders::Anthropic(d) => d,
            Decoders::OpenAiResponses(d) => d,
            Decoders::OpenAiCompletions(d) => d,
        }
    }
}

impl Decoder for AnyDecoder {
    fn reset(&mut self) {
        self.inner().reset();
    }

    fn event(&mut self, name: &[u8], data: &[u8], reply: Option<&mut String>) -> Result<Seen, ErrorKind> {
        self.inner().event(name, data, reply)
    }

    fn body(&mut self, body: &[u8], reply: Option<&mut String>) -> Result<Seen, ErrorKind> {
        self.inner().body(body, reply)
    }

    fn stream_complete(&self) -> bool {
        match &self.0 {
            Decoders::OpenAiChat(d) => d.stream_complete(),
            Decoders::Anthropic(d) => d.stream_complete(),
            Decoders::OpenAiResponses(d) => d.stream_complete(),
            Decoders::OpenAiCompletions(d) => d.stream_complete(),
        }
    }

    fn tool_calls(&self) -> ToolTally {
        match &self.0 {
            Decoders::OpenAiChat(d) => d.tool_calls(),
            Decoders::Anthropic(d) => d.tool_calls(),
            Decoders::OpenAiResponses(d) => d.tool_calls(),
            Decoders::OpenAiCompletions(d) => d.tool_calls(),
        }
    }

    fn tool_call(&self, i: usize) -> Option<KeptCall<'_>> {
        match &self.0 {
            Decoders::OpenAiChat(d) => d.tool_call(i),
            Decoders::Anthropic(d) => d.tool_call(i),
            Decoders::OpenAiResponses(d) => d.tool_call(i),
            Decoders::OpenAiCompletions(d) => d.tool_call(i),
        }
    }
}

impl fmt::Display for ProtocolKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ProtocolKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProtocolKind::parse(s)
    }
}

/// A deterministic fuzz harness for decoders: random bytes, mutated recorded events and
/// random JSON built from the protocols' own keys, checking only that nothing panics and
/// that a decoder never keeps more reply text than it counts.
#[cfg(test)]
pub(crate) mod fuzz {
    use super::Decoder;

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            // xorshift64*
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }
    }

    const WORDS: &[&str] = &[
        "type",
        "delta",
        "text",
        "thinking",
        "partial_json",
        "usage",
        "input_tokens",
        "output_tokens",
        "prompt_tokens",
        "completion_tokens",
        "message",
        "content",
        "content_block",
        "index",
        "choices",
        "sequence_number",
        "response",
        "output",
        "error",
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
        "response.output_text.delta",
        "response.completed",
        "response.failed",
        "output_text",
        "[DONE]",
        // Reasoning, tool calls and cache fields (issue 14).
        "reasoning_content",
        "reasoning",
        "tool_calls",
        "function",
        "name",
        "id",
        "arguments",
        "finish_reason",
        "stop_reason",
        "tool_use",
        "input",
        "thinking_delta",
        "signature_delta",
        "signature",
        "input_json_delta",
        "redacted_thinking",
        "prompt_tokens_details",
        "completion_tokens_details",
        "input_tokens_details",
        "output_tokens_details",
        "cached_tokens",
        "reasoning_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "function_call",
        "output_index",
        "item",
        "summary",
        "response.output_item.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_text.delta",
        "response.function_call_arguments.delta",
    ];
    const STRINGS: &[&str] =
        &[r#""""#, r#""h\u00e9""#, r#""\ud800""#, r#""\"\\\n""#, r#""é漢🦀""#, "\"\u{0}\"", r#""\x""#];
    const SCALARS: &[&str] = &["null", "true", "0", "-1", "1.5e308", "18446744073709551616", "1e999", "-0"];
    const JUNK: &[u8] = b"{}[]\":,\\ 0123456789abcdeflnrtu-.\n\xff\xc3";

    fn value(rng: &mut Rng, depth: u32, out: &mut Vec<u8>) {
        match rng.below(if depth > 3 { 4 } else { 7 }) {
            0 => out.extend_from_slice(rng.pick(SCALARS).as_bytes()),
            1 => out.extend_from_slice(rng.pick(STRINGS).as_bytes()),
            2 | 3 => {
                out.push(b'"');
                out.extend_from_slice(rng.pick(WORDS).as_bytes());
                out.push(b'"');
            }
            4 => {
                out.push(b'[');
                for i in 0..rng.below(4) {
                    if i > 0 {
                        out.push(b',');
                    }
                    value(rng, depth + 1, out);
                }
                out.push(b']');
            }
            _ => object(rng, depth + 1, out),
        }
    }

    fn object(rng: &mut Rng, depth: u32, out: &mut Vec<u8>) {
        out.push(b'{');
        for i in 0..rng.below(6) {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(rng.pick(WORDS).as_bytes());
            out.extend_from_slice(b"\":");
            value(rng, depth, out);
        }
        out.push(b'}');
    }

    /// Feeds `decoder` a few thousand hostile events and bodies derived from `events` (name,
    /// data) and `seed`.
    pub(crate) fn run(decoder: &mut dyn Decoder, events: &[(&str, &str)], seed: u64) {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut reply = String::new();
        let mut data = Vec::new();
        let deep = [&b"["[..], b"{\"delta\":", b"{\"choices\":["];
        for _ in 0..4000 {
            data.clear();
            let (name, seed_data) = *rng.pick(events);
            match rng.below(6) {
                0 => (0..rng.below(48)).for_each(|_| data.push(*rng.pick(JUNK))),
                1 => {
                    // A recorded event, cut short and with a few bytes changed.
                    data.extend_from_slice(seed_data.as_bytes());
                    data.truncate(rng.below(data.len() + 1));
                    for _ in 0..rng.below(3) {
                        if !data.is_empty() {
                            let at = rng.below(data.len());
                            data[at] = *rng.pick(JUNK);
                        }
                    }
                }
                2 => object(&mut rng, 0, &mut data),
                3 => {
                    let open = rng.pick(&deep);
                    (0..rng.below(4000)).for_each(|_| data.extend_from_slice(open));
                }
                _ => data.extend_from_slice(seed_data.as_bytes()),
            }
            let name: &[u8] = match rng.below(4) {
                0 => rng.pick(WORDS).as_bytes(),
                1 => b"\xff\xfe",
                _ => name.as_bytes(),
            };
            if rng.below(40) == 0 || (decoder.stream_complete() && rng.below(4) == 0) {
                decoder.reset();
            }
            if reply.len() > 4096 {
                reply.clear();
            }
            let before = reply.chars().count() as u64;
            if rng.below(5) == 0 {
                if let Ok(seen) = decoder.body(&data, Some(&mut reply)) {
                    assert!(reply.chars().count() as u64 - before <= seen.content_chars);
                }
            } else if let Ok(seen) = decoder.event(name, &data, Some(&mut reply)) {
                assert!(reply.chars().count() as u64 - before <= seen.content_chars);
            }
            let _ = decoder.stream_complete();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_paths_and_headers() {
        for kind in ProtocolKind::ALL {
            assert_eq!(ProtocolKind::parse(kind.name()), Ok(kind));
            assert_eq!(kind.name().parse::<ProtocolKind>(), Ok(kind));
            assert_eq!(kind.to_string(), kind.name());
            assert!(kind.default_path().starts_with("/v1/"));
            assert_eq!(kind.uses_x_api_key(), kind == ProtocolKind::Anthropic);
            assert_eq!(kind.extra_headers().is_empty(), kind != ProtocolKind::Anthropic);
        }
        assert_eq!(ProtocolKind::parse("Anthropic"), Ok(ProtocolKind::Anthropic));
        assert_eq!(ProtocolKind::Anthropic.extra_headers(), &[("anthropic-version", "2023-06-01")]);
        assert_eq!(ProtocolKind::OpenAiResponses.default_path(), "/v1/responses");
        let err = ProtocolKind::parse("openai").unwrap_err();
        assert!(err.contains("openai-chat, anthropic, openai-responses, openai-completions"), "{err}");
    }

    #[test]
    fn kind_decoders_match_their_protocol() {
        let bodies: [&[u8]; 4] = [
            br#"{"choices":[{"message":{"role":"assistant","content":"abc"}}]}"#,
            br#"{"content":[{"type":"text","text":"abc"}],"usage":{"input_tokens":1,"output_tokens":1}}"#,
            br#"{"output":[{"type":"message","content":[{"type":"output_text","text":"abc"}]}]}"#,
            br#"{"choices":[{"text":"abc"}]}"#,
        ];
        for (i, kind) in ProtocolKind::ALL.into_iter().enumerate() {
            for (j, body) in bodies.iter().enumerate() {
                let decoded = kind.decoder().body(body, None);
                assert_eq!(decoded.is_ok_and(|s| s.content_chars == 3), i == j, "{kind} on body {j}");
            }
        }
    }
}
