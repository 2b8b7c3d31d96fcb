//! Bounds are checked before any load, through the real binary: a refused run exits 2 with
//! the flag or JSON path named, writes no run directory, and opens no connection (the target
//! is a listener the test holds and never accepts on). Nexus-compatible coercions warn.

mod common;

use std::time::Duration;

use common::{llmload, profile_file, run_llmload, RunOutput, Target};

/// Runs `llmload run <args> --target <listener>` and asserts it was refused before any load.
fn refused(args: &[&str], needle: &str) -> RunOutput {
    let target = Target::new();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--target", &target.url]);
    let run = run_llmload(&all, Duration::from_secs(30));
    assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
    assert!(run.stderr.contains(needle), "{args:?}: expected {needle:?} in {}", run.stderr);
    // `run.dir` is the --out directory itself when no run directory was made.
    let name = run.dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("llmload-test-"), "{args:?}: a run directory was made: {}", run.dir.display());
    assert_eq!(std::fs::read_dir(&run.dir).unwrap().count(), 0, "{args:?}");
    assert!(run.summary.is_null(), "{args:?}: a summary was written");
    target.assert_untouched(&format!("{args:?}"));
    run
}

#[test]
fn a_nanosecond_stage_is_refused_before_load() {
    refused(&["--stages", "5:1ns"], "--stages: stage \"5:1ns\": duration 1ns is below the minimum 1ms");
}

#[test]
fn a_zero_timeout_is_refused_before_load() {
    refused(&["--stages", "1:1s", "--timeout", "0s"], "--timeout: must be above 0");
}

#[test]
fn absurd_rates_are_refused_before_load() {
    refused(
        &["--stages", "@1e9:1s"],
        "--stages: stage \"@1e9:1s\": rate 1e9/s is above the limit 10000000/s",
    );
    refused(&["--stages", "@1e300:1s"], "rate 1e300/s is above the limit 10000000/s");
}

#[test]
fn every_bounded_flag_is_checked_before_load() {
    let cases: [(&[&str], &str); 10] = [
        (&["--connect-timeout", "0s"], "--connect-timeout: must be above 0"),
        (&["--first-byte-timeout", "0s"], "--first-byte-timeout: must be above 0"),
        (&["--idle-timeout", "48h"], "--idle-timeout: 48h is above the limit 24h"),
        (&["--timeout", "25h"], "--timeout: 25h is above the limit 24h"),
        (&["--grace", "48h"], "--grace: 48h is above the limit 24h"),
        (&["--warmup", "2s"], "--warmup: 2s is not shorter than --stages[0] (1:1s)"),
        (&["--max-inflight", "2000000"], "--max-inflight: 2000000 is above the limit 1000000"),
        (&["--connections", "0"], "--connections: 0 must be at least 1"),
        (&["--max-tokens", "0"], "--max-tokens: 0 must be at least 1"),
        (&["--stages", "2000000:1s"], "users 2000000 is above the limit 1000000"),
    ];
    for (flags, needle) in cases {
        let mut args: Vec<&str> =
            if flags.contains(&"--stages") { Vec::new() } else { vec!["--stages", "1:1s"] };
        args.extend(flags);
        refused(&args, needle);
    }
}

#[test]
fn two_billion_input_tokens_are_refused_by_validate_and_run() {
    let path = profile_file(
        "tokens",
        serde_json::json!({
            "defaults": {"target": "http://127.0.0.1:9/v1/chat/completions", "model": "m"},
            "stages": ["1:1s"],
            "scenarios": [{"name": "huge", "content": {"mode": "sized", "approx_input_tokens": 2_000_000_000_u32}}]
        }),
    );
    let p = path.to_str().unwrap();
    let needle = "scenarios[0].content.approx_input_tokens: 2000000000 is above the limit 4000000";
    let (code, out, err) = llmload(&["validate", p]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains(needle), "{err}");
    refused(&[p], needle);
}

#[test]
fn cores_beyond_the_machine_are_refused() {
    // No machine this runs on has 4096 cores (the brief's `--cores 99` on a 2-core host).
    let run = refused(&["--stages", "1:1s", "--cores", "4096"], "--cores 4096: this machine has ");
    assert!(run.stderr.contains("give at most"), "{}", run.stderr);
    refused(
        &["--stages", "1:1s", "--cores", "4090-4095"],
        "--cores \"4090-4095\": core 4090 is not available",
    );
    let (code, _, err) = llmload(&["mock", "--listen", "127.0.0.1:0", "--cores", "4096"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--cores 4096: this machine has "), "{err}");
}

#[test]
fn a_zero_weight_warns_and_the_scenario_still_runs() {
    let path = profile_file(
        "weight",
        serde_json::json!({
            "defaults": {"target": "http://127.0.0.1:9/v1/chat/completions", "model": "mock-gpt"},
            "stages": ["4:400ms"],
            "scenarios": [{"name": "on", "weight": 1}, {"name": "off", "weight": 0}]
        }),
    );
    let p = path.to_str().unwrap();
    let warning = "warning: ";
    let text = "scenarios[1].weight: 0 is treated as 1 (nexus-loadtest's rule); remove the scenario to switch it off";
    let (code, out, err) = llmload(&["validate", p]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains(&format!("llmload: {warning}{p}: {text}")), "{err}");
    assert!(out.contains(": ok"), "{out}");
    // A run prints it before the load starts, and the scenario is sent (nexus's rule).
    let run = run_llmload(&[p, "--mock", "--cores", "1", "--grace", "2s"], Duration::from_secs(60));
    let at = run.stderr.find(text).unwrap_or_else(|| panic!("no warning in {}", run.stderr));
    let start = run.stderr.find(" stage(s), ").unwrap_or_else(|| panic!("no start line in {}", run.stderr));
    assert!(at < start, "the warning comes before the load: {}", run.stderr);
    let off = &run.summary["stages"][0]["scenarios"]["off"];
    assert!(off["requests"].as_u64().unwrap_or(0) > 0, "{}", run.summary["stages"][0]);
}
