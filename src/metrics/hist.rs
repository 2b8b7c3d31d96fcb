//! Latency histograms: one HdrHistogram per metric, in microseconds from 1 µs to 1 hour at
//! 3 significant digits. Values outside the range saturate (and are counted) rather than
//! being lost.

use hdrhistogram::Histogram;

/// Highest trackable value: one hour, in µs.
pub const MAX_US: u64 = 3_600_000_000;
/// Significant decimal digits.
pub const SIGFIG: u8 = 3;

/// The metrics every request can contribute to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Latency from the intended start to the end of the response (coordinated-omission
    /// corrected; equals `Service` in closed loop).
    Latency,
    /// Latency from the actual send to the end of the response.
    Service,
    /// Actual send − intended start (open loop).
    SendLag,
    /// Intended start → first response byte.
    Ttfb,
    /// Intended start → first content-bearing event (streams) or the response (non-streams).
    Ttft,
    /// Intended start → first answer event of a stream (text or a tool call, not reasoning);
    /// equals `Ttft` for a model that does not reason.
    TtftContent,
    /// First → last reasoning event of a stream (streams with reasoning only).
    ReasoningTime,
    /// Every gap between consecutive content events.
    Itl,
    /// Per request: (last − first content time) / (tokens − 1).
    Tpot,
    /// TCP connect time of a new connection.
    Connect,
    /// TLS handshake time of a new connection.
    Tls,
    /// Every readable `retry-after` received, as given (an HTTP-date as the time until it).
    RetryAfter,
}

impl Metric {
    /// Every metric, in report order.
    pub const ALL: [Metric; 12] = [
        Metric::Latency,
        Metric::Service,
        Metric::SendLag,
        Metric::Ttfb,
        Metric::Ttft,
        Metric::TtftContent,
        Metric::ReasoningTime,
        Metric::Itl,
        Metric::Tpot,
        Metric::Connect,
        Metric::Tls,
        Metric::RetryAfter,
    ];

    /// The metric a report names (the inverse of `name`).
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.iter().copied().find(|m| m.name() == name)
    }

    /// Stable name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Latency => "latency",
            Metric::Service => "service",
            Metric::SendLag => "send_lag",
            Metric::Ttfb => "ttfb",
            Metric::Ttft => "ttft",
            Metric::TtftContent => "ttft_content",
            Metric::ReasoningTime => "reasoning_time",
            Metric::Itl => "itl",
            Metric::Tpot => "tpot",
            Metric::Connect => "connect",
            Metric::Tls => "tls",
            Metric::RetryAfter => "retry_after",
        }
    }
}

/// A new empty histogram with the project's range and precision.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, SIGFIG).expect("valid histogram bounds")
}

/// One histogram per metric.
#[derive(Clone, Debug)]
pub struct HistSet {
    hists: Vec<Histogram<u64>>,
}

impl Default for HistSet {
    fn default() -> Self {
        HistSet { hists: Metric::ALL.iter().map(|_| new_histogram()).collect() }
    }
}

impl HistSet {
    /// Records `us` microseconds (0 is recorded as 1 µs: the floor of the range).
    #[inline]
    pub fn record(&mut self, metric: Metric, us: u64) {
        self.hists[metric as usize].saturating_record(us.max(1));
    }

    pub fn get(&self, metric: Metric) -> &Histogram<u64> {
        &self.hists[metric as usize]
    }

    /// Adds every histogram of `other` into this set (exact: counts are added).
    pub fn add(&mut self, other: &HistSet) {
        for (a, b) in self.hists.iter_mut().zip(&other.hists) {
            a.add(b).expect("histograms share bounds");
        }
    }

    /// Adds a histogram from elsewhere (a saved summary); fails when its values do not fit
    /// the project's range.
    pub fn add_histogram(&mut self, metric: Metric, h: &Histogram<u64>) -> Result<(), String> {
        self.hists[metric as usize].add(h).map_err(|e| format!("{e:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_is_exact() {
        let mut a = HistSet::default();
        let mut b = HistSet::default();
        for v in 1..=1000 {
            a.record(Metric::Latency, v);
            b.record(Metric::Latency, v + 1000);
        }
        a.add(&b);
        let h = a.get(Metric::Latency);
        assert_eq!(h.len(), 2000);
        assert_eq!(h.value_at_quantile(0.5), 1000);
        a.record(Metric::Ttft, 0);
        assert_eq!(a.get(Metric::Ttft).min(), 1);
        a.record(Metric::Ttft, u64::MAX);
        assert_eq!(a.get(Metric::Ttft).len(), 2);
    }
}
