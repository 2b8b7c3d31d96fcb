//! Rate limiting as one request met it, over all its attempts: the 429/529 responses, the
//! `retry-after` each gave, and how a retry policy answered. Kept apart from the attempt's
//! own fields (status, times), which a retry starts afresh.

/// What a `retry-after` said, converted to a delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hint {
    /// None was sent.
    Absent,
    /// The delay asked for, µs (a date is converted against the clock when read).
    Us(u64),
    /// One was sent but could not be read.
    Invalid,
}

/// How a request's retrying ended, when it did not end in success or a status it would not
/// retry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RetryEnd {
    /// Not retried to the end (no policy, success, or a final status it does not retry).
    #[default]
    Done,
    /// Every attempt the policy allows was used: the last response is the request's.
    Exhausted,
    /// The wait would have run past the stage's end (or the run was stopped): the last
    /// response is the request's.
    Cut,
}

/// One request's rate limiting, summed over its attempts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Throttle {
    /// 429 and 529 responses (every attempt's).
    pub rate_limited: u32,
    /// Of those, responses carrying `x-ratelimit-*` / `anthropic-ratelimit-*` headers.
    pub limit_headers: u32,
    /// Every readable `retry-after` received (any status), µs, as given (not capped).
    pub retry_after_us: Vec<u64>,
    /// `retry-after` values that could not be read.
    pub retry_after_invalid: u32,
    /// The last attempt's `retry-after` (what a retry waits for).
    pub last: Hint,
    /// Attempts after the first.
    pub retries: u32,
    /// Waits shortened to the policy's `max_wait`.
    pub capped: u32,
    pub end: RetryEnd,
}

impl Default for Throttle {
    fn default() -> Throttle {
        Throttle {
            rate_limited: 0,
            limit_headers: 0,
            retry_after_us: Vec::new(),
            retry_after_invalid: 0,
            last: Hint::Absent,
            retries: 0,
            capped: 0,
            end: RetryEnd::Done,
        }
    }
}

impl Throttle {
    /// True for the statuses counted as rate limiting: 429 Too Many Requests and Anthropic's
    /// 529 Overloaded.
    pub fn is_rate_limit(status: u16) -> bool {
        matches!(status, 429 | 529)
    }

    /// Nothing was rate limited, retried or told to wait.
    pub fn is_empty(&self) -> bool {
        self.rate_limited == 0
            && self.retries == 0
            && self.retry_after_us.is_empty()
            && self.retry_after_invalid == 0
            && self.end == RetryEnd::Done
    }

    /// Notes one response's status, `retry-after` and rate-limit headers.
    pub fn note(&mut self, status: u16, hint: Hint, limit_headers: bool) {
        if Self::is_rate_limit(status) {
            self.rate_limited += 1;
            self.limit_headers += u32::from(limit_headers);
        }
        match hint {
            Hint::Us(us) => self.retry_after_us.push(us),
            Hint::Invalid => self.retry_after_invalid += 1,
            Hint::Absent => {}
        }
        self.last = hint;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_add_up_over_attempts() {
        let mut t = Throttle::default();
        t.note(429, Hint::Us(1_000_000), true);
        t.note(503, Hint::Invalid, false);
        t.note(529, Hint::Absent, false);
        t.note(200, Hint::Absent, false);
        assert_eq!((t.rate_limited, t.limit_headers, t.retry_after_invalid), (2, 1, 1));
        assert_eq!(t.retry_after_us, vec![1_000_000]);
        assert_eq!(t.last, Hint::Absent);
    }
}
