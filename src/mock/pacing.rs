//! Sends a stream on absolute deadlines: content event `e` is due at
//! `start + TTFT + Σ gaps`, never "sleep after write", so serialization and slow writes do not
//! accumulate. Events already due are coalesced into one write; how late each went out is
//! recorded in the pacing-lag histogram, the proof that the mock was not the bottleneck.

use std::io;
use std::time::{Duration, Instant};

use monoio::io::AsyncWriteRent;

use super::kit::{write_all, Step, StreamJob};
use super::metrics::CoreCounters;
use super::Core;
use crate::wire::encode;

/// Sends `job` as a chunked SSE response. Returns whether the connection may be reused
/// (false after an injected drop, or when the client asked to close). What went out is
/// counted however the stream ends; a failed write is a client that went away, counted as a
/// disconnect (generation stops there).
pub(crate) async fn send_stream<S: AsyncWriteRent>(
    stream: &mut S,
    out: &mut Vec<u8>,
    core: &Core,
    job: StreamJob,
    arrived: Instant,
    request_id: &str,
    keep_alive: bool,
) -> io::Result<bool> {
    let counters = core.counters();
    let mut sent = Sent { cached: job.gen.cached_tokens, ..Sent::default() };
    let r = paced(stream, out, core, job, arrived, request_id, keep_alive, &mut sent).await;
    sent.record(counters);
    if r.is_err() {
        counters.disconnect(sent.events, arrived.elapsed());
    }
    r
}

#[allow(clippy::too_many_arguments)]
async fn paced<S: AsyncWriteRent>(
    stream: &mut S,
    out: &mut Vec<u8>,
    core: &Core,
    job: StreamJob,
    arrived: Instant,
    request_id: &str,
    keep_alive: bool,
    sent: &mut Sent,
) -> io::Result<bool> {
    let StreamJob { mut render, gen, faults, batch } = job;
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
    // With the capacity model: tokens asked of the batch so far, and stalls injected.
    let (mut produced, mut stalled) = (0, Duration::ZERO);
    let mut text = String::with_capacity(64);
    for e in 0..events {
        if faults.drop_after_events == Some(e as u32) {
            // An abrupt close before the chunked terminator, as a crashed upstream looks.
            write_all(stream, out).await?;
            return Ok(false);
        }
        if faults.sse_error_after == Some(e as u32) {
            render.error(out);
            out.extend_from_slice(encode::LAST_CHUNK);
            write_all(stream, out).await?;
            return Ok(keep_alive);
        }
        let step = gen.step(e);
        if let Some(ticket) = &batch {
            // Due when the batch produced the event's last token (never before the head).
            produced += step.tokens();
            let at = match ticket.produced(produced) {
                Some(at) => at,
                None => {
                    if !out.is_empty() {
                        write_all(stream, out).await?;
                    }
                    ticket.wait(produced).await
                }
            };
            due = (at + stalled).max(start);
        } else if e > 0 {
            due += gen.gap(&mut *core.rng.borrow_mut(), step.tokens());
        }
        if faults.stall_ms.is_some() && e == u64::from(faults.stall_after) {
            let stall = Duration::from_millis(faults.stall_ms.unwrap_or(0));
            due += stall;
            stalled += stall;
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
        match step {
            Step::Reasoning(from, to) | Step::Content(from, to) => {
                text.clear();
                if matches!(step, Step::Reasoning(..)) {
                    (from..to).for_each(|k| gen.words.push_token(k, &mut text));
                    render.reasoning(&text, out);
                } else {
                    (from..to).for_each(|k| gen.push_answer(k, &mut text));
                    render.content(&text, out);
                }
            }
            Step::Call { call, frag } => render.call_fragment(&gen, call, frag, out),
        }
        sent.tokens += step.tokens();
        sent.events += 1;
        match step {
            Step::Reasoning(from, to) => sent.reasoning += to - from,
            Step::Call { frag: 0, .. } => sent.calls += 1,
            _ => {}
        }
    }
    if faults.drop_after_events == Some(events as u32) {
        write_all(stream, out).await?;
        return Ok(false);
    }
    if faults.sse_error_after.is_some_and(|n| u64::from(n) == events) {
        render.error(out);
    } else {
        render.finish(&gen, out);
        // Only a whole answer is one to judge as JSON.
        counters.json_answer(gen.json_valid());
    }
    out.extend_from_slice(encode::LAST_CHUNK);
    write_all(stream, out).await?;
    Ok(keep_alive)
}

/// What a stream has sent so far, counted on `/metrics` when it ends (however it ends).
#[derive(Default)]
struct Sent {
    /// Events rendered (the ones before a failed write had gone out, or most of them).
    events: u64,
    tokens: u64,
    reasoning: u64,
    calls: u64,
    /// Prompt tokens the prefix cache served (counted whether or not usage went out).
    cached: u64,
}

impl Sent {
    fn record(&self, counters: &CoreCounters) {
        counters.tokens(self.tokens);
        counters.reasoning_tokens(self.reasoning);
        counters.tool_calls(self.calls);
        counters.cached_tokens(self.cached);
    }
}
