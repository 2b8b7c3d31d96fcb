//! Error classes. Transport and parse failures are classified by errno, parser state or the
//! rustls error value, never by message text; HTTP statuses are counted separately by code.

use std::io;

use rustls::CertificateError;

/// Why a request failed (a non-200 status is not an error class; it is counted by code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// EADDRNOTAVAIL on connect: the generator ran out of local ports.
    GenPortExhaustion,
    /// Binding a `--source-ip` address failed: it is not (or no longer) on this host, or not
    /// of the target's address family.
    GenSourceAddr,
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
    /// TLS: the server's certificate is not signed by a CA llmload trusts.
    TlsUnknownIssuer,
    /// TLS: the certificate is outside its validity period (expired, or not yet valid).
    TlsCertExpired,
    /// TLS: the certificate is not valid for the target's host name.
    TlsNameMismatch,
    /// TLS: the certificate is unusable for another reason (bad signature or encoding,
    /// revoked, wrong purpose, none presented).
    TlsCertInvalid,
    /// TLS: any other handshake or record failure (no common protocol version or cipher, an
    /// alert from the server, the peer closed during the handshake).
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
    /// Abandoned on purpose by a scenario's `cancel` (as users cancel); neither a success nor
    /// an error, and outside the success and goodput shares.
    CancelledByClient,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// Every class, in report order.
    pub const ALL: [ErrorKind; 24] = [
        ErrorKind::GenPortExhaustion,
        ErrorKind::GenSourceAddr,
        ErrorKind::GenFdExhaustion,
        ErrorKind::ConnRefused,
        ErrorKind::ConnReset,
        ErrorKind::TimeoutConnect,
        ErrorKind::TimeoutFirstByte,
        ErrorKind::TimeoutIdle,
        ErrorKind::TimeoutTotal,
        ErrorKind::TlsUnknownIssuer,
        ErrorKind::TlsCertExpired,
        ErrorKind::TlsNameMismatch,
        ErrorKind::TlsCertInvalid,
        ErrorKind::Tls,
        ErrorKind::Dns,
        ErrorKind::Eof,
        ErrorKind::HttpParse,
        ErrorKind::SseParse,
        ErrorKind::ProtocolError,
        ErrorKind::StreamError,
        ErrorKind::EmptyCompletion,
        ErrorKind::Cancelled,
        ErrorKind::CancelledByClient,
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
            ErrorKind::GenSourceAddr => "gen_source_addr",
            ErrorKind::GenFdExhaustion => "gen_fd_exhaustion",
            ErrorKind::ConnRefused => "conn_refused",
            ErrorKind::ConnReset => "conn_reset",
            ErrorKind::TimeoutConnect => "timeout_connect",
            ErrorKind::TimeoutFirstByte => "timeout_first_byte",
            ErrorKind::TimeoutIdle => "timeout_idle",
            ErrorKind::TimeoutTotal => "timeout_total",
            ErrorKind::TlsUnknownIssuer => "tls_unknown_issuer",
            ErrorKind::TlsCertExpired => "tls_cert_expired",
            ErrorKind::TlsNameMismatch => "tls_name_mismatch",
            ErrorKind::TlsCertInvalid => "tls_cert_invalid",
            ErrorKind::Tls => "tls",
            ErrorKind::Dns => "dns",
            ErrorKind::Eof => "eof",
            ErrorKind::HttpParse => "http_parse",
            ErrorKind::SseParse => "sse_parse",
            ErrorKind::ProtocolError => "protocol_error",
            ErrorKind::StreamError => "stream_error",
            ErrorKind::EmptyCompletion => "empty_completion",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::CancelledByClient => "cancelled_by_client",
            ErrorKind::Other => "other",
        }
    }

    /// Looks a class up by its name.
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// True for classes that describe the generator, not the server.
    pub fn is_generator_fault(self) -> bool {
        matches!(
            self,
            ErrorKind::GenPortExhaustion
                | ErrorKind::GenSourceAddr
                | ErrorKind::GenFdExhaustion
                | ErrorKind::Cancelled
        )
    }

    /// True for requests that did not finish: cancelled at a stage's end or by the client.
    pub fn is_cancel(self) -> bool {
        matches!(self, ErrorKind::Cancelled | ErrorKind::CancelledByClient)
    }

    /// True for the TLS classes (the handshake failed, whatever the reason).
    pub fn is_tls(self) -> bool {
        matches!(
            self,
            ErrorKind::TlsUnknownIssuer
                | ErrorKind::TlsCertExpired
                | ErrorKind::TlsNameMismatch
                | ErrorKind::TlsCertInvalid
                | ErrorKind::Tls
        )
    }

    /// What to do about a class, for the reports (None where the class says it all).
    pub fn hint(self) -> Option<&'static str> {
        Some(match self {
            ErrorKind::GenPortExhaustion => {
                "the generator ran out of local ports: add --source-ip addresses (or widen \
                 net.ipv4.ip_local_port_range)"
            }
            ErrorKind::GenSourceAddr => {
                "a --source-ip address could not be bound: it is not (or no longer) an address of \
                 this host, or not of the target's address family"
            }
            ErrorKind::GenFdExhaustion => {
                "the generator ran out of file descriptors: raise the limit (ulimit -n) or lower the load"
            }
            ErrorKind::TlsUnknownIssuer => {
                "the server's certificate is not signed by a CA llmload trusts: pass --cacert FILE \
                 with the issuing CA (or --insecure to skip verification)"
            }
            ErrorKind::TlsCertExpired => {
                "the server's certificate is expired or not yet valid: renew it, or check this \
                 host's clock"
            }
            ErrorKind::TlsNameMismatch => {
                "the server's certificate is not valid for the target's host name: use a host name \
                 the certificate names (see its subject alternative names)"
            }
            ErrorKind::TlsCertInvalid => {
                "the server's certificate was rejected (bad signature or encoding, revoked, wrong \
                 purpose, or none presented)"
            }
            ErrorKind::Tls => {
                "the TLS handshake failed (no common protocol version or cipher, an alert from the \
                 server, or the peer closed): check that the target speaks TLS on that port"
            }
            _ => return None,
        })
    }

    /// True for failures before the request reached the server (nothing was sent): the
    /// target refused or could not be reached, or the generator had no port or fd for it.
    pub fn is_unreached(self) -> bool {
        self.is_tls()
            || matches!(
                self,
                ErrorKind::ConnRefused
                    | ErrorKind::TimeoutConnect
                    | ErrorKind::Dns
                    | ErrorKind::GenPortExhaustion
                    | ErrorKind::GenSourceAddr
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

    /// Classifies a failed bind of a source address: EADDRNOTAVAIL there means the address is
    /// not on this host (on connect it means the ports ran out), EINVAL / EAFNOSUPPORT an
    /// address of the wrong family; EADDRINUSE is the port range exhausted.
    pub fn from_bind(e: &io::Error) -> ErrorKind {
        match e.raw_os_error() {
            Some(libc::EADDRNOTAVAIL) | Some(libc::EINVAL) | Some(libc::EAFNOSUPPORT) => {
                ErrorKind::GenSourceAddr
            }
            Some(libc::EADDRINUSE) => ErrorKind::GenPortExhaustion,
            _ => Self::from_io(e),
        }
    }

    /// Classifies a failed TLS handshake by the rustls error it carries: monoio-rustls hands
    /// it back inside an `io::Error` (`get_ref`); anything else (the peer closed or reset
    /// during the handshake) is `tls`.
    pub fn from_tls_io(e: &io::Error) -> ErrorKind {
        match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
            Some(tls) => Self::from_tls(tls),
            None => ErrorKind::Tls,
        }
    }

    /// Classifies a rustls error.
    pub fn from_tls(e: &rustls::Error) -> ErrorKind {
        let rustls::Error::InvalidCertificate(cert) = e else {
            return match e {
                rustls::Error::NoCertificatesPresented => ErrorKind::TlsCertInvalid,
                _ => ErrorKind::Tls,
            };
        };
        match cert {
            CertificateError::UnknownIssuer => ErrorKind::TlsUnknownIssuer,
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => ErrorKind::TlsCertExpired,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                ErrorKind::TlsNameMismatch
            }
            _ => ErrorKind::TlsCertInvalid,
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
        // The same errno names a different cause on bind (the source address) and on connect
        // (the ports).
        assert_eq!(ErrorKind::from_bind(&e(libc::EADDRNOTAVAIL)), ErrorKind::GenSourceAddr);
        assert_eq!(ErrorKind::from_bind(&e(libc::EINVAL)), ErrorKind::GenSourceAddr);
        assert_eq!(ErrorKind::from_bind(&e(libc::EADDRINUSE)), ErrorKind::GenPortExhaustion);
        assert_eq!(ErrorKind::from_bind(&e(libc::EMFILE)), ErrorKind::GenFdExhaustion);
    }

    #[test]
    fn tls_classification() {
        use rustls::{AlertDescription, CertificateError as C, Error};
        let cert = |c| ErrorKind::from_tls(&Error::InvalidCertificate(c));
        assert_eq!(cert(C::UnknownIssuer), ErrorKind::TlsUnknownIssuer);
        assert_eq!(cert(C::Expired), ErrorKind::TlsCertExpired);
        assert_eq!(cert(C::NotValidYet), ErrorKind::TlsCertExpired);
        assert_eq!(cert(C::NotValidForName), ErrorKind::TlsNameMismatch);
        assert_eq!(cert(C::BadSignature), ErrorKind::TlsCertInvalid);
        assert_eq!(cert(C::Revoked), ErrorKind::TlsCertInvalid);
        assert_eq!(ErrorKind::from_tls(&Error::NoCertificatesPresented), ErrorKind::TlsCertInvalid);
        let alert = Error::AlertReceived(AlertDescription::ProtocolVersion);
        assert_eq!(ErrorKind::from_tls(&alert), ErrorKind::Tls);
        // As monoio-rustls returns them: the rustls error inside an io::Error.
        let wrapped = io::Error::new(io::ErrorKind::InvalidData, Error::InvalidCertificate(C::UnknownIssuer));
        assert_eq!(ErrorKind::from_tls_io(&wrapped), ErrorKind::TlsUnknownIssuer);
        let closed = io::Error::new(io::ErrorKind::UnexpectedEof, "tls handshake eof");
        assert_eq!(ErrorKind::from_tls_io(&closed), ErrorKind::Tls);
        assert_eq!(ErrorKind::from_tls_io(&io::Error::from_raw_os_error(libc::ECONNRESET)), ErrorKind::Tls);
    }

    #[test]
    fn tls_and_generator_classes_have_hints() {
        for k in ErrorKind::ALL {
            assert_eq!(k.is_tls(), k.name().starts_with("tls"), "{}", k.name());
            if k.is_tls() || k.name().starts_with("gen_") {
                assert!(k.hint().is_some(), "{} has no hint", k.name());
            }
        }
        assert!(ErrorKind::TlsUnknownIssuer.hint().unwrap().contains("--cacert"));
        assert!(ErrorKind::GenSourceAddr.is_generator_fault());
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
