//! One scenario, compiled: everything that does not change per request rendered once
//! (request line and headers, model, system prompt as a JSON literal, the prompt source),
//! and how a turn's request is written from it.

use std::sync::Arc;
use std::time::Duration;

use super::content::{Filler, Uuid};
use super::exact::ExactFiller;
use super::keys::KeyRing;
use crate::data::dataset::replay::Replay as DatasetReplay;
use crate::http::cancel::{CancelAfter, ClientCancel};
use crate::metrics::keys::KeyTag;
use crate::metrics::{Limit, Measure, Metric, Outcome};
use crate::protocol::answer::{JsonShape, ReplyDecoder};
use crate::protocol::{Message, ProtocolKind, TurnBody};
use crate::tokens::Tokenizer;

/// Where a scenario's user messages come from, ready to use.
pub(super) enum Prompts {
    Pool(Vec<String>),
    Scripted(Vec<String>),
    Sized(Filler),
    /// Sized, with a tokenizer.
    Exact(ExactFiller),
    /// Entries of a dataset, each a whole conversation.
    Dataset(DatasetReplay),
}

/// One scenario, compiled.
pub(super) struct Scenario {
    pub(super) name: String,
    pub(super) protocol: ProtocolKind,
    pub(super) target: usize,
    /// `POST /path HTTP/1.1` + host + every static header, each line CRLF-terminated.
    pub(super) head: String,
    pub(super) model: String,
    pub(super) system_json: Option<String>,
    pub(super) max_tokens: u32,
    pub(super) stream: bool,
    pub(super) turns: (u32, u32),
    pub(super) prompts: Prompts,
    pub(super) think_time: Duration,
    pub(super) slo: Vec<Limit>,
    /// The scenario's client cancellation (`cancel`).
    pub(super) cancel: Option<ClientCancel>,
    /// Prefix of the first user message shared by every conversation (shared-prefix mode).
    pub(super) shared_prefix: Option<Arc<str>>,
    /// The run's tokenizer, and the tokens of the system prompt and of the shared prefix.
    pub(super) tokenizer: Option<(Tokenizer, u64, u64)>,
    pub(super) bust: bool,
    /// The request options' body fragment (`options::render`).
    pub(super) extra_json: String,
    /// With tools: the text of each tool result a tool-result turn sends (sized by
    /// `tool_result_tokens`). `None`: a reply that calls tools is followed by a user turn.
    pub(super) tool_results: Option<Filler>,
    /// What answers must be when the scenario asks for JSON (`options::json_shape`).
    pub(super) json: Option<JsonShape>,
    pub(super) correlation_header: Option<String>,
    /// The session-affinity header, when it is not the correlation header already.
    pub(super) session_header: Option<String>,
    /// The key pool each request takes its key from (None: the key is in `head`).
    pub(super) keys: Option<std::sync::Arc<KeyRing>>,
}

impl Scenario {
    /// Writes one turn's complete HTTP request into `out`. The body goes first, then the head
    /// (whose content-length needs the body's length) is appended and rotated in front of
    /// it: no buffer of its own. Returns the pool key it carries, if any.
    pub(super) fn write_request(
        &self,
        system_json: Option<&str>,
        messages: &[Message],
        max_tokens: u32,
        uuid: &Uuid,
        out: &mut Vec<u8>,
    ) -> Option<KeyTag> {
        let start = out.len();
        let turn = TurnBody {
            model: &self.model,
            system_json,
            messages,
            max_tokens,
            stream: self.stream,
            extra_json: &self.extra_json,
        };
        self.protocol.write_body(&turn, out);
        let body_len = out.len() - start;
        out.extend_from_slice(self.head.as_bytes());
        for h in [&self.correlation_header, &self.session_header].into_iter().flatten() {
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(uuid.as_str().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let tag = self.keys.as_ref().map(|ring| {
            let (tag, key) = ring.pick();
            out.extend_from_slice(b"authorization: Bearer ");
            out.extend_from_slice(key.as_bytes());
            if self.protocol.uses_x_api_key() {
                out.extend_from_slice(b"\r\nx-api-key: ");
                out.extend_from_slice(key.as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            tag
        });
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa::Buffer::new().format(body_len).as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out[start..].rotate_left(body_len);
        tag
    }

    /// A decoder for the scenario's replies: its protocol's, checking JSON answers when it
    /// asks for them.
    pub(super) fn decoder(&self) -> ReplyDecoder {
        ReplyDecoder::new(self.protocol.decoder(), self.json)
    }

    /// Draws whether a turn is abandoned (only scenarios with `cancel` draw).
    pub(super) fn draw_cancel(&self, rng: &mut impl rand::Rng) -> Option<CancelAfter> {
        self.cancel.and_then(|c| c.draw(rng.gen()))
    }

    /// Whether a finished turn met the scenario's SLOs (goodput); without SLOs, success.
    pub(super) fn within_slo(&self, o: &Outcome) -> bool {
        // A request without the value cannot miss its limit, except a stream's TTFT: a
        // stream that sent no token missed it.
        o.is_ok()
            && self.slo.iter().all(|l| match l.request_value(o) {
                Some(v) => l.holds(v),
                None => !(self.stream && l.measure == Measure::Request(Metric::Ttft)),
            })
    }
}
