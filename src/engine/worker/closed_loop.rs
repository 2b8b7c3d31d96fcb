//! Closed loop: each virtual user issues its next request when the last one ends (after any
//! think time), running conversations back to back. Ramps give each user a start (and, when
//! ramping down, a stop) inside the stage.

use std::rc::Rc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::{share, StageRun, Worker};
use crate::engine::shard::first as first_of;
use crate::http::conn::Transport;
use crate::http::exchange::ResponseState;
use crate::metrics::{ErrorKind, Outcome};

/// First wait after a request failed before reaching the server; it doubles with each
/// further such failure up to `BACKOFF_CAP`, so a dead target sees a few connects per user
/// per second, not a SYN storm.
const BACKOFF_BASE: Duration = Duration::from_millis(20);
const BACKOFF_CAP: Duration = Duration::from_secs(2);

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

/// Starts this worker's users for the stage and returns (they run as tasks).
pub(crate) async fn run<S: Transport>(
    ctx: &Rc<Worker<S>>,
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
    ctx: Rc<Worker<S>>,
    stage: StageRun,
    (start_at, stop_at): (Instant, Instant),
    scenario: usize,
    seed: u64,
) {
    if start_at > Instant::now() && ctx.stopping.sleep_until(start_at).await.is_err() {
        ctx.active.set(ctx.active.get() - 1);
        return;
    }
    let mut conn = None;
    let mut state = ResponseState::new(ctx.config.capture_error_body);
    let mut request = Vec::with_capacity(1024);
    let mut conversation = 0u64;
    let mut backoff = Backoff::default();
    let mut jitter = SmallRng::seed_from_u64(seed ^ 0x6a09_e667_f3bc_c909);
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
            if out.error.is_some_and(ErrorKind::is_unreached) {
                // The request never reached the server: wait before the next try.
                ctx.stats.borrow_mut()[scenario].backoffs += 1;
                let wake = (Instant::now() + backoff.next(jitter.gen())).min(stop_at);
                if ctx.stopping.sleep_until(wake).await.is_err() {
                    break 'run;
                }
            } else {
                backoff.reset();
            }
            match session.turn_done(&out, state.reply.as_deref()) {
                Some(think) if !think.is_zero() => {
                    let wake = (Instant::now() + think).min(stop_at);
                    if ctx.stopping.sleep_until(wake).await.is_err() {
                        break 'run;
                    }
                }
                Some(_) => {}
                None => break,
            }
        }
    }
    ctx.active.set(ctx.active.get() - 1);
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
