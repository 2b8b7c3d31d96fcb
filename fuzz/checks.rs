// Invariants the fuzz targets check, one function per target. Included by each target
// (`include!`) and by tests/fuzz_replay.rs, which runs every committed corpus and regression
// input through the same functions under plain `cargo test`.
//
// "No panic" is only the floor: each parser must give the same result however its input is
// split (a server's bytes arrive in arbitrary reads), and never claim more bytes consumed than
// it was given.

use llmload::protocol::ProtocolKind;
use llmload::wire::chunked::ChunkedDecoder;
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

/// What a chunked decode produced: the payload, the bytes consumed when it finished (None:
/// it needs more), and the error kind if it failed.
type Decoded = (Vec<u8>, Option<usize>, Option<String>);

fn dechunk(data: &[u8], cuts: &[usize]) -> Decoded {
    let mut decoder = ChunkedDecoder::new();
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
    (out, None, None)
}

/// The chunked decoder yields the same payload, ends at the same byte and fails the same
/// way at every split.
pub fn chunked(data: &[u8]) {
    let whole = dechunk(data, &[data.len()]);
    for cuts in splits(data) {
        let got = dechunk(data, &cuts);
        // Payload before an error may stop at a different byte, never beyond the whole's.
        assert_eq!((&got.1, &got.2), (&whole.1, &whole.2), "split at {cuts:?}");
        assert_eq!(got.0, whole.0, "split at {cuts:?}");
    }
}

/// What a decoder made of a stream: content events and chars, the last usage, error, done,
/// the reply text, and whether the scan failed.
type Decoded2 = (u64, u64, Option<(u64, u64)>, bool, bool, String, bool);

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
    (n, chars, usage, error, done || decoder.stream_complete(), reply, failed)
}

/// Every protocol decoder: a body or an event of any bytes is an outcome (never a panic),
/// the content it counts is the text it keeps, and a stream decodes the same at every split.
pub fn protocol(data: &[u8]) {
    for kind in ProtocolKind::ALL {
        let mut decoder = kind.decoder();
        let mut reply = String::new();
        if let Ok(seen) = decoder.body(data, Some(&mut reply)) {
            assert_eq!(seen.content_chars, reply.chars().count() as u64, "{}: body", kind.name());
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
