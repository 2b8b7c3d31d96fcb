//! The live `/metrics` exposition: the workers' live counters and bucket histograms
//! ([`crate::metrics::live`]), cumulative since the run started, in the Prometheus text
//! format (written with [`PromText`]).

use super::promtext::{format_value, Kind, PromText};
use crate::metrics::live::{bucket_range, Buckets, LiveSnapshot, BUCKETS, SUB};

/// The `le` bounds (µs) of the exposed histograms: two per power of two (`2^k`, `1.5·2^k`)
/// from 128 µs to ~54 min. Each is a live bucket boundary, so the cumulative counts are
/// exact (integer µs below the bound); the live buckets are finer and are merged.
pub(crate) fn bounds_us() -> Vec<u64> {
    (2 * SUB..BUCKETS)
        .map(bucket_range)
        .filter(|&(lo, w)| lo >= 128 && (lo == w * SUB as u64 || lo == w * (SUB + SUB / 2) as u64))
        .map(|(lo, _)| lo)
        .collect()
}

/// The exposition of one snapshot.
pub(crate) fn render(s: &LiveSnapshot) -> String {
    let mut p = PromText::new();
    let t = &s.totals;
    p.family(
        "llmload_live_requests_total",
        Kind::Counter,
        "Requests finished since the run started (warmup included), by outcome.",
    );
    p.sample("llmload_live_requests_total", &[("outcome", "ok")], t.ok as f64);
    p.sample("llmload_live_requests_total", &[("outcome", "failed")], t.failed as f64);
    p.sample("llmload_live_requests_total", &[("outcome", "cancelled")], t.cancelled as f64);
    p.family(
        "llmload_live_dropped_total",
        Kind::Counter,
        "Open-loop arrivals never sent (the in-flight limit, or llmload behind its schedule).",
    );
    p.sample("llmload_live_dropped_total", &[], t.dropped as f64);
    p.family("llmload_live_in_flight", Kind::Gauge, "Requests in flight.");
    p.sample("llmload_live_in_flight", &[], t.in_flight as f64);
    p.family("llmload_live_output_tokens_total", Kind::Counter, "Completion tokens of successful requests.");
    p.sample("llmload_live_output_tokens_total", &[], t.tokens as f64);
    // 1-based, like the `stage` label of metrics.prom and "stage 1" in the reports.
    p.family("llmload_live_stage", Kind::Gauge, "The stage running, 1-based (as the reports number stages).");
    p.sample("llmload_live_stage", &[], (s.stage + 1) as f64);
    histogram(
        &mut p,
        "llmload_live_latency_seconds",
        "Latency from the intended start of successful requests (live buckets; _sum estimated from bucket midpoints, within 3.1%).",
        &s.latency,
    );
    histogram(
        &mut p,
        "llmload_live_ttft_seconds",
        "Time to first token from the intended start of successful requests (live buckets; _sum estimated from bucket midpoints, within 3.1%).",
        &s.ttft,
    );
    p.finish()
}

fn histogram(p: &mut PromText, name: &str, help: &str, b: &Buckets) {
    p.family(name, Kind::Histogram, help);
    let bucket = format!("{name}_bucket");
    let count = b.count();
    for us in bounds_us() {
        let le = format_value(us as f64 / 1e6);
        p.sample(&bucket, &[("le", &le)], b.below(us) as f64);
    }
    p.sample(&bucket, &[("le", "+Inf")], count as f64);
    p.sample(&format!("{name}_sum"), &[], b.sum_estimate() as f64 / 1e6);
    p.sample(&format!("{name}_count"), &[], count as f64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::live::Live;

    #[test]
    fn bounds_are_bucket_boundaries() {
        let b = bounds_us();
        assert_eq!(b[0], 128);
        assert_eq!(b[1], 192);
        assert_eq!(b.len(), 50);
        assert!(b.windows(2).all(|w| w[0] < w[1]));
        for &us in &b {
            assert_eq!(bucket_range(crate::metrics::live::bucket_of(us)).0, us);
        }
    }

    #[test]
    fn histograms_are_cumulative_and_end_with_the_count() {
        let live = Live::new(2);
        for ms in [1u64, 5, 20, 20, 150, 3000] {
            live.of_worker((ms % 2) as usize).latency.record(ms * 1000);
        }
        live.of_worker(0).ttft.record(40_000);
        crate::metrics::live::WorkerCounters::add(&live.of_worker(1).failed, 3);
        live.set_stage(1); // the second stage (0-based index in the engine)
        let text = render(&live.snapshot());
        assert!(text.contains("llmload_live_requests_total{outcome=\"ok\"} 6\n"), "{text}");
        assert!(text.contains("llmload_live_requests_total{outcome=\"failed\"} 3\n"));
        assert!(text.contains("llmload_live_stage 2\n"), "1-based: {text}");
        assert!(text.contains("# TYPE llmload_live_latency_seconds histogram\n"));
        assert!(text.contains("llmload_live_latency_seconds_bucket{le=\"+Inf\"} 6\n"));
        assert!(text.contains("llmload_live_latency_seconds_count 6\n"));
        assert!(text.contains("llmload_live_ttft_seconds_count 1\n"));
        // 1 ms = 1000 µs < 1024 µs; 5 ms < 6144 µs.
        assert!(text.contains("llmload_live_latency_seconds_bucket{le=\"0.001024\"} 1\n"), "{text}");
        assert!(text.contains("llmload_live_latency_seconds_bucket{le=\"0.006144\"} 2\n"), "{text}");
        let mut last = 0.0;
        for line in text.lines().filter(|l| l.starts_with("llmload_live_latency_seconds_bucket")) {
            let v: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
            assert!(v >= last, "{line}");
            last = v;
        }
        let sum: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("llmload_live_latency_seconds_sum "))
            .unwrap()
            .parse()
            .unwrap();
        assert!((sum - 3.196).abs() <= 3.196 / 32.0, "{sum}");
    }
}
