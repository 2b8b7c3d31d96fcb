//! HTTP/1.1 chunked transfer-coding decoder (RFC 9112 §7.1).
//!
//! Purpose: decode `Transfer-Encoding: chunked` response/request bodies
//! incrementally, straight out of whatever read buffer the caller owns. The
//! decoder is a pure state machine over `&[u8]`: it knows nothing about
//! sockets or runtimes and never allocates. `wire::body::BodyDecoder` wraps it with the
//! other framings (and `decode_into`, which appends payload to a `Vec`).
//!
//! Contract:
//! * Feed bytes in order; each call reports how many bytes it consumed. Bytes
//!   past the consumed count were not looked at and must be presented again
//!   (followed by newer bytes) on the next call. [`ChunkedDecoder::step`]
//!   consumes everything it is given unless it hits the end of the body or
//!   hands out payload, so the caller only has to keep leftovers
//!   once the body is done (they belong to the next message on the
//!   connection).
//! * Payload is handed out zero-copy as [`Step::Data`] slices borrowing the
//!   input.
//! * The grammar is enforced strictly (CRLF line endings, at least one hex digit
//!   per size line), like hyper: linear whitespace before `;`/CR on the size
//!   line is tolerated, chunk extensions are accepted and ignored, trailer
//!   fields are skipped. Everything attacker-controlled that is not payload is
//!   bounded: [`MAX_SIZE_DIGITS`], [`CHUNK_EXTENSIONS_LIMIT`], [`TRAILERS_LIMIT`].
//! * Never panics; after an error the decoder stays failed and returns the
//!   same error on every later call (the connection must be dropped anyway).
//!
//! ```
//! use llmload::wire::chunked::{ChunkedDecoder, Step};
//!
//! let mut dec = ChunkedDecoder::new();
//! // A read that ends mid-chunk: payload slices borrow the input (zero-copy).
//! assert_eq!(dec.step(b"5;ext=1\r\nhel"), Ok((12, Step::Data(b"hel"))));
//! assert_eq!(dec.step(b""), Ok((0, Step::NeedMore)));
//! // The rest, plus the next response's bytes.
//! let rest = b"lo\r\n0\r\nTrailer: x\r\n\r\nHTTP/1.1 200 OK\r\n";
//! assert_eq!(dec.step(rest), Ok((2, Step::Data(b"lo"))));
//! let (consumed, step) = dec.step(&rest[2..]).unwrap();
//! assert_eq!(step, Step::Done);
//! assert_eq!(&rest[2 + consumed..], b"HTTP/1.1 200 OK\r\n"); // not ours
//! ```

use std::fmt;

/// Most hex digits accepted in one chunk-size (leading zeros included).
///
/// A `u64` needs at most 16 significant digits; the extra room tolerates
/// zero-padded sizes while still bounding the work a peer can make us do on a
/// single size line. Values that do not fit in `u64` fail earlier with
/// [`ChunkedErrorKind::SizeOverflow`].
pub(crate) const MAX_SIZE_DIGITS: u32 = 32;

/// Most bytes of chunk extensions (plus whitespace before them) accepted on a
/// single chunk-size line. Extensions are parsed only far enough to skip them.
pub(crate) const CHUNK_EXTENSIONS_LIMIT: u32 = 4096;

/// Most bytes accepted for the whole trailer section (all trailer field lines
/// including their CRLFs, excluding the final empty line). Trailers are skipped.
pub(crate) const TRAILERS_LIMIT: u32 = 16 * 1024;

/// Position in the chunked-body grammar (one variant per place a byte can land).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Inside the hex chunk-size.
    Size,
    /// Whitespace after the size, before `;` or CR.
    SizeLws,
    /// Inside `;ext-name=ext-val...` (skipped).
    Extension,
    /// Saw CR ending the size line; LF must follow.
    SizeLf,
    /// Inside chunk data; `ChunkedDecoder::size` holds the bytes still due.
    Body,
    /// Chunk data complete; CR must follow.
    BodyCr,
    /// Saw CR after chunk data; LF must follow.
    BodyLf,
    /// Inside a trailer field line (skipped).
    Trailer,
    /// Saw CR ending a trailer line; LF must follow.
    TrailerLf,
    /// At the start of a line after the last chunk: CR (end) or a trailer.
    EndCr,
    /// Saw the final CR; LF must follow.
    EndLf,
    /// Body complete; further input is not ours.
    Done,
    /// An error was returned; it is repeated on every later call.
    Failed,
}

/// Outcome of one [`ChunkedDecoder::step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    /// Payload bytes, borrowed from the input (never empty).
    Data(&'a [u8]),
    /// All input was consumed without completing the body; feed more bytes.
    NeedMore,
    /// The terminating last-chunk, trailers and final CRLF have been consumed.
    Done,
}

/// Incremental chunked-body decoder: a few words of state, reusable via
/// [`ChunkedDecoder::reset`].
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    /// Size being parsed (in `Size`), then bytes of chunk data still due (in `Body`).
    size: u64,
    /// Hex digits seen on the current size line.
    digits: u32,
    /// Extension (and pre-extension whitespace) bytes on the current size line.
    ext_len: u32,
    /// Bytes of trailer section seen so far.
    trailer_len: u32,
    /// Error to repeat once `state == Failed`.
    error: Option<ChunkedError>,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// A decoder positioned at the start of a chunked body.
    pub const fn new() -> Self {
        ChunkedDecoder { state: State::Size, size: 0, digits: 0, ext_len: 0, trailer_len: 0, error: None }
    }

    /// Forget all progress (and any error), ready for a new body.
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// True once the whole body (including trailers and final CRLF) was consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Advance over `input`; returns (bytes consumed, step).
    ///
    /// Framing bytes are consumed until payload is available ([`Step::Data`],
    /// whose bytes are included in the consumed count), the body ends
    /// ([`Step::Done`]; bytes after the final CRLF are not consumed), or the
    /// input runs out ([`Step::NeedMore`]; everything was consumed). Call again
    /// with `&input[consumed..]` after `Data`. Once done, returns `(0, Done)`.
    pub fn step<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Step<'a>), ChunkedError> {
        let mut i = 0;
        loop {
            match self.state {
                State::Done => return Ok((i, Step::Done)),
                State::Failed => {
                    let err = self.error.unwrap_or(ChunkedError::new(ChunkedErrorKind::Failed, None));
                    return Err(err);
                }
                State::Body => {
                    let avail = input.len() - i;
                    if avail == 0 {
                        return Ok((i, Step::NeedMore));
                    }
                    // `size` may exceed usize on 32-bit targets; compare in u64.
                    let n = if self.size < avail as u64 { self.size as usize } else { avail };
                    self.size -= n as u64;
                    if self.size == 0 {
                        self.state = State::BodyCr;
                    }
                    return Ok((i + n, Step::Data(&input[i..i + n])));
                }
                _ => {
                    let Some(&b) = input.get(i) else {
                        return Ok((i, Step::NeedMore));
                    };
                    i += 1;
                    if let Err(e) = self.control(b) {
                        self.state = State::Failed;
                        self.error = Some(e);
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Bytes of the current chunk's data still expected (0 outside chunk data).
    pub fn remaining_in_chunk(&self) -> u64 {
        if self.state == State::Body {
            self.size
        } else {
            0
        }
    }

    /// Consume one framing byte (any state except Body/Done/Failed).
    fn control(&mut self, b: u8) -> Result<(), ChunkedError> {
        use ChunkedErrorKind as K;
        let err = |kind| Err(ChunkedError::new(kind, Some(b)));
        self.state = match self.state {
            State::Size => match hex_val(b) {
                Some(v) => {
                    self.digits += 1;
                    if self.digits > MAX_SIZE_DIGITS {
                        return err(K::SizeTooLong);
                    }
                    self.size = match self.size.checked_mul(16).and_then(|s| s.checked_add(u64::from(v))) {
                        Some(s) => s,
                        None => return err(K::SizeOverflow),
                    };
                    State::Size
                }
                // A size line needs at least one digit before anything else.
                None if self.digits == 0 => return err(K::InvalidSize),
                None => match b {
                    b' ' | b'\t' => self.count_ext(b, State::SizeLws)?,
                    b';' => State::Extension,
                    b'\r' => State::SizeLf,
                    _ => return err(K::InvalidSize),
                },
            },
            State::SizeLws => match b {
                // Bounded by the extension limit so endless whitespace cannot spin us.
                b' ' | b'\t' => self.count_ext(b, State::SizeLws)?,
                b';' => State::Extension,
                b'\r' => State::SizeLf,
                _ => return err(K::InvalidSizeLws),
            },
            State::Extension => match b {
                b'\r' => State::SizeLf,
                b'\n' => return err(K::ExtensionLf),
                _ => self.count_ext(b, State::Extension)?,
            },
            State::SizeLf => match b {
                b'\n' if self.size == 0 => State::EndCr,
                b'\n' => State::Body,
                _ => return err(K::SizeLineLf),
            },
            State::BodyCr => match b {
                b'\r' => State::BodyLf,
                _ => return err(K::BodyCr),
            },
            State::BodyLf => match b {
                b'\n' => {
                    self.size = 0;
                    self.digits = 0;
                    self.ext_len = 0;
                    State::Size
                }
                _ => return err(K::BodyLf),
            },
            State::EndCr => match b {
                b'\r' => State::EndLf,
                b'\n' => return err(K::TrailerLf),
                _ => self.count_trailer(b, State::Trailer)?,
            },
            State::Trailer => match b {
                b'\r' => self.count_trailer(b, State::TrailerLf)?,
                b'\n' => return err(K::TrailerLf),
                _ => self.count_trailer(b, State::Trailer)?,
            },
            State::TrailerLf => match b {
                b'\n' => self.count_trailer(b, State::EndCr)?,
                _ => return err(K::TrailerLf),
            },
            State::EndLf => match b {
                b'\n' => State::Done,
                _ => return err(K::EndLf),
            },
            // `step` never routes these here; fail closed rather than panic.
            State::Body | State::Done | State::Failed => return err(K::Failed),
        };
        Ok(())
    }

    fn count_ext(&mut self, b: u8, next: State) -> Result<State, ChunkedError> {
        self.ext_len += 1;
        if self.ext_len > CHUNK_EXTENSIONS_LIMIT {
            return Err(ChunkedError::new(ChunkedErrorKind::ExtensionTooLong, Some(b)));
        }
        Ok(next)
    }

    fn count_trailer(&mut self, b: u8, next: State) -> Result<State, ChunkedError> {
        self.trailer_len += 1;
        if self.trailer_len > TRAILERS_LIMIT {
            return Err(ChunkedError::new(ChunkedErrorKind::TrailersTooLong, Some(b)));
        }
        Ok(next)
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// What went wrong while decoding a chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChunkedErrorKind {
    /// A byte that is not a hex digit where the chunk size was expected
    /// (including an empty size line).
    InvalidSize,
    /// More than [`MAX_SIZE_DIGITS`] hex digits.
    SizeTooLong,
    /// The chunk size does not fit in `u64`.
    SizeOverflow,
    /// Something other than whitespace, `;` or CR after whitespace on the size line.
    InvalidSizeLws,
    /// More than [`CHUNK_EXTENSIONS_LIMIT`] extension bytes on one size line.
    ExtensionTooLong,
    /// A bare LF inside a chunk extension.
    ExtensionLf,
    /// CR on the size line not followed by LF.
    SizeLineLf,
    /// Chunk data not followed by CR.
    BodyCr,
    /// CR after chunk data not followed by LF.
    BodyLf,
    /// Malformed trailer line ending (bare LF, or CR not followed by LF).
    TrailerLf,
    /// More than [`TRAILERS_LIMIT`] bytes of trailers.
    TrailersTooLong,
    /// Final CR not followed by LF.
    EndLf,
    /// The decoder had already failed.
    Failed,
}

/// Decoding error: what failed and the offending byte, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkedError {
    kind: ChunkedErrorKind,
    byte: Option<u8>,
}

impl ChunkedError {
    fn new(kind: ChunkedErrorKind, byte: Option<u8>) -> Self {
        ChunkedError { kind, byte }
    }

    /// Which rule was violated.
    pub fn kind(&self) -> ChunkedErrorKind {
        self.kind
    }

    /// The byte that triggered the error, if one did.
    pub fn byte(&self) -> Option<u8> {
        self.byte
    }
}

impl fmt::Display for ChunkedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ChunkedErrorKind as K;
        let what = match self.kind {
            K::SizeTooLong => {
                return write!(f, "chunk size has more than {MAX_SIZE_DIGITS} hex digits");
            }
            K::SizeOverflow => return f.write_str("chunk size overflows u64"),
            K::ExtensionTooLong => {
                return write!(f, "chunk extension longer than {CHUNK_EXTENSIONS_LIMIT} bytes");
            }
            K::TrailersTooLong => {
                return write!(f, "trailer section longer than {TRAILERS_LIMIT} bytes");
            }
            K::Failed => return f.write_str("chunked decoder already failed"),
            K::InvalidSize => "chunk size: invalid byte",
            K::InvalidSizeLws => "chunk size: invalid byte after whitespace",
            K::ExtensionLf => "chunk extension: invalid byte",
            K::SizeLineLf => "expected LF after CR on chunk size line, found",
            K::BodyCr => "expected CR after chunk data, found",
            K::BodyLf => "expected LF after chunk data, found",
            K::TrailerLf => "trailer line not terminated by CRLF, found",
            K::EndLf => "expected LF ending chunked body, found",
        };
        f.write_str(what)?;
        if let Some(b) = self.byte {
            write!(f, " 0x{b:02x}")?;
            if b.is_ascii_graphic() || b == b' ' {
                write!(f, " ('{}')", b as char)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ChunkedError {}

#[cfg(test)]
#[path = "chunked_tests.rs"]
mod tests;
