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
use monoio_rustls::{ClientTlsStream, TlsConnector};
use rustls::pki_types::ServerName;
use socket2::{Domain, Protocol, Socket, Type};

use crate::metrics::ErrorKind;

/// TLS settings of a target: the client config and the name to present (SNI) and verify.
#[derive(Clone)]
pub struct TlsClient {
    pub config: Arc<rustls::ClientConfig>,
    pub server_name: ServerName<'static>,
}

/// A byte stream a connection runs over: plain TCP, or TLS on top of it. Chosen once per
/// run, so the whole client is monomorphized per transport (no dynamic dispatch per read).
pub trait Transport: AsyncReadRent + AsyncWriteRent + Sized + 'static {
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
            Err(_) => Err(ErrorKind::Tls),
        }
    }
}

/// Initial read buffer per connection; it grows for large responses and is reused.
pub const READ_BUF: usize = 16 << 10;

/// An open keep-alive connection.
pub struct Conn<S> {
    pub stream: S,
    /// Bytes read but not yet consumed.
    pub buf: Vec<u8>,
    /// Requests completed on this connection.
    pub served: u64,
}

/// A new connection and how long it took.
pub struct Connected<S> {
    pub conn: Conn<S>,
    pub connect_us: u64,
    pub tls_us: Option<u64>,
}

/// Connects to `addr`, from `source` when given, and completes the transport's handshake,
/// all within `timeout`.
pub async fn connect<S: Transport>(
    addr: SocketAddr,
    source: Option<IpAddr>,
    timeout: Duration,
    tls: Option<&TlsClient>,
) -> Result<Connected<S>, ErrorKind> {
    let started = Instant::now();
    let attempt = async {
        match source {
            None => TcpStream::connect_addr(addr).await,
            Some(ip) => connect_from(addr, ip).await,
        }
    };
    let stream = match monoio::time::timeout(timeout, attempt).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(ErrorKind::from_io(&e)),
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

/// Bind-before-connect: monoio has no hook for it, so the socket is made with socket2
/// (IP_BIND_ADDRESS_NO_PORT defers the port choice to connect, so each source address gets
/// its own full port range), connected non-blocking, then handed to monoio.
async fn connect_from(addr: SocketAddr, source: IpAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    if addr.is_ipv4() {
        nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::IpBindAddressNoPort, &true)
            .map_err(io::Error::from)?;
    }
    socket.bind(&SocketAddr::new(source, 0).into())?;
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
