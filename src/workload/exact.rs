//! With a tokenizer: sized messages of an exact token length, and each turn's tokens counted
//! on the client (`Tally`), to set beside the server's usage.
//!
//! A sized message keeps the frame of the estimated one (`Context: … Summarize the above in
//! one sentence.`) around a run of `tokens::exact_text` words taken from a text built once per
//! scenario, at a random word, so nothing is rebuilt per request. Each word is one token with
//! its leading space and the tokenizers split before every such word, so any run of k words
//! is exactly k tokens; the frame meets the words at punctuation (`:` before, `.` after),
//! where they split too. So only what comes before the words (a conversation id or a newline,
//! and `Context:`) is counted, once per message, and the words fill the rest. The tests check
//! the lengths with the tokenizer itself, in both encodings, from many starts.

use rand::Rng;

use crate::metrics::TokenizerCounts;
use crate::protocol::openai_completions::composed_prompt;
use crate::protocol::{ProtocolKind, TurnBody};
use crate::tokens::{chat_overhead, exact_text, Tokenizer};

/// The frame of a sized message (as without a tokenizer), around the words.
const HEAD: &str = "Context:";
const TAIL: &str = ". Summarize the above in one sentence.";

/// Sized messages of an exact length, varied per request.
#[derive(Clone, Debug)]
pub(crate) struct ExactFiller {
    tokenizer: Tokenizer,
    tokens: u32,
    /// Twice the words a message can hold, so any start has a full run after it.
    text: String,
    /// Where each word (its leading space) starts, and the end.
    starts: Vec<usize>,
    tail_tokens: u32,
}

impl ExactFiller {
    /// Messages of exactly `tokens` tokens by `tokenizer`.
    pub(crate) fn new(tokens: u32, tokenizer: Tokenizer, seed: u64) -> ExactFiller {
        let mut text = String::new();
        exact_text(tokens.saturating_mul(2), seed, &mut text);
        let mut starts: Vec<usize> = text.match_indices(' ').map(|(i, _)| i).collect();
        starts.push(text.len());
        ExactFiller { tokenizer, tokens, text, starts, tail_tokens: tokenizer.count(TAIL) }
    }

    /// Appends `lead` (a conversation id, a newline after a shared prefix, or nothing) and a
    /// sized message after it to `out`, lead included exactly the planned length when the frame
    /// fits; returns the tokens appended. (A conversation id alone is about 30 tokens: a shorter
    /// length cannot be met, and the count says so.)
    pub(crate) fn write<R: Rng>(&self, rng: &mut R, lead: &str, out: &mut String) -> u64 {
        let start = out.len();
        out.push_str(lead);
        out.push_str(HEAD);
        let framed = self.tokenizer.count(&out[start..]) + self.tail_tokens;
        if framed <= self.tokens {
            self.words(rng, self.tokens - framed, out);
            out.push_str(TAIL);
            return u64::from(self.tokens);
        }
        // Too short for the frame: the lead and words only, counted as they are.
        out.truncate(start + lead.len());
        let lead_tokens = self.tokenizer.count(lead);
        self.words(rng, self.tokens.saturating_sub(lead_tokens), out);
        u64::from(self.tokenizer.count(&out[start..]))
    }

    /// `n` words from a random start.
    fn words<R: Rng>(&self, rng: &mut R, n: u32, out: &mut String) {
        let n = n as usize;
        let first = rng.gen_range(0..=self.starts.len() - 1 - n);
        out.push_str(&self.text[self.starts[first]..self.starts[first + n]]);
    }
}

/// A conversation's tokens as the tokenizer counts them.
#[derive(Debug)]
pub(crate) struct Tally {
    tokenizer: Tokenizer,
    /// The contents of the messages so far, the system prompt's included.
    contents: u64,
    /// The prompt of the turn last built.
    prompt: u64,
    /// The count of the reply last received, until it joins the history.
    reply: Option<u64>,
}

impl Tally {
    /// A new conversation whose system prompt is `system` tokens.
    pub(crate) fn new(tokenizer: Tokenizer, system: u64) -> Tally {
        Tally { tokenizer, contents: system, prompt: 0, reply: None }
    }

    /// A user message of `tokens` tokens was added and `turn` is the turn sent: its prompt
    /// is counted as the server would (the completions protocol sends one composed text).
    pub(crate) fn user(&mut self, tokens: u64, protocol: ProtocolKind, turn: &TurnBody<'_>) {
        self.contents += tokens;
        self.prompt = match protocol {
            ProtocolKind::OpenAiCompletions => match composed_prompt(turn) {
                None => tokens,
                Some(text) => u64::from(self.tokenizer.count(&text)),
            }
            .max(1),
            _ => self.contents + chat_overhead(turn.messages.len() + usize::from(turn.system_json.is_some())),
        };
    }

    /// The turn last built and its reply, counted.
    pub(crate) fn counts(&mut self, reply: &str) -> TokenizerCounts {
        let completion = u64::from(self.tokenizer.count(reply));
        self.reply = Some(completion);
        TokenizerCounts { prompt: self.prompt, completion }
    }

    /// `reply` joined the history.
    pub(crate) fn reply_kept(&mut self, reply: &str) {
        self.contents += self.reply.take().unwrap_or_else(|| u64::from(self.tokenizer.count(reply)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const BOTH: [Tokenizer; 2] = [Tokenizer::O200k, Tokenizer::Cl100k];

    #[test]
    fn sized_messages_are_exact_from_every_start_after_every_lead() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let id = |rng: &mut rand::rngs::SmallRng| {
            format!("[conversation {}] ", crate::workload::content::uuid_v4(rng).as_str())
        };
        for t in BOTH {
            for n in [48, 256, 300, 2000] {
                let f = ExactFiller::new(n, t, u64::from(n));
                let mut seen = std::collections::HashSet::new();
                for i in 0..40 {
                    let lead = match i % 3 {
                        0 => String::new(),
                        1 => "\n\n".to_string(),
                        _ => id(&mut rng),
                    };
                    let mut s = String::new();
                    assert_eq!(f.write(&mut rng, &lead, &mut s), u64::from(n));
                    assert_eq!(u64::from(t.count(&s)), u64::from(n), "{} {n}: {s:?}", t.name());
                    assert!(s.starts_with(&format!("{lead}Context: ")) && s.ends_with("one sentence."));
                    seen.insert(s);
                }
                assert!(seen.len() > 30, "messages vary: {} distinct", seen.len());
            }
        }
    }

    #[test]
    fn a_prefix_of_exact_words_adds_its_length() {
        for t in BOTH {
            let mut prefix = String::new();
            exact_text(1024, 7, &mut prefix);
            let f = ExactFiller::new(300, t, 3);
            let mut s = prefix.clone();
            let n = f.write(&mut rand::rngs::SmallRng::seed_from_u64(2), "\n\n", &mut s);
            assert_eq!((n, t.count(&s)), (300, 1324), "{}", t.name());
        }
    }

    fn body<'a>(system_json: Option<&'a str>, messages: &'a [crate::protocol::Message]) -> TurnBody<'a> {
        TurnBody { model: "m", system_json, messages, max_tokens: 5, stream: false, extra_json: "" }
    }

    #[test]
    fn a_tally_counts_prompts_by_the_recipe_and_each_message_once() {
        use crate::protocol::{json_string, Message, Role};
        let t = Tokenizer::O200k;
        let message = |role, text: &str| {
            let mut content_json = String::new();
            json_string(text, &mut content_json);
            Message { role, content_json }
        };
        // "be brief", "hello world", "ok then" and "again" are 2, 2, 2 and 1 tokens.
        let mut history = vec![message(Role::User, "hello world")];
        let mut chat = Tally::new(t, 2);
        chat.user(2, ProtocolKind::Anthropic, &body(Some("\"be brief\""), &history));
        assert_eq!(
            chat.counts("ok then"),
            TokenizerCounts { prompt: 2 + 2 + chat_overhead(2), completion: 2 }
        );
        chat.reply_kept("ok then");
        history.push(message(Role::Assistant, "ok then"));
        history.push(message(Role::User, "again"));
        chat.user(1, ProtocolKind::Anthropic, &body(Some("\"be brief\""), &history));
        assert_eq!(chat.counts("").prompt, 2 + 2 + 2 + 1 + chat_overhead(4));
        // Completions: one text, the messages put together, no overhead.
        let mut legacy = Tally::new(t, 2);
        legacy.user(2, ProtocolKind::OpenAiCompletions, &body(Some("\"be brief\""), &history[..1]));
        let text = composed_prompt(&body(Some("\"be brief\""), &history[..1])).unwrap();
        assert_eq!(text, "be brief\n\nUser: hello world\nAssistant:");
        assert_eq!(legacy.counts("").prompt, u64::from(t.count(&text)));
        let mut alone = Tally::new(t, 0);
        alone.user(0, ProtocolKind::OpenAiCompletions, &body(None, &[message(Role::User, "")]));
        assert_eq!(alone.counts("").prompt, 1, "at least 1, as the mock counts");
    }

    #[test]
    fn too_short_for_the_frame_is_words_only_and_counted() {
        let t = Tokenizer::O200k;
        let mut rng = rand::rngs::SmallRng::seed_from_u64(4);
        let f = ExactFiller::new(8, t, 1);
        let mut s = String::new();
        assert_eq!(f.write(&mut rng, "", &mut s), 8);
        assert!(!s.contains("Context") && t.count(&s) == 8, "{s:?}");
        // A conversation id is longer than 8 tokens: the count is what was written.
        let mut s = String::new();
        let lead = "[conversation 0b5e3c1a-9f1d-4c2b-8a7e-2d4f6a8b0c1e] ";
        let n = f.write(&mut rng, lead, &mut s);
        assert_eq!((n, s.as_str()), (u64::from(t.count(lead)), lead));
    }
}
