//! Error classes. Transport and parse failures are classified by errno or parser state,
//! never by message text; HTTP statuses are counted separately by code.

use std::io;

/// Why a request failed (a non-200 status is not an error class; it is counted by code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// EADDRNOTAVAIL: the generator ran out of local ports.
    GenPortExhaustion,
    /// EMFILE / ENFILE: the generator ran out of file descriptors.
    GenFdExhaustion,
    /// ECONNREFUSED.
    ConnRefused,
    /// ECONNRESET / EPIPE / ECONNABORTED.
    ConnReset,
    /// The TCP connect did not finish in time.
    TimeoutConnect,
    /// No response byte arrived in time.
    TimeoutFirstByte,
    /// The response stalled between bytes for too long.
    TimeoutIdle,
    /// The whole request took too long.
    TimeoutTotal,
    /// TLS handshake or record failure.
    Tls,
    /// The host name did not resolve.
    Dns,
    /// The server closed the connection before the response was complete.
    Eof,
    /// Malformed status line, headers or body framing.
    HttpParse,
    /// Malformed event stream.
    SseParse,
    /// A response that does not match the protocol (missing fields, bad event order, non-JSON).
    ProtocolError,
    /// An error event inside a 200 stream.
    StreamError,
    /// HTTP 200 with no content and no tokens.
    EmptyCompletion,
    /// In flight when the stage's grace period ended; not the server's fault.
    Cancelled,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// Every class, in report order.
    pub const ALL: [ErrorKind; 18] = [
        ErrorKind::GenPortExhaustion,
        ErrorKind::GenFdExhaustion,
        ErrorKind::ConnRefused,
        ErrorKind::ConnReset,
        ErrorKind::TimeoutConnect,
        ErrorKind::TimeoutFirstByte,
        ErrorKind::TimeoutIdle,
        ErrorKind::TimeoutTotal,
        ErrorKind::Tls,
        ErrorKind::Dns,
        ErrorKind::Eof,
        ErrorKind::HttpParse,
        ErrorKind::SseParse,
        ErrorKind::ProtocolError,
        ErrorKind::StreamError,
        ErrorKind::EmptyCompletion,
        ErrorKind::Cancelled,
        ErrorKind::Other,
    ];

    /// Number of classes (for counter arrays).
    pub const COUNT: usize = Self::ALL.len();

    /// Index into counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The stable name used in every report.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::GenPortExhaustion => "gen_port_exhaustion",
            ErrorKind::GenFdExhaustion => "gen_fd_exhaustion",
            ErrorKind::ConnRefused => "conn_refused",
            ErrorKind::ConnReset => "conn_reset",
            ErrorKind::TimeoutConnect => "timeout_connect",
            ErrorKind::TimeoutFirstByte => "timeout_first_byte",
            ErrorKind::TimeoutIdle => "timeout_idle",
            ErrorKind::TimeoutTotal => "timeout_total",
            ErrorKind::Tls => "tls",
            ErrorKind::Dns => "dns",
            ErrorKind::Eof => "eof",
            ErrorKind::HttpParse => "http_parse",
            ErrorKind::SseParse => "sse_parse",
            ErrorKind::ProtocolError => "protocol_error",
            ErrorKind::StreamError => "stream_error",
            ErrorKind::EmptyCompletion => "empty_completion",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Other => "other",
        }
    }

    /// Looks a class up by its name.
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// True for classes that describe the generator, not the server.
    pub fn is_generator_fault(self) -> bool {
        matches!(self, ErrorKind::GenPortExhaustion | ErrorKind::GenFdExhaustion | ErrorKind::Cancelled)
    }

    /// True for failures before the request reached the server (nothing was sent): the
    /// target refused or could not be reached, or the generator had no port or fd for it.
    pub fn is_unreached(self) -> bool {
        matches!(
            self,
            ErrorKind::ConnRefused
                | ErrorKind::TimeoutConnect
                | ErrorKind::Tls
                | ErrorKind::Dns
                | ErrorKind::GenPortExhaustion
                | ErrorKind::GenFdExhaustion
        )
    }

    /// Classifies an I/O error by errno.
    pub fn from_io(e: &io::Error) -> ErrorKind {
        match e.raw_os_error() {
            Some(libc::EADDRNOTAVAIL) => ErrorKind::GenPortExhaustion,
            Some(libc::EMFILE) | Some(libc::ENFILE) => ErrorKind::GenFdExhaustion,
            Some(libc::ECONNREFUSED) => ErrorKind::ConnRefused,
            Some(libc::ECONNRESET) | Some(libc::EPIPE) | Some(libc::ECONNABORTED) => ErrorKind::ConnReset,
            Some(libc::ETIMEDOUT) => ErrorKind::TimeoutConnect,
            _ => match e.kind() {
                io::ErrorKind::UnexpectedEof => ErrorKind::Eof,
                io::ErrorKind::ConnectionRefused => ErrorKind::ConnRefused,
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => ErrorKind::ConnReset,
                io::ErrorKind::TimedOut => ErrorKind::TimeoutIdle,
                _ => ErrorKind::Other,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_classification() {
        let e = |n| io::Error::from_raw_os_error(n);
        assert_eq!(ErrorKind::from_io(&e(libc::EADDRNOTAVAIL)), ErrorKind::GenPortExhaustion);
        assert_eq!(ErrorKind::from_io(&e(libc::EMFILE)), ErrorKind::GenFdExhaustion);
        assert_eq!(ErrorKind::from_io(&e(libc::ENFILE)), ErrorKind::GenFdExhaustion);
        assert_eq!(ErrorKind::from_io(&e(libc::ECONNREFUSED)), ErrorKind::ConnRefused);
        assert_eq!(ErrorKind::from_io(&e(libc::ECONNRESET)), ErrorKind::ConnReset);
        assert_eq!(ErrorKind::from_io(&e(libc::EPIPE)), ErrorKind::ConnReset);
    }

    #[test]
    fn names_round_trip() {
        for k in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_name(k.name()), Some(k));
            assert_eq!(ErrorKind::ALL[k.index()], k);
        }
        assert!(ErrorKind::GenFdExhaustion.is_generator_fault());
        assert!(!ErrorKind::ConnReset.is_generator_fault());
    }
}
