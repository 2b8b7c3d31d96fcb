//! Tests for the chunked decoder: recorded/handwritten bodies fed whole, split
//! at every offset and byte-at-a-time; every error path; a no-panic fuzz loop.

use super::*;
use crate::wire::testing::Rng;

/// Bytes that follow the body on a keep-alive connection; must never be consumed.
const NEXT: &[u8] = b"HTTP/1.1 200 OK\r\n";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Body complete: payload and bytes consumed in total.
    Done(Vec<u8>, usize),
    /// Input exhausted before the end of the body.
    Incomplete(Vec<u8>),
    /// Error, with the payload decoded before it.
    Err(ChunkedError, Vec<u8>),
}

/// Feed `input` cut at `cuts` (ascending offsets) through `step`.
fn run_step(input: &[u8], cuts: &[usize]) -> Outcome {
    let mut dec = ChunkedDecoder::new();
    let mut payload = Vec::new();
    let mut start = 0;
    let ends = cuts.iter().copied().chain(std::iter::once(input.len()));
    for end in ends {
        let piece = &input[start..end];
        let mut pos = 0;
        loop {
            match dec.step(&piece[pos..]) {
                Err(e) => return Outcome::Err(e, payload),
                Ok((n, step)) => {
                    pos += n;
                    assert!(pos <= piece.len());
                    match step {
                        Step::Data(d) => {
                            assert!(!d.is_empty(), "empty Data step");
                            payload.extend_from_slice(d);
                        }
                        Step::NeedMore => {
                            assert_eq!(pos, piece.len(), "NeedMore must consume everything");
                            break;
                        }
                        Step::Done => {
                            assert!(dec.is_done());
                            return Outcome::Done(payload, start + pos);
                        }
                    }
                }
            }
        }
        start = end;
    }
    Outcome::Incomplete(payload)
}

/// Every offset for normal inputs; a sample (plus the tail) for the huge
/// limit-testing ones, which would otherwise be quadratic.
fn split_points(len: usize) -> Vec<usize> {
    if len <= 5000 {
        (0..=len).collect()
    } else {
        (0..=len).step_by(97).chain(len - 64..=len).collect()
    }
}

/// Whole, every two-piece split and byte-at-a-time must agree; returns the outcome.
fn check_splits(input: &[u8]) -> Outcome {
    let whole = run_step(input, &[]);
    for k in split_points(input.len()) {
        assert_eq!(run_step(input, &[k]), whole, "split at {k}");
    }
    let bytes: Vec<usize> = (1..input.len()).collect();
    assert_eq!(run_step(input, &bytes), whole, "byte-at-a-time");
    whole
}

/// A valid body must decode to `payload`, consume exactly itself, and leave
/// pipelined bytes alone, under every split.
fn check_body(body: &[u8], payload: &[u8]) {
    assert_eq!(check_splits(body), Outcome::Done(payload.to_vec(), body.len()));
    let mut with_next = body.to_vec();
    with_next.extend_from_slice(NEXT);
    assert_eq!(check_splits(&with_next), Outcome::Done(payload.to_vec(), body.len()));
    // Every strict prefix is merely incomplete.
    for k in split_points(body.len()).into_iter().filter(|&k| k < body.len()) {
        assert!(matches!(run_step(&body[..k], &[]), Outcome::Incomplete(_)), "prefix {k}");
    }
}

fn check_err(input: &[u8], kind: ChunkedErrorKind, byte: Option<u8>) -> ChunkedError {
    match check_splits(input) {
        Outcome::Err(e, _) => {
            assert_eq!((e.kind(), e.byte()), (kind, byte), "{e}");
            e
        }
        other => panic!("expected {kind:?}, got {other:?}"),
    }
}

/// A recorded OpenAI chat-completions SSE stream, used here as a payload.
const OPENAI_EVENTS: &[&str] = &[
    "data: {\"id\":\"chatcmpl-AXq1\",\"object\":\"chat.completion.chunk\",\"created\":1732540000,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-AXq1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-AXq1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"!\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-AXq1\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11}}\n\n",
    "data: [DONE]\n\n",
];

#[test]
fn simple_body() {
    check_body(b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n", b"hello, world");
}

#[test]
fn empty_body() {
    check_body(b"0\r\n\r\n", b"");
}

#[test]
fn uppercase_hex_and_zero_padding() {
    let mut body = b"000A\r\n0123456789\r\n1F\r\n".to_vec();
    body.extend_from_slice(&[b'x'; 31]);
    body.extend_from_slice(b"\r\n0000\r\n\r\n");
    let mut payload = b"0123456789".to_vec();
    payload.extend_from_slice(&[b'x'; 31]);
    check_body(&body, &payload);
    // 32 digits (the limit) of padding is still fine.
    let mut padded = vec![b'0'; 31];
    padded.extend_from_slice(b"1\r\nz\r\n0\r\n\r\n");
    check_body(&padded, b"z");
}

#[test]
fn chunk_extensions() {
    check_body(
        b"5;name=value\r\nhello\r\n6;q=\"quoted;\\\"str\";x\r\n world\r\n0;last=1\r\n\r\n",
        b"hello world",
    );
}

#[test]
fn whitespace_before_extension_or_crlf() {
    check_body(b"5 \t ;ext\r\nhello\r\n3\t\r\nabc\r\n0 \r\n\r\n", b"helloabc");
}

#[test]
fn trailers_are_skipped() {
    check_body(
        b"4\r\nWiki\r\n0\r\nExpires: Wed, 21 Oct 2015 07:28:00 GMT\r\nX-Checksum: abc\r\n\r\n",
        b"Wiki",
    );
}

#[test]
fn data_may_contain_framing_bytes() {
    check_body(b"c\r\n0\r\n\r\nabc\r\nxy\r\n0\r\n\r\n", b"0\r\n\r\nabc\r\nxy");
}

#[test]
fn large_and_tiny_chunks() {
    let big: Vec<u8> = (0..0x1000u32).map(|i| (i % 251) as u8).collect();
    let mut body = Vec::new();
    crate::wire::encode::chunk(&mut body, &big);
    for b in b"abc" {
        crate::wire::encode::chunk(&mut body, std::slice::from_ref(b));
    }
    body.extend_from_slice(crate::wire::encode::LAST_CHUNK);
    assert!(body.starts_with(b"1000\r\n"));
    let mut payload = big.clone();
    payload.extend_from_slice(b"abc");
    check_body(&body, &payload);
}

#[test]
fn recorded_sse_stream_one_chunk_per_event() {
    let mut body = Vec::new();
    let mut payload = Vec::new();
    for ev in OPENAI_EVENTS {
        crate::wire::encode::chunk(&mut body, ev.as_bytes());
        payload.extend_from_slice(ev.as_bytes());
    }
    body.extend_from_slice(crate::wire::encode::LAST_CHUNK);
    check_body(&body, &payload);
}

#[test]
fn data_is_zero_copy() {
    let body = b"5\r\nhello\r\n0\r\n\r\n";
    let mut dec = ChunkedDecoder::new();
    let (n, step) = dec.step(body).unwrap();
    assert_eq!(n, 8);
    let Step::Data(d) = step else { panic!("{step:?}") };
    assert_eq!(d, b"hello");
    assert!(std::ptr::eq(d.as_ptr(), body[3..].as_ptr()));
    assert_eq!(dec.step(&body[n..]).unwrap(), (7, Step::Done));
    assert_eq!(dec.step(b"more").unwrap(), (0, Step::Done));
    assert_eq!(dec.step(b"").unwrap(), (0, Step::Done));
}

#[test]
fn partial_chunk_tracks_remaining() {
    let mut dec = ChunkedDecoder::new();
    assert_eq!(dec.step(b"").unwrap(), (0, Step::NeedMore));
    assert_eq!(dec.step(b"a\r\nabc").unwrap(), (6, Step::Data(b"abc")));
    assert_eq!(dec.remaining_in_chunk(), 7);
    assert_eq!(dec.step(b"").unwrap(), (0, Step::NeedMore));
    assert!(!dec.is_done());
}

#[test]
fn max_u64_size_is_accepted() {
    let mut dec = ChunkedDecoder::new();
    assert_eq!(dec.step(b"ffffffffffffffff\r\n").unwrap(), (18, Step::NeedMore));
    assert_eq!(dec.remaining_in_chunk(), u64::MAX);
    assert_eq!(dec.step(b"xy").unwrap(), (2, Step::Data(b"xy")));
    assert_eq!(dec.remaining_in_chunk(), u64::MAX - 2);
}

#[test]
fn encode_chunk_sizes() {
    for (len, hex) in [(1usize, "1"), (15, "f"), (16, "10"), (255, "ff"), (4096, "1000")] {
        let mut out = Vec::new();
        crate::wire::encode::chunk(&mut out, &vec![b'q'; len]);
        assert!(out.starts_with(format!("{hex}\r\n").as_bytes()), "{len}");
        assert_eq!(out.len(), hex.len() + 2 + len + 2);
    }
    let mut out = Vec::new();
    crate::wire::encode::chunk(&mut out, b"");
    assert!(out.is_empty());
}

#[test]
fn err_invalid_hex() {
    let e = check_err(b"z\r\n", ChunkedErrorKind::InvalidSize, Some(b'z'));
    assert_eq!(e.to_string(), "chunk size: invalid byte 0x7a ('z')");
    check_err(b"5x\r\nhello\r\n", ChunkedErrorKind::InvalidSize, Some(b'x'));
    check_err(b"5\r\nhello\r\n-1\r\n", ChunkedErrorKind::InvalidSize, Some(b'-'));
    check_err(b"0x5\r\n", ChunkedErrorKind::InvalidSize, Some(b'x'));
}

#[test]
fn err_empty_size_line() {
    let e = check_err(b"\r\n", ChunkedErrorKind::InvalidSize, Some(b'\r'));
    assert_eq!(e.to_string(), "chunk size: invalid byte 0x0d");
    check_err(b";ext\r\n", ChunkedErrorKind::InvalidSize, Some(b';'));
    check_err(b" 5\r\n", ChunkedErrorKind::InvalidSize, Some(b' '));
    // Bare LF is not a line terminator here.
    check_err(b"5\nhello", ChunkedErrorKind::InvalidSize, Some(b'\n'));
}

#[test]
fn err_size_overflow() {
    let e = check_err(b"fffffffffffffffff\r\n", ChunkedErrorKind::SizeOverflow, Some(b'f'));
    assert_eq!(e.to_string(), "chunk size overflows u64");
    check_err(b"10000000000000000\r\n", ChunkedErrorKind::SizeOverflow, Some(b'0'));
}

#[test]
fn err_size_too_many_digits() {
    let mut body = vec![b'0'; 33];
    body.extend_from_slice(b"\r\n\r\n");
    let e = check_err(&body, ChunkedErrorKind::SizeTooLong, Some(b'0'));
    assert_eq!(e.to_string(), "chunk size has more than 32 hex digits");
}

#[test]
fn err_bad_whitespace() {
    let e = check_err(b"5 x\r\n", ChunkedErrorKind::InvalidSizeLws, Some(b'x'));
    assert_eq!(e.to_string(), "chunk size: invalid byte after whitespace 0x78 ('x')");
    check_err(b"5 7\r\n", ChunkedErrorKind::InvalidSizeLws, Some(b'7'));
}

#[test]
fn err_missing_crlf_after_data() {
    let e = check_err(b"3\r\nabcX", ChunkedErrorKind::BodyCr, Some(b'X'));
    assert_eq!(e.to_string(), "expected CR after chunk data, found 0x58 ('X')");
    let e = check_err(b"3\r\nabc\rA", ChunkedErrorKind::BodyLf, Some(b'A'));
    assert_eq!(e.to_string(), "expected LF after chunk data, found 0x41 ('A')");
    // Bare LF after data (one byte too many in the chunk).
    check_err(b"3\r\nabc\n0\r\n\r\n", ChunkedErrorKind::BodyCr, Some(b'\n'));
    // Payload before the error was still delivered.
    match check_splits(b"3\r\nabcd") {
        Outcome::Err(_, p) => assert_eq!(p, b"abc"),
        o => panic!("{o:?}"),
    }
}

#[test]
fn err_size_line_cr_without_lf() {
    check_err(b"3\r\rabc", ChunkedErrorKind::SizeLineLf, Some(b'\r'));
    check_err(b"3;e\rx", ChunkedErrorKind::SizeLineLf, Some(b'x'));
}

#[test]
fn err_extension_too_long() {
    let mut ok = b"1;".to_vec();
    ok.extend_from_slice(&[b'a'; CHUNK_EXTENSIONS_LIMIT as usize]);
    ok.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
    check_body(&ok, b"x");

    let mut bad = b"1;".to_vec();
    bad.extend_from_slice(&[b'a'; CHUNK_EXTENSIONS_LIMIT as usize + 1]);
    bad.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
    let e = check_err(&bad, ChunkedErrorKind::ExtensionTooLong, Some(b'a'));
    assert_eq!(e.to_string(), "chunk extension longer than 4096 bytes");

    // Endless whitespace is bounded by the same limit.
    let mut ws = b"1".to_vec();
    ws.extend_from_slice(&[b' '; CHUNK_EXTENSIONS_LIMIT as usize + 1]);
    check_err(&ws, ChunkedErrorKind::ExtensionTooLong, Some(b' '));
}

#[test]
fn err_extension_bare_lf() {
    check_err(b"1;a\nb\r\nx\r\n", ChunkedErrorKind::ExtensionLf, Some(b'\n'));
}

fn trailer_body(section_len: usize) -> Vec<u8> {
    // One trailer line "X: aaa...\r\n" of exactly `section_len` bytes.
    let mut body = b"1\r\nx\r\n0\r\nX: ".to_vec();
    body.extend(std::iter::repeat_n(b'a', section_len - 5));
    body.extend_from_slice(b"\r\n\r\n");
    body
}

#[test]
fn err_trailers_too_long() {
    check_body(&trailer_body(TRAILERS_LIMIT as usize), b"x");
    let e =
        check_err(&trailer_body(TRAILERS_LIMIT as usize + 1), ChunkedErrorKind::TrailersTooLong, Some(b'\n'));
    assert_eq!(e.to_string(), "trailer section longer than 16384 bytes");
    // Many short lines count too.
    let mut many = b"0\r\n".to_vec();
    for _ in 0..(TRAILERS_LIMIT as usize / 6 + 1) {
        many.extend_from_slice(b"A: b\r\n");
    }
    many.extend_from_slice(b"\r\n");
    assert!(
        matches!(check_splits(&many), Outcome::Err(e, _) if e.kind() == ChunkedErrorKind::TrailersTooLong)
    );
}

#[test]
fn err_bad_trailer_and_end() {
    check_err(b"0\r\nX: y\nZ: w\r\n\r\n", ChunkedErrorKind::TrailerLf, Some(b'\n'));
    check_err(b"0\r\nX: y\rz", ChunkedErrorKind::TrailerLf, Some(b'z'));
    check_err(b"0\r\n\n", ChunkedErrorKind::TrailerLf, Some(b'\n'));
    let e = check_err(b"0\r\n\rX", ChunkedErrorKind::EndLf, Some(b'X'));
    assert_eq!(e.to_string(), "expected LF ending chunked body, found 0x58 ('X')");
}

#[test]
fn error_is_sticky_until_reset() {
    let mut dec = ChunkedDecoder::new();
    let e = dec.step(b"q").unwrap_err();
    assert_eq!(dec.step(b"5\r\nhello").unwrap_err(), e);
    assert_eq!(dec.step(b"0\r\n\r\n").unwrap_err(), e);
    assert!(!dec.is_done());
    dec.reset();
    assert_eq!(dec.step(b"2\r\nok\r\n0\r\n\r\n").unwrap(), (5, Step::Data(b"ok")));
    assert_eq!(dec.step(b"\r\n0\r\n\r\n").unwrap(), (7, Step::Done));
    let msg: Box<dyn std::error::Error> = Box::new(e);
    assert!(msg.to_string().contains("0x71"));
}

/// xorshift64: deterministic, no extra crates.
#[test]
fn fuzz_random_bytes_no_panic_and_split_invariant() {
    const ALPHABET: &[u8] = b"0123456789abcdefABCDEFxz;= \t\r\n\r\n\r\n";
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..20_000 {
        let len = rng.below(48);
        let input: Vec<u8> = (0..len)
            .map(|_| match rng.below(10) {
                0 => rng.next() as u8,
                _ => ALPHABET[rng.below(ALPHABET.len())],
            })
            .collect();
        let whole = run_step(&input, &[]);
        if let Outcome::Done(_, n) = &whole {
            assert!(*n <= input.len());
        }
        let cuts = rng.cuts(len);
        assert_eq!(run_step(&input, &cuts), whole, "{input:?} cut at {cuts:?}");
    }
}

#[test]
fn fuzz_generated_valid_bodies() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for _ in 0..3_000 {
        let mut body = Vec::new();
        let mut payload = Vec::new();
        for _ in 0..rng.below(5) {
            let data: Vec<u8> = (0..1 + rng.below(40)).map(|_| rng.next() as u8).collect();
            let mut size = format!("{}{:x}", "0".repeat(rng.below(3)), data.len());
            if rng.below(2) == 0 {
                size.make_ascii_uppercase();
            }
            body.extend_from_slice(size.as_bytes());
            match rng.below(4) {
                0 => body.extend_from_slice(b";k=v"),
                1 => body.extend_from_slice(b" \t;a;b=\"c;d\""),
                2 => body.push(b' '),
                _ => {}
            }
            body.extend_from_slice(b"\r\n");
            body.extend_from_slice(&data);
            body.extend_from_slice(b"\r\n");
            payload.extend_from_slice(&data);
        }
        body.extend_from_slice("0".repeat(1 + rng.below(3)).as_bytes());
        body.extend_from_slice(b"\r\n");
        for i in 0..rng.below(3) {
            body.extend_from_slice(format!("X-T{i}: v\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        let expected = Outcome::Done(payload, body.len());
        body.extend_from_slice(NEXT);
        assert_eq!(run_step(&body, &[]), expected);
        let cuts = rng.cuts(body.len());
        assert_eq!(run_step(&body, &cuts), expected, "cuts {cuts:?}");
    }
}
