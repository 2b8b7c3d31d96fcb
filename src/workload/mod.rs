//! What to send: the workload hands each virtual user (closed loop) or arrival (open loop) a
//! session that builds request bytes turn by turn and decodes the replies. The engine knows
//! nothing about prompts or protocols beyond this interface.

pub(crate) mod content;
pub(crate) mod exact;
pub(crate) mod keys;
mod options;
pub(crate) mod profile;
mod replay;
mod scenario;

use std::time::Duration;

use crate::data::trace::Record;
use crate::http::cancel::CancelAfter;
use crate::metrics::keys::KeyTag;
use crate::metrics::{Outcome, TokenizerCounts};
use crate::protocol::Decoder;

/// A compiled workload, shared read-only by every worker.
pub(crate) trait Workload: Send + Sync {
    /// Scenario names, in report order.
    fn scenarios(&self) -> Vec<String>;
    /// The scenario of closed-loop user `user` out of `users` (weights apportioned by
    /// largest remainder).
    fn scenario_for_user(&self, user: u32, users: u32) -> usize;
    /// The scenario of an open-loop arrival, from a uniform `draw` in [0, 1).
    fn scenario_for_arrival(&self, draw: f64) -> usize;
    /// `n` open-loop arrivals split between the scenarios (for counting a backlog in one
    /// step); `draw` gives uniform numbers in [0, 1).
    fn split_arrivals(&self, n: u64, draw: &mut dyn FnMut() -> f64) -> Vec<u64>;
    /// A new conversation of `scenario`.
    fn session(&self, scenario: usize, seed: u64) -> Box<dyn Session>;
    /// A new conversation of `scenario` whose turns come from trace records (`feed` one
    /// before each `build`); Mooncake prefix blocks are `block_tokens` long.
    fn replay(&self, scenario: usize, seed: u64, block_tokens: u32) -> Box<dyn Replay>;
}

/// A conversation replayed from a trace.
pub(crate) trait Replay: Session {
    /// Sets the next turn from a trace record: its content (the record's messages or prompt,
    /// else generated text of exactly its input length, Mooncake blocks shared by hash id)
    /// and its output length as max_tokens; `turns` is the conversation's length.
    fn feed(&mut self, record: Record, turns: u32);
}

/// One conversation: builds each turn's request and learns from its outcome.
pub(crate) trait Session {
    /// The scenario this conversation belongs to.
    fn scenario(&self) -> usize;
    /// The index of the target (in `EngineConfig::targets`) it sends to.
    fn target(&self) -> usize;
    /// Writes the next turn's complete HTTP request into `out`.
    fn build(&mut self, out: &mut Vec<u8>);
    /// The pool key of the turn last built (None without a key pool).
    fn key(&self) -> Option<KeyTag> {
        None
    }
    /// The protocol decoder for the replies.
    fn decoder(&mut self) -> &mut dyn Decoder;
    /// True when the reply text is needed (multi-turn history, or a tokenizer to count it).
    fn keeps_reply(&self) -> bool;
    /// After a turn: `Some(think)` to go on with another turn after `think`, `None` when the
    /// conversation is over.
    fn turn_done(&mut self, outcome: &Outcome, reply: Option<&str>) -> Option<Duration>;
    /// With a tokenizer: the turn last built and its `reply` as it counts them (called once
    /// per turn, before `turn_done`).
    fn tokenizer_counts(&mut self, _reply: Option<&str>) -> Option<TokenizerCounts> {
        None
    }
    /// Starts a new conversation of the same scenario in place, as `Workload::session` would
    /// from `seed`, reusing this one's buffers; false if this session cannot.
    fn restart(&mut self, _seed: u64) -> bool {
        false
    }
    /// (turn number, turns in this conversation), 1-based, of the turn last built.
    fn turn(&self) -> (u32, u32);
    /// The conversation's UUID (sent in the correlation header).
    fn conversation_id(&self) -> &str;
    /// The protocol name, for per-turn records.
    fn protocol(&self) -> &'static str;
    /// Whether responses stream.
    fn stream(&self) -> bool;
    /// Whether a finished turn met its scenario's SLOs (goodput); without SLOs, success.
    fn within_slo(&self, outcome: &Outcome) -> bool;
    /// Whether the turn last built is to be abandoned, and where (the scenario's `cancel`,
    /// drawn once per turn).
    fn client_cancel(&mut self) -> Option<CancelAfter> {
        None
    }
}
