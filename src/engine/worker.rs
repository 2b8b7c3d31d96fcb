//! One worker: a pinned runtime that runs every stage's share of users or arrivals, owns its
//! connections and records into its own statistics.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::stage_sync::StageSync;
use super::{EngineConfig, WorkerMsg};
use crate::http::cancel::CancelAfter;
use crate::http::conn::{connect, Conn, Transport};
use crate::http::exchange::{exchange, ResponseState};
use crate::metrics::live::{Live, WorkerCounters};
use crate::metrics::outcome::us_between;
use crate::metrics::{ErrorKind, Outcome, Stats};
use crate::net::latch::Latch;
use crate::profile::stages::Load;
use crate::workload::{Session, Workload};

mod closed_loop;
mod conversation;
mod feed;
mod ledger;
mod open_loop;
mod pool;
mod retry;
mod slots;
mod trace_loop;

use ledger::{Closed, Ledger};

/// On an interrupt, the longest in-flight requests may run before they are cancelled, so the
/// reports are written within 2 seconds of the signal.
const INTERRUPT_GRACE: Duration = Duration::from_millis(1500);
/// How often a worker looks at the stop flag (set by a signal handler on another thread).
const STOP_POLL: Duration = Duration::from_millis(10);
/// Turn records per batch sent to the coordinator, and the longest a record waits.
const TURN_BATCH: u64 = 512;
const TURN_BATCH_AGE: Duration = Duration::from_millis(100);

/// One finished turn, for per-turn output (borrowed: it lives while its line is written).
pub(crate) struct TurnRecord<'a> {
    pub stage: usize,
    pub scenario: usize,
    pub worker: usize,
    pub conv_uuid: &'a str,
    pub protocol: &'static str,
    pub stream: bool,
    pub turn: u32,
    pub turns_total: u32,
    pub warmup: bool,
    /// Finished inside the stage's measurement window (counted as served).
    pub in_window: bool,
    pub outcome: &'a Outcome,
    pub itl_mean_us: u64,
    pub itl_max_us: u64,
    /// The first bytes of a failed response, when capture is on.
    pub err_body: Option<&'a [u8]>,
}

/// Writes a finished turn as one line of per-turn output, on the worker that finished it.
pub(crate) trait TurnLines: Send + Sync {
    fn write(&self, turn: &TurnRecord<'_>, out: &mut Vec<u8>);
}

/// A stage as a worker runs it.
#[derive(Clone, Copy)]
pub(crate) struct StageRun {
    pub index: usize,
    pub start: Instant,
    pub end: Instant,
    /// In-flight requests are cancelled at this point (a closed-loop user that persists
    /// into the next stage runs its requests with no such point: see `retire`).
    pub cancel_at: Instant,
    pub warmup_until: Instant,
    /// The stage whose end removes the task running this (its own index, but for a
    /// closed-loop user that persists into later stages): a request still in flight at that
    /// stage's cancel point is cancelled then.
    pub retire: usize,
}

/// The cancel point of a request whose user persists past its stage (never reached: the
/// request ends by its timeouts, or is cancelled when its user is removed).
const NO_CANCEL: Duration = Duration::from_secs(365 * 86_400);

/// Per-worker state shared by its tasks (never across threads).
pub(crate) struct Worker<S> {
    pub index: usize,
    pub workers: usize,
    pub config: Arc<EngineConfig>,
    pub workload: Arc<dyn Workload>,
    pub live: Arc<Live>,
    /// Every stage's accounts (index: stage).
    ledgers: RefCell<Vec<Ledger>>,
    /// Per stage: fired when it starts (persisting users wait for it), at its planned end,
    /// and at its cancel point (requests of the users it removes still in flight end then).
    pub started: Box<[Latch]>,
    pub ended: Box<[Latch]>,
    retired: Box<[Latch]>,
    /// Open loop: turns in progress (sent, or waiting for a connection; not conversations
    /// sleeping in think time), bounded by `max_inflight` at each arrival.
    pub busy: Cell<usize>,
    /// This worker's part of `max_inflight`.
    pub max_inflight: usize,
    /// Idle keep-alive connections per target (open loop) and connects in progress.
    pub pool: pool::Pool<S>,
    /// Open loop with `--connections`: the connection slots.
    pub slots: Option<Rc<slots::Slots>>,
    next_source: Cell<usize>,
    pub tx: SyncSender<WorkerMsg>,
    /// Turn lines not yet handed to the coordinator, how many, and when the last batch went.
    pub turns: RefCell<Vec<u8>>,
    pub turns_count: Cell<u64>,
    pub turns_sent: Cell<Instant>,
    /// Turn records the output sink could not take (its queue was full).
    pub sink_dropped: Cell<u64>,
    /// When this worker first saw the stop flag: the measurement window ends there.
    stop_at: Cell<Option<Instant>>,
    /// Fired when the stop is seen: sleeps and waits end, nothing new is sent.
    pub stopping: Latch,
    /// Fired a grace after the stop: every request still in flight ends as cancelled.
    cancelling: Latch,
    /// The retry backoff's jitter generator (see `retry`).
    jitter: Cell<u64>,
}

impl<S: Transport> Worker<S> {
    pub(super) fn live(&self) -> &WorkerCounters {
        self.live.of_worker(self.index)
    }

    /// The end of the stage's measurement window: its planned end, or the stop if earlier.
    fn window_end(&self, stage: &StageRun) -> Instant {
        self.stopped();
        self.stop_at.get().map_or(stage.end, |t| t.min(stage.end))
    }

    /// Records a finished turn.
    pub(super) fn record(
        &self,
        stage: &StageRun,
        session: &dyn Session,
        outcome: &Outcome,
        gaps: &[u64],
        err_body: Option<&Vec<u8>>,
    ) {
        let live = self.live();
        let finished = !outcome.error.is_some_and(ErrorKind::is_cancel);
        if outcome.is_ok() {
            // The latency bucket also counts the request as ok.
            live.latency.record(us_between(outcome.intended, outcome.end));
            if let Some(t) = outcome.first_token {
                live.ttft.record(us_between(outcome.intended, t));
            }
            WorkerCounters::add(&live.tokens, outcome.completion_tokens);
        } else if finished {
            WorkerCounters::add(&live.failed, 1);
        } else {
            WorkerCounters::add(&live.cancelled, 1);
        }
        let window_end = self.window_end(stage);
        let warmup = outcome.intended < stage.warmup_until;
        // Served: finished inside the window after reaching the server (a refused connect
        // was served by nobody).
        let reached = !outcome.error.is_some_and(ErrorKind::is_unreached);
        let in_window = finished && reached && outcome.end >= stage.warmup_until && outcome.end <= window_end;
        {
            let mut ledgers = self.ledgers.borrow_mut();
            let s = &mut ledgers[stage.index].stats[session.scenario()];
            if in_window {
                s.record_served(outcome);
            }
            if !warmup {
                s.record(outcome, gaps, session.within_slo(outcome));
                s.late += u64::from(finished && outcome.end > window_end);
            }
        }
        if let Some(lines) = &self.config.turn_lines {
            let (turn, turns_total) = session.turn();
            let record = TurnRecord {
                stage: stage.index,
                scenario: session.scenario(),
                worker: self.index,
                conv_uuid: session.conversation_id(),
                protocol: session.protocol(),
                stream: session.stream(),
                turn,
                turns_total,
                warmup,
                in_window,
                outcome,
                itl_mean_us: if gaps.is_empty() { 0 } else { gaps.iter().sum::<u64>() / gaps.len() as u64 },
                itl_max_us: gaps.iter().copied().max().unwrap_or(0),
                err_body: err_body.map(Vec::as_slice),
            };
            lines.write(&record, &mut self.turns.borrow_mut());
            let n = self.turns_count.get() + 1;
            self.turns_count.set(n);
            if n >= TURN_BATCH
                || outcome.end.saturating_duration_since(self.turns_sent.get()) >= TURN_BATCH_AGE
            {
                self.send_turns();
            }
        }
        self.settle(stage.index);
    }

    /// Changes the statistics of `scenario` in stage `stage` (a count beside the requests).
    pub(super) fn count(&self, stage: usize, scenario: usize, f: impl FnOnce(&mut Stats)) {
        f(&mut self.ledgers.borrow_mut()[stage].stats[scenario]);
    }

    /// Stage `k` as it runs (None before it started).
    pub(super) fn stage_run(&self, k: usize) -> Option<StageRun> {
        self.ledgers.borrow()[k].run
    }

    /// A task that ends in stage `k` started (or ended: `-1`).
    pub(super) fn task(&self, k: usize, delta: isize) {
        let mut ledgers = self.ledgers.borrow_mut();
        let tasks = &mut ledgers[k].tasks;
        // Saturating: after an abandon (see `drain`) a late task must not panic.
        *tasks = tasks.saturating_add_signed(delta);
    }

    /// Hands stage `k`'s accounts to the coordinator once its load is over and the last
    /// request it started has ended.
    fn settle(&self, k: usize) {
        let (stats, closed) = {
            let mut ledgers = self.ledgers.borrow_mut();
            let ledger = &mut ledgers[k];
            if !ledger.settled() {
                return;
            }
            ledger.reported = true;
            (std::mem::take(&mut ledger.stats), ledger.closed.expect("settled"))
        };
        // The stage's turn records go out before its report.
        self.send_turns();
        let report = WorkerMsg::StageDone {
            worker: self.index,
            stage: k,
            stats,
            cpu: closed.cpu,
            ended: closed.ended,
            stopped_at: self.stop_at.get(),
            sink_dropped: self.sink_dropped.replace(0),
            connecting_peak: closed.connecting_peak,
        };
        let _ = self.tx.send(report);
    }

    /// Counts `n` open-loop arrivals of `scenario` that were never sent; `behind`: because
    /// the generator fell behind its schedule (else: the in-flight limit). Arrivals due in
    /// the warmup count only live, like the requests of the warmup.
    pub(super) fn dropped(&self, stage: &StageRun, due: Instant, scenario: usize, n: u64, behind: bool) {
        WorkerCounters::add(&self.live().dropped, n);
        if due < stage.warmup_until {
            return;
        }
        self.count(stage.index, scenario, |s| {
            s.dropped += n;
            if behind {
                s.dropped_behind += n;
            }
        });
    }

    /// Records a turn that was due but never sent because the run was stopped.
    pub(super) fn record_unsent(&self, stage: &StageRun, session: &dyn Session, intended: Instant) {
        let mut out = Outcome::new(intended);
        out.error = Some(ErrorKind::Cancelled);
        out.sent = Instant::now().max(intended);
        out.end = out.sent;
        self.record(stage, session, &out, &[], None);
    }

    /// Opens a connection (rotating source addresses), bounded by the stage's cancel point.
    pub(super) async fn connect(
        &self,
        target: usize,
        cancel_at: Instant,
    ) -> Result<crate::http::conn::Connected<S>, ErrorKind> {
        let cfg = &self.config;
        let addr = cfg.targets[target].addrs[0];
        let source = if cfg.source_ips.is_empty() {
            None
        } else {
            let i = self.next_source.get();
            self.next_source.set(i.wrapping_add(1));
            Some(cfg.source_ips[i % cfg.source_ips.len()])
        };
        let left = cancel_at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ErrorKind::Cancelled);
        }
        let _connecting = self.pool.connecting();
        match connect::<S>(addr, source, cfg.timeouts.connect.min(left), cfg.tls[target].as_ref()).await {
            Ok(c) => Ok(c),
            Err(ErrorKind::TimeoutConnect) if Instant::now() >= cancel_at => Err(ErrorKind::Cancelled),
            Err(e) => Err(e),
        }
    }

    /// Runs one turn of stage `stage` on `conn` (connecting when needed, retrying once on a
    /// connection the server closed while idle). Fills `out`; hands the request buffer back.
    /// At the cancel point of the stage that removes its task, or after an interrupt's grace,
    /// the turn ends at once as cancelled (its connection is dropped).
    pub(super) async fn run_turn(
        &self,
        conn: &mut Option<Conn<S>>,
        session: &mut dyn Session,
        request: Vec<u8>,
        state: &mut ResponseState,
        out: &mut Outcome,
        stage: &StageRun,
    ) -> Vec<u8> {
        let live = self.live();
        live.in_flight.fetch_add(1, Relaxed);
        let scenario = session.scenario();
        self.ledgers.borrow_mut()[stage.index].in_flight[scenario] += 1;
        let client = session.client_cancel();
        out.key = session.key();
        let attempts = self.send_with_retries(conn, session, request, state, out, stage, client);
        let request = match self.cancelling.guard(self.retired[stage.retire].guard(attempts)).await {
            Ok(Ok(request)) => request,
            _ => {
                *conn = None;
                out.error = Some(ErrorKind::Cancelled);
                out.end = Instant::now();
                Vec::with_capacity(1024)
            }
        };
        // Counted once the response's times are taken, so counting is in none of them.
        out.tokenizer = session.tokenizer_counts(state.reply.as_deref());
        live.in_flight.fetch_sub(1, Relaxed);
        let mut ledgers = self.ledgers.borrow_mut();
        let n = &mut ledgers[stage.index].in_flight[scenario];
        *n = n.saturating_sub(1);
        drop(ledgers);
        request
    }

    #[allow(clippy::too_many_arguments)]
    async fn attempts(
        &self,
        conn: &mut Option<Conn<S>>,
        session: &mut dyn Session,
        mut request: Vec<u8>,
        state: &mut ResponseState,
        out: &mut Outcome,
        cancel_at: Instant,
        client: Option<CancelAfter>,
    ) -> Vec<u8> {
        for attempt in 0..2 {
            if conn.is_none() {
                match self.connect(session.target(), cancel_at).await {
                    Ok(c) => {
                        out.connect_us = Some(c.connect_us);
                        out.tls_us = c.tls_us;
                        *conn = Some(c.conn);
                    }
                    Err(e) => {
                        out.error = Some(e);
                        out.sent = Instant::now().max(out.intended);
                        out.end = out.sent;
                        break;
                    }
                }
            }
            let c = conn.as_mut().expect("connected above");
            let timeouts = &self.config.timeouts;
            let ex = exchange(c, request, session.decoder(), state, out, timeouts, cancel_at, client).await;
            request = ex.request;
            if !ex.reusable {
                *conn = None;
            }
            if ex.stale && attempt == 0 {
                let (connect_us, tls_us) = (out.connect_us, out.tls_us);
                out.restart();
                out.connect_us = connect_us;
                out.tls_us = tls_us;
                continue;
            }
            break;
        }
        request
    }

    /// Hands the batched turn lines to the coordinator. Never blocks the worker: a full
    /// queue drops the batch and counts it.
    pub(super) fn send_turns(&self) {
        self.turns_sent.set(Instant::now());
        let n = self.turns_count.replace(0);
        if n == 0 {
            return;
        }
        // The next batch is sized like this one (a full batch under load, little when idle).
        let mut turns = self.turns.borrow_mut();
        let next = Vec::with_capacity(turns.len());
        let lines = std::mem::replace(&mut *turns, next);
        drop(turns);
        if let Err(TrySendError::Full(_)) = self.tx.try_send(WorkerMsg::Turns(lines, n)) {
            self.sink_dropped.set(self.sink_dropped.get() + n);
        }
    }

    /// True once the run was asked to stop; the first call that sees it notes the time and
    /// fires `stopping`.
    pub(super) fn stopped(&self) -> bool {
        if self.stop_at.get().is_some() {
            return true;
        }
        if !self.config.stop.load(Relaxed) {
            return false;
        }
        self.stop_at.set(Some(Instant::now()));
        self.stopping.fire();
        // Arrivals waiting for a connection give up now (counted as cancelled).
        self.pool.wake_all();
        true
    }
}

/// Watches the stop flag: on a stop, `stopping` fires at once and `cancelling` a grace later
/// (the stage's grace, at most `INTERRUPT_GRACE`), so reports follow the signal quickly and
/// every request still in flight is recorded as cancelled.
async fn watch_stop<S: Transport>(ctx: Rc<Worker<S>>) {
    while !ctx.stopped() {
        monoio::time::sleep(STOP_POLL).await;
    }
    monoio::time::sleep(ctx.config.grace.min(INTERRUPT_GRACE)).await;
    ctx.cancelling.fire();
}

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    use nix::time::{clock_gettime, ClockId};
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(Duration::ZERO, Duration::from)
}

/// Runs every stage on this worker.
pub(crate) async fn run<S: Transport>(
    index: usize,
    config: Arc<EngineConfig>,
    workload: Arc<dyn Workload>,
    live: Arc<Live>,
    sync: Arc<StageSync>,
    tx: SyncSender<WorkerMsg>,
) {
    let n_scen = workload.scenarios().len();
    let workers = config.cores.len().max(1);
    let stages = config.stages.len();
    let latches = || (0..stages).map(|_| Latch::new()).collect::<Box<[Latch]>>();
    let ctx = Rc::new(Worker::<S> {
        index,
        workers,
        config: config.clone(),
        workload,
        live,
        ledgers: RefCell::new((0..stages).map(|_| Ledger::new(n_scen)).collect()),
        started: latches(),
        ended: latches(),
        retired: latches(),
        busy: Cell::new(0),
        // `EngineConfig::validate` makes sure no part is 0.
        max_inflight: config.part(config.max_inflight, index).max(1),
        pool: pool::Pool::new(config.targets.len()),
        slots: config.connections.map(|n| slots::Slots::new(config.part(n, index).max(1))),
        next_source: Cell::new(index),
        tx,
        sink_dropped: Cell::new(0),
        turns: RefCell::new(Vec::new()),
        turns_count: Cell::new(0),
        turns_sent: Cell::new(Instant::now()),
        stop_at: Cell::new(None),
        stopping: Latch::new(),
        cancelling: Latch::new(),
        // Never 0 (xorshift's fixed point).
        jitter: Cell::new((config.seed ^ 0x9e37_79b9_7f4a_7c15).rotate_left(index as u32) | 1),
    });
    monoio::spawn(watch_stop(ctx.clone()));
    let mut ran = 0;
    for (k, stage) in config.stages.iter().enumerate() {
        ctx.busy.set(0);
        let Some(start) = sync.wait_start(k, &config.stop).await else { break };
        ran = k + 1;
        ctx.live.set_stage(k);
        let cpu0 = thread_cpu();
        let end = start + stage.duration;
        let run = StageRun {
            index: k,
            start,
            end,
            cancel_at: end + config.grace,
            warmup_until: start + config.warmup,
            retire: k,
        };
        ctx.ledgers.borrow_mut()[k].run = Some(run);
        // Users persisting from the stage before go on now.
        ctx.started[k].fire();
        let seed = config.seed ^ ((index as u64) << 32) ^ (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        match stage.load {
            Load::Closed { .. } => closed_loop::run(&ctx, run, seed),
            Load::Open { from, to } => open_loop::run(&ctx, run, from, to, stage.duration, seed).await,
            Load::Trace { .. } => {
                if let Some(trace) = &stage.trace {
                    trace_loop::run(&ctx, run, trace, seed).await
                }
            }
        }
        let _ = ctx.stopping.sleep_until(end).await;
        ctx.ended[k].fire();
        // The tasks this stage ends (the users it removes, its open-loop conversations) end
        // by its cancel point at the latest; users persisting into the next stage go on.
        drain(&ctx, k..k + 1, run.cancel_at).await;
        close(&ctx, k, cpu0);
        if sync.finish(k) && sync.held() {
            // The coordinator measures the boundary, then lets the next stage start.
            let _ = ctx.tx.send(WorkerMsg::StageOver(k));
        }
        if ctx.stopped() {
            break;
        }
    }
    // Users persisting into stages a stop prevented end with the stop (their requests are
    // cancelled by the interrupt's grace, not by a stage's cancel point).
    drain(&ctx, 0..stages, Instant::now() + NO_CANCEL).await;
    for k in 0..ran {
        if ctx.ledgers.borrow()[k].closed.is_none() {
            close(&ctx, k, thread_cpu());
        }
        ctx.settle(k);
    }
    ctx.pool.clear();
}

/// Waits until no task that ends in `stages` runs, firing each stage's cancel point when its
/// time comes (`cancel_at` for the last of them; earlier ones are past). Should a task not end
/// after an interrupt's grace (a bug), its requests are counted as cancelled a second later,
/// so a run always ends.
async fn drain<S: Transport>(ctx: &Rc<Worker<S>>, stages: std::ops::Range<usize>, cancel_at: Instant) {
    let mut abandon_at = None;
    loop {
        let left = {
            let ledgers = ctx.ledgers.borrow();
            stages.clone().map(|k| ledgers[k].tasks).sum::<usize>()
        };
        if left == 0 {
            return;
        }
        if Instant::now() >= cancel_at {
            stages.clone().for_each(|k| ctx.retired[k].fire());
        }
        if ctx.cancelling.is_fired() {
            let at = *abandon_at.get_or_insert_with(|| Instant::now() + Duration::from_secs(1));
            if Instant::now() >= at {
                let mut ledgers = ctx.ledgers.borrow_mut();
                ledgers.iter_mut().for_each(|l| {
                    l.abandon();
                    l.tasks = 0;
                });
                return;
            }
        }
        monoio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Stage `k`'s load is over on this worker: its accounts are handed over as soon as the
/// requests it started and that persisting users still run have ended.
fn close<S: Transport>(ctx: &Rc<Worker<S>>, k: usize, cpu0: Duration) {
    let closed = Closed {
        cpu: thread_cpu().saturating_sub(cpu0),
        ended: Instant::now(),
        connecting_peak: ctx.pool.take_connecting_peak(),
    };
    ctx.ledgers.borrow_mut()[k].closed = Some(closed);
    ctx.settle(k);
}
