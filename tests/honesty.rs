//! The figures stay true when things go wrong: a server that queues, a dead target, a
//! generator far behind its schedule, two runs in a row. Each test drives the real binary
//! against a real loopback server and checks the report against what the server could do.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{assert_accounted, run_llmload, stage_all, Mock, RunOutput};

fn n(v: &serde_json::Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} missing in {v}"))
}

fn f(v: &serde_json::Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} missing in {v}"))
}

/// Every offered request is accounted once: sent ones are ok, failed or cancelled; the rest
/// were dropped; and what was served is what the lines of results.jsonl say.
fn assert_offered_accounted(run: &RunOutput) {
    for st in run.summary["stages"].as_array().unwrap() {
        assert_accounted(&st["all"]);
        let scenarios: Vec<&serde_json::Value> = st["scenarios"].as_object().unwrap().values().collect();
        for key in ["requests", "ok", "failed", "cancelled", "dropped", "served", "late"] {
            let sum: u64 = scenarios.iter().map(|s| n(s, key)).sum();
            assert_eq!(sum, n(&st["all"], key), "{key}: ALL is the sum of the scenarios");
        }
        assert!(n(&st["all"], "late") <= n(&st["all"], "requests") - n(&st["all"], "cancelled"));
    }
}

/// The conversation UUIDs of a run's results.jsonl, in file order.
fn conv_ids(run: &RunOutput) -> Vec<String> {
    let text = std::fs::read_to_string(run.dir.join("results.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["conv_uuid"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn a_server_that_queues_is_reported_at_the_rate_it_served() {
    // Four connections to a server that takes 100 ms a request: at most 40 requests/s, while
    // 80/s are offered. The arrivals queue for a connection (latency still from the intended
    // time), and what did not finish inside the 3 s window finishes after it.
    let mock = Mock::start(&["--cores", "1", "--ttft", "100ms", "--output-tokens", "1"]);
    let target = format!("http://{}/v1", mock.addr);
    let run = run_llmload(
        &["--target", &target, "--stages", "@80:3s", "--connections", "4", "--cores", "1"],
        Duration::from_secs(30),
    );
    assert_eq!(run.code, 0, "every request succeeded: {}{}", run.stdout, run.stderr);
    let all = stage_all(&run.summary, 0);
    assert_offered_accounted(&run);
    assert_eq!(n(all, "requests"), 240, "every arrival was sent");
    let (rps, offered) = (f(all, "rps"), f(all, "offered_rps"));
    assert!((34.0..=46.0).contains(&rps), "served {rps}/s, but the server can do 40/s");
    assert!((offered - 80.0).abs() < 0.5, "offered {offered}/s");
    assert!(n(all, "late") >= 80, "the queue finished after the window: {all}");
    assert!((f(all, "ok_rps") - rps).abs() < 1e-9);
    let findings = run.summary["stages"][0]["target_findings"].to_string();
    assert!(findings.contains("did not keep up"), "{findings}");
    // The text report leads with the served rate and says the target fell short.
    let report = std::fs::read_to_string(run.dir.join("report.txt")).unwrap();
    assert!(report.contains(&format!("{rps:.1} req/s served")), "{report}");
    assert!(report.contains("80.0/s offered") && report.contains("did not keep up"), "{report}");
    let stage_line = run.stderr.lines().find(|l| l.starts_with("stage 1")).unwrap();
    assert!(stage_line.contains(&format!("rps {rps:>9.1}")), "{stage_line}");
    // The same counts, line by line: served = lines finished inside the window.
    let text = std::fs::read_to_string(run.dir.join("results.jsonl")).unwrap();
    let in_window = text.lines().filter(|l| l.contains("\"in_window\":true")).count() as u64;
    assert_eq!(in_window, n(all, "served"));
}

#[test]
fn a_dead_target_fails_the_run_and_users_back_off() {
    // Nobody listens on this port: every connect is refused.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let users = 5;
    let secs = 3;
    let run = run_llmload(
        &["--target", &format!("http://{addr}/v1"), "--stages", &format!("{users}:{secs}s"), "--cores", "1"],
        Duration::from_secs(30),
    );
    assert_eq!(run.code, 1, "a run where nothing succeeded must fail: {}{}", run.stdout, run.stderr);
    let all = stage_all(&run.summary, 0);
    assert_offered_accounted(&run);
    assert_eq!(n(all, "ok"), 0);
    let attempts = n(all, "requests");
    assert!(attempts >= users, "each user tried: {all}");
    assert!(attempts <= 20 * users * secs, "{attempts} connects: a SYN storm, not a backoff");
    assert!(n(all, "backoffs") >= attempts - users, "every failed try but the last backs off: {all}");
    assert_eq!(n(all, "served"), 0, "a refused connect is served by nobody: {all}");
    assert_eq!(f(all, "rps"), 0.0);
    let report = std::fs::read_to_string(run.dir.join("report.txt")).unwrap();
    assert!(report.contains("target unreachable"), "{report}");
    assert!(report.contains("verdict: NO REQUEST REACHED THE SERVER"), "{report}");
    assert!(!report.contains("figures describe the server"), "{report}");
    let html = std::fs::read_to_string(run.dir.join("report.html")).unwrap();
    assert!(html.contains("NO REQUEST REACHED THE SERVER"), "the HTML verdict too");
    assert!(report.contains("FAIL"), "the default limits are in the report: {report}");
}

#[test]
fn a_run_of_only_failures_exits_non_zero() {
    // Every request answered 429 (the mock's fault header): fast, served, and all failed.
    let mock = Mock::start(&["--cores", "1", "--ttft", "1ms", "--output-tokens", "1"]);
    let target = format!("http://{}/v1", mock.addr);
    let run = run_llmload(
        &["--target", &target, "--stages", "2:1s", "--cores", "1", "--header", "x-mock-fault: status=429"],
        Duration::from_secs(30),
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(n(&stage_all(&run.summary, 0)["status"], "429"), n(stage_all(&run.summary, 0), "requests"));
    // --max-error-rate 1 turns the default limit off; "no successful request" still fails.
    let run = run_llmload(
        &[
            "--target",
            &target,
            "--stages",
            "2:1s",
            "--cores",
            "1",
            "--header",
            "x-mock-fault: status=429",
            "--max-error-rate",
            "1",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let report = std::fs::read_to_string(run.dir.join("report.txt")).unwrap();
    assert!(report.contains("no successful request"), "{report}");
    // A healthy run passes the same default limits.
    let run =
        run_llmload(&["--target", &target, "--stages", "2:1s", "--cores", "1"], Duration::from_secs(30));
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

#[test]
fn an_open_loop_far_beyond_the_generator_ends_on_time_with_every_arrival_counted() {
    // Two million arrivals a second for two seconds, at most 50 in flight: nearly all are
    // dropped, and they must be counted in bulk, not spun through one by one.
    let mock = Mock::start(&["--cores", "1", "--ttft", "1ms", "--output-tokens", "1"]);
    let target = format!("http://{}/v1", mock.addr);
    let started = Instant::now();
    let run = run_llmload(
        &["--target", &target, "--stages", "@2000000:2s", "--max-inflight", "50", "--cores", "1"],
        Duration::from_secs(60),
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(12), "took {took:?} for a 2 s stage");
    assert_eq!(run.code, 3, "drops make the run generator-bound: {}", run.stderr);
    let all = stage_all(&run.summary, 0);
    assert_offered_accounted(&run);
    let offered = n(all, "requests") + n(all, "dropped");
    assert!(offered.abs_diff(4_000_000) <= 2, "offered {offered} of the 4,000,000 planned");
    assert!(n(all, "dropped") > 3_000_000, "{all}");
    assert!(n(all, "ok") > 0);
}

#[test]
fn runs_without_a_seed_never_repeat_and_a_seed_repeats_exactly() {
    let mock = Mock::start(&["--cores", "1", "--ttft", "5ms", "--output-tokens", "2"]);
    let target = format!("http://{}/v1", mock.addr);
    let go = |extra: &[&str]| {
        let mut args = vec!["--target", target.as_str(), "--stages", "1:1s", "--cores", "1"];
        args.extend_from_slice(extra);
        let run = run_llmload(&args, Duration::from_secs(30));
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        run
    };
    let (a, b) = (go(&[]), go(&[]));
    let (ids_a, ids_b) = (conv_ids(&a), conv_ids(&b));
    assert!(ids_a.len() > 10 && ids_b.len() > 10);
    let shared: HashSet<&String> =
        ids_a.iter().collect::<HashSet<_>>().intersection(&ids_b.iter().collect()).copied().collect();
    assert!(shared.is_empty(), "two runs without --seed sent the same conversation ids: {shared:?}");
    for run in [&a, &b] {
        assert_eq!(run.summary["meta"]["seed_source"], "random");
        let seed = run.summary["meta"]["seed"].as_u64().unwrap();
        let report = std::fs::read_to_string(run.dir.join("report.txt")).unwrap();
        assert!(report.contains(&format!("--seed {seed}")), "{report}");
    }
    assert_ne!(a.summary["meta"]["seed"], b.summary["meta"]["seed"]);
    // The recorded seed repeats the first run: the same conversations, in the same order.
    let seed = a.summary["meta"]["seed"].as_u64().unwrap().to_string();
    let c = go(&["--seed", &seed]);
    let ids_c = conv_ids(&c);
    let k = ids_a.len().min(ids_c.len());
    assert_eq!(ids_a[..k], ids_c[..k], "--seed {seed} did not repeat the run");
    assert_eq!(c.summary["meta"]["seed_source"], "--seed");
}

#[test]
fn max_inflight_counts_requests_not_conversations_thinking() {
    // Conversations of 4 turns, 400 ms of think time between them: at 20 arrivals/s about
    // 20 conversations are alive at once, but almost none has a request in flight (the mock
    // answers in 1 ms). A limit of 4 requests in flight must not drop any arrival.
    let mock = Mock::start(&["--cores", "1", "--ttft", "1ms", "--output-tokens", "1"]);
    let dir = common::tempdir("think");
    let profile = dir.join("think.json");
    let p = serde_json::json!({
        "defaults": {"target": format!("http://{}/v1/chat/completions", mock.addr), "model": "mock-gpt"},
        "stages": "@20:2s",
        "scenarios": [{"name": "chat", "turns": 4, "think_time": "400ms"}]
    });
    std::fs::write(&profile, p.to_string()).unwrap();
    let run = run_llmload(
        &[profile.to_str().unwrap(), "--max-inflight", "4", "--cores", "1"],
        Duration::from_secs(30),
    );
    let all = stage_all(&run.summary, 0);
    assert_offered_accounted(&run);
    assert_eq!(n(all, "dropped"), 0, "conversations thinking were counted as in flight: {all}");
    assert!(n(all, "followup_turns") > 20, "{all}");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    // Fewer places than workers cannot be split: refused before any load.
    let refused = run_llmload(
        &[profile.to_str().unwrap(), "--connections", "1", "--cores", "0,1"],
        Duration::from_secs(30),
    );
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("--connections 1") && refused.stderr.contains("at least 2"),
        "{}",
        refused.stderr
    );
}
