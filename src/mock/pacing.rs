//! Sends a stream on absolute deadlines: content event `e` is due at
//! `start + TTFT + Σ gaps`, never "sleep after write", so serialization and slow writes do not
//! accumulate. Events already due are coalesced into one write; how late each went out is
//! recorded in the pacing-lag histogram, the proof that the mock was not the bottleneck.

use std::io;
use std::time::{Duration, Instant};

use monoio::io::AsyncWriteRent;

use super::kit::{write_all, StreamJob};
use super::Core;
use crate::wire::encode;

/// Sends `job` as a chunked SSE response. Returns whether the connection may be reused
/// (false after an injected drop, or when the client asked to close).
pub(crate) async fn send_stream<S: AsyncWriteRent>(
    stream: &mut S,
    out: &mut Vec<u8>,
    core: &Core,
    job: StreamJob,
    arrived: Instant,
    request_id: &str,
    keep_alive: bool,
) -> io::Result<bool> {
    let StreamJob { mut render, gen, faults } = job;
    let counters = core.counters();
    let start = arrived + Duration::from_millis(faults.first_byte_ms.unwrap_or(0));
    if faults.first_byte_ms.is_some() {
        crate::net::timer::sleep_until(start).await;
    }

    out.clear();
    encode::status_line(out, 200);
    encode::header(out, "content-type", render.content_type().as_bytes());
    encode::header(out, "cache-control", b"no-cache");
    encode::header(out, "transfer-encoding", b"chunked");
    encode::header(out, render.family().request_id_header(), request_id.as_bytes());
    if !keep_alive {
        encode::header(out, "connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
    render.prelude(&gen, out);
    write_all(stream, out).await?;

    let events = gen.events();
    let mut due = start + gen.ttft;
    let mut text = String::with_capacity(64);
    let mut sent_tokens = 0u64;
    for e in 0..events {
        if faults.drop_after_events == Some(e as u32) {
            // An abrupt close before the chunked terminator, as a crashed upstream looks.
            write_all(stream, out).await?;
            counters.tokens(sent_tokens);
            return Ok(false);
        }
        if faults.sse_error_after == Some(e as u32) {
            render.error(out);
            out.extend_from_slice(encode::LAST_CHUNK);
            counters.tokens(sent_tokens);
            write_all(stream, out).await?;
            return Ok(keep_alive);
        }
        let (from, to) = gen.event_tokens(e);
        if e > 0 {
            due += gen.gap(&mut *core.rng.borrow_mut(), to - from);
        }
        if faults.stall_ms.is_some() && e == u64::from(faults.stall_after) {
            due += Duration::from_millis(faults.stall_ms.unwrap_or(0));
        }
        let mut now = Instant::now();
        if due > now {
            if !out.is_empty() {
                write_all(stream, out).await?;
            }
            crate::net::timer::sleep_until(due).await;
            now = Instant::now();
        }
        counters.lag(now.saturating_duration_since(due));
        text.clear();
        for k in from..to {
            gen.words.push_token(k, &mut text);
        }
        render.content(&text, out);
        sent_tokens = to;
    }
    if faults.drop_after_events == Some(events as u32) {
        write_all(stream, out).await?;
        counters.tokens(sent_tokens);
        return Ok(false);
    }
    if faults.sse_error_after.is_some_and(|n| u64::from(n) == events) {
        render.error(out);
    } else {
        render.finish(&gen, out);
    }
    out.extend_from_slice(encode::LAST_CHUNK);
    counters.tokens(sent_tokens);
    write_all(stream, out).await?;
    Ok(keep_alive)
}
