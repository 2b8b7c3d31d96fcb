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
fn bad_watch_flags_are_refused_before_any_load_naming_the_flag() {
    let target = Target::new();
    let out = common::tempdir("badflags");
    let cases: &[(&[&str], &str)] = &[
        (&["--pid", "gw=99999999"], "--pid gw=99999999: no process 99999999"),
        (&["--pid", "x=notanumber"], "--pid x=notanumber: \"notanumber\" is not a process id"),
        (&["--cgroup", "gw"], "--cgroup \"gw\": expected NAME=VALUE"),
        (&["--cgroup", "gw="], "--cgroup \"gw=\": nothing after ="),
        (&["--cgroup", "gw=/nonexistent/llmload"], "--cgroup gw=/nonexistent/llmload: "),
        (&["--scrape", "nourl"], "--scrape \"nourl\": expected NAME=VALUE"),
        (&["--scrape", "m=ftp://127.0.0.1/metrics"], "--scrape m=ftp://127.0.0.1/metrics: "),
        (&["--scrape", "m=http://127.0.0.1:9/m", "--scrape-interval", "10ms"], "--scrape-interval 10ms"),
    ];
    for (flags, expected) in cases {
        let mut args =
            vec!["run", "--target", &target.url, "--stages", "1:1s", "--out", out.to_str().unwrap()];
        args.extend_from_slice(flags);
        let (code, _, stderr) = common::llmload(&args);
        assert_eq!(code, 2, "{flags:?}: {stderr}");
        assert!(stderr.contains(expected), "{flags:?}: expected {expected:?} in {stderr}");
        target.assert_untouched(&format!("{flags:?}"));
    }
    let (code, _, stderr) = common::llmload(&["knee", "--target", &target.url, "--pid", "gw=1"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("knee: --pid is not used by knee"), "{stderr}");
}

/// A server on a thread of its own answering every connection with `reply` (None: reads
/// and never answers), until the test process ends.
fn serve(reply: Option<&'static [u8]>) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let mut req = [0u8; 4096];
            let _ = std::io::Read::read(&mut c, &mut req);
            match reply {
                Some(r) => {
                    let _ = c.write_all(r);
                }
                None => held.push(c),
            }
        }
    });
    format!("http://{addr}/metrics")
}

#[test]
fn a_garbage_or_silent_scrape_target_is_reported_and_never_hangs_the_run() {
    let mock = Mock::start(&["--nonstream-delay", "none"]);
    let html = serve(Some(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 38\r\n\r\n<html><body>Not here</body></html>\n\n\n\n",
    ));
    let not_http = serve(Some(b"SSH-2.0-OpenSSH_9.6\r\n"));
    let silent = serve(None);
    let started = Instant::now();
    let out = run_llmload(
        &[
            "--target",
            &format!("http://{}/v1/chat/completions", mock.addr),
            "--stages",
            "2:1s,2:1s",
            "--scrape",
            &format!("html={html}"),
            "--scrape",
            &format!("nothttp={not_http}"),
            "--scrape",
            &format!("silent={silent}"),
            "--scrape",
            &format!("mock=http://{}/metrics", mock.addr),
            "--scrape-interval",
            "300ms",
            "--no-jsonl",
        ],
        Duration::from_secs(90),
    );
    common::assert_ran(Some(out.code), &out.summary, &out.stderr);
    // Each boundary waits at most the 2 s scrape timeout per target.
    assert!(started.elapsed() < Duration::from_secs(60), "{:?}", started.elapsed());
    for (i, st) in out.summary["stages"].as_array().unwrap().iter().enumerate() {
        let m = &st["server_metrics"];
        for (name, error) in [
            ("html", "not Prometheus text"),
            ("nothttp", "response head"),
            ("silent", "no whole response within 2s"),
        ] {
            let f = &m[name];
            assert_eq!(f["scrapes"], 0, "stage {i} {name}: {f}");
            assert!(f["failed_scrapes"].as_u64().unwrap() >= 1, "stage {i} {name}: {f}");
            let last = f["last_error"].as_str().unwrap();
            assert!(last.contains(error), "stage {i} {name}: {last}");
        }
        // The good target beside them is unharmed.
        assert_eq!(m["mock"]["failed_scrapes"], 0, "stage {i}: {}", m["mock"]);
        assert_eq!(m["mock"]["known"]["requests"].as_f64(), st["all"]["requests"].as_f64(), "stage {i}");
    }
    let report = std::fs::read_to_string(out.dir.join("report.txt")).unwrap();
    assert!(
        report.contains("server silent (") && report.contains("FAILED (last: no whole response"),
        "{report}"
    );
    promtool_check(&out.dir.join("metrics.prom"));
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

/// A cgroup v2 directory made for a test (where this machine lets root make one), removed
/// when dropped; None (said on stderr) where it cannot be made.
struct TestCgroup(std::path::PathBuf);

impl TestCgroup {
    fn new(tag: &str) -> Option<TestCgroup> {
        // Pure v2 at /sys/fs/cgroup, or hybrid: v2 beside the v1 controllers.
        let root = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
            .iter()
            .map(std::path::Path::new)
            .find(|p| p.join("cgroup.procs").exists() && p.join("cgroup.max.depth").exists())?;
        let dir = root.join(format!("llmload-test-{}-{tag}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => Some(TestCgroup(dir)),
            Err(e) => {
                eprintln!("no cgroup test: {} cannot be made ({e})", dir.display());
                None
            }
        }
    }

    fn adopt(&self, pid: u32) -> bool {
        std::fs::write(self.0.join("cgroup.procs"), pid.to_string()).is_ok()
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// The proof: a busy child's CPU as sampled (`--pid`, and `--cgroup` where a cgroup
/// can be made here) is within 10 % of its own getrusage, and its RSS no more than the
/// peak its getrusage saw. The burn is timed by the child's CPU, not the clock, and the
/// stage is ended (SIGINT) only once the child has said it is done, so a busy machine only
/// makes the test slower.
#[test]
fn a_busy_child_is_sampled_within_ten_percent_of_its_getrusage() {
    const BURN: &str = "import resource, sys, time\n\
def cpu():\n    u = resource.getrusage(resource.RUSAGE_SELF)\n    return u.ru_utime + u.ru_stime\n\
ballast = b'x' * (48 << 20)\n\
print('ready', flush=True)\n\
sys.stdin.readline()\n\
a = cpu()\n\
t = time.process_time()\n\
while time.process_time() - t < 1.0:\n    pass\n\
b = cpu()\n\
print(b - a, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, len(ballast), flush=True)\n\
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
    let cgroup = TestCgroup::new("busy").filter(|c| c.adopt(busy.id()));
    let mock = Mock::start(&[]);
    let out_dir = common::tempdir("busy");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_llmload"));
    cmd.args(["run", "--target", &format!("http://{}/v1/chat/completions", mock.addr)]).args([
        "--stages",
        "1:120s",
        "--no-jsonl",
        "--pid",
        &format!("busy={}", busy.id()),
    ]);
    if let Some(c) = &cgroup {
        cmd.arg("--cgroup").arg(format!("cg={}", c.0.display()));
    }
    let mut run =
        cmd.arg("--out").arg(&out_dir).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    // The first progress line comes from a running stage: its boundary has been read.
    let mut stderr = BufReader::new(run.stderr.take().unwrap());
    let started = Instant::now();
    let mut line = String::new();
    while !line.starts_with('[') {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "llmload ended before its stage ran");
        assert!(started.elapsed() < Duration::from_secs(60), "no progress line");
    }
    let drain = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
        rest
    });
    let mut stdin = busy.stdin.take().unwrap();
    stdin.write_all(b"go\n").unwrap();
    let mut burned = String::new();
    said.read_line(&mut burned).unwrap();
    // Ends the stage now (a graceful stop: the last boundary is read, the reports written).
    let kill = Command::new("kill").args(["-INT", &run.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let code = run.wait().unwrap().code();
    let rest = drain.join().unwrap();
    drop(stdin);
    let _ = busy.wait();
    let figures: Vec<f64> = burned.split_whitespace().map(|v| v.parse().unwrap()).collect();
    let [truth, max_rss, ballast] = figures[..] else { panic!("child said {burned:?}") };
    assert_eq!(code, Some(3), "interrupted: {rest}");
    let dir = std::fs::read_dir(&out_dir).unwrap().next().unwrap().unwrap().path();
    let summary: Value = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let names: &[&str] = if cgroup.is_some() { &["busy", "cg"] } else { &["busy"] };
    for name in names {
        let f = &summary["stages"][0]["resources"][*name];
        let sampled = f["cpu_s"].as_f64().unwrap();
        eprintln!("{name}: sampled {sampled} s, getrusage {truth} s; {f}");
        assert!(
            (sampled - truth).abs() <= truth * 0.1,
            "{name}: sampled {sampled} s vs getrusage {truth} s: {f}"
        );
        let peak = f["rss_peak_bytes"].as_f64().unwrap();
        assert!(peak >= ballast && peak <= max_rss * 1.05, "{name}: rss peak {peak} vs {ballast}..{max_rss}");
        let avg = f["rss_avg_bytes"].as_f64().unwrap();
        assert!(avg >= ballast && avg <= peak, "{name}: rss avg {avg}");
        // One core at most, for a second at least.
        let (pct, pct_peak) = (f["cpu_pct_avg"].as_f64().unwrap(), f["cpu_pct_peak"].as_f64().unwrap());
        assert!(pct > 0.0 && pct_peak >= pct && pct_peak <= 115.0, "{name}: {f}");
        assert_eq!(f["processes_peak"], 1, "{name}: {f}");
    }
    if let Some(c) = &cgroup {
        assert_eq!(summary["stages"][0]["resources"]["cg"]["source"], format!("cgroup {}", c.0.display()));
    }
}
