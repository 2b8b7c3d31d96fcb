//! The mock's keep-alive idle timeout: a connection that sends nothing is closed, one that
//! keeps sending requests is not (the timeout runs from the last request, not the first).

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{post, read_response, tempdir, Mock};

fn mock_with_idle(timeout: &str) -> Mock {
    let dir = tempdir("mock-idle");
    let config = dir.join("mock.json");
    std::fs::write(&config, format!("{{\"idle_timeout\":\"{timeout}\"}}")).unwrap();
    Mock::start(&["--config", config.to_str().unwrap(), "--cores", "1", "--ttft", "0", "--itl", "0"])
}

fn chat() -> Vec<u8> {
    post(
        "/v1/chat/completions",
        &[],
        r#"{"model":"mock-gpt","messages":[{"role":"user","content":"hi"}],"max_tokens":4}"#,
    )
}

#[test]
fn an_idle_connection_is_closed_and_a_busy_one_is_not() {
    let mock = mock_with_idle("1s");
    // Busy: a request every 100 ms for 2.5 s, on one connection, all answered.
    let mut busy = mock.connect();
    let began = Instant::now();
    while began.elapsed() < Duration::from_millis(2500) {
        busy.write_all(&chat()).unwrap();
        assert_eq!(read_response(&mut busy, Instant::now()).status, 200);
        std::thread::sleep(Duration::from_millis(100));
    }
    // Idle after one request: the mock closes it (EOF well within the read timeout).
    let mut idle = mock.connect();
    idle.write_all(&chat()).unwrap();
    assert_eq!(read_response(&mut idle, Instant::now()).status, 200);
    let waited = Instant::now();
    let mut byte = [0u8; 1];
    assert_eq!(idle.read(&mut byte).expect("EOF, not a read timeout"), 0);
    assert!(waited.elapsed() >= Duration::from_millis(900), "closed after {:?}", waited.elapsed());
}
