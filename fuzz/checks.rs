// Invariants the fuzz targets check, one function per target. Included by each target
// (`include!`) and by tests/fuzz_replay.rs, which runs every committed corpus and regression
// input through the same functions under plain `cargo test`.
//
// "No panic" is only the floor: each parser must give the same result however its input is
// split (a server's bytes arrive in arbitrary reads), and never claim more bytes consumed than
// it was given.

use llmload::protocol::{Decoder, ProtocolKind};
use llmload::wire::body::BodyDecoder;
use llmload::wire::head::{Framing, EMPTY_HEADER};
use llmload::wire::request::{parse_request, MAX_REQUEST_HEADERS};
use llmload::wire::response::{parse_response, Parsed};
use llmload::wire::sse::SseScanner;

/// Where to split `data` into reads: every byte for short inputs, else a few cuts derived
/// from the data itself (so a given input always splits the same way).
fn splits(data: &[u8]) -> Vec<Vec<usize>> {
    let n = data.len();
    let mut out = vec![vec![n]];
    if n <= 64 {
        out.push((1..=n).collect());
        for k in 0..n {
            out.push(vec![k, n]);
        }
    } else {
        let h = data.iter().fold(0usize, |h, &b| h.wrapping_mul(31).wrapping_add(usize::from(b)));
        out.push(vec![h % n, n]);
        out.push(vec![n / 3, (h >> 8) % n].into_iter().chain([n]).collect::<Vec<_>>());
        out.push((1..=n).step_by(7).chain([n]).collect());
    }
    for cuts in &mut out {
        cuts.sort_unstable();
        cuts.dedup();
    }
    out
}

/// The prefix lengths a head check tries: all of them for short inputs, else every 7th and
/// the last few (a long input is mostly body, and the check is quadratic).
fn prefixes(n: usize) -> Vec<usize> {
    if n <= 512 {
        (0..n).collect()
    } else {
        (0..n).step_by(7).chain(n.saturating_sub(16)..n).collect()
    }
}

/// What an SSE scan produced: the events (type, data, id) and whether it failed.
type Events = (Vec<(Vec<u8>, Vec<u8>, Option<Vec<u8>>)>, bool);

/// Feeds `data` to a scanner in reads ending at `cuts`, as the client does (append, scan,
/// drop what was consumed).
fn scan(data: &[u8], cuts: &[usize], limit: usize) -> Events {
    let mut scanner = SseScanner::with_max_event_bytes(limit);
    let (mut buf, mut events, mut from) = (Vec::new(), Vec::new(), 0);
    for &to in cuts {
        buf.extend_from_slice(&data[from..to]);
        from = to;
        let scanned = scanner.scan_all(&buf, |ev| {
            events.push((ev.event.to_vec(), ev.data.to_vec(), ev.id.map(<[u8]>::to_vec)))
        });
        match scanned {
            Ok(n) => {
                assert!(n <= buf.len(), "consumed {n} of {} bytes", buf.len());
                buf.drain(..n);
            }
            Err(_) => return (events, true),
        }
    }
    (events, false)
}

/// The SSE scanner dispatches the same events, and fails the same way, at every split.
pub fn sse(data: &[u8]) {
    // A small block limit, so the too-large path is reached too.
    for limit in [64, 1 << 20] {
        let whole = scan(data, &[data.len()], limit);
        for cuts in splits(data) {
            assert_eq!(scan(data, &cuts, limit), whole, "split at {cuts:?}, limit {limit}");
        }
    }
}

/// What a body decode produced: the payload, the bytes consumed when it finished (None: it
/// needs more), and the error if it failed.
type Decoded = (Vec<u8>, Option<usize>, Option<String>);

/// The framing a body input is decoded with: chosen by its first byte (the rest is the body).
fn framing_of(data: &[u8]) -> (Framing, &[u8]) {
    match data.split_first() {
        None => (Framing::Chunked, data),
        Some((&b, rest)) => match b % 3 {
            0 => (Framing::Chunked, rest),
            1 => (Framing::UntilClose, rest),
            _ => (Framing::Length(u64::from(b) * 3), rest),
        },
    }
}

fn decode(framing: Framing, data: &[u8], cuts: &[usize], close: bool) -> Decoded {
    let mut decoder = BodyDecoder::new(framing);
    let (mut out, mut from, mut consumed) = (Vec::new(), 0, 0);
    for &to in cuts {
        let input = &data[from..to];
        from = to;
        match decoder.decode_into(input, &mut out) {
            Ok((n, done)) => {
                assert!(n <= input.len(), "consumed {n} of {}", input.len());
                consumed += n;
                if done {
                    return (out, Some(consumed), None);
                }
                assert_eq!(n, input.len(), "not done, so every byte is consumed");
            }
            Err(e) => return (out, None, Some(format!("{:?}", e.kind()))),
        }
    }
    // The peer closed after the last byte: that ends an until-close body only.
    let done = close && decoder.eof();
    (out, done.then_some(consumed), None)
}

/// The body decoder yields the same payload, ends at the same byte and fails the same way at
/// every split, for every framing; a close ends only an until-close body.
pub fn body(data: &[u8]) {
    let (framing, data) = framing_of(data);
    for close in [false, true] {
        let whole = decode(framing, data, &[data.len()], close);
        for cuts in splits(data) {
            assert_eq!(decode(framing, data, &cuts, close), whole, "{framing:?}, split at {cuts:?}");
        }
        if let (Framing::Length(n), Some(end)) = (framing, whole.1) {
            assert_eq!(end as u64, n, "a Length body ends after exactly its length");
        }
    }
}

/// A head parser's verdict on every prefix is "need more" (having dropped no more than the
/// prefix) or already the verdict on the whole; a complete head never extends past the input.
pub fn response(data: &[u8]) {
    let whole = parse_response(data);
    if let Ok(Parsed::Complete(head)) = &whole {
        assert!(head.len <= data.len(), "head of {} bytes in {}", head.len, data.len());
        assert!(!(head.keep_alive && head.framing == Framing::UntilClose), "until-close is never reused");
    }
    for k in prefixes(data.len()) {
        match parse_response(&data[..k]) {
            Ok(Parsed::Partial { interim }) => assert!(interim <= k),
            prefix => assert_eq!(prefix, whole, "prefix of {k} bytes"),
        }
    }
}

/// The same for request heads (the mock's parser).
pub fn request(data: &[u8]) {
    let verdict = |input: &[u8]| {
        let mut headers = [EMPTY_HEADER; MAX_REQUEST_HEADERS];
        parse_request(input, &mut headers)
            .map(|h| h.map(|h| (h.method.to_string(), h.path.to_string(), h.framing, h.keep_alive, h.len)))
    };
    let whole = verdict(data);
    if let Ok(Some(head)) = &whole {
        assert!(head.4 <= data.len());
    }
    for k in prefixes(data.len()) {
        match verdict(&data[..k]) {
            Ok(None) => {}
            prefix => assert_eq!(prefix, whole, "prefix of {k} bytes"),
        }
    }
}

/// What a decoder made of a stream: content events and chars, the last usage, error, done,
/// the reply text, whether the scan failed, and the tool calls kept (id, name, arguments).
type Decoded2 = (u64, u64, Option<(u64, u64)>, bool, bool, String, bool, Vec<(String, String, String)>);

fn decode_stream(kind: ProtocolKind, data: &[u8], cuts: &[usize]) -> Decoded2 {
    let mut decoder = kind.decoder();
    let (events, failed) = scan(data, cuts, 1 << 20);
    let mut reply = String::new();
    let (mut n, mut chars, mut usage, mut error, mut done) = (0, 0, None, false, false);
    for (name, payload, _) in &events {
        let name = if name.is_empty() { &b"message"[..] } else { name };
        match decoder.event(name, payload, Some(&mut reply)) {
            Ok(seen) => {
                n += u64::from(seen.content_chars > 0);
                chars += seen.content_chars;
                usage = seen.usage.map(|u| (u.prompt_tokens, u.completion_tokens)).or(usage);
                error |= seen.error;
                done |= seen.done;
            }
            Err(_) => error = true,
        }
    }
    assert_eq!(chars, reply.chars().count() as u64, "{}: counted chars are the reply's", kind.name());
    let calls = (0..)
        .map_while(|i| decoder.tool_call(i))
        .map(|c| (c.id.to_string(), c.name.to_string(), c.arguments.to_string()))
        .collect();
    (n, chars, usage, error, done || decoder.stream_complete(), reply, failed, calls)
}

/// Every protocol decoder: a body or an event of any bytes is an outcome (never a panic),
/// the content it counts is the text it keeps (or one char for a reply whose only content is
/// a block without text), and a stream decodes the same at every split (tool calls kept too).
pub fn protocol(data: &[u8]) {
    for kind in ProtocolKind::ALL {
        let mut decoder = kind.decoder();
        let mut reply = String::new();
        if let Ok(seen) = decoder.body(data, Some(&mut reply)) {
            let kept = reply.chars().count() as u64;
            // Reasoning and tool-call arguments count as output but are not reply text.
            assert!(
                kept <= seen.content_chars.max(1),
                "{}: body counts {} chars, keeps {kept}",
                kind.name(),
                seen.content_chars
            );
        }
        // The same bytes as one event: the name up to the first NUL, the data after it.
        decoder.reset();
        let (name, payload) = match data.iter().position(|&b| b == 0) {
            Some(i) => (&data[..i], &data[i + 1..]),
            None => (&b"message"[..], data),
        };
        let _ = decoder.event(name, payload, None);
        let whole = decode_stream(kind, data, &[data.len()]);
        for cuts in splits(data).into_iter().take(8) {
            assert_eq!(decode_stream(kind, data, &cuts), whole, "{}: split at {cuts:?}", kind.name());
        }
    }
}
