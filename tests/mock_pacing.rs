//! Pacing over real loopback: a stream asked for TTFT 50 ms / ITL 10 ms / 20 tokens has its
//! first token at 50 ms ± 2 ms and its gaps at 10 ms ± 2 ms, measured here with a plain
//! blocking socket. Bounds hold on a busy 2-core machine: the best of several streams is
//! checked for TTFT (noise only ever adds delay), and the median gap for ITL.

mod common;

use std::time::Duration;

use common::{post, roundtrip, Mock};

const BODY: &str = r#"{"model":"mock-gpt","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

#[test]
fn stream_hits_ttft_and_itl_deadlines() {
    let mock = Mock::start(&["--cores", "1"]);
    let headers = [("x-mock-ttft-ms", "50"), ("x-mock-itl-ms", "10"), ("x-mock-output-tokens", "20")];
    let mut best_ttft = Duration::MAX;
    let mut gaps = Vec::new();
    for _ in 0..5 {
        let r = roundtrip(&mock, &post("/v1/chat/completions", &headers, BODY));
        assert_eq!(r.status, 200);
        // Content chunks are those carrying a non-empty "content" delta.
        let content: Vec<Duration> = r
            .chunk_times
            .iter()
            .filter(|(_, d)| {
                let s = String::from_utf8_lossy(d);
                s.contains("\"content\":\"") && !s.contains("\"content\":\"\"")
            })
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(content.len(), 20, "20 content events");
        best_ttft = best_ttft.min(content[0]);
        gaps.extend(content.windows(2).map(|w| w[1] - w[0]));
    }
    // Never early: the first token is not sent before its deadline.
    assert!(best_ttft >= Duration::from_millis(50), "ttft {best_ttft:?} came early");
    assert!(best_ttft <= Duration::from_millis(52), "best ttft {best_ttft:?} over 52 ms");
    gaps.sort();
    let median = gaps[gaps.len() / 2];
    assert!(
        median >= Duration::from_millis(8) && median <= Duration::from_millis(12),
        "median gap {median:?} not within 10 ms ± 2 ms"
    );
}

#[test]
fn anthropic_stream_paces_the_same_way() {
    let mock = Mock::start(&["--cores", "1"]);
    let body = r#"{"model":"mock-claude","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let headers = [("x-mock-ttft-ms", "30"), ("x-mock-itl-ms", "5"), ("x-mock-output-tokens", "10")];
    let r = roundtrip(&mock, &post("/v1/messages", &headers, body));
    let deltas: Vec<Duration> = r
        .chunk_times
        .iter()
        .filter(|(_, d)| d.starts_with(b"event: content_block_delta"))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(deltas.len(), 10);
    assert!(deltas[0] >= Duration::from_millis(30));
    // The whole stream takes at least TTFT + 9 gaps.
    assert!(deltas[9] >= Duration::from_millis(30 + 45), "last delta at {:?}", deltas[9]);
}
