//! LLM wire protocols seen from the client: each module turns a protocol's responses
//! (SSE events or a whole JSON body) into what the engine measures — content deltas, usage,
//! finish, in-stream errors — behind one small trait.

pub mod openai_chat;

use crate::metrics::ErrorKind;

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
