//! Helpers shared by the integration tests: start the real `llmload` binary, talk raw HTTP.

#![allow(dead_code)]

pub mod capture;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `llmload mock` child process, killed on drop.
pub struct Mock {
    pub child: Child,
    pub addr: String,
}

impl Mock {
    /// Starts `llmload mock --listen 127.0.0.1:0 <args>` and waits for its listening line.
    pub fn start(args: &[&str]) -> Mock {
        let mut child = Command::new(env!("CARGO_BIN_EXE_llmload"))
            .args(["mock", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn llmload mock");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read the listening line");
        let addr =
            line.trim().strip_prefix("llmload mock: listening on ").and_then(|url| url.split_once("://"));
        match addr {
            Some((_, addr)) => Mock { addr: addr.to_string(), child },
            None => {
                let _ = child.kill();
                panic!("unexpected first line {line:?}")
            }
        }
    }

    /// The value of an unlabelled counter on the mock's `/metrics`.
    pub fn metric(&self, name: &str) -> u64 {
        let r = roundtrip(self, b"GET /metrics HTTP/1.1\r\nhost: t\r\n\r\n");
        let text = String::from_utf8(r.body).unwrap();
        let line =
            text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(&self.addr).expect("connect to mock");
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A POST request with a JSON body and extra header lines.
pub fn post(path: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    req.into_bytes()
}

/// A response read off the socket: status, headers (lower-cased names), body (de-chunked),
/// and for chunked bodies the arrival time of each chunk relative to `sent`.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub chunk_times: Vec<(Duration, Vec<u8>)>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Reads one response with a tiny blocking HTTP/1.1 reader (independent of llmload's code).
pub fn read_response(stream: &mut TcpStream, sent: Instant) -> Response {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status: u16 = line.split_whitespace().nth(1).expect("status").parse().expect("numeric status");
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).expect("header line");
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').expect("header colon");
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    let mut chunk_times = Vec::new();
    if get("transfer-encoding").as_deref() == Some("chunked") {
        loop {
            line.clear();
            reader.read_line(&mut line).expect("chunk size");
            let at = sent.elapsed();
            let size = usize::from_str_radix(line.trim(), 16).expect("hex chunk size");
            let mut data = vec![0; size + 2];
            reader.read_exact(&mut data).expect("chunk data");
            data.truncate(size);
            if size == 0 {
                break;
            }
            body.extend_from_slice(&data);
            chunk_times.push((at, data));
        }
    } else if let Some(len) = get("content-length") {
        body = vec![0; len.parse().expect("length")];
        reader.read_exact(&mut body).expect("body");
    }
    Response { status, headers, body, chunk_times }
}

/// Sends `request` on a fresh connection and reads the response.
pub fn roundtrip(mock: &Mock, request: &[u8]) -> Response {
    let mut s = mock.connect();
    let sent = Instant::now();
    s.write_all(request).unwrap();
    read_response(&mut s, sent)
}

/// The result of one `llmload run`.
pub struct RunOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub summary: serde_json::Value,
    pub dir: std::path::PathBuf,
}

impl RunOutput {
    /// The run's results.jsonl, one value per line.
    pub fn lines(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.dir.join("results.jsonl")).expect("results.jsonl");
        text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
    }
}

/// Runs `llmload run <args> --out <tmp>` and fails the test if it takes longer than
/// `limit` (a hang is a bug). Reads the run's summary.json.
pub fn run_llmload(args: &[&str], limit: Duration) -> RunOutput {
    let out = tempdir("run");
    let mut child = Command::new(env!("CARGO_BIN_EXE_llmload"))
        .arg("run")
        .args(args)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn llmload run");
    let started = Instant::now();
    loop {
        if let Some(_status) = child.try_wait().expect("wait") {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("llmload run {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let code = output.status.code().unwrap_or(-1);
    let dir = std::fs::read_dir(&out)
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.path())
        .unwrap_or_else(|| out.clone());
    let summary = std::fs::read(dir.join("summary.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null);
    RunOutput { code, stdout, stderr, summary, dir }
}

/// A fresh directory under the target dir.
pub fn tempdir(tag: &str) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("llmload-test-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `summary.stages[i].all` of a run.
pub fn stage_all(summary: &serde_json::Value, i: usize) -> &serde_json::Value {
    &summary["stages"][i]["all"]
}

/// Asserts the accounting identity: requests = ok + failed + cancelled + client_cancelled.
pub fn assert_accounted(fig: &serde_json::Value) {
    let n = |k: &str| fig[k].as_u64().unwrap_or_else(|| panic!("{k} missing in {fig}"));
    let sum = n("ok") + n("failed") + n("cancelled") + n("client_cancelled");
    assert_eq!(n("requests"), sum, "accounting in {fig}");
}

/// A run that completed: exit 0, or exit 3 because the generator itself was the limit (on a
/// machine busy with other work, open-loop send lag can pass 5 ms; that verdict is right and
/// the counts are still exact) — never interrupted.
pub fn assert_ran(code: Option<i32>, summary: &serde_json::Value, context: &str) {
    let bound = summary["generator_bound"] == true && summary["interrupted"] == false;
    assert!(code == Some(0) || (code == Some(3) && bound), "exit {code:?}: {context}");
}

/// Runs a command with a time limit (a hang is a failure, not a stuck suite).
pub fn run_limited(cmd: &mut Command, limit: Duration) -> std::process::Output {
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {desc}: {e}"));
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut v).map(|_| v).unwrap_or_default()
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut v).map(|_| v).unwrap_or_default()
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{desc} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::process::Output { status, stdout: out_t.join().unwrap(), stderr: err_t.join().unwrap() }
}

/// A target that records whether anyone connected: the kernel completes a connect into the
/// backlog even though the test never calls accept.
pub struct Target {
    listener: std::net::TcpListener,
    pub url: String,
}

impl Target {
    pub fn new() -> Target {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/v1/chat/completions", listener.local_addr().unwrap());
        Target { listener, url }
    }

    pub fn assert_untouched(&self, context: &str) {
        match self.listener.accept() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Ok(_) => panic!("{context}: a connection reached the target"),
            Err(e) => panic!("{context}: accept failed: {e}"),
        }
    }
}

/// `llmload <args>` with a 60 s limit: (exit code, stdout, stderr).
pub fn llmload(args: &[&str]) -> (i32, String, String) {
    let out = run_limited(Command::new(env!("CARGO_BIN_EXE_llmload")).args(args), Duration::from_secs(60));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Writes `json` as a profile file in a fresh temp dir.
pub fn profile_file(tag: &str, json: serde_json::Value) -> std::path::PathBuf {
    let path = tempdir(tag).join("profile.json");
    std::fs::write(&path, json.to_string()).unwrap();
    path
}

/// Fails the test unless `promtool check metrics` accepts the file.
pub fn promtool_check(path: &std::path::Path) {
    let text = std::fs::read(path).expect("metrics.prom");
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => panic!("promtool could not be started ({e}): run scripts/install-test-deps.sh"),
    };
    child.stdin.take().expect("stdin").write_all(&text).expect("feed promtool");
    let out = child.wait_with_output().expect("promtool output");
    assert!(
        out.status.success(),
        "promtool check metrics failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
