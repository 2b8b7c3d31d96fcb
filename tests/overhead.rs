//! `llmload overhead` over loopback, with proxies written here: a transparent byte pump
//! (optionally holding each request back a fixed time) passes the pass-through check and
//! propagates client cancels; a buffering proxy (`Capture::proxy`, which reads the whole
//! upstream reply, de-chunked, before writing it at once) is flagged and keeps generating
//! upstream after the client left; a fixed delay shows as a positive Δ TTFT and Δ e2e.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

use common::capture::Capture;
use common::{llmload, profile_file, run_limited, tempdir, Mock};
use serde_json::{json, Value};

/// A transparent TCP proxy to `upstream`: bytes pass as they come, each direction on its own
/// thread; client→upstream reads are held back `delay` (a fixed added latency). When either
/// side closes, both connections are closed, as a gateway that propagates cancels does.
fn pump_proxy(upstream: String, delay: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(up) = TcpStream::connect(&upstream) else { continue };
            let _ = (client.set_nodelay(true), up.set_nodelay(true));
            let (c2, u2) = (client.try_clone().unwrap(), up.try_clone().unwrap());
            std::thread::spawn(move || copy(client, up, delay));
            std::thread::spawn(move || copy(u2, c2, Duration::ZERO));
        }
    });
    addr
}

fn copy(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let mut buf = [0u8; 16384];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if !delay.is_zero() {
                    std::thread::sleep(delay);
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// Runs `llmload overhead <args> --out <tmp>`: (exit code, stdout, stderr, overhead.json).
fn overhead(args: &[&str], limit: Duration) -> (i32, String, String, Value, std::path::PathBuf) {
    let out = tempdir("overhead");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_llmload"));
    cmd.arg("overhead").args(args).arg("--out").arg(&out);
    let o = run_limited(&mut cmd, limit);
    let dir = std::fs::read_dir(&out).unwrap().flatten().next().map(|e| e.path()).unwrap_or(out);
    let json = std::fs::read(dir.join("overhead.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
        json,
        dir,
    )
}

fn gateway<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["gateways"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == name)
        .unwrap_or_else(|| panic!("{name}: {v}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("a number: {v}"))
}

#[test]
fn buffering_is_flagged_transparent_passes_and_a_delay_adds_latency() {
    // 40 tokens 5 ms apart: a stream spreads over ~200 ms, its first token at ~20 ms.
    let mock = Mock::start(&["--cores", "1", "--ttft", "20ms", "--itl", "5ms", "--output-tokens", "40"]);
    let buffering = Capture::proxy(&mock.addr);
    let transparent = pump_proxy(mock.addr.clone(), Duration::ZERO);
    let delayed = pump_proxy(mock.addr.clone(), Duration::from_millis(30));
    let path = "/v1/chat/completions";
    let p = profile_file(
        "overhead",
        json!({
            "defaults": {"model": "mock-gpt", "max_tokens": 40, "stream": true,
                         "target": format!("http://{}{path}", mock.addr)},
            "stages": ["2:3s"],
            "warmup": "500ms",
            "scenarios": [{"name": "chat", "cancel": {"rate": 0.2, "after": "5 events"}}],
        }),
    );
    let via = |name: &str, addr: &str| format!("{name}=http://{addr}{path}");
    let (buf, tra, del) = (
        via("buffering", buffering.url.split('/').nth(2).unwrap()),
        via("transparent", &transparent),
        via("delayed", &delayed),
    );
    let direct = format!("http://{}{path}", mock.addr);
    // The delayed gateway's pumps are threads of this test process: sample it as that gateway.
    let pid = format!("delayed={}", std::process::id());
    let (code, stdout, stderr, v, dir) = overhead(
        &[
            "--pid",
            &pid,
            p.to_str().unwrap(),
            "--direct",
            &direct,
            "--via",
            &buf,
            "--via",
            &tra,
            "--via",
            &del,
            "--trials",
            "2",
            "--seed",
            "7",
            "--cores",
            "1",
            "--cancel-settle",
            "500ms",
        ],
        Duration::from_secs(240),
    );
    // The buffering gateway fails the check: a failed check is exit 1, as a threshold is.
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert_eq!(v["pass"], false);
    assert_eq!(v["upstream"]["llmload_mock"], true);
    assert_eq!(v["order"].as_array().unwrap().len(), 2);
    // Every run has its own full reports; every target ran every trial.
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 8);
    for r in runs {
        assert!(std::path::Path::new(r["dir"].as_str().unwrap()).join("summary.json").is_file(), "{r}");
        assert!(r["ok"].as_u64().unwrap() > 0, "{r}");
    }
    assert!(dir.join("overhead.txt").is_file());

    let b = gateway(&v, "buffering");
    let bp = &b["stages"][0]["pass_through"];
    assert_eq!(bp["verdict"], "fail", "{bp}");
    let failed: Vec<&str> = bp["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["verdict"] == "fail")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(failed.contains(&"not_buffered") && failed.contains(&"gaps_kept"), "{bp}");
    assert!(f(&bp["first_token_share"]["via"]) > 0.9, "{bp}");
    assert_eq!(b["pass"], false);
    // It read the whole reply upstream before the client could cancel (the client gets it
    // in one piece, so its cancel after 5 events never comes): no upstream disconnect.
    let bc = &b["cancellation"];
    assert_eq!(
        (bc["measured"].as_bool(), bc["via"]["upstream_disconnects"].as_f64()),
        (Some(true), Some(0.0)),
        "{bc}"
    );
    assert_ne!(bc["verdict"], "propagated", "{bc}");

    let t = gateway(&v, "transparent");
    let tp = &t["stages"][0]["pass_through"];
    assert_eq!(tp["verdict"], "pass", "{tp}");
    assert!((f(&tp["coalescing_ratio"]) - 1.0).abs() < 0.05, "{tp}");
    assert_eq!(tp["tokens_per_response"]["via"], tp["tokens_per_response"]["direct"]);
    assert!(t["pass"].as_bool().unwrap(), "{t}");
    let c = &t["cancellation"];
    assert_eq!(c["verdict"], "propagated", "{c}");
    assert!(
        f(&c["via"]["client_cancelled"]) > 0.0 && f(&c["via"]["mean_time_to_disconnect_ms"]) > 0.0,
        "{c}"
    );
    assert!(t["resources"].is_null());

    // 30 ms held back per request: Δ at p50 is positive (well above noise, below 10×).
    let d = gateway(&v, "delayed");
    for metric in ["ttft", "e2e"] {
        let delta = f(&d["stages"][0]["delta"][metric]["p50"]["delta_us"]) / 1e3;
        assert!((20.0..300.0).contains(&delta), "{metric} Δ p50 {delta} ms: {}", d["stages"][0]["delta"]);
    }
    assert_eq!(d["stages"][0]["pass_through"]["verdict"], "pass");
    // Its resources: one entry per trial, sampled, with CPU per 1M requests and RSS.
    let r = &d["resources"]["stages"][0];
    assert_eq!(d["resources"]["source"], format!("pid {}", std::process::id()), "{r}");
    assert_eq!(r["trials"].as_array().unwrap().len(), 2, "{r}");
    for t in r["trials"].as_array().unwrap() {
        assert!(t["samples"].as_u64().unwrap() >= 2, "{t}");
        assert!(f(&t["rss_peak_bytes"]) > 0.0 && t["cpu_s_per_1m_requests"].is_number(), "{t}");
    }
    assert!(f(&r["rss_avg_bytes"]) > 0.0 && f(&r["cpu_pct_peak"]) >= f(&r["cpu_pct_avg"]), "{r}");
    assert!(stdout.contains(&format!("resources: stage 1 (2:3s) pid {}: ", std::process::id())), "{stdout}");
    assert!(stdout.contains("resources: not sampled (--pid transparent=PID"), "{stdout}");
    // Only its via-runs were sampled: its run's summary.json has them, direct's has none.
    let summary = |name: &str| -> Value {
        let run = v["runs"].as_array().unwrap().iter().find(|r| r["target"] == name).unwrap();
        let dir = std::path::Path::new(run["dir"].as_str().unwrap());
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
    };
    assert!(summary("delayed")["stages"][0]["resources"]["delayed"]["samples"].as_u64().unwrap() >= 2);
    let direct_res = &summary("direct")["stages"][0]["resources"];
    assert!(direct_res.is_null() || direct_res.as_object().is_some_and(|m| m.is_empty()), "{direct_res}");
    assert!(stdout.contains("== buffering") && stdout.contains("FAIL"), "{stdout}");
}

#[test]
fn a_gateway_that_fails_every_request_does_not_exit_0() {
    // The built-in mock as the upstream (flags-only profile), a gateway nobody listens on.
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("dead=http://{}", dead.local_addr().unwrap());
    drop(dead);
    let (code, stdout, stderr, v, _) = overhead(
        &[
            "--via",
            &url,
            "--mock-listen",
            "127.0.0.1:0",
            "--stream",
            "--stages",
            "1:1s",
            "--trials",
            "1",
            "--cores",
            "1",
        ],
        Duration::from_secs(120),
    );
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert_eq!(v["upstream"]["builtin_mock"], true);
    let rows = v["runs"].as_array().unwrap();
    let dead = rows.iter().find(|r| r["target"] == "dead").unwrap();
    assert_eq!((dead["ok"].as_u64(), dead["exit_code"].as_i64()), (Some(0), Some(1)), "{dead}");
    let direct = rows.iter().find(|r| r["target"] == "direct").unwrap();
    assert_eq!(direct["exit_code"], 0, "{direct}");
    assert!(gateway(&v, "dead")["stages"][0]["errors_added"].as_object().is_some_and(|m| !m.is_empty()));
    assert_eq!(gateway(&v, "dead")["cancellation"]["reason"], "no scenario has cancel");
}

#[test]
fn bad_flags_are_usage_errors_before_any_load() {
    for (args, want) in [
        (vec!["overhead", "--via", "nourl"], "expected NAME=URL"),
        (vec!["overhead", "--via", "a=http://127.0.0.1:9", "--target", "http://x"], "--target"),
        (
            vec!["overhead", "--via", "a=http://127.0.0.1:9", "--key-env", "a=LLMLOAD_SURELY_UNSET"],
            "LLMLOAD_SURELY_UNSET",
        ),
        (vec!["overhead", "--via", "a=http://127.0.0.1:9", "--trials", "0"], "--trials"),
        (vec!["overhead", "--via", "a=http://127.0.0.1:9", "--pid", "b=1"], "--pid b=1: no gateway \"b\""),
        (
            vec!["overhead", "--via", "a=http://127.0.0.1:9", "--pid", "direct=1"],
            "--pid direct=1: no gateway",
        ),
        (vec!["overhead", "--via", "a=http://127.0.0.1:9", "--cgroup", "z=/x"], "--cgroup z=/x: no gateway"),
        (vec!["overhead", "--via", "a=http://127.0.0.1:9", "--pid", "a=999999999"], "--pid a=999999999: "),
        (vec!["overhead", "--via", "a=http://127.0.0.1:9", "--scrape", "m=http://x"], "--scrape"),
    ] {
        let (code, _, stderr) = llmload(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
}
