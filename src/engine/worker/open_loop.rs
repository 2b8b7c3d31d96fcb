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
const DISPATCH_QUANTUM: Duration = Duration::from_micros(200);

/// Arrivals spawned in a row before the dispatcher yields, so the requests it starts get to
/// run even when it is behind its schedule and never sleeps.
const SPAWN_BURST: u32 = 64;

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
    let mut pacer = Pacer::new(stage.start);
    while let Some(offset) = schedule.next_offset() {
        let due = stage.start + Duration::from_secs_f64(offset);
        match pacer.until(ctx, &stage, due).await {
            Due::Now => {}
            Due::Stopped => return,
            Due::Past => {
                // So far behind that the stage is over: this arrival and the rest were never sent.
                let rest = 1 + schedule.skip_before(duration.as_secs_f64());
                drop_arrivals(ctx, &stage, due, rest, true, &mut rng);
                break;
            }
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
        pacer.spawned().await;
    }
    // Hold the stage open until its end.
    let _ = ctx.stopping.sleep_until(stage.end).await;
}

/// What a dispatcher does with an arrival once `Pacer::until` returns.
pub(super) enum Due {
    /// Send it now.
    Now,
    /// The stage is over: it was never sent.
    Past,
    /// The run is stopping.
    Stopped,
}

/// Paces a dispatcher (open loop, trace replay): waits until each arrival is due, with at
/// most one timer wake per `DISPATCH_QUANTUM` (a wake, a context switch, costs more than a
/// request, so arrivals closer together go out in small batches), and yields after every
/// `SPAWN_BURST` arrivals started in a row.
pub(super) struct Pacer {
    last_wake: Instant,
    burst: u32,
}

impl Pacer {
    pub(super) fn new(start: Instant) -> Pacer {
        Pacer { last_wake: start, burst: 0 }
    }

    /// Waits for `due` (now if it has passed).
    pub(super) async fn until<S: Transport>(
        &mut self,
        ctx: &Worker<S>,
        stage: &StageRun,
        due: Instant,
    ) -> Due {
        let now = Instant::now();
        if due > now {
            if ctx.stopping.sleep_until(due.max(self.last_wake + DISPATCH_QUANTUM)).await.is_err() {
                return Due::Stopped;
            }
            self.last_wake = Instant::now();
            self.burst = 0;
        } else if now >= stage.end {
            return Due::Past;
        }
        if ctx.stopped() {
            return Due::Stopped;
        }
        Due::Now
    }

    /// One more arrival started.
    pub(super) async fn spawned(&mut self) {
        self.burst += 1;
        if self.burst >= SPAWN_BURST {
            self.burst = 0;
            yield_now().await;
        }
    }
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
async fn yield_now() {
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
