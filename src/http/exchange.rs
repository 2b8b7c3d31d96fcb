//! One timed request/response on a keep-alive connection: only I/O, deadlines and timestamps.
//!
//! The request goes out in one write. The bytes read are handed to the wire codec
//! (`wire::response` for the head, `wire::body` for the body) and the payload to `settle`
//! (SSE events, tokens); every event is stamped with the instant its bytes were read, so TTFT
//! and inter-token gaps are the arrival times the client saw. Any server behaviour ends in an
//! outcome with an error class: nothing here panics, leaks the connection (a failed
//! connection is dropped) or waits without a deadline.

use std::time::{Duration, Instant};

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};

use super::cancel::CancelAfter;
use super::conn::{Conn, READ_BUF};
pub(crate) use super::settle::ResponseState;
use super::settle::{finish, scan_events};
use crate::metrics::outcome::Outcome;
use crate::metrics::throttle::Hint;
use crate::metrics::ErrorKind;
use crate::protocol::Decoder;
use crate::wire::body::BodyDecoder;
use crate::wire::ratelimit::RetryAfter;
use crate::wire::response::{parse_response, Parsed, ResponseHead};

/// Largest non-streaming body kept for decoding.
const MAX_BODY: usize = 64 << 20;

/// Time limits of one request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
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

/// How an exchange left its connection.
pub(crate) struct Exchanged {
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
    /// The client's own cancel point (`CancelAfter::Elapsed`), else past the total limit.
    client: Instant,
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
            (self.client, ErrorKind::CancelledByClient),
        ]
        .into_iter()
        .min_by_key(|(d, _)| *d)
        .expect("four deadlines");
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

/// Sends `request` on `conn` and reads the whole response into `out`; with `client`, the
/// request is abandoned (its connection closed) at that point, as a user cancels.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn exchange<S: AsyncReadRent + AsyncWriteRent>(
    conn: &mut Conn<S>,
    request: Vec<u8>,
    decoder: &mut dyn Decoder,
    state: &mut ResponseState,
    out: &mut Outcome,
    timeouts: &Timeouts,
    cancel_at: Instant,
    client: Option<CancelAfter>,
) -> Exchanged {
    decoder.reset();
    state.clear();
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
    let total = out.sent + timeouts.total;
    let client_at = match client {
        Some(CancelAfter::Elapsed(d)) => out.sent + d,
        _ => total + Duration::from_secs(1),
    };
    let deadlines = Deadlines { total, cancel: cancel_at, client: client_at, t: *timeouts };
    let result = read_response(conn, decoder, state, out, &deadlines, client).await;
    out.end = Instant::now();
    match result {
        Ok(keep_alive) => {
            conn.served += 1;
            // Checked once the response's times are taken, so checking is in none of them.
            if out.is_ok() {
                out.json_valid = decoder.json_answer();
            }
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
    client: Option<CancelAfter>,
) -> Result<bool, ErrorKind> {
    let head = read_head(conn, out, deadlines).await?;
    out.status = head.status;
    if head.status != 200 {
        out.throttle.note(head.status, hint(head.retry_after), head.ratelimit_headers);
    }
    // Only a response that is going well is abandoned; a refusal is counted as it is.
    let client = client.filter(|_| head.status == 200);
    let stream = head.event_stream && head.status == 200;
    if client.is_some_and(|c| c.reached(0, stream)) {
        return Err(ErrorKind::CancelledByClient);
    }
    let mut body = BodyDecoder::new(head.framing);
    let mut at = out.first_byte.unwrap_or_else(Instant::now);
    let mut pos = head.len;
    loop {
        let (used, done) =
            body.decode_into(&conn.buf[pos..], &mut state.payload).map_err(|_| ErrorKind::HttpParse)?;
        pos += used;
        if stream {
            scan_events(decoder, state, out, at)?;
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
        if client.is_some_and(|c| c.reached(out.content_events, stream)) {
            return Err(ErrorKind::CancelledByClient);
        }
        match deadlines.read(conn, Phase::Idle).await {
            Ok((n, t)) => {
                out.bytes_in += n as u64;
                at = t;
            }
            // Every complete event was scanned above; a partial one at the close is dropped.
            Err(ErrorKind::Eof) if body.eof() => break,
            Err(e) => return Err(e),
        }
    }
    if pos > 0 {
        conn.buf.drain(..pos);
    }
    finish(decoder, state, out, stream);
    Ok(head.keep_alive)
}

/// A `retry-after` as the delay it asks for; a date is read against this host's clock (a
/// date in the past asks for none).
fn hint(r: RetryAfter) -> Hint {
    match r {
        RetryAfter::Absent => Hint::Absent,
        RetryAfter::Invalid => Hint::Invalid,
        RetryAfter::Delay { ms } => Hint::Us(ms.saturating_mul(1000)),
        RetryAfter::Date { unix_s } => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            let now_us = now.map_or(0, |d| d.as_micros() as i128);
            let us = i128::from(unix_s) * 1_000_000 - now_us;
            Hint::Us(us.clamp(0, i128::from(u64::MAX)) as u64)
        }
    }
}

/// Reads until the final head is complete (interim 1xx heads are dropped as they pass).
async fn read_head<S: AsyncReadRent>(
    conn: &mut Conn<S>,
    out: &mut Outcome,
    deadlines: &Deadlines,
) -> Result<ResponseHead, ErrorKind> {
    loop {
        if !conn.buf.is_empty() {
            match parse_response(&conn.buf).map_err(|_| ErrorKind::HttpParse)? {
                Parsed::Complete(head) => return Ok(head),
                Parsed::Partial { interim: 0 } => {}
                Parsed::Partial { interim } => drop(conn.buf.drain(..interim)),
            }
        }
        let phase = if out.first_byte.is_none() { Phase::FirstByte } else { Phase::Idle };
        let (n, at) = deadlines.read(conn, phase).await?;
        out.bytes_in += n as u64;
        out.first_byte.get_or_insert(at);
    }
}

#[cfg(test)]
#[path = "exchange_tests.rs"]
mod tests;
