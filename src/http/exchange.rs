//! One timed request/response on a keep-alive connection.
//!
//! The request goes out in one write. The response head is parsed with httparse; the body is
//! de-chunked by `wire::chunked` and, for event streams, scanned by `wire::sse`; every event
//! is stamped with the instant its bytes were read, so TTFT and inter-token gaps are the
//! arrival times the client saw. Any server behaviour ends in an outcome with an error class:
//! nothing here panics, leaks the connection (a failed connection is dropped) or waits
//! without a deadline.

use std::time::{Duration, Instant};

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};

use super::conn::{Conn, READ_BUF};
use crate::metrics::outcome::{us_between, Outcome, TokenSource};
use crate::metrics::ErrorKind;
use crate::protocol::{Decoder, Seen};
use crate::wire::chunked::{ChunkedDecoder, Step};
use crate::wire::head::{connection_has, response_framing, ResponseFraming};
use crate::wire::sse::SseScanner;

/// Largest response head accepted.
const MAX_HEAD: usize = 64 << 10;
/// Largest non-streaming body kept for decoding.
const MAX_BODY: usize = 64 << 20;
/// Headers per response.
const MAX_HEADERS: usize = 64;
/// Bytes of an error body kept when capture is on.
pub const ERR_BODY_BYTES: usize = 512;

/// Time limits of one request.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub connect: Duration,
    pub first_byte: Duration,
    pub idle: Duration,
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(120),
            idle: Duration::from_secs(60),
            total: Duration::from_secs(600),
        }
    }
}

/// Reusable per-user state for reading responses (no allocation per request once warm).
#[derive(Default)]
pub struct ResponseState {
    chunked: ChunkedDecoder,
    sse: SseScanner,
    /// De-chunked body bytes not yet consumed.
    payload: Vec<u8>,
    /// Inter-token gaps of the current response, µs.
    pub gaps: Vec<u64>,
    /// Content text of the current response, when the workload keeps replies.
    pub reply: Option<String>,
    /// The first bytes of a failed response's body, when capture is on.
    pub err_body: Option<Vec<u8>>,
    /// Keep the first bytes of failed responses.
    pub capture_errors: bool,
}

impl ResponseState {
    /// A new state; `capture_errors` keeps the first bytes of failed responses.
    pub fn new(capture_errors: bool) -> ResponseState {
        ResponseState { capture_errors, ..ResponseState::default() }
    }
}

/// How an exchange left its connection.
pub struct Exchanged {
    /// The request buffer, handed back for reuse.
    pub request: Vec<u8>,
    /// The connection may carry another request.
    pub reusable: bool,
    /// A reused connection failed before any response byte: the server had closed it while
    /// idle; the request may be retried once on a new connection without counting an error.
    pub stale: bool,
}

/// Where the reading deadline comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    FirstByte,
    Idle,
}

struct Deadlines {
    total: Instant,
    cancel: Instant,
    t: Timeouts,
}

impl Deadlines {
    /// Reads more bytes into `conn.buf`; returns how many and when they arrived.
    async fn read<S: AsyncReadRent>(
        &self,
        conn: &mut Conn<S>,
        phase: Phase,
    ) -> Result<(usize, Instant), ErrorKind> {
        let now = Instant::now();
        let phase_limit = now + if phase == Phase::FirstByte { self.t.first_byte } else { self.t.idle };
        let (deadline, kind) = [
            (
                phase_limit,
                if phase == Phase::FirstByte { ErrorKind::TimeoutFirstByte } else { ErrorKind::TimeoutIdle },
            ),
            (self.total, ErrorKind::TimeoutTotal),
            (self.cancel, ErrorKind::Cancelled),
        ]
        .into_iter()
        .min_by_key(|(d, _)| *d)
        .expect("three deadlines");
        if deadline <= now {
            return Err(kind);
        }
        if conn.buf.capacity() - conn.buf.len() < READ_BUF / 4 {
            conn.buf.reserve(READ_BUF);
        }
        let buf = std::mem::take(&mut conn.buf);
        let len = buf.len();
        match monoio::time::timeout(deadline - now, conn.stream.read(buf.slice_mut(len..))).await {
            Ok((res, slice)) => {
                conn.buf = slice.into_inner();
                match res {
                    Ok(0) => Err(ErrorKind::Eof),
                    Ok(n) => Ok((n, Instant::now())),
                    Err(e) => Err(ErrorKind::from_io(&e)),
                }
            }
            // The read (and its buffer) is cancelled; the connection is dropped by the caller.
            Err(_) => Err(kind),
        }
    }
}

/// Sends `request` on `conn` and reads the whole response into `out`.
pub async fn exchange<S: AsyncReadRent + AsyncWriteRent>(
    conn: &mut Conn<S>,
    request: Vec<u8>,
    decoder: &mut dyn Decoder,
    state: &mut ResponseState,
    out: &mut Outcome,
    timeouts: &Timeouts,
    cancel_at: Instant,
) -> Exchanged {
    decoder.reset();
    state.gaps.clear();
    state.payload.clear();
    state.err_body = None;
    if let Some(r) = state.reply.as_mut() {
        r.clear();
    }
    out.sent = Instant::now();
    let reused = conn.served > 0;
    let (res, request) = conn.stream.write_all(request).await;
    if let Err(e) = res {
        out.end = Instant::now();
        out.error = Some(ErrorKind::from_io(&e));
        let stale = reused && matches!(out.error, Some(ErrorKind::ConnReset | ErrorKind::Eof));
        return Exchanged { request, reusable: false, stale };
    }
    out.bytes_out = request.len() as u64;
    let deadlines = Deadlines { total: out.sent + timeouts.total, cancel: cancel_at, t: *timeouts };
    let result = read_response(conn, decoder, state, out, &deadlines).await;
    out.end = Instant::now();
    match result {
        Ok(keep_alive) => {
            conn.served += 1;
            Exchanged { request, reusable: keep_alive, stale: false }
        }
        Err(kind) => {
            let stale =
                reused && out.first_byte.is_none() && matches!(kind, ErrorKind::ConnReset | ErrorKind::Eof);
            out.error = Some(kind);
            Exchanged { request, reusable: false, stale }
        }
    }
}

/// Reads the head and body. Ok(keep_alive) when the response was complete.
async fn read_response<S: AsyncReadRent>(
    conn: &mut Conn<S>,
    decoder: &mut dyn Decoder,
    state: &mut ResponseState,
    out: &mut Outcome,
    deadlines: &Deadlines,
) -> Result<bool, ErrorKind> {
    // Head (skipping interim 1xx responses).
    let (head_len, framing, is_sse, mut keep_alive) = loop {
        if !conn.buf.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&conn.buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let status = resp.code.unwrap_or(0);
                    if (100..200).contains(&status) && status != 101 {
                        conn.buf.drain(..n);
                        continue;
                    }
                    out.status = status;
                    let framing = response_framing(status, resp.headers).map_err(|_| ErrorKind::HttpParse)?;
                    let mut is_sse = false;
                    let mut keep_alive = resp.version == Some(1);
                    for h in resp.headers.iter() {
                        if h.name.eq_ignore_ascii_case("content-type") {
                            is_sse = h.value.len() >= 17
                                && h.value[..17].eq_ignore_ascii_case(b"text/event-stream");
                        } else if h.name.eq_ignore_ascii_case("connection") {
                            if connection_has(h.value, b"close") {
                                keep_alive = false;
                            } else if connection_has(h.value, b"keep-alive") {
                                keep_alive = true;
                            }
                        }
                    }
                    break (n, framing, is_sse, keep_alive);
                }
                Ok(httparse::Status::Partial) if conn.buf.len() > MAX_HEAD => {
                    return Err(ErrorKind::HttpParse)
                }
                Ok(httparse::Status::Partial) => {}
                Err(_) => return Err(ErrorKind::HttpParse),
            }
        }
        let phase = if out.first_byte.is_none() { Phase::FirstByte } else { Phase::Idle };
        let (n, at) = deadlines.read(conn, phase).await?;
        out.bytes_in += n as u64;
        out.first_byte.get_or_insert(at);
    };
    let ok_status = out.status == 200;
    let stream_events = is_sse && ok_status;
    let mut at = out.first_byte.unwrap_or_else(Instant::now);
    let mut pos = head_len;
    let mut stream_err = None;
    let mut remaining = match framing {
        ResponseFraming::Length(n) => n,
        _ => u64::MAX,
    };
    if framing == ResponseFraming::Chunked {
        state.chunked.reset();
    }
    if stream_events {
        state.sse.reset();
    }
    loop {
        // Move what has arrived into the payload.
        let done = match framing {
            ResponseFraming::Empty => true,
            ResponseFraming::Length(_) => {
                let take = (conn.buf.len() - pos).min(remaining as usize);
                state.payload.extend_from_slice(&conn.buf[pos..pos + take]);
                pos += take;
                remaining -= take as u64;
                remaining == 0
            }
            ResponseFraming::UntilClose => {
                state.payload.extend_from_slice(&conn.buf[pos..]);
                pos = conn.buf.len();
                false
            }
            ResponseFraming::Chunked => loop {
                match state.chunked.step(&conn.buf[pos..]) {
                    Ok((used, Step::Data(d))) => {
                        state.payload.extend_from_slice(d);
                        pos += used;
                    }
                    Ok((used, Step::NeedMore)) => {
                        pos += used;
                        break false;
                    }
                    Ok((used, Step::Done)) => {
                        pos += used;
                        break true;
                    }
                    Err(_) => return Err(ErrorKind::HttpParse),
                }
            },
        };
        if stream_events {
            scan_events(decoder, state, out, at, &mut stream_err)?;
        } else if state.payload.len() > MAX_BODY {
            return Err(ErrorKind::HttpParse);
        }
        if pos == conn.buf.len() {
            conn.buf.clear();
            pos = 0;
        }
        if done {
            break;
        }
        match deadlines.read(conn, Phase::Idle).await {
            Ok((n, t)) => {
                out.bytes_in += n as u64;
                at = t;
            }
            Err(ErrorKind::Eof) if framing == ResponseFraming::UntilClose => {
                keep_alive = false;
                at = Instant::now();
                if stream_events {
                    scan_events(decoder, state, out, at, &mut stream_err)?;
                }
                break;
            }
            Err(e) => return Err(e),
        }
    }
    if pos > 0 {
        conn.buf.drain(..pos);
    }
    if !ok_status {
        if state.capture_errors {
            state.err_body = Some(state.payload[..state.payload.len().min(ERR_BODY_BYTES)].to_vec());
        }
        return Ok(keep_alive && framing != ResponseFraming::UntilClose);
    }
    let usage = if stream_events {
        if let Some(kind) = stream_err {
            if state.capture_errors {
                state.err_body = Some(state.payload[..state.payload.len().min(ERR_BODY_BYTES)].to_vec());
            }
            out.error = Some(kind);
        } else if !decoder.stream_complete() {
            out.error = Some(ErrorKind::ProtocolError);
        }
        out.usage_seen.take()
    } else {
        match decoder.body(&state.payload, state.reply.as_mut()) {
            Ok(seen) => {
                if seen.error {
                    out.error = Some(ErrorKind::StreamError);
                }
                // A whole body has no first token: TTFT, ITL and TPOT exist only for
                // streams, so no aggregate mixes them with end-to-end times.
                if seen.content_chars > 0 {
                    out.content_events = 1;
                    out.content_chars = seen.content_chars;
                }
                seen.usage
            }
            Err(kind) => {
                if state.capture_errors {
                    state.err_body = Some(state.payload[..state.payload.len().min(ERR_BODY_BYTES)].to_vec());
                }
                out.error = Some(kind);
                None
            }
        }
    };
    settle_tokens(out, usage, stream_events);
    Ok(keep_alive && framing != ResponseFraming::UntilClose)
}

/// Feeds complete SSE events from the payload to the decoder, stamping them with `at`.
fn scan_events(
    decoder: &mut dyn Decoder,
    state: &mut ResponseState,
    out: &mut Outcome,
    at: Instant,
    stream_err: &mut Option<ErrorKind>,
) -> Result<(), ErrorKind> {
    let ResponseState { sse, payload, gaps, reply, .. } = state;
    let consumed = sse
        .scan_all(payload, |ev| {
            if stream_err.is_some() {
                return;
            }
            match decoder.event(ev.event, ev.data, reply.as_mut()) {
                Ok(seen) => note_event(out, gaps, &seen, at, stream_err),
                Err(kind) => *stream_err = Some(kind),
            }
        })
        .map_err(|_| ErrorKind::SseParse)?;
    payload.drain(..consumed);
    Ok(())
}

#[inline]
fn note_event(
    out: &mut Outcome,
    gaps: &mut Vec<u64>,
    seen: &Seen,
    at: Instant,
    stream_err: &mut Option<ErrorKind>,
) {
    if seen.error {
        *stream_err = Some(ErrorKind::StreamError);
    }
    if let Some(u) = seen.usage {
        out.usage_seen = Some(u);
    }
    if seen.content_chars > 0 {
        out.content_events += 1;
        out.content_chars += seen.content_chars;
        match out.last_token {
            None => out.first_token = Some(at),
            Some(last) => gaps.push(us_between(last, at)),
        }
        out.last_token = Some(at);
    }
}

/// Token counts from usage, else from counted events; flags empty completions.
fn settle_tokens(out: &mut Outcome, usage: Option<crate::protocol::Usage>, stream: bool) {
    match usage {
        Some(u) => {
            out.prompt_tokens = u.prompt_tokens;
            out.completion_tokens = u.completion_tokens;
            out.token_source = TokenSource::Usage;
            out.token_mismatch = stream && u.completion_tokens < out.content_events;
        }
        None if stream && out.content_events > 0 => {
            out.completion_tokens = out.content_events;
            out.token_source = TokenSource::Counted;
        }
        None => {}
    }
    if out.error.is_none() && out.content_chars == 0 && out.completion_tokens == 0 {
        out.error = Some(ErrorKind::EmptyCompletion);
    }
}
