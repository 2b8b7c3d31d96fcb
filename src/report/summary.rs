//! `summary.json`: versioned, machine-readable figures per stage × scenario (and ALL).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::engine::{RunResult, StageResult};
use crate::metrics::encode;
use crate::metrics::keys::{KeySet, KeyStats, KeyTag};
pub(crate) use crate::metrics::timeline::Second;
use crate::metrics::{Counters, Metric, Stats};
use crate::units::per_second;

/// Facts about the run that are not measurements.
pub(crate) struct RunInfo {
    pub target: String,
    pub fd_limit: u64,
    /// Each endpoint and how long resolving it took (once, at start).
    pub dns: Vec<(String, std::time::Duration)>,
    /// The tokenizer that counted every request on the client, if any.
    pub tokenizer: Option<String>,
}

/// Bumped on any change of the layout (docs/metrics.md lists them; docs/summary.schema.json
/// describes the current one).
pub(crate) const SCHEMA_VERSION: u32 = 7;

/// The versions this llmload reads. Version 2 has the same fields as 3 (only the order of a
/// figures object differs: the counters all come before the rates now).
pub(crate) const READS: [u32; 6] = [2, 3, 4, 5, 6, 7];

/// Percentiles of one histogram, in microseconds.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p95: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        let q = |v: f64| if h.is_empty() { 0 } else { h.value_at_quantile(v) };
        Percentiles {
            count: h.len(),
            min: if h.is_empty() { 0 } else { h.min() },
            mean: if h.is_empty() { 0.0 } else { h.mean() },
            p50: q(0.5),
            p90: q(0.9),
            p95: q(0.95),
            p99: q(0.99),
            p999: q(0.999),
            max: if h.is_empty() { 0 } else { h.max() },
        }
    }
}

/// The figures of one stage × scenario: its counters as they are (every one of [`Counters`],
/// so the figures turn back into `Stats` exactly, see `report::view`), the rates and shares
/// derived from them, percentiles and histograms.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Figures {
    #[serde(flatten)]
    pub counters: Counters,
    /// Throughput: `served` ÷ the window (what the server completed per second).
    pub rps: f64,
    /// `served_ok` ÷ the window.
    pub ok_rps: f64,
    /// Offered load: (requests + dropped) ÷ the window.
    pub offered_rps: f64,
    pub ok_rate: f64,
    /// Share of requests within their scenario's SLOs.
    pub goodput: f64,
    /// `served_tokens` ÷ the window.
    pub output_tokens_per_s: f64,
    /// With a tokenizer: the share of `tokenizer_compared` whose usage prompt (completion)
    /// count differs from the tokenizer's; 0 when nothing was compared.
    #[serde(default)]
    pub tokenizer_prompt_disagreement: f64,
    #[serde(default)]
    pub tokenizer_completion_disagreement: f64,
    /// Token-weighted prompt cache hit ratio (`Counters::cache_hit_ratio`): null when no
    /// response reported the cache.
    #[serde(default)]
    pub cache_hit_ratio: Option<f64>,
    /// Percentiles per metric (µs).
    pub us: BTreeMap<String, Percentiles>,
    /// Every non-empty histogram (µs), HdrHistogram V2 DEFLATE base64, for exact
    /// recomputation and merging.
    pub histograms: BTreeMap<String, String>,
    /// Per pool key (`api_keys`, `--vk-file`), by index; empty without a key pool.
    #[serde(default)]
    pub keys: Vec<KeyFigures>,
}

impl std::ops::Deref for Figures {
    type Target = Counters;
    fn deref(&self) -> &Counters {
        &self.counters
    }
}

impl Figures {
    /// The figures of `s` over a measurement window of `steady_secs`: every derived figure
    /// is computed here, and only here.
    pub fn of(s: &Stats, steady_secs: f64) -> Figures {
        let secs = steady_secs;
        let share = |n: u64| if s.judged() > 0 { n as f64 / s.judged() as f64 } else { 0.0 };
        let compared = |n: u64| {
            if s.tokenizer_compared > 0 {
                n as f64 / s.tokenizer_compared as f64
            } else {
                0.0
            }
        };
        Figures {
            counters: s.counters.clone(),
            rps: per_second(s.served, secs),
            ok_rps: per_second(s.served_ok, secs),
            offered_rps: per_second(s.requests + s.dropped, secs),
            ok_rate: share(s.ok),
            goodput: share(s.good),
            output_tokens_per_s: per_second(s.served_tokens, secs),
            tokenizer_prompt_disagreement: compared(s.tokenizer_prompt_mismatch),
            tokenizer_completion_disagreement: compared(s.tokenizer_completion_mismatch),
            cache_hit_ratio: s.cache_hit_ratio(),
            us: Metric::ALL
                .iter()
                .map(|m| (m.name().to_string(), Percentiles::of(s.hists.get(*m))))
                .collect(),
            histograms: Metric::ALL
                .iter()
                .filter(|m| !s.hists.get(**m).is_empty())
                .map(|m| (m.name().to_string(), crate::metrics::encode::encode(s.hists.get(*m))))
                .collect(),
            keys: KeyFigures::of(&s.keys),
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct StageSummary {
    pub stage: String,
    pub duration_s: f64,
    /// The measurement window (rates are over it): duration − warmup, or up to the interrupt.
    pub steady_s: f64,
    pub wall_s: f64,
    /// Stopped by a signal before its planned end.
    pub interrupted: bool,
    pub worker_cpu_s: Vec<f64>,
    /// Per-turn records lost because `results.jsonl` fell behind.
    pub sink_dropped: u64,
    /// The most connections being opened at once, per worker (at most the connect cap).
    #[serde(default)]
    pub connecting_peak: Vec<usize>,
    pub generator_findings: Vec<String>,
    /// The tokenizer that counted its requests on the client (`null`: none); its counts and
    /// disagreement with the server's usage are in each figures object.
    #[serde(default)]
    pub tokenizer: Option<String>,
    /// What the target did that the rates alone do not say (see `health::target_findings`).
    #[serde(default)]
    pub target_findings: Vec<String>,
    pub scenarios: BTreeMap<String, Figures>,
    pub all: Figures,
    /// `--pid`/`--cgroup`: each sampled gateway's CPU and memory in the stage, by name.
    #[serde(default)]
    pub resources: BTreeMap<String, crate::observe::ResourceFigures>,
    /// `--scrape`: each server's own metrics over the stage, by name.
    #[serde(default)]
    pub server_metrics: BTreeMap<String, crate::observe::ServerFigures>,
}

/// One run a merged summary was made from.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct MergedRun {
    pub run_id: String,
    /// Its `shard` (`K/N`), empty when it was not a shard.
    pub shard: String,
}

/// A fresh run id: 128 random bits in hex (from the OS-seeded thread RNG), unique across
/// hosts and repeated runs.
pub(crate) fn new_run_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Facts about how the run was made (not measurements).
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct Meta {
    /// Unique per run (and per merge): `merge` refuses a run given twice by it. Empty in
    /// summaries written before run ids existed.
    #[serde(default)]
    pub run_id: String,
    /// The command line, with secrets replaced by `<redacted>`.
    pub command: Vec<String>,
    /// Where the profile came from (a path, `flags` or `built-in quickstart`).
    pub profile_origin: String,
    /// The effective profile (secrets redacted), as JSON.
    pub profile: serde_json::Value,
    /// SHA-256 of the profile as loaded (hex): runs with equal hashes are comparable.
    pub profile_sha256: String,
    /// Unix time (µs) the run started and ended.
    pub start_unix_us: u64,
    pub end_unix_us: u64,
    pub host: String,
    pub cores: Vec<usize>,
    /// Open-loop arrivals queued for fixed connections (changes the health findings).
    pub fixed_connections: bool,
    /// `K/N` when this process ran one shard of a distributed run; empty otherwise.
    pub shard: String,
    /// `--start-at` (unix µs), and how far from it the first stage really started (µs,
    /// positive = late).
    #[serde(default)]
    pub start_at_unix_us: Option<u64>,
    #[serde(default)]
    pub start_skew_us: Option<i64>,
    /// Runs merged into this one (their hosts), empty for a single run.
    pub merged_from: Vec<String>,
    /// The single runs merged into this one (through nested merges too), each once.
    #[serde(default)]
    pub merged_runs: Vec<MergedRun>,
    /// Caveats about how the figures were obtained (e.g. rebuilt from results.jsonl).
    #[serde(default)]
    pub notes: Vec<String>,
    /// The protocol of each scenario (scenario name → protocol name).
    #[serde(default)]
    pub protocols: BTreeMap<String, String>,
    /// The run's seed (`--seed` repeats its prompts, conversation ids and schedule), and
    /// where it came from: `--seed`, `profile` or `random` (drawn for this run).
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub seed_source: String,
    /// `tokenizer` / `--tokenizer`: what sized the prompts exactly and counted every request
    /// on the client (`null`: none).
    #[serde(default)]
    pub tokenizer: Option<String>,
    /// Every limit the run was judged by (threshold name → limit): the profile's thresholds
    /// and the defaults (`error_rate` when the profile sets none, `ok_requests` ≥ 1).
    /// `merge` judges the merged figures by the same.
    #[serde(default)]
    pub limits: Vec<crate::metrics::Limit>,
    /// Warnings about the profile (nexus-compatible coercions and the like).
    #[serde(default)]
    pub warnings: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Summary {
    pub schema_version: u32,
    pub llmload_version: String,
    #[serde(default)]
    pub meta: Meta,
    pub target: String,
    /// Resolution time of each endpoint host (resolved once at start), µs.
    pub dns_us: BTreeMap<String, u64>,
    pub driver: String,
    pub workers: usize,
    pub fd_limit: u64,
    pub generator_bound: bool,
    /// Stopped by a signal: only the stages listed completed.
    pub interrupted: bool,
    pub stages: Vec<StageSummary>,
    pub thresholds: Vec<super::thresholds::Check>,
    /// All thresholds passed (true when there are none).
    pub pass: bool,
    /// Per-second samples of the live counters.
    #[serde(default)]
    pub timeline: Vec<Second>,
}

fn stage_summary(r: &StageResult, names: &[String], info: &RunInfo, fixed_connections: bool) -> StageSummary {
    let secs = r.steady.as_secs_f64();
    StageSummary {
        stage: r.stage.to_string(),
        duration_s: r.stage.duration.as_secs_f64(),
        steady_s: secs,
        wall_s: r.wall.as_secs_f64(),
        interrupted: r.interrupted,
        worker_cpu_s: r.worker_cpu.iter().map(|d| d.as_secs_f64()).collect(),
        sink_dropped: r.sink_dropped,
        connecting_peak: r.connecting_peak.clone(),
        generator_findings: super::health::stage_findings(r, fixed_connections),
        tokenizer: info.tokenizer.clone(),
        target_findings: {
            let mut f = super::health::target_findings(r);
            f.extend(super::health::reasoning_findings(r, names));
            f
        },
        scenarios: names.iter().cloned().zip(r.scenarios.iter().map(|s| Figures::of(s, secs))).collect(),
        all: Figures::of(&r.all, secs),
        // Filled by `observed::attach` when the run watched its target.
        resources: BTreeMap::new(),
        server_metrics: BTreeMap::new(),
    }
}

/// Builds the summary of a run.
pub(crate) fn build(run: &RunResult, info: &RunInfo, checks: &[super::thresholds::Check]) -> Summary {
    Summary {
        schema_version: SCHEMA_VERSION,
        llmload_version: env!("CARGO_PKG_VERSION").to_string(),
        meta: Meta::default(),
        target: info.target.clone(),
        dns_us: info.dns.iter().map(|(h, d)| (h.clone(), d.as_micros() as u64)).collect(),
        driver: run.driver.to_string(),
        workers: run.workers,
        fd_limit: info.fd_limit,
        generator_bound: super::health::generator_bound(run),
        interrupted: run.interrupted,
        stages: run
            .stages
            .iter()
            .map(|s| stage_summary(s, &run.scenarios, info, run.fixed_connections))
            .collect(),
        thresholds: checks.to_vec(),
        pass: checks.iter().all(|c| c.pass),
        timeline: run.timeline.clone(),
    }
}

// Per-key figures of a key pool: each key under its index in the run's list of keys and a
// short id (the first 8 hex digits of its SHA-256, as the mock's per-key counters), never
// the key.

/// One key's figures in one stage × scenario (or ALL).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct KeyFigures {
    /// The key's place in the run's keys (first seen first), from 0.
    pub index: u16,
    /// The first 8 hex digits of the key's SHA-256.
    pub id: String,
    pub requests: u64,
    pub ok: u64,
    pub failed: u64,
    /// Cancelled at a stage's end or by the client's `cancel`.
    pub cancelled: u64,
    /// 429 and 529 responses, every attempt's.
    pub rate_limited: u64,
    /// Retry-policy attempts after the first.
    pub retries: u64,
    /// `ok` ÷ `requests` (0 without requests).
    pub ok_rate: f64,
    /// Latency of the successful requests (µs, 2 significant digits).
    pub latency_us: Percentiles,
    /// That histogram, HdrHistogram V2 DEFLATE base64 (empty when no request succeeded).
    pub latency_histogram: String,
}

impl KeyFigures {
    /// The figures of every key of `set`.
    pub fn of(set: &KeySet) -> Vec<KeyFigures> {
        set.0
            .iter()
            .map(|k| KeyFigures {
                index: k.tag.index,
                id: String::from_utf8_lossy(&k.tag.id).into_owned(),
                requests: k.requests,
                ok: k.ok,
                failed: k.failed,
                cancelled: k.cancelled,
                rate_limited: k.rate_limited,
                retries: k.retries,
                ok_rate: if k.requests > 0 { k.ok as f64 / k.requests as f64 } else { 0.0 },
                latency_us: Percentiles::of(&k.latency),
                latency_histogram: if k.latency.is_empty() {
                    String::new()
                } else {
                    encode::encode(&k.latency)
                },
            })
            .collect()
    }

    /// The key set these figures were made from (for merging and judging again).
    pub fn to_set(list: &[KeyFigures]) -> Result<KeySet, String> {
        let mut set = KeySet::default();
        for f in list {
            let mut id = [b'0'; 8];
            if f.id.len() != 8 || !f.id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("keys[{}].id: {:?} is not 8 hex digits", f.index, f.id));
            }
            id.copy_from_slice(f.id.as_bytes());
            let mut k = KeyStats::new(KeyTag { index: f.index, id });
            (k.requests, k.ok, k.failed, k.cancelled) = (f.requests, f.ok, f.failed, f.cancelled);
            (k.rate_limited, k.retries) = (f.rate_limited, f.retries);
            if !f.latency_histogram.is_empty() {
                let h =
                    encode::decode(&f.latency_histogram).map_err(|e| format!("keys[{}]: {e}", f.index))?;
                k.latency.add(&h).map_err(|e| format!("keys[{}]: {e:?}", f.index))?;
            }
            set.of(k.tag).add(&k);
        }
        Ok(set)
    }
}

#[cfg(test)]
mod key_tests {
    use super::*;
    use crate::metrics::Outcome;
    use std::time::{Duration, Instant};

    #[test]
    fn key_figures_turn_back_into_the_set() {
        let t0 = Instant::now();
        let mut set = KeySet::default();
        for (index, status) in [(0, 200), (1, 429), (1, 200)] {
            let mut o = Outcome::new(t0);
            o.key = Some(KeyTag { index, id: *b"0a1b2c3d" });
            o.status = status;
            o.throttle.rate_limited = u32::from(status == 429);
            o.end = t0 + Duration::from_millis(20);
            set.record(&o);
        }
        let figs = KeyFigures::of(&set);
        assert_eq!((figs[1].requests, figs[1].rate_limited, figs[1].ok_rate), (2, 1, 0.5));
        assert!((19_000..=21_000).contains(&figs[0].latency_us.p50), "{}", figs[0].latency_us.p50);
        let again = KeyFigures::of(&KeyFigures::to_set(&figs).unwrap());
        assert_eq!(serde_json::to_value(&again).unwrap(), serde_json::to_value(&figs).unwrap());
        let mut bad = figs.clone();
        bad[0].id = "sk-secret".into();
        assert!(KeyFigures::to_set(&bad).unwrap_err().starts_with("keys[0].id"));
    }
}

#[cfg(test)]
#[path = "summary_schema_tests.rs"]
mod schema_tests;
