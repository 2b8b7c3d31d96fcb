//! An open-loop conversation: its first turn is an arrival, due at its intended time; later
//! turns follow the previous one, after the think time (`Turns::Think`) or at their trace
//! record's time (`Turns::Trace`, handed over through a `Feed`), and are not new arrivals.

use std::rc::Rc;
use std::time::Instant;

use super::feed::Feed;
use super::{StageRun, Worker};
use crate::http::conn::Transport;
use crate::http::exchange::ResponseState;
use crate::metrics::{ErrorKind, Outcome};
use crate::profile::Reuse;
use crate::workload::{Replay, Session};

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
                if session.turn_done(out, reply).is_some() {
                    let (due, record, _) = ctx.stopping.guard(feed.next()).await.ok()??;
                    session.feed(record, feed.turns());
                    // Not before the reply it follows: the trace's user read it first.
                    return Some(due.max(Instant::now()));
                }
                if out.is_ok() {
                    return None;
                }
                // A failed turn ends its conversation. A record handed over while it was in
                // flight starts the rest of the session as a new conversation, as a record
                // arriving after the failure does (the dispatcher starts that one) — due at its
                // own time: a new conversation waits for no reply, so the time it spent
                // behind the failing turn is latency, not a later intended start.
                let (due, record, left) = feed.ready()?;
                let scenario = session.scenario();
                *session = ctx.workload.replay(scenario, feed.restart(left), feed.block_tokens);
                session.feed(record, left);
                Some(due)
            }
        }
    }
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
    if let Turns::Trace(_, feed) = &turns {
        // Handed over but never sent: the conversation was cancelled or stopped first.
        for due in feed.take_left() {
            ctx.dropped(&stage, due, scenario, 1, false);
        }
    }
    ctx.task(stage.index, -1);
}
