//! What a reply held besides its text, as the decoders report it and outcomes keep it: how
//! it ended, and its tool calls.

/// Why a response ended, normalised (`finish_reason`, `stop_reason`, a Responses status).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// A natural end (`stop`, `end_turn`, `stop_sequence`, `completed`).
    Stop,
    /// The token budget ran out (`length`, `max_tokens`, incomplete at `max_output_tokens`).
    Length,
    /// The model called tools (`tool_calls`, `function_call`, `tool_use`, function-call items).
    ToolCalls,
    /// Anything else (`content_filter`, `refusal`, `pause_turn`, …).
    Other,
}

impl Finish {
    /// The normalised name, as results.jsonl writes it.
    pub fn name(self) -> &'static str {
        match self {
            Finish::Stop => "stop",
            Finish::Length => "length",
            Finish::ToolCalls => "tool_calls",
            Finish::Other => "other",
        }
    }

    /// The finish a provider's reason names.
    pub fn of(reason: &[u8]) -> Finish {
        match reason {
            b"stop" | b"end_turn" | b"stop_sequence" | b"completed" => Finish::Stop,
            b"length" | b"max_tokens" | b"max_output_tokens" => Finish::Length,
            b"tool_calls" | b"function_call" | b"tool_use" => Finish::ToolCalls,
            _ => Finish::Other,
        }
    }

    /// Inverse of `name`.
    pub fn from_name(name: &str) -> Option<Finish> {
        [Finish::Stop, Finish::Length, Finish::ToolCalls, Finish::Other]
            .into_iter()
            .find(|f| f.name() == name)
    }
}

/// What a response's tool calls add up to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ToolTally {
    pub calls: u32,
    /// Bytes of the arguments, all calls together (as sent: JSON text).
    pub arg_bytes: u64,
    /// Calls whose accumulated arguments are not one JSON value (empty arguments are valid:
    /// a call without any).
    pub invalid: u32,
}
