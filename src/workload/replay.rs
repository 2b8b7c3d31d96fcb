//! Trace replay: a conversation of one scenario (protocol, target, headers, model) whose
//! turns come from trace records. A record's `messages` are sent as written, its `prompt` is
//! the next user message; otherwise the message is generated text of exactly the record's
//! input length. Mooncake records build it from `hash_ids`: block `h` is always the same
//! text, so two records sharing k leading ids share exactly k blocks (what prefix caches saw
//! in production). No cache-busting id goes into replayed prompts: it would change lengths
//! and break the sharing. The record's output length is the turn's max_tokens. With a
//! tokenizer every turn is counted as the profile's sized turns are (`exact::Tally`).

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::http::cancel::CancelAfter;

use super::content::{uuid_v4, Uuid};
use super::exact::Tally;
use super::scenario::Scenario;
use super::{Replay, Session};
use crate::data::trace::Record;
use crate::metrics::keys::KeyTag;
use crate::metrics::{Outcome, TokenizerCounts};
use crate::protocol::answer::ReplyDecoder;
use crate::protocol::{json_string, Decoder, Message, Role, TurnBody};
use crate::tokens::exact_text;

/// Keeps generated record text apart from Mooncake block text of the same number.
const BLOCK_SALT: u64 = 0x6d6f_6f6e_6361_6b65;

/// One replayed conversation.
pub(super) struct ReplaySession {
    scenario: usize,
    sc: Arc<Scenario>,
    decoder: ReplyDecoder,
    rng: SmallRng,
    uuid: Uuid,
    block_tokens: u32,
    /// Turns built so far, and the conversation's length.
    turn: u32,
    turns_total: u32,
    history: Vec<Message>,
    /// A system message from a record's `messages`, replacing the scenario's.
    system_json: Option<String>,
    max_tokens: u32,
    /// With a tokenizer: the conversation counted, and the next user message's tokens.
    tally: Option<(Tally, u64)>,
    /// The pool key of the turn last built.
    key: Option<KeyTag>,
}

impl ReplaySession {
    pub(super) fn new(scenario: usize, sc: Arc<Scenario>, seed: u64, block_tokens: u32) -> ReplaySession {
        let mut rng = SmallRng::seed_from_u64(seed);
        let uuid = uuid_v4(&mut rng);
        ReplaySession {
            scenario,
            decoder: sc.decoder(),
            rng,
            uuid,
            block_tokens: block_tokens.max(1),
            turn: 0,
            turns_total: 1,
            history: Vec::new(),
            system_json: None,
            max_tokens: 1,
            tally: sc.tokenizer.map(|(t, system, _)| (Tally::new(t, system), 0)),
            key: None,
            sc,
        }
    }
}

/// The text of a record without prompt or messages: exactly `input_tokens` tokens, from its
/// Mooncake blocks first (the last one cut short if the length ends inside it; a cut block is
/// the start of the whole one), then from text of its own.
pub(super) fn record_text(record: &Record, block_tokens: u32, own: u64) -> String {
    let mut text = String::new();
    let mut left = record.input_tokens;
    for &h in &record.hash_ids {
        if left == 0 {
            break;
        }
        let n = left.min(block_tokens);
        exact_text(n, h ^ BLOCK_SALT, &mut text);
        left -= n;
    }
    exact_text(left, own, &mut text);
    text
}

fn json(text: &str) -> String {
    let mut j = String::with_capacity(text.len() + 2);
    json_string(text, &mut j);
    j
}

impl Replay for ReplaySession {
    fn feed(&mut self, record: Record, turns: u32) {
        self.turns_total = turns.max(self.turn + 1);
        self.max_tokens = record.output_tokens.max(1);
        let tokenizer = self.sc.tokenizer.map(|(t, ..)| t);
        if let Some(messages) = &record.messages {
            // The recorded context as written: it replaces what the conversation had.
            self.history.clear();
            self.system_json = None;
            if let Some(t) = tokenizer {
                // Every message but the last is context; the last is this turn's message.
                let own_system = messages.iter().any(|(r, _)| matches!(r.as_str(), "system" | "developer"));
                let system = if own_system { 0 } else { self.sc.tokenizer.map_or(0, |(_, s, _)| s) };
                let mut tally = Tally::new(t, system);
                let (last, context) = messages.split_last().expect("a record's messages are not empty");
                context.iter().for_each(|(_, c)| tally.reply_kept(c));
                self.tally = Some((tally, u64::from(t.count(&last.1))));
            }
            for (role, content) in messages {
                match role.as_str() {
                    "system" | "developer" => self.system_json = Some(json(content)),
                    "assistant" => {
                        self.history.push(Message { role: Role::Assistant, content_json: json(content) })
                    }
                    _ => self.history.push(Message { role: Role::User, content_json: json(content) }),
                }
            }
            return;
        }
        let text = match &record.prompt {
            Some(p) => {
                if let (Some(t), Some((_, next))) = (tokenizer, &mut self.tally) {
                    *next = u64::from(t.count(p));
                }
                json(p)
            }
            None => {
                if let Some((_, next)) = &mut self.tally {
                    *next = u64::from(record.input_tokens);
                }
                json(&record_text(&record, self.block_tokens, self.rng.gen()))
            }
        };
        self.history.push(Message { role: Role::User, content_json: text });
    }
}

impl Session for ReplaySession {
    fn scenario(&self) -> usize {
        self.scenario
    }

    fn target(&self) -> usize {
        self.sc.target
    }

    fn build(&mut self, out: &mut Vec<u8>) {
        self.turn += 1;
        let sc = &self.sc;
        let system = self.system_json.as_deref().or(sc.system_json.as_deref());
        self.key = sc.write_request(system, &self.history, self.max_tokens, &self.uuid, out);
        if let Some((tally, next)) = &mut self.tally {
            let turn = TurnBody {
                model: &sc.model,
                system_json: system,
                messages: &self.history,
                max_tokens: self.max_tokens,
                stream: sc.stream,
                extra_json: &sc.extra_json,
            };
            tally.user(*next, sc.protocol, &turn);
        }
    }

    fn key(&self) -> Option<KeyTag> {
        self.key
    }

    fn decoder(&mut self) -> &mut dyn Decoder {
        self.decoder.get()
    }

    fn keeps_reply(&self) -> bool {
        self.turns_total > 1 || self.tally.is_some()
    }

    fn tokenizer_counts(&mut self, reply: Option<&str>) -> Option<TokenizerCounts> {
        Some(self.tally.as_mut()?.0.counts(reply.unwrap_or("")))
    }

    fn turn_done(&mut self, outcome: &Outcome, reply: Option<&str>) -> Option<Duration> {
        if !outcome.is_ok() || self.turn >= self.turns_total {
            return None;
        }
        self.history.push(Message { role: Role::Assistant, content_json: json(reply.unwrap_or("")) });
        if let Some((tally, _)) = &mut self.tally {
            tally.reply_kept(reply.unwrap_or(""));
        }
        Some(Duration::ZERO)
    }

    fn turn(&self) -> (u32, u32) {
        (self.turn, self.turns_total)
    }

    fn conversation_id(&self) -> &str {
        self.uuid.as_str()
    }

    fn protocol(&self) -> &'static str {
        self.sc.protocol.name()
    }

    fn stream(&self) -> bool {
        self.sc.stream
    }

    fn within_slo(&self, o: &Outcome) -> bool {
        self.sc.within_slo(o)
    }

    fn client_cancel(&mut self) -> Option<CancelAfter> {
        self.sc.draw_cancel(&mut self.rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::Tokenizer;

    fn rec(input: u32, ids: &[u64]) -> Record {
        Record { input_tokens: input, output_tokens: 4, hash_ids: ids.to_vec(), ..Record::default() }
    }

    #[test]
    fn mooncake_records_share_exactly_their_common_blocks() {
        let t = Tokenizer::O200k;
        let a = record_text(&rec(3 * 16, &[7, 8, 9]), 16, 1);
        let b = record_text(&rec(3 * 16 + 5, &[7, 8, 10, 11]), 16, 2);
        assert_eq!(t.count(&a), 48);
        assert_eq!(t.count(&b), 53);
        // Two shared blocks: the texts agree through them and differ right after.
        let two = record_text(&rec(32, &[7, 8]), 16, 3);
        assert!(a.starts_with(&two) && b.starts_with(&two));
        assert_ne!(&a[two.len()..], &b[two.len()..a.len()]);
        // A length ending inside a block gives the start of that block.
        let cut = record_text(&rec(20, &[7, 8]), 16, 5);
        assert!(two.starts_with(&cut) && t.count(&cut) == 20);
        // More tokens than blocks: the rest is the record's own.
        assert_eq!(t.count(&record_text(&rec(40, &[7]), 16, 6)), 40);
    }
}
