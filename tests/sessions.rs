//! Sessions: what a closed loop's N counts (`concurrency`), connections per conversation,
//! and the session-affinity header.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::capture::Capture;
use common::{profile_file, run_llmload, stage_all, Mock};
use serde_json::json;

fn profile(tag: &str, target: &str, extra: serde_json::Value) -> std::path::PathBuf {
    let mut p = json!({
        "defaults": {"target": target, "model": "mock-gpt", "max_tokens": 4},
        "stages": ["2:2s"],
        "think_time": "400ms",
        "scenarios": [{"name": "chat", "turns": 3}],
    });
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    profile_file(tag, p)
}

#[test]
fn requests_concurrency_sends_other_conversations_during_think_time() {
    let mock = Mock::start(&["--ttft", "1ms", "--itl", "0", "--output-tokens", "2"]);
    let target = format!("http://{}/v1/chat/completions", mock.addr);
    let count = |extra| {
        let p = profile("concurrency", &target, extra);
        let run = run_llmload(&[p.to_str().unwrap(), "--cores", "1"], Duration::from_secs(60));
        assert_eq!(run.code, 0, "{}", run.stderr);
        stage_all(&run.summary, 0)["requests"].as_u64().unwrap()
    };
    // Sessions: 2 users each wait 400 ms between turns, so ~5 requests/s each.
    let sessions = count(json!({}));
    assert!(sessions <= 2 * 8, "2 seated users over 2 s with 400 ms think time sent {sessions}");
    // Requests: a thinking conversation frees its user for another one's turn.
    let requests = count(json!({"concurrency": "requests"}));
    assert!(requests >= 5 * sessions, "requests mode sent {requests}, sessions mode {sessions}");
}

#[test]
fn per_conversation_connections_and_the_session_header() {
    let server = Capture::start();
    let p = profile(
        "per-conv",
        &server.url,
        json!({"connection": "per-conversation", "session_header": "x-session-id", "think_time": "50ms",
               "stages": ["1:1500ms"]}),
    );
    let run = run_llmload(&[p.to_str().unwrap(), "--cores", "1"], Duration::from_secs(60));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let got = server.requests();
    let mut conns: HashMap<String, HashSet<usize>> = HashMap::new();
    for c in &got {
        let session = c.header("x-session-id").expect("the session header on every turn");
        assert_eq!(Some(session), c.header("x-request-id"), "one id per conversation");
        conns.entry(session.to_string()).or_default().insert(c.conn);
    }
    assert!(conns.len() >= 3, "several conversations ran: {}", conns.len());
    // Each conversation on one connection of its own.
    assert!(conns.values().all(|c| c.len() == 1), "{conns:?}");
    let all: HashSet<usize> = conns.values().flatten().copied().collect();
    assert_eq!(all.len(), conns.len(), "no connection serves two conversations");

    // Shared (the default): the user's one connection serves every conversation.
    let server = Capture::start();
    let p = profile("shared", &server.url, json!({"think_time": "50ms", "stages": ["1:1s"]}));
    let run = run_llmload(&[p.to_str().unwrap(), "--cores", "1"], Duration::from_secs(60));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let got = server.requests();
    let sessions: HashSet<&str> = got.iter().filter_map(|c| c.header("x-request-id")).collect();
    assert!(sessions.len() >= 2);
    assert_eq!(got.iter().map(|c| c.conn).collect::<HashSet<_>>().len(), 1);
}

#[test]
fn bad_session_options_are_refused_naming_the_field() {
    for (extra, field) in [
        (json!({"concurrency": "request"}), "concurrency"),
        (json!({"connection": "per-conv"}), "connection"),
        (json!({"session_header": "bad header"}), "session_header"),
        (json!({"connection": "per-conversation", "connections": 4}), "connections"),
    ] {
        let p = profile("bad-sessions", "http://127.0.0.1:9/v1/chat/completions", extra);
        let (code, _, stderr) = common::llmload(&["validate", p.to_str().unwrap()]);
        assert_eq!(code, 2, "{field}: {stderr}");
        assert!(stderr.contains(field), "{field}: {stderr}");
    }
}
