//! Test support for the wire parsers: the split-invariance check every parser is held to, and
//! a tiny deterministic generator for grammar-shaped random inputs.

use std::fmt::Debug;

use super::head::HeadError;

/// A head parser's verdict on some bytes, in a form tests compare.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict<H> {
    Head(H),
    Incomplete,
    Err(HeadError),
}

/// The head `feed` finds in `input`, the same however the input is split.
pub(crate) fn head_of<H: PartialEq + Debug>(input: &[u8], feed: impl Fn(&[u8], &[usize]) -> Verdict<H>) -> H {
    match same_at_every_split(input, Some(&Verdict::Incomplete), feed) {
        Verdict::Head(h) => h,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
    }
}

/// The error `feed` finds in `input`, the same however the input is split.
pub(crate) fn error_of<H: PartialEq + Debug>(
    input: &[u8],
    feed: impl Fn(&[u8], &[usize]) -> Verdict<H>,
) -> HeadError {
    match same_at_every_split(input, Some(&Verdict::Incomplete), feed) {
        Verdict::Err(e) => e,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
    }
}

/// Feeds `input` through `feed(input, cuts)` whole, cut in two at every offset and byte at a
/// time (every 61st offset, and not byte at a time, above 4 KiB); all must agree. With
/// `incomplete`, every prefix fed whole must be that or already the verdict of the whole (a
/// parser may not change its mind when more bytes come). Returns the verdict.
pub(crate) fn same_at_every_split<T: PartialEq + Debug>(
    input: &[u8],
    incomplete: Option<&T>,
    feed: impl Fn(&[u8], &[usize]) -> T,
) -> T {
    let whole = feed(input, &[]);
    let long = input.len() > 4096;
    for k in (0..=input.len()).step_by(if long { 61 } else { 1 }) {
        assert_eq!(feed(input, &[k]), whole, "cut at {k} of {:?}", String::from_utf8_lossy(input));
        if let Some(incomplete) = incomplete {
            let prefix = feed(&input[..k], &[]);
            assert!(&prefix == incomplete || prefix == whole, "prefix {k}: {prefix:?} vs {whole:?}");
        }
    }
    if !long {
        let bytes: Vec<usize> = (1..input.len()).collect();
        assert_eq!(feed(input, &bytes), whole, "byte at a time");
    }
    whole
}

/// xorshift64: deterministic, so a failing input is the same on every run.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Up to three sorted cut offsets in `0..=len`.
    pub(crate) fn cuts(&mut self, len: usize) -> Vec<usize> {
        let mut c: Vec<usize> = (0..self.below(4)).map(|_| self.below(len + 1)).collect();
        c.sort_unstable();
        c
    }

    /// Up to `max` tokens of `alphabet`, concatenated.
    pub(crate) fn tokens(&mut self, alphabet: &[&[u8]], max: usize) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).flat_map(|_| alphabet[self.below(alphabet.len())].iter().copied()).collect()
    }
}
