//! A real gateway: LiteLLM proxy (pinned in tests/gateway/requirements.txt, installed into
//! .venv by scripts/install-gateway-deps.sh, which scripts/test.sh runs) in front of
//! `llmload mock`, measured by `llmload overhead`: a positive Δ TTFT, streams pass through,
//! cancellation propagation through LiteLLM measured and shown, LiteLLM's own CPU and RSS
//! (`--pid`) non-zero; and the mock's per-key 429s passing through LiteLLM (no retries) to be
//! counted by `llmload run`, as many as the mock refused. LiteLLM takes a minute
//! or more to start on a busy 2-core machine: its health endpoint is awaited for up to 5
//! minutes, and the proxy is killed on every path (a guard's Drop, panics included).

mod common;

use std::hash::{BuildHasher, Hasher};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{profile_file, run_limited, tempdir, Mock};
use serde_json::{json, Value};

/// The LiteLLM proxy child, killed when dropped.
struct Proxy(Child, PathBuf);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn litellm_bin() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/litellm");
    assert!(
        bin.is_file(),
        "{} not found: LiteLLM proxy is a test dependency; run scripts/install-gateway-deps.sh \
         (scripts/test.sh runs it)",
        bin.display()
    );
    bin
}

/// A master key LiteLLM accepts as strong: 48 random hex digits.
fn master_key() -> String {
    let s = std::collections::hash_map::RandomState::new();
    let part = |i: u64| {
        let mut h = s.build_hasher();
        h.write_u64(i ^ u64::from(std::process::id()));
        format!("{:016x}", h.finish())
    };
    format!("sk-{}{}{}", part(1), part(2), part(3))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// GET http://127.0.0.1:port/path's status, or 0.
fn status(port: u16, path: &str) -> u16 {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return 0 };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// Starts LiteLLM with one openai-compatible model pointing at `mock` (and `settings`, more
/// top-level config YAML), and waits for its liveliness endpoint.
fn start_litellm(mock: &Mock, key: &str, settings: &str) -> (Proxy, u16) {
    let bin = litellm_bin();
    let dir = tempdir("litellm");
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "model_list:\n  - model_name: mock-gpt\n    litellm_params:\n      model: openai/mock-gpt\n      \
             api_base: http://{}/v1\n      api_key: sk-mock\n{settings}",
            mock.addr
        ),
    )
    .unwrap();
    let port = free_port();
    let log = dir.join("litellm.log");
    let child = Command::new(bin)
        .args(["--config", config.to_str().unwrap(), "--host", "127.0.0.1", "--port", &port.to_string()])
        .env("LITELLM_MASTER_KEY", key)
        // Offline here: the bundled model cost map, no telemetry.
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env("LITELLM_TELEMETRY", "False")
        .current_dir(&dir)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::from(std::fs::File::options().append(true).open(&log).unwrap()))
        .spawn()
        .expect("spawn litellm");
    let mut proxy = Proxy(child, log);
    let started = Instant::now();
    while status(port, "/health/liveliness") != 200 {
        let tail = || std::fs::read_to_string(&proxy.1).unwrap_or_default();
        if let Ok(Some(code)) = proxy.0.try_wait() {
            panic!("litellm exited ({code}) before it was up:\n{}", tail());
        }
        if started.elapsed() > Duration::from_secs(300) {
            panic!("litellm not up within 300s:\n{}", tail());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("litellm up after {:.1}s", started.elapsed().as_secs_f64());
    (proxy, port)
}

#[test]
fn litellm_adds_ttft_passes_streams_through_and_its_cancel_propagation_is_measured() {
    let mock = Mock::start(&["--cores", "1", "--ttft", "20ms", "--itl", "5ms", "--output-tokens", "1000"]);
    let key = master_key();
    let (proxy, port) = start_litellm(&mock, &key, "");
    let pid = format!("litellm={}", proxy.0.id());
    let direct = format!("http://{}/v1/chat/completions", mock.addr);
    let p = profile_file(
        "litellm",
        json!({
            "defaults": {"model": "mock-gpt", "max_tokens": 32, "stream": true, "target": direct},
            "stages": ["2:5s"],
            "warmup": "1s",
            "scenarios": [{"name": "chat", "cancel": {"rate": 0.2, "after": "5 events"}}],
        }),
    );
    let out = tempdir("litellm-overhead");
    let via = format!("litellm=http://127.0.0.1:{port}/v1/chat/completions");
    let o = run_limited(
        Command::new(env!("CARGO_BIN_EXE_llmload"))
            .args(["overhead", p.to_str().unwrap(), "--direct", &direct, "--via", &via, "--pid", &pid])
            .args([
                "--key-env",
                "litellm=LLMLOAD_TEST_LITELLM_KEY",
                "--trials",
                "2",
                "--seed",
                "11",
                "--cores",
                "1",
            ])
            .arg("--out")
            .arg(&out)
            .env("LLMLOAD_TEST_LITELLM_KEY", &key),
        Duration::from_secs(300),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    eprintln!("{stdout}");
    assert!(!stdout.contains(&key) && !stderr.contains(&key), "the key was printed");
    let dir = std::fs::read_dir(&out).unwrap().flatten().next().unwrap().path();
    let v: Value = serde_json::from_slice(&std::fs::read(dir.join("overhead.json")).unwrap()).unwrap();
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let g = &v["gateways"][0];
    let stage = &g["stages"][0];
    let ttft = stage["delta"]["ttft"]["p50"]["delta_us"].as_f64().unwrap();
    assert!(ttft > 0.0, "Δ TTFT p50 {ttft} µs");
    assert_eq!(stage["pass_through"]["verdict"], "pass", "{}", stage["pass_through"]);
    let c = &g["cancellation"];
    assert_eq!(c["measured"], true, "{c}");
    assert!(c["via"]["client_cancelled"].as_u64().unwrap() > 0, "{c}");
    assert!(c["verdict"].is_string(), "{c}");
    assert!(stdout.contains("cancellation: "), "{stdout}");
    // LiteLLM's own CPU and memory, sampled during its via-runs: non-zero in every trial.
    let r = &g["resources"]["stages"][0];
    assert_eq!(g["resources"]["source"], format!("pid {}", proxy.0.id()), "{}", g["resources"]);
    assert_eq!(r["trials"].as_array().unwrap().len(), 2, "{r}");
    for t in r["trials"].as_array().unwrap() {
        assert!(f(&t["cpu_s"]) > 0.0 && f(&t["cpu_pct_avg"]) > 0.0, "{t}");
        assert!(f(&t["rss_avg_bytes"]) > 0.0 && f(&t["rss_peak_bytes"]) > 0.0, "{t}");
        assert!(f(&t["cpu_s_per_1m_requests"]) > 0.0, "{t}");
    }
    assert!(stdout.contains("resources: stage 1 (2:5s) pid "), "{stdout}");
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The sum of a (labelled) counter family on the mock's /metrics.
fn mock_counter(mock: &Mock, family: &str) -> f64 {
    let r = common::roundtrip(mock, b"GET /metrics HTTP/1.1\r\nhost: t\r\n\r\n");
    let text = String::from_utf8(r.body).unwrap();
    text.lines()
        .filter(|l| l.starts_with(family) && l[family.len()..].starts_with(['{', ' ']))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

/// One non-streaming chat request to LiteLLM: (status, selected headers, body).
fn chat(port: u16, key: &str) -> (u16, Vec<(String, String)>, String) {
    let body = r#"{"model":"mock-gpt","max_tokens":4,"messages":[{"role":"user","content":"hi"}]}"#;
    let auth = format!("Bearer {key}");
    let req = common::post("/v1/chat/completions", &[("authorization", &auth)], body);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    std::io::Write::write_all(&mut s, &req).unwrap();
    let r = common::read_response(&mut s, Instant::now());
    let kept =
        r.headers.iter().filter(|(k, _)| k.contains("ratelimit") || k.contains("retry")).cloned().collect();
    (r.status, kept, String::from_utf8_lossy(&r.body).chars().take(400).collect())
}

#[test]
fn litellm_passes_the_mocks_429s_through_and_llmload_counts_them() {
    // 3 requests a second for LiteLLM's one upstream key; the load offers ~20 a second.
    let mock =
        Mock::start(&["--cores", "1", "--ttft", "5ms", "--itl", "1ms", "--rate-limit", "rpm=3,window=1s"]);
    let key = master_key();
    // No retries anywhere in LiteLLM, so each upstream 429 is the client's 429.
    let (_proxy, port) = start_litellm(
        &mock,
        &key,
        "litellm_settings:\n  num_retries: 0\nrouter_settings:\n  num_retries: 0\n",
    );
    // What LiteLLM answers once the window is used up (for the report).
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(chat(port, &key));
    }
    for (status, headers, body) in &seen {
        eprintln!("litellm answers {status} {headers:?} {body}");
    }
    // The mock's 429 comes through as a 429 with the mock's x-ratelimit-limit-requests.
    let refused = seen.iter().find(|(status, _, _)| *status == 429).expect("no 429 through LiteLLM");
    assert!(refused.1.iter().any(|(k, v)| k == "x-ratelimit-limit-requests" && v == "3"), "{refused:?}");
    let before = mock_counter(&mock, "llmload_mock_rate_limited_total");
    let via = format!("http://127.0.0.1:{port}/v1/chat/completions");
    let run = common::run_llmload(
        &[
            "--target",
            &via,
            "--vk",
            &key,
            "--model",
            "mock-gpt",
            "--max-tokens",
            "4",
            "--stages",
            "@20:4s",
            "--warmup",
            "0s",
            "--seed",
            "5",
            "--cores",
            "1",
        ],
        Duration::from_secs(180),
    );
    std::thread::sleep(Duration::from_millis(500));
    let upstream = mock_counter(&mock, "llmload_mock_rate_limited_total") - before;
    let all = common::stage_all(&run.summary, 0);
    eprintln!("{}\n{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains(&key) && !run.stderr.contains(&key), "the key was printed");
    let client = all["rate_limited"].as_u64().unwrap_or_else(|| panic!("{all}"));
    eprintln!(
        "client rate_limited {client}, ratelimit_headers {}, status {}, retry_after {}; mock refused {upstream}",
        all["ratelimit_headers"], all["status"], all["retry_after"]
    );
    assert_eq!(all["ratelimit_headers"].as_u64(), Some(client), "{all}");
    assert!(client > 0, "{all}");
    assert_eq!(all["status"]["429"].as_u64(), Some(client), "{all}");
    // Every 429 the client saw came from the mock (LiteLLM refuses nothing itself here), and
    // with no retries every refusal reached the client: the counts are equal.
    assert_eq!(upstream, client as f64, "mock refused {upstream}, client counted {client}: {all}");
}
