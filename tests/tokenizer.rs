//! Exact token counts over loopback with the real binary: `llmload run --tokenizer` against
//! `llmload mock --tokenizer`. Sized prompts are exactly the asked length by the mock's count,
//! the client's counts equal the mock's usage on every route (system prompts, histories,
//! the completions protocol's composed prompt), and against a mock that only estimates, the
//! disagreement is reported.

mod common;

use std::time::Duration;

use common::{assert_ran, llmload, profile_file, run_llmload, stage_all, Mock, Target};
use serde_json::{json, Value};

/// The mock's chat overhead for `messages` messages: 3 each and 3 for the reply.
fn overhead(messages: u64) -> u64 {
    3 * messages + 3
}

fn lines(run: &common::RunOutput) -> Vec<Value> {
    let text = std::fs::read_to_string(run.dir.join("results.jsonl")).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn mock(tokenizer: Option<&str>) -> Mock {
    let mut args = vec!["--cores", "1", "--ttft", "1ms", "--itl", "0", "--accept-any-model"];
    // Far above every cap: each reply is exactly its request's max_tokens.
    args.extend(["--output-tokens", "1000000"]);
    if let Some(t) = tokenizer {
        args.extend(["--tokenizer", t]);
    }
    Mock::start(&args)
}

/// A profile of scenarios over every protocol: a one-turn sized 300 (with the cache-busting
/// id), sized multi-turn, and histories with system prompts.
fn profile(addr: &str, tokenizer: Option<&str>) -> Value {
    let url = |path: &str| format!("http://{addr}/v1/{path}");
    let mut p = json!({
        "defaults": {"model": "m", "max_tokens": 16, "target": url("chat/completions")},
        "stages": ["4:2s"],
        "think_time": "0s",
        "scenarios": [
            {"name": "sized", "stream": true, "content": {"mode": "sized", "approx_input_tokens": 300}},
            {"name": "claude", "protocol": "anthropic", "target": url("messages"), "system": "You are terse.",
             "turns": 3, "max_tokens": 7,
             "content": {"mode": "pool", "prompts": ["Tell me about caches.", "And queues, \"briefly\"?"]}},
            {"name": "legacy", "protocol": "openai-completions", "target": url("completions"),
             "system": "Be brief.", "turns": 2, "content": {"mode": "scripted", "script": ["Say hi.", "Again."]}},
            {"name": "responses", "protocol": "openai-responses", "target": url("responses"), "turns": 2,
             "max_tokens": 9, "content": {"mode": "sized", "approx_input_tokens": 120}}
        ]
    });
    if let Some(t) = tokenizer {
        p["tokenizer"] = json!(t);
    }
    p
}

/// Every ok line's tokenizer counts equal its usage; returns the lines of `scenario`.
fn check_agreement<'a>(lines: &'a [Value], scenario: &str) -> Vec<&'a Value> {
    let of: Vec<&Value> = lines.iter().filter(|l| l["scenario"] == scenario && l["status"] == 200).collect();
    assert!(!of.is_empty(), "{scenario}: no ok request");
    for l in &of {
        assert_eq!(l["token_source"], "usage", "{l}");
        assert_eq!(l["tokenizer_prompt_tokens"], l["prompt_tokens"], "{scenario}: {l}");
        assert_eq!(l["tokenizer_completion_tokens"], l["completion_tokens"], "{scenario}: {l}");
    }
    of
}

fn no_disagreement(fig: &Value, context: &str) {
    assert_eq!(fig["tokenizer_compared"], fig["ok"], "{context}: {fig}");
    for k in ["tokenizer_prompt_mismatch", "tokenizer_completion_mismatch"] {
        assert_eq!(fig[k], 0, "{context}: {k}");
    }
    for k in ["tokenizer_prompt_disagreement", "tokenizer_completion_disagreement"] {
        assert_eq!(fig[k], 0.0, "{context}: {k}");
    }
    assert_eq!(fig["tokenizer_prompt_tokens"], fig["prompt_tokens"], "{context}");
    assert_eq!(fig["tokenizer_completion_tokens"], fig["completion_tokens"], "{context}");
}

#[test]
fn sized_prompts_are_exact_and_client_counts_equal_the_mocks_usage() {
    let mock = mock(Some("o200k_base"));
    let path = profile_file("tok-o200k", profile(&mock.addr, None));
    let run = run_llmload(
        &[path.to_str().unwrap(), "--tokenizer", "o200k_base", "--warmup", "0", "--cores", "1"],
        Duration::from_secs(40),
    );
    assert_ran(Some(run.code), &run.summary, &run.stderr);
    let lines = lines(&run);
    // One user message of exactly 300 tokens (its cache-busting id included), by the mock.
    for l in check_agreement(&lines, "sized") {
        assert_eq!(l["prompt_tokens"].as_u64().unwrap() - overhead(1), 300, "{l}");
        assert_eq!(l["completion_tokens"], 16, "--output-tokens 1000000 gives exactly max_tokens");
    }
    // Later turns carry their history (and the system prompt) in the count.
    for scenario in ["claude", "legacy", "responses"] {
        let of = check_agreement(&lines, scenario);
        assert!(of.iter().any(|l| l["turn"].as_u64() > Some(1)), "{scenario}: no later turn");
    }
    for l in check_agreement(&lines, "responses") {
        let turn = l["turn"].as_u64().unwrap();
        // Turn k: k sized messages of 120 and k - 1 replies of 9.
        let expected = 120 * turn + 9 * (turn - 1) + overhead(2 * turn - 1);
        assert_eq!(l["prompt_tokens"].as_u64(), Some(expected), "{l}");
    }
    let s = &run.summary;
    assert_eq!(s["schema_version"], 7);
    assert_eq!(s["meta"]["tokenizer"], "o200k_base");
    assert_eq!(s["stages"][0]["tokenizer"], "o200k_base");
    no_disagreement(stage_all(s, 0), "ALL");
    for (name, fig) in s["stages"][0]["scenarios"].as_object().unwrap() {
        no_disagreement(fig, name);
    }
    let report = std::fs::read_to_string(run.dir.join("report.txt")).unwrap();
    assert!(report.contains("tokenizer o200k_base: sized prompts of an exact length"), "{report}");
    assert!(report.contains("usage differs on 0 (0.0%) prompts, 0 (0.0%) completions"), "{report}");
}

#[test]
fn cl100k_from_the_profile_agrees_too() {
    let mock = mock(Some("cl100k_base"));
    let mut p = profile(&mock.addr, Some("cl100k_base"));
    p["cache_mode"] = json!("shared-prefix");
    p["shared_prefix_tokens"] = json!(200);
    let path = profile_file("tok-cl100k", p);
    let run =
        run_llmload(&[path.to_str().unwrap(), "--warmup", "0", "--cores", "1"], Duration::from_secs(40));
    assert_ran(Some(run.code), &run.summary, &run.stderr);
    let lines = lines(&run);
    for scenario in ["sized", "claude", "legacy", "responses"] {
        check_agreement(&lines, scenario);
    }
    // The shared prefix is exactly 200 tokens, before the sized 300.
    for l in check_agreement(&lines, "sized") {
        assert_eq!(l["prompt_tokens"].as_u64().unwrap() - overhead(1), 200 + 300, "{l}");
    }
    assert_eq!(run.summary["meta"]["tokenizer"], "cl100k_base");
    no_disagreement(stage_all(&run.summary, 0), "ALL");
}

#[test]
fn against_a_mock_that_estimates_the_disagreement_is_reported() {
    let mock = mock(None);
    let mut p = profile(&mock.addr, Some("o200k_base"));
    p["scenarios"] = json!([p["scenarios"][0].clone()]);
    let path = profile_file("tok-estimate", p);
    let run =
        run_llmload(&[path.to_str().unwrap(), "--warmup", "0", "--cores", "1"], Duration::from_secs(40));
    assert_ran(Some(run.code), &run.summary, &run.stderr);
    let all = stage_all(&run.summary, 0);
    assert_eq!(all["tokenizer_compared"], all["ok"]);
    assert!(all["ok"].as_u64() > Some(0));
    // chars / 4 of a 300-token message is not 300.
    assert_eq!(all["tokenizer_prompt_mismatch"], all["ok"], "{all}");
    assert_eq!(all["tokenizer_prompt_disagreement"], 1.0);
    for l in lines(&run).iter().filter(|l| l["status"] == 200) {
        assert_eq!(l["tokenizer_prompt_tokens"], 300 + overhead(1));
        assert_ne!(l["prompt_tokens"], l["tokenizer_prompt_tokens"], "{l}");
    }
    let report = std::fs::read_to_string(run.dir.join("report.txt")).unwrap();
    let ok = all["ok"].as_u64().unwrap();
    assert!(report.contains(&format!("usage differs on {ok} (100.0%) prompts")), "{report}");
}

#[test]
fn the_built_in_mock_counts_with_the_runs_tokenizer() {
    // The quickstart: pool and scripted prompts, histories, both protocols, bust ids.
    let run = run_llmload(
        &["--mock", "--tokenizer", "o200k_base", "--stages", "6:2s", "--warmup", "0", "--cores", "1"],
        Duration::from_secs(40),
    );
    assert_ran(Some(run.code), &run.summary, &run.stderr);
    no_disagreement(stage_all(&run.summary, 0), "ALL");
    let lines = lines(&run);
    assert!(lines.iter().any(|l| l["turn"].as_u64() > Some(1) && l["status"] == 200), "no later turn");
}

#[test]
fn an_unknown_tokenizer_is_refused_naming_the_field_before_anything_is_sent() {
    let target = Target::new();
    let run = run_llmload(
        &["--target", &target.url, "--tokenizer", "o200k_bse", "--stages", "1:1s"],
        Duration::from_secs(30),
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            r#"--tokenizer: "o200k_bse" is not one of o200k_base, cl100k_base; did you mean "o200k_base"?"#
        ),
        "{}",
        run.stderr
    );
    let p = profile_file(
        "tok-bad",
        json!({"stages": ["1:1s"], "tokenizer": "gpt2",
        "defaults": {"target": target.url.clone(), "model": "m"}}),
    );
    let run = run_llmload(&[p.to_str().unwrap()], Duration::from_secs(30));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(r#"tokenizer: "gpt2" is not one of o200k_base, cl100k_base"#),
        "{}",
        run.stderr
    );
    assert!(run.summary.is_null());
    target.assert_untouched("a bad tokenizer");
    let (code, _, stderr) = llmload(&["mock", "--tokenizer", "cl100k", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(r#"tokenizer: "cl100k" is not one of o200k_base, cl100k_base"#), "{stderr}");
}
