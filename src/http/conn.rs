//! Client connections: TCP connect (optionally from a chosen source address, to go past the
//! ~28k ports per source/destination pair), TCP_NODELAY, and the read buffer that lives as
//! long as the connection.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use monoio::io::{AsyncReadRent, AsyncWriteRent};
use monoio::net::TcpStream;
use monoio_rustls::{ClientTlsStream, TlsConnector, TlsError};
use rustls::pki_types::ServerName;
use socket2::{Domain, Protocol, Socket, Type};

use crate::metrics::ErrorKind;

/// TLS settings of a target: the client config and the name to present (SNI) and verify.
#[derive(Clone)]
pub(crate) struct TlsClient {
    pub config: Arc<rustls::ClientConfig>,
    pub server_name: ServerName<'static>,
}

/// A byte stream a connection runs over: plain TCP, or TLS on top of it. Chosen once per
/// run, so the whole client is monomorphized per transport (no dynamic dispatch per read).
pub(crate) trait Transport: AsyncReadRent + AsyncWriteRent + Sized + 'static {
    /// Turns a connected socket into this transport; returns the handshake time if any.
    fn establish(
        tcp: TcpStream,
        tls: Option<&TlsClient>,
    ) -> impl Future<Output = Result<(Self, Option<u64>), ErrorKind>>;
}

impl Transport for TcpStream {
    async fn establish(tcp: TcpStream, _tls: Option<&TlsClient>) -> Result<(Self, Option<u64>), ErrorKind> {
        Ok((tcp, None))
    }
}

impl Transport for ClientTlsStream<TcpStream> {
    async fn establish(tcp: TcpStream, tls: Option<&TlsClient>) -> Result<(Self, Option<u64>), ErrorKind> {
        let tls = tls.ok_or(ErrorKind::Tls)?;
        let started = Instant::now();
        let connector = TlsConnector::from(tls.config.clone());
        match connector.connect(tls.server_name.clone(), tcp).await {
            Ok(stream) => Ok((stream, Some(started.elapsed().as_micros() as u64))),
            Err(TlsError::Rustls(e)) => Err(ErrorKind::from_tls(&e)),
            Err(TlsError::Io(e)) => Err(ErrorKind::from_tls_io(&e)),
        }
    }
}

/// Initial read buffer per connection; it grows for large responses and is reused.
pub(crate) const READ_BUF: usize = 16 << 10;

/// An open keep-alive connection.
pub(crate) struct Conn<S> {
    pub stream: S,
    /// Bytes read but not yet consumed.
    pub buf: Vec<u8>,
    /// Requests completed on this connection.
    pub served: u64,
}

/// A new connection and how long it took.
pub(crate) struct Connected<S> {
    pub conn: Conn<S>,
    pub connect_us: u64,
    pub tls_us: Option<u64>,
}

/// Connects to `addr`, from `source` when given, and completes the transport's handshake,
/// all within `timeout`.
pub(crate) async fn connect<S: Transport>(
    addr: SocketAddr,
    source: Option<IpAddr>,
    timeout: Duration,
    tls: Option<&TlsClient>,
) -> Result<Connected<S>, ErrorKind> {
    let started = Instant::now();
    let attempt = async {
        match source {
            None => TcpStream::connect_addr(addr).await.map_err(|e| ErrorKind::from_io(&e)),
            Some(ip) => connect_from(addr, ip).await,
        }
    };
    let stream = match monoio::time::timeout(timeout, attempt).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(ErrorKind::TimeoutConnect),
    };
    let _ = stream.set_nodelay(true);
    let connect_us = started.elapsed().as_micros() as u64;
    let left = timeout.saturating_sub(started.elapsed());
    let (stream, tls_us) = match monoio::time::timeout(left, S::establish(stream, tls)).await {
        Ok(r) => r?,
        Err(_) => return Err(ErrorKind::TimeoutConnect),
    };
    Ok(Connected { conn: Conn { stream, buf: Vec::with_capacity(READ_BUF), served: 0 }, connect_us, tls_us })
}

/// Checks, before any load, that `source` can be bound (a probe socket on port 0): an
/// address that is not on this host is refused at start rather than failing every connect.
pub(crate) fn check_source(source: IpAddr) -> Result<(), String> {
    let socket =
        Socket::new(Domain::for_address(SocketAddr::new(source, 0)), Type::STREAM, Some(Protocol::TCP))
            .map_err(|e| format!("--source-ip {source}: {e}"))?;
    match socket.bind(&SocketAddr::new(source, 0).into()) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => {
            Err(format!("--source-ip {source}: not an address of this host ({e})"))
        }
        Err(e) => Err(format!("--source-ip {source}: cannot bind to it ({e})")),
    }
}

/// Bind-before-connect: monoio has no hook for it, so the socket is made with socket2
/// (IP_BIND_ADDRESS_NO_PORT defers the port choice to connect, so each source address gets
/// its own full port range), connected non-blocking, then handed to monoio. A bind error is
/// classified apart from a connect error: the same errno means another cause.
async fn connect_from(addr: SocketAddr, source: IpAddr) -> Result<TcpStream, ErrorKind> {
    let io = |e: io::Error| ErrorKind::from_io(&e);
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(io)?;
    socket.set_nonblocking(true).map_err(io)?;
    if addr.is_ipv4() {
        nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::IpBindAddressNoPort, &true)
            .map_err(|e| io(e.into()))?;
    }
    socket.bind(&SocketAddr::new(source, 0).into()).map_err(|e| ErrorKind::from_bind(&e))?;
    connect_bound(socket, addr).await.map_err(io)
}

/// Connects a bound non-blocking socket and hands it to monoio.
async fn connect_bound(socket: Socket, addr: SocketAddr) -> io::Result<TcpStream> {
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    // A duplicate handle reads SO_ERROR once the socket is writable (monoio exposes no fd
    // borrow); connect is not on the per-request path.
    let probe = socket.try_clone()?;
    let std_stream: std::net::TcpStream = socket.into();
    let stream = TcpStream::from_std(std_stream)?;
    stream.writable(false).await?;
    match probe.take_error()? {
        Some(e) => Err(e),
        None => Ok(stream),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_address_not_on_this_host_is_told_apart_from_port_exhaustion() {
        // 192.0.2.1 is TEST-NET-1 (RFC 5737): never a local address.
        let foreign: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(check_source("127.0.0.1".parse().unwrap()).is_ok());
        let err = check_source(foreign).unwrap_err();
        assert!(err.contains("192.0.2.1: not an address of this host"), "{err}");
        // What a connection from it meets at runtime (the address went away): the bind fails
        // with EADDRNOTAVAIL, which on connect would mean the ports ran out.
        let target: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().unwrap();
        let got = rt.block_on(connect::<TcpStream>(target, Some(foreign), Duration::from_secs(5), None));
        assert_eq!(got.err(), Some(ErrorKind::GenSourceAddr));
        assert_eq!(
            ErrorKind::from_io(&io::Error::from_raw_os_error(libc::EADDRNOTAVAIL)),
            ErrorKind::GenPortExhaustion
        );
    }
}
