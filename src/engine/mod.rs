//! The engine: one pinned monoio runtime per core, each owning its connections, schedule and
//! metrics; stages run in sequence with common boundaries; per-stage statistics are merged by
//! the coordinator only at stage ends.

pub(crate) mod schedule;
pub(crate) mod shard;
mod stage_sync;
mod worker;

use std::net::IpAddr;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use schedule::Arrival;
use stage_sync::StageSync;
pub(crate) use worker::{TurnLines, TurnRecord};

use crate::http::conn::TlsClient;
use crate::http::exchange::Timeouts;
use crate::http::target::Scheme;
use crate::http::target::Target;
use crate::metrics::live::{Live, LiveSnapshot};
use crate::metrics::timeline::{Sampler, Second};
use crate::metrics::Stats;
use crate::net::cores::{spawn_pinned, Driver};
use crate::profile::retry::RetryPolicy;
use crate::profile::stages::Stage;
use crate::profile::{Concurrency, Reuse};
use crate::workload::Workload;

/// Everything a run needs, validated.
#[derive(Clone)]
pub(crate) struct EngineConfig {
    /// Every target the workload sends to (indexed by `Session::target`); all share one
    /// scheme.
    pub targets: Vec<Target>,
    pub stages: Vec<Stage>,
    pub cores: Vec<usize>,
    pub timeouts: Timeouts,
    /// After a stage ends, how long in-flight requests may finish before being cancelled.
    pub grace: Duration,
    /// Requests excluded from statistics at the start of each stage.
    pub warmup: Duration,
    /// Open loop: most requests in flight (whole run); arrivals beyond are dropped.
    pub max_inflight: usize,
    /// Open loop: a fixed number of connections (whole run); arrivals wait for a free one
    /// and their latency counts from the intended time. None: a connection per request in
    /// flight.
    pub connections: Option<usize>,
    pub arrival: Arrival,
    /// Closed loop: whether a user's seat is a conversation or a request in flight.
    pub concurrency: Concurrency,
    /// Whether connections are shared by conversations or each conversation's own.
    pub reuse: Reuse,
    pub seed: u64,
    /// Source addresses to connect from, rotated per connection (empty: the kernel picks).
    pub source_ips: Vec<IpAddr>,
    /// Keep the first bytes of failed responses.
    pub capture_error_body: bool,
    /// Set (by a signal handler) to stop: no new requests, in-flight ones get at most
    /// `INTERRUPT_GRACE`, then the run ends with the stages done so far.
    pub stop: Arc<std::sync::atomic::AtomicBool>,
    /// Per-turn output: every finished turn is written as a line by its worker, and the
    /// lines reach `Observer::turns` in batches.
    pub turn_lines: Option<Arc<dyn TurnLines>>,
    /// TLS settings per target (https only).
    pub tls: Vec<Option<TlsClient>>,
    /// The part of a distributed run this process runs (0/1: all of it).
    pub shard: shard::Shard,
    /// Each scenario's retry policy (index: scenario; None or missing: no retries).
    pub retry: Vec<Option<RetryPolicy>>,
}

impl EngineConfig {
    /// This worker's part of a whole-run count (`--connections`, `--max-inflight`): the
    /// shard's share, then the worker's share of that, so the parts of every shard and worker
    /// add up to `total` exactly.
    pub(crate) fn part(&self, total: usize, worker: usize) -> usize {
        self.shard.worker_part(total, self.cores.len().max(1), worker)
    }
}

/// Checks what only the engine knows how to split: every worker of every shard needs at least
/// one connection and one request in flight (`counts`: flag name and whole-run count), or its
/// arrivals could never be sent.
pub(crate) fn check_parts(
    shard: shard::Shard,
    workers: usize,
    counts: &[(&str, Option<usize>)],
) -> Result<(), String> {
    let parts = shard.count * workers.max(1);
    for (flag, n) in counts {
        if let Some(n) = *n {
            if n < parts {
                let shards = if shard.count > 1 {
                    format!(" on each of {} shards", shard.count)
                } else {
                    String::new()
                };
                return Err(format!(
                    "{flag} {n}: split between {} worker(s){shards} it leaves some with none; give at least \
                     {parts}, or fewer --cores",
                    workers.max(1)
                ));
            }
        }
    }
    Ok(())
}

/// One stage's merged result.
pub struct StageResult {
    pub stage: Stage,
    /// Per scenario.
    pub scenarios: Vec<Stats>,
    /// All scenarios together.
    pub all: Stats,
    /// Measured duration (stage start to the last worker's end, grace included).
    pub wall: Duration,
    /// The measurement window rates are over: from the end of warmup to the stage's end, or
    /// to the interrupt when it came first.
    pub steady: Duration,
    /// Stopped by a signal before its planned end (`steady` ends at the signal).
    pub interrupted: bool,
    /// CPU time each worker spent in the stage.
    pub worker_cpu: Vec<Duration>,
    /// Per-turn records lost because the output sink fell behind (never silent).
    pub sink_dropped: u64,
    /// The most connections being opened at once, per worker (bounded by the connect cap
    /// both loops share, however many users a stage starts).
    pub connecting_peak: Vec<usize>,
}

/// The whole run's result.
pub struct RunResult {
    /// Every stage that completed (all of them unless interrupted).
    pub stages: Vec<StageResult>,
    /// The run was stopped by a signal before its last stage ended.
    pub interrupted: bool,
    /// Open-loop arrivals queued for a fixed number of connections: send lag then measures
    /// the server's backlog, not the generator.
    pub fixed_connections: bool,
    pub scenarios: Vec<String>,
    pub driver: Driver,
    pub workers: usize,
    pub started: std::time::SystemTime,
    pub elapsed: Duration,
    /// One sample of the live counters per second of the run (for the reports' timelines).
    pub timeline: Vec<Second>,
}

/// What workers send the coordinator.
pub(crate) enum WorkerMsg {
    /// A worker finished a stage.
    StageDone {
        worker: usize,
        stage: usize,
        stats: Vec<Stats>,
        cpu: Duration,
        ended: Instant,
        /// When the worker saw the stop flag, if it did.
        stopped_at: Option<Instant>,
        sink_dropped: u64,
        connecting_peak: usize,
    },
    /// Completed turns as whole lines of per-turn output (and how many), sent in batches so
    /// a worker pays one channel operation per batch, not per request.
    Turns(Vec<u8>, u64),
    /// Every worker finished stage `k` (sent by the last, only when stage starts are held).
    StageOver(usize),
}

/// Progress callbacks from the coordinator thread.
pub(crate) trait Observer {
    /// Called about once a second while the run goes, with the second just sampled (also
    /// kept in `RunResult::timeline`) and the live counters it was read from (cumulative).
    fn tick(&mut self, _second: &Second, _live: &LiveSnapshot) {}
    /// Called when stage `index` starts (at `at`; seen within `FLUSH_EVERY`).
    fn stage_started(&mut self, _index: usize, _at: Instant) {}
    /// Called when a stage's results are merged: once its last request ended, which for a
    /// stage whose users persist into the next one is after the next one started.
    fn stage_done(&mut self, _index: usize, _result: &StageResult) {}
    /// Called with each batch of per-turn lines (with `turn_lines`): whole lines, `count`
    /// of them.
    fn turns(&mut self, _lines: &[u8], _count: u64) {}
    /// Called about every 250 ms (to flush buffered output).
    fn flush(&mut self) {}
    /// True to hold every stage's start for [`Observer::boundary`]; asked once, at the start.
    fn holds_stages(&self) -> bool {
        false
    }
    /// With `holds_stages`, called on the coordinator while every worker waits: before stage
    /// `index` starts (the stage before has ended: every request it started, and its
    /// workers' reports are sent), and once more with `last` when the run is over. Whatever
    /// it measures here belongs wholly to one stage; the time it takes delays the stage.
    fn boundary(&mut self, _index: usize, _last: bool) {}
}

/// How often buffered per-turn output is flushed, so a killed run leaves whole lines.
const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// One worker's report of a stage.
struct WorkerStage {
    stats: Vec<Stats>,
    cpu: Duration,
    ended: Instant,
    stopped_at: Option<Instant>,
    sink_dropped: u64,
    connecting_peak: usize,
}

/// Runs every stage and returns the merged results. The workers count into `live` (made by
/// the caller with [`Live::new`] for at least `config.cores.len()` workers, so others can
/// read it while the run goes, e.g. a metrics endpoint).
pub(crate) fn run(
    config: EngineConfig,
    workload: Arc<dyn Workload>,
    live: Arc<Live>,
    observer: &mut dyn Observer,
) -> std::io::Result<RunResult> {
    let workers = config.cores.len().max(1);
    if live.workers() < workers {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("live counters for {} workers, but the run has {workers}", live.workers()),
        ));
    }
    let scenarios = workload.scenarios();
    let started = std::time::SystemTime::now();
    let epoch = Instant::now() + Duration::from_millis(50);
    let held = observer.holds_stages();
    let sync = Arc::new(StageSync::new(epoch, config.stages.len(), workers, held));
    let config = Arc::new(config);
    // Bounded: workers never wait on it for turns (a full queue drops and counts).
    let (tx, rx) = mpsc::sync_channel::<WorkerMsg>(1 << 16);
    let handles = {
        let (config, workload, live, sync) = (config.clone(), workload.clone(), live.clone(), sync.clone());
        let https = config.targets.first().is_some_and(|t| t.scheme == Scheme::Https);
        spawn_pinned("llmload", &config.cores.clone(), move |index, _driver| {
            let (config, workload, live, sync, tx) =
                (config.clone(), workload.clone(), live.clone(), sync.clone(), tx.clone());
            // One transport per run: the worker is monomorphized for it.
            let worker: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> = if https {
                Box::pin(worker::run::<monoio_rustls::ClientTlsStream<monoio::net::TcpStream>>(
                    index, config, workload, live, sync, tx,
                ))
            } else {
                Box::pin(worker::run::<monoio::net::TcpStream>(index, config, workload, live, sync, tx))
            };
            worker
        })?
    };
    let n_scen = scenarios.len();
    let mut pending: Vec<Vec<Option<WorkerStage>>> =
        config.stages.iter().map(|_| (0..workers).map(|_| None).collect()).collect();
    let mut results: Vec<Option<StageResult>> = config.stages.iter().map(|_| None).collect();
    let mut next_tick = Instant::now() + Duration::from_secs(1);
    let mut next_flush = Instant::now() + FLUSH_EVERY;
    // The per-second timeline, sampled here so every caller (run, knee) gets the same one.
    let mut sampler = Sampler::default();
    let mut timeline = Vec::new();
    let mut finished = 0;
    let mut announced = None;
    // Stages let start (held: by the coordinator, after each boundary).
    let mut published = 0;
    if held && !config.stages.is_empty() {
        observer.boundary(0, false);
        sync.publish(0, epoch);
        published = 1;
    }
    while finished < config.stages.len() {
        let now = Instant::now();
        let current = sync.current_stage();
        if announced != Some(current) {
            if let Some(at) = sync.stage_start(current) {
                announced = Some(current);
                observer.stage_started(current, at);
            }
        }
        if now >= next_flush {
            observer.flush();
            next_flush = now + FLUSH_EVERY;
        }
        let timeout = next_tick.min(next_flush).saturating_duration_since(now);
        match rx.recv_timeout(timeout) {
            Ok(WorkerMsg::Turns(lines, count)) => observer.turns(&lines, count),
            Ok(WorkerMsg::StageOver(k)) => {
                let stopped = config.stop.load(std::sync::atomic::Ordering::Relaxed);
                if k + 1 < config.stages.len() && !stopped {
                    observer.boundary(k + 1, false);
                    sync.publish(k + 1, Instant::now());
                    published = k + 2;
                }
            }
            Ok(WorkerMsg::StageDone {
                worker,
                stage,
                stats,
                cpu,
                ended,
                stopped_at,
                sink_dropped,
                connecting_peak,
            }) => {
                pending[stage][worker] =
                    Some(WorkerStage { stats, cpu, ended, stopped_at, sink_dropped, connecting_peak });
                if pending[stage].iter().all(Option::is_some) {
                    let parts: Vec<_> =
                        pending[stage].iter_mut().map(|p| p.take().expect("all present")).collect();
                    let result = merge_stage(&config, stage, n_scen, parts, sync.stage_start(stage));
                    observer.stage_done(stage, &result);
                    results[stage] = Some(result);
                    finished += 1;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < next_tick => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let elapsed = Instant::now().saturating_duration_since(epoch);
                let second = sampler.sample(sync.current_stage(), elapsed, live.snapshot());
                observer.tick(&second, sampler.last());
                timeline.push(second);
                next_tick += Duration::from_secs(1);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let mut driver = Driver::Epoll;
    for h in handles {
        match h.join() {
            Ok(Ok((d, ()))) => driver = d,
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(std::io::Error::other("a worker thread panicked")),
        }
    }
    // Turns sent after the last stage report.
    while let Ok(report) = rx.try_recv() {
        if let WorkerMsg::Turns(lines, count) = report {
            observer.turns(&lines, count);
        }
    }
    observer.flush();
    if held {
        observer.boundary(published, true);
    }
    let interrupted = config.stop.load(std::sync::atomic::Ordering::Relaxed);
    let stages: Vec<StageResult> = results.into_iter().flatten().collect();
    let fixed_connections = config.connections.is_some();
    Ok(RunResult {
        stages,
        interrupted,
        fixed_connections,
        scenarios,
        driver,
        workers,
        started,
        elapsed: epoch.elapsed(),
        timeline,
    })
}

fn merge_stage(
    config: &EngineConfig,
    index: usize,
    n_scen: usize,
    parts: Vec<WorkerStage>,
    start: Option<Instant>,
) -> StageResult {
    let stage = config.stages[index].clone();
    let mut scenarios: Vec<Stats> = (0..n_scen).map(|_| Stats::default()).collect();
    let mut worker_cpu = Vec::with_capacity(parts.len());
    let connecting_peak = parts.iter().map(|p| p.connecting_peak).collect();
    let mut last_end = None::<Instant>;
    let mut stopped_at = None::<Instant>;
    let mut sink_dropped = 0;
    for part in parts {
        sink_dropped += part.sink_dropped;
        for (acc, s) in scenarios.iter_mut().zip(&part.stats) {
            acc.add(s);
        }
        worker_cpu.push(part.cpu);
        last_end = Some(last_end.map_or(part.ended, |e| e.max(part.ended)));
        stopped_at = match (stopped_at, part.stopped_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let mut all = Stats::default();
    for s in &scenarios {
        all.add(s);
    }
    let start = start.unwrap_or_else(|| last_end.unwrap_or_else(Instant::now));
    let wall = last_end.map_or(stage.duration, |e| e.saturating_duration_since(start));
    // A stage stopped before its planned end ran until the stop: rates use the time it ran
    // (the window ends where the workers stopped counting completions as served).
    let ran = stopped_at.map_or(stage.duration, |t| t.saturating_duration_since(start).min(stage.duration));
    let interrupted = ran < stage.duration;
    let steady = ran.saturating_sub(config.warmup);
    StageResult {
        stage,
        scenarios,
        all,
        wall,
        steady,
        interrupted,
        worker_cpu,
        sink_dropped,
        connecting_peak,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_run_counts_split_exactly_between_shards_and_workers() {
        for (total, shards, workers) in [(10, 3, 2), (64, 1, 2), (7, 2, 3), (10_000, 4, 1)] {
            let mut sum = 0;
            for k in 0..shards {
                let shard = shard::Shard { index: k, count: shards };
                sum += (0..workers).map(|w| shard.worker_part(total, workers, w)).sum::<usize>();
                assert!(check_parts(shard, workers, &[("--connections", Some(total))]).is_ok());
            }
            assert_eq!(sum, total, "{total} over {shards} shards × {workers} workers");
        }
        let e = check_parts(shard::Shard::default(), 2, &[("--connections", Some(1))]).unwrap_err();
        assert!(e.contains("--connections 1") && e.contains("at least 2"), "{e}");
        let two = shard::Shard { index: 0, count: 2 };
        assert!(check_parts(two, 2, &[("--max-inflight", Some(3))])
            .unwrap_err()
            .contains("each of 2 shards"));
        assert!(check_parts(two, 2, &[("--max-inflight", None)]).is_ok());
    }
}
