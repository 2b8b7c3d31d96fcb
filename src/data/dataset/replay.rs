//! A dataset as a scenario replays it: which entry a new conversation takes, and what each of
//! its turns adds to the history (pre-escaped messages, copied; the cache-bust or shared
//! prefix written in front of the first user message).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rand::Rng;

use super::{Conversation, Dataset, History, Order};
use crate::protocol::{Message, Role};

/// One scenario's dataset, order and history rule.
pub(crate) struct Replay {
    data: Arc<Dataset>,
    order: Order,
    history: History,
    /// Conversations started so far (sequential order).
    next: AtomicU64,
}

impl Replay {
    pub(crate) fn new(data: Arc<Dataset>, order: Order, history: History) -> Replay {
        Replay { data, order, history, next: AtomicU64::new(0) }
    }

    /// The entry a new conversation replays: the next in file order, across every
    /// conversation of the scenario (per process: each shard walks the file from its start),
    /// or a uniform draw from `rng`.
    pub(crate) fn pick<R: Rng>(&self, rng: &mut R) -> usize {
        let n = self.data.conversations.len();
        match self.order {
            Order::Sequential => (self.next.fetch_add(1, Ordering::Relaxed) % n as u64) as usize,
            Order::Random => rng.gen_range(0..n),
        }
    }

    pub(crate) fn conversation(&self, entry: usize) -> &Conversation {
        &self.data.conversations[entry]
    }

    /// The recorded reply of `turn` (1-based) that goes into the history instead of the
    /// server's, with `history: "recorded"`.
    pub(crate) fn recorded_reply(&self, entry: usize, turn: u32) -> Option<&str> {
        let turn = self.conversation(entry).turns.get(turn as usize - 1)?;
        (self.history == History::Recorded).then_some(turn.reply_json.as_deref()).flatten()
    }

    /// Whether a conversation of `entry` needs the server's reply text: some turn before the
    /// last has no recorded reply to use instead.
    pub(crate) fn needs_reply(&self, entry: usize) -> bool {
        let turns = &self.conversation(entry).turns;
        let before_last = &turns[..turns.len().saturating_sub(1)];
        !before_last.is_empty()
            && (self.history == History::Live || before_last.iter().any(|t| t.reply_json.is_none()))
    }
}

impl Conversation {
    /// Appends turn `turn` (1-based) to `history`. On the first turn `prefix` (JSON-escaped,
    /// without quotes) goes in front of the first user message.
    pub(crate) fn push_turn(&self, turn: u32, prefix: &str, history: &mut Vec<Message>) {
        let mut prefixed = turn == 1 && !prefix.is_empty();
        for m in &self.turns[turn as usize - 1].messages {
            let content_json = if prefixed && m.role == Role::User {
                prefixed = false;
                let mut s = String::with_capacity(prefix.len() + m.content_json.len());
                s.push('"');
                s.push_str(prefix);
                s.push_str(&m.content_json[1..]);
                s
            } else {
                m.content_json.clone()
            };
            history.push(Message { role: m.role, content_json });
        }
    }

    /// The `max_tokens` of `turn` (1-based), when the entry gives one.
    pub(crate) fn max_tokens(&self, turn: u32) -> Option<u32> {
        self.turns.get(turn as usize - 1)?.max_tokens
    }
}
