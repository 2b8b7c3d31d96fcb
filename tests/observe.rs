//! Watching the system under test (`--pid`, `--cgroup`, `--scrape`) with the real binary over
//! loopback: a mock in its own process is sampled and scraped, and what the run reports is
//! checked against ground truth taken outside llmload (the mock's /proc totals, its request
//! counter, a busy child's own getrusage).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{promtool_check, run_llmload, Mock, Target};
use serde_json::Value;

/// User + system CPU seconds of process `pid`, from its /proc stat (ticks of 10 ms).
fn proc_cpu_s(pid: u32) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the process exists");
    let f: Vec<&str> = text[text.rfind(')').unwrap() + 1..].split_whitespace().collect();
    (f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()) as f64 / 100.0
}

/// Every stage's figures of resource `name`.
fn resources<'a>(summary: &'a Value, name: &str) -> Vec<&'a Value> {
    summary["stages"].as_array().unwrap().iter().map(|st| &st["resources"][name]).collect()
}

#[test]
fn a_mock_process_is_sampled_per_stage_and_agrees_with_proc() {
    let mock = Mock::start(&["--cores", "1", "--nonstream-delay", "none"]);
    let pid = mock.child.id();
    let target = format!("http://{}/v1/chat/completions", mock.addr);
    let before = proc_cpu_s(pid);
    let out = run_llmload(
        &[
            "--target",
            &target,
            "--stages",
            "8:2s,@300:2s",
            "--cores",
            "1",
            "--pid",
            &format!("mock={pid}"),
            "--no-jsonl",
        ],
        Duration::from_secs(60),
    );
    let after = proc_cpu_s(pid);
    common::assert_ran(Some(out.code), &out.summary, &out.stderr);
    let stages = resources(&out.summary, "mock");
    assert_eq!(stages.len(), 2, "{}", out.summary["stages"]);
    let mut sampled = 0.0;
    for (i, f) in stages.iter().enumerate() {
        assert_eq!(f["source"], format!("pid {pid}"));
        assert!(f["samples"].as_u64().unwrap() >= 10, "stage {i}: 100 ms samples over 2 s: {f}");
        let rss = f["rss_peak_bytes"].as_u64().unwrap();
        assert!((1 << 20..1 << 30).contains(&rss), "stage {i}: rss {rss}");
        assert!(f["rss_avg_bytes"].as_u64().unwrap() <= rss);
        assert!(f["ended"].is_null(), "{f}");
        let cpu = f["cpu_s"].as_f64().unwrap();
        let requests = out.summary["stages"][i]["all"]["requests"].as_u64().unwrap();
        let per = f["cpu_s_per_1m_requests"].as_f64().unwrap();
        assert!((per - cpu * 1e6 / requests as f64).abs() < 1e-6, "stage {i}: {per} vs {cpu} for {requests}");
        assert!(f["cpu_pct_peak"].as_f64().unwrap() + 1e-9 >= f["cpu_pct_avg"].as_f64().unwrap());
        sampled += cpu;
    }
    // Thousands of requests cost the mock some CPU; the stages can only see what /proc
    // counted between before and after, and the mock is idle outside the run.
    let total = after - before;
    assert!(
        sampled > 0.0,
        "the mock served {} requests on no CPU?",
        out.summary["stages"][0]["all"]["requests"]
    );
    assert!(sampled <= total + 0.02, "sampled {sampled} s > /proc's {total} s");
    assert!(sampled >= total * 0.8 - 0.05, "sampled {sampled} s of /proc's {total} s");
    let report = std::fs::read_to_string(out.dir.join("report.txt")).unwrap();
    assert!(report.contains(&format!("gateway mock (pid {pid}): cpu ")), "{report}");
    assert!(report.contains("cpu-s per 1M requests"), "{report}");
    promtool_check(&out.dir.join("metrics.prom"));
    let prom = std::fs::read_to_string(out.dir.join("metrics.prom")).unwrap();
    assert!(prom.contains("llmload_gateway_rss_bytes_peak{stage=\"2\""), "{prom}");
    let html = std::fs::read_to_string(out.dir.join("report.html")).unwrap();
    assert!(html.contains("System under test"));
}

#[test]
fn a_pid_that_does_not_exist_is_refused_before_any_load() {
    let target = Target::new();
    let (code, _, stderr) = common::llmload(&[
        "run",
        "--target",
        &target.url,
        "--stages",
        "1:1s",
        "--pid",
        "gw=99999999",
        "--out",
        common::tempdir("nopid").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--pid gw=99999999: no process 99999999"), "{stderr}");
    target.assert_untouched("a bad --pid");
    let (code, _, stderr) = common::llmload(&["run", "--target", &target.url, "--scrape", "nourl"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--scrape \"nourl\": expected NAME=VALUE"), "{stderr}");
    target.assert_untouched("a bad --scrape");
}

#[test]
fn scraped_request_counts_equal_the_clients_per_stage_and_a_refused_scrape_is_counted() {
    let mock = Mock::start(&["--nonstream-delay", "none"]);
    let target = format!("http://{}/v1/chat/completions", mock.addr);
    // A port nothing listens on.
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = run_llmload(
        &[
            "--target",
            &target,
            // Open and closed loop in turn: no user persists across a boundary.
            "--stages",
            "4:1s,@150:1s,3:1s",
            "--scrape",
            &format!("mock=http://{}/metrics", mock.addr),
            "--scrape",
            &format!("down=http://127.0.0.1:{refused}/metrics"),
            "--scrape-interval",
            "200ms",
            "--no-jsonl",
        ],
        Duration::from_secs(60),
    );
    common::assert_ran(Some(out.code), &out.summary, &out.stderr);
    let stages = out.summary["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 3);
    for (i, st) in stages.iter().enumerate() {
        let client = st["all"]["requests"].as_u64().unwrap();
        assert!(client > 0, "stage {i}");
        let m = &st["server_metrics"]["mock"];
        let chat: f64 = m["counters"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with("llmload_mock_requests_total{route=\"chat_completions\""))
            .map(|(_, v)| v.as_f64().unwrap())
            .sum();
        assert_eq!(
            chat, client as f64,
            "stage {i}: the mock's counter increase vs the client's requests: {m}"
        );
        assert_eq!(m["known"]["requests"].as_f64(), Some(client as f64), "stage {i}");
        let tokens = st["all"]["completion_tokens"].as_f64().unwrap();
        assert_eq!(m["known"]["generation_tokens"].as_f64(), Some(tokens), "stage {i}");
        assert_eq!(m["failed_scrapes"], 0, "stage {i}: {m}");
        // Both boundaries, and the interval between (at least one in a 1 s stage).
        assert!(m["scrapes"].as_u64().unwrap() >= 3, "stage {i}: {m}");
        let d = &st["server_metrics"]["down"];
        assert_eq!(d["scrapes"], 0);
        assert!(d["failed_scrapes"].as_u64().unwrap() >= 2, "stage {i}: {d}");
        assert!(d["last_error"].as_str().unwrap().starts_with("connect "), "{d}");
    }
    let report = std::fs::read_to_string(out.dir.join("report.txt")).unwrap();
    assert!(report.contains("FAILED (last: connect 127.0.0.1:"), "{report}");
    assert!(report.contains("requests       "), "{report}");
    promtool_check(&out.dir.join("metrics.prom"));
}

/// The proof: a busy child's CPU as sampled is within 10 % of its own getrusage.
#[test]
fn a_busy_child_is_sampled_within_ten_percent_of_its_getrusage() {
    const BURN: &str = "import resource, sys, time\n\
print('ready', flush=True)\n\
sys.stdin.readline()\n\
r = lambda: (lambda u: u.ru_utime + u.ru_stime)(resource.getrusage(resource.RUSAGE_SELF))\n\
a = r()\n\
t = time.process_time()\n\
while time.process_time() - t < 0.8:\n    pass\n\
print(r() - a, flush=True)\n\
sys.stdin.readline()\n";
    // The interpreter itself: a launcher (pyenv's shim) would add its own processes' CPU.
    let python =
        Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output().expect("python3");
    let python = String::from_utf8(python.stdout).unwrap().trim().to_string();
    let mut busy = Command::new(&python)
        .args(["-c", BURN])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = BufReader::new(busy.stdout.take().unwrap());
    let mut ready = String::new();
    said.read_line(&mut ready).unwrap();
    assert_eq!(ready, "ready\n");
    let mock = Mock::start(&[]);
    let out_dir = common::tempdir("busy");
    let mut run = Command::new(env!("CARGO_BIN_EXE_llmload"))
        .args(["run", "--target", &format!("http://{}/v1/chat/completions", mock.addr)])
        .args(["--stages", "1:6s", "--no-jsonl", "--pid", &format!("busy={}", busy.id())])
        .arg("--out")
        .arg(&out_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first progress line comes from a running stage: its boundary has been read.
    let mut stderr = BufReader::new(run.stderr.take().unwrap());
    let started = Instant::now();
    let mut line = String::new();
    while !line.starts_with('[') {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "llmload ended before its stage ran");
        assert!(started.elapsed() < Duration::from_secs(30));
    }
    let mut stdin = busy.stdin.take().unwrap();
    stdin.write_all(b"go\n").unwrap();
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let code = run.wait().unwrap().code();
    let mut burned = String::new();
    said.read_line(&mut burned).unwrap();
    drop(stdin);
    let _ = busy.wait();
    let truth: f64 = burned.trim().parse().unwrap_or_else(|_| panic!("child said {burned:?}"));
    let dir = std::fs::read_dir(&out_dir).unwrap().next().unwrap().unwrap().path();
    let summary: Value = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    common::assert_ran(code, &summary, "busy child run");
    let sampled: f64 = resources(&summary, "busy").iter().map(|f| f["cpu_s"].as_f64().unwrap()).sum();
    eprintln!("sampled {sampled} s, getrusage {truth} s");
    // The burn ran inside the stage unless the machine stalled it past 6 s (then it is short).
    assert!(
        (sampled - truth).abs() <= truth * 0.1 + 0.02,
        "sampled {sampled} s vs getrusage {truth} s: {}",
        summary["stages"][0]["resources"]
    );
}
