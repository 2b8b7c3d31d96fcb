//! Rate limits as providers enforce them: per API key (or per model), at most `rpm` requests
//! and `tpm` tokens in each window; beyond either the request gets 429 in the provider's
//! shape with its headers (OpenAI `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`,
//! Anthropic `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`, both
//! `retry-after`). Also the per-key counts on `/metrics`, under the key's short id (the
//! first 8 hex digits of its SHA-256, as llmload's per-key figures), never the key.
//!
//! Syntax (`--rate-limit`, config `rate_limit`): `rpm=N,tpm=N[,window=60s][,per=key|model]
//! [,model=ID]`. Windows are fixed: a bucket's window starts with its first request and the
//! counts start over when it ends, so `retry-after` (whole seconds, rounded up) is the time
//! to that end. Tokens are charged when a generation is planned (prompt + output), so a
//! request is refused once its bucket's tokens reached `tpm`, as usage-based limits do.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::units::parse_duration;
use crate::wire::api_error::Family;

/// What a bucket is kept for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Per {
    Key,
    Model,
}

impl Per {
    fn label(self) -> &'static str {
        match self {
            Per::Key => "key",
            Per::Model => "model",
        }
    }
}

/// One `--rate-limit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RateRule {
    pub per: Per,
    /// Only this (served) model's requests; None: every model's.
    pub model: Option<String>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub window: Duration,
}

impl RateRule {
    /// Parses `rpm=N,tpm=N,window=D,per=key|model,model=ID`; the error names the item.
    pub(crate) fn parse(text: &str) -> Result<RateRule, String> {
        let mut r =
            RateRule { per: Per::Key, model: None, rpm: None, tpm: None, window: Duration::from_secs(60) };
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (k, v) = item.split_once('=').ok_or_else(|| format!("{item:?} is not key=value"))?;
            let (k, v) = (k.trim(), v.trim());
            let count = || match v.parse::<u64>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(format!("{k}: {v:?} is not a whole number from 1")),
            };
            match k {
                "rpm" => r.rpm = Some(count()?),
                "tpm" => r.tpm = Some(count()?),
                "window" => {
                    r.window = parse_duration(v)
                        .ok()
                        .filter(|d| *d >= Duration::from_millis(1) && *d <= Duration::from_secs(86_400))
                        .ok_or_else(|| format!("window: {v:?} is not a duration from 1ms to 24h"))?
                }
                "per" => {
                    r.per = match v {
                        "key" => Per::Key,
                        "model" => Per::Model,
                        _ => return Err(format!("per: {v:?} is not key or model")),
                    }
                }
                "model" if !v.is_empty() => r.model = Some(v.to_string()),
                other => return Err(format!("unknown item {other:?} (use rpm, tpm, window, per, model)")),
            }
        }
        if r.rpm.is_none() && r.tpm.is_none() {
            return Err(format!("{text:?}: set rpm or tpm (or both)"));
        }
        Ok(r)
    }
}

/// One bucket's window.
#[derive(Clone, Copy)]
struct Bucket {
    start: Instant,
    requests: u64,
    tokens: u64,
}

/// Which limit refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Over {
    Requests,
    Tokens,
}

/// A refusal: what the 429's body and headers say.
#[derive(Clone, Debug)]
pub(crate) struct Refusal {
    pub over: Over,
    pub rule: RateRule,
    pub requests: u64,
    pub tokens: u64,
    /// Until the window ends.
    pub reset: Duration,
}

/// Per-key counts for `/metrics`.
#[derive(Clone, Copy, Default)]
struct KeyCount {
    requests: u64,
    rate_limited: u64,
}

#[derive(Default)]
struct State {
    buckets: HashMap<(usize, String), Bucket>,
    keys: BTreeMap<String, KeyCount>,
    /// Refusals by (per, over).
    refused: BTreeMap<(&'static str, &'static str), u64>,
}

/// The limits of one mock (all cores share it: one lock per admitted request, and only when
/// limits or key counts are on).
pub(crate) struct Limiter {
    rules: Vec<RateRule>,
    count_keys: bool,
    state: Mutex<State>,
}

impl Limiter {
    /// None when there is nothing to limit or count.
    pub(crate) fn new(rules: &[RateRule], key_metrics: bool) -> Option<Limiter> {
        let count_keys = key_metrics || rules.iter().any(|r| r.per == Per::Key);
        (count_keys || !rules.is_empty()).then(|| Limiter {
            rules: rules.to_vec(),
            count_keys,
            state: Mutex::new(State::default()),
        })
    }

    /// Whether requests need their key's id.
    pub(crate) fn wants_keys(&self) -> bool {
        self.count_keys
    }

    fn who(rule: &RateRule, key: Option<&str>, model: &str) -> Option<String> {
        if rule.model.as_deref().is_some_and(|m| m != model) {
            return None;
        }
        Some(match rule.per {
            Per::Key => key.unwrap_or("").to_string(),
            Per::Model => model.to_string(),
        })
    }

    /// Admits one request of `key` (its id) for `model`, or says why not. An admitted
    /// request counts in every bucket it belongs to; a refused one in none.
    pub(crate) fn admit(&self, key: Option<&str>, model: &str, now: Instant) -> Result<(), Refusal> {
        let mut st = self.state.lock().expect("rate limiter");
        let mut refusal = None;
        for (i, rule) in self.rules.iter().enumerate() {
            let Some(who) = Self::who(rule, key, model) else { continue };
            let b = st.buckets.entry((i, who)).or_insert(Bucket { start: now, requests: 0, tokens: 0 });
            if now.duration_since(b.start) >= rule.window {
                *b = Bucket { start: now, requests: 0, tokens: 0 };
            }
            let over = if rule.rpm.is_some_and(|n| b.requests >= n) {
                Some(Over::Requests)
            } else if rule.tpm.is_some_and(|n| b.tokens >= n) {
                Some(Over::Tokens)
            } else {
                None
            };
            if let (Some(over), None) = (over, &refusal) {
                let reset = rule.window.saturating_sub(now.duration_since(b.start));
                refusal =
                    Some(Refusal { over, rule: rule.clone(), requests: b.requests, tokens: b.tokens, reset });
            }
        }
        if let Some(r) = &refusal {
            let over = if r.over == Over::Requests { "requests" } else { "tokens" };
            *st.refused.entry((r.rule.per.label(), over)).or_insert(0) += 1;
        } else {
            for (i, rule) in self.rules.iter().enumerate() {
                if let Some(who) = Self::who(rule, key, model) {
                    if let Some(b) = st.buckets.get_mut(&(i, who)) {
                        b.requests += 1;
                    }
                }
            }
        }
        if self.count_keys {
            let k = st.keys.entry(key.unwrap_or("none").to_string()).or_default();
            k.requests += 1;
            k.rate_limited += u64::from(refusal.is_some());
        }
        refusal.map_or(Ok(()), Err)
    }

    /// Charges a planned generation's tokens to its buckets.
    pub(crate) fn charge(&self, key: Option<&str>, model: &str, tokens: u64) {
        if !self.rules.iter().any(|r| r.tpm.is_some()) {
            return;
        }
        let mut st = self.state.lock().expect("rate limiter");
        for (i, rule) in self.rules.iter().enumerate() {
            if let Some(who) = Self::who(rule, key, model) {
                if let Some(b) = st.buckets.get_mut(&(i, who)) {
                    b.tokens = b.tokens.saturating_add(tokens);
                }
            }
        }
    }

    /// The `/metrics` lines: refusals, and per key its requests and refusals.
    pub(crate) fn render(&self, out: &mut String) {
        let st = self.state.lock().expect("rate limiter");
        out.push_str("# HELP llmload_mock_rate_limited_total Requests refused by --rate-limit, by bucket kind and limit.\n");
        out.push_str("# TYPE llmload_mock_rate_limited_total counter\n");
        for ((per, over), n) in &st.refused {
            let _ = writeln!(out, "llmload_mock_rate_limited_total{{per=\"{per}\",limit=\"{over}\"}} {n}");
        }
        if !self.count_keys {
            return;
        }
        out.push_str("# HELP llmload_mock_key_requests_total Generation requests by API key (first 8 hex digits of its SHA-256; none: no key).\n");
        out.push_str("# TYPE llmload_mock_key_requests_total counter\n");
        for (id, k) in &st.keys {
            let _ = writeln!(out, "llmload_mock_key_requests_total{{key=\"{id}\"}} {}", k.requests);
        }
        out.push_str(
            "# HELP llmload_mock_key_rate_limited_total Requests refused by --rate-limit, by API key.\n",
        );
        out.push_str("# TYPE llmload_mock_key_rate_limited_total counter\n");
        for (id, k) in &st.keys {
            let _ = writeln!(out, "llmload_mock_key_rate_limited_total{{key=\"{id}\"}} {}", k.rate_limited);
        }
    }
}

impl Refusal {
    /// `retry-after`: whole seconds to the window's end, rounded up (at least 1).
    pub(crate) fn retry_after_s(&self) -> u64 {
        let us = self.reset.as_micros() as u64;
        us.div_ceil(1_000_000).max(1)
    }

    /// The provider's message.
    pub(crate) fn message(&self) -> String {
        let (what, short, limit, used) = match self.over {
            Over::Requests => ("requests", "RPM", self.rule.rpm.unwrap_or(0), self.requests),
            Over::Tokens => ("tokens", "TPM", self.rule.tpm.unwrap_or(0), self.tokens),
        };
        format!(
            "Rate limit reached for {what} per window ({short}): Limit {limit}, Used {used}. Please try again in {}s.",
            self.retry_after_s()
        )
    }

    /// The response headers of the refusal in `family`'s names.
    pub(crate) fn headers(&self, family: Family) -> Vec<(&'static str, String)> {
        let mut h = vec![("retry-after", self.retry_after_s().to_string())];
        let limits = [("requests", self.rule.rpm, self.requests), ("tokens", self.rule.tpm, self.tokens)];
        for (what, limit, used) in limits {
            let Some(limit) = limit else { continue };
            let remaining = limit.saturating_sub(used).to_string();
            let limit = limit.to_string();
            match family {
                Family::OpenAi => {
                    let [l, r, s] = if what == "requests" {
                        [
                            "x-ratelimit-limit-requests",
                            "x-ratelimit-remaining-requests",
                            "x-ratelimit-reset-requests",
                        ]
                    } else {
                        [
                            "x-ratelimit-limit-tokens",
                            "x-ratelimit-remaining-tokens",
                            "x-ratelimit-reset-tokens",
                        ]
                    };
                    h.extend([(l, limit), (r, remaining), (s, go_duration(self.reset))]);
                }
                Family::Anthropic => {
                    let [l, r, s] = if what == "requests" {
                        [
                            "anthropic-ratelimit-requests-limit",
                            "anthropic-ratelimit-requests-remaining",
                            "anthropic-ratelimit-requests-reset",
                        ]
                    } else {
                        [
                            "anthropic-ratelimit-tokens-limit",
                            "anthropic-ratelimit-tokens-remaining",
                            "anthropic-ratelimit-tokens-reset",
                        ]
                    };
                    let at = SystemTime::now() + self.reset;
                    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros().div_ceil(1_000_000));
                    h.extend([(l, limit), (r, remaining), (s, crate::units::calendar::rfc3339(secs as i64))]);
                }
            }
        }
        h
    }
}

/// A reset as OpenAI writes it: `12ms`, `1.5s`, `6m0s`.
fn go_duration(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        let s = ms as f64 / 1000.0;
        format!("{}s", (s * 1000.0).round() / 1000.0)
    } else {
        format!("{}m{}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_errors_name_the_item() {
        let r = RateRule::parse("rpm=3, tpm=1000,window=2s,per=model,model=mock-gpt").unwrap();
        assert_eq!(
            (r.rpm, r.tpm, r.window, r.per),
            (Some(3), Some(1000), Duration::from_secs(2), Per::Model)
        );
        assert_eq!(r.model.as_deref(), Some("mock-gpt"));
        assert_eq!(RateRule::parse("rpm=0").unwrap_err(), "rpm: \"0\" is not a whole number from 1");
        assert!(RateRule::parse("window=1s").unwrap_err().contains("set rpm or tpm"));
        assert!(RateRule::parse("rpm=1,per=team").unwrap_err().starts_with("per:"));
        assert!(RateRule::parse("rpm=1,burst=2").unwrap_err().contains("\"burst\""));
        assert!(RateRule::parse("rpm").unwrap_err().contains("key=value"));
    }

    #[test]
    fn a_window_refuses_beyond_its_limits_and_starts_over() {
        let rule = RateRule::parse("rpm=2,tpm=100,window=1s").unwrap();
        let l = Limiter::new(&[rule], false).unwrap();
        let t0 = Instant::now();
        assert!(l.admit(Some("aaaa"), "m", t0).is_ok());
        assert!(l.admit(Some("aaaa"), "m", t0).is_ok());
        let r = l.admit(Some("aaaa"), "m", t0 + Duration::from_millis(300)).unwrap_err();
        assert_eq!((r.over, r.requests, r.retry_after_s()), (Over::Requests, 2, 1));
        assert!(l.admit(Some("bbbb"), "m", t0).is_ok(), "another key has its own window");
        l.charge(Some("bbbb"), "m", 100);
        assert_eq!(l.admit(Some("bbbb"), "m", t0).unwrap_err().over, Over::Tokens);
        assert!(l.admit(Some("aaaa"), "m", t0 + Duration::from_secs(1)).is_ok(), "a new window");
        let mut text = String::new();
        l.render(&mut text);
        assert!(text.contains("llmload_mock_key_requests_total{key=\"aaaa\"} 4"), "{text}");
        assert!(text.contains("llmload_mock_key_rate_limited_total{key=\"aaaa\"} 1"), "{text}");
        assert!(text.contains("llmload_mock_rate_limited_total{per=\"key\",limit=\"tokens\"} 1"), "{text}");
    }

    #[test]
    fn headers_follow_each_provider() {
        let rule = RateRule::parse("rpm=5").unwrap();
        let r = Refusal {
            over: Over::Requests,
            rule,
            requests: 5,
            tokens: 0,
            reset: Duration::from_millis(1500),
        };
        let oa = r.headers(Family::OpenAi);
        let get = |h: &[(&str, String)], k: &str| h.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        assert_eq!(get(&oa, "retry-after").as_deref(), Some("2"));
        assert_eq!(get(&oa, "x-ratelimit-limit-requests").as_deref(), Some("5"));
        assert_eq!(get(&oa, "x-ratelimit-remaining-requests").as_deref(), Some("0"));
        assert_eq!(get(&oa, "x-ratelimit-reset-requests").as_deref(), Some("1.5s"));
        assert!(get(&oa, "x-ratelimit-limit-tokens").is_none());
        let an = r.headers(Family::Anthropic);
        assert_eq!(get(&an, "anthropic-ratelimit-requests-limit").as_deref(), Some("5"));
        assert!(get(&an, "anthropic-ratelimit-requests-reset").unwrap().ends_with('Z'));
        assert_eq!(
            (go_duration(Duration::from_millis(12)), go_duration(Duration::from_secs(360))),
            ("12ms".into(), "6m0s".into())
        );
    }
}
