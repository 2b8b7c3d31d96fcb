//! Reply text and token arithmetic: deterministic filler words, echo of the last user message,
//! and the prompt-token estimate (chars / 4, plus per-message overhead) that every route and
//! `count_tokens` share, so usage always agrees with itself (`counted` has the same recipe
//! with a tokenizer).

use crate::tokens::Tokenizer;

/// Filler vocabulary: common short English words, so a reply looks like text to a gateway's
/// content filters and costs about one real token per word.
const WORDS: &[&str] = &[
    "the", "model", "answers", "with", "a", "short", "and", "plain", "reply", "about", "your", "request",
    "while", "the", "gateway", "measures", "time", "to", "first", "token", "each", "word", "here", "is",
    "one", "token", "of", "steady", "output", "for", "load", "tests", "that", "need", "text", "which",
    "looks", "real", "enough", "so", "nothing", "upstream", "treats", "it", "as", "special", "or", "cached",
    "between", "calls", "at", "any", "rate",
];

/// Per-message overhead in OpenAI's counting recipe, and the reply priming (the client's
/// tokenizer counts add the same).
pub(crate) use crate::tokens::{REPLY_PRIMING, TOKENS_PER_MESSAGE};

/// Tokens for `chars` characters of text (chars / 4, rounded up).
pub(crate) fn tokens_for_chars(chars: usize) -> u64 {
    (chars as u64).div_ceil(4)
}

/// Tokens one message of `chars` characters adds to a prompt.
pub(crate) fn message_tokens(chars: usize) -> u64 {
    TOKENS_PER_MESSAGE + tokens_for_chars(chars)
}

/// Prompt tokens for a conversation given each message's character count.
pub(crate) fn prompt_tokens<I: IntoIterator<Item = usize>>(message_chars: I) -> u64 {
    message_chars.into_iter().map(message_tokens).sum::<u64>() + REPLY_PRIMING
}

/// Prompt tokens for a conversation given each message's content tokens: the same recipe.
pub(crate) fn prompt_of_contents<I: IntoIterator<Item = u64>>(contents: I) -> u64 {
    contents.into_iter().map(|c| TOKENS_PER_MESSAGE + c).sum::<u64>() + REPLY_PRIMING
}

/// Two rounds of the vocabulary, each word after a space, and where each word's space is
/// (plus the end): any run of up to one round of words is one slice of it.
fn filler() -> &'static (String, Vec<usize>) {
    static FILLER: std::sync::OnceLock<(String, Vec<usize>)> = std::sync::OnceLock::new();
    FILLER.get_or_init(|| {
        let mut text = String::new();
        let mut starts = Vec::with_capacity(2 * WORDS.len() + 1);
        for word in WORDS.iter().chain(WORDS) {
            starts.push(text.len());
            text.push(' ');
            text.push_str(word);
        }
        starts.push(text.len());
        (text, starts)
    })
}

/// Where the words of a reply come from.
#[derive(Clone, Debug)]
pub(crate) enum Words {
    /// Filler starting at an offset into the vocabulary (varies between requests).
    Filler(usize),
    /// The words of the last user message, cycled.
    Echo(Vec<String>),
}

impl Words {
    /// Filler from word `offset`. A reply's first word has no space before it, and a few
    /// words are one token only after a space (`treats` alone is three tokens, ` treats`
    /// one); with a tokenizer the reply starts at the next word that is one token alone too,
    /// so the reply is exactly as many tokens as words (its usage) in that encoding.
    pub(crate) fn filler(offset: usize, tokenizer: Option<Tokenizer>) -> Words {
        let mut offset = offset;
        if let Some(t) = tokenizer {
            // Most words are; the vocabulary has no run of more than two that are not.
            while t.count(WORDS[offset % WORDS.len()]) != 1 {
                offset += 1;
            }
        }
        Words::Filler(offset)
    }

    /// Echo of `text`, or filler if it has no words.
    pub(crate) fn echo(text: &str, offset: usize) -> Words {
        let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
        if words.is_empty() {
            Words::Filler(offset)
        } else {
            Words::Echo(words)
        }
    }

    /// Appends token `k` (a word, with a leading space after the first).
    pub(crate) fn push_token(&self, k: u64, out: &mut String) {
        if k > 0 {
            out.push(' ');
        }
        match self {
            Words::Filler(offset) => out.push_str(WORDS[(*offset + k as usize) % WORDS.len()]),
            Words::Echo(words) => out.push_str(&words[k as usize % words.len()]),
        }
    }

    /// Appends tokens `from..to` escaped for the inside of a JSON string (what `text` returns,
    /// without building it).
    pub(crate) fn write_json(&self, from: u64, to: u64, out: &mut Vec<u8>) {
        match self {
            // The vocabulary needs no escaping: copy runs of it, up to a round at a time.
            Words::Filler(offset) => {
                let (text, starts) = filler();
                let mut k = from;
                while k < to {
                    let i = (*offset + k as usize) % WORDS.len();
                    let take = ((to - k) as usize).min(WORDS.len());
                    let start = starts[i] + usize::from(k == 0);
                    out.extend_from_slice(&text.as_bytes()[start..starts[i + take]]);
                    k += take as u64;
                }
            }
            Words::Echo(words) => {
                for k in from..to {
                    if k > 0 {
                        out.push(b' ');
                    }
                    super::json::escaped(out, &words[k as usize % words.len()]);
                }
            }
        }
    }

    /// Tokens `from..to` as one string.
    pub(crate) fn text(&self, from: u64, to: u64) -> String {
        let mut s = String::with_capacity(((to - from) * 8) as usize);
        for k in from..to {
            self.push_token(k, &mut s);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_are_stable() {
        assert_eq!(tokens_for_chars(0), 0);
        assert_eq!(tokens_for_chars(1), 1);
        assert_eq!(tokens_for_chars(8), 2);
        assert_eq!(prompt_tokens([8, 4]), 3 + 2 + 3 + 1 + 3);
    }

    #[test]
    fn with_a_tokenizer_a_filler_reply_is_as_many_tokens_as_words() {
        for t in [Tokenizer::O200k, Tokenizer::Cl100k] {
            // Every word is one token after a space; some are not alone.
            assert!(WORDS.iter().all(|w| t.count(&format!(" {w}")) == 1), "{}", t.name());
            assert!(WORDS.iter().any(|w| t.count(w) > 1), "{}", t.name());
            for offset in 0..WORDS.len() {
                let w = Words::filler(offset, Some(t));
                for n in [1, 2, 7, 60, 120] {
                    let text = w.text(0, n);
                    assert_eq!(u64::from(t.count(&text)), n, "{} from {offset}: {text:?}", t.name());
                }
            }
        }
        // Without one the words are as they always were.
        assert!(matches!(Words::filler(42, None), Words::Filler(42)));
    }

    #[test]
    fn words_join_with_spaces() {
        let w = Words::echo("hello big world", 0);
        assert_eq!(w.text(0, 4), "hello big world hello");
        assert_eq!(w.text(1, 3), " big world");
        let f = Words::Filler(0);
        assert_eq!(f.text(0, 2), "the model");
        assert!(matches!(Words::echo("   ", 3), Words::Filler(3)));
        for (w, from, to) in [
            (Words::echo("a \"q\" b\\ é", 0), 0, 7),
            (Words::Filler(5), 2, 40),
            (Words::Filler(52), 0, 200),
            (Words::Filler(7), 0, 1),
        ] {
            let mut out = Vec::new();
            w.write_json(from, to, &mut out);
            let quoted = format!("\"{}\"", String::from_utf8(out).unwrap());
            assert_eq!(quoted, serde_json::to_string(&w.text(from, to)).unwrap());
        }
    }
}
