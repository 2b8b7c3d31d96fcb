//! One request's outcome: its timestamps, status, error class and tokens.

use std::time::Instant;

use super::ErrorKind;

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
    /// Characters of content received.
    pub content_chars: u64,
    /// Connect time, when this request opened a new connection.
    pub connect_us: Option<u64>,
    /// TLS handshake time, when this request opened a new TLS connection.
    pub tls_us: Option<u64>,
    pub bytes_in: u64,
    pub bytes_out: u64,
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
            connect_us: None,
            tls_us: None,
            bytes_in: 0,
            bytes_out: 0,
        }
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
