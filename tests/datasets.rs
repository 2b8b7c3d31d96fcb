//! Datasets over loopback (the real binary against a server that records every request):
//! prompts arrive verbatim and in file order, ShareGPT turns in order with the recorded
//! lengths as max_tokens, live and recorded history, the cache-bust prefix, the profile-less
//! `--dataset`, and bad datasets refused (exit 2, `file:line`) before anything is sent.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use common::capture::{Capture, Captured};
use common::{assert_accounted, llmload, profile_file, run_llmload, stage_all, tempdir, Target};

/// Writes `text` as `name` in a fresh directory.
fn data_file(name: &str, text: &str) -> PathBuf {
    let path = tempdir("dataset").join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A one-scenario profile against `addr` with `content`, 1 user for `stage`.
fn profile(addr: &str, cache_mode: &str, content: Value) -> Value {
    json!({
        "defaults": {"target": format!("http://{addr}/v1/chat/completions"), "model": "m", "max_tokens": 64},
        "stages": ["1:700ms"],
        "cache_mode": cache_mode,
        "scenarios": [{"name": "replay", "content": content}]
    })
}

/// Runs a profile on one core and returns what the server saw, in order.
fn run(profile: Value) -> Vec<Captured> {
    let server = Capture::numbered();
    let addr = server.url.trim_start_matches("http://").split('/').next().unwrap().to_string();
    let text = profile.to_string().replace("ADDR", &addr);
    let path = profile_file("datasets", serde_json::from_str(&text).unwrap());
    let run = run_llmload(&[path.to_str().unwrap(), "--cores", "1", "--no-jsonl"], Duration::from_secs(30));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_accounted(stage_all(&run.summary, 0));
    server.requests()
}

/// (role, content) of every message of a request.
fn messages(c: &Captured) -> Vec<(String, String)> {
    c.json()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap().to_string(), m["content"].as_str().unwrap().to_string()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(r, c)| (r.to_string(), c.to_string())).collect()
}

/// The estimate of a recorded reply's length (chars / 4 rounded up, at least 1).
fn estimate(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}

#[test]
fn jsonl_prompts_are_sent_verbatim_in_file_order() {
    let odd = "Quotes \" and \\ backslashes,\ttabs,\nnew lines, é, 😀, and </script>";
    let lines = [
        json!({"prompt": odd, "max_tokens": 9}),
        json!({"messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "u1"},
                            {"role": "assistant", "content": "a1"}, {"role": "user", "content": "u2"}],
               "output_tokens": 5}),
        json!({"prompt": "  leading and trailing spaces  "}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let file = data_file("p.jsonl", &text);
    let seen = run(profile("ADDR", "natural", json!({"mode": "dataset", "path": file})));
    assert!(seen.len() >= 6, "only {} requests", seen.len());
    let want = [
        (pairs(&[("user", odd)]), 9),
        (pairs(&[("system", "Be terse."), ("user", "u1"), ("assistant", "a1"), ("user", "u2")]), 5),
        (pairs(&[("user", "  leading and trailing spaces  ")]), 64),
    ];
    for (i, c) in seen.iter().enumerate() {
        let (msgs, max_tokens) = &want[i % 3];
        assert_eq!(&messages(c), msgs, "request {i}");
        assert_eq!(c.json()["max_tokens"], *max_tokens, "request {i}");
    }
}

const SHAREGPT: &str = r#"[
  {"id": "a", "conversations": [
    {"from": "system", "value": "You are a careful assistant."},
    {"from": "human", "value": "first question"},
    {"from": "gpt", "value": "a recorded answer that is forty-one chars"},
    {"from": "human", "value": "second question"},
    {"from": "gpt", "value": "short"},
    {"from": "human", "value": "third, never answered"}
  ]},
  {"id": "b", "conversations": [{"from": "human", "value": "single"}, {"from": "gpt", "value": "one two three four five six"}]}
]"#;

/// The first requests of a ShareGPT replay: conversation a (3 turns) then b, and again.
fn sharegpt_requests(history: &str) -> Vec<Captured> {
    let file = data_file("s.json", SHAREGPT);
    let content = json!({"mode": "dataset", "path": file, "history": history});
    let seen = run(profile("ADDR", "natural", content));
    assert!(seen.len() >= 8, "only {} requests", seen.len());
    seen
}

#[test]
fn sharegpt_turns_go_in_order_with_the_recorded_lengths_and_live_history() {
    let seen = sharegpt_requests("live");
    let (a1, a2) = ("a recorded answer that is forty-one chars", "short");
    for (k, cycle) in seen.chunks(4).enumerate() {
        let n = 4 * k; // requests before this cycle
        let reply = |i: usize| format!("reply-{}", n + i);
        let want = [
            pairs(&[("system", "You are a careful assistant."), ("user", "first question")]),
            pairs(&[
                ("system", "You are a careful assistant."),
                ("user", "first question"),
                ("assistant", &reply(1)),
                ("user", "second question"),
            ]),
            pairs(&[
                ("system", "You are a careful assistant."),
                ("user", "first question"),
                ("assistant", &reply(1)),
                ("user", "second question"),
                ("assistant", &reply(2)),
                ("user", "third, never answered"),
            ]),
            pairs(&[("user", "single")]),
        ];
        let max_tokens = [estimate(a1), estimate(a2), 64, estimate("one two three four five six")];
        for (i, c) in cycle.iter().enumerate() {
            assert_eq!(messages(c), want[i], "request {}", n + i);
            assert_eq!(c.json()["max_tokens"], max_tokens[i], "request {}", n + i);
        }
        // One conversation id per conversation.
        let ids: Vec<&str> = cycle.iter().map(|c| c.header("x-request-id").unwrap()).collect();
        if ids.len() == 4 {
            assert!(ids[0] == ids[1] && ids[1] == ids[2] && ids[2] != ids[3], "{ids:?}");
        }
    }
    assert_eq!((estimate(a1), estimate(a2)), (11, 2));
}

#[test]
fn recorded_history_sends_the_datasets_replies() {
    let seen = sharegpt_requests("recorded");
    let third = pairs(&[
        ("system", "You are a careful assistant."),
        ("user", "first question"),
        ("assistant", "a recorded answer that is forty-one chars"),
        ("user", "second question"),
        ("assistant", "short"),
        ("user", "third, never answered"),
    ]);
    for (k, cycle) in seen.chunks(4).filter(|c| c.len() == 4).enumerate() {
        assert_eq!(messages(&cycle[2]), third, "cycle {k}");
        assert_eq!(messages(&cycle[1]), third[..4], "cycle {k}");
    }
}

#[test]
fn cache_busting_puts_the_conversation_id_in_front_of_the_first_user_message() {
    let file = data_file("s.json", SHAREGPT);
    let seen = run(profile("ADDR", "bust", json!({"mode": "dataset", "path": file})));
    assert!(seen.len() >= 4, "only {} requests", seen.len());
    let id = seen[0].header("x-request-id").unwrap();
    let first = format!("[conversation {id}] first question");
    assert_eq!(messages(&seen[0])[1].1, first);
    // The history keeps the prefixed message; later user messages are sent as written.
    let second = messages(&seen[1]);
    assert_eq!((second[1].1.as_str(), second[3].1.as_str()), (first.as_str(), "second question"));
    let b_id = seen[3].header("x-request-id").unwrap();
    assert_eq!(messages(&seen[3]), pairs(&[("user", &format!("[conversation {b_id}] single"))]));
}

#[test]
fn dataset_replays_a_text_file_without_a_profile() {
    let server = Capture::numbered();
    let file = data_file("p.txt", "line one\n\nline \"two\"\r\nline three\n");
    let target = server.url.trim_end_matches("/chat/completions").to_string();
    let run = run_llmload(
        &[
            "--target",
            &target,
            "--dataset",
            file.to_str().unwrap(),
            "--stages",
            "1:500ms",
            "--cores",
            "1",
            "--no-jsonl",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let seen = server.requests();
    assert!(seen.len() >= 3, "only {} requests", seen.len());
    for (i, c) in seen.iter().enumerate() {
        let want = ["line one", "line \"two\"", "line three"][i % 3];
        let id = c.header("x-request-id").unwrap();
        // The implicit profile keeps the default cache busting.
        assert_eq!(messages(c), pairs(&[("user", &format!("[conversation {id}] {want}"))]), "request {i}");
        assert_eq!(c.json()["max_tokens"], 64);
    }
    // The recorded profile names the dataset.
    assert_eq!(run.summary["meta"]["profile"]["scenarios"][0]["content"]["mode"], "dataset");
}

#[test]
fn a_bad_dataset_is_refused_before_anything_is_sent() {
    let target = Target::new();
    let bad = data_file(
        "bad.jsonl",
        "{\"prompt\": \"fine\"}\n{\"prompt\": \"x\", \"max_tokns\": 3}\n\n{\"messages\": 1}\n",
    );
    let p = profile_file(
        "bad-dataset",
        json!({
            "defaults": {"target": target.url, "model": "m"},
            "stages": ["1:1s"],
            "scenarios": [{"name": "d", "content": {"mode": "dataset", "path": bad}}]
        }),
    );
    let (code, _, stderr) =
        llmload(&["run", p.to_str().unwrap(), "--out", tempdir("bad-out").to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    let file = bad.display();
    assert!(stderr.contains(&format!("{file}:2: max_tokns: unknown field")), "{stderr}");
    assert!(stderr.contains(&format!("{file}:4: messages: invalid type: integer `1`")), "{stderr}");
    target.assert_untouched("bad jsonl");

    let bad = data_file("bad.json", "[\n {\"conversations\": [{\"from\": \"human\", \"value\": \"ok\"}]},\n {\"conversations\": [{\"from\": \"robot\", \"value\": \"x\"}]}\n]");
    let (code, _, stderr) = llmload(&[
        "run",
        "--target",
        &target.url,
        "--dataset",
        bad.to_str().unwrap(),
        "--out",
        tempdir("bad-out").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("{}: entry 1 (line 3): conversations[0].from: \"robot\"", bad.display())),
        "{stderr}"
    );
    target.assert_untouched("bad sharegpt");

    let (code, _, stderr) = llmload(&["run", "--target", &target.url, "--dataset", "/nonexistent/d.jsonl"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--dataset: cannot read /nonexistent/d.jsonl"), "{stderr}");
    let (code, _, stderr) = llmload(&[
        "run",
        "--target",
        &target.url,
        "--dataset",
        bad.to_str().unwrap(),
        "--dataset-format",
        "csv",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--dataset-format: \"csv\" is not one of jsonl, sharegpt, text"), "{stderr}");
    // With a profile, --dataset is a usage error (the profile sets its own content).
    let (code, _, stderr) = llmload(&["run", p.to_str().unwrap(), "--dataset", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--dataset describes a run without a profile"), "{stderr}");
    target.assert_untouched("flag errors");
}
