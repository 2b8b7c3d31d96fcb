//! Writers for HTTP/1.1 heads and chunks into a caller's buffer (no allocation of their own).

/// The reason phrase for a status (only used for readability; clients ignore it).
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        529 => "Overloaded",
        _ => "Status",
    }
}

/// `HTTP/1.1 200 OK\r\n`
pub(crate) fn status_line(out: &mut Vec<u8>, status: u16) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `name: value\r\n`
pub(crate) fn header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// `name: <decimal>\r\n`
pub(crate) fn header_u64(out: &mut Vec<u8>, name: &str, value: u64) {
    header(out, name, itoa::Buffer::new().format(value).as_bytes());
}

/// One chunk of a chunked body: size in hex, CRLF, data, CRLF. Empty data writes nothing
/// (an empty chunk would end the body).
pub(crate) fn chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let mut hex = [0u8; 16];
    let mut n = data.len();
    let mut i = hex.len();
    while n > 0 {
        i -= 1;
        hex[i] = b"0123456789abcdef"[n & 15];
        n >>= 4;
    }
    out.extend_from_slice(&hex[i..]);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk with no trailers: ends a chunked body.
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_heads_and_chunks() {
        let mut out = Vec::new();
        status_line(&mut out, 429);
        header_u64(&mut out, "content-length", 12);
        assert_eq!(out, b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 12\r\n");
        out.clear();
        chunk(&mut out, &[b'x'; 26]);
        assert!(out.starts_with(b"1a\r\nxx"));
        assert!(out.ends_with(b"x\r\n"));
        out.clear();
        chunk(&mut out, b"");
        assert!(out.is_empty());
    }
}
