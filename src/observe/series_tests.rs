use super::*;
use crate::observe::exposition::parse;

const BEFORE: &str = "# TYPE vllm:time_to_first_token_seconds histogram\n\
vllm:time_to_first_token_seconds_bucket{le=\"0.01\",model_name=\"m\"} 5\n\
vllm:time_to_first_token_seconds_bucket{le=\"0.1\",model_name=\"m\"} 10\n\
vllm:time_to_first_token_seconds_bucket{le=\"1\",model_name=\"m\"} 10\n\
vllm:time_to_first_token_seconds_bucket{le=\"+Inf\",model_name=\"m\"} 10\n\
vllm:time_to_first_token_seconds_sum{model_name=\"m\"} 0.3\n\
vllm:time_to_first_token_seconds_count{model_name=\"m\"} 10\n\
# TYPE vllm:num_requests_running gauge\n\
vllm:num_requests_running{model_name=\"m\"} 2\n\
# TYPE vllm:request_success counter\n\
vllm:request_success_total{finished_reason=\"stop\",model_name=\"m\"} 10\n\
vllm:request_success_created{finished_reason=\"stop\",model_name=\"m\"} 1.7e9\n\
# TYPE vllm:prefix_cache_queries counter\n\
vllm:prefix_cache_queries_total{model_name=\"m\"} 100\n\
# TYPE vllm:prefix_cache_hits counter\n\
vllm:prefix_cache_hits_total{model_name=\"m\"} 10\n\
restarts_total 7\n";

/// 100 more requests: 50 under 10 ms, 40 under 100 ms, 10 under 1 s; a new finish reason;
/// `restarts_total` reset (the server restarted a counter).
const AFTER: &str = "# TYPE vllm:time_to_first_token_seconds histogram\n\
vllm:time_to_first_token_seconds_bucket{le=\"0.01\",model_name=\"m\"} 55\n\
vllm:time_to_first_token_seconds_bucket{le=\"0.1\",model_name=\"m\"} 100\n\
vllm:time_to_first_token_seconds_bucket{le=\"1\",model_name=\"m\"} 110\n\
vllm:time_to_first_token_seconds_bucket{le=\"+Inf\",model_name=\"m\"} 110\n\
vllm:time_to_first_token_seconds_sum{model_name=\"m\"} 5.3\n\
vllm:time_to_first_token_seconds_count{model_name=\"m\"} 110\n\
# TYPE vllm:num_requests_running gauge\n\
vllm:num_requests_running{model_name=\"m\"} 9\n\
# TYPE vllm:request_success counter\n\
vllm:request_success_total{finished_reason=\"stop\",model_name=\"m\"} 105\n\
vllm:request_success_total{finished_reason=\"length\",model_name=\"m\"} 5\n\
# TYPE vllm:prefix_cache_queries counter\n\
vllm:prefix_cache_queries_total{model_name=\"m\"} 1100\n\
# TYPE vllm:prefix_cache_hits counter\n\
vllm:prefix_cache_hits_total{model_name=\"m\"} 510\n\
restarts_total 3\n";

#[test]
fn a_stage_holds_the_increase_between_its_scrapes() {
    let mut t = Tracker::default();
    t.scraped(&parse(BEFORE));
    let warm = t.close("u");
    assert_eq!(warm.counters.len(), 0, "the first scrape is the baseline: {:?}", warm.counters);
    t.scraped(&parse(BEFORE));
    t.scraped(&parse(AFTER));
    t.failed("connection refused".into());
    let f = t.close("http://h/metrics");
    assert_eq!((f.scrapes, f.failed_scrapes), (2, 1));
    assert_eq!(f.last_error.as_deref(), Some("connection refused"));
    let k = &f.known;
    assert_eq!(k.requests, Some(100.0), "95 stop + 5 length (a series new since the baseline)");
    assert_eq!(f.counters["restarts_total"], 3.0, "a reset counts from zero");
    let ttft = k.ttft.as_ref().unwrap();
    assert_eq!((ttft.count, ttft.sum), (100.0, 5.0));
    assert_eq!(ttft.mean, Some(0.05));
    // Rank 50 of 100 is the last of the first bucket (50 under 10 ms).
    assert!((ttft.p50.unwrap() - 0.01).abs() < 1e-12, "{ttft:?}");
    // Rank 90: the 40th of the 40 between 10 and 100 ms.
    assert!((ttft.p90.unwrap() - 0.1).abs() < 1e-12, "{ttft:?}");
    // Rank 99: the 9th of the 10 between 0.1 and 1 s: 0.1 + 0.9 × 9/10.
    assert!((ttft.p99.unwrap() - 0.91).abs() < 1e-12, "{ttft:?}");
    assert_eq!(ttft.buckets.last().unwrap(), &("+Inf".to_string(), 100.0));
    assert_eq!(k.running, Some(GaugeRange { min: 2.0, max: 9.0, last: 9.0 }));
    assert_eq!((k.prefix_cache_hits, k.prefix_cache_queries), (Some(500.0), Some(1000.0)));
    assert_eq!(k.prefix_cache_hit_rate, Some(0.5));
    assert!(!f.counters.keys().any(|k| k.contains("_created")), "timestamps are not counters");
    assert!(
        f.histograms.contains_key(r#"vllm:time_to_first_token_seconds{model_name="m"}"#),
        "{:?}",
        f.histograms
    );
    // The next stage starts from the last values.
    t.scraped(&parse(AFTER));
    let next = t.close("u");
    assert_eq!(next.known.requests, Some(0.0));
    assert!(next.histograms.is_empty());
}

#[test]
fn quantiles_fall_in_the_highest_finite_bucket_and_none_without_observations() {
    let b = |v: &[(f64, f64)]| -> Vec<(f64, String, f64)> {
        v.iter()
            .map(|(le, n)| (*le, if le.is_infinite() { "+Inf".into() } else { le.to_string() }, *n))
            .collect()
    };
    let h = HistogramDelta::of(&b(&[(f64::INFINITY, 10.0), (0.5, 2.0)]), 30.0, 10.0);
    assert_eq!(h.p50, Some(0.5), "most are above the last finite bound");
    assert_eq!(h.buckets[0].0, "0.5", "sorted by bound");
    let empty = HistogramDelta::of(&b(&[(0.5, 0.0), (f64::INFINITY, 0.0)]), 0.0, 0.0);
    assert_eq!((empty.mean, empty.p50), (None, None));
}

#[test]
fn series_beyond_the_bound_are_counted_not_kept() {
    let mut text = String::new();
    for i in 0..MAX_RAW + 5 {
        text.push_str(&format!("c_total{{i=\"{i}\"}} {i}\n"));
    }
    let zeros: String = (0..MAX_RAW + 5).map(|i| format!("c_total{{i=\"{i}\"}} 0\n")).collect();
    let mut t2 = Tracker::default();
    t2.scraped(&parse(&zeros));
    t2.scraped(&parse(&text));
    let f = t2.close("u");
    // Series 0 did not increase; the other 204 did, 200 are written.
    assert_eq!(f.counters.len(), MAX_RAW);
    assert_eq!(f.series_left_out, 4);
}
