//! The request head, as the mock reads it: method, target, framing, persistence, and the other
//! header fields borrowed for the mock to pick from. A pure function of the bytes read so far.
//!
//! ```
//! use llmload::wire::head::{Framing, EMPTY_HEADER};
//! use llmload::wire::request::{parse_request, MAX_REQUEST_HEADERS};
//!
//! let bytes = b"POST /v1/chat/completions HTTP/1.1\r\nx-api-key: k\r\ncontent-length: 2\r\n\r\n{}";
//! let mut headers = [EMPTY_HEADER; MAX_REQUEST_HEADERS];
//! let head = parse_request(bytes, &mut headers).unwrap().expect("complete");
//! assert_eq!((head.method, head.path, head.framing), ("POST", "/v1/chat/completions", Framing::Length(2)));
//! assert_eq!(head.headers[0].name, "x-api-key");
//! assert_eq!(&bytes[head.len..], b"{}");
//! ```

use super::head::{head_len, Fields, Framing, HeadError, Header};

/// Largest request head.
pub const MAX_REQUEST_HEAD: usize = 64 << 10;
/// Most header fields in one request head: the size of the header array callers pass.
pub const MAX_REQUEST_HEADERS: usize = 96;

/// A complete request head, borrowing `'b` (the input) and `'h` (the caller's header array).
#[derive(Debug)]
pub struct RequestHead<'h, 'b> {
    pub method: &'b str,
    /// The request target as sent (query string included).
    pub path: &'b str,
    pub framing: Framing,
    /// The connection may carry another request after the reply.
    pub keep_alive: bool,
    /// All header fields, in order (framing and connection ones already read into the above).
    pub headers: &'h [Header<'b>],
    /// Bytes of the input up to the end of the head; the body (if any) starts here.
    pub len: usize,
}

/// Parses the request head at the start of `input` into `headers` (whose length is the
/// header limit; [`MAX_REQUEST_HEADERS`] is the mock's). `Ok(None)`: more bytes are needed.
///
/// Never reads past `input`; the verdict does not depend on how `input` was split across reads.
pub fn parse_request<'h, 'b>(
    input: &'b [u8],
    headers: &'h mut [Header<'b>],
) -> Result<Option<RequestHead<'h, 'b>>, HeadError> {
    let max_headers = headers.len();
    let mut req = httparse::Request::new(headers);
    let parsed = req.parse(input);
    let Some(len) = head_len(parsed, input.len(), MAX_REQUEST_HEAD, max_headers)? else {
        return Ok(None);
    };
    let httparse::Request { method, path, version, headers } = req;
    let mut fields = Fields::default();
    for h in headers.iter() {
        fields.note(h);
    }
    let framing = fields.request_framing().map_err(HeadError::Framing)?;
    Ok(Some(RequestHead {
        method: method.unwrap_or(""),
        path: path.unwrap_or("/"),
        framing,
        keep_alive: fields.keep_alive(version),
        headers,
        len,
    }))
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
