//! Reasoning streams as bytes off the socket, like `tool_stream_tests`: Anthropic `thinking`
//! blocks (`thinking_delta`, `signature_delta`), `redacted_thinking` blocks, and Responses
//! reasoning items and events decode to the same events, reasoning, text, usage and end
//! however the bytes are split into reads — cut at every byte, and a byte at a time.

use super::kind::ProtocolKind;
use super::{Decoder, Finish, Usage};
use crate::wire::sse::SseScanner;
use crate::wire::testing::same_at_every_split;

/// Each output event's (chars, reasoning chars), the reply text kept, the last usage and
/// finish, and whether the stream ended properly.
type Decoded = (Vec<(u64, u64)>, String, Option<Usage>, Option<Finish>, bool);

/// Decodes `input` read in pieces ending at `cuts`, as the client does (append, scan, drop
/// what was consumed).
fn decode(kind: ProtocolKind, input: &[u8], cuts: &[usize]) -> Decoded {
    let mut d = kind.decoder();
    let mut sse = SseScanner::default();
    let (mut buf, mut from) = (Vec::new(), 0);
    let (mut events, mut reply, mut usage, mut finish) = (Vec::new(), String::new(), None, None);
    for to in cuts.iter().copied().chain([input.len()]) {
        buf.extend_from_slice(&input[from..to]);
        from = to;
        let used = sse
            .scan_all(&buf, |ev| {
                let seen = d.event(ev.event, ev.data, Some(&mut reply)).expect("a valid event");
                if seen.content_chars > 0 {
                    events.push((seen.content_chars, seen.reasoning_chars));
                }
                usage = seen.usage.or(usage);
                finish = seen.finish.or(finish);
            })
            .expect("valid SSE");
        buf.drain(..used);
    }
    (events, reply, usage, finish, d.stream_complete())
}

/// Thinking (two deltas, one of multi-byte text, then its signature), a redacted block, then
/// the answer.
const ANTHROPIC: &str = concat!(
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Let me think\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\" \u{e9}\u{6f22}\u{1f980}\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQBCgIYAhIM1gbcDa9GJwZA2b3h\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: ping\ndata: {\"type\": \"ping\"}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"redacted_thinking\",\"data\":\"EmwKAhgBEgy3va3pzix/LafPsn4a\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"text_delta\",\"text\":\"Yes.\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":12}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);

/// A reasoning item (summary part and text, then reasoning text), then a message.
const RESPONSES: &str = concat!(
    "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\",\"output\":[]},\"sequence_number\":0}\n\n",
    "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"id\":\"rs_1\",\"type\":\"reasoning\",\"summary\":[]},\"sequence_number\":1}\n\n",
    "event: response.reasoning_summary_part.added\ndata: {\"type\":\"response.reasoning_summary_part.added\",\"item_id\":\"rs_1\",\"output_index\":0,\"summary_index\":0,\"part\":{\"type\":\"summary_text\",\"text\":\"\"},\"sequence_number\":2}\n\n",
    "event: response.reasoning_summary_text.delta\ndata: {\"type\":\"response.reasoning_summary_text.delta\",\"item_id\":\"rs_1\",\"output_index\":0,\"summary_index\":0,\"delta\":\"Plan: \",\"sequence_number\":3}\n\n",
    "event: response.reasoning_summary_text.delta\ndata: {\"type\":\"response.reasoning_summary_text.delta\",\"item_id\":\"rs_1\",\"output_index\":0,\"summary_index\":0,\"delta\":\"\u{e9}\u{1f980}\",\"sequence_number\":4}\n\n",
    "event: response.reasoning_summary_text.done\ndata: {\"type\":\"response.reasoning_summary_text.done\",\"item_id\":\"rs_1\",\"output_index\":0,\"summary_index\":0,\"text\":\"Plan: \u{e9}\u{1f980}\",\"sequence_number\":5}\n\n",
    "event: response.reasoning_text.delta\ndata: {\"type\":\"response.reasoning_text.delta\",\"item_id\":\"rs_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"think\",\"sequence_number\":6}\n\n",
    "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"output_index\":0,\"item\":{\"id\":\"rs_1\",\"type\":\"reasoning\",\"summary\":[{\"type\":\"summary_text\",\"text\":\"Plan: \u{e9}\u{1f980}\"}]},\"sequence_number\":7}\n\n",
    "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":1,\"item\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[]},\"sequence_number\":8}\n\n",
    "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\",\"output_index\":1,\"content_index\":0,\"delta\":\"Done\",\"sequence_number\":9}\n\n",
    "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"status\":\"completed\",\"usage\":{\"input_tokens\":9,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":8,\"output_tokens_details\":{\"reasoning_tokens\":6},\"total_tokens\":17}},\"sequence_number\":10}\n\n",
);

#[test]
fn anthropic_thinking_signature_and_redacted_blocks_at_every_split() {
    let whole = same_at_every_split(ANTHROPIC.as_bytes(), None, |input, cuts| {
        decode(ProtocolKind::Anthropic, input, cuts)
    });
    let (events, reply, usage, finish, complete) = whole;
    // Two thinking deltas (12 and 4 chars), the redacted block as one reasoning event, the
    // answer; the signature is no output.
    assert_eq!(events, [(12, 12), (4, 4), (1, 1), (4, 0)]);
    assert_eq!(reply, "Let me think \u{e9}\u{6f22}\u{1f980}Yes.");
    let usage = usage.expect("usage");
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (9, 12));
    assert_eq!((finish, complete), (Some(Finish::Stop), true));
}

#[test]
fn responses_reasoning_events_at_every_split() {
    let whole = same_at_every_split(RESPONSES.as_bytes(), None, |input, cuts| {
        decode(ProtocolKind::OpenAiResponses, input, cuts)
    });
    let (events, reply, usage, finish, complete) = whole;
    // Summary deltas and reasoning text are reasoning; the `.done` events repeat text and
    // are no output.
    assert_eq!(events, [(6, 6), (2, 2), (5, 5), (4, 0)]);
    assert_eq!(reply, "Plan: \u{e9}\u{1f980}thinkDone");
    let usage = usage.expect("usage");
    assert_eq!(
        (usage.completion_tokens, usage.reasoning_tokens, usage.cached_prompt_tokens),
        (8, Some(6), Some(0))
    );
    assert_eq!((finish, complete), (Some(Finish::Stop), true));
}

/// A stream cut anywhere before its end marker is not complete, whatever it had decoded.
#[test]
fn reasoning_streams_cut_short_are_incomplete() {
    for (kind, stream) in [(ProtocolKind::Anthropic, ANTHROPIC), (ProtocolKind::OpenAiResponses, RESPONSES)] {
        let end = stream.trim_end().rfind("\n\n").expect("events") + 2;
        for k in (0..end).step_by(7) {
            assert!(!decode(kind, &stream.as_bytes()[..k], &[]).4, "{kind}: complete at {k}");
        }
    }
}
