//! Tests for the SSE scanner: recorded OpenAI/Anthropic streams and WHATWG
//! edge cases, each fed whole, split at every offset and byte-at-a-time
//! (results must be identical); limits, buffer contract, writer, fuzz.

use super::*;
use crate::wire::testing::Rng;

/// OpenAI chat completions, `stream_options.include_usage = true`.
const OPENAI: &str = concat!(
    "data: {\"id\":\"chatcmpl-AXq1Zr0o8yVq3fJkE9\",\"object\":\"chat.completion.chunk\",\"created\":1732540000,\"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n",
    "data: {\"id\":\"chatcmpl-AXq1Zr0o8yVq3fJkE9\",\"object\":\"chat.completion.chunk\",\"created\":1732540000,\"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n",
    "data: {\"id\":\"chatcmpl-AXq1Zr0o8yVq3fJkE9\",\"object\":\"chat.completion.chunk\",\"created\":1732540000,\"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"!\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n",
    "data: {\"id\":\"chatcmpl-AXq1Zr0o8yVq3fJkE9\",\"object\":\"chat.completion.chunk\",\"created\":1732540000,\"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" How can I help you today?\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n",
    "data: {\"id\":\"chatcmpl-AXq1Zr0o8yVq3fJkE9\",\"object\":\"chat.completion.chunk\",\"created\":1732540000,\"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
    "data: {\"id\":\"chatcmpl-AXq1Zr0o8yVq3fJkE9\",\"object\":\"chat.completion.chunk\",\"created\":1732540000,\"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":9,\"total_tokens\":18,\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}\n\n",
    "data: [DONE]\n\n",
);

/// Anthropic Messages streaming.
const ANTHROPIC: &str = concat!(
    "event: message_start\n",
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-3-5-sonnet-20241022\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: ping\n",
    "data: {\"type\": \"ping\"}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"!\"}}\n\n",
    "event: content_block_stop\n",
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: message_delta\n",
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\n",
    "event: message_stop\n",
    "data: {\"type\":\"message_stop\"}\n\n",
);

const ANTHROPIC_EVENTS: [&str; 8] = [
    "message_start",
    "content_block_start",
    "ping",
    "content_block_delta",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
];

#[derive(Debug, Clone, PartialEq, Eq)]
struct Ev {
    event: String,
    data: String,
    id: Option<String>,
    last_id: String,
}

#[derive(Debug, PartialEq, Eq)]
struct Run {
    events: Vec<Ev>,
    error: Option<SseError>,
    stats: SseStats,
    retry: Option<u64>,
    leftover: usize,
    truncated: bool,
}

/// Exact, readable rendering of raw bytes.
fn esc(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

fn ev(e: SseEvent<'_>) -> Ev {
    Ev { event: esc(e.event), data: esc(e.data), id: e.id.map(esc), last_id: String::new() }
}

/// Feed `input` cut at `cuts` (ascending) the way a caller would: append each
/// read to a buffer, pull events until `None`, drop the consumed prefix.
fn run(input: &[u8], cuts: &[usize], limit: usize, use_scan_all: bool) -> Run {
    let mut s = SseScanner::with_max_event_bytes(limit);
    let mut buf = Vec::new();
    let mut events = Vec::new();
    let mut start = 0;
    let mut error = None;
    'reads: for end in cuts.iter().copied().chain(std::iter::once(input.len())) {
        buf.extend_from_slice(&input[start..end]);
        start = end;
        let mut pos = 0;
        if use_scan_all {
            match s.scan_all(&buf, |e| events.push(ev(e))) {
                Ok(n) => pos = n,
                Err(e) => {
                    error = Some(e);
                    break 'reads;
                }
            }
        } else {
            loop {
                match s.next_event(&buf[pos..]) {
                    Err(e) => {
                        error = Some(e);
                        break 'reads;
                    }
                    Ok((n, None)) => {
                        pos += n;
                        break;
                    }
                    Ok((n, Some(e))) => {
                        pos += n;
                        let mut e = ev(e);
                        e.last_id = esc(s.last_event_id());
                        events.push(e);
                    }
                }
            }
        }
        assert!(pos <= buf.len());
        buf.drain(..pos);
    }
    if use_scan_all {
        events.iter_mut().for_each(|e| e.last_id = "?".into());
    }
    // After an error, how much was buffered depends on the split; not compared.
    let leftover = if error.is_some() { 0 } else { buf.len() };
    let (stats, retry) = (s.stats(), s.retry());
    let truncated = error.is_none() && s.finish(&buf);
    Run { events, error, stats, retry, leftover, truncated }
}

/// Whole, every two-piece split and byte-at-a-time must agree; returns the result.
fn check_limit(input: &[u8], limit: usize) -> Run {
    let whole = run(input, &[], limit, false);
    let whole_all = run(input, &[], limit, true);
    for k in 0..=input.len() {
        assert_eq!(run(input, &[k], limit, false), whole, "split at {k}");
        assert_eq!(run(input, &[k], limit, true), whole_all, "split at {k} (scan_all)");
    }
    let bytes: Vec<usize> = (1..input.len()).collect();
    assert_eq!(run(input, &bytes, limit, false), whole, "byte-at-a-time");
    assert_eq!(run(input, &bytes, limit, true), whole_all, "byte-at-a-time (scan_all)");
    whole
}

fn check(input: &[u8]) -> Run {
    let r = check_limit(input, MAX_EVENT_BYTES);
    assert_eq!(r.error, None);
    r
}

fn datas(r: &Run) -> Vec<&str> {
    r.events.iter().map(|e| e.data.as_str()).collect()
}

fn message(data: &str) -> Ev {
    Ev { event: String::new(), data: data.into(), id: None, last_id: String::new() }
}

#[test]
fn openai_stream() {
    let r = check(OPENAI.as_bytes());
    assert_eq!(r.events.len(), 7);
    let lines: Vec<String> = OPENAI
        .split("\n\n")
        .filter(|l| !l.is_empty())
        .map(|l| esc(l.strip_prefix("data: ").unwrap().as_bytes()))
        .collect();
    assert_eq!(datas(&r), lines);
    assert!(r.events.iter().all(|e| e.event.is_empty() && e.id.is_none()));
    assert!(r.events[0].data.contains("\\\"role\\\":\\\"assistant\\\""));
    assert!(r.events[5].data.contains("\\\"choices\\\":[]"));
    assert_eq!(r.events[6].data, "[DONE]");
    assert_eq!(r.stats, SseStats { events: 7, comments: 0, empty_blocks: 0 });
    assert_eq!((r.leftover, r.truncated), (0, false));
}

#[test]
fn anthropic_stream() {
    let r = check(ANTHROPIC.as_bytes());
    let names: Vec<&str> = r.events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ANTHROPIC_EVENTS);
    assert!(r
        .events
        .iter()
        .all(|e| e.data.starts_with("{\\\"type\\\":") || e.data == "{\\\"type\\\": \\\"ping\\\"}"));
    assert_eq!((r.leftover, r.truncated, r.stats.events), (0, false, 8));
}

#[test]
fn crlf_and_lone_cr_streams_match_lf() {
    let lf = check(ANTHROPIC.as_bytes());
    let crlf = check(ANTHROPIC.replace('\n', "\r\n").as_bytes());
    let cr = check(ANTHROPIC.replace('\n', "\r").as_bytes());
    assert_eq!(crlf.events, lf.events);
    assert_eq!(cr.events, lf.events);
    assert_eq!(check(OPENAI.replace('\n', "\r").as_bytes()).events, check(OPENAI.as_bytes()).events);
    // Mixed terminators within one block, and CR LF split over blank lines.
    let r = check(b"data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r");
    assert_eq!(datas(&r), ["a\\nb\\nc", "d"]);
}

#[test]
fn comments_keepalive() {
    // Interleave keep-alives between the recorded events.
    let mut input = String::from(": keep-alive\n\n");
    for (i, event) in OPENAI.split_inclusive("\n\n").enumerate() {
        input.push_str(event);
        match i {
            2 => input.push_str(": OPENROUTER PROCESSING\n\n"),
            4 => input.push_str(":\n"),
            _ => {}
        }
    }
    let r = check(input.as_bytes());
    assert_eq!(r.events, check(OPENAI.as_bytes()).events);
    assert_eq!(r.stats.comments, 3);
    assert_eq!(r.stats.empty_blocks, 0);
    // A comment inside an event does not disturb it.
    assert_eq!(datas(&check(b"data: a\n: hi\ndata: b\n\n")), ["a\\nb"]);
}

#[test]
fn multi_line_data_is_joined() {
    let r = check(b"data: line1\ndata: line2\ndata:\ndata: line4\n\n");
    assert_eq!(datas(&r), ["line1\\nline2\\n\\nline4"]);
    // WHATWG example.
    assert_eq!(datas(&check(b"data: YHOO\ndata: +2\ndata: 10\n\n")), ["YHOO\\n+2\\n10"]);
}

#[test]
fn colon_space_handling() {
    let r = check(b"data:{\"a\":1}\n\ndata:  two spaces\n\ndata: \n\ndata\n\nevent:x\ndata:y\n\n");
    assert_eq!(datas(&r), ["{\\\"a\\\":1}", " two spaces", "", "", "y"]);
    assert_eq!(r.events[4].event, "x");
}

#[test]
fn retry_and_id_fields() {
    let r = check(b"retry: 3000\nid: 42\ndata: hello\n\ndata: next\n\nid\ndata: reset\n\nid: a\0b\nretry: 12a\nretry:\ndata: nul\n\n");
    assert_eq!(
        r.events,
        [
            Ev { event: "".into(), data: "hello".into(), id: Some("42".into()), last_id: "42".into() },
            Ev { event: "".into(), data: "next".into(), id: None, last_id: "42".into() },
            Ev { event: "".into(), data: "reset".into(), id: Some("".into()), last_id: "".into() },
            Ev { event: "".into(), data: "nul".into(), id: None, last_id: "".into() },
        ]
    );
    assert_eq!(r.retry, Some(3000));
    assert_eq!(check(b"retry: 99999999999999999999\ndata: x\n\n").retry, None);
    // `retry`/`id` take effect even without a dispatch.
    let r = check(b"retry: 10\nid: 7\n\n");
    assert_eq!((r.retry, r.stats.empty_blocks, r.events.len()), (Some(10), 1, 0));
}

#[test]
fn whatwg_spec_examples() {
    let r =
        check(b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n");
    assert_eq!(
        r.events,
        [
            Ev { event: "".into(), data: "first event".into(), id: Some("1".into()), last_id: "1".into() },
            Ev { event: "".into(), data: "second event".into(), id: Some("".into()), last_id: "".into() },
        ]
    );
    assert!(r.truncated, "third event has no blank line: discarded");
    let r = check(b"data\n\ndata\ndata\n\ndata:");
    assert_eq!(datas(&r), ["", "\\n"]);
    assert!(r.truncated);
    assert_eq!(datas(&check(b"data:test\n\ndata: test\n\n")), ["test", "test"]);
}

#[test]
fn blocks_without_data_are_not_dispatched() {
    let r = check(b"event: ping\n\nevent: x\ndata: y\n\nevent: lost\nid: 3\n\ndata: z\n\n");
    assert_eq!(r.events[0], Ev { event: "x".into(), data: "y".into(), id: None, last_id: "".into() });
    assert_eq!(r.events[1], Ev { event: "".into(), data: "z".into(), id: None, last_id: "3".into() });
    assert_eq!(r.stats, SseStats { events: 2, comments: 0, empty_blocks: 2 });
}

#[test]
fn field_names_are_exact() {
    let r = check(b"Data: no\nDATA: no\ndata : no\nfoo: bar\n\ndata: yes\nevent\n\n");
    assert_eq!(r.events, [message("yes")]);
    assert_eq!(r.stats.empty_blocks, 1);
}

#[test]
fn bom_is_skipped_once() {
    assert_eq!(check(b"\xEF\xBB\xBFdata: x\n\n").events, [message("x")]);
    assert_eq!(check(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\ndata: y\n\n").events, [message("y")]);
    assert_eq!(check(b"\xEFdata: x\n\n").events, []);
    assert_eq!(check(b"\xEF\xBB").leftover, 2);
}

#[test]
fn truncation_at_eof() {
    assert!(!check(b"data: x\n\n").truncated);
    assert!(!check(b"data: x\n\n: bye\n").truncated);
    assert!(check(b"data: x\n\ndata: par").truncated);
    assert!(check(b"data: a\n").truncated);
    assert!(check(b"data: a\r").truncated);
    let r = check(b"data: a\n\nevent: x\ndata: b\n");
    assert_eq!((r.events.len(), r.leftover, r.truncated), (1, 17, true));
}

#[test]
fn consumed_advances_by_whole_blocks() {
    let mut s = SseScanner::new();
    let buf = b"data: a\n\ndata: b\n\ndata: c";
    let (n, e) = s.next_event(buf).unwrap();
    assert_eq!((n, e.unwrap().data), (9, &b"a"[..]));
    let (m, e) = s.next_event(&buf[9..]).unwrap();
    assert_eq!((m, e.unwrap().data), (9, &b"b"[..]));
    assert_eq!(s.next_event(&buf[18..]).unwrap(), (0, None));
    assert_eq!(s.next_event(b"data: c\n").unwrap(), (0, None));
    assert_eq!(
        s.next_event(b"data: c\n\n").unwrap(),
        (9, Some(SseEvent { event: b"", data: b"c", id: None }))
    );
    // Keep-alives never pile up in the caller's buffer.
    let mut s = SseScanner::new();
    assert_eq!(s.next_event(b": ka\n\n: ka\n\n: k").unwrap(), (12, None));
    // A CR as last byte dispatches; its LF is skipped on the next call.
    let mut s = SseScanner::new();
    assert_eq!(s.next_event(b"data: a\n\r").unwrap().0, 9);
    let (n, e) = s.next_event(b"\ndata: b\n\n").unwrap();
    assert_eq!((n, e.unwrap().data), (10, &b"b"[..]));
}

#[test]
fn single_line_data_is_zero_copy_and_scratch_is_reused() {
    let mut s = SseScanner::new();
    let buf = b"event: e\ndata: payload\n\n";
    let e = s.next_event(buf).unwrap().1.unwrap();
    assert!(std::ptr::eq(e.data.as_ptr(), buf[15..].as_ptr()));
    assert!(std::ptr::eq(e.event.as_ptr(), buf[7..].as_ptr()));
    assert_eq!(e.event_type(), b"e");
    assert_eq!(e.data_str(), Ok("payload"));

    let e = s.next_event(b"data: a\ndata: b\n\n").unwrap().1.unwrap();
    assert_eq!(e.event_type(), b"message");
    let first = e.data.as_ptr();
    let e = s.next_event(b"data: c\ndata: d\n\n").unwrap().1.unwrap();
    assert_eq!(e.data, b"c\nd");
    assert!(std::ptr::eq(first, e.data.as_ptr()), "scratch reallocated");
}

#[test]
fn oversized_event_is_rejected() {
    let limit = 64;
    // The blank line may start at most `limit` bytes into the block.
    let ok = format!("data: {}\n\n", "x".repeat(limit - 7));
    assert_eq!(check_limit(ok.as_bytes(), limit).events.len(), 1);
    let bad = format!("data: ok\n\ndata: {}\n\ndata: never\n\n", "x".repeat(limit - 6));
    let r = check_limit(bad.as_bytes(), limit);
    assert_eq!(datas(&r), ["ok"]);
    let err = r.error.unwrap();
    assert_eq!(err.kind(), SseErrorKind::EventTooLarge);
    assert_eq!(err.to_string(), "event exceeds 64 bytes without a blank line");
    // Same for a flood of comments or of short lines without a blank line.
    assert!(check_limit(": ka\n".repeat(20).as_bytes(), limit).error.is_some());
    assert!(check_limit("data: x\n".repeat(20).as_bytes(), limit).error.is_some());
    assert!(check_limit(": ka\n\n".repeat(200).as_bytes(), limit).error.is_none());
    // An unterminated line counts as well.
    assert!(check_limit("x".repeat(limit + 1).as_bytes(), limit).error.is_some());
    assert!(check_limit("x".repeat(limit).as_bytes(), limit).error.is_none());
}

#[test]
fn default_limit_message() {
    let big = vec![b'a'; MAX_EVENT_BYTES + 1];
    let err = SseScanner::new().next_event(&big).unwrap_err();
    assert_eq!(err.to_string(), "event exceeds 1048576 bytes without a blank line");
    assert!(SseScanner::new().next_event(&big[..MAX_EVENT_BYTES]).is_ok());
}

#[test]
fn buffer_contract_violation_is_an_error() {
    let mut s = SseScanner::new();
    assert_eq!(s.next_event(b"data: abc").unwrap(), (0, None));
    let err = s.next_event(b"data").unwrap_err();
    assert_eq!(err.kind(), SseErrorKind::BufferContract);
    let _: &dyn std::error::Error = &err;
    s.reset();
    assert_eq!(s.next_event(b"data: z\n\n").unwrap().1.unwrap().data, b"z");
}

#[test]
fn writer_round_trips() {
    let mut out = Vec::new();
    write_comment(&mut out, "keep-alive");
    write_event(&mut out, Some("content_block_delta"), br#"{"type":"content_block_delta"}"#);
    write_event(&mut out, None, b"[DONE]");
    assert_eq!(
        out,
        b": keep-alive\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\"}\n\ndata: [DONE]\n\n"
    );
    let r = check(&out);
    assert_eq!(r.events[0].event, "content_block_delta");
    assert_eq!(r.events[1], message("[DONE]"));
    assert_eq!(r.stats.comments, 1);
}

#[cfg(debug_assertions)]
#[test]
#[should_panic(expected = "line break")]
fn writer_rejects_newlines_in_debug() {
    write_event(&mut Vec::new(), None, b"a\nb");
}

/// xorshift64: deterministic, no extra crates.
#[test]
fn fuzz_no_panic_and_split_invariant() {
    const TOKENS: &[&[u8]] = &[
        b"data",
        b"data: ",
        b"event:",
        b"id:",
        b"retry: ",
        b":",
        b" ",
        b"\r",
        b"\n",
        b"\r\n",
        b"\n\n",
        b"x",
        b"42",
        b"\0",
        b"\xEF\xBB\xBF",
        b"\xEF",
        b"\xff",
        b"id",
    ];
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for _ in 0..20_000 {
        let mut input = Vec::new();
        for _ in 0..rng.below(24) {
            match rng.below(8) {
                0 => input.push(rng.next() as u8),
                _ => input.extend_from_slice(TOKENS[rng.below(TOKENS.len())]),
            }
        }
        let limit = 8 + rng.below(40);
        let whole = run(&input, &[], limit, false);
        let mut cuts: Vec<usize> = (0..1 + rng.below(4)).map(|_| rng.below(input.len() + 1)).collect();
        cuts.sort_unstable();
        assert_eq!(run(&input, &cuts, limit, false), whole, "{:?} cut at {cuts:?}", esc(&input));
    }
}

#[test]
fn fuzz_contract_misuse_never_panics() {
    // Unrelated buffers on every call (breaking the contract) must only ever
    // produce garbage or errors, never a panic.
    let mut rng = Rng(0x0123_4567_89AB_CDEF);
    let mut s = SseScanner::with_max_event_bytes(32);
    for i in 0..5_000 {
        const ALPHABET: &[u8] = b"data: \r\n:xe";
        let input: Vec<u8> = (0..rng.below(40)).map(|_| ALPHABET[rng.below(ALPHABET.len())]).collect();
        let _ = s.next_event(&input);
        if i % 97 == 0 {
            let _ = s.finish(&input);
        }
    }
}
