//! A server that records every request it gets (time, head, body) and answers each with an
//! OpenAI chat completion, `ok then` (or `reply-N`, N counting requests from 1): for tests
//! that check the bytes llmload sends. A request whose body holds the text `fail me` gets a
//! 500 instead; `fail slowly` gets it after 300 ms. As a proxy (`Capture::proxy`) it forwards each request to an upstream (the
//! mock) instead and records the upstream's reply too, de-chunked.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One request as received.
#[derive(Clone, Debug)]
pub struct Captured {
    pub at: Instant,
    /// Which connection it came on (numbered in accept order).
    pub conn: usize,
    pub head: String,
    pub body: Vec<u8>,
    /// The reply body the upstream sent (proxy only; de-chunked), and its status.
    pub reply: Vec<u8>,
    pub status: u16,
}

impl Captured {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// The value of a header (name in lower case, as llmload sends it).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
    }

    /// The `data:` payloads of a streamed reply (`[DONE]` left out), or the whole JSON body.
    pub fn reply_json(&self) -> Vec<serde_json::Value> {
        let text = String::from_utf8_lossy(&self.reply);
        if text.trim_start().starts_with('{') {
            return vec![serde_json::from_str(&text).expect("a JSON reply")];
        }
        text.split("\n\n")
            .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).expect("event JSON"))
            .collect()
    }
}

/// What the server does with a request.
#[derive(Clone)]
enum Mode {
    /// Answers itself, `reply-N` when numbered.
    Reply { numbered: bool },
    /// Forwards to this address.
    Proxy(String),
    /// Answers every request with this JSON body.
    Body(Arc<String>),
}

/// The server; it runs until the test ends.
pub struct Capture {
    pub url: String,
    got: Arc<Mutex<Vec<Captured>>>,
}

const REPLY: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok then"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#;

impl Capture {
    /// Every reply says `ok then`.
    pub fn start() -> Capture {
        Capture::serving(false)
    }

    /// The N-th request's reply says `reply-N`.
    pub fn numbered() -> Capture {
        Capture::serving(true)
    }

    /// Forwards every request to `upstream` (HOST:PORT) and records both sides.
    pub fn proxy(upstream: &str) -> Capture {
        Capture::with(Mode::Proxy(upstream.to_string()))
    }

    /// Every reply is `body` (a JSON body, 200).
    pub fn replying(body: String) -> Capture {
        Capture::with(Mode::Body(Arc::new(body)))
    }

    fn serving(numbered: bool) -> Capture {
        Capture::with(Mode::Reply { numbered })
    }

    fn with(mode: Mode) -> Capture {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1/chat/completions", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            for (n, conn) in listener.incoming().enumerate() {
                let Ok(conn) = conn else { continue };
                let (g, mode) = (g.clone(), mode.clone());
                std::thread::spawn(move || serve(conn, n, &mode, &g));
            }
        });
        Capture { url, got }
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Captured> {
        let mut v = self.got.lock().unwrap().clone();
        v.sort_by_key(|c| c.at);
        v
    }
}

fn serve(conn: std::net::TcpStream, n: usize, mode: &Mode, got: &Mutex<Vec<Captured>>) {
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    let mut upstream = None;
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let at = Instant::now();
        let len = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
            })
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        if let Mode::Proxy(addr) = mode {
            if !forward(
                addr,
                &mut upstream,
                &head,
                &body,
                &mut w,
                got,
                Captured {
                    at,
                    conn: n,
                    head: head.clone(),
                    body: body.clone(),
                    reply: Vec::new(),
                    status: 0,
                },
            ) {
                return;
            }
            continue;
        }
        let numbered = matches!(mode, Mode::Reply { numbered: true });
        let count = {
            let mut got = got.lock().unwrap();
            got.push(Captured { at, conn: n, head, body, reply: Vec::new(), status: 0 });
            got.len()
        };
        let (failing, slowly) = {
            let body = &got.lock().unwrap()[count - 1].body;
            let slowly = body.windows(11).any(|w| w == b"fail slowly");
            (slowly || body.windows(7).any(|w| w == b"fail me"), slowly)
        };
        if slowly {
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        let text = if numbered { format!("reply-{count}") } else { "ok then".to_string() };
        let (status, body) = match failing {
            true => ("500 Internal Server Error", r#"{"error":{"message":"asked to fail"}}"#.to_string()),
            false => match mode {
                Mode::Body(b) => ("200 OK", b.to_string()),
                _ => ("200 OK", REPLY.replace("ok then", &text)),
            },
        };
        let reply = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if w.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// Sends one request upstream (on this client connection's own upstream connection) and the
/// reply back, de-chunked with a content-length; records both. False when either side failed.
fn forward(
    addr: &str,
    upstream: &mut Option<std::net::TcpStream>,
    head: &str,
    body: &[u8],
    w: &mut std::net::TcpStream,
    got: &Mutex<Vec<Captured>>,
    mut captured: Captured,
) -> bool {
    if upstream.is_none() {
        let Ok(s) = std::net::TcpStream::connect(addr) else { return false };
        s.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
        *upstream = Some(s);
    }
    let up = upstream.as_mut().unwrap();
    let mut request = head.as_bytes().to_vec();
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(body);
    if up.write_all(&request).is_err() {
        return false;
    }
    let r = super::read_response(up, Instant::now());
    let kind = r.header("content-type").unwrap_or("application/json").to_string();
    let reply = format!(
        "HTTP/1.1 {} X\r\ncontent-type: {kind}\r\ncontent-length: {}\r\n\r\n",
        r.status,
        r.body.len()
    );
    (captured.reply, captured.status) = (r.body.clone(), r.status);
    got.lock().unwrap().push(captured);
    w.write_all(reply.as_bytes()).is_ok() && w.write_all(&r.body).is_ok()
}
