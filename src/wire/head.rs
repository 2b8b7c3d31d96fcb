//! What an HTTP/1 head says about its body and its connection (RFC 9112 §6.3, §9.3), and the
//! typed errors of both head parsers (`wire::response` for the client, `wire::request`
//! for the mock). Both run httparse over `&[u8]`, then one pass over the headers here.

use std::fmt;

pub use httparse::{Header, EMPTY_HEADER};

/// How a message body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body: a 1xx, 204 or 304 response, or a request with neither length nor coding.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the server closes the connection (responses only).
    UntilClose,
}

/// A head that could not be parsed, naming the element that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeadError {
    /// The request line: a method or request target with a byte not allowed there.
    RequestLine,
    /// The HTTP version on the start line.
    Version,
    /// The status line: a status code that is not three digits, or a bad reason phrase.
    Status,
    /// A header name.
    HeaderName,
    /// A header value.
    HeaderValue,
    /// A line ending (a CR not followed by LF, or no line break where one belongs).
    LineEnding,
    /// More header fields than the parser holds.
    TooManyHeaders { limit: usize },
    /// A head longer than the limit (complete or not).
    TooLarge { limit: usize },
    /// The headers do not frame a body.
    Framing(FramingError),
}

/// Headers that leave the body's length unknowable; the connection must close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramingError {
    /// A Content-Length that is not a decimal number of at most 19 digits.
    ContentLength,
    /// Content-Length values that disagree.
    ContentLengthConflict,
    /// A request Transfer-Encoding whose final coding is not chunked.
    TransferEncoding,
    /// Both Transfer-Encoding and Content-Length (a request smuggling risk, RFC 9112 §6.3).
    TransferEncodingWithLength,
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The syntax texts are httparse's, which the mock's 400 messages have always quoted.
        match self {
            HeadError::RequestLine => f.write_str("invalid token"),
            HeadError::Version => f.write_str("invalid HTTP version"),
            HeadError::Status => f.write_str("invalid response status"),
            HeadError::HeaderName => f.write_str("invalid header name"),
            HeadError::HeaderValue => f.write_str("invalid header value"),
            HeadError::LineEnding => f.write_str("invalid new line"),
            HeadError::TooManyHeaders { limit } => write!(f, "more than {limit} headers"),
            HeadError::TooLarge { limit } => write!(f, "head is larger than {limit} bytes"),
            HeadError::Framing(e) => write!(f, "cannot frame the body: {e}"),
        }
    }
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FramingError::ContentLength => "content-length: not a decimal number",
            FramingError::ContentLengthConflict => "content-length: conflicting values",
            FramingError::TransferEncoding => "transfer-encoding: final coding is not chunked",
            FramingError::TransferEncodingWithLength => "both transfer-encoding and content-length",
        })
    }
}

impl std::error::Error for HeadError {}
impl std::error::Error for FramingError {}

/// Maps an httparse result to a head length, applying both limits. A head longer than `limit`
/// fails whether or not it is complete, so the verdict does not depend on how reads split it.
pub(crate) fn head_len(
    parsed: Result<httparse::Status<usize>, httparse::Error>,
    input_len: usize,
    limit: usize,
    max_headers: usize,
) -> Result<Option<usize>, HeadError> {
    match parsed {
        Ok(httparse::Status::Complete(n)) if n <= limit => Ok(Some(n)),
        Ok(httparse::Status::Partial) if input_len <= limit => Ok(None),
        Ok(_) => Err(HeadError::TooLarge { limit }),
        Err(e) => Err(match e {
            httparse::Error::Token => HeadError::RequestLine,
            httparse::Error::Version => HeadError::Version,
            httparse::Error::Status => HeadError::Status,
            httparse::Error::HeaderName => HeadError::HeaderName,
            httparse::Error::HeaderValue => HeadError::HeaderValue,
            httparse::Error::NewLine => HeadError::LineEnding,
            httparse::Error::TooManyHeaders => HeadError::TooManyHeaders { limit: max_headers },
        }),
    }
}

/// What the framing and connection headers of one head say, gathered in one pass.
#[derive(Default)]
pub(crate) struct Fields {
    /// Some(final coding is chunked) once a Transfer-Encoding was seen (the last one counts).
    chunked: Option<bool>,
    length: Option<u64>,
    length_error: Option<FramingError>,
    close: bool,
    keep_alive: bool,
}

impl Fields {
    /// Notes `h` when it is Content-Length, Transfer-Encoding or Connection; returns whether it was.
    #[inline]
    pub(crate) fn note(&mut self, h: &Header<'_>) -> bool {
        // Dispatch on the length first: most fields (Date, Server, …) are passed at one compare.
        let name = h.name.as_bytes();
        match name.len() {
            14 if name.eq_ignore_ascii_case(b"content-length") => match parse_decimal(trim(h.value)) {
                Some(v) if self.length.is_some_and(|l| l != v) => {
                    self.length_error.get_or_insert(FramingError::ContentLengthConflict);
                }
                Some(v) => self.length = Some(v),
                None => {
                    self.length_error.get_or_insert(FramingError::ContentLength);
                }
            },
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                let last = h.value.rsplit(|&b| b == b',').next().unwrap_or(b"");
                self.chunked = Some(trim(last).eq_ignore_ascii_case(b"chunked"));
            }
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for token in h.value.split(|&b| b == b',').map(trim) {
                    self.close |= token.eq_ignore_ascii_case(b"close");
                    self.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            _ => return false,
        }
        true
    }

    /// Persistence (RFC 9112 §9.3): `close` wins, else `keep-alive`, else HTTP/1.1 persists.
    pub(crate) fn keep_alive(&self, version: Option<u8>) -> bool {
        !self.close && (self.keep_alive || version == Some(1))
    }

    fn transfer_coded(&self) -> Result<Option<bool>, FramingError> {
        match self.chunked {
            Some(_) if self.length.is_some() || self.length_error.is_some() => {
                Err(FramingError::TransferEncodingWithLength)
            }
            other => Ok(other),
        }
    }

    /// A request's framing: chunked, a length, or no body.
    pub(crate) fn request_framing(&self) -> Result<Framing, FramingError> {
        match self.transfer_coded()? {
            Some(true) => Ok(Framing::Chunked),
            Some(false) => Err(FramingError::TransferEncoding),
            None => self.length_framing(Framing::Empty),
        }
    }

    /// A response's framing (RFC 9112 §6.3, in its order; a HEAD request is never sent).
    pub(crate) fn response_framing(&self, status: u16) -> Result<Framing, FramingError> {
        if (100..200).contains(&status) || status == 204 || status == 304 {
            return Ok(Framing::Empty);
        }
        match self.transfer_coded()? {
            Some(true) => Ok(Framing::Chunked),
            // A final coding other than chunked is delimited by the close.
            Some(false) => Ok(Framing::UntilClose),
            None => self.length_framing(Framing::UntilClose),
        }
    }

    fn length_framing(&self, without: Framing) -> Result<Framing, FramingError> {
        match (self.length_error, self.length) {
            (Some(e), _) => Err(e),
            (None, Some(n)) => Ok(Framing::Length(n)),
            (None, None) => Ok(without),
        }
    }
}

/// Trims optional whitespace (SP / HTAB) from both ends.
pub fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !matches!(b, b' ' | b'\t')).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !matches!(b, b' ' | b'\t')).map_or(start, |e| e + 1);
    &v[start..end]
}

/// Parses a non-empty run of ASCII digits without overflow.
pub fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    v.iter().try_fold(0u64, |acc, &b| b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(headers: &[(&'static str, &'static [u8])]) -> Fields {
        let mut f = Fields::default();
        for &(name, value) in headers {
            assert!(f.note(&Header { name, value }), "{name} is a framing header");
        }
        f
    }

    #[test]
    fn request_framing_rules() {
        use FramingError as E;
        let req = |h: &[(&'static str, &'static [u8])]| fields(h).request_framing();
        assert_eq!(req(&[]), Ok(Framing::Empty));
        assert_eq!(req(&[("Content-Length", b" 12 ")]), Ok(Framing::Length(12)));
        assert_eq!(req(&[("content-length", b"0")]), Ok(Framing::Length(0)));
        assert_eq!(req(&[("content-length", b"4"), ("content-length", b"4")]), Ok(Framing::Length(4)));
        assert_eq!(req(&[("transfer-encoding", b"gzip, chunked")]), Ok(Framing::Chunked));
        // The last Transfer-Encoding field holds the final coding.
        assert_eq!(
            req(&[("transfer-encoding", b"gzip"), ("transfer-encoding", b"chunked")]),
            Ok(Framing::Chunked)
        );
        assert_eq!(req(&[("transfer-encoding", b"chunked, gzip")]), Err(E::TransferEncoding));
        assert_eq!(req(&[("transfer-encoding", b"")]), Err(E::TransferEncoding));
        assert_eq!(req(&[("content-length", b"1"), ("content-length", b"2")]), Err(E::ContentLengthConflict));
        assert_eq!(req(&[("content-length", b"-1")]), Err(E::ContentLength));
        assert_eq!(req(&[("content-length", b"")]), Err(E::ContentLength));
        assert_eq!(req(&[("content-length", b"99999999999999999999")]), Err(E::ContentLength));
        // Both, in either order, whatever the length says.
        for h in [
            [("content-length", &b"3"[..]), ("transfer-encoding", b"chunked")],
            [("transfer-encoding", b"chunked"), ("content-length", b"x")],
            [("transfer-encoding", b"gzip"), ("content-length", b"3")],
        ] {
            assert_eq!(req(&h), Err(E::TransferEncodingWithLength), "{h:?}");
        }
    }

    #[test]
    fn response_framing_rules() {
        let resp = |status, h: &[(&'static str, &'static [u8])]| fields(h).response_framing(status);
        for status in [100, 101, 199, 204, 304] {
            assert_eq!(resp(status, &[("content-length", b"x")]), Ok(Framing::Empty), "{status}");
        }
        assert_eq!(resp(200, &[]), Ok(Framing::UntilClose));
        assert_eq!(resp(200, &[("content-length", b"0")]), Ok(Framing::Length(0)));
        assert_eq!(resp(404, &[("content-length", b"7")]), Ok(Framing::Length(7)));
        assert_eq!(resp(200, &[("transfer-encoding", b"chunked")]), Ok(Framing::Chunked));
        assert_eq!(resp(200, &[("transfer-encoding", b"gzip")]), Ok(Framing::UntilClose));
        assert_eq!(resp(200, &[("content-length", b"x")]), Err(FramingError::ContentLength));
        assert_eq!(
            resp(200, &[("transfer-encoding", b"chunked"), ("content-length", b"5")]),
            Err(FramingError::TransferEncodingWithLength)
        );
    }

    #[test]
    fn persistence() {
        let ka = |h: &[(&'static str, &'static [u8])], v| fields(h).keep_alive(Some(v));
        assert!(ka(&[], 1));
        assert!(!ka(&[], 0));
        assert!(ka(&[("connection", b"Keep-Alive")], 0));
        assert!(!ka(&[("connection", b"keep-alive, Close")], 1));
        // `close` in any Connection field wins over `keep-alive` in another.
        assert!(!ka(&[("connection", b"close"), ("connection", b"keep-alive")], 1));
        assert!(!ka(&[("connection", b"keep-alive"), ("connection", b"close")], 0));
        assert!(ka(&[("connection", b"upgrade")], 1));
        assert!(ka(&[("connection", b"closed, keep-alives")], 1), "tokens match whole");
        assert!(!ka(&[("connection", b"upgrade , CLOSE ")], 1));
    }

    #[test]
    fn other_headers_are_not_noted() {
        let mut f = Fields::default();
        assert!(!f.note(&Header { name: "content-type", value: b"text/plain" }));
        assert!(!f.note(&Header { name: "content-lengthy", value: b"5" }));
        assert_eq!(f.request_framing(), Ok(Framing::Empty));
    }

    #[test]
    fn values() {
        assert_eq!(trim(b" \t a b \t"), b"a b");
        assert_eq!(trim(b"  "), b"");
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"9999999999999999999"), Some(9_999_999_999_999_999_999));
        assert_eq!(parse_decimal(b"+1"), None);
        assert_eq!(parse_decimal(b"1 2"), None);
    }

    #[test]
    fn errors_name_the_element() {
        let parsed =
            httparse::Request::new(&mut [EMPTY_HEADER; 1]).parse(b"GET / HTTP/1.1\r\nx y: z\r\n\r\n");
        assert_eq!(head_len(parsed, 0, 100, 1), Err(HeadError::HeaderName));
        assert_eq!(HeadError::HeaderName.to_string(), "invalid header name");
        let parsed =
            httparse::Request::new(&mut [EMPTY_HEADER; 1]).parse(b"GET / HTTP/1.1\r\na: 1\r\nb: 2\r\n\r\n");
        assert_eq!(head_len(parsed, 0, 100, 1), Err(HeadError::TooManyHeaders { limit: 1 }));
        assert_eq!(HeadError::TooLarge { limit: 10 }.to_string(), "head is larger than 10 bytes");
        assert_eq!(HeadError::TooManyHeaders { limit: 3 }.to_string(), "more than 3 headers");
        assert_eq!(
            HeadError::Framing(FramingError::ContentLengthConflict).to_string(),
            "cannot frame the body: content-length: conflicting values"
        );
    }
}
