//! What a response's payload means, with no I/O: SSE events handed to the protocol decoder as
//! they complete and stamped with the instant their bytes were read, a whole body decoded once
//! it is in, tokens settled (usage, else counted events), failed bodies captured. The exchange
//! calls these while it reads.

use std::time::Instant;

use crate::metrics::outcome::{us_between, Outcome, TokenSource};
use crate::metrics::ErrorKind;
use crate::protocol::{Decoder, Seen, Usage};
use crate::wire::sse::SseScanner;

/// Bytes of an error body kept when capture is on.
pub(crate) const ERR_BODY_BYTES: usize = 512;

/// Reusable per-user state for reading responses (no allocation per request once warm).
#[derive(Default)]
pub(crate) struct ResponseState {
    pub(super) sse: SseScanner,
    /// De-chunked body bytes not yet consumed.
    pub(super) payload: Vec<u8>,
    /// The first error a stream reported (its later events are ignored).
    stream_err: Option<ErrorKind>,
    /// Usage as last seen in the stream (settled into the token fields at the end).
    usage: Option<Usage>,
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
    pub(crate) fn new(capture_errors: bool) -> ResponseState {
        ResponseState { capture_errors, ..ResponseState::default() }
    }

    /// Forgets the previous response.
    pub(super) fn clear(&mut self) {
        self.sse.reset();
        self.payload.clear();
        self.stream_err = None;
        self.usage = None;
        self.gaps.clear();
        self.err_body = None;
        if let Some(r) = self.reply.as_mut() {
            r.clear();
        }
    }

    fn capture(&mut self) {
        if self.capture_errors {
            self.err_body = Some(self.payload[..self.payload.len().min(ERR_BODY_BYTES)].to_vec());
        }
    }
}

/// Feeds the complete SSE events of the payload to the decoder, stamping them with `at`.
pub(super) fn scan_events(
    decoder: &mut dyn Decoder,
    state: &mut ResponseState,
    out: &mut Outcome,
    at: Instant,
) -> Result<(), ErrorKind> {
    let ResponseState { sse, payload, gaps, reply, stream_err, usage, .. } = state;
    let consumed = sse
        .scan_all(payload, |ev| {
            if stream_err.is_some() {
                return;
            }
            match decoder.event(ev.event, ev.data, reply.as_mut()) {
                Ok(seen) => note_event(out, gaps, usage, &seen, at, stream_err),
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
    usage: &mut Option<Usage>,
    seen: &Seen,
    at: Instant,
    stream_err: &mut Option<ErrorKind>,
) {
    if seen.error {
        *stream_err = Some(ErrorKind::StreamError);
    }
    if let Some(u) = seen.usage {
        *usage = Some(u);
    }
    if seen.finish.is_some() {
        out.finish = seen.finish;
    }
    if seen.content_chars > 0 {
        out.content_events += 1;
        out.content_chars += seen.content_chars;
        match out.last_token {
            None => out.first_token = Some(at),
            Some(last) => gaps.push(us_between(last, at)),
        }
        out.last_token = Some(at);
        if seen.reasoning_chars > 0 {
            note_reasoning(out, seen, at);
        }
        if seen.content_chars > seen.reasoning_chars && out.first_content.is_none() {
            out.first_content = Some(at);
        }
    }
}

/// A reasoning event (off the plain path: only reasoning models get here).
#[cold]
fn note_reasoning(out: &mut Outcome, seen: &Seen, at: Instant) {
    out.reasoning_events += 1;
    out.reasoning_chars += seen.reasoning_chars;
    out.first_reasoning.get_or_insert(at);
    out.last_reasoning = Some(at);
}

/// Settles a response whose body is complete: a non-200 keeps its body (when capturing); a
/// stream must have ended properly; a whole body is decoded; then tokens are settled.
pub(super) fn finish(decoder: &mut dyn Decoder, state: &mut ResponseState, out: &mut Outcome, stream: bool) {
    if out.status != 200 {
        state.capture();
        return;
    }
    let usage = if stream {
        if let Some(kind) = state.stream_err {
            state.capture();
            out.error = Some(kind);
        } else if !decoder.stream_complete() {
            out.error = Some(ErrorKind::ProtocolError);
        }
        state.usage.take()
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
                    out.reasoning_chars = seen.reasoning_chars;
                }
                out.finish = seen.finish;
                seen.usage
            }
            Err(kind) => {
                state.capture();
                out.error = Some(kind);
                None
            }
        }
    };
    let tools = decoder.tool_calls();
    if tools.calls > 0 {
        out.tools = tools;
    }
    settle_tokens(out, usage, stream);
}

/// Token counts from usage, else from counted events; flags empty completions.
fn settle_tokens(out: &mut Outcome, usage: Option<Usage>, stream: bool) {
    match usage {
        Some(u) => {
            out.prompt_tokens = u.prompt_tokens;
            out.completion_tokens = u.completion_tokens;
            out.token_source = TokenSource::Usage;
            // A tool call's first event (its id and name, no arguments yet) carries no token.
            out.token_mismatch =
                stream && u.completion_tokens + u64::from(out.tools.calls) < out.content_events;
            (out.cached_prompt_tokens, out.cache_write_tokens) =
                (u.cached_prompt_tokens, u.cache_write_tokens);
            out.raw_input_tokens = u.raw_input_tokens;
        }
        None if stream && out.content_events > 0 => {
            out.completion_tokens = out.content_events;
            out.token_source = TokenSource::Counted;
        }
        None => {}
    }
    // Reasoning tokens: usage's, else one per reasoning event of a stream.
    match usage.and_then(|u| u.reasoning_tokens) {
        Some(n) => (out.reasoning_tokens, out.reasoning_source) = (Some(n), TokenSource::Usage),
        None if stream && out.reasoning_events > 0 => {
            (out.reasoning_tokens, out.reasoning_source) = (Some(out.reasoning_events), TokenSource::Counted)
        }
        None => {}
    }
    if out.error.is_none() && out.content_chars == 0 && out.completion_tokens == 0 {
        out.error = Some(ErrorKind::EmptyCompletion);
    }
}
