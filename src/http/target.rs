//! Targets: `http://host:port/base` parsed and resolved once at start.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

/// `http` or `https`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    Http,
    Https,
}

/// A parsed, resolved target.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub scheme: Scheme,
    /// Host as written (for `Host:` and TLS SNI).
    pub host: String,
    pub port: u16,
    /// Path prefix without a trailing slash (`/v1` in `http://h/v1`), may be empty.
    pub base_path: String,
    /// Resolved addresses (the first is used; the others on reconnect).
    pub addrs: Vec<SocketAddr>,
    /// How long resolution took.
    pub dns_time: Duration,
}

impl Target {
    /// Parses `url`; does not resolve.
    pub(crate) fn parse(url: &str) -> Result<Target, String> {
        let (scheme, rest) = if let Some(r) = url.strip_prefix("http://") {
            (Scheme::Http, r)
        } else if let Some(r) = url.strip_prefix("https://") {
            (Scheme::Https, r)
        } else {
            return Err(format!("target {url:?}: must start with http:// or https://"));
        };
        let (authority, path) = rest.find('/').map_or((rest, ""), |i| (&rest[..i], &rest[i..]));
        if authority.is_empty() {
            return Err(format!("target {url:?}: no host"));
        }
        if authority.contains('@') {
            return Err(format!(
                "target {url:?}: credentials in the URL are not supported; use --vk or --header"
            ));
        }
        let default_port = if scheme == Scheme::Https { 443 } else { 80 };
        let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
            let (h, after) =
                inner.split_once(']').ok_or_else(|| format!("target {url:?}: unclosed [ in host"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => parse_port(url, p)?,
                None if after.is_empty() => default_port,
                None => return Err(format!("target {url:?}: unexpected {after:?} after the IPv6 host")),
            };
            (h.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), parse_port(url, p)?),
                None => (authority.to_string(), default_port),
            }
        };
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/' || c == '?' || c == '#') {
            return Err(format!("target {url:?}: {host:?} is not a host name"));
        }
        let path = path.split(['?', '#']).next().unwrap_or("");
        Ok(Target {
            scheme,
            host,
            port,
            base_path: path.trim_end_matches('/').to_string(),
            addrs: Vec::new(),
            dns_time: Duration::ZERO,
        })
    }

    /// Resolves the host once; the error is the resolver's message.
    pub(crate) fn resolve(&mut self) -> Result<(), String> {
        let started = Instant::now();
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| format!("target host {:?}: {e}", self.host))?
            .collect();
        self.dns_time = started.elapsed();
        if addrs.is_empty() {
            return Err(format!("target host {:?}: no addresses", self.host));
        }
        self.addrs = addrs;
        Ok(())
    }

    /// The `Host:` header value.
    pub(crate) fn host_header(&self) -> String {
        let default = matches!((self.scheme, self.port), (Scheme::Http, 80) | (Scheme::Https, 443));
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        if default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

fn parse_port(url: &str, p: &str) -> Result<u16, String> {
    p.parse::<u16>()
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| format!("target {url:?}: port {p:?} is not 1-65535"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let t = Target::parse("http://127.0.0.1:8080/v1/").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.base_path.as_str()), ("127.0.0.1", 8080, "/v1"));
        assert_eq!(t.host_header(), "127.0.0.1:8080");
        let t = Target::parse("https://gw.example").unwrap();
        assert_eq!((t.port, t.base_path.as_str(), t.host_header()), (443, "", "gw.example".to_string()));
        let t = Target::parse("http://[::1]:9000/openai").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 9000));
        assert_eq!(t.host_header(), "[::1]:9000");
    }

    #[test]
    fn rejects_bad_urls_naming_them() {
        for bad in ["ftp://x", "http://", "http://h:0", "http://h:99999", "http://u:p@h", "127.0.0.1:80"] {
            let e = Target::parse(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn resolves_localhost() {
        let mut t = Target::parse("http://localhost:1").unwrap();
        t.resolve().unwrap();
    }
}
