//! The body decoder under every framing, fed whole, cut at every offset and byte at a time,
//! through `step` and `decode_into`, with the next message's bytes behind the body.

use super::*;
use crate::wire::chunked::ChunkedErrorKind;
use crate::wire::testing::{same_at_every_split, Rng};

/// Bytes that follow the body on a keep-alive connection; never part of it.
const NEXT: &[u8] = b"HTTP/1.1 200 OK\r\n";

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Payload and bytes consumed in total.
    Done(Vec<u8>, usize),
    /// The input (and, when `close`, the connection) ended first.
    Cut(Vec<u8>),
    Err(ChunkedErrorKind, Vec<u8>),
}

/// Feeds `input` cut at `cuts` through `step`; `close` tells the decoder the peer closed after.
fn run_step(framing: Framing, input: &[u8], cuts: &[usize], close: bool) -> Outcome {
    let mut dec = BodyDecoder::new(framing);
    let mut payload = Vec::new();
    let mut start = 0;
    for end in cuts.iter().copied().chain(std::iter::once(input.len())) {
        let piece = &input[start..end];
        let mut pos = 0;
        loop {
            let (n, step) = match dec.step(&piece[pos..]) {
                Ok(r) => r,
                Err(e) => return Outcome::Err(e.kind(), payload),
            };
            pos += n;
            assert!(pos <= piece.len(), "consumed more than given");
            match step {
                Step::Data(d) => {
                    assert!(!d.is_empty(), "empty Data");
                    payload.extend_from_slice(d);
                }
                Step::NeedMore => {
                    assert_eq!(pos, piece.len(), "NeedMore must consume everything");
                    assert!(!dec.is_done());
                    break;
                }
                Step::Done => {
                    assert!(dec.is_done());
                    return Outcome::Done(payload, start + pos);
                }
            }
        }
        start = end;
    }
    if close && dec.eof() {
        return Outcome::Done(payload, input.len());
    }
    Outcome::Cut(payload)
}

/// The same through `decode_into`.
fn run_into(framing: Framing, input: &[u8], cuts: &[usize], close: bool) -> Outcome {
    let mut dec = BodyDecoder::new(framing);
    let mut payload = Vec::new();
    let mut start = 0;
    for end in cuts.iter().copied().chain(std::iter::once(input.len())) {
        match dec.decode_into(&input[start..end], &mut payload) {
            Err(e) => return Outcome::Err(e.kind(), payload),
            Ok((n, true)) => return Outcome::Done(payload, start + n),
            Ok((n, false)) => assert_eq!(n, end - start),
        }
        start = end;
    }
    if close && dec.eof() {
        return Outcome::Done(payload, input.len());
    }
    Outcome::Cut(payload)
}

/// Every way of feeding agrees, through `step` and `decode_into`; returns the verdict.
fn check(framing: Framing, input: &[u8], close: bool) -> Outcome {
    let step = same_at_every_split(input, None, |i, cuts| run_step(framing, i, cuts, close));
    let into = same_at_every_split(input, None, |i, cuts| run_into(framing, i, cuts, close));
    assert_eq!(step, into, "step and decode_into agree");
    step
}

/// `body` decodes to `payload`, consuming exactly itself even with the next message behind it.
fn check_body(framing: Framing, body: &[u8], payload: &[u8]) {
    let done = Outcome::Done(payload.to_vec(), body.len());
    assert_eq!(check(framing, body, false), done);
    assert_eq!(check(framing, body, true), done, "a close after the body changes nothing");
    let mut with_next = body.to_vec();
    with_next.extend_from_slice(NEXT);
    assert_eq!(check(framing, &with_next, false), done);
    // Every strict prefix is cut short, with or without a close.
    for k in 0..body.len() {
        for close in [false, true] {
            assert!(matches!(run_step(framing, &body[..k], &[], close), Outcome::Cut(_)), "prefix {k}");
        }
    }
}

#[test]
fn empty_bodies_consume_nothing() {
    check_body(Framing::Empty, b"", b"");
    check_body(Framing::Length(0), b"", b"");
    assert!(BodyDecoder::new(Framing::Empty).is_done());
    assert!(BodyDecoder::new(Framing::Empty).eof());
}

#[test]
fn length_bodies() {
    check_body(Framing::Length(5), b"hello", b"hello");
    let json = br#"{"choices":[{"message":{"content":"hi"}}],"usage":{"completion_tokens":1}}"#;
    check_body(Framing::Length(json.len() as u64), json, json);
    // A length larger than any input is simply never done.
    assert_eq!(check(Framing::Length(u64::MAX), b"abc", true), Outcome::Cut(b"abc".to_vec()));
}

#[test]
fn chunked_bodies() {
    let body = b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer: x\r\n\r\n";
    check_body(Framing::Chunked, body, b"hello, world");
    check_body(Framing::Chunked, b"0\r\n\r\n", b"");
    assert_eq!(
        check(Framing::Chunked, b"3\r\nabc\r\nzz\r\n", false),
        Outcome::Err(ChunkedErrorKind::InvalidSize, b"abc".to_vec())
    );
    assert_eq!(check(Framing::Chunked, b"3\r\nab", true), Outcome::Cut(b"ab".to_vec()));
}

#[test]
fn until_close_bodies_end_at_the_close_only() {
    let stream = b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n";
    assert_eq!(check(Framing::UntilClose, stream, true), Outcome::Done(stream.to_vec(), stream.len()));
    assert_eq!(check(Framing::UntilClose, stream, false), Outcome::Cut(stream.to_vec()));
    assert_eq!(check(Framing::UntilClose, b"", true), Outcome::Done(Vec::new(), 0));
    let mut dec = BodyDecoder::new(Framing::UntilClose);
    assert!(dec.eof());
    assert_eq!(dec.step(b"late"), Ok((0, Step::Done)), "nothing is read after the close");
}

#[test]
fn arbitrary_bytes_never_panic_and_stay_split_invariant() {
    let alphabet: &[&[u8]] =
        &[b"0", b"5", b"a", b"F", b"\r\n", b"\r", b"\n", b";x=y", b" ", b"hello", b"t: v"];
    let mut rng = Rng(0x5851_f42d_4c95_7f2d);
    for _ in 0..200 {
        let input = rng.tokens(alphabet, 20);
        let close = rng.below(2) == 1;
        for framing in [Framing::Empty, Framing::Length(7), Framing::Chunked, Framing::UntilClose] {
            check(framing, &input, close);
        }
    }
}
