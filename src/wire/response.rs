//! The response head, as the client reads it: interim 1xx heads skipped, then status, framing,
//! persistence and whether the body is an event stream. A pure function of the bytes read so
//! far: call it again with more bytes until it completes.
//!
//! ```
//! use llmload::wire::head::Framing;
//! use llmload::wire::response::{parse_response, Parsed};
//!
//! let bytes = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi";
//! let Ok(Parsed::Complete(head)) = parse_response(bytes) else { panic!() };
//! assert_eq!((head.status, head.framing, head.keep_alive), (200, Framing::Length(2), true));
//! assert_eq!(&bytes[head.len..], b"hi");
//! // Cut inside the final head: the interim head before it may be dropped.
//! assert_eq!(parse_response(&bytes[..30]), Ok(Parsed::Partial { interim: 25 }));
//! ```

use std::mem::MaybeUninit;

use super::head::{head_len, trim, Fields, Framing, HeadError};
use super::ratelimit::{LimitFields, RetryAfter};

/// Largest response head (each interim head counts alone).
pub const MAX_RESPONSE_HEAD: usize = 64 << 10;
/// Most header fields in one response head.
pub const MAX_RESPONSE_HEADERS: usize = 64;

/// What the client needs from a final response head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub framing: Framing,
    /// The connection may carry another request after this response (never when the body
    /// runs until the close, nor after 101 Switching Protocols).
    pub keep_alive: bool,
    /// `Content-Type: text/event-stream`.
    pub event_stream: bool,
    /// Bytes of the input up to the end of this head, interim heads before it included.
    pub len: usize,
    /// `retry-after` (or `retry-after-ms`) of a non-200 head; a 200 head is not read for it.
    pub retry_after: RetryAfter,
    /// A non-200 head carried `x-ratelimit-*` or `anthropic-ratelimit-*` headers.
    pub ratelimit_headers: bool,
}

/// The outcome of [`parse_response`] on the bytes read so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The final head is complete.
    Complete(ResponseHead),
    /// More bytes are needed. The first `interim` bytes are complete 1xx heads already
    /// skipped; the caller may drop them before calling again (it must keep the rest).
    Partial { interim: usize },
}

/// Parses the response head at the start of `input`, skipping interim (1xx) responses.
///
/// Never reads past `input`; the verdict does not depend on how `input` was split across
/// reads (an error seen in a prefix is the error of the whole).
pub fn parse_response(input: &[u8]) -> Result<Parsed, HeadError> {
    let mut start = 0;
    loop {
        let buf = &input[start..];
        // Left uninitialized: httparse fills only the fields it finds (no 2 KB to clear per
        // response).
        let mut headers = [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_RESPONSE_HEADERS];
        let mut resp = httparse::Response::new(&mut []);
        let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut resp,
            buf,
            &mut headers,
        );
        let Some(n) = head_len(parsed, buf.len(), MAX_RESPONSE_HEAD, MAX_RESPONSE_HEADERS)? else {
            return Ok(Parsed::Partial { interim: start });
        };
        let status = resp.code.unwrap_or(0);
        // 101 ends HTTP/1 on this connection, so it is final (and the connection not reused).
        if (100..200).contains(&status) && status != 101 {
            start += n;
            continue;
        }
        let mut fields = Fields::default();
        let mut limits = LimitFields::default();
        let mut event_stream = false;
        for h in resp.headers.iter() {
            if fields.note(h) {
                continue;
            }
            if h.name.eq_ignore_ascii_case("content-type") {
                event_stream = is_event_stream(h.value);
            } else if status != 200 {
                limits.note(h.name, h.value);
            }
        }
        let framing = fields.response_framing(status).map_err(HeadError::Framing)?;
        let keep_alive = fields.keep_alive(resp.version) && framing != Framing::UntilClose && status != 101;
        return Ok(Parsed::Complete(ResponseHead {
            status,
            framing,
            keep_alive,
            event_stream,
            len: start + n,
            retry_after: limits.retry_after(),
            ratelimit_headers: limits.limit_headers,
        }));
    }
}

/// True for the media type `text/event-stream`, whatever its parameters.
fn is_event_stream(value: &[u8]) -> bool {
    let media = value.split(|&b| b == b';').next().unwrap_or(b"");
    trim(media).eq_ignore_ascii_case(b"text/event-stream")
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
