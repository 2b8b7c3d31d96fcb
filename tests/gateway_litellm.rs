//! A real gateway: LiteLLM proxy (pinned in tests/gateway/requirements.txt, installed into
//! .venv by scripts/install-gateway-deps.sh, which scripts/test.sh runs) in front of
//! `llmload mock`, measured by `llmload overhead`: a positive Δ TTFT, streams pass through,
//! and cancellation propagation through LiteLLM measured and shown. LiteLLM takes a minute
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

/// Starts LiteLLM with one openai-compatible model pointing at `mock`, and waits for its
/// liveliness endpoint.
fn start_litellm(mock: &Mock, key: &str) -> (Proxy, u16) {
    let bin = litellm_bin();
    let dir = tempdir("litellm");
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "model_list:\n  - model_name: mock-gpt\n    litellm_params:\n      model: openai/mock-gpt\n      \
             api_base: http://{}/v1\n      api_key: sk-mock\n",
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
    let (_proxy, port) = start_litellm(&mock, &key);
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
            .args(["overhead", p.to_str().unwrap(), "--direct", &direct, "--via", &via])
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
}
