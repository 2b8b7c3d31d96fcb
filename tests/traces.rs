//! Trace replay as a stage: arrivals at the recorded times × time_scale (to the µs), one
//! request per record with its lengths, Mooncake prefix blocks shared on the bytes sent,
//! sessions as conversations, every sample format, and bad records refused before any load.

mod common;

use std::time::Duration;

use common::capture::{Capture, Captured};
use common::{llmload, profile_file, run_llmload, tempdir, Target};
use serde_json::{json, Value};

/// A replay ran: exit 0, or 3 when a loaded machine made llmload fall behind a few ms
/// (its verdict then says so); the figures checked here do not depend on it.
fn assert_replayed(code: i32, out: &str) {
    assert!(code == 0 || (code == 3 && out.contains("GENERATOR-BOUND")), "exit {code}: {out}");
}

/// The last user message's text of a captured chat request.
fn user_text(c: &Captured) -> String {
    let body = c.json();
    let messages = body["messages"].as_array().expect("messages");
    let last = messages.iter().rev().find(|m| m["role"] == "user").expect("a user message");
    last["content"].as_str().expect("text content").to_string()
}

fn o200k(text: &str) -> usize {
    tiktoken_rs::o200k_base_singleton().encode_ordinary(text).len()
}

fn trace_profile(tag: &str, target: &str, stage: Value) -> std::path::PathBuf {
    profile_file(
        tag,
        json!({
            "defaults": {"target": target, "model": "m", "max_tokens": 8},
            "stages": [stage],
        }),
    )
}

#[test]
fn mooncake_records_arrive_at_their_scaled_times_with_their_lengths_and_shared_blocks() {
    let server = Capture::start();
    let dir = tempdir("mooncake");
    // (timestamp ms, input, output, hash_ids); blocks of 16 tokens.
    let records: [(u64, u32, u32, &[u64]); 6] = [
        (0, 48, 5, &[1, 2, 3]),
        (100, 60, 7, &[1, 2, 4, 9]),
        (250, 20, 3, &[1, 5]),
        (400, 64, 4, &[1, 2, 3, 6]),
        (400, 16, 2, &[7]),
        (900, 30, 6, &[1, 2]),
    ];
    let text: String = records
        .iter()
        .map(|(t, i, o, h)| {
            json!({"timestamp": t, "input_length": i, "output_length": o, "hash_ids": h}).to_string() + "\n"
        })
        .collect();
    std::fs::write(dir.join("t.jsonl"), text).unwrap();
    let profile = trace_profile(
        "mooncake-profile",
        &server.url,
        json!({"trace": dir.join("t.jsonl"), "format": "mooncake", "time_scale": 0.5, "block_tokens": 16}),
    );
    let run = run_llmload(&[profile.to_str().unwrap(), "--cores", "1"], Duration::from_secs(60));
    assert_replayed(run.code, &format!("{}{}", run.stdout, run.stderr));
    let lines = run.lines();
    assert_eq!(lines.len(), records.len(), "one request per record");
    // Intended starts are the recorded times × 0.5, to the µs.
    let mut starts: Vec<u64> = lines.iter().map(|l| l["intended_start"].as_u64().unwrap()).collect();
    starts.sort();
    for (s, (t, ..)) in starts.iter().zip(&records) {
        let want = t * 1000 / 2;
        assert!((s - starts[0]).abs_diff(want) <= 1, "offset {} µs, recorded {t} ms × 0.5", s - starts[0]);
    }
    // Each request has the record's lengths: exact input tokens, output as max_tokens.
    let got = server.requests();
    assert_eq!(got.len(), records.len());
    let mut by_len: Vec<(usize, u64, String)> = got
        .iter()
        .map(|c| (o200k(&user_text(c)), c.json()["max_tokens"].as_u64().unwrap(), user_text(c)))
        .collect();
    by_len.sort();
    let mut want: Vec<(usize, u64)> =
        records.iter().map(|(_, i, o, _)| (*i as usize, u64::from(*o))).collect();
    want.sort();
    assert_eq!(by_len.iter().map(|(i, o, _)| (*i, *o)).collect::<Vec<_>>(), want);
    // Prefix blocks: records sharing k leading hash_ids share exactly k blocks of text.
    let text_of = |input: u32| by_len.iter().find(|(i, ..)| *i == input as usize).unwrap().2.clone();
    let words = |s: &str| s.split(' ').skip(1).map(str::to_string).collect::<Vec<_>>();
    let block = |s: &str, k: usize| words(s).get(k * 16..(k + 1) * 16).map(|w| w.concat());
    let (a, b, c, d, e) = (text_of(48), text_of(60), text_of(20), text_of(64), text_of(16));
    for (x, y, shared) in [(&a, &b, 2), (&a, &c, 1), (&a, &d, 3), (&b, &d, 2), (&a, &e, 0)] {
        for k in 0..shared {
            assert_eq!(block(x, k), block(y, k), "block {k} is shared");
        }
        assert_ne!(block(x, shared), block(y, shared), "block {shared} is not");
    }
}

#[test]
fn jsonl_sessions_replay_as_conversations_in_order() {
    let server = Capture::start();
    let dir = tempdir("sessions");
    let records = [
        json!({"timestamp_ms": 0, "input_tokens": 10, "output_tokens": 3, "session_id": "a", "prompt": "first of a"}),
        json!({"timestamp_ms": 20, "input_tokens": 12, "output_tokens": 4}),
        json!({"timestamp_ms": 40, "input_tokens": 10, "output_tokens": 5, "session_id": "a", "prompt": "second of a"}),
        json!({"timestamp_ms": 60, "input_tokens": 10, "output_tokens": 6, "session_id": "b",
               "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "only of b"}]}),
        json!({"timestamp_ms": 80, "input_tokens": 10, "output_tokens": 7, "session_id": "a", "prompt": "third of a"}),
    ];
    let text: String = records.iter().map(|r| r.to_string() + "\n").collect();
    std::fs::write(dir.join("t.jsonl"), text).unwrap();
    let profile = trace_profile(
        "sessions-profile",
        &server.url,
        json!({"trace": dir.join("t.jsonl"), "format": "jsonl"}),
    );
    let run = run_llmload(&[profile.to_str().unwrap()], Duration::from_secs(60));
    assert_replayed(run.code, &format!("{}{}", run.stdout, run.stderr));
    let lines = run.lines();
    assert_eq!(lines.len(), 5);
    let got = server.requests();
    let find =
        |needle: &str| got.iter().find(|c| user_text(c) == needle).unwrap_or_else(|| panic!("{needle} sent"));
    // Session a: three turns of one conversation, each carrying the ones before.
    let third = find("third of a").json();
    let contents: Vec<&str> =
        third["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(contents, ["first of a", "ok then", "second of a", "ok then", "third of a"]);
    assert_eq!(third["max_tokens"], 7);
    let conv = |needle: &str| {
        let id =
            find(needle).head.lines().find_map(|l| l.strip_prefix("x-request-id: ")).unwrap().to_string();
        id
    };
    assert_eq!(conv("first of a"), conv("third of a"));
    assert_ne!(conv("first of a"), conv("only of b"));
    let a_turns: Vec<(u64, u64)> = lines
        .iter()
        .filter(|l| l["conv_uuid"] == conv("first of a").as_str())
        .map(|l| (l["turn"].as_u64().unwrap(), l["turns_total"].as_u64().unwrap()))
        .collect();
    assert_eq!(a_turns, [(1, 3), (2, 3), (3, 3)]);
    // Session b: the recorded messages as written, system included.
    let b = find("only of b").json();
    assert_eq!(b["messages"][0], json!({"role": "system", "content": "be brief"}));
    // A record without a prompt: generated text of exactly its input length.
    let generated = got.iter().find(|c| c.json()["max_tokens"] == 4).unwrap();
    assert_eq!(o200k(&user_text(generated)), 12);
}

#[test]
fn every_sample_trace_replays_one_request_per_usable_record() {
    let server = Capture::start();
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/data");
    // Time scales that replay each sample's 40 records in about a second.
    for (file, format, scale) in [
        ("mooncake-sample.jsonl", "mooncake", "0.04"),
        ("azure-sample.csv", "azure", "0.1"),
        ("burstgpt-sample.csv", "burstgpt", "0.012"),
        ("trace-sample.jsonl", "jsonl", "0.06"),
    ] {
        let path = data.join(file);
        let before = server.requests().len();
        let (code, stdout, stderr) = llmload(&[
            "run",
            "--target",
            &server.url,
            "--trace",
            path.to_str().unwrap(),
            "--trace-format",
            format,
            "--time-scale",
            scale,
            "--out",
            tempdir("samples").to_str().unwrap(),
        ]);
        assert_replayed(code, &format!("{file}: {stdout}{stderr}"));
        let sent = server.requests().len() - before;
        let records = usable_records(&path, format);
        assert_eq!(sent, records, "{file}: one request per usable record");
    }
}

/// Records a sample holds that replay (BurstGPT's failed rows and header lines excluded).
fn usable_records(path: &std::path::Path, format: &str) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let rows = text.lines().filter(|l| !l.trim().is_empty());
    match format {
        "azure" => rows.skip(1).count(),
        "burstgpt" => {
            rows.skip(1).filter(|l| !l.contains("Failure") && l.split(',').nth(3) != Some("0")).count()
        }
        _ => rows.count(),
    }
}

#[test]
fn a_bad_record_is_refused_with_its_line_before_any_load() {
    let target = Target::new();
    let dir = tempdir("bad-trace");
    let path = dir.join("bad.jsonl");
    std::fs::write(
        &path,
        "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 2, \"hash_ids\": [1]}\n\
         {\"timestamp\": 5, \"input_length\": \"ten\", \"output_length\": 2, \"hash_ids\": [1]}\n",
    )
    .unwrap();
    let (code, _, stderr) = llmload(&[
        "run",
        "--target",
        &target.url,
        "--trace",
        path.to_str().unwrap(),
        "--trace-format",
        "mooncake",
        "--out",
        tempdir("bad-out").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("bad.jsonl:2:"), "names file:line: {stderr}");
    let (code, _, stderr) = llmload(&[
        "run",
        "--target",
        &target.url,
        "--trace",
        path.to_str().unwrap(),
        "--trace-format",
        "moonkake",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("mooncake"), "suggests the format: {stderr}");
    target.assert_untouched("a bad trace");
}

#[test]
fn the_mock_counting_with_the_same_tokenizer_sees_each_records_lengths() {
    let mock = common::Mock::start(&[
        "--tokenizer",
        "o200k_base",
        "--output-tokens",
        "1000000",
        "--ttft",
        "0",
        "--itl",
        "0",
    ]);
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/data/mooncake-sample.jsonl");
    let want: Vec<(u64, u64)> = {
        let mut v: Vec<(u64, u64)> = std::fs::read_to_string(&sample)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .map(|r| (r["input_length"].as_u64().unwrap(), r["output_length"].as_u64().unwrap()))
            .collect();
        v.sort();
        v
    };
    let target = format!("http://{}/v1/chat/completions", mock.addr);
    let run = run_llmload(
        &[
            "--target",
            &target,
            "--model",
            "mock-gpt",
            "--trace",
            sample.to_str().unwrap(),
            "--trace-format",
            "mooncake",
            "--time-scale",
            "0.04",
        ],
        Duration::from_secs(60),
    );
    assert_replayed(run.code, &format!("{}{}", run.stdout, run.stderr));
    // The mock's prompt_tokens are the content's tokens + 3 per message + 3 (one message here).
    let mut got: Vec<(u64, u64)> = run
        .lines()
        .iter()
        .map(|l| (l["prompt_tokens"].as_u64().unwrap() - 6, l["completion_tokens"].as_u64().unwrap()))
        .collect();
    got.sort();
    assert_eq!(got, want);
}

#[test]
fn burstgpt_failed_rows_are_skipped_with_a_warning() {
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/data/burstgpt-sample.csv");
    let profile = trace_profile(
        "burstgpt-warning",
        "http://127.0.0.1:9/v1/chat/completions",
        json!({"trace": sample, "format": "burstgpt"}),
    );
    let (code, out, err) = llmload(&["validate", profile.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("2 failed rows (0 Response tokens) are skipped; 38 records replay"),
        "{out}{err}"
    );
}

#[test]
fn replayed_turns_are_counted_by_the_client_tokenizer_as_the_mock_counts_them() {
    let mock = common::Mock::start(&[
        "--tokenizer",
        "o200k_base",
        "--output-tokens",
        "1000000",
        "--ttft",
        "0",
        "--itl",
        "0",
    ]);
    let target = format!("http://{}/v1/chat/completions", mock.addr);
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/data");
    // Generated Mooncake text, and llmload JSONL with prompts, messages and sessions.
    for (file, format, scale) in
        [("mooncake-sample.jsonl", "mooncake", "0.04"), ("trace-sample.jsonl", "jsonl", "0.06")]
    {
        let path = data.join(file);
        let run = run_llmload(
            &[
                "--target",
                &target,
                "--model",
                "mock-gpt",
                "--tokenizer",
                "o200k_base",
                "--trace",
                path.to_str().unwrap(),
                "--trace-format",
                format,
                "--time-scale",
                scale,
            ],
            Duration::from_secs(60),
        );
        assert_replayed(run.code, &format!("{}{}", run.stdout, run.stderr));
        let all = common::stage_all(&run.summary, 0);
        assert!(all["ok"].as_u64().unwrap() > 0);
        assert_eq!(all["tokenizer_compared"], all["ok"], "{file}: {all}");
        for k in ["tokenizer_prompt_mismatch", "tokenizer_completion_mismatch"] {
            assert_eq!(all[k], 0, "{file}: {k}: {all}");
        }
        for l in run.lines() {
            assert_eq!(l["tokenizer_prompt_tokens"], l["prompt_tokens"], "{file}: {l}");
        }
    }
}

#[test]
fn a_session_whose_conversation_failed_goes_on_as_a_new_one_as_long_as_what_is_left() {
    // `fail me` fails at once: "three" comes after the failure. `fail slowly` fails after
    // 300 ms: "three" and "four" are handed to the conversation while the failing turn is in
    // flight, and must not be lost with it.
    for failing in ["fail me", "fail slowly"] {
        session_goes_on_after(failing);
    }
}

fn session_goes_on_after(failing: &str) {
    let server = Capture::start();
    let dir = tempdir("session-fail");
    let records: String = ["one", failing, "three", "four"]
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({"timestamp_ms": i * 30, "input_tokens": 5, "output_tokens": 2, "session_id": "s", "prompt": p})
                .to_string()
                + "\n"
        })
        .collect();
    std::fs::write(dir.join("t.jsonl"), records).unwrap();
    let profile = trace_profile(
        "session-fail-profile",
        &server.url,
        json!({"trace": dir.join("t.jsonl"), "format": "jsonl"}),
    );
    let run = run_llmload(&[profile.to_str().unwrap(), "--max-error-rate", "1"], Duration::from_secs(60));
    assert_replayed(run.code, &format!("{}{}", run.stdout, run.stderr));
    let mut turns: Vec<(u64, u64, u64, bool)> = run
        .lines()
        .iter()
        .map(|l| {
            (
                l["intended_start"].as_u64().unwrap(),
                l["turn"].as_u64().unwrap(),
                l["turns_total"].as_u64().unwrap(),
                l["status"] == 200,
            )
        })
        .collect();
    turns.sort();
    // "three" starts a new conversation due at its record's time (60 ms after "one"), also
    // when it waited behind the failing turn: that wait is latency, not a later start.
    let three_after_one = turns.get(2).map(|t| t.0).unwrap_or(0).abs_diff(turns[0].0);
    assert!(
        three_after_one.abs_diff(60_000) <= 1,
        "{failing}: \"three\" intended {three_after_one} µs after \"one\""
    );
    let turns: Vec<(u64, u64, bool)> = turns.into_iter().map(|(_, t, n, ok)| (t, n, ok)).collect();
    // The failed turn ends the first conversation; "three" and "four" are a new one of 2 turns.
    assert_eq!(turns, [(1, 4, true), (2, 4, false), (1, 2, true), (2, 2, true)], "{failing}");
    let all = common::stage_all(&run.summary, 0);
    assert_eq!((all["requests"].as_u64(), all["dropped"].as_u64()), (Some(4), Some(0)), "{failing}: {all}");
    let got = server.requests();
    let four = got.iter().find(|c| user_text(c) == "four").unwrap().json();
    let contents: Vec<&str> =
        four["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(contents, ["three", "ok then", "four"], "{failing}");
}
