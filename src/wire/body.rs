//! One body decoder for every framing: fed the bytes after the head, it hands out payload
//! slices borrowed from the input and says when the body is done. Pure: the caller owns the
//! buffer and the reads, and tells the decoder when the peer closed.
//!
//! ```
//! use llmload::wire::body::BodyDecoder;
//! use llmload::wire::chunked::Step;
//! use llmload::wire::head::Framing;
//!
//! let mut body = BodyDecoder::new(Framing::Length(5));
//! assert_eq!(body.step(b"hel"), Ok((3, Step::Data(b"hel"))));
//! assert_eq!(body.step(b"lo, next"), Ok((2, Step::Data(b"lo"))));
//! assert_eq!(body.step(b", next"), Ok((0, Step::Done))); // the rest is not ours
//!
//! let mut body = BodyDecoder::new(Framing::UntilClose);
//! assert_eq!(body.step(b"abc"), Ok((3, Step::Data(b"abc"))));
//! assert!(body.eof()); // the close ends this body (a Length or Chunked one would be cut short)
//! ```

use super::chunked::{ChunkedDecoder, ChunkedError, Step};
use super::head::Framing;

/// Where a body stands; one variant per framing.
#[derive(Clone, Debug)]
pub enum BodyDecoder {
    /// Done before it starts.
    Empty,
    /// This many bytes still due.
    Length(u64),
    Chunked(ChunkedDecoder),
    /// Everything until the close; `true` once the peer closed.
    UntilClose(bool),
}

impl BodyDecoder {
    /// A decoder at the start of a body framed as `framing`.
    pub fn new(framing: Framing) -> BodyDecoder {
        match framing {
            Framing::Empty | Framing::Length(0) => BodyDecoder::Empty,
            Framing::Length(n) => BodyDecoder::Length(n),
            Framing::Chunked => BodyDecoder::Chunked(ChunkedDecoder::new()),
            Framing::UntilClose => BodyDecoder::UntilClose(false),
        }
    }

    /// Advances over `input`; returns (bytes consumed, step), like [`ChunkedDecoder::step`]:
    /// `Data` is never empty and its bytes are counted as consumed; `NeedMore` consumed all of
    /// `input`; `Done` consumed none of what follows the body. Call again with
    /// `&input[consumed..]` after `Data`.
    pub fn step<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Step<'a>), ChunkedError> {
        match self {
            BodyDecoder::Empty => Ok((0, Step::Done)),
            BodyDecoder::Length(due) => {
                if input.is_empty() {
                    return Ok((0, Step::NeedMore));
                }
                // `due` may exceed usize on 32-bit targets; compare in u64.
                let n = if *due < input.len() as u64 { *due as usize } else { input.len() };
                *due -= n as u64;
                if *due == 0 {
                    *self = BodyDecoder::Empty;
                }
                Ok((n, Step::Data(&input[..n])))
            }
            BodyDecoder::Chunked(dec) => dec.step(input),
            BodyDecoder::UntilClose(true) => Ok((0, Step::Done)),
            BodyDecoder::UntilClose(false) if input.is_empty() => Ok((0, Step::NeedMore)),
            BodyDecoder::UntilClose(false) => Ok((input.len(), Step::Data(input))),
        }
    }

    /// Decodes as much of `input` as possible, appending payload to `out`. Returns (bytes
    /// consumed, body done); unless done, all of `input` was consumed.
    pub fn decode_into(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(usize, bool), ChunkedError> {
        let mut pos = 0;
        loop {
            let (n, step) = self.step(&input[pos..])?;
            pos += n;
            match step {
                Step::Data(d) => out.extend_from_slice(d),
                Step::NeedMore => return Ok((pos, false)),
                Step::Done => return Ok((pos, true)),
            }
        }
    }

    /// The peer closed the connection: true when that completes the body (it runs until the
    /// close, or was already done), false when the body was cut short.
    pub fn eof(&mut self) -> bool {
        if let BodyDecoder::UntilClose(closed) = self {
            *closed = true;
        }
        self.is_done()
    }

    /// True once the whole body was consumed.
    pub fn is_done(&self) -> bool {
        match self {
            BodyDecoder::Empty | BodyDecoder::UntilClose(true) => true,
            BodyDecoder::Length(_) | BodyDecoder::UntilClose(false) => false,
            BodyDecoder::Chunked(dec) => dec.is_done(),
        }
    }
}

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;
