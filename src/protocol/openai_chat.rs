//! OpenAI chat completions (`/chat/completions`), streaming and not: the request body and the
//! response decoder.
//!
//! TTFT is the first chunk whose `delta` carries output (text, reasoning or tool-call
//! arguments), not the role-only chunk a server sends first; reasoning arrives as
//! `reasoning_content` (DeepSeek, vLLM before 0.10) or `reasoning` (vLLM, OpenRouter) and is
//! counted apart. Tool calls stream as `tool_calls` deltas keyed by `index`, their `arguments`
//! fragments accumulated per index. Usage is read from whichever chunk carries it: LiteLLM
//! repeats it on a chunk with non-empty `choices`.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::openai_responses::MaybeText;
use super::skim::{once, Skim, Str};
use super::{
    body, count_reasoning, take_reasoning, take_text, Decoder, Finish, KeptCall, Seen, ToolCalls, ToolTally,
    TurnBody, Usage,
};
use crate::metrics::ErrorKind;

#[derive(Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
}

impl WireUsage {
    fn usage(&self) -> Usage {
        Usage {
            reasoning_tokens: self.completion_tokens_details.as_ref().and_then(|d| d.reasoning_tokens),
            cached_prompt_tokens: self.prompt_tokens_details.as_ref().and_then(|d| d.cached_tokens),
            ..Usage::new(self.prompt_tokens.unwrap_or(0), self.completion_tokens.unwrap_or(0))
        }
    }
}

#[derive(Deserialize)]
struct FunctionDelta<'a> {
    #[serde(borrow, default)]
    name: MaybeText<'a>,
    #[serde(borrow, default)]
    arguments: MaybeText<'a>,
}

/// One entry of a `tool_calls` delta (`id` and the function's `name` come on the first
/// fragment of a call; `type` is not needed).
#[derive(Deserialize)]
struct ToolCallDelta<'a> {
    #[serde(default)]
    index: Option<u64>,
    #[serde(borrow, default)]
    id: MaybeText<'a>,
    #[serde(borrow, default)]
    function: Option<FunctionDelta<'a>>,
}

impl ToolCallDelta<'_> {
    /// Notes this entry as call `key` of `tools`, arguments counted as output of `seen`.
    fn take(&self, key: u64, seen: &mut Seen, tools: &mut ToolCalls) {
        let f = self.function.as_ref();
        tools.start(key, self.id.0.as_deref(), f.and_then(|f| f.name.0.as_deref()));
        if let Some(args) = f.and_then(|f| f.arguments.0.as_deref()) {
            tools.append(key, args);
            seen.content_chars += args.chars().count() as u64;
        }
    }
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning: MaybeText<'a>,
    #[serde(borrow, default)]
    tool_calls: Option<Vec<ToolCallDelta<'a>>>,
}

#[derive(Deserialize)]
struct ChunkChoice<'a> {
    #[serde(borrow, default)]
    delta: Option<Delta<'a>>,
    #[serde(borrow, default)]
    finish_reason: Option<Cow<'a, str>>,
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
    #[serde(borrow, default)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning: MaybeText<'a>,
    #[serde(borrow, default)]
    tool_calls: Option<Vec<ToolCallDelta<'a>>>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(borrow)]
    message: Message<'a>,
    #[serde(borrow, default)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Completion<'a> {
    #[serde(borrow)]
    choices: Vec<Choice<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

/// Choices a reply may have for the fast path (more are left to serde).
const SKIM_CHOICES: usize = 4;

/// A count in a `*_details` object of usage (`null` for the object or the count: none).
fn skim_detail(s: &mut Skim<'_>, name: &[u8]) -> Option<Option<u64>> {
    if s.null()? {
        return Some(None);
    }
    let (mut has, mut value) = (false, None);
    s.object(|s, key| {
        if key != name {
            return s.skip();
        }
        once(&mut has)?;
        value = s.count_or_null()?;
        Some(())
    })?;
    Some(value)
}

/// The usual non-streaming reply read without serde: Some only when the skimmer read all of
/// it (so the result is serde's, field for field); None leaves it to the full decode — and so
/// does any reasoning or tool call, which only the full decode counts.
fn skim_body(body: &[u8], reply: Option<&mut String>) -> Option<Seen> {
    let mut s = Skim::new(body);
    let (mut has_choices, mut has_usage) = (false, false);
    let mut usage = None;
    // Per choice: its content and its finish reason.
    let mut choices: [(Option<Str<'_>>, Option<Finish>); SKIM_CHOICES] = [(None, None); SKIM_CHOICES];
    let mut n = 0;
    s.object(|s, key| match key {
        b"choices" => {
            once(&mut has_choices)?;
            s.array(|s| {
                let slot = choices.get_mut(n)?;
                n += 1;
                let (mut has_message, mut has_finish) = (false, false);
                s.object(|s, key| match key {
                    b"message" => {
                        once(&mut has_message)?;
                        let mut has_content = false;
                        s.object(|s, key| match key {
                            b"content" => {
                                once(&mut has_content)?;
                                if !s.null()? {
                                    slot.0 = Some(s.string()?);
                                }
                                Some(())
                            }
                            // Present and not null: the full decode's.
                            b"tool_calls" | b"reasoning_content" | b"reasoning" => s.null()?.then_some(()),
                            _ => s.skip(),
                        })
                    }
                    b"finish_reason" => {
                        once(&mut has_finish)?;
                        if !s.null()? {
                            let reason = s.string()?;
                            if reason.escapes > 0 || !reason.ascii {
                                return None;
                            }
                            slot.1 = Some(Finish::of(reason.raw));
                        }
                        Some(())
                    }
                    _ => s.skip(),
                })?;
                has_message.then_some(())
            })
        }
        b"usage" => {
            once(&mut has_usage)?;
            if s.null()? {
                return Some(());
            }
            let (mut prompt, mut completion) = ((false, None), (false, None));
            let (mut cached, mut reasoning) = ((false, None), (false, None));
            s.object(|s, key| {
                let field = match key {
                    b"prompt_tokens" => &mut prompt,
                    b"completion_tokens" => &mut completion,
                    b"prompt_tokens_details" => {
                        once(&mut cached.0)?;
                        cached.1 = skim_detail(s, b"cached_tokens")?;
                        return Some(());
                    }
                    b"completion_tokens_details" => {
                        once(&mut reasoning.0)?;
                        reasoning.1 = skim_detail(s, b"reasoning_tokens")?;
                        return Some(());
                    }
                    _ => return s.skip(),
                };
                once(&mut field.0)?;
                field.1 = s.count_or_null()?;
                Some(())
            })?;
            usage = Some(Usage {
                reasoning_tokens: reasoning.1,
                cached_prompt_tokens: cached.1,
                ..Usage::new(prompt.1.unwrap_or(0), completion.1.unwrap_or(0))
            });
            Some(())
        }
        _ => s.skip(),
    })?;
    s.end()?;
    if !has_choices {
        return None;
    }
    let choices = &choices[..n];
    // Every text must be decodable here before any is taken.
    let mut chars = [0u64; SKIM_CHOICES];
    for ((text, _), c) in choices.iter().zip(&mut chars) {
        *c = text.map_or(Some(0), |t| t.chars())?;
    }
    let mut seen = Seen { usage, done: true, ..Seen::default() };
    let mut reply = reply;
    for ((text, finish), c) in choices.iter().zip(chars) {
        if let Some(t) = text {
            seen.content_chars += c;
            if let Some(r) = reply.as_deref_mut() {
                t.push_to(r);
            }
        }
        seen.finish = finish.or(seen.finish);
    }
    Some(seen)
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
    tools: ToolCalls,
}

/// Counts the tool calls of a delta or message into `tools` (arguments as output of `seen`);
/// a call without an index is keyed by its place in the list.
fn take_calls(seen: &mut Seen, tools: &mut ToolCalls, calls: &[ToolCallDelta<'_>]) {
    for (i, call) in calls.iter().enumerate() {
        call.take(call.index.unwrap_or(i as u64), seen, tools);
    }
    // A tool call is output even before its arguments.
    if !calls.is_empty() && seen.content_chars == 0 {
        seen.content_chars = 1;
    }
}

impl Decoder for OpenAiChat {
    fn reset(&mut self) {
        self.done = false;
        self.tools.reset();
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
        for choice in &chunk.choices {
            if let Some(reason) = &choice.finish_reason {
                seen.finish = Some(Finish::of(reason.as_bytes()));
            }
            let Some(delta) = &choice.delta else { continue };
            for text in
                [delta.reasoning_content.as_deref(), delta.reasoning.0.as_deref()].into_iter().flatten()
            {
                take_reasoning(&mut seen, &mut reply, text);
            }
            if let Some(text) = &delta.content {
                take_text(&mut seen, &mut reply, text);
            }
            if let Some(calls) = &delta.tool_calls {
                take_calls(&mut seen, &mut self.tools, calls);
            }
        }
        Ok(seen)
    }

    fn body(&mut self, body: &[u8], mut reply: Option<&mut String>) -> Result<Seen, ErrorKind> {
        if let Some(seen) = skim_body(body, reply.as_deref_mut()) {
            self.done = true;
            return Ok(seen);
        }
        self.full_body(body, reply)
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

impl OpenAiChat {
    /// The full decode (serde), for every reply the fast path leaves.
    fn full_body(&mut self, body: &[u8], reply: Option<&mut String>) -> Result<Seen, ErrorKind> {
        let completion: Completion = serde_json::from_slice(body).map_err(|_| ErrorKind::ProtocolError)?;
        let mut seen =
            Seen { usage: completion.usage.as_ref().map(WireUsage::usage), done: true, ..Seen::default() };
        let mut reply = reply;
        self.tools.reset();
        for (i, choice) in completion.choices.iter().enumerate() {
            let m = &choice.message;
            for text in [m.reasoning_content.as_deref(), m.reasoning.0.as_deref()].into_iter().flatten() {
                count_reasoning(&mut seen, text);
            }
            if let Some(text) = &m.content {
                take_text(&mut seen, &mut reply, text);
            }
            if let Some(calls) = &m.tool_calls {
                // Calls of different choices apart (each choice numbers its own from 0).
                for (j, call) in calls.iter().enumerate() {
                    call.take(((i as u64) << 32) | j as u64, &mut seen, &mut self.tools);
                }
                if !calls.is_empty() && seen.content_chars == 0 {
                    seen.content_chars = 1;
                }
            }
            if let Some(reason) = &choice.finish_reason {
                seen.finish = Some(Finish::of(reason.as_bytes()));
            }
        }
        self.done = true;
        Ok(seen)
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
        assert_eq!(seen.usage, Some(Usage::new(3, 7)));
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

    /// Replies the fast path reads itself: the mock's, escapes, tool calls, null content,
    /// several choices, non-ASCII, blanks everywhere.
    const REPLIES: &[&str] = &[
        r#"{"id":"chatcmpl-d8ab72f0501a6e2400000000","object":"chat.completion","created":1796181302,"model":"mock-gpt","choices":[{"index":0,"message":{"role":"assistant","content":"calls at any rate the model answers with a short and plain reply about your request","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":29,"completion_tokens":16,"total_tokens":45,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_llmload_mock"}"#,
        "{\"choices\":[{\"message\":{\"content\":\"a \\\"quoted\\\"\\nline\\t/\\/ caf\u{e9} \u{1F980}\"}}],\"usage\":null}",
        r#"{"choices":[{"message":{"content":"x","tool_calls":null}},{"message":{"content":"yz"}}],"usage":{"prompt_tokens":null}}"#,
        " {\n \"usage\" : { \"completion_tokens\" : 0 } ,\r\t\"choices\":[ ] } \n",
    ];

    #[test]
    fn the_fast_path_reads_usual_replies_as_the_full_decode() {
        for reply in REPLIES {
            let (mut fast_text, mut full_text) = (String::new(), String::new());
            let fast = skim_body(reply.as_bytes(), Some(&mut fast_text));
            let full = OpenAiChat::default().full_body(reply.as_bytes(), Some(&mut full_text));
            assert_eq!(fast.map(Ok), Some(full), "{reply}");
            assert_eq!(fast_text, full_text);
        }
        let seen = OpenAiChat::default().body(REPLIES[0].as_bytes(), None).unwrap();
        assert_eq!((seen.content_chars, seen.usage.unwrap().completion_tokens), (83, 16));
    }

    /// Whatever the bytes, the fast path either gives up or gives the full decode's result
    /// (mutations of the usual replies: bytes replaced, dropped, added; cuts).
    #[test]
    fn the_fast_path_never_disagrees_with_the_full_decode() {
        const BYTES: &[u8] = b"\"\\{}[],:0123456789-+.eEnulltruefalse \n\x01\xc3\xa9\xffu/";
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: usize| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1) as u64) as usize
        };
        let (mut taken, mut total) = (0, 0);
        for reply in REPLIES {
            for _ in 0..3000 {
                let mut m = reply.as_bytes().to_vec();
                for _ in 0..1 + next(3) {
                    let at = next(m.len());
                    match next(5) {
                        0 | 1 if at < m.len() => m[at] = BYTES[next(BYTES.len())],
                        2 if at < m.len() => drop(m.remove(at)),
                        3 => m.insert(at.min(m.len()), BYTES[next(BYTES.len())]),
                        _ => m.truncate(at + 1),
                    }
                }
                let (mut fast_text, mut full_text) = (String::new(), String::new());
                total += 1;
                if let Some(fast) = skim_body(&m, Some(&mut fast_text)) {
                    taken += 1;
                    let full = OpenAiChat::default().full_body(&m, Some(&mut full_text));
                    assert_eq!(Ok(fast), full, "{}", String::from_utf8_lossy(&m));
                    assert_eq!(fast_text, full_text);
                }
            }
        }
        assert!(taken > total / 20, "the fast path read {taken} of {total}");
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
        assert_eq!(usage, Some(Usage::new(19, 7)));
        assert!(!d.stream_complete(), "no [DONE] yet");
        assert!(d.event(b"", b"[DONE]", None).unwrap().done);
        assert!(d.stream_complete());
    }

    #[test]
    fn reasoning_tool_calls_and_cache_decode_and_the_fast_path_leaves_them() {
        let mut d = OpenAiChat::default();
        let events: &[(&str, &str)] = &[
            ("", r#"{"choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"hm"}}]}"#),
            ("", r#"{"choices":[{"index":0,"delta":{"reasoning":"m."}}]}"#),
            (
                "",
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":""}}]}}]}"#,
            ),
            (
                "",
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}}]}"#,
            ),
            (
                "",
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"c2","function":{"name":"g","arguments":"{}"}},{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
            ),
            (
                "",
                r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":50,"completion_tokens":9,"prompt_tokens_details":{"cached_tokens":32},"completion_tokens_details":{"reasoning_tokens":4}}}"#,
            ),
        ];
        let mut reasoning = 0;
        let (mut finish, mut usage) = (None, None);
        for (name, data) in events {
            let seen = d.event(name.as_bytes(), data.as_bytes(), None).unwrap();
            reasoning += seen.reasoning_chars;
            finish = seen.finish.or(finish);
            usage = seen.usage.or(usage);
        }
        assert_eq!((reasoning, finish), (4, Some(Finish::ToolCalls)));
        assert_eq!(d.tool_calls(), ToolTally { calls: 2, arg_bytes: 9, invalid: 0 });
        let want = Usage { reasoning_tokens: Some(4), cached_prompt_tokens: Some(32), ..Usage::new(50, 9) };
        assert_eq!(usage, Some(want));
        // Non-streaming: reasoning and tool calls leave the fast path; the full decode reads them.
        let body = r#"{"choices":[{"message":{"content":null,"reasoning_content":"abc","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"x\""}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":5,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":4}}}"#;
        assert_eq!(skim_body(body.as_bytes(), None), None);
        let mut d = OpenAiChat::default();
        let seen = d.body(body.as_bytes(), None).unwrap();
        assert_eq!(
            (seen.reasoning_chars, seen.content_chars, seen.finish),
            (3, 3 + 4, Some(Finish::ToolCalls))
        );
        assert_eq!(d.tool_calls(), ToolTally { calls: 1, arg_bytes: 4, invalid: 1 });
        assert_eq!(seen.usage.unwrap().cached_prompt_tokens, Some(4));
        // The usual reply's zero details stay on the fast path, read as serde reads them.
        let fast = skim_body(REPLIES[0].as_bytes(), None).unwrap();
        assert_eq!((fast.usage.unwrap().cached_prompt_tokens, fast.finish), (Some(0), Some(Finish::Stop)));
    }

    #[test]
    fn fuzz_never_panics() {
        crate::protocol::kind::fuzz::run(&mut OpenAiChat::default(), STREAM, 0xC4A7);
    }
}
