//! The LLM workload over loopback: multi-turn history, cache busting and correlation ids,
//! weight apportionment, token totals and TTFT (first content event, not first byte), and
//! every shipped profile against the built-in mock.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{assert_accounted, run_llmload, stage_all, tempdir, Mock};

/// One captured request: headers (lower-case names) and the JSON body.
#[derive(Clone, Debug)]
struct Captured {
    headers: HashMap<String, String>,
    body: serde_json::Value,
}

/// A server that records every request and answers each with a chat completion whose
/// content is `reply-<n>` (n counts requests), or never answers when `hang` is set.
fn capturing_server(hang: bool) -> (String, Arc<Mutex<Vec<Captured>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen: Arc<Mutex<Vec<Captured>>> = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let mut headers = HashMap::new();
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        line.clear();
                        reader.read_line(&mut line).unwrap();
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        let (k, v) = l.split_once(':').unwrap();
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                    }
                    let len: usize = headers["content-length"].parse().unwrap();
                    let mut body = vec![0; len];
                    reader.read_exact(&mut body).unwrap();
                    let n = {
                        let mut log = log.lock().unwrap();
                        log.push(Captured { headers, body: serde_json::from_slice(&body).unwrap() });
                        log.len()
                    };
                    if hang {
                        std::thread::sleep(Duration::from_secs(5));
                        return;
                    }
                    let reply = format!(
                        r#"{{"choices":[{{"message":{{"role":"assistant","content":"reply-{n}"}}}}],"usage":{{"prompt_tokens":5,"completion_tokens":2}}}}"#
                    );
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{reply}",
                        reply.len()
                    );
                    if conn.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

fn write_profile(json: &serde_json::Value) -> std::path::PathBuf {
    let path = tempdir("profile").join("p.json");
    std::fs::write(&path, serde_json::to_vec_pretty(json).unwrap()).unwrap();
    path
}

#[test]
fn multi_turn_history_grows_in_order_with_one_uuid_per_conversation() {
    let (addr, seen) = capturing_server(false);
    let profile = write_profile(&serde_json::json!({
        "defaults": {"target": format!("http://{addr}/v1/chat/completions"), "model": "m", "system": "be brief"},
        "stages": ["2:600ms"],
        "cache_mode": "bust",
        "scenarios": [{"name": "chat", "turns": 3, "content": {"mode": "scripted", "script": ["one", "two", "three"]}}]
    }));
    let run = run_llmload(&[profile.to_str().unwrap(), "--cores", "1"], Duration::from_secs(20));
    assert_accounted(stage_all(&run.summary, 0));
    let seen = seen.lock().unwrap();
    // Group by conversation id (the correlation header).
    let mut convs: HashMap<String, Vec<Captured>> = HashMap::new();
    for c in seen.iter() {
        convs.entry(c.headers["x-request-id"].clone()).or_default().push(c.clone());
    }
    assert!(convs.len() >= 2, "{} conversations", convs.len());
    let mut complete = 0;
    for (uuid, turns) in &convs {
        assert_eq!(uuid.len(), 36, "RFC 4122 uuid: {uuid}");
        for (i, t) in turns.iter().enumerate() {
            let msgs = t.body["messages"].as_array().unwrap();
            // system + (user, assistant) * i + user
            assert_eq!(msgs.len(), 2 + 2 * i, "turn {} of {uuid}: {msgs:?}", i + 1);
            assert_eq!(msgs[0]["role"], "system");
            let first_user = msgs[1]["content"].as_str().unwrap();
            assert!(first_user.contains(uuid.as_str()), "bust prefix carries the uuid: {first_user}");
            assert!(first_user.ends_with("one"));
            if i >= 1 {
                assert_eq!(msgs[2]["role"], "assistant");
                assert!(msgs[2]["content"].as_str().unwrap().starts_with("reply-"));
                assert_eq!(msgs[3]["content"], "two");
            }
            if i == 2 {
                assert_eq!(msgs[5]["content"], "three");
                complete += 1;
            }
            // Every turn repeats the earlier ones exactly (the history only grows).
            if i > 0 {
                let prev = turns[i - 1].body["messages"].as_array().unwrap();
                assert_eq!(&msgs[..prev.len()], &prev[..]);
            }
        }
    }
    assert!(complete >= 1, "no conversation reached turn 3");
    // Bust prefixes are unique per conversation.
    let firsts: HashSet<String> =
        convs.values().map(|t| t[0].body["messages"][1]["content"].as_str().unwrap().to_string()).collect();
    assert_eq!(firsts.len(), convs.len());
}

#[test]
fn users_are_apportioned_by_weight() {
    // The server never answers, so each of the 10 users sends exactly one request.
    let (addr, seen) = capturing_server(true);
    let profile = write_profile(&serde_json::json!({
        "defaults": {"target": format!("http://{addr}/v1/chat/completions"), "model": "x"},
        "stages": ["10:400ms"],
        "scenarios": [
            {"name": "a", "weight": 55, "model": "model-a"},
            {"name": "b", "weight": 30, "model": "model-b"},
            {"name": "c", "weight": 15, "model": "model-c"}
        ]
    }));
    let run = run_llmload(
        &[profile.to_str().unwrap(), "--cores", "2", "--grace", "200ms"],
        Duration::from_secs(20),
    );
    let all = stage_all(&run.summary, 0);
    assert_accounted(all);
    let seen = seen.lock().unwrap();
    let count = |m: &str| seen.iter().filter(|c| c.body["model"] == m).count();
    assert_eq!((count("model-a"), count("model-b"), count("model-c")), (6, 3, 1));
    assert_eq!(all["cancelled"].as_u64().unwrap(), 10);
}

#[test]
fn ttft_is_the_first_content_event_and_tokens_match_the_mock() {
    let mock = Mock::start(&["--cores", "1", "--itl", "1ms", "--output-tokens", "12"]);
    let target = format!("http://{}/v1", mock.addr);
    let run = run_llmload(
        &[
            "--target",
            &target,
            "--stages",
            "2:1500ms",
            "--stream",
            "--cores",
            "1",
            "--header",
            "x-mock-ttft-ms: 200",
        ],
        Duration::from_secs(20),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let all = stage_all(&run.summary, 0);
    // Headers and the role chunk arrive at once; the first token only after 200 ms.
    assert!(all["us"]["ttfb"]["p50"].as_u64().unwrap() < 100_000, "{all}");
    assert!(all["us"]["ttft"]["p50"].as_u64().unwrap() >= 200_000, "{all}");
    // Token totals equal what the mock says it emitted.
    let metrics = {
        let mut s = mock.connect();
        s.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
        common::read_response(&mut s, std::time::Instant::now())
    };
    let text = String::from_utf8(metrics.body).unwrap();
    let emitted: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("llmload_mock_tokens_emitted_total "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(all["completion_tokens"].as_u64().unwrap(), emitted);
    assert_eq!(all["completion_tokens"].as_u64().unwrap(), 12 * all["ok"].as_u64().unwrap());
}

#[test]
fn every_shipped_profile_runs_against_the_built_in_mock() {
    let mut profiles: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/profiles"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    profiles.sort();
    assert!(profiles.len() >= 10);
    for p in profiles {
        let run = run_llmload(
            // 10 users reach every scenario of every profile (3 would leave ai-gateway's
            // 10 % long-ctx without a user, which is refused).
            &[p.to_str().unwrap(), "--mock", "--stages", "10:1s", "--warmup", "0", "--grace", "3s"],
            Duration::from_secs(30),
        );
        let all = stage_all(&run.summary, 0);
        assert!(all.is_object(), "{}: {}", p.display(), run.stderr);
        assert_accounted(all);
        assert!(all["ok"].as_u64().unwrap() > 0, "{}: {all}", p.display());
        assert_eq!(all["failed"], 0, "{}: {all}", p.display());
        // No secret placeholder leaks into the reports.
        let report = std::fs::read_to_string(run.dir.join("report.txt")).unwrap();
        assert!(!report.contains("REPLACE_WITH_VK"));
    }
}

#[test]
fn the_key_never_reaches_any_output() {
    let mock = Mock::start(&["--cores", "1", "--ttft", "0", "--itl", "0", "--output-tokens", "3"]);
    let target = format!("http://{}/v1", mock.addr);
    let secret = "sk-super-secret-key-12345";
    let (tenant, bearer) = ("tenant-secret-67890", "sk-bearer-in-a-header");
    let run = run_llmload(
        &[
            "--target",
            &target,
            "--stages",
            "1:300ms",
            "--vk",
            secret,
            "--header",
            &format!("X-Tenant-Token: {tenant}"),
            "--redact-header",
            "x-tenant-token",
            "--header",
            &format!("Authorization: Bearer {bearer}"),
        ],
        Duration::from_secs(20),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    for s in [secret, tenant, bearer] {
        assert!(!run.stdout.contains(s) && !run.stderr.contains(s), "{s} printed");
    }
    let mut files = 0;
    for entry in std::fs::read_dir(&run.dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for s in [secret, tenant, bearer] {
            assert!(!text.contains(s), "{s} in {}", path.display());
        }
        files += 1;
    }
    assert!(files >= 7, "every output file was checked ({files})");
    assert!(run.summary["meta"]["command"].to_string().contains("<redacted>"));
}

#[test]
fn results_jsonl_has_a_parsable_line_per_turn_and_marks_warmup() {
    let mock = Mock::start(&["--cores", "1", "--ttft", "2ms", "--itl", "1ms", "--output-tokens", "5"]);
    let target = format!("http://{}/v1", mock.addr);
    let run = run_llmload(
        &["--target", &target, "--stages", "3:1s,@40:1s", "--warmup", "300ms", "--stream", "--cores", "1"],
        Duration::from_secs(20),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(run.dir.join("results.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let measured = lines.iter().filter(|l| l["warmup"] == false).count() as u64;
    let warmup = lines.iter().filter(|l| l["warmup"] == true).count();
    let requests: u64 = (0..2).map(|i| stage_all(&run.summary, i)["requests"].as_u64().unwrap()).sum();
    assert_eq!(measured, requests);
    assert!(warmup > 0);
    let l = lines.iter().find(|l| l["warmup"] == false && l["stage"] == 2).unwrap();
    assert_eq!(l["rate"], 40.0);
    assert_eq!(l["completion_tokens"], 5);
    assert_eq!(l["token_source"], "usage");
    assert!(l["ttft_us"].as_u64().unwrap() >= 2_000);
    assert!(l["latency_us"].as_u64().unwrap() >= l["service_us"].as_u64().unwrap());
    assert_eq!(l["conv_uuid"].as_str().unwrap().len(), 36);
    // Percentiles recomputed from the serialized histograms equal the reported ones.
    for i in 0..2 {
        let all = stage_all(&run.summary, i);
        let hists = all["histograms"].as_object().unwrap();
        assert!(hists.contains_key("latency") && hists.contains_key("ttft") && hists.contains_key("itl"));
        for (metric, encoded) in hists {
            let h = llmload::metrics::encode::decode(encoded.as_str().unwrap()).unwrap();
            let reported = &all["us"][metric.as_str()];
            assert_eq!(h.len(), reported["count"].as_u64().unwrap(), "{metric}");
            for (q, key) in [(0.5, "p50"), (0.99, "p99"), (0.999, "p999")] {
                assert_eq!(h.value_at_quantile(q), reported[key].as_u64().unwrap(), "{metric} {key}");
            }
        }
    }
    // report.csv: a header and one row per stage × (scenario, ALL), requests matching.
    let csv = std::fs::read_to_string(run.dir.join("report.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows[0][..4], ["stage", "load", "scenario", "requests"]);
    assert_eq!(rows.len(), 1 + 2 * 2);
    assert!(rows[1..].iter().all(|r| r.len() == rows[0].len()));
    let csv_all: u64 = rows[1..].iter().filter(|r| r[2] == "ALL").map(|r| r[3].parse::<u64>().unwrap()).sum();
    assert_eq!(csv_all, requests);
}

/// Sends `signal` to a child process.
fn kill(pid: u32, signal: &str) {
    let ok =
        std::process::Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status().unwrap();
    assert!(ok.success());
}

/// A streamed run of a minute against `target`, to be stopped by a signal.
fn long_run(target: &str, out: &std::path::Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_llmload"))
        .args(["run", "--target", target, "--stages", "4:60s", "--stream", "--cores", "1", "--out"])
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn a_signal_mid_stream_writes_every_report_and_accounts_every_turn() {
    // Streams of ~2 s (100 tokens, 20 ms apart); the signal comes at 3 s, while the second
    // round of 4 is in flight, and the 500 ms grace is too short for it: those 4 turns are
    // cancelled, and each must still have its line in results.jsonl.
    let mock = Mock::start(&["--cores", "1", "--ttft", "20ms", "--itl", "20ms", "--output-tokens", "100"]);
    let target = format!("http://{}/v1", mock.addr);
    for signal in ["INT", "TERM"] {
        let out = tempdir("signal");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_llmload"))
            .args(["run", "--target", &target, "--stages", "4:60s", "--stream", "--grace", "500ms"])
            .args(["--cores", "1", "--out"])
            .arg(&out)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs(3));
        kill(child.id(), signal);
        let signalled = std::time::Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(signalled.elapsed() < Duration::from_secs(10), "no exit after SIG{signal}");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(3), "SIG{signal}: an interrupted run is not a valid run");
        let dir = std::fs::read_dir(&out).unwrap().next().unwrap().unwrap().path();
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
        assert_eq!(summary["interrupted"], true);
        let stage = &summary["stages"][0];
        assert_eq!(stage["interrupted"], true, "the stage was cut short: {stage}");
        let window = stage["steady_s"].as_f64().unwrap();
        assert!((2.5..10.0).contains(&window), "measured until the signal, not 60 s: {window}");
        let all = stage_all(&summary, 0);
        assert_accounted(all);
        let n = |k: &str| all[k].as_u64().unwrap();
        assert!(n("ok") >= 4 && n("cancelled") >= 1, "SIG{signal}: {all}");
        // One line per turn, the cancelled ones included.
        let text = std::fs::read_to_string(dir.join("results.jsonl")).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let measured = lines.iter().filter(|l| l["warmup"] == false).count() as u64;
        assert_eq!(measured, n("requests"), "SIG{signal}: results.jsonl lines vs summary requests");
        let cancelled = lines.iter().filter(|l| l["error"] == "cancelled").count() as u64;
        assert_eq!(cancelled, n("cancelled"));
        let report = std::fs::read_to_string(dir.join("report.txt")).unwrap();
        assert!(report.contains("INTERRUPTED"), "{report}");
    }
}

#[test]
fn a_killed_run_leaves_a_jsonl_whose_every_line_parses() {
    let mock = Mock::start(&["--cores", "1", "--ttft", "1ms", "--itl", "1ms", "--output-tokens", "5"]);
    let target = format!("http://{}/v1", mock.addr);
    let out = tempdir("sigkill");
    let mut child = long_run(&target, &out);
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap();
    child.wait().unwrap();
    let dir = std::fs::read_dir(&out).unwrap().next().unwrap().unwrap().path();
    let text = std::fs::read_to_string(dir.join("results.jsonl")).unwrap();
    let mut n = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["latency_us"].is_u64());
        n += 1;
    }
    assert!(n > 0, "flushed at least every 250 ms");
    assert!(text.is_empty() || text.ends_with('\n'), "only whole lines");
    // `llmload report` rebuilds every report from the lines alone.
    assert!(!dir.join("summary.json").exists(), "killed before any summary");
    let o =
        std::process::Command::new(env!("CARGO_BIN_EXE_llmload")).arg("report").arg(&dir).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let measured = text.lines().filter(|l| l.contains("\"warmup\":false")).count() as u64;
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let rebuilt: u64 =
        summary["stages"].as_array().unwrap().iter().map(|s| s["all"]["requests"].as_u64().unwrap()).sum();
    assert_eq!(rebuilt, measured, "every measured line is counted once");
    assert_accounted(stage_all(&summary, 0));
    assert!(std::fs::read_to_string(dir.join("report.txt")).unwrap().contains("rebuilt from results.jsonl"));
}

#[test]
fn compare_gates_on_regressions() {
    let mock = Mock::start(&["--cores", "1", "--ttft", "5ms", "--itl", "1ms", "--output-tokens", "5"]);
    let target = format!("http://{}/v1", mock.addr);
    let run = run_llmload(
        &["--target", &target, "--stages", "2:700ms", "--stream", "--cores", "1"],
        Duration::from_secs(20),
    );
    let base = run.dir.join("summary.json");
    let compare = |a: &std::path::Path, b: &std::path::Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_llmload"))
            .args(["compare", a.to_str().unwrap(), b.to_str().unwrap(), "--regress-pct", "10"])
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    assert_eq!(compare(&base, &base).0, 0, "identical runs");
    let dir = tempdir("compare");
    let mut worse = run.summary.clone();
    let p95 = worse["stages"][0]["all"]["us"]["latency"]["p95"].as_u64().unwrap();
    worse["stages"][0]["all"]["us"]["latency"]["p95"] = serde_json::json!(p95 * 2 + 10_000);
    let worse_path = dir.join("worse.json");
    std::fs::write(&worse_path, serde_json::to_vec(&worse).unwrap()).unwrap();
    let (code, out, _) = compare(&base, &worse_path);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("latency_p95_ms") && out.contains("REGRESSED"), "{out}");
    let mut other = run.summary.clone();
    other["stages"][0]["stage"] = serde_json::json!("9:9s");
    let other_path = dir.join("other.json");
    std::fs::write(&other_path, serde_json::to_vec(&other).unwrap()).unwrap();
    let (code, _, err) = compare(&base, &other_path);
    assert_eq!(code, 2);
    assert!(err.contains("stages differ"), "{err}");
}
