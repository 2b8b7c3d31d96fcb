//! Scraping a server's own metrics (`--scrape NAME=URL`): a blocking HTTP/1.1 GET on a
//! plain thread, read with the wire module's head parser and body decoder, at every stage
//! boundary and every `--scrape-interval` between. A scrape that fails is counted and its
//! reason kept; it never fails the run.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::exposition;
use super::series::{ServerFigures, Tracker};
use crate::http::target::{Scheme, Target};
use crate::wire::body::BodyDecoder;
use crate::wire::response::{parse_response, Parsed};

/// The longest a scrape may take, connect to last byte (a boundary waits for it).
pub(crate) const TIMEOUT: Duration = Duration::from_secs(2);
/// The largest exposition read.
const MAX_BODY: usize = 32 << 20;

/// A scrape target, resolved.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    pub url: String,
    target: Target,
    path: String,
}

impl Endpoint {
    /// Parses and resolves `url` (`http://host:port/path`; the path defaults to /metrics).
    pub(crate) fn new(url: &str) -> Result<Endpoint, String> {
        let mut target = Target::parse(url)?;
        if target.scheme == Scheme::Https {
            return Err(format!("{url:?}: https is not supported for scraping; use http://"));
        }
        target.resolve()?;
        let path =
            if target.base_path.is_empty() { "/metrics".to_string() } else { target.base_path.clone() };
        Ok(Endpoint { url: url.to_string(), target, path })
    }

    /// One GET: the body as text, or why not.
    pub(crate) fn get(&self, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let addr = self.target.addrs[0];
        let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect {addr}: {e}"))?;
        let _ = s.set_nodelay(true);
        s.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
        let request = format!(
            "GET {} HTTP/1.1\r\nhost: {}\r\naccept: text/plain;version=0.0.4\r\nuser-agent: llmload/{}\r\n\
             connection: close\r\n\r\n",
            self.path,
            self.target.host_header(),
            env!("CARGO_PKG_VERSION")
        );
        s.write_all(request.as_bytes()).map_err(|e| format!("send: {e}"))?;
        let mut buf = Vec::with_capacity(16 << 10);
        let mut body = Vec::new();
        let mut decoder: Option<BodyDecoder> = None;
        let mut chunk = [0u8; 16 << 10];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("no whole response within {}s", timeout.as_secs_f64()));
            }
            s.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
            let n = match s.read(&mut chunk) {
                Ok(n) => n,
                Err(e)
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                {
                    return Err(format!("no whole response within {}s", timeout.as_secs_f64()))
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("read: {e}")),
            };
            if n == 0 {
                return match decoder.as_mut().map(BodyDecoder::eof) {
                    Some(true) => Ok(String::from_utf8_lossy(&body).into_owned()),
                    Some(false) => Err("the body was cut short".into()),
                    None => Err("closed before a response head".into()),
                };
            }
            // Until the head is whole, bytes gather in `buf`; then the body decoder takes them.
            let head_rest = if decoder.is_none() {
                buf.extend_from_slice(&chunk[..n]);
                match parse_response(&buf).map_err(|e| format!("bad response head: {e:?}"))? {
                    Parsed::Partial { .. } => continue,
                    Parsed::Complete(head) => {
                        if head.status != 200 {
                            return Err(format!("HTTP {}", head.status));
                        }
                        decoder = Some(BodyDecoder::new(head.framing));
                        buf.drain(..head.len);
                        Some(std::mem::take(&mut buf))
                    }
                }
            } else {
                None
            };
            let input: &[u8] = head_rest.as_deref().unwrap_or(&chunk[..n]);
            let d = decoder.as_mut().expect("set above");
            let (_, done) = d.decode_into(input, &mut body).map_err(|e| format!("bad body: {e:?}"))?;
            if body.len() > MAX_BODY {
                return Err(format!("the exposition is larger than {} MiB", MAX_BODY >> 20));
            }
            if done {
                return Ok(String::from_utf8_lossy(&body).into_owned());
            }
        }
    }
}

/// One target: its endpoint, its series and the stages done. Locked while a scrape of it
/// runs, so the interval thread and a boundary never read it out of order.
struct Scraped {
    name: String,
    endpoint: Endpoint,
    tracker: Tracker,
    /// A stage is open (between boundaries).
    open: bool,
    done: Vec<ServerFigures>,
}

impl Scraped {
    fn scrape(&mut self) {
        match self.endpoint.get(TIMEOUT) {
            Ok(text) => {
                let e = exposition::parse(&text);
                // Not an exposition at all (an HTML page, a JSON error): a failure, not a
                // server with no metrics.
                match (&e.first_bad, e.samples.is_empty()) {
                    (Some(line), true) => self.tracker.failed(format!(
                        "not Prometheus text ({} unreadable lines; first: {line})",
                        e.bad_lines
                    )),
                    _ => self.tracker.scraped(&e),
                }
            }
            Err(e) => self.tracker.failed(e),
        }
    }

    fn boundary(&mut self, last: bool) {
        self.scrape();
        let figures = self.tracker.close(&self.endpoint.url);
        if self.open {
            self.done.push(figures);
        }
        self.open = !last;
    }
}

/// The interval thread and every target.
pub(crate) struct Scraper {
    targets: Arc<Vec<Mutex<Scraped>>>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Scraper {
    /// Starts scraping `endpoints` (name, endpoint) every `every` (boundaries besides).
    pub(crate) fn start(endpoints: Vec<(String, Endpoint)>, every: Duration) -> std::io::Result<Scraper> {
        let targets: Arc<Vec<Mutex<Scraped>>> = Arc::new(
            endpoints
                .into_iter()
                .map(|(name, endpoint)| {
                    Mutex::new(Scraped {
                        name,
                        endpoint,
                        tracker: Tracker::default(),
                        open: false,
                        done: Vec::new(),
                    })
                })
                .collect(),
        );
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let (t, s) = (targets.clone(), stop.clone());
        let thread = std::thread::Builder::new().name("llmload-scrape".into()).spawn(move || {
            let (lock, wake) = &*s;
            let mut next = Instant::now() + every;
            loop {
                {
                    let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
                    while !*stopped && Instant::now() < next {
                        let left = next.saturating_duration_since(Instant::now());
                        stopped = wake.wait_timeout(stopped, left).unwrap_or_else(|e| e.into_inner()).0;
                    }
                    if *stopped {
                        return;
                    }
                }
                for target in t.iter() {
                    let mut target = target.lock().unwrap_or_else(|e| e.into_inner());
                    // Between the run's boundaries only: before the first, the first boundary
                    // is the baseline.
                    if target.open {
                        target.scrape();
                    }
                }
                next = (next + every).max(Instant::now());
            }
        })?;
        Ok(Scraper { targets, stop, thread: Some(thread) })
    }

    /// A stage boundary: every target scraped now; the stage before (if any) ends with this
    /// scrape and, unless `last`, the next begins with it.
    pub(crate) fn boundary(&self, last: bool) {
        for target in self.targets.iter() {
            target.lock().unwrap_or_else(|e| e.into_inner()).boundary(last);
        }
    }

    /// Stops the thread; per stage, each target's figures by name.
    pub(crate) fn finish(mut self) -> Vec<std::collections::BTreeMap<String, ServerFigures>> {
        *self.stop.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.stop.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let mut out: Vec<std::collections::BTreeMap<String, ServerFigures>> = Vec::new();
        for target in self.targets.iter() {
            let mut target = target.lock().unwrap_or_else(|e| e.into_inner());
            let name = target.name.clone();
            for (i, f) in std::mem::take(&mut target.done).into_iter().enumerate() {
                if out.len() <= i {
                    out.resize_with(i + 1, Default::default);
                }
                out[i].insert(name.clone(), f);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A server answering each connection with `reply` (then closing), in a thread.
    fn serve(replies: Vec<Vec<u8>>) -> (String, JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let h = std::thread::spawn(move || {
            for reply in replies {
                let (mut c, _) = l.accept().unwrap();
                let mut req = [0u8; 4096];
                let _ = c.read(&mut req);
                assert!(req.starts_with(b"GET /m HTTP/1.1\r\n"), "{:?}", String::from_utf8_lossy(&req));
                let _ = c.write_all(&reply);
            }
        });
        (format!("http://{addr}/m"), h)
    }

    #[test]
    fn gets_length_chunked_and_until_close_bodies() {
        let (url, h) = serve(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\na 1\n".to_vec(),
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\na \r\n2\r\n2\n\r\n0\r\n\r\n".to_vec(),
            b"HTTP/1.0 200 OK\r\n\r\na 3\n".to_vec(),
            b"HTTP/1.1 503 Busy\r\ncontent-length: 0\r\n\r\n".to_vec(),
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort".to_vec(),
        ]);
        let ep = Endpoint::new(&url).unwrap();
        assert_eq!(ep.get(TIMEOUT).unwrap(), "a 1\n");
        assert_eq!(ep.get(TIMEOUT).unwrap(), "a 2\n");
        assert_eq!(ep.get(TIMEOUT).unwrap(), "a 3\n");
        assert_eq!(ep.get(TIMEOUT).unwrap_err(), "HTTP 503");
        assert_eq!(ep.get(TIMEOUT).unwrap_err(), "the body was cut short");
        h.join().unwrap();
    }

    #[test]
    fn a_refused_or_silent_target_fails_in_time() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let silent = Endpoint::new(&format!("http://{}/m", l.local_addr().unwrap())).unwrap();
        let t0 = Instant::now();
        let e = silent.get(Duration::from_millis(200)).unwrap_err();
        assert!(e.contains("within"), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(5));
        let port = l.local_addr().unwrap().port();
        drop(l);
        let refused = Endpoint::new(&format!("http://127.0.0.1:{port}")).unwrap();
        assert_eq!(refused.path, "/metrics");
        assert!(refused.get(TIMEOUT).unwrap_err().starts_with("connect "));
        assert!(Endpoint::new("https://127.0.0.1/metrics").unwrap_err().contains("https"));
        assert!(Endpoint::new("ftp://x").is_err());
    }
}
