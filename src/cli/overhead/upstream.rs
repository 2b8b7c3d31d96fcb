//! The upstream's own view of cancellation: the llmload mock's disconnect counters, read
//! from its `/metrics` with one plain HTTP/1.1 GET (the upstream of an overhead run is on a
//! local or private network; https upstreams are not read).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::report::overhead::Disconnects;

const DISCONNECTS: &str = "llmload_mock_client_disconnects_total";
const EVENTS: &str = "llmload_mock_disconnect_events_total";
const SECONDS: &str = "llmload_mock_disconnect_seconds_total";

/// `http://host:port` of `url` (path dropped), or why it cannot be read.
pub(super) fn origin(url: &str) -> Result<String, String> {
    let rest =
        url.strip_prefix("http://").ok_or_else(|| format!("{url}: only http:// upstreams are read"))?;
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() {
        return Err(format!("{url}: no host"));
    }
    Ok(format!("http://{authority}"))
}

/// The body of `GET origin/metrics`.
fn get_metrics(origin: &str) -> Result<String, String> {
    let authority = origin.trim_start_matches("http://");
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| format!("{authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority}: no address"))?;
    let timeout = Duration::from_secs(5);
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("{origin}/metrics: {e}"))?;
    s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    write!(s, "GET /metrics HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("{origin}/metrics: {e}"))?;
    let mut r = BufReader::new(s);
    let mut status = String::new();
    r.read_line(&mut status).map_err(|e| format!("{origin}/metrics: {e}"))?;
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("{origin}/metrics: {}", status.trim()));
    }
    let mut len = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).map_err(|e| e.to_string())? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse::<usize>().ok();
            }
        }
    }
    let mut body = Vec::new();
    match len {
        Some(n) => {
            body.resize(n, 0);
            r.read_exact(&mut body).map_err(|e| format!("{origin}/metrics: {e}"))?;
        }
        None => {
            r.read_to_end(&mut body).map_err(|e| format!("{origin}/metrics: {e}"))?;
        }
    }
    String::from_utf8(body).map_err(|_| format!("{origin}/metrics: not UTF-8"))
}

/// The value of the unlabelled sample `name` in Prometheus text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok()).flatten()
    })
}

/// The mock's disconnect counters now; an error when the upstream cannot be read or is not
/// an llmload mock.
pub(super) fn disconnects(origin: &str) -> Result<Disconnects, String> {
    let text = get_metrics(origin)?;
    let get = |name: &str| {
        sample(&text, name).ok_or_else(|| format!("{origin}/metrics has no {name} (not an llmload mock)"))
    };
    Ok(Disconnects { disconnects: get(DISCONNECTS)?, events: get(EVENTS)?, seconds: get(SECONDS)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_samples() {
        assert_eq!(origin("http://127.0.0.1:9/v1/chat").unwrap(), "http://127.0.0.1:9");
        assert!(origin("https://h/v1").unwrap_err().contains("only http://"));
        let text =
            "# HELP x\nllmload_mock_client_disconnects_total 3\nllmload_mock_client_disconnects_total_x 9\n";
        assert_eq!(sample(text, DISCONNECTS), Some(3.0));
        assert_eq!(sample(text, EVENTS), None);
    }
}
