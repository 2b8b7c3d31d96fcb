//! Shards: this process runs part K of N of a distributed run (`--shard K/N`, K from 0, as
//! Kubernetes' JOB_COMPLETION_INDEX). Users are numbered globally, so scenario apportionment
//! and ramps come out the same as one process running everything; open-loop rates are divided
//! and each worker's constant schedule is phase-shifted, so N shards together keep the exact
//! total and the even spacing of one process.

use std::fmt;

use crate::profile::stages::Load;

/// Part `index` of `count` (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Default for Shard {
    fn default() -> Shard {
        Shard { index: 0, count: 1 }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// `total` split as evenly as possible: part `index` of `parts` (remainders go to the
/// first parts, so the parts sum to the total).
pub(crate) fn share(total: u32, parts: usize, index: usize) -> u32 {
    let p = parts.max(1) as u32;
    total / p + u32::from((index as u32) < total % p)
}

impl Shard {
    /// Parses `K/N` (0 ≤ K < N); the error says what is wrong.
    pub(crate) fn parse(text: &str) -> Result<Shard, String> {
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?}: expected K/N, e.g. 0/4 (K counts from 0)"))?;
        let k: usize = k.trim().parse().map_err(|_| format!("{text:?}: K {k:?} is not a whole number"))?;
        let n: usize = n.trim().parse().map_err(|_| format!("{text:?}: N {n:?} is not a whole number"))?;
        if n == 0 {
            return Err(format!("{text:?}: the shard count N must be at least 1"));
        }
        if k >= n {
            return Err(format!("{text:?}: K must be below N (shards are numbered 0..{})", n - 1));
        }
        Ok(Shard { index: k, count: n })
    }

    /// A seed for this shard: distinct per shard (so conversation ids never collide), equal
    /// to `seed` for an unsharded run.
    pub(crate) fn seed(&self, seed: u64) -> u64 {
        if self.count == 1 {
            seed
        } else {
            seed ^ (self.index as u64 + 1).wrapping_mul(0xd6e8_feb8_6659_fd93)
        }
    }

    /// Worker `worker`'s part (of `workers` in this shard) of a whole-run count such as
    /// `--connections`: the shard's share, then the worker's share of that, so the parts of
    /// every shard and worker add up to `total` exactly.
    pub(crate) fn worker_part(&self, total: usize, workers: usize, worker: usize) -> usize {
        share(share(total as u32, self.count, self.index), workers, worker) as usize
    }

    /// How many of `total` globally numbered users are this shard's: users are dealt out in
    /// turn, user `u` to shard `u mod N`.
    pub(crate) fn users(&self, total: u32) -> u32 {
        share(total, self.count, self.index)
    }

    /// The global indices of the users of `total` that worker `worker` (of `workers`) of this
    /// shard runs, in order: the shard's users dealt out in turn to its workers, so a user
    /// belongs to the same worker whatever the stage's user count, and a ramp (which starts
    /// users in global order) adds load to every worker alike.
    pub(crate) fn users_of(&self, total: u32, workers: usize, worker: usize) -> impl Iterator<Item = u32> {
        let (n, w) = (self.count as u32, workers.max(1) as u32);
        let first = self.index as u32 + n * worker as u32;
        (first..total).step_by((n * w) as usize)
    }

    /// This shard's part of a stage's load, as the workers run it: rates divided by N; of a
    /// closed loop's globally numbered users, those of this shard active at the start and
    /// at the end of the stage (a ramp starts users in global order, dealt out in turn).
    pub(crate) fn part(&self, load: Load) -> Load {
        match load {
            Load::Open { from, to } => {
                let n = self.count as f64;
                Load::Open { from: from / n, to: to / n }
            }
            Load::Closed { from, to } => Load::Closed { from: self.users(from), to: self.users(to) },
            // Each worker of each shard replays the records dealt to it (see `trace_loop`).
            Load::Trace { records } => Load::Trace { records },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(Shard::parse("2/4").unwrap(), Shard { index: 2, count: 4 });
        assert_eq!(Shard::parse("0/1").unwrap().to_string(), "0/1");
        for bad in ["4/4", "1/0", "x/2", "1", "-1/2", "1/2/3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        assert!(Shard::parse("0/0").unwrap_err().contains("at least 1"));
    }

    #[test]
    fn users_add_up_and_do_not_overlap() {
        for total in [0u32, 1, 5, 10, 101] {
            for n in 1..7 {
                for workers in 1..4 {
                    let mut all: Vec<u32> = Vec::new();
                    for k in 0..n {
                        let shard = Shard { index: k, count: n };
                        let mut mine = 0;
                        for w in 0..workers {
                            let users: Vec<u32> = shard.users_of(total, workers, w).collect();
                            assert_eq!(users.len() as u32, share(shard.users(total), workers, w));
                            // The same user on the same worker whatever the total.
                            let more: Vec<u32> = shard.users_of(total + 7, workers, w).collect();
                            assert_eq!(&more[..users.len()], &users[..]);
                            mine += users.len() as u32;
                            all.extend(users);
                        }
                        assert_eq!(mine, shard.users(total));
                    }
                    all.sort_unstable();
                    assert_eq!(
                        all,
                        (0..total).collect::<Vec<_>>(),
                        "{total} users, {n} shards, {workers} workers"
                    );
                }
            }
        }
    }

    #[test]
    fn parts_of_a_load() {
        let (a, b) = (Shard { index: 0, count: 2 }, Shard { index: 1, count: 2 });
        assert_eq!(a.part(Load::Open { from: 40.0, to: 40.0 }), Load::Open { from: 20.0, to: 20.0 });
        assert_eq!(b.part(Load::Closed { from: 5, to: 5 }), Load::Closed { from: 2, to: 2 });
        assert_eq!(a.part(Load::Closed { from: 5, to: 5 }), Load::Closed { from: 3, to: 3 });
        // A ramp 2..10: even users are shard 0's, odd ones shard 1's.
        assert_eq!(a.part(Load::Closed { from: 2, to: 10 }), Load::Closed { from: 1, to: 5 });
        assert_eq!(b.part(Load::Closed { from: 2, to: 10 }), Load::Closed { from: 1, to: 5 });
        assert_eq!(b.part(Load::Closed { from: 10, to: 6 }), Load::Closed { from: 5, to: 3 });
        assert_eq!(Shard::default().part(Load::Closed { from: 3, to: 7 }), Load::Closed { from: 3, to: 7 });
    }

    #[test]
    fn seeds_differ_per_shard() {
        let a = Shard { index: 0, count: 2 }.seed(1);
        let b = Shard { index: 1, count: 2 }.seed(1);
        assert_ne!(a, b);
        assert_eq!(Shard::default().seed(1), 1);
    }
}
