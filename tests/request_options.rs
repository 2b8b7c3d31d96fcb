//! A scenario's request options reach the wire in its protocol's shape (tools, tool_choice,
//! reasoning, response_format, extra_body), and options a protocol has no field for are
//! refused naming the field.

mod common;

use std::time::Duration;

use common::capture::Capture;
use common::{llmload, profile_file, run_llmload};
use serde_json::{json, Value};

fn tools() -> Value {
    json!([{"name": "get_weather", "description": "Weather now",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}])
}

#[test]
fn options_are_sent_in_each_protocols_shape() {
    let server = Capture::start();
    let base = server.url.trim_end_matches("/v1/chat/completions").to_string();
    let p = profile_file(
        "options",
        json!({
            "defaults": {"model": "m", "max_tokens": 4096},
            "stages": ["2:500ms"],
            "scenarios": [
                {"name": "chat", "target": format!("{base}/v1/chat/completions"), "tools": tools(),
                 "tool_choice": "required", "reasoning_effort": "low",
                 "response_format": {"type": "json_object"}, "extra_body": {"top_k": 5}},
                {"name": "claude", "protocol": "anthropic", "target": format!("{base}/v1/messages"), "tools": tools(),
                 "tool_choice": {"name": "get_weather"}, "thinking_budget": 2048},
            ],
        }),
    );
    // The capture server answers in the chat shape only: the anthropic requests count as
    // failed replies, which does not matter here (exit 1 through the default error limit).
    let run = run_llmload(&[p.to_str().unwrap(), "--cores", "1"], Duration::from_secs(60));
    assert!(matches!(run.code, 0 | 1), "{}", run.stderr);
    let got = server.requests();
    let chat =
        got.iter().find(|c| c.head.starts_with("POST /v1/chat/completions")).expect("a chat request").json();
    assert_eq!(chat["tools"][0]["type"], "function");
    assert_eq!(chat["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(chat["tool_choice"], "required");
    assert_eq!(chat["reasoning_effort"], "low");
    assert_eq!(chat["response_format"], json!({"type": "json_object"}));
    assert_eq!(chat["top_k"], 5);
    let claude =
        got.iter().find(|c| c.head.starts_with("POST /v1/messages")).expect("an anthropic request").json();
    assert_eq!(claude["tools"][0]["input_schema"]["required"][0], "city");
    assert_eq!(claude["tool_choice"], json!({"type": "tool", "name": "get_weather"}));
    assert_eq!(claude["thinking"], json!({"type": "enabled", "budget_tokens": 2048}));
    assert!(claude.get("reasoning_effort").is_none());
}

#[test]
fn an_option_the_protocol_lacks_is_refused_naming_the_field() {
    for (scenario, field) in [
        (json!({"protocol": "openai-chat", "thinking_budget": 2048}), "scenarios[0].thinking_budget"),
        (json!({"protocol": "anthropic", "reasoning_effort": "high"}), "scenarios[0].reasoning_effort"),
        (json!({"protocol": "anthropic", "thinking_budget": 100}), "scenarios[0].thinking_budget"),
        (json!({"tool_choice": "auto"}), "scenarios[0].tool_choice"),
        (json!({"tools": [{"name": "a b"}]}), "scenarios[0].tools[0]"),
        (json!({"reasoning_effort": "hgih"}), "did you mean \"high\""),
        (json!({"extra_body": {"model": "x"}}), "scenarios[0].extra_body"),
        (json!({"tool_result_tokens": 64}), "scenarios[0].tool_result_tokens: the scenario has no tools"),
        (
            json!({"tools": [{"name": "a"}], "tool_result_tokens": 0}),
            "scenarios[0].tool_result_tokens: 0 must be at least 1",
        ),
    ] {
        let mut s = scenario.clone();
        s["name"] = json!("s");
        let p = profile_file(
            "bad-options",
            json!({"defaults": {"target": "http://127.0.0.1:9/v1/chat/completions", "model": "m", "max_tokens": 4096},
                   "stages": ["1:1s"], "scenarios": [s]}),
        );
        let (code, out, err) = llmload(&["validate", p.to_str().unwrap()]);
        assert_eq!(code, 2, "{scenario}: {out}{err}");
        assert!(err.contains(field), "{scenario}: {err}");
    }
}
