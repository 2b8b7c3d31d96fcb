//! Hostile servers: every misbehaviour ends its request under an error class, every request
//! is accounted for, and the run finishes on time (nothing panics or hangs).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use common::{assert_accounted, run_llmload, stage_all};

/// Serves every connection with `behave` on its own thread until the test process ends.
fn serve(behave: fn(TcpStream)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || behave(conn));
        }
    });
    addr
}

/// Reads one request head (and a small body) so the client's write completes.
fn read_request(s: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.read(&mut buf);
}

const SSE_HEAD: &str =
    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";

fn chunk(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n", data.len())
}

fn check(addr: &str, extra: &[&str], class: &str) {
    let target = format!("http://{addr}/v1");
    let mut args =
        vec!["--target", target.as_str(), "--stages", "1:700ms", "--grace", "500ms", "--cores", "1"];
    args.extend_from_slice(extra);
    let run = run_llmload(&args, Duration::from_secs(20));
    let all = stage_all(&run.summary, 0);
    assert!(all.is_object(), "no summary for {class}: {}\n{}", run.stdout, run.stderr);
    assert_accounted(all);
    assert_eq!(all["ok"], 0, "{class}: {all}");
    let n = all["errors"][class].as_u64().unwrap_or(0);
    assert!(n > 0, "expected {class}: {all}");
    assert_eq!(n + all["cancelled"].as_u64().unwrap(), all["requests"].as_u64().unwrap(), "{class}: {all}");
}

#[test]
fn garbage_instead_of_http() {
    let addr = serve(|mut s| {
        read_request(&mut s);
        let _ = s.write_all(b"\x00\x01garbage that is not HTTP\r\n\r\n");
    });
    check(&addr, &[], "http_parse");
}

#[test]
fn content_length_longer_than_the_body() {
    let addr = serve(|mut s| {
        read_request(&mut s);
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"choices\":",
        );
    });
    check(&addr, &[], "eof");
}

#[test]
fn broken_chunk_size() {
    let addr = serve(|mut s| {
        read_request(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n");
        std::thread::sleep(Duration::from_secs(2));
    });
    check(&addr, &[], "http_parse");
}

#[test]
fn endless_header() {
    let addr = serve(|mut s| {
        read_request(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\n");
        let line = format!("x-filler: {}\r\n", "a".repeat(1000));
        for _ in 0..200 {
            if s.write_all(line.as_bytes()).is_err() {
                return;
            }
        }
    });
    check(&addr, &[], "http_parse");
}

#[test]
fn reset_mid_stream() {
    let addr = serve(|mut s| {
        read_request(&mut s);
        let body = chunk("data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n");
        let _ = s.write_all(format!("{SSE_HEAD}{body}").as_bytes());
        // SO_LINGER 0: close sends RST.
        let sock = socket2::SockRef::from(&s);
        let _ = sock.set_linger(Some(Duration::ZERO));
        drop(s);
    });
    check(&addr, &["--stream"], "conn_reset");
}

#[test]
fn server_that_never_answers() {
    let addr = serve(|mut s| {
        read_request(&mut s);
        std::thread::sleep(Duration::from_secs(3));
    });
    check(&addr, &["--first-byte-timeout", "200ms"], "timeout_first_byte");
}

#[test]
fn stream_that_stalls() {
    let addr = serve(|mut s| {
        read_request(&mut s);
        let body = chunk("data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n");
        let _ = s.write_all(format!("{SSE_HEAD}{body}").as_bytes());
        std::thread::sleep(Duration::from_secs(3));
    });
    check(&addr, &["--stream", "--idle-timeout", "200ms"], "timeout_idle");
}

#[test]
fn non_json_data_line_is_a_protocol_error() {
    let addr = serve(|mut s| loop {
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let body = format!("{}{}0\r\n\r\n", chunk("data: this is not json\n\n"), chunk("data: [DONE]\n\n"));
        if s.write_all(format!("{SSE_HEAD}{body}").as_bytes()).is_err() {
            return;
        }
    });
    check(&addr, &["--stream"], "protocol_error");
}

#[test]
fn empty_200_is_an_empty_completion() {
    let addr = serve(|mut s| loop {
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let body = r#"{"choices":[{"message":{"role":"assistant","content":""}}],"usage":{"prompt_tokens":3,"completion_tokens":0}}"#;
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if s.write_all(resp.as_bytes()).is_err() {
            return;
        }
    });
    check(&addr, &[], "empty_completion");
}

#[test]
fn refused_connections() {
    // Bind then drop to find a port nobody listens on.
    let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    check(&addr, &[], "conn_refused");
}
