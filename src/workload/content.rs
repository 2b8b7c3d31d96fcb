//! Prompt text: pool picks, scripted lines, and sized filler of about N input tokens.
//!
//! Sized filler is built once per size (a few hundred KB at most) and varied per request by
//! starting at a different word, so nothing is rebuilt on the hot path and no two
//! conversations send byte-identical prompts.

use rand::Rng;

/// Words of the filler (nexus-loadtest's list), about one token each with their space.
const FILLER_WORDS: &[&str] = &[
    "system",
    "latency",
    "throughput",
    "token",
    "cache",
    "stream",
    "gateway",
    "request",
    "model",
    "context",
    "budget",
    "concurrency",
    "scale",
    "quota",
];

/// Characters per token used to size prompts (the usual English estimate).
pub(crate) const CHARS_PER_TOKEN: usize = 4;

/// A prebuilt filler text for one size, with cheap variation.
#[derive(Clone, Debug)]
pub(crate) struct Filler {
    /// Twice the needed words, so any start offset has a full window after it.
    text: String,
    /// Byte offsets where words start.
    starts: Vec<usize>,
    /// Bytes of filler per prompt.
    len: usize,
}

impl Filler {
    /// Filler for prompts of about `tokens` input tokens.
    pub(crate) fn new(tokens: u32, seed: u64) -> Filler {
        // The frame `prompt` puts around the words is about 60 bytes.
        Filler::of_len((tokens as usize * CHARS_PER_TOKEN).saturating_sub(60).max(8), seed)
    }

    /// Filler for bare passages (`passage`) of about `tokens` tokens: tool results.
    pub(crate) fn bare(tokens: u32, seed: u64) -> Filler {
        Filler::of_len((tokens as usize * CHARS_PER_TOKEN).max(4), seed)
    }

    fn of_len(len: usize, seed: u64) -> Filler {
        let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(seed);
        let mut text = String::with_capacity(len * 2 + 16);
        let mut starts = Vec::new();
        while text.len() < len * 2 + 16 {
            starts.push(text.len());
            text.push_str(FILLER_WORDS[rng.gen_range(0..FILLER_WORDS.len())]);
            text.push(' ');
        }
        Filler { text, starts, len }
    }

    /// The planned size of words, starting at a random word (no frame, no allocation).
    pub(crate) fn passage<R: Rng>(&self, rng: &mut R) -> &str {
        let usable = self.starts.partition_point(|&s| s + self.len <= self.text.len());
        let start = self.starts[rng.gen_range(0..usable.max(1))];
        self.text[start..start + self.len].trim_end()
    }

    /// A prompt of the planned size, starting at a random word.
    pub(crate) fn prompt<R: Rng>(&self, rng: &mut R) -> String {
        let body = self.passage(rng);
        let mut s = String::with_capacity(body.len() + 64);
        s.push_str("Context: ");
        s.push_str(body);
        s.push_str(". Summarize the above in one sentence.");
        s
    }
}

/// An RFC 4122 UUID in its text form, held by value (no allocation per conversation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Uuid([u8; 36]);

impl Default for Uuid {
    /// The nil UUID, until one is drawn.
    fn default() -> Uuid {
        Uuid(*b"00000000-0000-0000-0000-000000000000")
    }
}

impl Uuid {
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits and dashes")
    }
}

/// A random RFC 4122 version-4 UUID.
pub(crate) fn uuid_v4<R: Rng>(rng: &mut R) -> Uuid {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Two 64-bit draws (an array of bytes would draw each byte on its own).
    let mut b = rng.gen::<u128>().to_le_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = [0u8; 36];
    let mut at = 0;
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s[at] = b'-';
            at += 1;
        }
        s[at] = HEX[usize::from(x >> 4)];
        s[at + 1] = HEX[usize::from(x & 0xf)];
        at += 2;
    }
    Uuid(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn sized_prompts_have_the_planned_length_and_vary() {
        let f = Filler::new(550, 1);
        let mut rng = rand::rngs::SmallRng::seed_from_u64(2);
        let a = f.prompt(&mut rng);
        let b = f.prompt(&mut rng);
        assert!(a.starts_with("Context: ") && a.ends_with("one sentence."));
        let tokens = a.len() / CHARS_PER_TOKEN;
        assert!((500..=600).contains(&tokens), "{tokens}");
        assert_ne!(a, b);
        let big = Filler::new(12_500, 3).prompt(&mut rng);
        assert!((12_000..=13_000).contains(&(big.len() / CHARS_PER_TOKEN)));
        let bare = Filler::bare(64, 4);
        let p = bare.passage(&mut rng);
        assert!((60..=64).contains(&(p.len() / CHARS_PER_TOKEN)) && !p.contains("Context"), "{p}");
        let distinct: std::collections::HashSet<&str> = (0..10).map(|_| bare.passage(&mut rng)).collect();
        assert!(distinct.len() > 1, "passages vary");
    }

    #[test]
    fn uuids_are_version_4() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(9);
        let u = uuid_v4(&mut rng);
        let u = u.as_str();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(u, uuid_v4(&mut rng).as_str());
    }
}
