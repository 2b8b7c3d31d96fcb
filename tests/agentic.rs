//! What 2026 models send, measured end to end against the mock's ground truth: reasoning
//! tokens and the time to the first answer token, reasoning that eats the whole budget
//! (flagged), tool calls, and prompt-cache hits (a shared prefix hits, cache busting does not).

mod common;

use std::time::Duration;

use common::{profile_file, run_llmload, stage_all, Mock};
use serde_json::{json, Value};

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("a count: {v}"))
}

#[test]
fn reasoning_tokens_and_time_to_the_answer_match_the_mock() {
    let mock = Mock::start(&[
        "--cores",
        "1",
        "--ttft",
        "5ms",
        "--itl",
        "2ms",
        "--output-tokens",
        "6",
        "--reasoning-tokens",
        "8",
    ]);
    let target = format!("http://{}/v1/chat/completions", mock.addr);
    let run = run_llmload(
        &[
            "--target",
            &target,
            "--model",
            "mock-gpt",
            "--stream",
            "--max-tokens",
            "64",
            "--stages",
            "2:1s",
            "--cores",
            "1",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let all = stage_all(&run.summary, 0);
    let lines = run.lines();
    assert!(!lines.is_empty());
    for l in &lines {
        assert_eq!(l["reasoning_tokens"], 8, "{l}");
        // The answer starts after the reasoning: 8 more tokens, 2 ms apart.
        assert!(n(&l["ttft_content_us"]) > n(&l["ttft_us"]), "{l}");
    }
    // Every reasoning token the mock emitted is counted, and completion tokens include them.
    assert_eq!(n(&all["reasoning_tokens"]), mock.metric("llmload_mock_reasoning_tokens_emitted_total"));
    assert_eq!(n(&all["completion_tokens"]), 14 * n(&all["ok"]));
    assert_eq!(n(&all["reasoning_only"]), 0);
}

#[test]
fn reasoning_that_eats_the_budget_is_flagged() {
    let mock = Mock::start(&["--cores", "1", "--ttft", "0", "--itl", "0", "--reasoning-tokens", "100"]);
    let target = format!("http://{}/v1/chat/completions", mock.addr);
    let run = run_llmload(
        &[
            "--target",
            &target,
            "--model",
            "mock-gpt",
            "--stream",
            "--max-tokens",
            "16",
            "--stages",
            "1:500ms",
            "--cores",
            "1",
        ],
        Duration::from_secs(60),
    );
    let all = stage_all(&run.summary, 0);
    assert!(n(&all["ok"]) > 0, "{}", run.stderr);
    assert_eq!(all["reasoning_only"], all["ok"]);
    let report = std::fs::read_to_string(run.dir.join("report.txt")).unwrap();
    assert!(report.contains("0 content tokens, only reasoning"), "{report}");
}

#[test]
fn tool_calls_are_counted_as_the_mock_emitted_them() {
    let mock = Mock::start(&["--cores", "1", "--ttft", "0", "--itl", "0"]);
    let target = format!("http://{}/v1/chat/completions", mock.addr);
    let p = profile_file(
        "tools",
        json!({"defaults": {"target": target, "model": "mock-gpt", "max_tokens": 32, "stream": true},
               "stages": ["2:500ms"],
               "scenarios": [{"name": "agent", "tools": [{"name": "get_weather", "parameters":
                   {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]}]}),
    );
    let run = run_llmload(&[p.to_str().unwrap(), "--cores", "1"], Duration::from_secs(60));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let all = stage_all(&run.summary, 0);
    assert!(n(&all["ok"]) > 0);
    assert_eq!(n(&all["tool_calls"]), n(&all["ok"]), "one call per answer: {all}");
    assert_eq!(n(&all["tool_calls"]), mock.metric("llmload_mock_tool_calls_emitted_total"));
    assert_eq!(n(&all["tool_args_invalid"]), 0);
    assert_eq!(n(&all["finish_tool_calls"]), n(&all["ok"]));
    assert_eq!(n(&all["token_mismatch"]), 0, "{all}");
}

#[test]
fn a_shared_prefix_hits_the_prefix_cache_and_cache_busting_does_not() {
    let mock = Mock::start(&[
        "--cores",
        "1",
        "--ttft",
        "0",
        "--itl",
        "0",
        "--output-tokens",
        "2",
        "--prefix-cache",
        "100000",
    ]);
    let target = format!("http://{}/v1/chat/completions", mock.addr);
    let run_with = |cache_mode: &str| {
        let p = profile_file(
            "cache",
            json!({"defaults": {"target": target, "model": "mock-gpt", "max_tokens": 2},
                   "stages": ["2:500ms"], "cache_mode": cache_mode, "shared_prefix_tokens": 512,
                   "scenarios": [{"name": "s", "content": {"mode": "sized", "approx_input_tokens": 64}}]}),
        );
        let run = run_llmload(&[p.to_str().unwrap(), "--cores", "1"], Duration::from_secs(60));
        assert_eq!(run.code, 0, "{}", run.stderr);
        stage_all(&run.summary, 0).clone()
    };
    let before = mock.metric("llmload_mock_cached_prompt_tokens_total");
    let shared = run_with("shared-prefix");
    let cached = mock.metric("llmload_mock_cached_prompt_tokens_total") - before;
    assert_eq!(n(&shared["cached_prompt_tokens"]), cached, "{shared}");
    let ratio = shared["cache_hit_ratio"].as_f64().unwrap();
    assert!(ratio > 0.5, "the 512-token prefix of ~580-token prompts is cached after the first: {ratio}");
    let bust = run_with("bust");
    assert!(bust["cache_hit_ratio"].as_f64().unwrap() < 0.05, "{bust}");
}

#[test]
fn an_anthropic_shared_prefix_carries_a_cache_breakpoint_and_hits() {
    // The mock caches Anthropic prompts only when a cache_control breakpoint asks, as Anthropic does.
    let mock = Mock::start(&[
        "--cores",
        "1",
        "--ttft",
        "0",
        "--itl",
        "0",
        "--output-tokens",
        "2",
        "--prefix-cache",
        "100000",
    ]);
    let p = profile_file(
        "anthropic-cache",
        json!({"defaults": {"target": format!("http://{}/v1/messages", mock.addr), "protocol": "anthropic",
                            "model": "mock-claude", "max_tokens": 2},
               "stages": ["2:500ms"], "cache_mode": "shared-prefix", "shared_prefix_tokens": 512,
               "scenarios": [{"name": "s", "content": {"mode": "sized", "approx_input_tokens": 64}}]}),
    );
    let run = run_llmload(&[p.to_str().unwrap(), "--cores", "1"], Duration::from_secs(60));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let all = stage_all(&run.summary, 0);
    assert_eq!(n(&all["cached_prompt_tokens"]), mock.metric("llmload_mock_cached_prompt_tokens_total"));
    assert!(n(&all["cache_write_tokens"]) > 0, "the first request writes the prefix: {all}");
    assert!(all["cache_hit_ratio"].as_f64().unwrap() > 0.5, "{all}");
}

/// The answer starts R × ITL after the first output token: with the mock's ITL fixed at
/// 10 ms and R reasoning tokens per request header (4 in one scenario, 12 in the other),
/// `ttft_content − ttft` is 40 ms and 120 ms, and `reasoning_time` (first to last reasoning
/// token) is (R − 1) × ITL. The median holds to ±5 ms (the mock's pacing tests hold theirs
/// to ±2 ms); each request only to (0, +100 ms]: on a busy 2-core machine a late first event
/// (the mock then catches up on its schedule) or a late answer event moves one request's gap.
#[test]
fn the_answer_starts_reasoning_tokens_times_itl_after_the_first_token() {
    let mock = Mock::start(&["--cores", "1", "--ttft", "20ms", "--itl", "10ms", "--output-tokens", "3"]);
    let target = format!("http://{}/v1/chat/completions", mock.addr);
    let scenario =
        |name: &str, r: u64| json!({"name": name, "headers": {"x-mock-reasoning-tokens": r.to_string()}});
    let p = profile_file(
        "reasoning-itl",
        json!({"defaults": {"target": target, "model": "mock-gpt", "max_tokens": 64, "stream": true},
               "stages": ["2:2s"],
               "scenarios": [scenario("short", 4), scenario("long", 12)]}),
    );
    let run = run_llmload(&[p.to_str().unwrap(), "--cores", "1"], Duration::from_secs(60));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = run.lines();
    for (name, r) in [("short", 4u64), ("long", 12)] {
        let mine: Vec<&Value> = lines
            .iter()
            .filter(|l| l["scenario"] == name && l["status"] == 200 && l["error"].is_null())
            .collect();
        assert!(mine.len() >= 3, "{name}: {} requests", mine.len());
        let median = |mut v: Vec<i64>| {
            v.sort_unstable();
            v[v.len() / 2]
        };
        let gaps: Vec<i64> =
            mine.iter().map(|l| n(&l["ttft_content_us"]) as i64 - n(&l["ttft_us"]) as i64).collect();
        let reasoning: Vec<i64> = mine.iter().map(|l| n(&l["reasoning_us"]) as i64).collect();
        let want = r as i64 * 10_000;
        for g in &gaps {
            assert!((1..=want + 100_000).contains(g), "{name}: gap {g} µs, want {want} µs: {gaps:?}");
        }
        let m = median(gaps.clone());
        assert!((m - want).abs() <= 5_000, "{name}: median gap {m} µs, want {want} µs ±5 ms: {gaps:?}");
        let m = median(reasoning.clone());
        let want = want - 10_000;
        assert!((m - want).abs() <= 5_000, "{name}: median reasoning {m} µs, want {want} µs: {reasoning:?}");
        assert!(mine.iter().all(|l| l["reasoning_tokens"] == r), "{name}");
    }
}
