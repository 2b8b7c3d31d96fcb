//! `--metrics-addr`: live Prometheus metrics at `GET /metrics` while a run goes.
//!
//! A plain std thread polls a non-blocking `TcpListener` (so it stops within
//! [`POLL`] of being asked, closing the listener); each connection is served on its own
//! short-lived thread (at most [`MAX_CONNECTIONS`] at once, more are closed at once), with a
//! [`DEADLINE`] for the whole exchange: garbage, huge or slow requests cost at most that and
//! never touch the run, which only shares its relaxed live counters.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::metrics::live::Live;
use crate::report::live_metrics;
use crate::wire::head::{HeadError, EMPTY_HEADER};
use crate::wire::request::{parse_request, MAX_REQUEST_HEADERS};

/// How often the accept loop looks for connections and for the stop flag.
const POLL: Duration = Duration::from_millis(20);
/// The longest one exchange (reading the request head, writing the answer) may take.
const DEADLINE: Duration = Duration::from_secs(2);
/// How long a closing connection's remaining input is read and discarded.
const DRAIN: Duration = Duration::from_millis(500);
/// The largest request head read.
const HEAD_LIMIT: usize = 8 * 1024;
/// Connections served at once.
const MAX_CONNECTIONS: usize = 8;

/// The running endpoint; stopped (and its listener closed) by [`MetricsServer::stop`] or
/// on drop.
pub(super) struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Binds `addr` (`host:port`); the error names the address.
pub(super) fn bind(addr: &str) -> Result<TcpListener, String> {
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs().map_err(|e| format!("{addr:?}: {e}"))?.collect();
    if addrs.is_empty() {
        return Err(format!("{addr:?}: no address"));
    }
    TcpListener::bind(&addrs[..]).map_err(|e| format!("{addr:?}: cannot listen: {e}"))
}

impl MetricsServer {
    /// Serves `live` on `listener` from a new thread.
    pub(super) fn start(listener: TcpListener, live: Arc<Live>) -> std::io::Result<MetricsServer> {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("llmload-metrics".into())
            .spawn(move || accept_loop(listener, live, flag))?;
        Ok(MetricsServer { addr, stop, thread: Some(thread) })
    }

    pub(super) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and closes the listener (connections being served finish within
    /// [`DEADLINE`] on their own).
    pub(super) fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.shut();
    }
}

/// Decrements the count of connections being served when dropped.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

fn accept_loop(listener: TcpListener, live: Arc<Live>, stop: Arc<AtomicBool>) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                if active.fetch_add(1, Relaxed) >= MAX_CONNECTIONS {
                    active.fetch_sub(1, Relaxed);
                    continue; // closed by the drop
                }
                let slot = Slot(active.clone());
                let live = live.clone();
                // A failed spawn drops the closure: the stream closes, the slot frees.
                let _ = std::thread::Builder::new().name("llmload-metrics-conn".into()).spawn(move || {
                    let _slot = slot;
                    serve(stream, &live);
                });
            }
            // WouldBlock, or a transient error (EMFILE, a connection reset while queued).
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// Reads one request head and answers it, then closes.
fn serve(mut stream: TcpStream, live: &Live) {
    let deadline = Instant::now() + DEADLINE;
    if stream.set_nonblocking(false).is_err() || stream.set_write_timeout(Some(DEADLINE)).is_err() {
        return;
    }
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let mut head_only = false;
    let (status, body) = loop {
        let mut headers = [EMPTY_HEADER; MAX_REQUEST_HEADERS];
        match parse_request(&head, &mut headers) {
            Ok(Some(req)) => {
                head_only = req.method == "HEAD";
                break answer(req.method, req.path, live);
            }
            Ok(None) if head.len() > HEAD_LIMIT => break (431, String::new()),
            Ok(None) => {}
            Err(HeadError::TooLarge { .. } | HeadError::TooManyHeaders { .. }) => break (431, String::new()),
            Err(_) => break (400, "bad request\n".into()),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    };
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Request Header Fields Too Large",
    };
    let content_type = if status == 200 { "text/plain; version=0.0.4" } else { "text/plain; charset=utf-8" };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n{}\r\n",
        body.len(),
        if status == 405 { "Allow: GET, HEAD\r\n" } else { "" }
    );
    if !head_only {
        response.push_str(&body);
    }
    if stream.write_all(response.as_bytes()).is_ok() {
        let _ = stream.flush();
    }
    let _ = stream.shutdown(Shutdown::Write);
    // Read what the client still sends until it closes (briefly): closing with unread
    // input would reset the connection and could discard the answer before it is read.
    let until = Instant::now() + DRAIN;
    let mut drained = 0;
    while drained < HEAD_LIMIT * 8 {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// The status and body for a request.
fn answer(method: &str, target: &str, live: &Live) -> (u16, String) {
    if !target.starts_with('/') {
        return (400, "bad request\n".into());
    }
    let path = target.split('?').next().unwrap_or_default();
    if path != "/metrics" {
        return (404, "not found: the live metrics are at /metrics\n".into());
    }
    if method != "GET" && method != "HEAD" {
        return (405, "method not allowed\n".into());
    }
    (200, live_metrics::render(&live.snapshot()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn serves_metrics_and_survives_garbage_and_slow_clients() {
        let live = Arc::new(Live::new(1));
        live.of_worker(0).latency.record(1500);
        let server = MetricsServer::start(bind("127.0.0.1:0").unwrap(), live).unwrap();
        let addr = server.addr();
        // Slow clients: connected, silent. They must not hold up other scrapes.
        let idle: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let started = Instant::now();
        let ok = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(started.elapsed() < DEADLINE, "a scrape waited for silent clients");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("Content-Type: text/plain; version=0.0.4\r\n"));
        assert!(ok.contains("llmload_live_requests_total{outcome=\"ok\"} 1\n"));
        let bare_lf = exchange(addr, b"GET /metrics HTTP/1.1\nHost: x\n\n");
        assert!(bare_lf.starts_with("HTTP/1.1 200 OK\r\n"), "{bare_lf}");
        let q = exchange(addr, b"GET /metrics?x=1 HTTP/1.0\r\n\r\n");
        assert!(q.starts_with("HTTP/1.1 200 OK\r\n"), "{q}");
        let head = exchange(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"), "{head}");
        assert!(exchange(addr, b"GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
        assert!(exchange(addr, b"POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "));
        assert!(exchange(addr, b"\x00\xff garbage\r\n\r\n").starts_with("HTTP/1.1 400 "));
        assert!(exchange(addr, b"GET /metrics\r\n\r\n").starts_with("HTTP/1.1 400 "));
        let huge = vec![b'a'; HEAD_LIMIT * 2];
        assert!(exchange(addr, &huge).starts_with("HTTP/1.1 431 "));
        // Closed without a request.
        drop(TcpStream::connect(addr).unwrap());
        assert!(exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200 OK\r\n"));
        drop(idle);
        server.stop();
        assert!(TcpStream::connect(addr).is_err(), "the listener is closed");
    }

    #[test]
    fn bad_addresses_are_named() {
        assert!(bind("nonsense").unwrap_err().contains("\"nonsense\""));
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        assert!(bind(&addr).unwrap_err().contains("cannot listen"));
    }
}
