//! Closed loop: each virtual user issues its next request when the last one ends (after any
//! think time), running conversations back to back. Ramps give each user a start (and, when
//! ramping down, a stop) inside the stage.

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::{share, Ctx, StageRun};
use crate::engine::shard::first as first_of;
use crate::http::conn::Transport;
use crate::http::exchange::ResponseState;
use crate::metrics::{ErrorKind, Outcome};

/// Pause after a failed connect so a dead target is not hammered in a hot loop.
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);

/// Starts this worker's users for the stage and returns (they run as tasks).
pub(crate) async fn run<S: Transport>(
    ctx: &Rc<Ctx<S>>,
    stage: StageRun,
    from: u32,
    to: u32,
    duration: Duration,
    seed: u64,
) {
    let peak = from.max(to);
    let total_users = peak;
    // Users are numbered globally (across shards and workers) so scenario apportionment and
    // ramps are the same on any shard and worker count.
    let (shard_users, shard_first) = ctx.config.shard.users(peak);
    let mine = share(shard_users, ctx.workers, ctx.index);
    let first = shard_first + first_of(shard_users, ctx.workers, ctx.index);
    for u in first..first + mine {
        // The ramp reaches u + 1 users at this fraction of the stage.
        let at = |users: u32| -> f64 {
            if from == to {
                return 0.0;
            }
            (f64::from(users) - f64::from(from)) / (f64::from(to) - f64::from(from))
        };
        let (start_frac, stop_frac) = if to >= from {
            (if u < from { 0.0 } else { at(u + 1).clamp(0.0, 1.0) }, 1.0)
        } else {
            (0.0, if u < to { 1.0 } else { at(u + 1).clamp(0.0, 1.0) })
        };
        let window = (stage.start + duration.mul_f64(start_frac), stage.start + duration.mul_f64(stop_frac));
        let scenario = ctx.workload.scenario_for_user(u, total_users);
        ctx.active.set(ctx.active.get() + 1);
        monoio::spawn(user(ctx.clone(), stage, window, scenario, seed ^ u64::from(u)));
    }
}

async fn user<S: Transport>(
    ctx: Rc<Ctx<S>>,
    stage: StageRun,
    (start_at, stop_at): (Instant, Instant),
    scenario: usize,
    seed: u64,
) {
    if start_at > Instant::now() {
        monoio::time::sleep_until(start_at.into()).await;
    }
    let mut conn = None;
    let mut state = ResponseState::new(ctx.config.capture_error_body);
    let mut request = Vec::with_capacity(1024);
    let mut conversation = 0u64;
    'run: while Instant::now() < stop_at && !ctx.stopped() {
        let mut session = ctx
            .workload
            .session(scenario, seed.wrapping_add(conversation.wrapping_mul(0x2545_f491_4f6c_dd1d)));
        conversation += 1;
        state.reply = session.keeps_reply().then(String::new);
        loop {
            if Instant::now() >= stop_at || ctx.stopped() {
                break 'run;
            }
            request.clear();
            session.build(&mut request);
            let mut out = Outcome::new(Instant::now());
            request =
                ctx.run_turn(&mut conn, &mut *session, request, &mut state, &mut out, stage.cancel_at).await;
            ctx.record(&stage, &*session, &out, &state.gaps, state.err_body.as_ref());
            if out.error == Some(ErrorKind::Cancelled) {
                break 'run;
            }
            if out.sent == out.end && out.error.is_some() {
                monoio::time::sleep(CONNECT_BACKOFF).await;
            }
            match session.turn_done(&out, state.reply.as_deref()) {
                Some(think) if !think.is_zero() => {
                    let wake = (Instant::now() + think).min(stop_at);
                    monoio::time::sleep_until(wake.into()).await;
                }
                Some(_) => {}
                None => break,
            }
        }
    }
    ctx.active.set(ctx.active.get() - 1);
}
