//! Per-key figures of a key pool in `summary.json`: each key under its index in the run's
//! list of keys and a short id (the first 8 hex digits of its SHA-256, as the mock's
//! per-key counters), never the key.

use serde::{Deserialize, Serialize};

use super::summary::Percentiles;
use crate::metrics::encode;
use crate::metrics::keys::{KeySet, KeyStats, KeyTag};

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
mod tests {
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
