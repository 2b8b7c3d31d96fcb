//! Request heads fed whole, cut at every offset and byte at a time: every way must agree.

use super::*;
use crate::wire::head::{FramingError, EMPTY_HEADER};
use crate::wire::testing::{error_of, head_of, same_at_every_split, Rng, Verdict};

/// An owned copy of a parsed head, to compare verdicts.
#[derive(Debug, PartialEq, Eq)]
struct Owned {
    method: String,
    path: String,
    framing: Framing,
    keep_alive: bool,
    headers: Vec<(String, Vec<u8>)>,
    len: usize,
}

type Outcome = Verdict<Owned>;

fn parse(input: &[u8]) -> Outcome {
    let mut headers = [EMPTY_HEADER; MAX_REQUEST_HEADERS];
    match parse_request(input, &mut headers) {
        Ok(Some(h)) => {
            assert!(h.len <= input.len(), "consumed more than given");
            Outcome::Head(Owned {
                method: h.method.into(),
                path: h.path.into(),
                framing: h.framing,
                keep_alive: h.keep_alive,
                headers: h.headers.iter().map(|h| (h.name.to_owned(), h.value.to_vec())).collect(),
                len: h.len,
            })
        }
        Ok(None) => Outcome::Incomplete,
        Err(e) => Outcome::Err(e),
    }
}

/// Feeds `input` in pieces ending at `cuts`, re-parsing the accumulated bytes after each.
fn feed(input: &[u8], cuts: &[usize]) -> Outcome {
    let mut buf = Vec::new();
    let mut start = 0;
    for end in cuts.iter().copied().chain(std::iter::once(input.len())) {
        buf.extend_from_slice(&input[start..end]);
        start = end;
        match parse(&buf) {
            Outcome::Incomplete => {}
            done => return done,
        }
    }
    Outcome::Incomplete
}

fn check(input: &[u8]) -> Outcome {
    same_at_every_split(input, Some(&Outcome::Incomplete), feed)
}

fn head(input: &[u8]) -> Owned {
    head_of(input, feed)
}

fn error(input: &[u8]) -> HeadError {
    error_of(input, feed)
}

#[test]
fn a_chat_request_with_its_body() {
    let input = b"POST /v1/chat/completions?api-version=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nContent-Length: 2\r\n\r\n{}";
    let h = head(input);
    assert_eq!((h.method.as_str(), h.path.as_str()), ("POST", "/v1/chat/completions?api-version=1"));
    assert_eq!((h.framing, h.keep_alive, &input[h.len..]), (Framing::Length(2), true, &b"{}"[..]));
    let names: Vec<&str> = h.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["Host", "Authorization", "Content-Length"]);
    assert_eq!(h.headers[1].1, b"Bearer k");
}

#[test]
fn framing_and_persistence() {
    let h = head(b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!((h.framing, h.keep_alive), (Framing::Empty, false));
    let h = head(b"POST /v1/messages HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    assert_eq!(h.framing, Framing::Chunked);
    assert!(!head(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
    assert!(head(b"GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n").keep_alive);
}

#[test]
fn malformed_heads_name_the_element() {
    assert_eq!(error(b"\x00\xff garbage\r\n\r\n"), HeadError::RequestLine);
    assert_eq!(error(b"GET /metrics\r\n\r\n"), HeadError::RequestLine);
    assert_eq!(error(b"GET / HTTX/1.1\r\n\r\n"), HeadError::Version);
    assert_eq!(error(b"GET / HTTP/1.1\r\nx\x01: y\r\n\r\n"), HeadError::HeaderName);
    assert_eq!(error(b"GET / HTTP/1.1\r\nx: \x7f\r\n\r\n"), HeadError::HeaderValue);
    assert_eq!(error(b"GET / HTTP/1.1\r\n\rx"), HeadError::LineEnding);
    let framing = |s: &[u8]| match error(s) {
        HeadError::Framing(f) => f,
        other => panic!("{other:?}"),
    };
    assert_eq!(framing(b"POST / HTTP/1.1\r\ncontent-length: ten\r\n\r\n"), FramingError::ContentLength);
    assert_eq!(
        framing(b"POST / HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 3\r\n\r\n"),
        FramingError::ContentLengthConflict
    );
    assert_eq!(
        framing(b"POST / HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\n"),
        FramingError::TransferEncoding
    );
    assert_eq!(
        framing(b"POST / HTTP/1.1\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n"),
        FramingError::TransferEncodingWithLength
    );
}

#[test]
fn limits_hold_however_the_head_arrives() {
    let mut many = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..=MAX_REQUEST_HEADERS {
        many.extend_from_slice(format!("x-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(error(&many), HeadError::TooManyHeaders { limit: MAX_REQUEST_HEADERS });
    // A smaller header array is a smaller limit.
    let mut three = [EMPTY_HEADER; 3];
    let got = parse_request(b"GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\n\r\n", &mut three);
    assert_eq!(got.unwrap_err(), HeadError::TooManyHeaders { limit: 3 });

    let mut big = b"GET /health HTTP/1.1\r\nX-Big: ".to_vec();
    big.resize(MAX_REQUEST_HEAD + 200, b'a');
    big.extend_from_slice(b"\r\n\r\n");
    assert_eq!(error(&big), HeadError::TooLarge { limit: MAX_REQUEST_HEAD });
    let mut at = b"GET /health HTTP/1.1\r\nX-Big: ".to_vec();
    at.resize(MAX_REQUEST_HEAD - 4, b'a');
    at.extend_from_slice(b"\r\n\r\n");
    assert_eq!(head(&at).len, MAX_REQUEST_HEAD);
}

#[test]
fn arbitrary_bytes_never_panic_and_stay_split_invariant() {
    let alphabet: &[&[u8]] = &[
        b"GET ",
        b"POST ",
        b"/v1/x",
        b" HTTP/1.1",
        b" HTTP/1.0",
        b"\r\n",
        b"\r",
        b"\n",
        b": ",
        b"content-length",
        b"transfer-encoding",
        b"chunked",
        b"connection",
        b"close",
        b"keep-alive",
        b"7",
        b" ",
        b"\x00",
        b",",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..300 {
        let input = rng.tokens(alphabet, 24);
        check(&input);
    }
}
