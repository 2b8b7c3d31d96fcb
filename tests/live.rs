//! Live views of a running `llmload run`: the `--metrics-addr` Prometheus endpoint (scraped
//! during the run, checked with promtool), the per-second timeline in summary.json, and the
//! progress lines on a non-terminal stderr.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{run_llmload, tempdir};

/// A port nothing listens on (bound to :0, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Reads a child's pipe to the end on a thread (so the child never blocks on it).
fn collect(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = pipe.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    })
}

/// `GET /metrics`: the body of a 200 with the exposition content type.
fn scrape(port: u16) -> Result<String, String> {
    let addr = format!("127.0.0.1:{port}");
    let mut s = TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n").map_err(|e| format!("write: {e}"))?;
    let mut response = String::new();
    s.read_to_string(&mut response).map_err(|e| format!("read: {e}"))?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(|| format!("no head end: {response:?}"))?;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("\r\nContent-Type: text/plain; version=0.0.4\r\n"), "{head}");
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("content-length")
        .parse()
        .unwrap();
    assert_eq!(body.len(), len, "whole body");
    Ok(body.to_string())
}

/// The value of one series (`name{labels}` exactly as exposed).
fn value(body: &str, series: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{series} missing in\n{body}"))
        .parse()
        .unwrap()
}

/// Every sample of the exposition: (series, value).
fn samples(body: &str) -> Vec<(String, f64)> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

/// promtool, which scripts/install-test-deps.sh installs.
fn promtool() -> String {
    let candidates = ["/usr/bin/promtool", "/usr/local/bin/promtool"];
    if let Some(p) = candidates.iter().find(|p| std::path::Path::new(p).exists()) {
        return p.to_string();
    }
    if Command::new("promtool").arg("--version").output().is_ok_and(|o| o.status.success()) {
        return "promtool".into();
    }
    panic!("promtool not found: run scripts/install-test-deps.sh (installs the prometheus package)");
}

fn promtool_check(body: &str) {
    let mut child = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics rejected the scrape:\n{}{}\n--- scrape ---\n{body}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Kills the child if the test fails before it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn metrics_endpoint_serves_live_counters_during_the_run() {
    let port = free_port();
    let out = tempdir("live");
    let mut child = Command::new(env!("CARGO_BIN_EXE_llmload"))
        .args(["run", "--stages", "8:4s", "--metrics-addr", &format!("127.0.0.1:{port}"), "--out"])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn llmload run");
    let stdout = collect(child.stdout.take().unwrap());
    let stderr = collect(child.stderr.take().unwrap());
    let mut run = Running(child);
    let started = Instant::now();

    // The endpoint is up before any load is sent.
    let first = loop {
        match scrape(port) {
            Ok(body) => break body,
            Err(e) => {
                if let Some(status) = run.0.try_wait().unwrap() {
                    panic!(
                        "the run ended ({status}) before /metrics answered: {e}\n{}",
                        stderr.join().unwrap()
                    );
                }
                assert!(started.elapsed() < Duration::from_secs(30), "/metrics never answered: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    // A second scrape once requests have finished (the run lasts 4 s from its start).
    std::thread::sleep(Duration::from_millis(1000));
    let second = loop {
        let body = scrape(port).unwrap_or_else(|e| panic!("scrape during the run: {e}"));
        let ok = value(&body, "llmload_live_requests_total{outcome=\"ok\"}");
        if ok > 0.0 && value(&body, "llmload_live_ttft_seconds_count") > 0.0 {
            break body;
        }
        std::thread::sleep(Duration::from_millis(200));
    };

    for body in [&first, &second] {
        for h in ["llmload_live_latency_seconds", "llmload_live_ttft_seconds"] {
            assert_eq!(
                value(body, &format!("{h}_bucket{{le=\"+Inf\"}}")),
                value(body, &format!("{h}_count")),
                "{h}: +Inf bucket = count"
            );
            let buckets: Vec<f64> = samples(body)
                .into_iter()
                .filter(|(k, _)| k.starts_with(&format!("{h}_bucket")))
                .map(|s| s.1)
                .collect();
            assert!(buckets.len() > 10 && buckets.windows(2).all(|w| w[0] <= w[1]), "{h} cumulative");
        }
        // 1-based, as metrics.prom's `stage` label and the reports ("stage 1/1").
        assert_eq!(value(body, "llmload_live_stage"), 1.0);
    }
    // Counters (and cumulative buckets) never go down between scrapes.
    let later: std::collections::HashMap<String, f64> = samples(&second).into_iter().collect();
    for (series, v) in samples(&first) {
        if series.starts_with("llmload_live_in_flight") || series.starts_with("llmload_live_stage") {
            continue;
        }
        assert!(later[&series] >= v, "{series}: {v} then {}", later[&series]);
    }
    for series in [
        "llmload_live_requests_total{outcome=\"ok\"}",
        "llmload_live_output_tokens_total",
        "llmload_live_latency_seconds_count",
        "llmload_live_latency_seconds_sum",
        "llmload_live_ttft_seconds_count",
    ] {
        assert!(later[series] > 0.0, "{series} is 0 on the second scrape:\n{second}");
    }
    assert_eq!(
        later["llmload_live_requests_total{outcome=\"ok\"}"],
        later["llmload_live_latency_seconds_count"]
    );
    promtool_check(&first);
    promtool_check(&second);

    // The run ends on its own; the endpoint goes with it.
    let status = loop {
        if let Some(s) = run.0.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(90), "the run did not end");
        std::thread::sleep(Duration::from_millis(50));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert_eq!(status.code(), Some(0), "{stderr}\n{stdout}");
    assert!(stderr.contains(&format!("live metrics at http://127.0.0.1:{port}/metrics")), "{stderr}");
    assert!(scrape(port).is_err(), "the listener is closed when the run ends");

    // The timeline: every second with successful requests has their percentiles.
    let dir = std::fs::read_dir(&out).unwrap().next().unwrap().unwrap().path();
    // The stage the live gauge showed is the one the file labels: the same numbering.
    let prom = std::fs::read_to_string(dir.join("metrics.prom")).unwrap();
    let live_stage = value(&second, "llmload_live_stage");
    assert!(prom.contains(&format!("{{stage=\"{live_stage}\",load=\"8:4s\"")), "{prom}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let timeline = summary["timeline"].as_array().expect("timeline");
    let busy: Vec<&serde_json::Value> = timeline.iter().filter(|s| s["ok"].as_u64().unwrap() > 0).collect();
    assert!(!busy.is_empty(), "{timeline:?}");
    for s in busy {
        let p50 = s["latency_p50_us"].as_u64().unwrap_or_else(|| panic!("latency_p50_us unset in {s}"));
        let p99 = s["latency_p99_us"].as_u64().unwrap_or_else(|| panic!("latency_p99_us unset in {s}"));
        assert!(p50 > 0 && p99 >= p50, "{s}");
        assert!(s["ttft_p50_us"].as_u64().is_some_and(|t| t > 0 && t <= p99), "{s}");
    }
}

#[test]
fn progress_lines_are_plain_when_stderr_is_not_a_terminal() {
    let run = run_llmload(&["--stages", "4:3s"], Duration::from_secs(60));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with('[') && l.contains("p99")).collect();
    assert!(lines.len() >= 2, "progress lines:\n{}", run.stderr);
    for l in &lines {
        assert!(l.contains("] 1/1 4 users rps ") && l.contains(" err 0 ") && l.contains(" ttft "), "{l}");
    }
    assert!(
        !run.stderr.contains('\r') && !run.stderr.contains('\x1b'),
        "no terminal control: {:?}",
        run.stderr
    );
}

#[test]
fn a_bad_metrics_address_is_a_usage_error_before_any_load() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().to_string();
    for addr in ["not-an-address", "127.0.0.1", busy.as_str()] {
        let started = Instant::now();
        let run = run_llmload(&["--stages", "4:30s", "--metrics-addr", addr], Duration::from_secs(20));
        assert_eq!(run.code, 2, "{addr}: {}", run.stderr);
        assert!(run.stderr.contains("--metrics-addr"), "{addr}: {}", run.stderr);
        assert!(!run.stderr.contains("built-in mock"), "no load was started: {}", run.stderr);
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
