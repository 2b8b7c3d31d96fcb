//! Closed loop: each virtual user issues its next request when the last one ends (after any
//! think time), running conversations back to back. Ramps give each user a start (and, when
//! ramping down, a stop) inside the stage.
//!
//! With `concurrency: sessions` (the default) a user waits through its conversation's think
//! time, as a chat user holds a seat; with `requests` a user whose conversation thinks parks
//! it and sends the turn of another one (a parked one whose think time is over, else a new
//! conversation), so N counts requests in flight. With `connection: per-conversation` each
//! conversation has its own connection (parked with it), closed when the conversation ends.

use std::collections::BinaryHeap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::{StageRun, Worker, NO_CANCEL};
use crate::http::conn::{Conn, Transport};
use crate::http::exchange::ResponseState;
use crate::metrics::{ErrorKind, Outcome};
use crate::profile::stages::{Load, Stage};
use crate::profile::{Concurrency, Reuse};
use crate::workload::{Session, Workload};

/// First wait after a request failed before reaching the server; it doubles with each
/// further such failure up to `BACKOFF_CAP`, so a dead target sees a few connects per user
/// per second, not a SYN storm.
const BACKOFF_BASE: Duration = Duration::from_millis(20);
const BACKOFF_CAP: Duration = Duration::from_secs(2);

/// Conversations one user keeps parked in think time (`concurrency: requests`); past this it
/// waits for the earliest one instead of starting another.
const MAX_PARKED: usize = 1024;

/// A conversation in think time: when it goes on, and its own connection (if it has one).
struct Parked<S> {
    due: Instant,
    session: Box<dyn Session>,
    conn: Option<Conn<S>>,
}

// Ordered by due time, the earliest first out of a (max-)heap.
impl<S> Ord for Parked<S> {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        o.due.cmp(&self.due)
    }
}
impl<S> PartialOrd for Parked<S> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<S> PartialEq for Parked<S> {
    fn eq(&self, o: &Self) -> bool {
        self.due == o.due
    }
}
impl<S> Eq for Parked<S> {}

/// Capped exponential backoff with jitter (each wait drawn from ½–1× the step, so users that
/// failed together do not retry together).
#[derive(Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The wait after one more failure; `draw` is uniform in [0, 1).
    fn next(&mut self, draw: f64) -> Duration {
        let step = BACKOFF_BASE.saturating_mul(1 << self.failures.min(16)).min(BACKOFF_CAP);
        self.failures = self.failures.saturating_add(1);
        step.mul_f64(0.5 + 0.5 * draw)
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}

/// Whether global user `u` runs on through the boundary after stage `k` (see
/// docs/metrics.md, "Stage boundaries"): both stages are closed loop, the user is active at
/// the end of `k` and at the start of `k + 1`, and runs the same scenario in both. Such a
/// user keeps its connection, its conversation and its request in flight; every other user
/// active at the end of `k` is removed there.
fn persists(stages: &[Stage], workload: &dyn Workload, k: usize, u: u32) -> bool {
    let Some(next) = stages.get(k + 1) else { return false };
    match (stages[k].load, next.load) {
        (Load::Closed { from: a, to: b }, Load::Closed { from: c, to: d }) => {
            u < b
                && u < c
                && workload.scenario_for_user(u, a.max(b)) == workload.scenario_for_user(u, c.max(d))
        }
        _ => false,
    }
}

/// When user `u` of a stage ramping `from..to` is active: from and to these fractions of it.
fn active_part(u: u32, from: u32, to: u32) -> (f64, f64) {
    // The ramp reaches `users` users at this fraction of the stage.
    let at = |users: u32| -> f64 {
        if from == to {
            return 0.0;
        }
        (f64::from(users) - f64::from(from)) / (f64::from(to) - f64::from(from))
    };
    if to >= from {
        (if u < from { 0.0 } else { at(u + 1).clamp(0.0, 1.0) }, 1.0)
    } else {
        (0.0, if u < to { 1.0 } else { at(u + 1).clamp(0.0, 1.0) })
    }
}

/// Starts this worker's users that are new in `stage` (those persisting from the stage
/// before are running already) and returns: they run as tasks.
pub(crate) fn run<S: Transport>(ctx: &Rc<Worker<S>>, stage: StageRun, seed: u64) {
    let stages = &ctx.config.stages;
    let k = stage.index;
    let Load::Closed { from, to } = stages[k].load else { return };
    let peak = from.max(to);
    // Users are numbered globally (across shards and workers) so scenario apportionment,
    // ramps and persistence are the same on any shard and worker count; they are dealt out
    // in turn, so a user belongs to the same worker in every stage and a ramp loads every
    // worker alike.
    for u in ctx.config.shard.users_of(peak, ctx.workers, ctx.index) {
        if k > 0 && persists(stages, &*ctx.workload, k - 1, u) {
            continue;
        }
        let mut last = k;
        while persists(stages, &*ctx.workload, last, u) {
            last += 1;
        }
        let scenario = ctx.workload.scenario_for_user(u, peak);
        ctx.task(last, 1);
        monoio::spawn(user(ctx.clone(), u, (k, last), scenario, seed ^ u64::from(u)));
    }
}

/// The part of `stage` user `u` is active in: its start and the point it stops sending.
fn window(ctx: &Worker<impl Transport>, stage: &StageRun, u: u32) -> (Instant, Instant) {
    let Load::Closed { from, to } = ctx.config.stages[stage.index].load else {
        unreachable!("closed-loop users run in closed-loop stages")
    };
    let duration = stage.end.saturating_duration_since(stage.start);
    let (a, b) = active_part(u, from, to);
    (stage.start + duration.mul_f64(a), stage.start + duration.mul_f64(b))
}

/// One user from stage `first` to stage `last` (where it is removed). Each request is
/// accounted in the stage it starts in; one still in flight at the end of a stage the user
/// persists past goes on (no cancel point), and is cancelled only at the cancel point of
/// the stage that removes the user.
async fn user<S: Transport>(
    ctx: Rc<Worker<S>>,
    u: u32,
    (first, last): (usize, usize),
    scenario: usize,
    seed: u64,
) {
    life(&ctx, u, (first, last), scenario, seed).await;
    ctx.task(last, -1);
}

async fn life<S: Transport>(
    ctx: &Rc<Worker<S>>,
    u: u32,
    (first, last): (usize, usize),
    scenario: usize,
    seed: u64,
) {
    let mut k = first;
    let Some(mut stage) = ctx.stage_run(k) else { return };
    let (start_at, mut stop_at) = window(ctx, &stage, u);
    let removed = &ctx.ended[last];
    // Sleeps end when the run stops or the stage removing this user ends.
    let nap = |until: Instant| async move {
        ctx.stopping.guard(removed.sleep_until(until)).await.is_ok_and(|r| r.is_ok())
    };
    if start_at > Instant::now() && !nap(start_at).await {
        return;
    }
    let mut conn = None;
    let mut state = ResponseState::new(ctx.config.capture_error_body);
    let mut request = Vec::with_capacity(1024);
    let mut conversation = 0u64;
    let mut backoff = Backoff::default();
    let mut jitter = SmallRng::seed_from_u64(seed ^ 0x6a09_e667_f3bc_c909);
    let mut conv: Option<Box<dyn Session>> = None;
    // The session of the conversation that ended last, to start the next one in.
    let mut spare: Option<Box<dyn Session>> = None;
    let requests = ctx.config.concurrency == Concurrency::Requests;
    let own_conn = ctx.config.reuse == Reuse::PerConversation;
    // Conversations in think time (requests mode): when each goes on, and its connection.
    let mut parked: BinaryHeap<Parked<S>> = BinaryHeap::new();
    loop {
        // Past this stage's part: on into the next stage (once it starts), or removed.
        while Instant::now() >= stop_at {
            if k == last {
                return;
            }
            k += 1;
            if ctx.stopping.guard(ctx.started[k].wait()).await.is_err() {
                return;
            }
            stage = ctx.stage_run(k).expect("started");
            stop_at = window(ctx, &stage, u).1;
        }
        if ctx.stopped() {
            return;
        }
        // The parked conversation due first, if it is due (or if no more may be parked).
        let due = parked.peek().filter(|_| conv.is_none()).map(|p| p.due);
        if let Some(due) = due.filter(|&d| d <= Instant::now() || parked.len() >= MAX_PARKED) {
            if due > Instant::now() && !nap(cap_at(k, last, stop_at, due)).await {
                return;
            }
            let p = parked.pop().expect("peeked");
            keep_reply(&mut state.reply, p.session.keeps_reply());
            conv = Some(p.session);
            if own_conn {
                conn = p.conn;
            }
        }
        let session = match &mut conv {
            Some(s) => s,
            None => {
                let seed = seed.wrapping_add(conversation.wrapping_mul(0x2545_f491_4f6c_dd1d));
                conversation += 1;
                // The last conversation's session starts over in place (its buffers reused).
                let s = match spare.take() {
                    Some(mut s) => {
                        if s.restart(seed) {
                            s
                        } else {
                            ctx.workload.session(scenario, seed)
                        }
                    }
                    None => ctx.workload.session(scenario, seed),
                };
                keep_reply(&mut state.reply, s.keeps_reply());
                conv.insert(s)
            }
        };
        if conn.is_none() {
            // A new connection waits for a connect place (the cap open loop has too), so
            // thousands of users starting together do not open their connections at once.
            // Its connect starts before this task next yields (in `run_turn`).
            let wait = ctx.pool.place(session.target(), || ctx.stopped());
            if !matches!(removed.guard(wait).await, Ok(Ok(()))) {
                return;
            }
            if Instant::now() >= stop_at {
                continue;
            }
        }
        // A request of a stage the user persists past has no cancel point of its own.
        let run = if k == last {
            StageRun { retire: last, ..stage }
        } else {
            StageRun { cancel_at: stage.end + NO_CANCEL, retire: last, ..stage }
        };
        request.clear();
        session.build(&mut request);
        let mut out = Outcome::new(Instant::now());
        request = ctx.run_turn(&mut conn, &mut **session, request, &mut state, &mut out, &run).await;
        ctx.record(&run, &**session, &out, &state.gaps, state.err_body.as_ref());
        if out.error == Some(ErrorKind::Cancelled) {
            return;
        }
        let cap = |t: Instant| cap_at(k, last, stop_at, t);
        if out.error.is_some_and(ErrorKind::is_unreached) {
            // The request never reached the server: wait before the next try.
            ctx.count(k, scenario, |s| s.backoffs += 1);
            if !nap(cap(Instant::now() + backoff.next(jitter.gen()))).await {
                return;
            }
        } else {
            backoff.reset();
        }
        match session.turn_done(&out, state.reply.as_deref()) {
            Some(think) if requests && !think.is_zero() => {
                let s = conv.take().expect("in a conversation");
                let conn = if own_conn { conn.take() } else { None };
                parked.push(Parked { due: Instant::now() + think, session: s, conn });
            }
            Some(think) if !think.is_zero() => {
                if !nap(cap(Instant::now() + think)).await {
                    return;
                }
            }
            Some(_) => {}
            None => {
                spare = conv.take();
                if own_conn {
                    conn = None;
                }
            }
        }
    }
}

/// The reply buffer for a conversation's next turn: emptied (its capacity kept) if the
/// conversation keeps replies, else none.
fn keep_reply(reply: &mut Option<String>, keeps: bool) {
    match (reply, keeps) {
        (Some(r), true) => r.clear(),
        (r, keeps) => *r = keeps.then(String::new),
    }
}

/// The stage's end caps a wait only in the stage that removes the user.
fn cap_at(k: usize, last: usize, stop_at: Instant, t: Instant) -> Instant {
    if k == last {
        t.min(stop_at)
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter_and_resets() {
        let mut b = Backoff::default();
        let steps: Vec<Duration> = (0..12).map(|_| b.next(0.999_999)).collect();
        assert!(steps[0] <= BACKOFF_BASE && steps[0] > BACKOFF_BASE * 95 / 100);
        assert!(steps.windows(2).all(|w| w[1] >= w[0]));
        assert!(steps.iter().all(|s| *s <= BACKOFF_CAP));
        assert!(steps[11] > BACKOFF_CAP * 99 / 100);
        assert_eq!(b.next(0.0), BACKOFF_CAP / 2);
        b.reset();
        assert_eq!(b.next(0.0), BACKOFF_BASE / 2);
        // However unlucky the draws, a second holds only a few attempts.
        let mut b = Backoff::default();
        let mut t = Duration::ZERO;
        let mut attempts = 0;
        while t < Duration::from_secs(1) {
            attempts += 1;
            t += b.next(0.0);
        }
        assert!(attempts <= 8, "{attempts} attempts in the first second");
    }
}
