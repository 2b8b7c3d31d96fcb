//! Client-side cancellation, as users cancel: a share of a scenario's requests is abandoned
//! (the connection closed) at a chosen point, so a run shows whether a gateway passes the
//! cancel upstream. Such a request ends as `cancelled_by_client`, not as an error.

use std::time::Duration;

/// Where a cancelled request is abandoned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CancelAfter {
    /// After this many output events (`first_token` is 1). A non-streaming request, whose
    /// output arrives whole, is abandoned at its first response byte instead.
    Events(u32),
    /// This long after the request was sent.
    Elapsed(Duration),
}

/// A scenario's cancellation: the share of its requests cancelled, and where.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ClientCancel {
    pub rate: f64,
    pub after: CancelAfter,
}

impl ClientCancel {
    /// Whether the request with the uniform draw `u` (in [0, 1)) is cancelled.
    pub(crate) fn draw(&self, u: f64) -> Option<CancelAfter> {
        (u < self.rate).then_some(self.after)
    }
}

impl CancelAfter {
    /// `first_token`, `N events` (or `N event`), or a duration (`200ms`, `1.5s`).
    pub(crate) fn parse(text: &str) -> Result<CancelAfter, String> {
        let t = text.trim();
        if t == "first_token" {
            return Ok(CancelAfter::Events(1));
        }
        if let Some(n) = t.strip_suffix("events").or_else(|| t.strip_suffix("event")) {
            return match n.trim().parse::<u32>() {
                Ok(n) if n > 0 => Ok(CancelAfter::Events(n)),
                _ => Err(format!("{text:?}: the number of events must be a whole number from 1")),
            };
        }
        match crate::units::parse_duration(t) {
            Ok(d) if !d.is_zero() => Ok(CancelAfter::Elapsed(d)),
            _ => {
                Err(format!("{text:?} is not \"first_token\", \"N events\" or a duration such as \"200ms\""))
            }
        }
    }

    /// Whether a streamed request that has seen `events` output events is abandoned now.
    pub(crate) fn reached(self, events: u64, stream: bool) -> bool {
        match self {
            CancelAfter::Events(n) => !stream || events >= u64::from(n),
            CancelAfter::Elapsed(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form_and_names_the_bad_ones() {
        assert_eq!(CancelAfter::parse("first_token"), Ok(CancelAfter::Events(1)));
        assert_eq!(CancelAfter::parse("5 events"), Ok(CancelAfter::Events(5)));
        assert_eq!(CancelAfter::parse("1 event"), Ok(CancelAfter::Events(1)));
        assert_eq!(CancelAfter::parse("200ms"), Ok(CancelAfter::Elapsed(Duration::from_millis(200))));
        for bad in ["", "0 events", "-1 events", "x events", "0s", "soon"] {
            assert!(CancelAfter::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn draws_the_rate_and_reaches_at_the_event() {
        let c = ClientCancel { rate: 0.25, after: CancelAfter::Events(2) };
        assert_eq!((c.draw(0.1), c.draw(0.25), c.draw(0.9)), (Some(CancelAfter::Events(2)), None, None));
        let e = CancelAfter::Events(2);
        assert!(!e.reached(1, true) && e.reached(2, true) && e.reached(0, false));
        assert!(!CancelAfter::Elapsed(Duration::from_millis(5)).reached(100, true));
    }
}
