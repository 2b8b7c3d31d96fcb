//! Open loop: arrivals on an absolute schedule, split across workers, dispatched in batches
//! every time the timer fires. Latency counts from the intended arrival time, so a server
//! that stalls shows it (no coordinated omission); the send lag (actual − intended) is
//! recorded beside it. Arrivals beyond `max_inflight` are dropped and counted, and so are
//! those still unsent when the stage ends (the generator fell behind): a stage never runs
//! past its end, however far behind the schedule it is.

use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::conversation::{start, Turns};
use super::{StageRun, Worker};
use crate::engine::schedule::Schedule;
use crate::http::conn::Transport;

/// Shortest time between two timer wakes of the dispatcher: bounds the send lag it adds
/// (p99 goal: 1 ms) while cutting wakes at high rates (20k/s: from 20k to 5k wakes/s).
pub(super) const DISPATCH_QUANTUM: Duration = Duration::from_micros(200);

/// Arrivals spawned in a row before the dispatcher yields, so the requests it starts get to
/// run even when it is behind its schedule and never sleeps.
pub(super) const SPAWN_BURST: u32 = 64;

/// Runs this worker's share of the stage's arrivals until the stage ends.
pub(crate) async fn run<S: Transport>(
    ctx: &Rc<Worker<S>>,
    stage: StageRun,
    from: f64,
    to: f64,
    duration: Duration,
    seed: u64,
) {
    // Every worker of every shard takes an equal part of the rate; constant schedules are
    // phase-shifted by the worker's global position so the parts interleave evenly.
    let shard = ctx.config.shard;
    let parts = (shard.count * ctx.workers) as f64;
    let phase = (shard.index * ctx.workers + ctx.index) as f64 / parts;
    let mut schedule =
        Schedule::new(from / parts, to / parts, duration.as_secs_f64(), ctx.config.arrival, seed)
            .phase(phase);
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5bd1_e995);
    let mut arrivals = 0u64;
    let mut last_wake = stage.start;
    let mut burst = 0;
    while let Some(offset) = schedule.next_offset() {
        let due = stage.start + Duration::from_secs_f64(offset);
        let now = Instant::now();
        if due > now {
            // At most one timer wake per DISPATCH_QUANTUM: a wake (a context switch) costs more
            // than a request, so arrivals closer together than that go out in small batches.
            if ctx.stopping.sleep_until(due.max(last_wake + DISPATCH_QUANTUM)).await.is_err() {
                return;
            }
            last_wake = Instant::now();
            burst = 0;
        } else if now >= stage.end {
            // So far behind that the stage is over: this arrival and the rest were never sent.
            let rest = 1 + schedule.skip_before(duration.as_secs_f64());
            drop_arrivals(ctx, &stage, due, rest, true, &mut rng);
            break;
        }
        if ctx.stopped() {
            return;
        }
        if ctx.busy.get() >= ctx.max_inflight {
            // At the in-flight limit: this arrival and every other one already due are dropped
            // in one step (a generator far behind must not spin through them one by one).
            let also_due = schedule.skip_before(stage.start.elapsed().as_secs_f64());
            drop_arrivals(ctx, &stage, due, 1 + also_due, false, &mut rng);
            continue;
        }
        let scenario = ctx.workload.scenario_for_arrival(rng.gen());
        arrivals += 1;
        let session = ctx.workload.session(scenario, seed.wrapping_add(arrivals));
        start(ctx, stage, due, Turns::Think(session));
        burst += 1;
        if burst >= SPAWN_BURST {
            burst = 0;
            yield_now().await;
        }
    }
    // Hold the stage open until its end.
    let _ = ctx.stopping.sleep_until(stage.end).await;
}

/// Counts `n` arrivals (the first due at `due`) that were never sent, split between the
/// scenarios.
pub(super) fn drop_arrivals<S: Transport>(
    ctx: &Worker<S>,
    stage: &StageRun,
    due: Instant,
    n: u64,
    behind: bool,
    rng: &mut SmallRng,
) {
    if n == 1 {
        ctx.dropped(stage, due, ctx.workload.scenario_for_arrival(rng.gen()), 1, behind);
        return;
    }
    let split = ctx.workload.split_arrivals(n, &mut || rng.gen());
    for (scenario, k) in split.into_iter().enumerate().filter(|(_, k)| *k > 0) {
        ctx.dropped(stage, due, scenario, k, behind);
    }
}

/// Lets every other ready task of this thread run once.
pub(super) async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if std::mem::replace(&mut yielded, true) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}
