//! The mock's capacity model over real loopback: a batched scheduler whose TTFT and ITL rise
//! with load as the model's equations predict, whose throughput saturates at
//! max_batch / step tokens per second (so `llmload knee` finds a knee), and whose own
//! `/metrics` agree with what clients see. Bounds are generous for a busy 2-core machine;
//! the mock's scheduler figures (computed on its own step times) are checked tightly.

mod common;

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{llmload, post, read_response, roundtrip, run_llmload, tempdir, Mock};

/// Every sample of `/metrics` as (name, value).
fn scrape(mock: &Mock) -> Vec<(String, f64)> {
    let r = roundtrip(mock, b"GET /metrics HTTP/1.1\r\nhost: t\r\n\r\n");
    String::from_utf8(r.body)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' ').map(|(k, v)| (k.to_string(), v.parse().unwrap())))
        .collect()
}

fn value(samples: &[(String, f64)], name: &str) -> f64 {
    samples.iter().find(|(k, _)| k == name).unwrap_or_else(|| panic!("{name} missing")).1
}

/// Mean of a histogram family, in seconds.
fn mean(samples: &[(String, f64)], family: &str) -> f64 {
    value(samples, &format!("{family}_sum")) / value(samples, &format!("{family}_count"))
}

fn content_times(r: &common::Response) -> Vec<Duration> {
    r.chunk_times
        .iter()
        .filter(|(_, d)| {
            let s = String::from_utf8_lossy(d);
            s.contains("\"content\":\"") && !s.contains("\"content\":\"\"")
        })
        .map(|(t, _)| *t)
        .collect()
}

#[test]
fn at_low_load_ttft_is_prefill_plus_one_step_and_itl_is_a_step() {
    let mock = Mock::start(&["--cores", "1", "--capacity", "max_batch=4,step=20ms,prefill=100us"]);
    // 400 characters: ⌈400 / 4⌉ + 3 + 3 = 106 prompt tokens → 10.6 ms of prefill.
    let body = format!(
        r#"{{"model":"mock-gpt","stream":true,"messages":[{{"role":"user","content":"{}"}}]}}"#,
        "a".repeat(400)
    );
    let predicted = Duration::from_micros(20_000 + 10_600);
    let mut ttfts = Vec::new();
    let mut gaps = Vec::new();
    for _ in 0..3 {
        let r = roundtrip(&mock, &post("/v1/chat/completions", &[("x-mock-output-tokens", "10")], &body));
        assert_eq!(r.status, 200);
        let t = content_times(&r);
        assert_eq!(t.len(), 10);
        ttfts.push(t[0]);
        gaps.extend(t.windows(2).map(|w| w[1] - w[0]));
    }
    let best = *ttfts.iter().min().unwrap();
    assert!(ttfts.iter().all(|&t| t >= predicted), "a first token came before {predicted:?}: {ttfts:?}");
    assert!(best <= predicted + Duration::from_millis(15), "best ttft {best:?}, predicted {predicted:?}");
    gaps.sort();
    let median = gaps[gaps.len() / 2];
    assert!(
        (Duration::from_millis(16)..=Duration::from_millis(26)).contains(&median),
        "median gap {median:?}, predicted 20 ms"
    );
    // The scheduler's own view is exact: its times are the model's, not the timers'.
    let m = scrape(&mock);
    assert!((mean(&m, "llmload_mock_batch_ttft_seconds") - 0.0306).abs() < 1e-6, "{m:?}");
    assert_eq!(value(&m, "llmload_mock_batch_steps_total"), 30.0);
    assert_eq!(value(&m, "llmload_mock_batch_prefill_tokens_total"), 318.0);
    assert_eq!(value(&m, "llmload_mock_batch_queue_seconds_sum"), 0.0);
    assert_eq!(value(&m, "llmload_mock_batch_running"), 0.0);
}

/// A closed-loop run of `concurrency` streams of 20 tokens against a fresh mock with 4 slots
/// and 10 ms steps: (client summary's figures, the mock's samples).
fn closed_loop(concurrency: usize) -> (serde_json::Value, Vec<(String, f64)>) {
    let mock = Mock::start(&["--cores", "1", "--capacity", "max_batch=4,step=10ms"]);
    let target = format!("http://{}/v1/chat/completions", mock.addr);
    let stages = format!("{concurrency}:3s");
    let run = run_llmload(
        &["--target", &target, "--stages", &stages, "--stream", "--cores", "1"]
            .into_iter()
            .chain(["--header", "x-mock-output-tokens: 20"])
            .collect::<Vec<_>>(),
        Duration::from_secs(60),
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let all = run.summary["stages"][0]["all"].clone();
    assert_eq!(all["failed"], 0, "{all}");
    (all, scrape(&mock))
}

#[test]
fn beyond_max_batch_requests_queue_and_throughput_saturates() {
    let (at4, m4) = closed_loop(4);
    let (at8, m8) = closed_loop(8);
    let ttft_ms = |all: &serde_json::Value| all["us"]["ttft"]["p50"].as_f64().unwrap() / 1e3;
    let (t4, t8) = (ttft_ms(&at4), ttft_ms(&at8));
    // As many streams as slots: no queue; the first token is one or two steps away (a
    // request arriving mid-step joins at the next boundary).
    let q4 = mean(&m4, "llmload_mock_batch_queue_seconds");
    assert!(q4 <= 0.0101, "mean queue {q4}s with a free slot for every stream");
    assert!((9.0..=40.0).contains(&t4), "ttft p50 {t4} ms at 4 streams");
    // Twice as many: each waits for a slot one 20-token reply long, 20 × 10 ms (Little:
    // 8 streams / (4 slots / 200 ms) = 400 ms a request, 200 ms of it decoding).
    let q8 = mean(&m8, "llmload_mock_batch_queue_seconds");
    assert!((0.14..=0.26).contains(&q8), "mean queue {q8}s at 8 streams, predicted 0.2 s");
    assert!((140.0..=300.0).contains(&(t8 - t4)), "ttft p50 {t4} → {t8} ms, predicted +190 ms");
    // A full batch every step, and max_batch / step = 400 tokens/s at the client.
    let batch8 =
        value(&m8, "llmload_mock_batch_sequence_steps_total") / value(&m8, "llmload_mock_batch_steps_total");
    assert!(batch8 >= 3.5, "mean batch {batch8} with a queue");
    let tps8 = at8["output_tokens_per_s"].as_f64().unwrap();
    let tps4 = at4["output_tokens_per_s"].as_f64().unwrap();
    assert!((300.0..=410.0).contains(&tps8), "{tps8} tokens/s at 8 streams, capacity 400");
    assert!(
        tps8 <= tps4 * 1.15,
        "doubling the streams past the batch did not add throughput: {tps4} → {tps8}"
    );
    // ITL is a step either way (no prefill cost here).
    let itl8 = at8["us"]["itl"]["p50"].as_f64().unwrap() / 1e3;
    assert!((8.0..=13.0).contains(&itl8), "itl p50 {itl8} ms");
}

#[test]
fn knee_finds_the_batch_capacity() {
    // 4 slots × 10 ms steps, 10 tokens a reply: 400 tokens/s = 40 requests/s; beyond it the
    // queue grows and the served rate falls behind the offered one.
    let mock = Mock::start(&["--cores", "1", "--capacity", "max_batch=4,step=10ms"]);
    let out = tempdir("knee-capacity");
    let o = common::run_limited(
        Command::new(env!("CARGO_BIN_EXE_llmload"))
            .args(["knee", "--target", &format!("http://{}/v1", mock.addr), "--slo", "error_rate=1%"])
            .args(["--start-rate", "10", "--probe", "3s", "--probe-warmup", "1s", "--grace", "1s"])
            .args(["--connections", "16", "--cores", "1", "--header", "x-mock-output-tokens: 10", "--out"])
            .arg(&out),
        Duration::from_secs(240),
    );
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let line = stdout.lines().find(|l| l.starts_with("knee at ")).unwrap_or_else(|| panic!("{stdout}"));
    let knee: f64 = line["knee at ".len()..].split('/').next().unwrap().parse().unwrap();
    assert!((24.0..=46.0).contains(&knee), "knee {knee}/s, predicted 40/s\n{stdout}");
    assert!(stdout.contains("served"), "the failing probes fell behind on the served rate\n{stdout}");
    let m = scrape(&mock);
    assert!(value(&m, "llmload_mock_batch_queue_seconds_sum") > 0.0, "past the knee requests queued");
}

#[test]
fn a_full_queue_is_the_providers_overloaded_and_a_gone_client_frees_its_slot() {
    let mock = Mock::start(&["--cores", "1", "--capacity", "max_batch=1,step=10ms,queue=0"]);
    let chat = r#"{"model":"mock-gpt","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    // One 100-token stream (about 1 s) takes the only slot.
    let mut holder = mock.connect();
    holder.write_all(&post("/v1/chat/completions", &[("x-mock-output-tokens", "100")], chat)).unwrap();
    let mut first = [0u8; 12];
    std::io::Read::read_exact(&mut holder, &mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    let r = roundtrip(&mock, &post("/v1/chat/completions", &[], chat));
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["error"]["type"], "service_unavailable_error", "{v}");
    let messages = r#"{"model":"mock-claude","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}"#;
    let r = roundtrip(&mock, &post("/v1/messages", &[("anthropic-version", "2023-06-01")], messages));
    assert_eq!(r.status, 529);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["error"]["type"], "overloaded_error", "{v}");

    // The client goes away: the mock notices at its next token and the slot is free again.
    drop(holder);
    let began = Instant::now();
    let m = loop {
        let m = scrape(&mock);
        if value(&m, "llmload_mock_batch_running") == 0.0 || began.elapsed() > Duration::from_secs(5) {
            break m;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(value(&m, "llmload_mock_batch_running"), 0.0, "the slot was not freed");
    assert_eq!(value(&m, "llmload_mock_batch_aborted_total"), 1.0);
    assert_eq!(value(&m, "llmload_mock_batch_rejected_total"), 2.0);
    assert!(value(&m, "llmload_mock_batch_tokens_total") < 100.0, "generation stopped with the client");
    // A non-streaming request now gets the slot and waits for its tokens: 3 × 10 ms.
    let body = r#"{"model":"mock-gpt","messages":[{"role":"user","content":"hi"}]}"#;
    let mut s = mock.connect();
    let sent = Instant::now();
    s.write_all(&post("/v1/chat/completions", &[("x-mock-output-tokens", "3")], body)).unwrap();
    let r = read_response(&mut s, sent);
    assert_eq!(r.status, 200);
    assert!(sent.elapsed() >= Duration::from_millis(30), "sent before its 3 steps: {:?}", sent.elapsed());
}

#[test]
fn bad_capacity_values_are_refused_naming_the_field() {
    for (spec, needle) in [
        ("max_batch=0,step=10ms", "capacity: max_batch"),
        ("max_batch=4", "capacity: step: missing"),
        ("max_batch=4,step=10ms,prefill=fast", "capacity: prefill"),
        ("max_batch=4,step=10ms,queue=x", "capacity: queue"),
        ("max_batch=4,step=10ms,bogus=1", "capacity: unknown field \"bogus\""),
    ] {
        let (code, _, err) = llmload(&["mock", "--listen", "127.0.0.1:0", "--capacity", spec]);
        assert_eq!(code, 2, "{spec}: {err}");
        assert!(err.contains(needle), "{spec}: {err}");
    }
    let config = tempdir("capacity-config").join("mock.json");
    std::fs::write(&config, r#"{"capacity": "max_batch=4,step=5us"}"#).unwrap();
    let (code, _, err) = llmload(&["mock", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("capacity: step: 5µs is below 50µs"), "{err}");
    let (code, out, err) = llmload(&["mock", "--capacity", "max_batch=4,step=10ms", "--print-config"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(r#""capacity": "max_batch=4,step=10ms""#), "{out}");
}
