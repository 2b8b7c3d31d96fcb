//! A server that records every request it gets (time, head, body) and answers each with an
//! OpenAI chat completion, `ok then` (or `reply-N`, N counting requests from 1): for tests
//! that check the bytes llmload sends. A request whose body holds the text `fail me` gets a
//! 500 instead.

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
}

impl Captured {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// The value of a header (name in lower case, as llmload sends it).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
    }
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

    fn serving(numbered: bool) -> Capture {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1/chat/completions", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            for (n, conn) in listener.incoming().enumerate() {
                let Ok(conn) = conn else { continue };
                let g = g.clone();
                std::thread::spawn(move || serve(conn, n, numbered, &g));
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

fn serve(conn: std::net::TcpStream, n: usize, numbered: bool, got: &Mutex<Vec<Captured>>) {
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
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
        let count = {
            let mut got = got.lock().unwrap();
            got.push(Captured { at, conn: n, head, body });
            got.len()
        };
        let failing = got.lock().unwrap()[count - 1].body.windows(7).any(|w| w == b"fail me");
        let text = if numbered { format!("reply-{count}") } else { "ok then".to_string() };
        let (status, body) = match failing {
            true => ("500 Internal Server Error", r#"{"error":{"message":"asked to fail"}}"#.to_string()),
            false => ("200 OK", REPLY.replace("ok then", &text)),
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
