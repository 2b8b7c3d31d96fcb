//! Response heads fed whole, cut at every offset and byte at a time, as the client feeds them
//! (dropping skipped interim heads between reads): every way must give the same verdict.

use super::*;
use crate::wire::head::FramingError;
use crate::wire::testing::{error_of, head_of, same_at_every_split, Rng, Verdict};

type Outcome = Verdict<ResponseHead>;

/// Feeds `input` in pieces ending at `cuts`, like the client: append, parse, drop interim heads.
fn feed(input: &[u8], cuts: &[usize]) -> Outcome {
    let mut buf = Vec::new();
    let mut dropped = 0;
    let mut start = 0;
    for end in cuts.iter().copied().chain(std::iter::once(input.len())) {
        buf.extend_from_slice(&input[start..end]);
        start = end;
        match parse_response(&buf) {
            Ok(Parsed::Complete(mut head)) => {
                assert!(head.len <= buf.len(), "consumed more than given");
                head.len += dropped;
                return Outcome::Head(head);
            }
            Ok(Parsed::Partial { interim }) => {
                assert!(interim <= buf.len(), "skipped more than given");
                buf.drain(..interim);
                dropped += interim;
            }
            Err(e) => return Outcome::Err(e),
        }
    }
    Outcome::Incomplete
}

fn check(input: &[u8]) -> Outcome {
    same_at_every_split(input, Some(&Outcome::Incomplete), feed)
}

fn head(input: &[u8]) -> ResponseHead {
    head_of(input, feed)
}

fn error(input: &[u8]) -> HeadError {
    error_of(input, feed)
}

#[test]
fn a_length_delimited_json_response() {
    let input = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n{\"choices\":[],\"usage\":null}";
    let h = head(input);
    assert_eq!(
        h,
        ResponseHead {
            status: 200,
            framing: Framing::Length(27),
            keep_alive: true,
            event_stream: false,
            len: 71,
            retry_after: RetryAfter::Absent,
            ratelimit_headers: false,
        }
    );
    assert_eq!(&input[h.len..], b"{\"choices\":[],\"usage\":null}");
}

#[test]
fn rate_limit_headers_of_an_error_head_are_read() {
    let input = b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 3\r\nx-ratelimit-remaining-requests: 0\r\ncontent-length: 0\r\n\r\n";
    let h = head(input);
    assert_eq!((h.status, h.retry_after, h.ratelimit_headers), (429, RetryAfter::Delay { ms: 3_000 }, true));
    let h = head(
        b"HTTP/1.1 529 Overloaded\r\nretry-after: Wed, 21 Oct 2015 07:28:00 GMT\r\ncontent-length: 0\r\n\r\n",
    );
    assert_eq!((h.retry_after, h.ratelimit_headers), (RetryAfter::Date { unix_s: 1_445_412_480 }, false));
    // A 200 is not read for them.
    let h = head(
        b"HTTP/1.1 200 OK\r\nretry-after: 3\r\nx-ratelimit-limit-requests: 9\r\ncontent-length: 0\r\n\r\n",
    );
    assert_eq!((h.retry_after, h.ratelimit_headers), (RetryAfter::Absent, false));
}

#[test]
fn a_chunked_event_stream() {
    let h = head(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ntransfer-encoding: chunked\r\n\r\n5\r\n");
    assert_eq!((h.framing, h.event_stream, h.keep_alive), (Framing::Chunked, true, true));
    assert!(head(b"HTTP/1.1 200 OK\r\nContent-Type: Text/Event-Stream\r\n\r\n").event_stream);
    assert!(!head(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-streams\r\n\r\n").event_stream);
    assert!(!head(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n").event_stream);
}

#[test]
fn interim_responses_are_skipped() {
    let input = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 429 Too Many Requests\r\ncontent-length: 0\r\n\r\n";
    let h = head(input);
    assert_eq!((h.status, h.framing, h.len), (429, Framing::Length(0), input.len()));
    // Cut inside the final head: both interim heads are reported as droppable.
    assert_eq!(parse_response(&input[..70]), Ok(Parsed::Partial { interim: 65 }));
    assert_eq!(parse_response(&input[..10]), Ok(Parsed::Partial { interim: 0 }));
}

#[test]
fn switching_protocols_is_final_and_ends_reuse() {
    let h = head(b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n");
    assert_eq!((h.status, h.framing, h.keep_alive), (101, Framing::Empty, false));
}

#[test]
fn framing_follows_rfc_9112() {
    let f = |s: &[u8]| head(s).framing;
    assert_eq!(f(b"HTTP/1.1 204 No Content\r\ncontent-length: 9\r\n\r\n"), Framing::Empty);
    assert_eq!(f(b"HTTP/1.1 304 Not Modified\r\n\r\n"), Framing::Empty);
    assert_eq!(f(b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n"), Framing::Chunked);
    assert_eq!(f(b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n"), Framing::UntilClose);
    assert_eq!(f(b"HTTP/1.1 200 OK\r\n\r\n"), Framing::UntilClose);
    assert_eq!(f(b"HTTP/1.1 500 Oops\r\ncontent-length: 3\r\n\r\n"), Framing::Length(3));
}

#[test]
fn persistence_follows_version_and_connection() {
    let ka = |s: &[u8]| head(s).keep_alive;
    assert!(ka(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"));
    assert!(!ka(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"));
    assert!(!ka(b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n"));
    assert!(ka(b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n"));
    // A body that runs until the close leaves nothing to reuse.
    assert!(!ka(b"HTTP/1.1 200 OK\r\nconnection: keep-alive\r\n\r\n"));
}

#[test]
fn malformed_heads_name_the_element() {
    assert_eq!(error(b"\x00\x01garbage that is not HTTP\r\n\r\n"), HeadError::Version);
    assert_eq!(error(b"HTTP/1.1 20 OK\r\n\r\n"), HeadError::Status);
    assert_eq!(error(b"HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n"), HeadError::HeaderName);
    assert_eq!(error(b"HTTP/1.1 200 OK\r\nx: a\x01b\r\n\r\n"), HeadError::HeaderValue);
    assert_eq!(error(b"HTTP/1.1 200 OK\r\n\rx"), HeadError::LineEnding);
    assert_eq!(error(b"HTTP/1.1 200 OK\rx"), HeadError::Status);
    assert_eq!(
        error(b"HTTP/1.1 200 OK\r\ncontent-length: 1x\r\n\r\n"),
        HeadError::Framing(FramingError::ContentLength)
    );
    assert_eq!(
        error(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n"),
        HeadError::Framing(FramingError::ContentLengthConflict)
    );
    assert_eq!(
        error(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 2\r\n\r\n"),
        HeadError::Framing(FramingError::TransferEncodingWithLength)
    );
    // A broken interim head fails the response too.
    assert_eq!(
        error(b"HTTP/1.1 100 Continue\r\nx y: z\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"),
        HeadError::HeaderName
    );
}

#[test]
fn limits_hold_however_the_head_arrives() {
    let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..=MAX_RESPONSE_HEADERS {
        many.extend_from_slice(format!("x-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(error(&many), HeadError::TooManyHeaders { limit: MAX_RESPONSE_HEADERS });

    // One byte over the limit, complete or not; exactly at the limit is fine.
    let sized = |len: usize| {
        let mut s = b"HTTP/1.1 200 OK\r\nx-filler: ".to_vec();
        s.resize(len - 4, b'a');
        s.extend_from_slice(b"\r\n\r\n");
        s
    };
    let at = sized(MAX_RESPONSE_HEAD);
    assert!(matches!(parse_response(&at), Ok(Parsed::Complete(h)) if h.len == MAX_RESPONSE_HEAD));
    let over = sized(MAX_RESPONSE_HEAD + 1);
    let too_large = Err(HeadError::TooLarge { limit: MAX_RESPONSE_HEAD });
    assert_eq!(parse_response(&over), too_large);
    assert_eq!(parse_response(&over[..MAX_RESPONSE_HEAD]), Ok(Parsed::Partial { interim: 0 }));
    assert_eq!(parse_response(&over[..MAX_RESPONSE_HEAD + 1]), too_large);
    // An endless header is refused once it passes the limit.
    let mut endless = b"HTTP/1.1 200 OK\r\n".to_vec();
    endless.resize(MAX_RESPONSE_HEAD + 1000, b'a');
    assert_eq!(parse_response(&endless), too_large);
    // Each interim head counts alone.
    let mut two = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
    two.extend_from_slice(&at);
    assert!(matches!(parse_response(&two), Ok(Parsed::Complete(h)) if h.len == two.len()));
}

#[test]
fn arbitrary_bytes_never_panic_and_stay_split_invariant() {
    // A small deterministic generator over a grammar-ish alphabet; `check` asserts the invariants.
    let alphabet: &[&[u8]] = &[
        b"HTTP/1.1 ",
        b"HTTP/1.0 ",
        b"200 OK",
        b"100 Continue",
        b"204 X",
        b"\r\n",
        b"\r",
        b"\n",
        b": ",
        b"content-length",
        b"transfer-encoding",
        b"chunked",
        b"connection",
        b"close",
        b"5",
        b"x",
        b"\x00",
        b"content-type",
        b"text/event-stream",
        b",",
    ];
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for _ in 0..300 {
        let input = rng.tokens(alphabet, 24);
        check(&input);
    }
}
