//! `exchange` over a real loopback connection to a scripted server (a std thread that reads
//! each request and writes the bytes it was given, piece by piece, then closes): interim
//! responses, close-delimited bodies, a reused connection the server had closed, token
//! settling and empty completions. Assertions are on counts and classes, never on time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream as StdStream};
use std::thread::JoinHandle;

use monoio::net::TcpStream;

use super::*;
use crate::http::cancel::CancelAfter;
use crate::http::conn::connect;
use crate::metrics::outcome::TokenSource;
use crate::net::cores::block_on;
use crate::protocol::openai_chat::OpenAiChat;

/// One reply: the pieces written, each with its own write. No pieces: close without a byte.
type Reply = Vec<Vec<u8>>;

/// Serves one connection per entry of `script`, in order: for each reply, reads one request
/// and writes the reply; after the last reply, closes.
fn serve(script: Vec<Vec<Reply>>) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        for replies in script {
            let (mut s, _) = listener.accept().unwrap();
            s.set_nodelay(true).unwrap();
            let mut buf = Vec::new();
            for reply in replies {
                if !read_request(&mut s, &mut buf) {
                    return;
                }
                for piece in reply {
                    if s.write_all(&piece).is_err() {
                        return;
                    }
                }
            }
        }
    });
    (addr, thread)
}

/// Reads one request (head and content-length body) out of `s`, keeping what follows in `buf`.
fn read_request(s: &mut StdStream, buf: &mut Vec<u8>) -> bool {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            if buf.len() >= end + 4 + len {
                buf.drain(..end + 4 + len);
                return true;
            }
        }
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// What one exchange gave.
struct Sent {
    out: Outcome,
    reusable: bool,
    stale: bool,
    gaps: usize,
    err_body: Option<Vec<u8>>,
}

struct Client {
    conn: Conn<TcpStream>,
    decoder: OpenAiChat,
    state: ResponseState,
    cancel: Option<CancelAfter>,
}

const REQUEST: &[u8] = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}";

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let c = connect::<TcpStream>(addr, None, Duration::from_secs(5), None).await.expect("connect");
        Client { conn: c.conn, decoder: OpenAiChat::default(), state: ResponseState::new(true), cancel: None }
    }

    async fn send(&mut self) -> Sent {
        // Generous bounds: a hang fails the test instead of stalling it; nothing here waits.
        let t = Duration::from_secs(10);
        let timeouts = Timeouts { connect: t, first_byte: t, idle: t, total: t };
        let mut out = Outcome::new(Instant::now());
        let cancel_at = Instant::now() + Duration::from_secs(60);
        let ex = exchange(
            &mut self.conn,
            REQUEST.to_vec(),
            &mut self.decoder,
            &mut self.state,
            &mut out,
            &timeouts,
            cancel_at,
            self.cancel,
        )
        .await;
        assert_eq!(ex.request, REQUEST, "the request buffer comes back");
        let (gaps, err_body) = (self.state.gaps.len(), self.state.err_body.take());
        Sent { out, reusable: ex.reusable, stale: ex.stale, gaps, err_body }
    }
}

/// Runs `f` on a monoio runtime like the engine's, then joins the scripted server.
fn run<F: std::future::Future>(server: JoinHandle<()>, f: F) -> F::Output {
    let (_, r) = block_on(|_| f).expect("runtime");
    server.join().expect("scripted server");
    r
}

fn json_reply(content: &str, usage: Option<(u64, u64)>) -> Vec<u8> {
    let usage = usage.map_or(String::new(), |(p, c)| {
        format!(r#","usage":{{"prompt_tokens":{p},"completion_tokens":{c},"total_tokens":{}}}"#, p + c)
    });
    format!(r#"{{"choices":[{{"index":0,"message":{{"role":"assistant","content":"{content}"}}}}]{usage}}}"#)
        .into_bytes()
}

fn with_length(status: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn event(data: &str) -> String {
    format!("data: {data}\n\n")
}

fn delta(text: &str) -> String {
    event(&format!(r#"{{"choices":[{{"index":0,"delta":{{"content":"{text}"}}}}]}}"#))
}

fn chunk(data: &str) -> Vec<u8> {
    format!("{:x}\r\n{data}\r\n", data.len()).into_bytes()
}

const SSE_CHUNKED: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";

#[test]
fn interim_responses_before_the_real_one() {
    let body = json_reply("hello", Some((3, 2)));
    let replies = vec![
        // Interim heads in their own writes, then the response.
        vec![
            b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(),
            b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>\r\n\r\n".to_vec(),
            with_length("200 OK", &body),
        ],
        // All in one write: the bytes after the interim head are the response's.
        vec![[b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(), with_length("200 OK", &body)].concat()],
    ];
    let (addr, server) = serve(vec![replies]);
    let (a, b) = run(server, async move {
        let mut c = Client::connect(addr).await;
        (c.send().await, c.send().await)
    });
    for s in [a, b] {
        assert_eq!((s.out.status, s.out.error, s.reusable), (200, None, true));
        assert_eq!((s.out.prompt_tokens, s.out.completion_tokens), (3, 2));
        assert_eq!(
            (s.out.token_source, s.out.content_events, s.out.content_chars),
            (TokenSource::Usage, 1, 5)
        );
        assert!(s.out.first_byte.is_some());
    }
}

#[test]
fn a_body_delimited_by_the_close() {
    let json = [
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n".to_vec(),
        json_reply("hi", Some((1, 1))),
    ];
    let sse = [
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n".to_vec(),
        delta("a").into_bytes(),
        [delta("b"), event("[DONE]")].concat().into_bytes(),
    ];
    let cut =
        [b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n".to_vec(), delta("a").into_bytes()];
    let (addr, server) = serve(vec![vec![json.to_vec()], vec![sse.to_vec()], vec![cut.to_vec()]]);
    let (json, sse, cut) = run(server, async move {
        let json = Client::connect(addr).await.send().await;
        let sse = Client::connect(addr).await.send().await;
        let cut = Client::connect(addr).await.send().await;
        (json, sse, cut)
    });
    assert_eq!((json.out.status, json.out.error, json.reusable), (200, None, false));
    assert_eq!(json.out.completion_tokens, 1);
    assert_eq!((sse.out.error, sse.reusable, sse.out.content_events, sse.gaps), (None, false, 2, 1));
    assert_eq!((sse.out.token_source, sse.out.completion_tokens), (TokenSource::Counted, 2));
    // A stream closed before its end marker ended badly, though its framing ended well.
    assert_eq!((cut.out.error, cut.out.content_events), (Some(ErrorKind::ProtocolError), 1));
}

#[test]
fn a_reused_connection_the_server_closed_is_stale() {
    let ok = with_length("200 OK", &json_reply("hi", None));
    let (addr, server) = serve(vec![
        // Serves one request, then closes while the client holds the connection.
        vec![vec![ok.clone()]],
        // A fresh connection closed without a byte: a real failure, not stale.
        vec![vec![]],
        // A reused connection that fails after response bytes arrived: not stale either.
        vec![vec![ok.clone()], vec![b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n{".to_vec()]],
    ]);
    let (first, retry, fresh, partial) = run(server, async move {
        let mut c = Client::connect(addr).await;
        let first = c.send().await;
        let retry = c.send().await;
        let fresh = Client::connect(addr).await.send().await;
        let mut c = Client::connect(addr).await;
        c.send().await;
        let partial = c.send().await;
        (first, retry, fresh, partial)
    });
    assert_eq!((first.out.error, first.reusable, first.stale), (None, true, false));
    assert!(retry.stale && !retry.reusable, "a reused connection closed while idle is stale");
    assert!(matches!(retry.out.error, Some(ErrorKind::Eof | ErrorKind::ConnReset)), "{:?}", retry.out.error);
    assert_eq!(retry.out.first_byte, None);
    assert_eq!((fresh.out.error, fresh.stale), (Some(ErrorKind::Eof), false));
    assert_eq!((partial.out.error, partial.stale, partial.reusable), (Some(ErrorKind::Eof), false, false));
}

#[test]
fn tokens_come_from_usage_else_from_counted_events() {
    let usage = event(r#"{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}"#);
    let with_usage = [delta("a"), delta("b"), delta("c"), usage, event("[DONE]")];
    let counted = [delta("a"), delta("b"), delta("c"), event("[DONE]")];
    let stream = |events: &[String]| {
        let mut r = vec![SSE_CHUNKED.to_vec()];
        r.extend(events.iter().map(|e| chunk(e)));
        r.push(b"0\r\n\r\n".to_vec());
        r
    };
    let (addr, server) = serve(vec![vec![stream(&with_usage), stream(&counted)]]);
    let (usage, counted) = run(server, async move {
        let mut c = Client::connect(addr).await;
        (c.send().await, c.send().await)
    });
    assert_eq!((usage.out.error, usage.reusable, usage.out.content_events, usage.gaps), (None, true, 3, 2));
    assert_eq!(
        (usage.out.token_source, usage.out.prompt_tokens, usage.out.completion_tokens),
        (TokenSource::Usage, 7, 2)
    );
    assert!(usage.out.token_mismatch, "usage below the counted events is flagged");
    assert!(usage.out.first_token.is_some() && usage.out.last_token.is_some());
    assert_eq!((counted.out.token_source, counted.out.completion_tokens), (TokenSource::Counted, 3));
    assert!(!counted.out.token_mismatch);
}

#[test]
fn empty_completions_and_failed_responses() {
    let empty_json = with_length("200 OK", &json_reply("", Some((3, 0))));
    let role_only = event(r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#);
    let empty_stream =
        vec![SSE_CHUNKED.to_vec(), chunk(&role_only), chunk(&event("[DONE]")), b"0\r\n\r\n".to_vec()];
    let limited = with_length("429 Too Many Requests", br#"{"error":{"message":"slow down"}}"#);
    let garbage = vec![b"\x00\x01garbage that is not HTTP\r\n\r\n".to_vec()];
    let (addr, server) = serve(vec![vec![vec![empty_json], empty_stream, vec![limited]], vec![garbage]]);
    let (json, stream, limited, garbage) = run(server, async move {
        let mut c = Client::connect(addr).await;
        let r = (c.send().await, c.send().await, c.send().await);
        (r.0, r.1, r.2, Client::connect(addr).await.send().await)
    });
    assert_eq!((json.out.error, json.reusable), (Some(ErrorKind::EmptyCompletion), true));
    assert_eq!((json.out.completion_tokens, json.out.token_source), (0, TokenSource::Usage));
    assert_eq!((stream.out.error, stream.out.content_events), (Some(ErrorKind::EmptyCompletion), 0));
    // A non-200 is classified by its status elsewhere; its body is kept when capturing.
    assert_eq!((limited.out.status, limited.out.error, limited.reusable), (429, None, true));
    assert_eq!(limited.err_body.as_deref(), Some(&br#"{"error":{"message":"slow down"}}"#[..]));
    assert_eq!((garbage.out.error, garbage.reusable), (Some(ErrorKind::HttpParse), false));
}

/// A scenario's `cancel`: abandoned after N events, after a time, at the first byte of a
/// whole body; never a refusal. The server keeps the connection open (it waits for another
/// request), so only the client's cancel ends these exchanges.
#[test]
fn client_cancel_abandons_at_its_point_and_never_a_refusal() {
    let events = [SSE_CHUNKED.to_vec(), chunk(&delta("a")), chunk(&delta("b")), chunk(&delta("c"))].concat();
    let head_and_one = [SSE_CHUNKED.to_vec(), chunk(&delta("a"))].concat();
    let whole = with_length("200 OK", &json_reply("hello", Some((3, 2))));
    let refused = with_length("429 Too Many Requests", b"{}");
    let keep_open = |r: Vec<u8>| vec![vec![r], vec![]];
    let cases = [
        (events, CancelAfter::Events(2)),
        (head_and_one, CancelAfter::Elapsed(Duration::from_millis(50))),
        (whole, CancelAfter::Events(1)),
    ];
    for (reply, after) in cases {
        let (addr, server) = serve(vec![keep_open(reply)]);
        let s = run(server, async move {
            let mut c = Client::connect(addr).await;
            c.cancel = Some(after);
            c.send().await
        });
        assert_eq!((s.out.status, s.out.error, s.reusable), (200, Some(ErrorKind::CancelledByClient), false));
        match after {
            CancelAfter::Events(1) => assert_eq!(s.out.content_events, 0, "a whole body is abandoned unread"),
            CancelAfter::Events(n) => assert!(s.out.content_events >= u64::from(n)),
            CancelAfter::Elapsed(d) => {
                assert_eq!(s.out.content_events, 1);
                assert!(s.out.end - s.out.sent >= d, "not before its time");
            }
        }
    }
    let (addr, server) = serve(vec![vec![vec![refused]]]);
    let s = run(server, async move {
        let mut c = Client::connect(addr).await;
        c.cancel = Some(CancelAfter::Events(1));
        c.send().await
    });
    assert_eq!((s.out.status, s.out.error), (429, None), "a refusal is counted as it is");
}
