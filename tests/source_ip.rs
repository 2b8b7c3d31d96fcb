//! `--source-ip` rotates the local address of new connections (to go past ~28k ports per
//! source/destination pair): a server written here records the peers it sees.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{assert_accounted, run_llmload, stage_all, tempdir};

#[test]
fn connections_come_from_every_source_address() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peers: Arc<Mutex<HashSet<IpAddr>>> = Arc::default();
    let seen = peers.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            seen.lock().unwrap().insert(conn.peer_addr().unwrap().ip());
            std::thread::spawn(move || {
                let mut conn = conn;
                let body = r#"{"choices":[{"message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#;
                // One response per request, then close: every request opens a new connection.
                let mut buf = [0u8; 4096];
                if conn.read(&mut buf).unwrap_or(0) > 0 {
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(resp.as_bytes());
                }
            });
        }
    });
    let target = format!("http://{addr}/v1");
    let run = run_llmload(
        &["--target", &target, "--stages", "2:700ms", "--cores", "1", "--source-ip", "127.0.0.2,127.0.0.3"],
        Duration::from_secs(20),
    );
    let all = stage_all(&run.summary, 0);
    assert_accounted(all);
    assert!(all["ok"].as_u64().unwrap() >= 4, "{all}\n{}", run.stderr);
    let peers = peers.lock().unwrap();
    let want: HashSet<IpAddr> = ["127.0.0.2", "127.0.0.3"].iter().map(|s| s.parse().unwrap()).collect();
    assert_eq!(*peers, want);
}

#[test]
fn a_source_address_not_on_this_host_is_refused_before_any_load() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = format!("http://{}/v1", listener.local_addr().unwrap());
    let out = tempdir("source-ip");
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): never a local address.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_llmload"))
        .args(["run", "--target", &target, "--stages", "1:1s", "--cores", "1"])
        .args(["--source-ip", "127.0.0.2,192.0.2.1", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--source-ip 192.0.2.1: not an address of this host"), "{err}");
    assert!(!err.contains("127.0.0.2"), "the local address is fine: {err}");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "no run started");
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_err(), "no connection was made");
}
