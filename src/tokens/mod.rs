//! Token counts: OpenAI's `o200k_base` and `cl100k_base` encodings (tiktoken-rs, whose
//! vocabularies are built in, loaded on first use), or the chars / 4 estimate; and text of an
//! exact token length.
//!
//! Exact text is made of words that are one token each with their leading space in both
//! encodings. The pre-tokenizer splits before every space-led word, so tokens never merge
//! across words: `n` words are `n` tokens, and pieces of exact text joined together count as
//! the sum of their lengths.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// A real tokenizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tokenizer {
    /// GPT-4o and later.
    O200k,
    /// GPT-4 and GPT-3.5.
    Cl100k,
}

impl Tokenizer {
    /// The names as written in profiles and flags.
    pub(crate) const NAMES: [&'static str; 2] = ["o200k_base", "cl100k_base"];

    /// Parses a name.
    pub(crate) fn parse(name: &str) -> Option<Tokenizer> {
        match name {
            "o200k_base" => Some(Tokenizer::O200k),
            "cl100k_base" => Some(Tokenizer::Cl100k),
            _ => None,
        }
    }

    /// The name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Tokenizer::O200k => "o200k_base",
            Tokenizer::Cl100k => "cl100k_base",
        }
    }

    fn bpe(self) -> &'static tiktoken_rs::CoreBPE {
        match self {
            Tokenizer::O200k => tiktoken_rs::o200k_base_singleton(),
            Tokenizer::Cl100k => tiktoken_rs::cl100k_base_singleton(),
        }
    }

    /// Loads the vocabulary now (it takes a moment), so the first count on a hot path does not.
    pub(crate) fn warm(self) {
        let _ = self.bpe();
    }

    /// Tokens in `text` (special-token text counts as ordinary text).
    pub(crate) fn count(self, text: &str) -> u32 {
        u32::try_from(self.bpe().count_ordinary(text)).unwrap_or(u32::MAX)
    }
}

/// How tokens are counted: a tokenizer, or the estimate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Counter {
    /// chars / 4, rounded up.
    #[default]
    Estimate,
    Exact(Tokenizer),
}

impl Counter {
    /// Tokens in `text`.
    pub(crate) fn count(self, text: &str) -> u32 {
        match self {
            Counter::Estimate => estimate(text),
            Counter::Exact(t) => t.count(text),
        }
    }

    /// The tokenizer's name, or `"estimate"`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Counter::Estimate => "estimate",
            Counter::Exact(t) => t.name(),
        }
    }
}

/// Tokens a chat prompt adds besides its contents in OpenAI's counting recipe (the built-in
/// mock's too): each message (the system prompt included) adds this many ...
pub(crate) const TOKENS_PER_MESSAGE: u64 = 3;
/// ... and the priming of the reply adds this many once.
pub(crate) const REPLY_PRIMING: u64 = 3;

/// The tokens a chat prompt of `messages` messages adds besides their contents.
pub(crate) fn chat_overhead(messages: usize) -> u64 {
    TOKENS_PER_MESSAGE * messages as u64 + REPLY_PRIMING
}

/// The usual English estimate: chars / 4, rounded up.
pub(crate) fn estimate(text: &str) -> u32 {
    u32::try_from(text.chars().count().div_ceil(4)).unwrap_or(u32::MAX)
}

/// Space-led words, each exactly one token in both encodings (checked by a test).
const WORDS: &[&str] = &[
    " system",
    " token",
    " cache",
    " stream",
    " request",
    " model",
    " context",
    " time",
    " data",
    " server",
    " client",
    " answer",
    " question",
    " report",
    " value",
    " number",
    " table",
    " water",
    " light",
    " house",
    " river",
    " city",
    " music",
    " paper",
    " story",
    " world",
    " garden",
    " market",
    " window",
    " letter",
    " summer",
    " winter",
    " morning",
    " evening",
    " green",
    " blue",
    " small",
    " large",
    " early",
    " simple",
    " quick",
    " quiet",
    " open",
    " clear",
    " warm",
    " cold",
    " long",
    " short",
    " first",
    " last",
    " next",
    " other",
    " every",
    " about",
    " after",
    " before",
    " under",
    " over",
    " near",
    " between",
    " around",
    " through",
    " with",
    " from",
];

/// Appends exactly `tokens` tokens of text to `out`; the words are a function of `variant`
/// alone, so equal variants give equal text (shared prefixes) and different ones differ.
pub(crate) fn exact_text(tokens: u32, variant: u64, out: &mut String) {
    let mut rng = SmallRng::seed_from_u64(variant ^ 0x9e37_79b9_7f4a_7c15);
    out.reserve(tokens as usize * 7);
    for _ in 0..tokens {
        out.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_is_one_token_in_both_encodings() {
        for t in [Tokenizer::O200k, Tokenizer::Cl100k] {
            for w in WORDS {
                assert_eq!(t.count(w), 1, "{w:?} in {}", t.name());
            }
        }
    }

    #[test]
    fn exact_text_has_exactly_the_length_and_joins_add_up() {
        for t in [Tokenizer::O200k, Tokenizer::Cl100k] {
            for n in [0, 1, 7, 512, 3000] {
                let mut s = String::new();
                exact_text(n, u64::from(n) * 31, &mut s);
                assert_eq!(t.count(&s), n, "{n} tokens in {}", t.name());
            }
            let mut joined = String::new();
            for (i, n) in [512, 512, 100].into_iter().enumerate() {
                exact_text(n, i as u64, &mut joined);
            }
            assert_eq!(t.count(&joined), 1124);
        }
        let (mut a, mut b, mut c) = (String::new(), String::new(), String::new());
        exact_text(64, 5, &mut a);
        exact_text(64, 5, &mut b);
        exact_text(64, 6, &mut c);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn names_round_trip_and_the_estimate_rounds_up() {
        for n in Tokenizer::NAMES {
            assert_eq!(Tokenizer::parse(n).map(Tokenizer::name), Some(n));
        }
        assert_eq!(Tokenizer::parse("gpt2"), None);
        assert_eq!(estimate("abcde"), 2);
        assert_eq!(Counter::Estimate.count(""), 0);
        assert_eq!(Counter::Exact(Tokenizer::Cl100k).count("hello world"), 2);
    }
}
