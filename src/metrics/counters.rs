//! The counters of one stage × scenario: one struct, summed by one `add`, serialized as they
//! are into `summary.json` (flattened into `report::summary::Figures`). A new counter is one
//! field here; `add`, the summary and the decoded view follow from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ErrorKind;

/// A counter that adds up: every field of [`Counters`] is one.
pub(crate) trait Tally {
    fn tally(&mut self, other: &Self);
}

impl Tally for u64 {
    fn tally(&mut self, other: &u64) {
        *self += other;
    }
}

impl<const N: usize> Tally for [u64; N] {
    fn tally(&mut self, other: &[u64; N]) {
        for (a, b) in self.iter_mut().zip(other) {
            *a += b;
        }
    }
}

impl Tally for BTreeMap<u16, u64> {
    fn tally(&mut self, other: &BTreeMap<u16, u64>) {
        for (code, n) in other {
            *self.entry(*code).or_insert(0) += n;
        }
    }
}

/// Declares the counters struct and its `add` from one list of fields, so the two cannot
/// drift apart.
macro_rules! counters {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $name {
            /// Adds `other` into these counters (exact: every counter is a sum).
            pub fn add(&mut self, other: &$name) {
                $(Tally::tally(&mut self.$field, &other.$field);)*
            }
        }
    };
}

counters! {
    /// Counts of one stage × scenario on one worker (or added up). In `summary.json` in this
    /// order, under these names.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct Counters {
        /// Requests sent (or attempted) whose intended start fell in the measurement window:
        /// `ok + failed + cancelled + client_cancelled`.
        pub requests: u64,
        pub ok: u64,
        /// Errors and non-200 statuses (excluding cancellations).
        pub failed: u64,
        pub cancelled: u64,
        /// Abandoned on purpose by the scenario's `cancel` (`cancelled_by_client`): outside
        /// the shares of successes, errors and goodput.
        #[serde(default)]
        pub client_cancelled: u64,
        /// Open-loop arrivals never sent: the in-flight limit was reached, or (`dropped_behind`)
        /// llmload fell so far behind its schedule that the stage ended first. Offered load is
        /// `requests + dropped`.
        pub dropped: u64,
        /// Of `dropped`: arrivals the generator could not send before the stage ended.
        pub dropped_behind: u64,
        /// Open loop: later turns of conversations (scheduled after the previous turn, not
        /// arrivals of the schedule); included in `requests`.
        #[serde(rename = "followup_turns")]
        pub followups: u64,
        /// Requests that reached the server and finished (not cancelled) inside the stage's
        /// measurement window, whenever they were sent (warmup included): what the server
        /// completed in the window.
        pub served: u64,
        /// Of `served`: successful ones, and their completion tokens.
        pub served_ok: u64,
        pub served_tokens: u64,
        /// Of `requests`: finished after the window ended (during the grace period).
        pub late: u64,
        /// Closed-loop waits after a request failed before reaching the server (connect refused,
        /// TLS, local ports or fds).
        pub backoffs: u64,
        pub prompt_tokens: u64,
        pub completion_tokens: u64,
        /// Streams whose usage reported fewer completion tokens than content events arrived.
        pub token_mismatch: u64,
        /// Successful requests within their scenario's SLOs (goodput).
        pub good: u64,
        /// Completion tokens of successful requests (for output tokens/s).
        pub ok_completion_tokens: u64,
        pub content_events: u64,
        /// Requests whose completion tokens were counted from events (no usage reported).
        pub counted_tokens: u64,
        /// With a tokenizer: the prompt and completion tokens of successful requests as it
        /// counts them (`TokenizerCounts`), apart from the server's usage above.
        #[serde(default)]
        pub tokenizer_prompt_tokens: u64,
        #[serde(default)]
        pub tokenizer_completion_tokens: u64,
        /// Successful requests with both a tokenizer count and the server's usage, and those
        /// whose usage prompt or completion count differs from the tokenizer's.
        #[serde(default)]
        pub tokenizer_compared: u64,
        #[serde(default)]
        pub tokenizer_prompt_mismatch: u64,
        #[serde(default)]
        pub tokenizer_completion_mismatch: u64,
        /// Successful requests with reasoning (tokens in usage, or reasoning events), their
        /// reasoning tokens, and those of them counted from events (no usage figure).
        #[serde(default)]
        pub reasoning_requests: u64,
        #[serde(default)]
        pub reasoning_tokens: u64,
        #[serde(default)]
        pub reasoning_counted: u64,
        /// Successful requests whose answer was all reasoning: no text, no tool call.
        #[serde(default)]
        pub reasoning_only: u64,
        /// Successful requests that called tools, their calls, the calls' argument bytes and
        /// the calls whose arguments did not parse as JSON.
        #[serde(default)]
        pub tool_call_requests: u64,
        #[serde(default)]
        pub tool_calls: u64,
        #[serde(default)]
        pub tool_arg_bytes: u64,
        #[serde(default)]
        pub tool_args_invalid: u64,
        /// Successful requests whose usage reported the prompt cache, their prompt tokens,
        /// and of those the tokens read from and written to the cache.
        #[serde(default)]
        pub cache_reported: u64,
        #[serde(default)]
        pub cache_prompt_tokens: u64,
        #[serde(default)]
        pub cached_prompt_tokens: u64,
        #[serde(default)]
        pub cache_write_tokens: u64,
        /// Successful requests whose answer was checked as JSON (the scenario sends
        /// `response_format` json_object / json_schema; answers of only tool calls are not
        /// checked), and those of them whose answer is not valid JSON.
        #[serde(default)]
        pub json_checked: u64,
        #[serde(default)]
        pub json_invalid: u64,
        /// Successful requests that ended at the token budget, and in tool calls.
        #[serde(default)]
        pub finish_length: u64,
        #[serde(default)]
        pub finish_tool_calls: u64,
        /// 429 and 529 responses, every attempt's (a retried request counts each): what the
        /// server refused, as its own 429 counter counts them.
        #[serde(default)]
        pub rate_limited: u64,
        /// Of `rate_limited`: responses with `x-ratelimit-*` / `anthropic-ratelimit-*` headers.
        #[serde(default)]
        pub ratelimit_headers: u64,
        /// `retry-after` values that could not be read (the readable ones are the
        /// `retry_after` histogram).
        #[serde(default)]
        pub retry_after_invalid: u64,
        /// Retry policy: attempts after the first (not requests: each request counts once in
        /// `requests`, under its final outcome).
        #[serde(default)]
        pub retries: u64,
        /// Requests retried at least once, and of them those that succeeded.
        #[serde(default)]
        pub retried_requests: u64,
        #[serde(default)]
        pub retried_ok: u64,
        /// Requests that used every attempt and ended on a status the policy retries; requests
        /// whose next wait would have passed the stage's end (or the stop).
        #[serde(default)]
        pub retry_exhausted: u64,
        #[serde(default)]
        pub retry_cut: u64,
        /// Waits shortened to the policy's `max_wait` (a `retry-after` longer than it).
        #[serde(default)]
        pub retry_wait_capped: u64,
        pub connects: u64,
        pub bytes_in: u64,
        pub bytes_out: u64,
        /// Responses by HTTP status (a map from the status as text).
        #[serde(with = "status_map")]
        pub status: BTreeMap<u16, u64>,
        /// Requests by error class, indexed by `ErrorKind::index` (a map from the class name
        /// holding the classes seen).
        #[serde(with = "error_map")]
        pub errors: [u64; ErrorKind::COUNT],
    }
}

impl Counters {
    /// The requests the success, error and goodput shares are taken of: all but those the
    /// client cancelled on purpose.
    pub fn judged(&self) -> u64 {
        self.requests - self.client_cancelled
    }

    /// Token-weighted prompt cache hit ratio: cached prompt tokens ÷ the prompt tokens of the
    /// requests that reported the cache; None when none did.
    pub fn cache_hit_ratio(&self) -> Option<f64> {
        (self.cache_reported > 0)
            .then(|| self.cached_prompt_tokens as f64 / self.cache_prompt_tokens.max(1) as f64)
    }

    /// The error classes seen, by name, in name order (as `summary.json` lists them).
    pub fn error_counts(&self) -> BTreeMap<&'static str, u64> {
        ErrorKind::ALL
            .iter()
            .filter(|k| self.errors[k.index()] > 0)
            .map(|k| (k.name(), self.errors[k.index()]))
            .collect()
    }

    /// Responses by status as text, in text order (as `summary.json` lists them).
    pub fn status_counts(&self) -> BTreeMap<String, u64> {
        self.status.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }
}

/// `status` as a JSON object: `{"200": 12, "429": 3}`.
mod status_map {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(status: &BTreeMap<u16, u64>, s: S) -> Result<S::Ok, S::Error> {
        // Keys sorted as text, as the map is written.
        s.collect_map(status.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<u16, u64>, D::Error> {
        let text = BTreeMap::<String, u64>::deserialize(d)?;
        text.into_iter()
            .map(|(code, n)| match code.parse::<u16>() {
                Ok(c) => Ok((c, n)),
                Err(_) => Err(serde::de::Error::custom(format!("status {code:?} is not an HTTP status"))),
            })
            .collect()
    }
}

/// `errors` as a JSON object of the classes seen: `{"timeout_total": 2}`.
mod error_map {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        errors: &[u64; ErrorKind::COUNT],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let seen: BTreeMap<&str, u64> = ErrorKind::ALL
            .iter()
            .filter(|k| errors[k.index()] > 0)
            .map(|k| (k.name(), errors[k.index()]))
            .collect();
        s.collect_map(seen)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u64; ErrorKind::COUNT], D::Error> {
        let mut out = [0; ErrorKind::COUNT];
        for (name, n) in BTreeMap::<String, u64>::deserialize(d)? {
            let kind = ErrorKind::from_name(&name)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown error class {name:?}")))?;
            out[kind.index()] = n;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Counters {
        let mut c =
            Counters { requests: 5, ok: 3, failed: 2, followups: 1, bytes_in: 9, ..Counters::default() };
        c.status.insert(200, 3);
        c.status.insert(429, 2);
        c.errors[ErrorKind::TimeoutTotal.index()] = 1;
        c.errors[ErrorKind::ConnReset.index()] = 1;
        c
    }

    #[test]
    fn add_sums_every_counter() {
        let one = sample();
        let mut two = sample();
        two.add(&one);
        assert_eq!((two.requests, two.ok, two.followups, two.bytes_in), (10, 6, 2, 18));
        assert_eq!(two.status, BTreeMap::from([(200, 6), (429, 4)]));
        assert_eq!(two.errors[ErrorKind::TimeoutTotal.index()], 2);
        // Every field: adding to zero gives back the same, adding twice is doubling.
        let mut zero = Counters::default();
        zero.add(&one);
        assert_eq!(zero, one);
        let doubled = serde_json::to_value(&two).unwrap();
        for (k, v) in serde_json::to_value(&one).unwrap().as_object().unwrap() {
            if let Some(n) = v.as_u64() {
                assert_eq!(doubled[k].as_u64(), Some(2 * n), "{k}");
            }
        }
    }

    #[test]
    fn serializes_with_report_names_and_reads_back() {
        let c = sample();
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["followup_turns"], 1);
        assert_eq!(v["status"], serde_json::json!({"200": 3, "429": 2}));
        assert_eq!(v["errors"], serde_json::json!({"conn_reset": 1, "timeout_total": 1}));
        let back: Counters = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(back, c);
        let mut bad = v.clone();
        bad["errors"] = serde_json::json!({"nonsense": 1});
        let err = serde_json::from_value::<Counters>(bad).unwrap_err().to_string();
        assert!(err.contains("unknown error class \"nonsense\""), "{err}");
        let mut bad = v;
        bad["status"] = serde_json::json!({"OK": 1});
        let err = serde_json::from_value::<Counters>(bad).unwrap_err().to_string();
        assert!(err.contains("status \"OK\" is not an HTTP status"), "{err}");
    }
}
