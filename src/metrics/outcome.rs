//! One request's outcome: its timestamps, status, error class and tokens.

use std::time::Instant;

use super::reply::{Finish, ToolTally};
use super::throttle::Throttle;
use super::ErrorKind;

/// Which pool key a request was sent with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyTag {
    /// The key's place in the run's list of keys (first seen first), from 0.
    pub index: u16,
    /// The first 8 hex digits of the key's SHA-256 (`wire::ratelimit::key_id`).
    pub id: [u8; 8],
}

/// Where token counts came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenSource {
    /// The response's `usage`.
    Usage,
    /// Counted content events (the server sent no usage).
    Counted,
    /// No tokens known.
    #[default]
    None,
}

impl TokenSource {
    pub fn name(self) -> &'static str {
        match self {
            TokenSource::Usage => "usage",
            TokenSource::Counted => "counted",
            TokenSource::None => "none",
        }
    }
}

/// A request's tokens as the run's tokenizer counts them on the client, beside the server's
/// usage (`Outcome::prompt_tokens`, `completion_tokens`) and the counted events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenizerCounts {
    /// The contents of every message sent (the system prompt included) plus the overhead of
    /// the usual counting recipe (`tokens::chat_overhead`; the completions protocol has none).
    pub prompt: u64,
    /// The reply text.
    pub completion: u64,
}

/// What happened to one request.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// When the schedule wanted it sent (closed loop: when the user issued it).
    pub intended: Instant,
    /// When its first byte was written.
    pub sent: Instant,
    /// First response byte.
    pub first_byte: Option<Instant>,
    /// First content-bearing event (streams), or the complete body (non-streams).
    pub first_token: Option<Instant>,
    /// Last content-bearing event.
    pub last_token: Option<Instant>,
    /// Response complete, or failure.
    pub end: Instant,
    /// HTTP status (0 when none arrived).
    pub status: u16,
    pub error: Option<ErrorKind>,
    /// Content-bearing events seen.
    pub content_events: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub token_source: TokenSource,
    /// Usage and the counted events disagreed (streams with one token per event only).
    pub token_mismatch: bool,
    /// Counted by the run's tokenizer (when it has one).
    pub tokenizer: Option<TokenizerCounts>,
    /// Characters of output received (answer, reasoning and tool-call arguments).
    pub content_chars: u64,
    /// First event with answer output (text or a tool call, not only reasoning): what
    /// `ttft_content` measures. Streams only.
    pub first_content: Option<Instant>,
    /// First and last events with reasoning (streams only).
    pub first_reasoning: Option<Instant>,
    pub last_reasoning: Option<Instant>,
    /// Events with reasoning, and the characters of reasoning (of `content_chars`).
    pub reasoning_events: u64,
    pub reasoning_chars: u64,
    /// Reasoning tokens: usage's, else the counted reasoning events of a stream; None when
    /// neither says (`reasoning_source` tells which).
    pub reasoning_tokens: Option<u64>,
    pub reasoning_source: TokenSource,
    /// The reply's tool calls.
    pub tools: ToolTally,
    /// Usage's cached prompt tokens and cache writes (normalised, see `protocol::Usage`).
    pub cached_prompt_tokens: Option<u64>,
    pub cache_write_tokens: Option<u64>,
    /// Anthropic's own `input_tokens` (without the cache), when it differs from `prompt_tokens`.
    pub raw_input_tokens: Option<u64>,
    /// How the reply ended, when it said.
    pub finish: Option<Finish>,
    /// Whether the answer text is valid JSON, when the scenario asks for JSON
    /// (`response_format`) and the reply had an answer to check (`protocol::answer`).
    pub json_valid: Option<bool>,
    /// Connect time, when this request opened a new connection.
    pub connect_us: Option<u64>,
    /// TLS handshake time, when this request opened a new TLS connection.
    pub tls_us: Option<u64>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Rate limiting and retries over every attempt (a retry keeps it).
    pub throttle: Throttle,
    /// The pool key it was sent with (`api_keys`, `--vk-file`).
    pub key: Option<KeyTag>,
}

impl Outcome {
    /// An outcome that starts at `intended` and has nothing yet.
    pub fn new(intended: Instant) -> Outcome {
        Outcome {
            intended,
            sent: intended,
            first_byte: None,
            first_token: None,
            last_token: None,
            end: intended,
            status: 0,
            error: None,
            content_events: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            token_source: TokenSource::None,
            token_mismatch: false,
            tokenizer: None,
            content_chars: 0,
            first_content: None,
            first_reasoning: None,
            last_reasoning: None,
            reasoning_events: 0,
            reasoning_chars: 0,
            reasoning_tokens: None,
            reasoning_source: TokenSource::None,
            tools: ToolTally { calls: 0, arg_bytes: 0, invalid: 0 },
            cached_prompt_tokens: None,
            cache_write_tokens: None,
            raw_input_tokens: None,
            finish: None,
            json_valid: None,
            connect_us: None,
            tls_us: None,
            bytes_in: 0,
            bytes_out: 0,
            throttle: Throttle::default(),
            key: None,
        }
    }

    /// Starts over for another attempt of the same request: its intended time, key and
    /// rate-limit notes are kept, everything the attempt measures is cleared.
    pub fn restart(&mut self) {
        let throttle = std::mem::take(&mut self.throttle);
        let key = self.key;
        *self = Outcome::new(self.intended);
        self.throttle = throttle;
        self.key = key;
    }

    /// An answer that was all reasoning: no answer text and no tool call, some reasoning
    /// (the budget went to thinking).
    pub fn reasoning_only(&self) -> bool {
        let answered = self.content_chars > self.reasoning_chars || self.tools.calls > 0;
        !answered && (self.reasoning_chars > 0 || self.reasoning_tokens.is_some_and(|n| n > 0))
    }

    /// Success: status 200, no error.
    pub fn is_ok(&self) -> bool {
        self.status == 200 && self.error.is_none()
    }
}

/// Microseconds from `a` to `b` (0 if `b` is earlier).
#[inline]
pub(crate) fn us_between(a: Instant, b: Instant) -> u64 {
    b.saturating_duration_since(a).as_micros() as u64
}
