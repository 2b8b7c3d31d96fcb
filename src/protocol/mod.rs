//! LLM wire protocols seen from the client: each module turns a protocol's responses
//! (SSE events or a whole JSON body) into what the engine measures — content deltas, usage,
//! finish, in-stream errors — behind one small trait.

pub(crate) mod anthropic;
pub(crate) mod body;
pub(crate) mod kind;
pub(crate) mod openai_chat;
pub(crate) mod openai_completions;
pub(crate) mod openai_responses;
pub(crate) mod skim;

pub(crate) use body::{json_string, json_string_body, write_json_string};
pub use kind::ProtocolKind;

use crate::metrics::ErrorKind;

/// Who said a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
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

/// Token usage reported by the server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// What one SSE event or body contained.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// Characters of content in this event (0: not content-bearing).
    pub content_chars: u64,
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
