//! The retry policy as a request runs: after an attempt answered with a status the policy
//! retries, wait what `retry-after` asks (at most `max_wait`) or back off with jitter, then
//! send the same bytes again. The request stays one request: its latency counts from the
//! first attempt's intended start, its send lag from the first send, its bytes add up, and
//! it is recorded once under the last attempt's outcome.
//!
//! No attempt starts after the stage's measurement window: a wait that would end past it (or
//! a stop during it) ends the request with the response it has (`retry_cut`), so a huge or
//! hostile `retry-after` can neither stretch a stage nor lose a request. Such a request still
//! holds its user until the window's end (as the waiting client would), so a closed loop does
//! not answer a refusal with its next request at once.

use std::time::{Duration, Instant};

use super::{StageRun, Worker};
use crate::http::cancel::CancelAfter;
use crate::http::conn::{Conn, Transport};
use crate::http::exchange::ResponseState;
use crate::metrics::throttle::{Hint, RetryEnd};
use crate::metrics::Outcome;
use crate::profile::retry::RetryPolicy;
use crate::workload::Session;

/// When to send the next attempt of a request that got `out`, or None when it is over
/// (`out.throttle.end` says why, when it is for want of attempts or time). `draw` is uniform
/// in [0, 1), for the jitter.
pub(super) fn next_attempt(
    policy: &RetryPolicy,
    out: &mut Outcome,
    now: Instant,
    window_end: Instant,
    draw: f64,
) -> Option<Instant> {
    if out.error.is_some() || !policy.retries(out.status) {
        return None;
    }
    let t = &mut out.throttle;
    if t.retries >= policy.max_retries {
        t.end = RetryEnd::Exhausted;
        return None;
    }
    let wait = match t.last {
        Hint::Us(us) if policy.retry_after => {
            let asked = Duration::from_micros(us);
            if asked > policy.max_wait {
                t.capped += 1;
            }
            asked.min(policy.max_wait)
        }
        _ => backoff(policy, t.retries + 1, draw),
    };
    match now.checked_add(wait).filter(|at| *at < window_end) {
        Some(at) => Some(at),
        None => {
            t.end = RetryEnd::Cut;
            None
        }
    }
}

/// The wait before retry `n` (from 1) without a `retry-after`: `backoff · 2^(n-1)` up to
/// `max_backoff`, less up to a quarter at random (so clients refused together do not return
/// together).
fn backoff(policy: &RetryPolicy, n: u32, draw: f64) -> Duration {
    let doubled = policy.backoff.saturating_mul(1u32 << (n - 1).min(20));
    doubled.min(policy.max_backoff).mul_f64(1.0 - 0.25 * draw.clamp(0.0, 1.0))
}

impl<S: Transport> Worker<S> {
    /// Sends the request, and again as the scenario's retry policy says (see the module).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn send_with_retries(
        &self,
        conn: &mut Option<Conn<S>>,
        session: &mut dyn Session,
        mut request: Vec<u8>,
        state: &mut ResponseState,
        out: &mut Outcome,
        stage: &StageRun,
        client: Option<CancelAfter>,
    ) -> Vec<u8> {
        let policy = self.config.retry.get(session.scenario()).and_then(Option::as_ref);
        let mut first_sent = None;
        let (mut bytes_in, mut bytes_out) = (0, 0);
        loop {
            request = self.attempts(conn, session, request, state, out, stage.cancel_at, client).await;
            // One request: the first send, every attempt's bytes.
            out.sent = *first_sent.get_or_insert(out.sent);
            out.bytes_in += bytes_in;
            out.bytes_out += bytes_out;
            let Some(policy) = policy else { return request };
            let draw = self.jitter();
            let window_end = self.window_end(stage);
            let Some(at) = next_attempt(policy, out, Instant::now(), window_end, draw) else {
                if out.throttle.end == RetryEnd::Cut {
                    // The client would still be waiting when the window ends: it sends nothing
                    // more (a next request at once would turn a closed loop into a 429 storm).
                    let _ = self.stopping.sleep_until(window_end).await;
                }
                return request;
            };
            if self.stopping.sleep_until(at).await.is_err() {
                out.throttle.end = RetryEnd::Cut;
                return request;
            }
            (bytes_in, bytes_out) = (out.bytes_in, out.bytes_out);
            out.restart();
            out.throttle.retries += 1;
        }
    }

    /// A uniform draw in [0, 1) from the worker's jitter generator (xorshift64*).
    fn jitter(&self) -> f64 {
        let mut x = self.jitter.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.jitter.set(x);
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, hint: Hint) -> Outcome {
        let mut o = Outcome::new(Instant::now());
        o.status = status;
        o.throttle.note(status, hint, false);
        o
    }

    #[test]
    fn waits_honour_retry_after_capped_else_back_off() {
        let p = RetryPolicy { max_wait: Duration::from_secs(5), ..RetryPolicy::with_retries(2) };
        let now = Instant::now();
        let far = now + Duration::from_secs(3600);
        let mut o = refused(429, Hint::Us(1_500_000));
        assert_eq!(next_attempt(&p, &mut o, now, far, 0.0), Some(now + Duration::from_millis(1500)));
        let mut huge = refused(429, Hint::Us(1_000_000_000 * 1_000_000));
        assert_eq!(next_attempt(&p, &mut huge, now, far, 0.0), Some(now + Duration::from_secs(5)));
        assert_eq!(huge.throttle.capped, 1);
        // No (or an unreadable) retry-after: 500 ms, 1 s, … less the jitter.
        let mut garbage = refused(503, Hint::Invalid);
        assert_eq!(next_attempt(&p, &mut garbage, now, far, 0.0), Some(now + Duration::from_millis(500)));
        garbage.throttle.retries = 1;
        assert_eq!(next_attempt(&p, &mut garbage, now, far, 1.0), Some(now + Duration::from_micros(750_000)));
        let ignore = RetryPolicy { retry_after: false, ..p.clone() };
        let mut o = refused(429, Hint::Us(3_000_000));
        assert_eq!(next_attempt(&ignore, &mut o, now, far, 0.0), Some(now + Duration::from_millis(500)));
        assert_eq!(backoff(&p, 30, 0.0), p.max_backoff);
    }

    #[test]
    fn a_request_ends_when_attempts_or_the_window_run_out() {
        let p = RetryPolicy::with_retries(1);
        let now = Instant::now();
        let far = now + Duration::from_secs(3600);
        let mut ok = refused(200, Hint::Absent);
        assert_eq!(next_attempt(&p, &mut ok, now, far, 0.0), None);
        let mut not_retried = refused(500, Hint::Absent);
        assert_eq!(next_attempt(&p, &mut not_retried, now, far, 0.0), None);
        assert_eq!(not_retried.throttle.end, RetryEnd::Done);
        let mut used = refused(429, Hint::Absent);
        used.throttle.retries = 1;
        assert_eq!(next_attempt(&p, &mut used, now, far, 0.0), None);
        assert_eq!(used.throttle.end, RetryEnd::Exhausted);
        let mut late = refused(429, Hint::Us(2_000_000));
        assert_eq!(next_attempt(&p, &mut late, now, now + Duration::from_secs(1), 0.0), None);
        assert_eq!(late.throttle.end, RetryEnd::Cut);
        let mut broken = refused(429, Hint::Absent);
        broken.error = Some(crate::metrics::ErrorKind::Eof);
        assert_eq!(next_attempt(&p, &mut broken, now, far, 0.0), None);
    }
}
