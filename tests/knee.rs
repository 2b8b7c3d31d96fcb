//! `llmload knee` against a mock of known capacity: `--max-concurrency C` with a fixed
//! service time S admits at most C / S requests per second; beyond, 429s break the error
//! SLO. The knee must land within 5 % of that.

mod common;

use std::process::Command;

use common::{tempdir, Mock};

#[test]
fn knee_finds_the_capacity_the_mock_is_configured_with() {
    // 10 at once × 200 ms each = 50 requests/s.
    let mock =
        Mock::start(&["--cores", "1", "--max-concurrency", "10", "--ttft", "200ms", "--output-tokens", "1"]);
    let out = tempdir("knee");
    let o = Command::new(env!("CARGO_BIN_EXE_llmload"))
        .args(["knee", "--target", &format!("http://{}/v1", mock.addr), "--slo", "error_rate=1%"])
        // Fixed connections (more than the mock admits): send lag on a busy machine is then
        // part of the measurement, not a generator limit that would end the search early.
        .args(["--start-rate", "10", "--probe", "2s", "--probe-warmup", "1s", "--connections", "30"])
        .args(["--cores", "1", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let line = stdout.lines().find(|l| l.starts_with("knee at ")).unwrap_or_else(|| panic!("{stdout}"));
    let knee: f64 = line["knee at ".len()..].split('/').next().unwrap().parse().unwrap();
    assert!(line.contains("the limit is the server's"), "{line}");

    let dir = std::fs::read_dir(&out).unwrap().next().unwrap().unwrap().path();
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let stages = summary["stages"].as_array().unwrap();
    assert!(stages.len() >= 4, "every probe is a stage");
    // The capacity the configuration implies, with the service time the mock really took
    // (a busy machine adds a little to the 200 ms).
    let knee_stage =
        stages.iter().find(|s| s["stage"].as_str().unwrap().starts_with(&format!("@{knee}:"))).unwrap();
    let service_s = knee_stage["all"]["us"]["service"]["p50"].as_f64().unwrap() / 1e6;
    let implied = 10.0 / service_s;
    assert!(service_s >= 0.2, "service p50 {service_s}s is below the configured 200 ms");
    assert!(
        // 10 %: a probe on a busy 2-core machine can fail a step early.
        knee <= implied * 1.001 && knee >= implied * 0.90,
        "knee {knee}/s is not within 10 % below the implied capacity {implied:.1}/s\n{stdout}"
    );
    assert!(knee >= 45.0, "knee {knee}/s is more than 10 % below the configured 50/s");
    assert!(std::fs::read_to_string(dir.join("knee.txt")).unwrap().contains("knee at"));
    assert!(std::fs::read_to_string(dir.join("report.txt")).unwrap().contains("knee search"));
}

#[test]
fn knee_finds_the_capacity_of_a_server_that_queues() {
    // Four connections to a server that takes 100 ms a request: 40 requests/s, and arrivals
    // beyond that queue (nothing is refused, every request succeeds). Only the served rate
    // shows the limit.
    let mock = Mock::start(&["--cores", "1", "--ttft", "100ms", "--output-tokens", "1"]);
    let out = tempdir("knee-queue");
    let o = Command::new(env!("CARGO_BIN_EXE_llmload"))
        .args(["knee", "--target", &format!("http://{}/v1", mock.addr), "--slo", "error_rate=1%"])
        // A 2 s window: completions on both of its edges count, which lets a 1 s window read up
        // to 10 % above what the server can serve (4 connections × 11 completions).
        .args(["--start-rate", "10", "--probe", "3s", "--probe-warmup", "1s", "--grace", "1s"])
        .args(["--connections", "4", "--cores", "1", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let line = stdout.lines().find(|l| l.starts_with("knee at ")).unwrap_or_else(|| panic!("{stdout}"));
    let knee: f64 = line["knee at ".len()..].split('/').next().unwrap().parse().unwrap();
    assert!((34.0..=46.0).contains(&knee), "knee {knee}/s for a server that serves 40/s\n{stdout}");
    assert!(stdout.contains("served") && stdout.contains("FAIL"), "{stdout}");
}

#[test]
fn knee_refuses_bad_input_before_any_load() {
    let out = tempdir("knee-bad");
    for (args, needle) in [
        (vec!["--slo", "ttft_p98=1s"], "p98"),
        (vec!["--slo", "error_rate=2"], "not a share from 0 to 1"),
        (vec!["--start-rate", "0"], "--start-rate"),
        (vec!["--max-rate", "5"], "--max-rate"),
        (vec!["--stages", "@5:1s"], "--stages"),
        (vec!["--probe", "100ms"], "--probe"),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_llmload"))
            .arg("knee")
            .args(&args)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "no run started");
}
