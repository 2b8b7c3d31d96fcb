//! Stage boundaries in closed loop, against the real binary over loopback: users that
//! persist into the next stage keep their connection and their request in flight; only the
//! users a stage removes are drained and cancelled; a stage that starts many users opens
//! their connections through the connect cap. Requests last seconds (the mock's TTFT), so
//! every assertion holds however late a busy machine runs the tasks.

mod common;

use std::time::Duration;

use common::*;

/// Counts of `results.jsonl` lines per stage (1-based, as written).
fn lines_per_stage(run: &RunOutput) -> Vec<u64> {
    let text = std::fs::read_to_string(run.dir.join("results.jsonl")).expect("results.jsonl");
    let mut per = [0u64; 4];
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        per[v["stage"].as_u64().expect("stage") as usize] += 1;
    }
    per[1..].to_vec()
}

fn n(fig: &serde_json::Value, key: &str) -> u64 {
    fig[key].as_u64().unwrap_or_else(|| panic!("{key} missing in {fig}"))
}

/// The progress lines never count a cancellation as an error.
fn assert_no_errors_shown(stderr: &str) {
    let ticks: Vec<&str> = stderr.lines().filter(|l| l.starts_with('[')).collect();
    assert!(!ticks.is_empty(), "no progress line in {stderr}");
    for line in ticks {
        assert!(line.contains(" err 0 "), "{line}");
    }
}

#[test]
fn requests_straddling_a_boundary_go_on_and_are_accounted_where_they_started() {
    let mock = Mock::start(&["--cores", "1"]);
    let target = format!("http://{}/v1", mock.addr);
    // Every request takes 3 s: the first ones (sent at 0 s) end inside stage 2 (2-4 s), the
    // users' second ones (sent then) end after the run's last stage, within the grace.
    let run = run_llmload(
        &[
            "--target",
            &target,
            "--stages",
            "3:2s,3:2s",
            "--grace",
            "6s",
            "--cores",
            "1",
            "--header",
            "x-mock-ttft-ms: 3000",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (first, second) = (stage_all(&run.summary, 0), stage_all(&run.summary, 1));
    for fig in [first, second] {
        assert_accounted(fig);
        assert_eq!(n(fig, "cancelled"), 0, "{fig}");
        assert_eq!(n(fig, "failed"), 0, "{fig}");
    }
    // Reported in the stage they started in, finished after its window.
    assert_eq!(n(first, "requests"), 3, "{first}");
    assert_eq!(n(first, "ok"), 3, "{first}");
    assert_eq!(n(first, "late"), 3, "{first}");
    assert_eq!(n(second, "requests"), 3, "{second}");
    // The users kept their connections into stage 2.
    assert_eq!(n(first, "connects"), 3, "{first}");
    assert_eq!(n(second, "connects"), 0, "{second}");
    assert_eq!(lines_per_stage(&run), vec![3, 3, 0]);
    assert_no_errors_shown(&run.stderr);
}

#[test]
fn a_ramp_down_cancels_only_the_users_it_removes() {
    let mock = Mock::start(&["--cores", "1"]);
    let target = format!("http://{}/v1", mock.addr);
    // 1.5 s requests. Users 2 and 3 are removed at 1 s: their first requests are cancelled at
    // 1.3 s. Users 0 and 1 persist: their first requests end at 1.5 s (ok), their second
    // ones are cut at the run's end + grace.
    let run = run_llmload(
        &[
            "--target",
            &target,
            "--stages",
            "4:1s,2:1s",
            "--grace",
            "300ms",
            "--cores",
            "1",
            "--header",
            "x-mock-ttft-ms: 1500",
        ],
        Duration::from_secs(60),
    );
    let (first, second) = (stage_all(&run.summary, 0), stage_all(&run.summary, 1));
    for fig in [first, second] {
        assert_accounted(fig);
        assert_eq!(n(fig, "failed"), 0, "{fig}");
    }
    assert_eq!((n(first, "requests"), n(first, "ok"), n(first, "cancelled")), (4, 2, 2), "{first}");
    assert_eq!((n(second, "requests"), n(second, "cancelled")), (2, 2), "{second}");
    assert_eq!(n(second, "connects"), 0, "{second}");
    assert_eq!(lines_per_stage(&run), vec![4, 2, 0]);
    assert_no_errors_shown(&run.stderr);
}

#[test]
fn a_stage_opens_its_users_connections_through_the_connect_cap() {
    let mock = Mock::start(&["--cores", "1", "--ttft", "0", "--itl", "0", "--output-tokens", "2"]);
    let target = format!("http://{}/v1", mock.addr);
    let run =
        run_llmload(&["--target", &target, "--stages", "300:1s", "--cores", "1"], Duration::from_secs(60));
    assert_ran(Some(run.code), &run.summary, &run.stderr);
    let stage = &run.summary["stages"][0];
    assert_eq!(n(&stage["all"], "connects"), 300, "{stage}");
    // 300 users start at once; at most 32 connects are ever in progress together.
    let peak = stage["connecting_peak"][0].as_u64().expect("connecting_peak");
    assert!((1..=32).contains(&peak), "{peak} connects at once");
}
