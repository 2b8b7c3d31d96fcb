//! Incremental Server-Sent Events scanner (WHATWG HTML §9.2.6 parsing rules)
//! and a tiny writer.
//!
//! Purpose: pull events out of a `text/event-stream` body on a load
//! generator's hot path without allocating per event. The scanner is a pure
//! function of the bytes it is shown; it knows nothing about sockets, HTTP
//! framing (de-chunk first) or UTF-8 (values are raw bytes).
//!
//! # Buffer contract
//!
//! The caller owns one growable buffer of not-yet-consumed bytes:
//!
//! 1. Append newly read bytes to the buffer.
//! 2. Call [`SseScanner::next_event`] with `&buf[pos..]` repeatedly, adding
//!    each returned `consumed` to `pos`, until it returns `None`.
//!    ([`SseScanner::scan_all`] does this loop with a callback.)
//! 3. Drop `buf[..pos]` (e.g. `buf.drain(..pos)`) and go back to 1.
//!
//! Every call must be given the bytes the previous call did not consume,
//! unchanged, followed by zero or more new bytes. `consumed` only advances
//! past complete event blocks (up to and including the blank line), so the
//! bytes of a partially received event stay in the caller's buffer; the
//! scanner itself keeps only offsets into them (never pointers), plus a flag
//! for a CR seen as the very last byte (whose LF may arrive in the next read).
//! Lines already examined are not rescanned.
//!
//! ```
//! use llmload::wire::sse::SseScanner;
//!
//! let mut scanner = SseScanner::new();
//! let mut buf: Vec<u8> = Vec::new();
//! let mut seen = Vec::new();
//! // Two socket reads; the second completes an event split across them.
//! for read in [&b"event: ping\ndata: {}\n\ndata: hel"[..], b"lo\n\n"] {
//!     buf.extend_from_slice(read);
//!     let consumed = scanner
//!         .scan_all(&buf, |ev| seen.push((ev.event_type().to_vec(), ev.data.to_vec())))
//!         .expect("stream within limits");
//!     buf.drain(..consumed);
//! }
//! assert_eq!(seen, [(b"ping".to_vec(), b"{}".to_vec()), (b"message".to_vec(), b"hello".to_vec())]);
//! assert!(!scanner.finish(&buf)); // EOF: nothing left half-received
//! ```
//!
//! Events borrow from the caller's buffer (`data` of single-`data:`-line
//! events, `event`, `id`), or from the scanner's reusable scratch `Vec` (`data`
//! joined from several `data:` lines), so the common case is zero-copy and the
//! rest is amortised allocation-free.
//!
//! # Parsing rules (WHATWG)
//!
//! Lines end in CRLF, LF or a lone CR. A leading UTF-8 BOM is skipped. A line
//! starting with `:` is a comment. `name:value` drops one space after the
//! colon; a line without a colon is a field with an empty value. Fields:
//! `event` (last wins), `data` (lines joined with `\n`), `id` (ignored if it
//! contains NUL), `retry` (ASCII digits only, else ignored); others are
//! ignored. Field names are case-sensitive. A blank line dispatches the block,
//! but only if it had at least one `data` line. At end of stream an
//! unterminated block is discarded ([`SseScanner::finish`] reports whether one
//! was).
//!
//! A block may not exceed the configured limit ([`MAX_EVENT_BYTES`] by
//! default) before its terminating blank line; this bounds how much a hostile
//! peer can make the caller buffer. Errors (and events) do not depend on how
//! the stream was split into reads.

use memchr::{memchr, memchr2};
use std::fmt;

/// Default bound on one event block (from its first byte up to its blank line).
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One dispatched event. Slices borrow from the caller's buffer or from the
/// scanner; copy what you need before the next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// Value of the last `event:` field; empty if none (meaning `"message"`).
    pub event: &'a [u8],
    /// The `data:` values joined with `\n`.
    pub data: &'a [u8],
    /// Value of the last valid `id:` field *in this block*, if any. (The
    /// spec's sticky `lastEventId` is [`SseScanner::last_event_id`].)
    pub id: Option<&'a [u8]>,
}

impl<'a> SseEvent<'a> {
    /// The event type as the spec defines it: `event`, or `message` if empty.
    pub fn event_type(&self) -> &'a [u8] {
        if self.event.is_empty() {
            b"message"
        } else {
            self.event
        }
    }

    /// `data` as UTF-8.
    pub fn data_str(&self) -> Result<&'a str, std::str::Utf8Error> {
        std::str::from_utf8(self.data)
    }
}

/// Counters of what the scanner has seen (cheap, always on).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SseStats {
    /// Events dispatched.
    pub events: u64,
    /// Comment lines (e.g. `: keep-alive`).
    pub comments: u64,
    /// Blocks ended by a blank line that had fields but no `data`, hence not
    /// dispatched (e.g. `event: ping` alone, or a bare `retry:`).
    pub empty_blocks: u64,
}

/// Where the pending block's data lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Data {
    None,
    /// Exactly one `data:` line so far: its value's range in the input.
    One(usize, usize),
    /// Several lines, already joined into `scratch`.
    Joined,
}

/// Incremental SSE scanner; see the module docs for the buffer contract.
///
/// All offsets are relative to the start of the unconsumed input.
#[derive(Debug, Clone)]
pub struct SseScanner {
    max_event_bytes: usize,
    /// Start of the pending block (= what `consumed` may advance to).
    block_start: usize,
    /// Start of the next line to process.
    line_start: usize,
    /// Where to resume looking for a line terminator (no CR/LF in `line_start..search_from`).
    search_from: usize,
    /// The last line ended in a CR that was the last byte seen; skip a following LF.
    skip_lf: bool,
    /// Nothing examined yet; a BOM may still be skipped.
    bom_pending: bool,
    event: Option<(usize, usize)>,
    id: Option<(usize, usize)>,
    data: Data,
    /// The pending block has had at least one field line.
    has_fields: bool,
    scratch: Vec<u8>,
    last_id: Vec<u8>,
    retry: Option<u64>,
    stats: SseStats,
}

impl Default for SseScanner {
    fn default() -> Self {
        Self::new()
    }
}

impl SseScanner {
    /// A scanner at the start of a stream, with the [`MAX_EVENT_BYTES`] limit.
    pub const fn new() -> Self {
        Self::with_max_event_bytes(MAX_EVENT_BYTES)
    }

    /// A scanner whose blocks may be at most `limit` bytes before their blank line.
    pub const fn with_max_event_bytes(limit: usize) -> Self {
        SseScanner {
            max_event_bytes: limit,
            block_start: 0,
            line_start: 0,
            search_from: 0,
            skip_lf: false,
            bom_pending: true,
            event: None,
            id: None,
            data: Data::None,
            has_fields: false,
            scratch: Vec::new(),
            last_id: Vec::new(),
            retry: None,
            stats: SseStats { events: 0, comments: 0, empty_blocks: 0 },
        }
    }

    /// Back to the start of a new stream (limit and allocations are kept;
    /// `last_event_id`, `retry` and stats are cleared).
    pub fn reset(&mut self) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut last_id = std::mem::take(&mut self.last_id);
        scratch.clear();
        last_id.clear();
        *self = SseScanner { scratch, last_id, ..Self::with_max_event_bytes(self.max_event_bytes) };
    }

    /// The spec's "last event ID buffer": the most recent valid `id:` value
    /// seen so far (it persists across events; empty if none or reset by `id:`).
    pub fn last_event_id(&self) -> &[u8] {
        &self.last_id
    }

    /// The most recent valid `retry:` value (reconnection time in ms).
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// Counters since creation or the last [`reset`](Self::reset).
    pub fn stats(&self) -> SseStats {
        self.stats
    }

    /// Scan `buf`; return how many leading bytes are fully consumed, and the
    /// next complete event if there is one.
    ///
    /// With `Some(event)`, `consumed` ends right after the dispatching blank
    /// line; call again with `&buf[consumed..]` for further events. With
    /// `None`, everything complete has been processed; keep `buf[consumed..]`
    /// and call again once more bytes are appended to it.
    pub fn next_event<'a>(&'a mut self, buf: &'a [u8]) -> Result<(usize, Option<SseEvent<'a>>), SseError> {
        // Offsets are ordered block_start <= line_start <= search_from.
        if self.search_from > buf.len() {
            return Err(SseError::new(SseErrorKind::BufferContract, self.max_event_bytes));
        }
        if self.bom_pending {
            if buf.len() < BOM.len() && BOM.starts_with(buf) {
                return Ok((0, None));
            }
            self.bom_pending = false;
            if buf.starts_with(BOM) {
                self.block_start = BOM.len();
                self.line_start = BOM.len();
                self.search_from = BOM.len();
            }
        }
        loop {
            if self.skip_lf {
                let Some(&b) = buf.get(self.line_start) else {
                    break;
                };
                self.skip_lf = false;
                if b == b'\n' {
                    // The LF belongs to the previous line's terminator.
                    if self.block_start == self.line_start {
                        self.block_start += 1;
                    }
                    self.line_start += 1;
                    self.search_from = self.line_start;
                }
            }
            let Some(p) = memchr2(b'\r', b'\n', &buf[self.search_from..]) else {
                self.search_from = buf.len();
                break;
            };
            let start = self.line_start;
            let end = self.search_from + p;
            let next = if buf[end] == b'\n' {
                end + 1
            } else {
                match buf.get(end + 1) {
                    Some(b'\n') => end + 2,
                    Some(_) => end + 1,
                    None => {
                        self.skip_lf = true;
                        end + 1
                    }
                }
            };
            // Checked per line (and below for the partial line) so the outcome
            // does not depend on where reads were split.
            if end - self.block_start > self.max_event_bytes {
                return Err(SseError::new(SseErrorKind::EventTooLarge, self.max_event_bytes));
            }
            self.line_start = next;
            self.search_from = next;
            if start != end {
                self.field(buf, start, end);
                continue;
            }
            // Blank line: dispatch (if there is data) and start a new block.
            let data = std::mem::replace(&mut self.data, Data::None);
            let event = self.event.take();
            let id = self.id.take();
            let had_fields = std::mem::take(&mut self.has_fields);
            self.block_start = next;
            if data == Data::None {
                if had_fields {
                    self.stats.empty_blocks += 1;
                }
                continue;
            }
            self.stats.events += 1;
            self.rebase(next);
            let data: &'a [u8] = match data {
                Data::One(s, e) => &buf[s..e],
                _ => &self.scratch,
            };
            let ev = SseEvent {
                event: event.map_or(&[][..], |(s, e)| &buf[s..e]),
                data,
                id: id.map(|(s, e)| &buf[s..e]),
            };
            return Ok((next, Some(ev)));
        }
        if buf.len() - self.block_start > self.max_event_bytes {
            return Err(SseError::new(SseErrorKind::EventTooLarge, self.max_event_bytes));
        }
        let consumed = self.block_start;
        self.rebase(consumed);
        Ok((consumed, None))
    }

    /// Run [`next_event`](Self::next_event) over `buf` until it needs more
    /// input, calling `f` for each event; returns the total bytes consumed
    /// (drop that prefix, keep the rest).
    pub fn scan_all<F: FnMut(SseEvent<'_>)>(&mut self, buf: &[u8], mut f: F) -> Result<usize, SseError> {
        let mut pos = 0;
        loop {
            let (n, ev) = self.next_event(&buf[pos..])?;
            pos += n;
            match ev {
                Some(ev) => f(ev),
                None => return Ok(pos),
            }
        }
    }

    /// End of stream. `rest` is the unconsumed input (after `next_event` has
    /// returned `None` for it). Per spec the pending incomplete block is
    /// discarded; returns true if it held `data` or an unterminated line, i.e.
    /// the stream was cut mid-event. The scanner is [`reset`](Self::reset).
    pub fn finish(&mut self, rest: &[u8]) -> bool {
        let truncated = self.data != Data::None || rest.len() > self.line_start;
        self.reset();
        truncated
    }

    /// Process one non-blank line `buf[start..end]`.
    fn field(&mut self, buf: &[u8], start: usize, end: usize) {
        let line = &buf[start..end];
        if line[0] == b':' {
            self.stats.comments += 1;
            return;
        }
        self.has_fields = true;
        let (name, vstart) = match memchr(b':', line) {
            Some(c) => {
                let v = start + c + 1;
                (&line[..c], if v < end && buf[v] == b' ' { v + 1 } else { v })
            }
            None => (line, end),
        };
        let value = &buf[vstart..end];
        match name {
            b"data" => match self.data {
                Data::None => self.data = Data::One(vstart, end),
                Data::One(s, e) => {
                    self.scratch.clear();
                    self.scratch.extend_from_slice(&buf[s..e]);
                    self.scratch.push(b'\n');
                    self.scratch.extend_from_slice(value);
                    self.data = Data::Joined;
                }
                Data::Joined => {
                    self.scratch.push(b'\n');
                    self.scratch.extend_from_slice(value);
                }
            },
            b"event" => self.event = Some((vstart, end)),
            // An id containing NUL is ignored (spec).
            b"id" if memchr(0, value).is_none() => {
                self.id = Some((vstart, end));
                self.last_id.clear();
                self.last_id.extend_from_slice(value);
            }
            b"retry" => {
                if let Some(ms) = parse_retry(value) {
                    self.retry = Some(ms);
                }
            }
            _ => {}
        }
    }

    /// The caller is about to drop `n` leading bytes; shift our offsets.
    fn rebase(&mut self, n: usize) {
        self.block_start -= n;
        self.line_start -= n;
        self.search_from -= n;
        let shift = |r: &mut Option<(usize, usize)>| {
            if let Some((s, e)) = r {
                *s -= n;
                *e -= n;
            }
        };
        shift(&mut self.event);
        shift(&mut self.id);
        if let Data::One(s, e) = &mut self.data {
            *s -= n;
            *e -= n;
        }
    }
}

/// `retry` values are ASCII digits only; anything else (or overflow) is ignored.
fn parse_retry(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Append one event: `event: NAME\n` (if given), `data: DATA\n\n`.
///
/// `event` and `data` must not contain CR or LF (checked in debug builds);
/// split multi-line data into several events or pre-escape it (JSON does).
pub fn write_event(out: &mut Vec<u8>, event: Option<&str>, data: &[u8]) {
    debug_assert!(memchr2(b'\r', b'\n', data).is_none(), "SSE data contains a line break");
    if let Some(ev) = event {
        debug_assert!(memchr2(b'\r', b'\n', ev.as_bytes()).is_none(), "SSE event name contains a line break");
        out.reserve(ev.len() + data.len() + 16);
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(ev.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\n\n");
}

/// Append a stand-alone comment block `: TEXT\n\n` (e.g. a keep-alive); use it
/// between events, since its blank line ends any block in progress.
pub fn write_comment(out: &mut Vec<u8>, text: &str) {
    debug_assert!(memchr2(b'\r', b'\n', text.as_bytes()).is_none(), "SSE comment contains a line break");
    out.extend_from_slice(b": ");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// What went wrong while scanning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SseErrorKind {
    /// A block grew past the limit without a terminating blank line.
    EventTooLarge,
    /// The input was shorter than the bytes the scanner had been shown but
    /// not consumed: the caller broke the buffer contract.
    BufferContract,
}

/// Scanning error. After one, [`SseScanner::reset`] before reusing the scanner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseError {
    kind: SseErrorKind,
    limit: usize,
}

impl SseError {
    fn new(kind: SseErrorKind, limit: usize) -> Self {
        SseError { kind, limit }
    }

    /// Which rule was violated.
    pub fn kind(&self) -> SseErrorKind {
        self.kind
    }
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            SseErrorKind::EventTooLarge => {
                write!(f, "event exceeds {} bytes without a blank line", self.limit)
            }
            SseErrorKind::BufferContract => f.write_str(
                "SSE input is shorter than the bytes left unconsumed by the previous call \
                 (the caller must keep unconsumed bytes)",
            ),
        }
    }
}

impl std::error::Error for SseError {}

#[cfg(test)]
#[path = "sse_tests.rs"]
mod tests;
