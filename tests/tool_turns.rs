//! Agent loops end to end: a turn whose reply ends in tool calls is followed, in the same
//! conversation, by a tool-result turn carrying exactly the ids the server returned (checked
//! through a recording proxy in front of the mock, in every protocol, streamed and not); the
//! mock answers it in text; every turn sent is accounted for. The mock's `--tool-call-rate`
//! matches its ground-truth counter, and a reply of 1,000 calls is counted whole.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::capture::{Capture, Captured};
use common::{assert_accounted, profile_file, run_llmload, stage_all, Mock};
use serde_json::{json, Value};

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("a count: {v}"))
}

fn tools() -> Value {
    json!([{"name": "get_weather", "parameters": {"type": "object", "required": ["city"],
            "properties": {"city": {"type": "string"}}}},
           {"name": "lookup", "parameters": {"type": "object", "required": ["q"],
            "properties": {"q": {"type": "string"}}}}])
}

/// The calls of a reply as (id, name): whatever the protocol, streamed or not.
fn reply_calls(c: &Captured) -> Vec<(String, String)> {
    let mut calls: Vec<(String, String)> = Vec::new();
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    for v in c.reply_json() {
        // OpenAI chat: a stream's first fragment of a call, or a whole message.
        let choice = &v["choices"][0];
        let chat = choice["delta"]["tool_calls"].as_array().or(choice["message"]["tool_calls"].as_array());
        for tc in chat.into_iter().flatten().filter(|tc| tc.get("id").is_some()) {
            calls.push((s(&tc["id"]), s(&tc["function"]["name"])));
        }
        // Anthropic: a tool_use block start, or the whole content.
        let blocks = v["content"].as_array().cloned().unwrap_or_else(|| vec![v["content_block"].clone()]);
        for b in blocks.iter().filter(|b| b["type"] == "tool_use") {
            calls.push((s(&b["id"]), s(&b["name"])));
        }
        // Responses: an item added to a stream, or the whole output.
        let items = v["output"].as_array().cloned().unwrap_or_else(|| vec![v["item"].clone()]);
        let added = v["type"] == "response.output_item.added" || v.get("output").is_some();
        for i in items.iter().filter(|i| added && i["type"] == "function_call") {
            calls.push((s(&i["call_id"]), s(&i["name"])));
        }
    }
    calls
}

/// Whether the reply answered in text (and called nothing).
fn reply_has_text(c: &Captured) -> bool {
    let events = c.reply_json();
    let text = |v: &Value| {
        let choice = &v["choices"][0];
        [&choice["delta"]["content"], &choice["message"]["content"], &v["delta"]["text"], &v["delta"]]
            .iter()
            .any(|t| t.as_str().is_some_and(|t| !t.is_empty()))
            || v["content"].as_array().is_some_and(|b| b.iter().any(|b| b["type"] == "text"))
            || v["output"].as_array().is_some_and(|o| o.iter().any(|i| i["type"] == "message"))
    };
    events.iter().any(text) && reply_calls(c).is_empty()
}

/// A tool-result turn: the assistant's calls echoed back (id, name), and the ids the results answer.
type ToolTurn = (Vec<(String, String)>, Vec<String>);

/// What a request ends with: its tool results, or None for a user turn.
fn tool_turn(c: &Captured) -> Option<ToolTurn> {
    let body = c.json();
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    if let Some(input) = body["input"].as_array() {
        // The last turn's items: its calls, then their outputs, at the end of the input.
        let outputs = input.iter().rev().take_while(|i| i["type"] == "function_call_output").count();
        let (before, tail) = input.split_at(input.len() - outputs);
        let calls_n = before.iter().rev().take_while(|i| i["type"] == "function_call").count();
        let calls =
            before[before.len() - calls_n..].iter().map(|i| (s(&i["call_id"]), s(&i["name"]))).collect();
        let results = tail.iter().map(|i| s(&i["call_id"])).collect();
        return (outputs > 0).then_some((calls, results));
    }
    let messages = body["messages"].as_array().expect("messages");
    let last = messages.last().expect("a message");
    if last["role"] == "tool" {
        // OpenAI chat: the tool messages after the assistant's calls.
        let at = messages.iter().rposition(|m| m["role"] == "assistant").expect("the calls");
        let calls = messages[at]["tool_calls"].as_array().expect("tool_calls");
        let calls = calls.iter().map(|tc| (s(&tc["id"]), s(&tc["function"]["name"]))).collect();
        let results = messages[at + 1..].iter().map(|m| s(&m["tool_call_id"])).collect();
        return Some((calls, results));
    }
    let blocks = last["content"].as_array()?;
    let results: Vec<_> =
        blocks.iter().filter(|b| b["type"] == "tool_result").map(|b| s(&b["tool_use_id"])).collect();
    let before = messages[messages.len() - 2]["content"].as_array().expect("the tool_use blocks");
    let calls =
        before.iter().filter(|b| b["type"] == "tool_use").map(|b| (s(&b["id"]), s(&b["name"]))).collect();
    (!results.is_empty()).then_some((calls, results))
}

#[test]
fn a_tool_call_reply_is_followed_by_its_results_in_every_protocol() {
    let mock = Mock::start(&["--cores", "1", "--ttft", "0", "--itl", "0", "--output-tokens", "4"]);
    let proxy = Capture::proxy(&mock.addr);
    let base = proxy.url.trim_end_matches("/v1/chat/completions").to_string();
    let mut scenarios = Vec::new();
    for (protocol, path, model) in [
        ("openai-chat", "/v1/chat/completions", "mock-gpt"),
        ("anthropic", "/v1/messages", "mock-claude"),
        ("openai-responses", "/v1/responses", "mock-gpt"),
    ] {
        for stream in [true, false] {
            scenarios.push(json!({"name": format!("{protocol}-{stream}"), "protocol": protocol,
                "target": format!("{base}{path}"), "model": model, "stream": stream, "turns": 4,
                "tools": tools(), "tool_result_tokens": 32, "headers": {"x-mock-tool-calls": "2"}}));
        }
    }
    let p = profile_file(
        "tool-turns",
        json!({"defaults": {"max_tokens": 16}, "stages": ["6:1500ms"], "grace": "5s", "scenarios": scenarios}),
    );
    let run = run_llmload(&[p.to_str().unwrap(), "--cores", "1"], Duration::from_secs(60));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let all = stage_all(&run.summary, 0);
    assert_accounted(all);
    let got = proxy.requests();
    // Every turn sent is accounted, one result line each.
    assert_eq!(n(&all["requests"]), got.len() as u64, "{all}");
    assert_eq!(run.lines().len(), got.len());
    assert_eq!(n(&all["failed"]), 0, "{all}");
    let mut conversations: BTreeMap<String, Vec<&Captured>> = BTreeMap::new();
    for c in &got {
        conversations
            .entry(c.header("x-request-id").expect("a conversation id").to_string())
            .or_default()
            .push(c);
    }
    // Each conversation's turns are numbered 1..k over the k requests it sent, tool-result
    // turns among them.
    let mut numbered: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for l in run.lines() {
        numbered.entry(l["conv_uuid"].as_str().unwrap().to_string()).or_default().push(n(&l["turn"]));
    }
    for (id, turns) in &conversations {
        let mut seen = numbered[id].clone();
        seen.sort_unstable();
        assert_eq!(seen, (1..=turns.len() as u64).collect::<Vec<_>>(), "conversation {id}");
    }
    let (mut tool_turns, mut kinds) = (0, std::collections::BTreeSet::new());
    for turns in conversations.values() {
        assert!(turns.len() <= 4);
        assert!(tool_turn(turns[0]).is_none(), "a conversation starts with the user");
        for pair in turns.windows(2) {
            let (before, after) = (pair[0], pair[1]);
            let sent = reply_calls(before);
            match tool_turn(after) {
                Some((echoed, answered)) => {
                    // Exactly the ids (and names) the mock returned, in its order.
                    assert_eq!(sent.len(), 2, "{}", String::from_utf8_lossy(&before.reply));
                    assert_eq!(echoed, sent, "the calls go back as the mock sent them");
                    let ids: Vec<String> = sent.iter().map(|(id, _)| id.clone()).collect();
                    assert_eq!(answered, ids, "one result per call id");
                    assert!(ids.iter().all(|i| i.starts_with("call_") || i.starts_with("toolu_")), "{ids:?}");
                    if after.status == 200 && !after.reply.is_empty() {
                        assert!(reply_has_text(after), "a tool result gets text: {:?}", after.reply_json());
                    }
                    tool_turns += 1;
                    kinds.insert(
                        after.head.lines().next().unwrap().to_string() + &after.json()["stream"].to_string(),
                    );
                }
                None => assert!(sent.is_empty(), "a user turn follows a text answer only"),
            }
        }
    }
    assert_eq!(kinds.len(), 6, "every protocol, streamed and not, sent tool results: {kinds:?}");
    assert!(tool_turns >= 6);
    // Every call the mock made is counted; the tool-result turns answered in text.
    assert_eq!(n(&all["tool_calls"]), mock.metric("llmload_mock_tool_calls_emitted_total"));
    assert_eq!(n(&all["finish_tool_calls"]), mock.metric("llmload_mock_tool_call_replies_total"));
    assert_eq!(n(&all["tool_args_invalid"]), 0);
}

#[test]
fn the_mock_calls_tools_at_its_rate_and_counts_the_replies() {
    for (rate, some) in [("0.5", true), ("0", false)] {
        let mock = Mock::start(&["--cores", "1", "--ttft", "0", "--itl", "0", "--tool-call-rate", rate]);
        let p = profile_file(
            "tool-rate",
            json!({"defaults": {"target": format!("http://{}/v1/chat/completions", mock.addr),
                                "model": "mock-gpt", "max_tokens": 8, "stream": true},
                   "stages": ["2:700ms"], "scenarios": [{"name": "agent", "tools": tools()}]}),
        );
        let run = run_llmload(&[p.to_str().unwrap(), "--cores", "1"], Duration::from_secs(60));
        assert_eq!(run.code, 0, "{}", run.stderr);
        let all = stage_all(&run.summary, 0);
        let (ok, called) = (n(&all["ok"]), n(&all["finish_tool_calls"]));
        assert!(ok >= 20, "{all}");
        assert_eq!(called, mock.metric("llmload_mock_tool_call_replies_total"), "rate {rate}: {all}");
        assert_eq!(n(&all["tool_calls"]), called, "one call per calling reply");
        if some {
            // 0.5 of at least 20: all or none has odds below one in a million.
            assert!(called > 0 && called < ok, "rate {rate}: {called} of {ok}");
        } else {
            assert_eq!(called, 0);
        }
    }
    let (code, _, err) = common::llmload(&["mock", "--tool-call-rate", "2", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("tool_call_rate"), "{err}");
}

#[test]
fn a_reply_of_a_thousand_calls_is_counted_and_sixteen_go_back() {
    let calls: Vec<Value> = (0..1000)
        .map(|i| {
            json!({"id": format!("call_{i}"), "type": "function",
                        "function": {"name": "lookup", "arguments": "{\"q\":\"x\"}"}})
        })
        .collect();
    let body = json!({"id": "chatcmpl-1", "object": "chat.completion", "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": calls},
                     "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 9000}});
    let server = Capture::replying(body.to_string());
    let p = profile_file(
        "tool-flood",
        json!({"defaults": {"target": server.url, "model": "m", "max_tokens": 8},
               "stages": ["1:500ms"], "scenarios": [{"name": "agent", "turns": 2, "tools": tools()}]}),
    );
    let run = run_llmload(&[p.to_str().unwrap(), "--cores", "1"], Duration::from_secs(60));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let all = stage_all(&run.summary, 0);
    assert_accounted(all);
    assert!(n(&all["ok"]) >= 2, "{all}");
    assert_eq!(n(&all["tool_calls"]), 1000 * n(&all["ok"]), "every call counted: {all}");
    assert_eq!(n(&all["tool_args_invalid"]), 0);
    let results: Vec<_> = server.requests().iter().filter_map(tool_turn).collect();
    assert!(!results.is_empty());
    for (echoed, answered) in results {
        let want: Vec<String> = (0..16).map(|i| format!("call_{i}")).collect();
        assert_eq!(answered, want, "the first 16 calls go back");
        assert_eq!(echoed.len(), 16);
    }
}
