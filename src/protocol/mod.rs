//! LLM wire protocols seen from the client: each module turns a protocol's responses
//! (SSE events or a whole JSON body) into what the engine measures — content deltas, usage,
//! finish, in-stream errors — behind one small trait.

pub(crate) mod answer;
pub(crate) mod anthropic;
pub(crate) mod body;
pub(crate) mod kind;
pub(crate) mod openai_chat;
pub(crate) mod openai_completions;
pub(crate) mod openai_responses;
#[cfg(test)]
mod reasoning_stream_tests;
pub(crate) mod skim;
#[cfg(test)]
mod tool_stream_tests;
pub(crate) mod tool_turn;
pub(crate) mod tools;

pub(crate) use crate::metrics::reply::{Finish, ToolTally};
pub(crate) use body::{json_string, json_string_body, write_json_string};
pub use kind::ProtocolKind;
pub use tools::KeptCall;
pub(crate) use tools::ToolCalls;

use crate::metrics::ErrorKind;

/// Who said a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
    /// Not a `{role, content}` message: `content_json` is one or more whole JSON objects
    /// (comma-separated) in the protocol's own shape, written as they are — a tool-call turn's
    /// OpenAI `tool_calls` message and `tool` results, Responses `function_call` items.
    Raw,
}

/// One message of a conversation, its content already encoded as a JSON string literal
/// (quotes included), so a growing history is escaped once, not on every turn.
#[derive(Clone, Debug)]
pub struct Message {
    pub role: Role,
    pub content_json: String,
}

/// Everything a protocol needs to write one turn's request body.
pub struct TurnBody<'a> {
    pub model: &'a str,
    /// The system prompt as a JSON string literal (quotes included), if any.
    pub system_json: Option<&'a str>,
    /// The conversation so far, oldest first, ending with the new user message.
    pub messages: &'a [Message],
    pub max_tokens: u32,
    pub stream: bool,
    /// The scenario's options as `,"field":value` pieces (tools, reasoning, …), or empty.
    pub extra_json: &'a str,
}

/// Counts `text` as content of `seen` and appends it to `reply`, when one is kept.
pub(crate) fn take_text(seen: &mut Seen, reply: &mut Option<&mut String>, text: &str) {
    seen.content_chars += text.chars().count() as u64;
    if let Some(r) = reply.as_deref_mut() {
        r.push_str(text);
    }
}

/// Counts `text` as reasoning (and so as output) of `seen`, and appends it to `reply` as
/// `take_text` does.
pub(crate) fn take_reasoning(seen: &mut Seen, reply: &mut Option<&mut String>, text: &str) {
    let before = seen.content_chars;
    take_text(seen, reply, text);
    seen.reasoning_chars += seen.content_chars - before;
}

/// Counts `text` as reasoning of `seen` without keeping it (a whole body's reasoning is not
/// part of the reply a conversation sends back).
pub(crate) fn count_reasoning(seen: &mut Seen, text: &str) {
    let n = text.chars().count() as u64;
    seen.content_chars += n;
    seen.reasoning_chars += n;
}

/// Token usage reported by the server, normalised across protocols (docs/metrics.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Every prompt token, cached or not (Anthropic: `input_tokens` + cache reads + cache
    /// writes, as OpenAI's `prompt_tokens` counts them).
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Of `completion_tokens`: `completion_tokens_details.reasoning_tokens` (chat) or
    /// `output_tokens_details.reasoning_tokens` (Responses).
    pub reasoning_tokens: Option<u64>,
    /// Of `prompt_tokens`: read from the provider's cache (`prompt_tokens_details.cached_tokens`,
    /// `input_tokens_details.cached_tokens`, Anthropic `cache_read_input_tokens`).
    pub cached_prompt_tokens: Option<u64>,
    /// Anthropic `cache_creation_input_tokens`.
    pub cache_write_tokens: Option<u64>,
    /// Anthropic's own `input_tokens` (without the cache), when a cache field made
    /// `prompt_tokens` differ from it.
    pub raw_input_tokens: Option<u64>,
}

impl Usage {
    /// Usage with only the two totals.
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Usage {
        Usage { prompt_tokens, completion_tokens, ..Usage::default() }
    }
}

/// What one SSE event or body contained.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// Characters of output in this event, of any kind: answer text, reasoning, tool-call
    /// arguments (0: not content-bearing). TTFT is the first event with some.
    pub content_chars: u64,
    /// Of `content_chars`: reasoning (an event with only reasoning is not the answer's
    /// first token).
    pub reasoning_chars: u64,
    /// The finish reason, when this event or body carried one (a later one wins).
    pub finish: Option<Finish>,
    /// Usage, when this event carried it (a later one wins).
    pub usage: Option<Usage>,
    /// The protocol's end marker (`[DONE]`, `message_stop`, `response.completed`).
    pub done: bool,
    /// An in-stream error event.
    pub error: bool,
}

/// Decodes one protocol's responses. A decoder is reset before each request.
pub trait Decoder {
    /// Forgets the previous response.
    fn reset(&mut self);
    /// One SSE event of a streaming response. `reply`, when given, collects the content text.
    fn event(&mut self, name: &[u8], data: &[u8], reply: Option<&mut String>) -> Result<Seen, ErrorKind>;
    /// A complete non-streaming JSON body.
    fn body(&mut self, body: &[u8], reply: Option<&mut String>) -> Result<Seen, ErrorKind>;
    /// Whether a stream that ended now ended properly (its end marker arrived).
    fn stream_complete(&self) -> bool;
    /// The tool calls of the response so far (count, argument bytes, invalid JSON).
    fn tool_calls(&self) -> ToolTally {
        ToolTally::default()
    }
    /// Tool call `i` of the response, in order of appearance, among the first
    /// `tools::MAX_KEPT` (its id, name and arguments, for a tool-result turn).
    fn tool_call(&self, _i: usize) -> Option<KeptCall<'_>> {
        None
    }
    /// Whether the response's answer text is valid JSON, for a decoder that checks it
    /// (`answer::JsonAnswer`); None for the others, and for an answer without text.
    fn json_answer(&self) -> Option<bool> {
        None
    }
}

/// Feeds `(event name, data)` pairs to a decoder, as the tests of every protocol do:
/// (content events, content chars, the last usage seen, whether an error event came).
#[cfg(test)]
pub(crate) fn replay(
    d: &mut dyn Decoder,
    events: &[(&str, &str)],
    reply: &mut String,
) -> (u64, u64, Option<Usage>, bool) {
    let (mut n, mut chars, mut usage, mut error) = (0, 0, None, false);
    for (name, data) in events {
        let seen = d.event(name.as_bytes(), data.as_bytes(), Some(&mut *reply)).expect("valid event");
        if seen.content_chars > 0 {
            n += 1;
            chars += seen.content_chars;
        }
        usage = seen.usage.or(usage);
        error |= seen.error;
    }
    (n, chars, usage, error)
}
