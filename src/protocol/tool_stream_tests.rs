//! Tool-call streams of every protocol, as bytes off the socket: the SSE scanner and the
//! decoder keep the same ids, names and arguments however the bytes are split into reads.
//! And a runaway stream of 1,000 calls is counted whole in bounded memory.

use super::kind::ProtocolKind;
use super::tools::MAX_KEPT;
use super::{Decoder, ToolTally};
use crate::wire::sse::SseScanner;
use crate::wire::testing::same_at_every_split;

/// (id, name, arguments) of each kept call, the tally, and whether the stream ended properly.
type Kept = (Vec<(String, String, String)>, ToolTally, bool);

/// Decodes `input` read in pieces ending at `cuts`, as the client does (append, scan, drop
/// what was consumed).
fn decode(kind: ProtocolKind, input: &[u8], cuts: &[usize]) -> Kept {
    let mut d = kind.decoder();
    let mut sse = SseScanner::default();
    let (mut buf, mut from) = (Vec::new(), 0);
    for to in cuts.iter().copied().chain([input.len()]) {
        buf.extend_from_slice(&input[from..to]);
        from = to;
        let used = sse
            .scan_all(&buf, |ev| {
                d.event(ev.event, ev.data, None).expect("a valid event");
            })
            .expect("valid SSE");
        buf.drain(..used);
    }
    let kept = (0..)
        .map_while(|i| d.tool_call(i))
        .map(|c| (c.id.to_string(), c.name.to_string(), c.arguments.to_string()))
        .collect();
    (kept, d.tool_calls(), d.stream_complete())
}

fn kept(calls: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    calls.iter().map(|(i, n, a)| (i.to_string(), n.to_string(), a.to_string())).collect()
}

/// Two calls, the second's fragments interleaved with the first's, as parallel calls stream.
const CHAT: &str = concat!(
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_abc00\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"ci\"}}]}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_abc01\",\"type\":\"function\",\"function\":{\"name\":\"lookup\",\"arguments\":\"{}\"}}]}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"ty\\\":\\\"P\u{e9}\\\"}\"}}]}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":5}}\n\n",
    "data: [DONE]\n\n",
);

/// Anthropic: a text block, then two `tool_use` blocks with `input_json_delta` fragments.
const ANTHROPIC: &str = concat!(
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Let me see.\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01A\",\"name\":\"lookup\",\"input\":{}}}\n\n",
    "event: ping\ndata: {\"type\": \"ping\"}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"q\\\":\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"x\\\"}\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01B\",\"name\":\"get_weather\",\"input\":{}}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":4}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);

/// Responses: two `function_call` items (ids `call_id`, not the item's `id`).
const RESPONSES: &str = concat!(
    "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\",\"output\":[]},\"sequence_number\":0}\n\n",
    "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"id\":\"fc_1\",\"type\":\"function_call\",\"status\":\"in_progress\",\"call_id\":\"call_r1\",\"name\":\"lookup\",\"arguments\":\"\"},\"sequence_number\":1}\n\n",
    "event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\",\"item_id\":\"fc_1\",\"output_index\":0,\"delta\":\"{\\\"q\\\"\",\"sequence_number\":2}\n\n",
    "event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\",\"item_id\":\"fc_1\",\"output_index\":0,\"delta\":\":1}\",\"sequence_number\":3}\n\n",
    "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":1,\"item\":{\"id\":\"fc_2\",\"type\":\"function_call\",\"call_id\":\"call_r2\",\"name\":\"get_weather\",\"arguments\":\"\"},\"sequence_number\":4}\n\n",
    "event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\",\"output_index\":1,\"delta\":\"{}\",\"sequence_number\":5}\n\n",
    "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"status\":\"completed\",\"usage\":{\"input_tokens\":9,\"output_tokens\":3}},\"sequence_number\":6}\n\n",
);

#[test]
fn every_protocol_keeps_ids_names_and_arguments_at_every_split() {
    let cases = [
        (
            ProtocolKind::OpenAiChat,
            CHAT,
            kept(&[("call_abc00", "get_weather", "{\"city\":\"P\u{e9}\"}"), ("call_abc01", "lookup", "{}")]),
        ),
        (
            ProtocolKind::Anthropic,
            ANTHROPIC,
            kept(&[("toolu_01A", "lookup", "{\"q\":\"x\"}"), ("toolu_01B", "get_weather", "")]),
        ),
        (
            ProtocolKind::OpenAiResponses,
            RESPONSES,
            kept(&[("call_r1", "lookup", "{\"q\":1}"), ("call_r2", "get_weather", "{}")]),
        ),
    ];
    for (kind, stream, want) in cases {
        let whole = same_at_every_split(stream.as_bytes(), None, |input, cuts| decode(kind, input, cuts));
        let arg_bytes = want.iter().map(|(_, _, a)| a.len() as u64).sum();
        assert_eq!(whole, (want, ToolTally { calls: 2, arg_bytes, invalid: 0 }, true), "{kind}");
    }
}

#[test]
fn a_thousand_calls_in_one_stream_are_counted_and_sixteen_kept() {
    let mut stream =
        String::from("data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n");
    for i in 0..1000 {
        stream.push_str(&format!(
            "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"tool_calls\":[{{\"index\":{i},\"id\":\"call_{i}\",\
             \"type\":\"function\",\"function\":{{\"name\":\"f\",\"arguments\":\"{{}}\"}}}}]}}}}]}}\n\n"
        ));
    }
    stream.push_str("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n");
    let (kept, tally, complete) = decode(ProtocolKind::OpenAiChat, stream.as_bytes(), &[]);
    assert_eq!(tally, ToolTally { calls: 1000, arg_bytes: 2000, invalid: 0 });
    assert!(complete);
    assert_eq!(kept.len(), MAX_KEPT);
    assert_eq!(kept[15], ("call_15".to_string(), "f".to_string(), "{}".to_string()));
}
