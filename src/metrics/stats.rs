//! Per (stage, scenario) statistics: histograms plus counters. Each worker owns its own and
//! the coordinator adds them up at stage boundaries; nothing here is shared or locked.

use std::ops::{Deref, DerefMut};

use super::counters::Counters;
use super::hist::{HistSet, Metric};
use super::keys::KeySet;
use super::outcome::{us_between, Outcome, TokenSource};
use super::throttle::RetryEnd;
use super::ErrorKind;

/// Counters and histograms of one stage × scenario on one worker (or merged). The counters
/// are read through `Deref` (`stats.requests`), as if they were fields of `Stats`.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub counters: Counters,
    pub hists: HistSet,
    /// Per pool key (empty without a key pool).
    pub keys: KeySet,
}

impl Deref for Stats {
    type Target = Counters;
    fn deref(&self) -> &Counters {
        &self.counters
    }
}

impl DerefMut for Stats {
    fn deref_mut(&mut self) -> &mut Counters {
        &mut self.counters
    }
}

impl From<Counters> for Stats {
    fn from(counters: Counters) -> Stats {
        Stats { counters, hists: HistSet::default(), keys: KeySet::default() }
    }
}

impl Stats {
    /// Records one request; `gaps_us` are its inter-token gaps, `good` whether it met its
    /// scenario's SLOs.
    pub fn record(&mut self, o: &Outcome, gaps_us: &[u64], good: bool) {
        self.requests += 1;
        if o.key.is_some() {
            self.keys.record(o);
        }
        // Before the cancelled return: a request cancelled after a 429 was still refused.
        if !o.throttle.is_empty() {
            self.record_throttle(o);
        }
        if o.error == Some(ErrorKind::Cancelled) {
            self.cancelled += 1;
            self.errors[ErrorKind::Cancelled.index()] += 1;
            return;
        }
        if o.status != 0 {
            *self.status.entry(o.status).or_insert(0) += 1;
        }
        if let Some(e) = o.error {
            self.errors[e.index()] += 1;
        }
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        if let Some(us) = o.connect_us {
            self.connects += 1;
            self.hists.record(Metric::Connect, us);
        }
        if let Some(us) = o.tls_us {
            self.hists.record(Metric::Tls, us);
        }
        self.hists.record(Metric::SendLag, us_between(o.intended, o.sent));
        if let Some(t) = o.first_byte {
            self.hists.record(Metric::Ttfb, us_between(o.intended, t));
        }
        // Abandoned on purpose after reaching the server: its connect, bytes and first byte
        // are counted above; it is neither a success nor a failure.
        if o.error == Some(ErrorKind::CancelledByClient) {
            self.client_cancelled += 1;
            return;
        }
        if !o.is_ok() {
            self.failed += 1;
            return;
        }
        self.ok += 1;
        self.good += u64::from(good);
        self.hists.record(Metric::Latency, us_between(o.intended, o.end));
        self.hists.record(Metric::Service, us_between(o.sent, o.end));
        if let Some(t) = o.first_token {
            self.hists.record(Metric::Ttft, us_between(o.intended, t));
        }
        for &g in gaps_us {
            self.hists.record(Metric::Itl, g);
        }
        if let (Some(first), Some(last)) = (o.first_token, o.last_token) {
            if o.completion_tokens > 1 && last > first {
                self.hists.record(Metric::Tpot, us_between(first, last) / (o.completion_tokens - 1));
            }
        }
        self.prompt_tokens += o.prompt_tokens;
        self.completion_tokens += o.completion_tokens;
        self.ok_completion_tokens += o.completion_tokens;
        self.content_events += o.content_events;
        self.token_mismatch += u64::from(o.token_mismatch);
        self.counted_tokens += u64::from(o.token_source == TokenSource::Counted);
        if o.reasoning_tokens.is_some() || o.first_reasoning.is_some() || o.tools.calls > 0 {
            self.record_reasoning_and_tools(o);
        }
        if let Some(cached) = o.cached_prompt_tokens.or(o.cache_write_tokens.map(|_| 0)) {
            self.cache_reported += 1;
            self.cache_prompt_tokens += o.prompt_tokens;
            self.cached_prompt_tokens += cached;
            self.cache_write_tokens += o.cache_write_tokens.unwrap_or(0);
        }
        if let Some(valid) = o.json_valid {
            self.json_checked += 1;
            self.json_invalid += u64::from(!valid);
        }
        match o.finish {
            Some(crate::metrics::reply::Finish::Length) => self.finish_length += 1,
            Some(crate::metrics::reply::Finish::ToolCalls) => self.finish_tool_calls += 1,
            _ => {}
        }
        if let Some(t) = o.tokenizer {
            self.tokenizer_prompt_tokens += t.prompt;
            self.tokenizer_completion_tokens += t.completion;
            // Only a response's usage is the server's own count to compare with.
            if o.token_source == TokenSource::Usage {
                self.tokenizer_compared += 1;
                self.tokenizer_prompt_mismatch += u64::from(o.prompt_tokens != t.prompt);
                self.tokenizer_completion_mismatch += u64::from(o.completion_tokens != t.completion);
            }
        }
    }

    /// The figures of a successful reply with reasoning or tool calls (apart, so a plain
    /// reply pays one branch for them).
    #[cold]
    fn record_reasoning_and_tools(&mut self, o: &Outcome) {
        if let (Some(first), Some(last)) = (o.first_reasoning, o.last_reasoning) {
            self.hists.record(Metric::ReasoningTime, us_between(first, last));
        }
        if let Some(t) = o.first_content.filter(|_| o.first_reasoning.is_some()) {
            // Without reasoning it equals TTFT, recorded below as such.
            self.hists.record(Metric::TtftContent, us_between(o.intended, t));
        }
        if o.reasoning_tokens.is_some_and(|n| n > 0) || o.reasoning_events > 0 {
            self.reasoning_requests += 1;
            self.reasoning_tokens += o.reasoning_tokens.unwrap_or(0);
            self.reasoning_counted += u64::from(o.reasoning_source == TokenSource::Counted);
        }
        self.reasoning_only += u64::from(o.reasoning_only());
        if o.tools.calls > 0 {
            self.tool_call_requests += 1;
            self.tool_calls += u64::from(o.tools.calls);
            self.tool_arg_bytes += o.tools.arg_bytes;
            self.tool_args_invalid += u64::from(o.tools.invalid);
        }
    }

    /// The rate limiting and retries of a request that met any (apart, so a plain request
    /// pays one comparison for them).
    #[cold]
    fn record_throttle(&mut self, o: &Outcome) {
        let t = &o.throttle;
        self.rate_limited += u64::from(t.rate_limited);
        self.ratelimit_headers += u64::from(t.limit_headers);
        self.retry_after_invalid += u64::from(t.retry_after_invalid);
        for &us in &t.retry_after_us {
            self.hists.record(Metric::RetryAfter, us);
        }
        self.retries += u64::from(t.retries);
        self.retry_wait_capped += u64::from(t.capped);
        if t.retries > 0 {
            self.retried_requests += 1;
            self.retried_ok += u64::from(o.is_ok());
        }
        match t.end {
            RetryEnd::Done => {}
            RetryEnd::Exhausted => self.retry_exhausted += 1,
            RetryEnd::Cut => self.retry_cut += 1,
        }
    }

    /// Counts a request that finished inside the measurement window (see `served`).
    pub fn record_served(&mut self, o: &Outcome) {
        self.served += 1;
        if o.is_ok() {
            self.served_ok += 1;
            self.served_tokens += o.completion_tokens;
        }
    }

    /// Adds `other` into this (exact: counters summed, histograms added).
    pub fn add(&mut self, other: &Stats) {
        self.counters.add(&other.counters);
        self.hists.add(&other.hists);
        self.keys.add(&other.keys);
    }

    /// Requests that failed for reasons on the generator's side.
    pub fn generator_errors(&self) -> u64 {
        ErrorKind::ALL
            .iter()
            .filter(|k| k.is_generator_fault() && **k != ErrorKind::Cancelled)
            .map(|k| self.errors[k.index()])
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn accounting_adds_up() {
        let t0 = Instant::now();
        let mut s = Stats::default();
        let mut ok = Outcome::new(t0);
        ok.status = 200;
        ok.sent = t0 + Duration::from_millis(5);
        ok.first_token = Some(t0 + Duration::from_millis(20));
        ok.last_token = Some(t0 + Duration::from_millis(40));
        ok.completion_tokens = 3;
        ok.end = t0 + Duration::from_millis(50);
        s.record(&ok, &[10_000, 10_000], true);
        let mut bad = Outcome::new(t0);
        bad.status = 429;
        s.record(&bad, &[], false);
        let mut cancelled = Outcome::new(t0);
        cancelled.error = Some(ErrorKind::Cancelled);
        s.record(&cancelled, &[], false);
        // Abandoned by the client after connecting: its connect counts, it is no failure.
        let mut abandoned = Outcome::new(t0);
        abandoned.error = Some(ErrorKind::CancelledByClient);
        abandoned.status = 200;
        abandoned.connect_us = Some(300);
        s.record(&abandoned, &[], false);
        assert_eq!(s.requests, s.ok + s.failed + s.cancelled + s.client_cancelled);
        assert_eq!((s.ok, s.failed, s.cancelled, s.client_cancelled), (1, 1, 1, 1));
        assert_eq!((s.connects, s.errors[ErrorKind::CancelledByClient.index()]), (1, 1));
        assert_eq!(s.status.get(&429), Some(&1));
        assert_eq!(
            s.hists.get(Metric::Latency).max(),
            s.hists.get(Metric::Latency).highest_equivalent(50_000)
        );
        assert_eq!(s.hists.get(Metric::Tpot).len(), 1);
        let mut merged = Stats::default();
        merged.add(&s);
        merged.add(&s);
        assert_eq!(merged.requests, 8);
        assert_eq!(merged.hists.get(Metric::Itl).len(), 4);
    }
}
