//! The mock's reasoning and tool-call shapes over loopback, checked event by event: OpenAI
//! chat `reasoning_content` deltas and `tool_calls` deltas, Anthropic thinking and tool_use
//! blocks, the usage counts, and the `/metrics` ground truth that matches them.

mod common;

use serde_json::{json, Value};

use common::{post, roundtrip, Mock};

const FAST: [(&str, &str); 2] = [("x-mock-ttft-ms", "0"), ("x-mock-itl-ms", "0")];

/// The JSON `data:` payloads of an SSE body (`[DONE]` left out).
fn events(body: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(body)
        .split("\n\n")
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).expect("event JSON"))
        .collect()
}

fn call(mock: &Mock, path: &str, extra: &[(&str, &str)], body: &Value) -> (u16, Vec<u8>) {
    let mut headers = FAST.to_vec();
    headers.extend_from_slice(extra);
    if path.ends_with("messages") {
        headers.push(("anthropic-version", "2023-06-01"));
    }
    let r = roundtrip(mock, &post(path, &headers, &body.to_string()));
    (r.status, r.body)
}

fn metric(mock: &Mock, name: &str) -> u64 {
    mock.metric(name)
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "required": ["city", "unit"],
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}}}}})
}

#[test]
fn chat_streams_reasoning_before_content_and_counts_it() {
    let mock = Mock::start(&["--cores", "1"]);
    let body = json!({"model": "mock-gpt", "stream": true, "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "hi"}]});
    let (status, raw) = call(
        &mock,
        "/v1/chat/completions",
        &[("x-mock-reasoning-tokens", "4"), ("x-mock-output-tokens", "3")],
        &body,
    );
    assert_eq!(status, 200);
    let ev = events(&raw);
    let deltas: Vec<&Value> = ev.iter().filter_map(|e| e["choices"].get(0).map(|c| &c["delta"])).collect();
    assert_eq!(deltas[0], &json!({"role": "assistant", "content": ""}));
    let reasoning: Vec<&str> = deltas.iter().filter_map(|d| d["reasoning_content"].as_str()).collect();
    let content: Vec<&str> = deltas[1..].iter().filter_map(|d| d["content"].as_str()).collect();
    assert_eq!((reasoning.len(), content.len()), (4, 3));
    // Every reasoning delta comes before the first content delta.
    let last_reasoning = deltas.iter().rposition(|d| d.get("reasoning_content").is_some()).unwrap();
    let first_content = deltas.iter().skip(1).position(|d| d.get("content").is_some()).unwrap() + 1;
    assert!(last_reasoning < first_content);
    let usage = &ev.last().unwrap()["usage"];
    assert_eq!(usage["completion_tokens"], 7);
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 4);
    assert_eq!(ev[ev.len() - 2]["choices"][0]["finish_reason"], "stop");
    assert_eq!(metric(&mock, "llmload_mock_reasoning_tokens_emitted_total"), 4);
    assert_eq!(metric(&mock, "llmload_mock_tokens_emitted_total"), 7);
}

#[test]
fn reasoning_that_eats_the_budget_leaves_no_answer() {
    let mock = Mock::start(&["--cores", "1", "--reasoning-tokens", "50"]);
    let body =
        json!({"model": "mock-gpt", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let (status, raw) = call(&mock, "/v1/chat/completions", &[], &body);
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&raw).unwrap();
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "length");
    assert_eq!(choice["message"]["content"], Value::Null);
    assert_eq!(choice["message"]["reasoning_content"].as_str().unwrap().split(' ').count(), 10);
    assert_eq!(v["usage"]["completion_tokens"], 10);
    assert_eq!(v["usage"]["completion_tokens_details"]["reasoning_tokens"], 10);
}

#[test]
fn chat_tool_calls_stream_in_fragments_and_then_a_tool_result_gets_an_answer() {
    let mock = Mock::start(&["--cores", "1"]);
    let body = json!({"model": "mock-gpt", "stream": true, "tools": [weather_tool()],
                      "messages": [{"role": "user", "content": "weather?"}]});
    let (_, raw) = call(&mock, "/v1/chat/completions", &[], &body);
    let ev = events(&raw);
    let mut id = String::new();
    let mut args = String::new();
    for e in &ev {
        for tc in e["choices"][0]["delta"]["tool_calls"].as_array().into_iter().flatten() {
            assert_eq!(tc["index"], 0);
            if let Some(i) = tc["id"].as_str() {
                assert!(id.is_empty(), "the id comes once");
                id = i.to_string();
                assert_eq!(tc["type"], "function");
                assert_eq!(tc["function"]["name"], "get_weather");
            }
            args.push_str(tc["function"]["arguments"].as_str().unwrap());
        }
    }
    assert!(id.starts_with("call_"), "{id}");
    assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), json!({"city": "mock", "unit": "c"}));
    assert_eq!(ev.last().unwrap()["choices"][0]["finish_reason"], "tool_calls");
    assert!(ev.iter().all(|e| e["choices"][0]["delta"].get("content").is_none_or(|c| c == "")));

    // Non-streaming, two calls asked for.
    let mut body = body;
    body["stream"] = json!(false);
    let (_, raw) = call(&mock, "/v1/chat/completions", &[("x-mock-tool-calls", "2")], &body);
    let v: Value = serde_json::from_slice(&raw).unwrap();
    let msg = &v["choices"][0]["message"];
    assert_eq!(msg["content"], Value::Null);
    let calls = msg["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert_ne!(calls[0]["id"], calls[1]["id"]);
    assert_eq!(calls[1]["function"]["arguments"], r#"{"city":"mock","unit":"c"}"#);
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    // 26 characters of arguments: 7 fragments (one token each) per call.
    assert_eq!(v["usage"]["completion_tokens"], 14);

    // The tool result turn: a normal answer.
    body["messages"] = json!([{"role": "user", "content": "weather?"},
        {"role": "assistant", "content": null, "tool_calls": calls},
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny"}]);
    let (_, raw) = call(&mock, "/v1/chat/completions", &[("x-mock-output-tokens", "3")], &body);
    let v: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["choices"][0]["message"].get("tool_calls").is_none());
    assert_eq!(metric(&mock, "llmload_mock_tool_calls_emitted_total"), 3);
}

#[test]
fn anthropic_thinking_then_text_then_tool_use_blocks() {
    let mock = Mock::start(&["--cores", "1"]);
    let tool = json!({"name": "lookup", "input_schema": {"type": "object", "required": ["q"],
                      "properties": {"q": {"type": "string"}}}});
    let body = json!({"model": "mock-claude", "max_tokens": 2000, "stream": true,
                      "thinking": {"type": "enabled", "budget_tokens": 1024},
                      "tools": [tool], "messages": [{"role": "user", "content": "find it"}]});
    let (_, raw) = call(&mock, "/v1/messages", &[("x-mock-reasoning-tokens", "3")], &body);
    let ev = events(&raw);
    let kinds: Vec<String> = ev
        .iter()
        .map(|e| {
            let t = e["type"].as_str().unwrap();
            match t {
                "content_block_start" => format!("start:{}", e["content_block"]["type"].as_str().unwrap()),
                "content_block_delta" => e["delta"]["type"].as_str().unwrap().to_string(),
                _ => t.to_string(),
            }
        })
        .collect();
    let frags = r#"{"q":"mock"}"#.len().div_ceil(4);
    let mut want = vec!["message_start", "start:thinking", "ping"];
    want.extend(["thinking_delta"; 3]);
    want.extend(["signature_delta", "content_block_stop", "start:tool_use"]);
    want.extend(std::iter::repeat_n("input_json_delta", frags));
    want.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(kinds, want);
    assert_eq!(ev[1]["content_block"], json!({"type": "thinking", "thinking": "", "signature": ""}));
    let tool_start = ev.iter().find(|e| e["content_block"]["type"] == "tool_use").unwrap();
    assert_eq!(tool_start["index"], 1);
    assert!(tool_start["content_block"]["id"].as_str().unwrap().starts_with("toolu_"));
    assert_eq!(tool_start["content_block"]["input"], json!({}));
    let delta = ev.iter().rev().find(|e| e["type"] == "message_delta").unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(delta["usage"]["output_tokens"], 3 + frags as u64);

    // Without thinking enabled the header is ignored; without tools, a text answer.
    let plain = json!({"model": "mock-claude", "max_tokens": 100,
                       "messages": [{"role": "user", "content": "hi"}]});
    let (_, raw) = call(
        &mock,
        "/v1/messages",
        &[("x-mock-reasoning-tokens", "3"), ("x-mock-output-tokens", "2")],
        &plain,
    );
    let v: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(v["content"].as_array().unwrap().len(), 1);
    assert_eq!(v["usage"]["output_tokens"], 2);

    // Non-streaming with thinking: [thinking, text].
    let mut thinking = plain;
    thinking["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    let (_, raw) = call(
        &mock,
        "/v1/messages",
        &[("x-mock-reasoning-tokens", "3"), ("x-mock-output-tokens", "2")],
        &thinking,
    );
    let v: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(v["content"][0]["type"], "thinking");
    assert!(v["content"][0]["signature"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(v["content"][0]["thinking"].as_str().unwrap().split(' ').count(), 3);
    assert_eq!(v["content"][1]["type"], "text");
    assert_eq!(v["usage"]["output_tokens"], 5);
    assert_eq!(v["stop_reason"], "end_turn");
}

#[test]
fn the_prefix_cache_reports_shared_prefixes_as_each_provider_does() {
    // 1000 blocks of 4 tokens (16 characters); TTFT is prefill time per uncached token.
    let mock = Mock::start(&[
        "--cores",
        "2",
        "--prefix-cache",
        "1000",
        "--prefix-cache-block",
        "4",
        "--ttft",
        "prefill:0ms+1ms",
    ]);
    let system = "You are a careful assistant. ".repeat(20);
    let chat = |user: &str| {
        json!({"model": "mock-gpt", "max_tokens": 2,
               "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]})
    };
    let ask = |body: &Value, headers: &[(&str, &str)]| -> Value {
        let (status, raw) = call(&mock, "/v1/chat/completions", headers, body);
        assert_eq!(status, 200);
        serde_json::from_slice(&raw).unwrap()
    };
    let first = ask(&chat("first question"), &[]);
    assert_eq!(first["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    let second = ask(&chat("second question"), &[]);
    let cached = second["usage"]["prompt_tokens_details"]["cached_tokens"].as_u64().unwrap();
    // The shared system prompt (580 characters after the role marker) is cached, whole blocks only.
    let shared = "\n<|system|>".len() + system.len() + "\n<|user|>".len();
    assert_eq!(cached, (shared / 16) as u64 * 4, "{second}");
    assert!(cached < second["usage"]["prompt_tokens"].as_u64().unwrap());

    // Responses: input_tokens_details.cached_tokens.
    let resp = json!({"model": "mock-gpt", "max_output_tokens": 2, "instructions": system, "input": "hello"});
    let (_, raw) = call(&mock, "/v1/responses", &[], &resp);
    let (_, raw2) = call(&mock, "/v1/responses", &[], &resp);
    let (a, b): (Value, Value) =
        (serde_json::from_slice(&raw).unwrap(), serde_json::from_slice(&raw2).unwrap());
    assert_eq!(a["usage"]["input_tokens_details"]["cached_tokens"], 0);
    assert!(b["usage"]["input_tokens_details"]["cached_tokens"].as_u64().unwrap() > 0);

    // Anthropic: only with cache_control; read + creation + input = the whole prompt.
    let msg = |cc: bool| {
        let mut sys = json!({"type": "text", "text": system});
        if cc {
            sys["cache_control"] = json!({"type": "ephemeral"});
        }
        json!({"model": "mock-claude", "max_tokens": 2, "system": [sys],
               "messages": [{"role": "user", "content": "hi"}]})
    };
    let (_, raw) = call(&mock, "/v1/messages", &[], &msg(false));
    let plain: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(plain["usage"]["cache_creation_input_tokens"], 0);
    let total = plain["usage"]["input_tokens"].as_u64().unwrap();
    let (_, raw) = call(&mock, "/v1/messages", &[], &msg(true));
    let write: Value = serde_json::from_slice(&raw).unwrap();
    let u = &write["usage"];
    assert!(u["cache_creation_input_tokens"].as_u64().unwrap() > 0);
    assert_eq!(u["cache_read_input_tokens"], 0);
    let (_, raw) = call(&mock, "/v1/messages", &[], &msg(true));
    let read: Value = serde_json::from_slice(&raw).unwrap();
    let r = &read["usage"];
    assert_eq!(r["cache_read_input_tokens"], u["cache_creation_input_tokens"]);
    assert_eq!(r["cache_creation_input_tokens"], 0);
    let sum = |u: &Value| {
        ["input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"]
            .iter()
            .map(|k| u[k].as_u64().unwrap())
            .sum::<u64>()
    };
    // Estimated prompt sizes differ only by the cache_control key, which is not text.
    assert_eq!(sum(u), total);
    assert_eq!(sum(r), total);
    let reported = cached
        + b["usage"]["input_tokens_details"]["cached_tokens"].as_u64().unwrap()
        + r["cache_read_input_tokens"].as_u64().unwrap();
    assert_eq!(metric(&mock, "llmload_mock_cached_prompt_tokens_total"), reported);
}

#[test]
fn without_the_flag_nothing_is_cached() {
    let mock = Mock::start(&["--cores", "1"]);
    let body = json!({"model": "mock-gpt", "max_tokens": 2, "messages": [{"role": "user", "content": "same again"}]});
    for _ in 0..2 {
        let (_, raw) = call(&mock, "/v1/chat/completions", &[], &body);
        let v: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    }
}

#[test]
fn responses_stream_a_reasoning_item_before_the_message() {
    let mock = Mock::start(&["--cores", "1"]);
    let body = json!({"model": "mock-gpt", "stream": true, "input": "hi"});
    let headers = [("x-mock-reasoning-tokens", "2"), ("x-mock-output-tokens", "1")];
    let (_, raw) = call(&mock, "/v1/responses", &headers, &body);
    let ev = events(&raw);
    let kinds: Vec<&str> = ev.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let seq: Vec<u64> = ev.iter().map(|e| e["sequence_number"].as_u64().unwrap()).collect();
    assert!(seq.windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(ev[2]["item"]["type"], "reasoning");
    assert!(ev[2]["item"]["id"].as_str().unwrap().starts_with("rs_"));
    assert_eq!(ev[9]["output_index"], 1);
    let done = &ev.last().unwrap()["response"];
    assert_eq!(done["output"][0]["summary"][0]["type"], "summary_text");
    assert_eq!(done["output"][1]["type"], "message");
    assert_eq!(done["usage"]["output_tokens"], 3);
    assert_eq!(done["usage"]["output_tokens_details"]["reasoning_tokens"], 2);

    // Non-streaming, reasoning eating the budget: only the reasoning item, incomplete.
    let body = json!({"model": "mock-gpt", "max_output_tokens": 4, "input": "hi"});
    let (_, raw) = call(&mock, "/v1/responses", &[("x-mock-reasoning-tokens", "9")], &body);
    let v: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(v["status"], "incomplete");
    assert_eq!(v["output"].as_array().unwrap().len(), 1);
    assert_eq!(v["output"][0]["type"], "reasoning");
    assert_eq!(v["usage"]["output_tokens_details"]["reasoning_tokens"], 4);
}

#[test]
fn bad_header_values_are_refused_by_name() {
    let mock = Mock::start(&["--cores", "1"]);
    let body = json!({"model": "mock-gpt", "messages": [{"role": "user", "content": "hi"}]});
    for (h, v) in [("x-mock-reasoning-tokens", "-1"), ("x-mock-tool-calls", "129")] {
        let (status, raw) = call(&mock, "/v1/chat/completions", &[(h, v)], &body);
        assert_eq!(status, 400);
        let msg =
            serde_json::from_slice::<Value>(&raw).unwrap()["error"]["message"].as_str().unwrap().to_string();
        assert!(msg.starts_with(h), "{msg}");
    }
}

#[test]
fn responses_function_calls_stream_as_items() {
    let mock = Mock::start(&["--cores", "1"]);
    let tool = json!({"type": "function", "name": "lookup", "parameters": {"type": "object",
                      "required": ["q"], "properties": {"q": {"type": "string"}}}});
    let body = json!({"model": "mock-gpt", "stream": true, "tools": [tool], "input": "find it"});
    let (_, raw) = call(&mock, "/v1/responses", &[], &body);
    let ev = events(&raw);
    let kinds: Vec<&str> = ev.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let frags = r#"{"q":"mock"}"#.len().div_ceil(4);
    let mut want = vec!["response.created", "response.in_progress", "response.output_item.added"];
    want.extend(std::iter::repeat_n("response.function_call_arguments.delta", frags));
    want.extend(["response.function_call_arguments.done", "response.output_item.done", "response.completed"]);
    assert_eq!(kinds, want);
    let item = &ev[2]["item"];
    assert_eq!(
        (item["type"].as_str(), item["name"].as_str(), item["arguments"].as_str()),
        (Some("function_call"), Some("lookup"), Some(""))
    );
    assert!(item["call_id"].as_str().unwrap().starts_with("call_"));
    let done = &ev.last().unwrap()["response"];
    assert_eq!(done["output"][0]["arguments"], r#"{"q":"mock"}"#);
    assert_eq!(done["usage"]["output_tokens"], frags as u64);

    // The function_call_output turn gets a message.
    let mut body = body;
    body["stream"] = json!(false);
    body["input"] = json!([{"role": "user", "content": "find it"}, done["output"][0],
        {"type": "function_call_output", "call_id": item["call_id"], "output": "42"}]);
    let (_, raw) = call(&mock, "/v1/responses", &[("x-mock-output-tokens", "2")], &body);
    let v: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(v["output"][0]["type"], "message", "{v}");
}
