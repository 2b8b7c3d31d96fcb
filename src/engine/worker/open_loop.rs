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

use super::trace_loop::Feed;
use super::{StageRun, Worker};
use crate::engine::schedule::Schedule;
use crate::http::conn::Transport;
use crate::http::exchange::ResponseState;
use crate::metrics::{ErrorKind, Outcome};
use crate::profile::Reuse;
use crate::workload::{Replay, Session};

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

/// Starts a conversation whose first turn is due at `due` (counted in flight from now).
pub(super) fn start<S: Transport>(ctx: &Rc<Worker<S>>, stage: StageRun, due: Instant, turns: Turns) {
    ctx.task(stage.index, 1);
    ctx.busy.set(ctx.busy.get() + 1);
    monoio::spawn(conversation(ctx.clone(), stage, due, turns));
}

/// Where a conversation's turns after the first come from.
pub(super) enum Turns {
    /// The workload's: after the think time, while the stage lasts.
    Think(Box<dyn Session>),
    /// A trace's: the session's next record, when the dispatcher hands it over.
    Trace(Box<dyn Replay>, Rc<Feed>),
}

impl Turns {
    fn session(&mut self) -> &mut dyn Session {
        match self {
            Turns::Think(s) => &mut **s,
            Turns::Trace(s, _) => &mut **s,
        }
    }

    /// When the next turn is due, or `None` when the conversation is over. Takes the last
    /// turn's outcome and reply (into the history).
    async fn next<S: Transport>(
        &mut self,
        ctx: &Worker<S>,
        stage: &StageRun,
        out: &Outcome,
        reply: Option<&str>,
    ) -> Option<Instant> {
        match self {
            Turns::Think(session) => match session.turn_done(out, reply) {
                Some(think) if Instant::now() + think < stage.end => Some(Instant::now() + think),
                _ => None,
            },
            Turns::Trace(session, feed) => {
                session.turn_done(out, reply)?;
                let (due, record, turns) = ctx.stopping.guard(feed.next_until(stage.end)).await.ok()??;
                session.feed(record, turns);
                // Not before the reply it follows: the trace's user read it first.
                Some(due.max(Instant::now()))
            }
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

/// One arrival: a new conversation whose first turn is due at `intended`; later turns follow
/// the previous one (plus think time, or at their trace record's time) and are not new
/// arrivals.
async fn conversation<S: Transport>(
    ctx: Rc<Worker<S>>,
    stage: StageRun,
    intended: Instant,
    mut turns: Turns,
) {
    let scenario = turns.session().scenario();
    let mut state = ResponseState::new(ctx.config.capture_error_body);
    state.reply = turns.session().keeps_reply().then(String::new);
    let mut request = Vec::with_capacity(1024);
    let mut intended = intended;
    // `connection: per-conversation`: the conversation's own, kept through think time.
    let own_conn = ctx.config.reuse == Reuse::PerConversation;
    let mut held = None;
    // The first turn was counted busy by the dispatcher; each later one counts itself.
    loop {
        let session = turns.session();
        // With fixed connections, wait for one; the wait counts in the latency.
        let slot = match &ctx.slots {
            Some(slots) => ctx.stopping.guard(slots.acquire()).await.map(Some),
            None => Ok(None),
        };
        let target = session.target();
        // An idle connection, or a free place to open one (else wait: see `pool`).
        let conn = match slot {
            Ok(_) if held.is_some() => Ok(held.take()),
            Ok(_) if own_conn => ctx.pool.place(target, || ctx.stopped()).await.map(|()| None),
            Ok(_) => ctx.pool.take(target, stage.cancel_at, || ctx.stopped()).await,
            Err(_) => Err(()),
        };
        let mut conn = match conn {
            Ok(c) if !ctx.stopped() => c,
            other => {
                // Stopped (or the stage's end came) before it could be sent.
                if let Ok(Some(c)) = other {
                    ctx.pool.put(target, c);
                }
                ctx.record_unsent(&stage, &*session, intended);
                ctx.busy.set(ctx.busy.get() - 1);
                break;
            }
        };
        request.clear();
        session.build(&mut request);
        let mut out = Outcome::new(intended);
        request = ctx.run_turn(&mut conn, &mut *session, request, &mut state, &mut out, &stage).await;
        // The turn is over: its connection slot and its place among the requests in flight
        // are free during the think time.
        drop(slot);
        ctx.busy.set(ctx.busy.get() - 1);
        match conn {
            Some(c) if own_conn => held = Some(c),
            Some(c) => ctx.pool.put(target, c),
            None => {}
        }
        ctx.record(&stage, &*session, &out, &state.gaps, state.err_body.as_ref());
        if session.turn().0 > 1 && out.intended >= stage.warmup_until {
            ctx.count(stage.index, scenario, |s| s.followups += 1);
        }
        if out.error == Some(ErrorKind::Cancelled) {
            break;
        }
        match turns.next(&ctx, &stage, &out, state.reply.as_deref()).await {
            Some(next) => {
                intended = next;
                // The precise timer: the 1 ms wheel would add ~0.5 ms of send lag to every follow-up.
                if ctx.stopping.sleep_until(intended).await.is_err() {
                    break;
                }
                ctx.busy.set(ctx.busy.get() + 1);
            }
            None => break,
        }
    }
    ctx.task(stage.index, -1);
}
