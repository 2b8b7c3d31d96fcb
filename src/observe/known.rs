//! The server metrics llmload recognises by name, so the report can put the server's own
//! view beside the client's: vLLM's (`vllm:`), SGLang's (`sglang:`) and the built-in
//! mock's (`llmload_mock_`). Each figure adds up every label set of its family (all models,
//! all engines); anything not listed here is still in the raw counters, gauges and
//! histograms.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::values::{Acc, GaugeRange, HistAcc, HistogramDelta};

/// The recognised figures of one server over one stage (null: the server has no such
/// metric).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct Known {
    /// Requests the server finished (vLLM `request_success_total`; the mock's requests
    /// other than to /metrics, /health and /v1/models).
    pub requests: Option<f64>,
    /// Time to first token (s).
    pub ttft: Option<HistogramDelta>,
    /// Time spent waiting in the server's queue (s).
    pub queue_time: Option<HistogramDelta>,
    /// End-to-end request latency (s).
    pub e2e: Option<HistogramDelta>,
    /// Inter-token latency (s; vLLM's `time_per_output_token_seconds` on older versions).
    pub itl: Option<HistogramDelta>,
    /// Requests running and waiting (the range of every model's sum).
    pub running: Option<GaugeRange>,
    pub waiting: Option<GaugeRange>,
    /// Prefix-cache tokens hit and queried (vLLM v1), and hits ÷ queries.
    pub prefix_cache_hits: Option<f64>,
    pub prefix_cache_queries: Option<f64>,
    pub prefix_cache_hit_rate: Option<f64>,
    /// Prompt and generated tokens.
    pub prompt_tokens: Option<f64>,
    pub generation_tokens: Option<f64>,
}

const TTFT: &[&str] = &["vllm:time_to_first_token_seconds", "sglang:time_to_first_token_seconds"];
const QUEUE: &[&str] = &["vllm:request_queue_time_seconds", "sglang:queue_time_seconds"];
const E2E: &[&str] = &["vllm:e2e_request_latency_seconds", "sglang:e2e_request_latency_seconds"];
const ITL: &[&str] = &[
    "vllm:inter_token_latency_seconds",
    "vllm:time_per_output_token_seconds",
    "sglang:inter_token_latency_seconds",
];
const RUNNING: &[&str] = &["vllm:num_requests_running", "sglang:num_running_reqs", "llmload_mock_in_flight"];
const WAITING: &[&str] = &["vllm:num_requests_waiting", "sglang:num_queue_reqs"];
const HITS: &[&str] = &["vllm:prefix_cache_hits", "vllm:gpu_prefix_cache_hits"];
const QUERIES: &[&str] = &["vllm:prefix_cache_queries", "vllm:gpu_prefix_cache_queries"];
const PROMPT: &[&str] = &["vllm:prompt_tokens", "vllm:prompt_tokens_total", "sglang:prompt_tokens_total"];
const GENERATION: &[&str] = &[
    "vllm:generation_tokens",
    "vllm:generation_tokens_total",
    "sglang:generation_tokens_total",
    "llmload_mock_tokens_emitted_total",
];
/// The mock's counter of requests, by route: the routes a load test does not send to are
/// left out (the scrapes themselves among them).
const MOCK_REQUESTS: &str = "llmload_mock_requests_total";
const MOCK_NOT_LOAD: &[&str] = &["metrics", "health", "models", "model"];

/// The counter families of `acc` summed (the first of `names` present), if any.
fn counter(acc: &Acc, names: &[&str]) -> Option<f64> {
    names.iter().find_map(|name| {
        let mut it = acc.counters.values().filter(|c| c.family == *name).peekable();
        it.peek()?;
        Some(it.map(|c| c.delta).sum())
    })
}

/// The histogram families of `acc` added up over their label sets (the first present).
fn histogram(acc: &Acc, names: &[&str]) -> Option<HistogramDelta> {
    names.iter().find_map(|name| {
        let parts: Vec<&HistAcc> = acc.hists.values().filter(|h| h.family == *name).collect();
        if parts.is_empty() {
            return None;
        }
        let mut buckets: HashMap<u64, (f64, String, f64)> = HashMap::new();
        let (mut sum, mut count) = (0.0, 0.0);
        for h in parts {
            sum += h.sum;
            count += h.count;
            for (bound, text, n) in &h.buckets {
                buckets.entry(bound.to_bits()).or_insert((*bound, text.clone(), 0.0)).2 += n;
            }
        }
        let buckets: Vec<(f64, String, f64)> = buckets.into_values().collect();
        Some(HistogramDelta::of(&buckets, sum, count))
    })
}

fn gauge(acc: &Acc, names: &[&str]) -> Option<GaugeRange> {
    names.iter().find_map(|name| acc.family_gauges.get(*name).copied())
}

/// The recognised figures of a stage.
pub(crate) fn recognise(acc: &Acc) -> Known {
    let mut requests = counter(acc, &["vllm:request_success_total", "vllm:request_success"]);
    let mock: Vec<f64> = acc
        .counters
        .values()
        .filter(|c| c.family == MOCK_REQUESTS)
        .filter(|c| !c.labels.iter().any(|(k, v)| k == "route" && MOCK_NOT_LOAD.contains(&v.as_str())))
        .map(|c| c.delta)
        .collect();
    if requests.is_none() && acc.counters.values().any(|c| c.family == MOCK_REQUESTS) {
        requests = Some(mock.iter().sum());
    }
    let hits = counter(acc, HITS);
    let queries = counter(acc, QUERIES);
    Known {
        requests,
        ttft: histogram(acc, TTFT),
        queue_time: histogram(acc, QUEUE),
        e2e: histogram(acc, E2E),
        itl: histogram(acc, ITL),
        running: gauge(acc, RUNNING),
        waiting: gauge(acc, WAITING),
        prefix_cache_hits: hits,
        prefix_cache_queries: queries,
        prefix_cache_hit_rate: match (hits, queries) {
            (Some(h), Some(q)) if q > 0.0 => Some(h / q),
            _ => None,
        },
        prompt_tokens: counter(acc, PROMPT),
        generation_tokens: counter(acc, GENERATION),
    }
}
