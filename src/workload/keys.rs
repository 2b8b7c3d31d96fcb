//! Key pools at run time: each request takes the next key of its scenario's pool. One
//! counter per pool, shared by every worker (one relaxed atomic add per request, and only
//! with a pool), so round-robin is exact across the whole run however requests fall on
//! workers. Scenarios with the same pool share it.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::metrics::keys::KeyTag;
use crate::profile::keys::{KeyPick, KeyPool};
use crate::wire::ratelimit::key_id;

/// A pool as requests take from it.
pub(crate) struct KeyRing {
    /// The keys with their run-wide tags.
    keys: Vec<(KeyTag, Box<str>)>,
    /// Weighted: the rotation, each key as often as its weight, evenly spread (indexes into
    /// `keys`). Empty for plain round-robin.
    order: Vec<u16>,
    next: AtomicU64,
}

impl KeyRing {
    /// The ring of `pool`; `index` gives each key its run-wide index.
    pub(crate) fn new(pool: &KeyPool, index: &mut dyn FnMut(&str) -> u16) -> KeyRing {
        let keys: Vec<(KeyTag, Box<str>)> = pool
            .keys
            .iter()
            .map(|(k, _)| (KeyTag { index: index(k), id: key_id(k.as_bytes()) }, k.as_str().into()))
            .collect();
        let order = match pool.pick {
            KeyPick::RoundRobin => Vec::new(),
            KeyPick::Weighted => spread(&pool.keys.iter().map(|(_, w)| *w).collect::<Vec<_>>()),
        };
        KeyRing { keys, order, next: AtomicU64::new(0) }
    }

    /// The next key.
    pub(crate) fn pick(&self) -> (KeyTag, &str) {
        let n = self.next.fetch_add(1, Relaxed);
        let i = if self.order.is_empty() {
            (n % self.keys.len() as u64) as usize
        } else {
            usize::from(self.order[(n % self.order.len() as u64) as usize])
        };
        let (tag, key) = &self.keys[i];
        (*tag, key)
    }
}

/// A rotation in which key `i` appears `weights[i]` times, its turns evenly spaced: turn j of
/// key i sits at (j + ½) / weight, and the turns are taken in that order.
fn spread(weights: &[u32]) -> Vec<u16> {
    let mut turns: Vec<(f64, u16)> = Vec::with_capacity(weights.iter().map(|&w| w as usize).sum());
    for (i, &w) in weights.iter().enumerate() {
        for j in 0..w {
            turns.push(((f64::from(j) + 0.5) / f64::from(w), i as u16));
        }
    }
    turns.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    turns.into_iter().map(|(_, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(weights: &[u32], pick: KeyPick) -> KeyPool {
        KeyPool { keys: weights.iter().enumerate().map(|(i, w)| (format!("sk-{i}"), *w)).collect(), pick }
    }

    #[test]
    fn round_robin_and_weighted_take_keys_in_their_shares() {
        let mut seen = Vec::new();
        let mut index = |k: &str| {
            if !seen.iter().any(|s: &String| s == k) {
                seen.push(k.to_string());
            }
            seen.iter().position(|s| s == k).unwrap() as u16
        };
        let ring = KeyRing::new(&pool(&[1, 1, 1], KeyPick::RoundRobin), &mut index);
        let picks: Vec<u16> = (0..7).map(|_| ring.pick().0.index).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(ring.pick().1, "sk-1");
        assert_eq!(ring.pick().0.id, key_id(b"sk-2"));
        let ring = KeyRing::new(&pool(&[3, 1], KeyPick::Weighted), &mut index);
        let picks: Vec<u16> = (0..8).map(|_| ring.pick().0.index).collect();
        // Spread, not in blocks: the light key sits in the middle of each cycle.
        assert_eq!(picks, [0, 0, 1, 0, 0, 0, 1, 0]);
        assert_eq!(spread(&[2, 2, 1]), [0, 1, 2, 0, 1]);
    }
}
