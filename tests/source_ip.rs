//! `--source-ip` rotates the local address of new connections (to go past ~28k ports per
//! source/destination pair): a server written here records the peers it sees.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{assert_accounted, run_llmload, stage_all};

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
