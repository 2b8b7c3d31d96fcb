//! One keep-alive HTTP/1.1 connection: read a request (Content-Length or chunked body), route
//! it, send the reply, repeat. Malformed or hostile input is answered with a provider-shaped
//! error and, when the stream can no longer be framed, the connection is closed; nothing a
//! client sends can panic the worker or stall other connections.

use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent};

use super::dispatch;
use super::head::{parse_head, Head};
use super::idle::Watch;
use super::kit::{write_all, Reply};
use super::pacing;
use super::routes::Route;
use super::Core;
use crate::wire::api_error::{write_error_body, Family};
use crate::wire::body::BodyDecoder;
use crate::wire::chunked::Step;
use crate::wire::encode;
use crate::wire::head::{Framing, HeadError, EMPTY_HEADER};
use crate::wire::request::{parse_request, MAX_REQUEST_HEADERS};

/// Read buffer growth step.
const READ_CHUNK: usize = 16 << 10;

/// Buffers owned by one connection and reused for every request on it.
pub(crate) struct Buffers {
    pub read: Vec<u8>,
    pub write: Vec<u8>,
    /// The decoded body of a chunked request.
    pub body: Vec<u8>,
    /// A reply body under construction.
    pub out: Vec<u8>,
}

/// Why reading a request stopped.
enum ReadEnd {
    /// The peer closed (or idled out) between requests: close quietly.
    Closed,
    /// The request cannot be served: answer `status` with `message`, then close.
    Reject(u16, String, Family),
}

/// Serves one connection until it closes.
/// `fd` is the connection's socket (under TLS too), for the idle watch.
pub(crate) async fn serve_connection<S: AsyncReadRent + AsyncWriteRent>(
    mut stream: S,
    fd: RawFd,
    core: Rc<Core>,
) {
    let watch = core.idle.watch(fd);
    let mut bufs = Buffers {
        read: Vec::with_capacity(READ_CHUNK),
        write: Vec::with_capacity(READ_CHUNK),
        body: Vec::new(),
        out: Vec::with_capacity(1024),
    };
    loop {
        let (head, body_range, consumed) = match read_request(&mut stream, &mut bufs, &core, &watch).await {
            Ok(r) => r,
            Err(ReadEnd::Closed) => return,
            Err(ReadEnd::Reject(status, message, family)) => {
                let request_id = core.request_id();
                bufs.out.clear();
                write_error_body(&mut bufs.out, family, status, &message, None, request_id.as_str());
                write_full(&mut bufs, status, "application/json", family, request_id.as_str(), false, &[]);
                core.counters().request_done(Route::NotFound, status);
                let _ = write_all(&mut stream, &mut bufs.write).await;
                return;
            }
        };
        let start = Instant::now();
        let counters = core.counters();
        counters.in_flight(1);
        let request_id = core.request_id();
        let body: &[u8] = match body_range {
            Some((a, b)) => &bufs.read[a..b],
            None => &bufs.body,
        };
        bufs.out.clear();
        // A known capacity: POST requests beyond `max_concurrency` are refused at once.
        let limited = core.settings.max_concurrency.filter(|_| !head.route.is_get());
        let admitted = limited.is_some_and(|max| core.metrics.try_admit(max));
        let reply = if limited.is_some() && !admitted {
            dispatch::over_capacity(&core, &head, request_id.as_str(), &mut bufs.out)
        } else {
            dispatch::handle(&core, &head, body, request_id.as_str(), &mut bufs.out)
        };
        bufs.read.drain(..consumed);
        let keep_alive = head.keep_alive;
        let result = match reply {
            Reply::Full { status, content_type, delay, retry_after, limit_headers, drop, allow, batch } => {
                counters.request_done(head.route, status);
                if let Some(ticket) = &batch {
                    // Sent once the batch has produced it (its slot is freed when sent).
                    let at = ticket.wait(ticket.until).await;
                    crate::net::timer::sleep_until(at + delay).await;
                } else if !delay.is_zero() {
                    crate::net::timer::sleep_until(start + delay).await;
                }
                std::mem::drop(batch);
                if drop {
                    counters.in_flight(-1);
                    if admitted {
                        core.metrics.release();
                    }
                    return;
                }
                let mut extra: [(&str, &[u8]); 2] = [("", b""); 2];
                let mut n = 0;
                if retry_after && limit_headers.is_none() {
                    extra[n] = ("retry-after", b"1");
                    n += 1;
                }
                if let Some(methods) = allow {
                    extra[n] = ("allow", methods.as_bytes());
                    n += 1;
                }
                // A rate-limit refusal's own headers (a cold path: the one allocation here).
                let limited: Vec<(&str, &[u8])>;
                let extra = match &limit_headers {
                    Some(h) => {
                        limited = h.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
                        &limited[..]
                    }
                    None => &extra[..n],
                };
                write_full(
                    &mut bufs,
                    status,
                    content_type,
                    head.family,
                    request_id.as_str(),
                    keep_alive,
                    extra,
                );
                let r = write_all(&mut stream, &mut bufs.write).await.map(|_| keep_alive);
                if r.is_err() {
                    counters.disconnect(0, start.elapsed());
                }
                r
            }
            Reply::Stream(job) => {
                counters.request_done(head.route, 200);
                counters.streams(1);
                let r = pacing::send_stream(
                    &mut stream,
                    &mut bufs.write,
                    &core,
                    *job,
                    start,
                    request_id.as_str(),
                    keep_alive,
                )
                .await;
                counters.streams(-1);
                r
            }
        };
        counters.in_flight(-1);
        if admitted {
            core.metrics.release();
        }
        match result {
            Ok(true) => continue,
            _ => return,
        }
    }
}

/// Writes a complete response (head + `bufs.out` as the body) into `bufs.write`.
fn write_full(
    bufs: &mut Buffers,
    status: u16,
    content_type: &str,
    family: Family,
    request_id: &str,
    keep_alive: bool,
    extra: &[(&str, &[u8])],
) {
    let w = &mut bufs.write;
    w.clear();
    encode::status_line(w, status);
    encode::header(w, "content-type", content_type.as_bytes());
    encode::header_u64(w, "content-length", bufs.out.len() as u64);
    encode::header(w, family.request_id_header(), request_id.as_bytes());
    for (name, value) in extra {
        encode::header(w, name, value);
    }
    if !keep_alive {
        encode::header(w, "connection", b"close");
    }
    w.extend_from_slice(b"\r\n");
    w.extend_from_slice(&bufs.out);
}

/// Reads more bytes into `buf`, growing it when full, within `limit` if given. Ok(0) means EOF.
async fn fill<S: AsyncReadRent>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    limit: Option<Duration>,
) -> io::Result<usize> {
    if buf.capacity() - buf.len() < READ_CHUNK / 2 {
        buf.reserve(READ_CHUNK);
    }
    let owned = std::mem::take(buf);
    let len = owned.len();
    let Some(limit) = limit else {
        let (res, slice) = stream.read(owned.slice_mut(len..)).await;
        *buf = slice.into_inner();
        return res;
    };
    match monoio::time::timeout(limit, stream.read(owned.slice_mut(len..))).await {
        Ok((res, slice)) => {
            *buf = slice.into_inner();
            res
        }
        // The buffer went with the cancelled read; the connection closes anyway.
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "read timed out")),
    }
}

type Request = (Head, Option<(usize, usize)>, usize);

/// Reads one request. Returns the head, where the body is (a range of `bufs.read`, or
/// `None` when it was decoded into `bufs.body`), and how many bytes of `bufs.read` it used.
async fn read_request<S: AsyncReadRent>(
    stream: &mut S,
    bufs: &mut Buffers,
    core: &Core,
    watch: &Watch,
) -> Result<Request, ReadEnd> {
    let settings = &core.settings;
    let (head, head_len, framing) = read_head(stream, bufs, core, watch).await?;
    let family = head.family;
    let max = settings.max_body_bytes;
    let too_large = || ReadEnd::Reject(413, format!("request body exceeds {max} bytes"), family);
    if matches!(framing, Framing::Length(len) if len > max as u64) {
        return Err(too_large());
    }
    // A length-delimited body stays where it was read; a chunked one is decoded into `bufs.body`.
    let chunked = framing == Framing::Chunked;
    bufs.body.clear();
    let mut body = BodyDecoder::new(framing);
    let mut size = 0;
    let mut pos = head_len;
    // Read only when the body is not all there yet (one clock read fewer per request).
    let mut deadline = None;
    loop {
        let (used, step) = body
            .step(&bufs.read[pos..])
            .map_err(|e| ReadEnd::Reject(400, format!("chunked request body: {e}"), family))?;
        pos += used;
        match step {
            Step::Data(data) => {
                size += data.len();
                if size > max {
                    return Err(too_large());
                }
                if chunked {
                    bufs.body.extend_from_slice(data);
                }
                continue;
            }
            Step::Done => return Ok((head, (!chunked).then_some((head_len, pos)), pos)),
            Step::NeedMore => {}
        }
        if let BodyDecoder::Length(due) = body {
            // The whole rest of the body in one allocation (it is below `max`).
            bufs.read.reserve(due as usize);
        }
        let deadline = *deadline.get_or_insert_with(|| Instant::now() + settings.body_timeout);
        match fill(stream, &mut bufs.read, Some(deadline.saturating_duration_since(Instant::now()))).await {
            Ok(0) => return Err(ReadEnd::Closed),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Err(ReadEnd::Reject(408, "timed out reading the request body".into(), family))
            }
            Err(_) => return Err(ReadEnd::Closed),
        }
    }
}

/// Reads until the request head is complete; returns it, its length and the body's framing.
async fn read_head<S: AsyncReadRent>(
    stream: &mut S,
    bufs: &mut Buffers,
    core: &Core,
    watch: &Watch,
) -> Result<(Head, usize, Framing), ReadEnd> {
    let settings = &core.settings;
    let mut head_started: Option<Instant> = None;
    loop {
        if !bufs.read.is_empty() {
            let mut headers = [EMPTY_HEADER; MAX_REQUEST_HEADERS];
            match parse_request(&bufs.read, &mut headers) {
                Ok(Some(req)) => return Ok((parse_head(&req, core), req.len, req.framing)),
                // The header timeout runs from the first partial head (a head that arrives
                // whole never reads the clock here).
                Ok(None) => {
                    head_started.get_or_insert_with(Instant::now);
                }
                Err(e) => return Err(rejected(e)),
            }
        }
        let read = match head_started {
            // Between requests: the idle watch, not a timer, ends a long wait.
            None => {
                core.idle.waiting(watch);
                let read = fill(stream, &mut bufs.read, None).await;
                watch.busy();
                read
            }
            Some(t) => {
                fill(stream, &mut bufs.read, Some(settings.header_timeout.saturating_sub(t.elapsed()))).await
            }
        };
        match read {
            Ok(0) | Err(_) if head_started.is_none() && bufs.read.is_empty() => return Err(ReadEnd::Closed),
            Ok(0) => return Err(ReadEnd::Closed),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Err(ReadEnd::Reject(408, "timed out reading the request head".into(), Family::OpenAi))
            }
            Err(_) => return Err(ReadEnd::Closed),
            Ok(_) => {}
        }
    }
}

/// The answer to a head that cannot be parsed (before its route is known, so OpenAI-shaped).
fn rejected(e: HeadError) -> ReadEnd {
    let (status, message) = match e {
        HeadError::TooLarge { .. } => (431, format!("request {e}")),
        HeadError::TooManyHeaders { .. } => (431, e.to_string()),
        HeadError::Framing(f) => (400, format!("cannot frame the request body: {f}")),
        _ => (400, format!("malformed HTTP request: {e}")),
    };
    ReadEnd::Reject(status, message, Family::OpenAi)
}
