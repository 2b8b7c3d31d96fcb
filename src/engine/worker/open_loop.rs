//! Open loop: arrivals on an absolute schedule, split across workers, dispatched in batches
//! every time the timer fires (≤ 1 ms apart). Latency counts from the intended arrival time,
//! so a server that stalls shows it (no coordinated omission); the send lag (actual −
//! intended) is recorded beside it. Arrivals beyond `max_inflight` are dropped and counted.

use std::rc::Rc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::{Ctx, StageRun};
use crate::engine::schedule::Schedule;
use crate::http::conn::Transport;
use crate::http::exchange::ResponseState;
use crate::metrics::{ErrorKind, Outcome};

/// Shortest time between two timer wakes of the dispatcher: bounds the send lag it adds
/// (p99 goal: 1 ms) while cutting wakes at high rates (20k/s: from 20k to 5k wakes/s).
const DISPATCH_QUANTUM: Duration = Duration::from_micros(200);

/// Runs this worker's share of the stage's arrivals until the stage ends.
pub(crate) async fn run<S: Transport>(
    ctx: &Rc<Ctx<S>>,
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
    let max_inflight = (ctx.config.max_inflight / ctx.workers).max(1);
    let mut arrivals = 0u64;
    let mut last_wake = stage.start;
    while let Some(offset) = schedule.next_offset() {
        if ctx.stopped() {
            return;
        }
        let due = stage.start + Duration::from_secs_f64(offset);
        if due > Instant::now() {
            // At most one timer wake per DISPATCH_QUANTUM: a wake (a context switch) costs more
            // than a request, so arrivals closer together than that go out in small batches.
            crate::net::timer::sleep_until(due.max(last_wake + DISPATCH_QUANTUM)).await;
            last_wake = Instant::now();
        }
        let scenario = ctx.workload.scenario_for_arrival(rng.gen());
        if ctx.active.get() >= max_inflight {
            ctx.dropped(scenario);
            continue;
        }
        arrivals += 1;
        ctx.active.set(ctx.active.get() + 1);
        monoio::spawn(conversation(ctx.clone(), stage, due, scenario, seed.wrapping_add(arrivals)));
    }
    // Hold the stage open until its end (checking for an interrupt now and then).
    while stage.end > Instant::now() && !ctx.stopped() {
        let wake = stage.end.min(Instant::now() + Duration::from_millis(50));
        monoio::time::sleep_until(wake.into()).await;
    }
}

/// One arrival: a new conversation whose first turn is due at `intended`; later turns follow
/// the previous one (plus think time) and are not new arrivals.
async fn conversation<S: Transport>(
    ctx: Rc<Ctx<S>>,
    stage: StageRun,
    intended: Instant,
    scenario: usize,
    seed: u64,
) {
    let mut session = ctx.workload.session(scenario, seed);
    let mut state = ResponseState::new(ctx.config.capture_error_body);
    state.reply = session.keeps_reply().then(String::new);
    let mut request = Vec::with_capacity(1024);
    let mut intended = intended;
    loop {
        // With fixed connections, wait for one; the wait counts in the latency.
        let _slot = match &ctx.slots {
            Some(slots) => Some(slots.acquire().await),
            None => None,
        };
        let target = session.target();
        // An idle connection, or a free place to open one (else wait: see `pool`).
        let mut conn = match ctx.pool.take(target, stage.cancel_at, || ctx.stopped()).await {
            Ok(c) => c,
            Err(()) => {
                let mut out = Outcome::new(intended);
                out.error = Some(ErrorKind::Cancelled);
                out.sent = Instant::now().max(intended);
                out.end = out.sent;
                ctx.record(&stage, &*session, &out, &[], None);
                break;
            }
        };
        request.clear();
        session.build(&mut request);
        let mut out = Outcome::new(intended);
        request =
            ctx.run_turn(&mut conn, &mut *session, request, &mut state, &mut out, stage.cancel_at).await;
        if let Some(c) = conn {
            ctx.pool.put(target, c);
        }
        ctx.record(&stage, &*session, &out, &state.gaps, state.err_body.as_ref());
        if session.turn().0 > 1 && out.intended >= stage.warmup_until {
            ctx.stats.borrow_mut()[scenario].followups += 1;
        }
        if out.error == Some(ErrorKind::Cancelled) {
            break;
        }
        match session.turn_done(&out, state.reply.as_deref()) {
            Some(think) if Instant::now() + think < stage.end => {
                intended = Instant::now() + think;
                // The precise timer: the 1 ms wheel would add ~0.5 ms of send lag to every follow-up.
                crate::net::timer::sleep_until(intended).await;
            }
            _ => break,
        }
    }
    ctx.active.set(ctx.active.get() - 1);
}
