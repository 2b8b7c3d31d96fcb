//! Message framing per RFC 9112 §6: which body a request has, from its headers.

/// How a request body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestFraming {
    /// Exactly this many bytes (0 when there is no body).
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// Decides a request's framing from its headers. A Transfer-Encoding whose final coding is
/// not `chunked`, conflicting Content-Length values, or a non-numeric length are errors
/// (the request cannot be framed, so the connection must close).
pub fn request_framing(headers: &[httparse::Header<'_>]) -> Result<RequestFraming, &'static str> {
    let mut length: Option<u64> = None;
    let mut chunked = false;
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or(b"");
            if !trim(last).eq_ignore_ascii_case(b"chunked") {
                return Err("transfer-encoding: final coding is not chunked");
            }
            chunked = true;
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let v = parse_decimal(trim(h.value)).ok_or("content-length: not a decimal number")?;
            if length.is_some_and(|l| l != v) {
                return Err("content-length: conflicting values");
            }
            length = Some(v);
        }
    }
    match (chunked, length) {
        // RFC 9112 §6.3: both present is a smuggling risk; refuse it.
        (true, Some(_)) => Err("both transfer-encoding and content-length"),
        (true, None) => Ok(RequestFraming::Chunked),
        (false, l) => Ok(RequestFraming::Length(l.unwrap_or(0))),
    }
}

/// How a response body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseFraming {
    /// No body (1xx, 204, 304).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

/// Decides a response's framing from its status and headers.
pub fn response_framing(
    status: u16,
    headers: &[httparse::Header<'_>],
) -> Result<ResponseFraming, &'static str> {
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(ResponseFraming::Empty);
    }
    match request_framing(headers) {
        Ok(RequestFraming::Chunked) => Ok(ResponseFraming::Chunked),
        Ok(RequestFraming::Length(n)) => {
            let has_length = headers.iter().any(|h| h.name.eq_ignore_ascii_case("content-length"));
            Ok(if has_length { ResponseFraming::Length(n) } else { ResponseFraming::UntilClose })
        }
        // A response whose final coding is not chunked is delimited by close.
        Err("transfer-encoding: final coding is not chunked") => Ok(ResponseFraming::UntilClose),
        Err(e) => Err(e),
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

/// True when a `Connection` header value lists `token` (case-insensitive).
pub fn connection_has(value: &[u8], token: &[u8]) -> bool {
    value.split(|&b| b == b',').any(|t| trim(t).eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h<'a>(name: &'a str, value: &'a [u8]) -> httparse::Header<'a> {
        httparse::Header { name, value }
    }

    #[test]
    fn framing_rules() {
        assert_eq!(request_framing(&[]), Ok(RequestFraming::Length(0)));
        assert_eq!(request_framing(&[h("Content-Length", b" 12 ")]), Ok(RequestFraming::Length(12)));
        assert_eq!(request_framing(&[h("transfer-encoding", b"gzip, chunked")]), Ok(RequestFraming::Chunked));
        assert!(request_framing(&[h("transfer-encoding", b"chunked, gzip")]).is_err());
        assert!(request_framing(&[h("content-length", b"1"), h("content-length", b"2")]).is_err());
        assert!(request_framing(&[h("content-length", b"-1")]).is_err());
        assert!(request_framing(&[h("content-length", b"99999999999999999999")]).is_err());
        assert!(request_framing(&[h("content-length", b"3"), h("transfer-encoding", b"chunked")]).is_err());
    }

    #[test]
    fn response_framing_rules() {
        assert_eq!(response_framing(204, &[h("content-length", b"5")]), Ok(ResponseFraming::Empty));
        assert_eq!(response_framing(200, &[]), Ok(ResponseFraming::UntilClose));
        assert_eq!(response_framing(200, &[h("content-length", b"0")]), Ok(ResponseFraming::Length(0)));
        assert_eq!(
            response_framing(200, &[h("transfer-encoding", b"chunked")]),
            Ok(ResponseFraming::Chunked)
        );
        assert_eq!(
            response_framing(200, &[h("transfer-encoding", b"gzip")]),
            Ok(ResponseFraming::UntilClose)
        );
        assert!(response_framing(200, &[h("content-length", b"x")]).is_err());
    }

    #[test]
    fn connection_tokens() {
        assert!(connection_has(b"keep-alive, Close", b"close"));
        assert!(!connection_has(b"keep-alive", b"close"));
    }
}
