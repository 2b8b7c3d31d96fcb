//! Trace replay: each record is an open-loop arrival at its recorded time × time_scale from
//! the stage start (latency from that intended time, as in every open-loop stage). Every
//! worker of every shard streams the file and takes the records dealt to it (a session's
//! records all go to one worker, by a hash of its id), so the file is never held in memory.
//! A session's first record starts a conversation; its later records are handed to that
//! conversation through a `Feed`, each sent at its recorded time or when the reply before it
//! came, whichever is later; a conversation waits for its next record as long as one may come. Drops are counted as in the open loop: at the in-flight limit,
//! and every record still unsent when the stage ends.

use std::collections::HashMap;
use std::rc::{Rc, Weak};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::conversation::{start, Turns};
use super::feed::Feed;
use super::open_loop::{Due, Pacer};
use super::{StageRun, Worker};
use crate::data::trace::TraceReader;
use crate::http::conn::Transport;
use crate::profile::stages::TraceStage;

/// A session seen by this worker: its conversation (while it runs) and the session's records
/// so far.
struct Live {
    feed: Weak<Feed>,
    seen: u32,
}

/// The sessions of a replay. However the replay ends, every conversation still waiting for a
/// record is told that none will come.
#[derive(Default)]
struct Sessions(HashMap<String, Live>);

impl Drop for Sessions {
    fn drop(&mut self) {
        self.0.values().filter_map(|l| l.feed.upgrade()).for_each(|f| f.close());
    }
}

/// FNV-1a: a stable hash, so every worker deals a session to the same place.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Replays this worker's records of the trace until the stage ends.
pub(crate) async fn run<S: Transport>(ctx: &Rc<Worker<S>>, stage: StageRun, trace: &TraceStage, seed: u64) {
    let shard = ctx.config.shard;
    let parts = (shard.count * ctx.workers) as u64;
    let part = (shard.index * ctx.workers + ctx.index) as u64;
    // The file was scanned whole before the run; if it changed since, the replay stops at
    // the first record that no longer reads.
    let Ok(reader) = TraceReader::open(&trace.path, trace.format) else { return };
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5bd1_e995);
    let mut sessions = Sessions::default();
    let (mut arrivals, mut pacer) = (0u64, Pacer::new(stage.start));
    let mut behind = false;
    let records = reader.take(trace.limit.unwrap_or(u64::MAX) as usize).enumerate();
    for (i, record) in records {
        let Ok(record) = record else { break };
        let owner = record.session.as_deref().map_or(i as u64, fnv);
        if owner % parts != part {
            continue;
        }
        let due = stage.start + trace.offset(record.offset_us);
        if behind {
            ctx.dropped(&stage, due, ctx.workload.scenario_for_arrival(rng.gen()), 1, true);
            continue;
        }
        match pacer.until(ctx, &stage, due).await {
            Due::Now => {}
            Due::Stopped => return,
            Due::Past => {
                // So far behind that the stage is over: this record and the rest were never sent.
                behind = true;
                ctx.dropped(&stage, due, ctx.workload.scenario_for_arrival(rng.gen()), 1, true);
                continue;
            }
        }
        // A session's later record goes to its conversation, if that still runs; else it
        // starts one as long as what is left of the session (its start was dropped, or the
        // conversation ended on a failed turn).
        let mut left = 1;
        if let Some(id) = record.session.as_deref() {
            let total = trace.info.sessions.get(id).map_or(1, |s| s.turns);
            let live = sessions.0.entry(id.to_string()).or_insert(Live { feed: Weak::new(), seen: 0 });
            live.seen += 1;
            left = total.saturating_sub(live.seen - 1).max(1);
            let feed = live.feed.upgrade();
            let last = live.seen >= total;
            if last {
                sessions.0.remove(id);
            }
            if let Some(feed) = feed {
                feed.push((due, record, left));
                if last {
                    feed.close();
                }
                continue;
            }
        }
        if ctx.busy.get() >= ctx.max_inflight {
            ctx.dropped(&stage, due, ctx.workload.scenario_for_arrival(rng.gen()), 1, false);
            continue;
        }
        let scenario = ctx.workload.scenario_for_arrival(rng.gen());
        arrivals += 1;
        let mut session = ctx.workload.replay(scenario, seed.wrapping_add(arrivals), trace.block_tokens);
        let feed = Rc::new(Feed::new(left, seed.wrapping_add(arrivals).rotate_left(17), trace.block_tokens));
        match record.session.as_deref().and_then(|id| sessions.0.get_mut(id)) {
            Some(live) => live.feed = Rc::downgrade(&feed),
            // A session's last record (or one without a session): nothing will follow it.
            None => feed.close(),
        }
        session.feed(record, left);
        start(ctx, stage, due, Turns::Trace(session, feed));
        pacer.spawned().await;
    }
    // No record follows: conversations waiting for one end now.
    drop(sessions);
    // Hold the stage open until its end.
    let _ = ctx.stopping.sleep_until(stage.end).await;
}
