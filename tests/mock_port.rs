//! The mock owns its port: its per-core SO_REUSEPORT listeners share it, but a port another
//! process serves (another mock, or any other listener) is refused instead of being split
//! with it by the kernel.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{post, roundtrip, run_limited, Mock};

/// Cores for a multi-core mock: every core of the machine, at most 4 (so 400 connections
/// reach each of them with certainty).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(4)
}

/// `llmload mock --listen <addr>`, which must exit on its own: (exit code, stdout, stderr).
fn second_mock(addr: &str) -> (Option<i32>, String, String) {
    let out = run_limited(
        Command::new(env!("CARGO_BIN_EXE_llmload")).args(["mock", "--listen", addr]),
        Duration::from_secs(20),
    );
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// Asserts the start was refused as a runtime failure naming the address.
fn assert_refused(addr: &str, (code, stdout, stderr): (Option<i32>, String, String)) {
    assert!(code.is_some_and(|c| c != 0 && c != 2), "exit {code:?}: {stderr}");
    assert!(stderr.contains("address in use"), "{stderr}");
    assert!(stderr.contains(addr), "the message names {addr}: {stderr}");
    assert!(!stdout.contains("listening"), "{stdout}");
}

/// The `hi` part of a mock request id (`req_` + 16 hex digits per core + an 8-digit counter).
fn core_of(mock: &Mock) -> String {
    let r = roundtrip(mock, b"GET /v1/models HTTP/1.1\r\nhost: t\r\n\r\n");
    assert_eq!(r.status, 200);
    r.header("x-request-id").expect("x-request-id")[4..20].to_string()
}

#[test]
fn a_second_mock_on_a_used_port_is_refused() {
    let first = Mock::start(&["--cores", &cores().to_string()]);
    assert_refused(&first.addr, second_mock(&first.addr));
    // The first mock still serves.
    let body = r#"{"model":"mock-gpt","messages":[{"role":"user","content":"hi"}]}"#;
    assert_eq!(roundtrip(&first, &post("/v1/chat/completions", &[], body)).status, 200);
}

#[test]
fn a_port_held_by_another_kind_of_listener_is_refused() {
    // A plain listener (std binds without SO_REUSEPORT): the kernel refuses the bind.
    let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = plain.local_addr().unwrap().to_string();
    assert_refused(&addr, second_mock(&addr));
    // A listener with SO_REUSEPORT of the same user: the kernel would let the mock join it;
    // the mock's own check refuses.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_reuse_port(true).unwrap();
    socket.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    socket.listen(16).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap().to_string();
    assert_refused(&addr, second_mock(&addr));
}

#[test]
fn every_core_serves_the_one_port() {
    let mock = Mock::start(&["--cores", &cores().to_string()]);
    // SO_REUSEPORT hashes each new connection (a new source port) to one core's listener.
    let served: BTreeSet<String> = (0..400).map(|_| core_of(&mock)).collect();
    assert_eq!(served.len(), cores(), "{served:?}");
    // Once the mock is gone, the port is free for the next one.
    let addr = mock.addr.clone();
    drop(mock);
    let again = mock_on(&addr);
    assert_eq!(again.addr, addr);
    assert_eq!(core_of(&again).len(), 16);
}

/// `llmload mock --listen <addr>`, started and listening.
fn mock_on(addr: &str) -> Mock {
    let mut child = Command::new(env!("CARGO_BIN_EXE_llmload"))
        .args(["mock", "--cores", "1", "--listen", addr])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn llmload mock");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("the listening line");
    let mock = Mock { child, addr: addr.to_string() };
    assert_eq!(line.trim(), format!("llmload mock: listening on http://{addr}"));
    mock
}
