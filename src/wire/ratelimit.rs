//! What a response head says about rate limits: `retry-after` (delay-seconds or an HTTP-date),
//! OpenAI's `retry-after-ms`, and whether `x-ratelimit-*` / `anthropic-ratelimit-*` headers
//! came with it. Read only for non-200 heads, so a successful response pays nothing.
//!
//! ```
//! use llmload::wire::ratelimit::{retry_after, RetryAfter};
//!
//! assert_eq!(retry_after(b"2"), RetryAfter::Delay { ms: 2_000 });
//! assert_eq!(retry_after(b"0.25"), RetryAfter::Delay { ms: 250 });
//! assert_eq!(retry_after(b"Wed, 21 Oct 2015 07:28:00 GMT"), RetryAfter::Date { unix_s: 1_445_412_480 });
//! assert_eq!(retry_after(b"soon"), RetryAfter::Invalid);
//! ```

use super::head::trim;

/// A response's `retry-after`, as given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RetryAfter {
    /// No `retry-after` (or a 200 response, whose head is not read for it).
    #[default]
    Absent,
    /// A delay (`retry-after` in seconds, or `retry-after-ms`), saturating at `u64::MAX` ms.
    Delay { ms: u64 },
    /// An HTTP-date (IMF-fixdate), in seconds since the epoch: the delay is that minus now.
    Date { unix_s: i64 },
    /// Present but neither a number nor an HTTP-date.
    Invalid,
}

/// What the rate-limit headers of one head say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LimitFields {
    retry_after: RetryAfter,
    retry_after_ms: RetryAfter,
    /// An `x-ratelimit-*` or `anthropic-ratelimit-*` header was present.
    pub(crate) limit_headers: bool,
}

impl LimitFields {
    /// Notes a header of a non-200 head.
    pub(crate) fn note(&mut self, name: &str, value: &[u8]) {
        let lower =
            |prefix: &str| name.len() > prefix.len() && name[..prefix.len()].eq_ignore_ascii_case(prefix);
        if name.eq_ignore_ascii_case("retry-after") {
            self.retry_after = retry_after(value);
        } else if name.eq_ignore_ascii_case("retry-after-ms") {
            self.retry_after_ms = match seconds_ms(trim(value), 1) {
                Some(ms) => RetryAfter::Delay { ms },
                None => RetryAfter::Invalid,
            };
        } else if lower("x-ratelimit-") || lower("anthropic-ratelimit-") {
            self.limit_headers = true;
        }
    }

    /// The delay asked for: `retry-after-ms` when it is valid (OpenAI's SDKs prefer it), else
    /// `retry-after`.
    pub(crate) fn retry_after(&self) -> RetryAfter {
        match self.retry_after_ms {
            RetryAfter::Delay { .. } => self.retry_after_ms,
            _ if self.retry_after != RetryAfter::Absent => self.retry_after,
            other => other,
        }
    }
}

/// Parses a `retry-after` value: delay-seconds (a fraction is accepted, as some servers send
/// one) or an IMF-fixdate.
pub fn retry_after(value: &[u8]) -> RetryAfter {
    let v = trim(value);
    if let Some(ms) = seconds_ms(v, 1_000) {
        return RetryAfter::Delay { ms };
    }
    match std::str::from_utf8(v).ok().and_then(crate::units::calendar::parse_http_date) {
        Some(unix_s) => RetryAfter::Date { unix_s },
        None => RetryAfter::Invalid,
    }
}

/// The short id an API key is shown under (per-key figures, the mock's per-key counters):
/// the first 8 hex digits of its SHA-256. Enough to tell a pool's keys apart and to match
/// llmload's figures with the mock's; not enough to recover a key.
pub(crate) fn key_id(key: &[u8]) -> [u8; 8] {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key);
    let hex = b"0123456789abcdef";
    let mut id = [0u8; 8];
    for (i, b) in digest.iter().take(4).enumerate() {
        id[2 * i] = hex[usize::from(b >> 4)];
        id[2 * i + 1] = hex[usize::from(b & 15)];
    }
    id
}

/// `digits[.digits]` × `scale` in milliseconds (scale 1000 for seconds, 1 for ms), saturating;
/// None for anything else (signs, exponents, empty).
fn seconds_ms(v: &[u8], scale: u64) -> Option<u64> {
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, &b""[..]),
    };
    if int.is_empty() || !int.iter().chain(frac).all(u8::is_ascii_digit) {
        return None;
    }
    let whole = int.iter().fold(0u64, |acc, &b| acc.saturating_mul(10).saturating_add(u64::from(b - b'0')));
    // Three decimals are all a millisecond needs.
    let mut part = 0u64;
    let mut unit = scale;
    for &b in frac.iter().take(3) {
        unit /= 10;
        part += u64::from(b - b'0') * unit;
    }
    Some(whole.saturating_mul(scale).saturating_add(part))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_sha256_prefixes() {
        // sha256("abc") = ba7816bf…
        assert_eq!(&key_id(b"abc"), b"ba7816bf");
        assert_ne!(key_id(b"sk-1"), key_id(b"sk-2"));
    }

    #[test]
    fn delays_dates_and_garbage() {
        assert_eq!(retry_after(b" 0 "), RetryAfter::Delay { ms: 0 });
        assert_eq!(retry_after(b"1000000000"), RetryAfter::Delay { ms: 1_000_000_000_000 });
        assert_eq!(retry_after(b"99999999999999999999999"), RetryAfter::Delay { ms: u64::MAX });
        assert_eq!(retry_after(b"1.5"), RetryAfter::Delay { ms: 1_500 });
        for bad in
            [&b""[..], b"-1", b"1e3", b"NaN", b"inf", b".5", b"1.2.3", b"Wed, 32 Oct 2015 07:28:00 GMT"]
        {
            assert_eq!(retry_after(bad), RetryAfter::Invalid, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(retry_after(b"Thu, 01 Jan 1970 00:00:10 GMT"), RetryAfter::Date { unix_s: 10 });
    }

    #[test]
    fn milliseconds_win_over_seconds_and_limit_headers_are_seen() {
        let mut f = LimitFields::default();
        assert_eq!(f.retry_after(), RetryAfter::Absent);
        f.note("Retry-After", b"2");
        assert_eq!(f.retry_after(), RetryAfter::Delay { ms: 2_000 });
        f.note("retry-after-ms", b"125.5");
        assert_eq!(f.retry_after(), RetryAfter::Delay { ms: 125 });
        assert!(!f.limit_headers);
        f.note("X-RateLimit-Remaining-Requests", b"0");
        assert!(f.limit_headers);
        let mut a = LimitFields::default();
        a.note("anthropic-ratelimit-requests-reset", b"2026-01-01T00:00:00Z");
        a.note("retry-after-ms", b"soon");
        assert!(a.limit_headers);
        // An invalid retry-after-ms leaves a missing retry-after as the answer: invalid.
        assert_eq!(a.retry_after(), RetryAfter::Invalid);
        let mut b = LimitFields::default();
        b.note("x-ratelimit-", b"1");
        assert!(!b.limit_headers, "a prefix alone is not a rate-limit header");
    }
}
