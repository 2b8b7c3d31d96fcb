//! Rate limits end to end: the mock's `--rate-limit` windows answer 429 in each provider's
//! shape and headers and count it on /metrics; llmload counts 429s apart (with their
//! `retry-after` histogram) and, with a `retry` policy, waits what `retry-after` asks, keeps
//! latency from the first attempt and counts retries apart.

mod common;

use std::time::Duration;

use common::{assert_accounted, post, profile_file, roundtrip, run_llmload, stage_all, Mock};
use serde_json::{json, Value};

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("a count: {v}"))
}

/// The short id llmload and the mock show a key under: the first 8 hex digits of its SHA-256.
fn key_id(key: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes()).iter().take(4).map(|b| format!("{b:02x}")).collect()
}

fn chat(key: &str) -> Vec<u8> {
    let auth = format!("Bearer {key}");
    post(
        "/v1/chat/completions",
        &[("authorization", &auth)],
        r#"{"model":"mock-gpt","messages":[{"role":"user","content":"hi"}],"max_tokens":4}"#,
    )
}

fn messages(key: &str) -> Vec<u8> {
    post(
        "/v1/messages",
        &[("x-api-key", key), ("anthropic-version", "2023-06-01")],
        r#"{"model":"mock-claude","messages":[{"role":"user","content":"hi"}],"max_tokens":4}"#,
    )
}

#[test]
fn the_mock_refuses_beyond_a_keys_window_in_each_providers_shape() {
    let mock =
        Mock::start(&["--cores", "1", "--ttft", "1ms", "--itl", "1ms", "--rate-limit", "rpm=2,window=60s"]);
    for _ in 0..2 {
        assert_eq!(roundtrip(&mock, &chat("sk-a")).status, 200);
    }
    let r = roundtrip(&mock, &chat("sk-a"));
    assert_eq!(r.status, 429);
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded", "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().starts_with("Rate limit reached for requests"),
        "{body}"
    );
    assert_eq!(r.header("x-ratelimit-limit-requests"), Some("2"));
    assert_eq!(r.header("x-ratelimit-remaining-requests"), Some("0"));
    let reset = r.header("x-ratelimit-reset-requests").expect("reset");
    assert!(reset.ends_with('s'), "a duration such as 59.9s: {reset}");
    let after: u64 = r.header("retry-after").expect("retry-after").parse().unwrap();
    assert!((1..=60).contains(&after), "{after}");
    // Another key has its own window.
    assert_eq!(roundtrip(&mock, &chat("sk-b")).status, 200);
    // Anthropic's shape and header names.
    for _ in 0..2 {
        assert_eq!(roundtrip(&mock, &messages("sk-c")).status, 200);
    }
    let r = roundtrip(&mock, &messages("sk-c"));
    assert_eq!(r.status, 429);
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        (body["type"].as_str(), body["error"]["type"].as_str()),
        (Some("error"), Some("rate_limit_error"))
    );
    assert_eq!(r.header("anthropic-ratelimit-requests-limit"), Some("2"));
    assert_eq!(r.header("anthropic-ratelimit-requests-remaining"), Some("0"));
    assert!(r.header("anthropic-ratelimit-requests-reset").is_some_and(|t| t.ends_with('Z')));
    assert!(r.header("retry-after").is_some());
    // Counted per key, under its short id, and by limit.
    assert_eq!(mock.metric(&format!("llmload_mock_key_requests_total{{key=\"{}\"}}", key_id("sk-a"))), 3);
    assert_eq!(mock.metric(&format!("llmload_mock_key_rate_limited_total{{key=\"{}\"}}", key_id("sk-a"))), 1);
    assert_eq!(mock.metric(&format!("llmload_mock_key_rate_limited_total{{key=\"{}\"}}", key_id("sk-b"))), 0);
    assert_eq!(mock.metric("llmload_mock_rate_limited_total{per=\"key\",limit=\"requests\"}"), 2);
}

#[test]
fn a_model_window_and_a_token_window() {
    let mock = Mock::start(&[
        "--cores",
        "1",
        "--ttft",
        "1ms",
        "--itl",
        "1ms",
        "--output-tokens",
        "4",
        "--rate-limit",
        "rpm=1,per=model,model=mock-gpt",
        "--rate-limit",
        "tpm=10,per=model,model=mock-claude",
    ]);
    assert_eq!(roundtrip(&mock, &chat("sk-1")).status, 200);
    assert_eq!(roundtrip(&mock, &chat("sk-2")).status, 429, "the model's window, whatever the key");
    // A prompt of a few tokens and 4 output tokens each: 10 are used within a few requests.
    let statuses: Vec<u16> = (0..4).map(|_| roundtrip(&mock, &messages("sk-1")).status).collect();
    assert_eq!((statuses[0], statuses[3]), (200, 429), "{statuses:?}");
    let refused = statuses.iter().filter(|s| **s == 429).count() as u64;
    assert_eq!(mock.metric("llmload_mock_rate_limited_total{per=\"model\",limit=\"tokens\"}"), refused);
    let r = roundtrip(&mock, &messages("sk-1"));
    assert_eq!(r.header("anthropic-ratelimit-tokens-limit"), Some("10"));
}

#[test]
fn a_bad_rate_limit_is_refused_at_start() {
    let (code, _, err) = common::llmload(&["mock", "--listen", "127.0.0.1:0", "--rate-limit", "rpm=0"]);
    assert_ne!(code, 0);
    assert!(err.contains("rate_limit[0]: rpm: \"0\" is not a whole number from 1"), "{err}");
}

/// A chat scenario at `rate` requests per second for 2 s against a mock limiting each key to
/// 3 requests a second.
fn limited_run(tag: &str, retry: Option<Value>, stage: &str) -> (Mock, common::RunOutput) {
    let mock = Mock::start(&[
        "--cores",
        "1",
        "--ttft",
        "1ms",
        "--itl",
        "1ms",
        "--output-tokens",
        "4",
        "--rate-limit",
        "rpm=3,window=1s",
    ]);
    let mut scenario = json!({"name": "chat", "target": format!("http://{}/v1/chat/completions", mock.addr)});
    if let Some(r) = retry {
        scenario["retry"] = r;
    }
    let p = profile_file(
        tag,
        json!({"defaults": {"model": "mock-gpt", "max_tokens": 4}, "stages": [stage], "scenarios": [scenario]}),
    );
    let run =
        run_llmload(&[p.to_str().unwrap(), "--cores", "1", "--max-error-rate", "1"], Duration::from_secs(60));
    (mock, run)
}

#[test]
fn refusals_are_their_own_class_with_a_retry_after_histogram() {
    let (mock, run) = limited_run("rl-count", None, "@20:2s");
    let all = stage_all(&run.summary, 0);
    assert_accounted(all);
    let limited = n(&all["rate_limited"]);
    assert!(limited > 10, "about 34 of 40 refused: {all}");
    assert_eq!(limited, n(&all["status"]["429"]), "no retries: one 429 per refused request");
    assert_eq!(n(&all["ratelimit_headers"]), limited, "every refusal carried x-ratelimit-*");
    assert_eq!((n(&all["retries"]), n(&all["retried_requests"])), (0, 0));
    let ra = &all["us"]["retry_after"];
    assert_eq!(n(&ra["count"]), limited, "{ra}");
    // retry-after: 1 (whole seconds, the window's rest rounded up).
    for q in ["min", "max"] {
        assert!((990_000..=1_010_000).contains(&n(&ra[q])), "{ra}");
    }
    // The mock refused at least as many (it also sees any request outside the window).
    assert!(mock.metric("llmload_mock_rate_limited_total{per=\"key\",limit=\"requests\"}") >= limited);
    let prom = std::fs::read_to_string(run.dir.join("metrics.prom")).unwrap();
    assert!(prom.contains("llmload_rate_limited_total"), "{prom}");
}

#[test]
fn retries_wait_what_retry_after_asks_and_latency_counts_from_the_first_attempt() {
    // One request at a time; the window (1 s) lets 3 through, then says retry-after: 1.
    let (mock, run) = limited_run("rl-retry", Some(json!({"max_retries": 3})), "1:3s");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let all = stage_all(&run.summary, 0);
    assert_accounted(all);
    let (retries, retried) = (n(&all["retries"]), n(&all["retried_requests"]));
    assert!(retried >= 1 && retries >= retried, "{all}");
    assert!(n(&all["retried_ok"]) >= 1, "a retried request succeeded: {all}");
    // Each refusal was retried (or its wait cut by the stage's end, or the attempts ran out).
    assert_eq!(n(&all["rate_limited"]), retries + n(&all["retry_cut"]) + n(&all["retry_exhausted"]), "{all}");
    // A retried success waited the 1 s asked (measured wait ≥ retry-after) and its latency
    // includes it; the bound above is generous for a busy machine.
    let lat = &all["us"]["latency"];
    assert!(n(&lat["max"]) >= 1_000_000 && n(&lat["max"]) < 5_000_000, "{lat}");
    assert_eq!(n(&all["failed"]) + n(&all["ok"]) + n(&all["cancelled"]), n(&all["requests"]));
    // requests count requests, not attempts: the mock saw every attempt.
    let seen = mock.metric("llmload_mock_requests_total{route=\"chat_completions\",status=\"200\"}")
        + mock.metric("llmload_mock_requests_total{route=\"chat_completions\",status=\"429\"}");
    assert!(seen >= n(&all["requests"]) + retries, "{seen} attempts for {all}");
    // Far fewer 429s than without retries: each refused request waits out the window.
    assert!(n(&all["rate_limited"]) <= 2 * n(&all["ok"]) + 2, "{all}");
}

#[test]
fn bad_retry_fields_are_refused_before_any_load() {
    let target = common::Target::new();
    for (retry, needle) in [
        (json!({"max_retries": 2, "on": [200]}), "retry.on: 200 is not an error status (400-599)"),
        (json!({"max_retries": 2, "on": ["x"]}), "retry.on"),
        (json!({"max_retries": 101}), "retry.max_retries: 101 is above the limit 100"),
        (json!({"max_retries": 1, "max_wait": "soon"}), "retry.max_wait"),
    ] {
        let p = profile_file(
            "bad-retry",
            json!({"defaults": {"model": "m", "target": target.url}, "stages": ["1:1s"], "retry": retry, "scenarios": [{"name": "s"}]}),
        );
        let (code, _, err) = common::llmload(&["run", p.to_str().unwrap()]);
        assert_eq!(code, 2, "{retry}: {err}");
        assert!(err.contains(needle), "{retry}: expected {needle:?} in {err}");
    }
    let (code, _, err) = common::llmload(&[
        "run",
        "--target",
        &target.url,
        "--stages",
        "1:1s",
        "--retry",
        "1",
        "--retry-on",
        "429,abc",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--retry-on: \"abc\" is not an HTTP status"), "{err}");
    target.assert_untouched("bad retry policies");
}
