//! The retry policy: `retry` in the profile (profile-wide, or a scenario's own) and the
//! `--retry`, `--retry-on` and `--retry-max-wait` flags over it. Off unless asked for: a
//! load test measures what the server answered, and a retrying client is a choice.

use std::time::Duration;

use super::limits::{self, Span};
use super::schema::RawRetry;
use crate::units::parse_duration;

/// Most retries of one request.
pub(crate) const MAX_RETRIES: u64 = 100;
/// The statuses retried by default: rate limited, unavailable, Anthropic's overloaded.
pub(crate) const DEFAULT_ON: [u16; 3] = [429, 503, 529];
const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(60);
const DEFAULT_BACKOFF: Duration = Duration::from_millis(500);
const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(8);
/// Waits and backoffs: at least 1 ms (the engine's timers), at most a day.
const WAIT: Span = Span { min: Duration::from_millis(1), max: limits::MAX_PAUSE };

/// Which responses a request is sent again for, how often, and how long it waits first.
/// Latency still counts from the first attempt's intended start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Attempts after the first (at least 1: a policy of 0 is none).
    pub max_retries: u32,
    /// HTTP statuses retried.
    pub on: Vec<u16>,
    /// Wait what `retry-after` asks (capped at `max_wait`); without one (or when false),
    /// back off.
    pub retry_after: bool,
    pub max_wait: Duration,
    /// Backoff before retry n (from 1): `backoff · 2^(n-1)`, at most `max_backoff`, less a
    /// random 0–25 % (the OpenAI SDKs' rule).
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// The policy with every default and `max_retries` retries.
    pub(crate) fn with_retries(max_retries: u32) -> RetryPolicy {
        RetryPolicy {
            max_retries,
            on: DEFAULT_ON.to_vec(),
            retry_after: true,
            max_wait: DEFAULT_MAX_WAIT,
            backoff: DEFAULT_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
        }
    }

    /// Whether a response of `status` is retried.
    pub(crate) fn retries(&self, status: u16) -> bool {
        self.on.contains(&status)
    }
}

/// Parses a list of statuses (`--retry-on 429,503` or the profile's `on`); errors name `path`.
fn statuses(path: &str, items: impl IntoIterator<Item = Result<i64, String>>) -> Result<Vec<u16>, String> {
    let mut out = Vec::new();
    for item in items {
        let code = item.map_err(|v| format!("{path}: {v:?} is not an HTTP status"))?;
        if !(400..=599).contains(&code) {
            return Err(format!("{path}: {code} is not an error status (400-599)"));
        }
        if !out.contains(&(code as u16)) {
            out.push(code as u16);
        }
    }
    if out.is_empty() {
        return Err(format!("{path}: empty (list the statuses to retry, e.g. 429,503,529)"));
    }
    Ok(out)
}

/// `retry` at `path`; None when absent or `max_retries` is 0.
pub(super) fn resolve(errs: &mut Vec<String>, path: &str, raw: Option<&RawRetry>) -> Option<RetryPolicy> {
    let r = raw?;
    let at = |field: &str| format!("{path}.{field}");
    let before = errs.len();
    let max_retries = match r.max_retries {
        None => {
            errs.push(format!(
                "{}: missing (how many times to retry; 0 turns retries off)",
                at("max_retries")
            ));
            0
        }
        Some(0) => 0,
        n => limits::count(errs, &at("max_retries"), n, 1, MAX_RETRIES).unwrap_or(0) as u32,
    };
    let mut p = RetryPolicy::with_retries(max_retries);
    if let Some(on) = &r.on {
        match statuses(&at("on"), on.iter().map(|&c| Ok(c))) {
            Ok(on) => p.on = on,
            Err(e) => errs.push(e),
        }
    }
    p.retry_after = r.retry_after.unwrap_or(true);
    let dur = |errs: &mut Vec<String>, field: &str, v: &Option<String>, default| {
        limits::duration(errs, &at(field), v.as_deref(), default, WAIT)
    };
    p.max_wait = dur(errs, "max_wait", &r.max_wait, DEFAULT_MAX_WAIT);
    p.backoff = dur(errs, "backoff", &r.backoff, DEFAULT_BACKOFF);
    p.max_backoff = dur(errs, "max_backoff", &r.max_backoff, DEFAULT_MAX_BACKOFF.max(p.backoff));
    if p.max_backoff < p.backoff {
        errs.push(format!("{}: shorter than backoff", at("max_backoff")));
    }
    (errs.len() == before && max_retries > 0).then_some(p)
}

/// `--retry N`, `--retry-on LIST`, `--retry-max-wait D`: over every scenario's policy (or the
/// default one where a scenario has none).
#[derive(Clone, Debug, Default)]
pub(crate) struct RetryFlags {
    pub retry: Option<u32>,
    pub retry_on: Option<String>,
    pub max_wait: Option<String>,
}

/// The flags parsed: (retries, statuses, max wait); errors name the flag.
type Parsed = (Option<u32>, Option<Vec<u16>>, Option<Duration>);

impl RetryFlags {
    fn given(&self) -> bool {
        self.retry.is_some() || self.retry_on.is_some() || self.max_wait.is_some()
    }

    fn parse(&self) -> Result<Parsed, String> {
        let retry = match self.retry {
            Some(n) => {
                Some(limits::within(u64::from(n), 0, MAX_RETRIES).map_err(|e| format!("--retry: {e}"))? as u32)
            }
            None => None,
        };
        let on = match &self.retry_on {
            Some(list) => Some(statuses(
                "--retry-on",
                list.split(',').map(str::trim).map(|v| v.parse::<i64>().map_err(|_| v.to_string())),
            )?),
            None => None,
        };
        let max_wait = match &self.max_wait {
            Some(v) => Some(
                parse_duration(v)
                    .and_then(|d| WAIT.check(d))
                    .map_err(|e| format!("--retry-max-wait: {e}"))?,
            ),
            None => None,
        };
        Ok((retry, on, max_wait))
    }

    /// Applies the flags to the policies of every scenario (`policies`, one each).
    pub(crate) fn apply(&self, policies: &mut [&mut Option<RetryPolicy>]) -> Result<(), String> {
        if !self.given() {
            return Ok(());
        }
        let (retry, on, max_wait) = self.parse()?;
        for policy in policies.iter_mut() {
            let mut p = match (policy.take(), retry) {
                (_, Some(0)) => continue,
                (Some(mut p), Some(n)) => {
                    p.max_retries = n;
                    p
                }
                (Some(p), None) => p,
                (None, Some(n)) => RetryPolicy::with_retries(n),
                (None, None) => continue,
            };
            if let Some(on) = &on {
                p.on = on.clone();
            }
            if let Some(w) = max_wait {
                p.max_wait = w;
            }
            **policy = Some(p);
        }
        if retry.is_none() && policies.iter().all(|p| p.is_none()) {
            let flag = if self.retry_on.is_some() { "--retry-on" } else { "--retry-max-wait" };
            return Err(format!(
                "{flag}: no scenario retries (add --retry N, or a retry policy to the profile)"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(v: serde_json::Value) -> RawRetry {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_profile_policy_with_defaults_and_errors_by_path() {
        let mut errs = Vec::new();
        let p = resolve(&mut errs, "retry", Some(&raw(serde_json::json!({"max_retries": 3})))).unwrap();
        assert_eq!(p, RetryPolicy::with_retries(3));
        assert!(p.retries(429) && p.retries(529) && !p.retries(500));
        let off = raw(serde_json::json!({"max_retries": 0, "on": [500]}));
        assert_eq!(resolve(&mut errs, "scenarios[0].retry", Some(&off)), None);
        assert!(errs.is_empty(), "{errs:?}");
        let bad = raw(serde_json::json!({"max_retries": 1000, "on": [200], "max_wait": "0s",
                                         "backoff": "2s", "max_backoff": "1s"}));
        assert_eq!(resolve(&mut errs, "retry", Some(&bad)), None);
        assert_eq!(
            errs,
            [
                "retry.max_retries: 1000 is above the limit 100",
                "retry.on: 200 is not an error status (400-599)",
                "retry.max_wait: must be above 0",
                "retry.max_backoff: shorter than backoff",
            ]
        );
        let mut errs = Vec::new();
        assert_eq!(resolve(&mut errs, "retry", Some(&raw(serde_json::json!({})))), None);
        assert!(errs[0].starts_with("retry.max_retries: missing"), "{errs:?}");
    }

    #[test]
    fn flags_over_every_scenario() {
        let mut a = Some(RetryPolicy { on: vec![500], ..RetryPolicy::with_retries(1) });
        let mut b = None;
        let flags =
            RetryFlags { retry: Some(4), retry_on: Some("429, 529".into()), max_wait: Some("2s".into()) };
        flags.apply(&mut [&mut a, &mut b]).unwrap();
        for p in [&a, &b] {
            let p = p.as_ref().unwrap();
            assert_eq!((p.max_retries, &p.on[..], p.max_wait), (4, &[429, 529][..], Duration::from_secs(2)));
        }
        // --retry 0 turns every policy off; --retry-on alone keeps the profile's count.
        RetryFlags { retry: Some(0), ..RetryFlags::default() }.apply(&mut [&mut a]).unwrap();
        assert_eq!(a, None);
        let mut c = Some(RetryPolicy::with_retries(2));
        RetryFlags { retry_on: Some("503".into()), ..RetryFlags::default() }.apply(&mut [&mut c]).unwrap();
        assert_eq!(c.as_ref().map(|p| (p.max_retries, p.on.clone())), Some((2, vec![503])));
        let e = RetryFlags { retry_on: Some("429".into()), ..RetryFlags::default() }.apply(&mut [&mut None]);
        assert!(e.unwrap_err().starts_with("--retry-on: no scenario retries"));
        let e = RetryFlags { retry: Some(1), retry_on: Some("429,x".into()), ..RetryFlags::default() };
        assert_eq!(e.apply(&mut []).unwrap_err(), "--retry-on: \"x\" is not an HTTP status");
        let e = RetryFlags { retry: Some(101), ..RetryFlags::default() }.apply(&mut []);
        assert_eq!(e.unwrap_err(), "--retry: 101 is above the limit 100");
    }
}
