//! `llmload knee`: open-loop probes, growing then bisecting, to the highest rate the server
//! sustains within its SLOs (see `crate::knee` for the algorithm). Every probe is a stage of
//! one run directory, so every report, `compare` and `merge` work on it.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::progress::Progress;
use super::run::{self, RunArgs};
use super::{ExitCode, Failure};
use crate::engine::{self, RunResult};
use crate::knee::{self, Outcome, Search, Verdict};
use crate::metrics::live::Live;
use crate::metrics::Limit;
use crate::profile::stages::{Load, Stage};
use crate::report::health;
use crate::units::{format_us, parse_duration};

#[derive(Args, Debug)]
pub(super) struct KneeArgs {
    /// Objectives every probe must meet, e.g. `ttft_p99=800ms,e2e_p99=5s,error_rate=1%`.
    #[arg(long, default_value = "error_rate=1%")]
    slo: String,
    /// Rate of the first probe (arrivals/s).
    #[arg(long, default_value_t = 10.0)]
    start_rate: f64,
    /// Highest rate to try.
    #[arg(long, default_value_t = 100_000.0)]
    max_rate: f64,
    /// Factor between probes while every probe passes.
    #[arg(long, default_value_t = 2.0)]
    growth: f64,
    /// Stop bisecting when (first fail − last pass) / last pass is at most this.
    #[arg(long, default_value_t = 0.05)]
    precision: f64,
    /// Measured window of each probe.
    #[arg(long, default_value = "10s")]
    probe: String,
    /// Start of each probe left out of the figures (connections, caches, queues settle).
    #[arg(long, default_value = "3s")]
    probe_warmup: String,
    #[command(flatten)]
    run: RunArgs,
}

fn row(i: usize, rate: f64, stage: &engine::StageResult, slos: &[Limit], verdict: &Verdict) -> String {
    let all = &stage.all;
    let steady = stage.steady.as_secs_f64();
    let figures: Vec<String> = slos
        .iter()
        .map(|s| format!("{} {}", s.name, s.value(all, steady).map_or("-".into(), |v| s.show(v))))
        .collect();
    let lag = all.hists.get(crate::metrics::Metric::SendLag);
    let verdict = match verdict {
        Verdict::Pass => "PASS".to_string(),
        Verdict::Fail(r) => format!("FAIL: {}", r.join("; ")),
        Verdict::GeneratorLimited(r) => format!("GENERATOR-BOUND: {}", r.join("; ")),
    };
    format!(
        "probe {:>2}  @{rate}/s  served {:.1}/s of {:.1}/s  {}  send lag p99 {}  {verdict}",
        i + 1,
        knee::served_rate(stage),
        knee::offered_rate(stage),
        figures.join("  "),
        if lag.is_empty() { "-".into() } else { format_us(lag.value_at_quantile(0.99) as f64) },
    )
}

pub(super) fn run(args: KneeArgs) -> Result<ExitCode, Failure> {
    args.run.reject_for_knee()?;
    let slos = knee::parse_slos(&args.slo).map_err(Failure::usage)?;
    let mut search =
        Search::new(args.start_rate, args.max_rate, args.growth, args.precision).map_err(Failure::usage)?;
    let dur = |flag: &str, v: &str| parse_duration(v).map_err(|e| Failure::usage(format!("--{flag}: {e}")));
    let (probe, warmup) = (dur("probe", &args.probe)?, dur("probe-warmup", &args.probe_warmup)?);
    if probe < Duration::from_secs(1) {
        return Err(Failure::usage("--probe: at least 1s, or percentiles mean little"));
    }
    let mut p = run::prepare(&args.run)?;
    let stop = p.config.stop.clone();
    run::stop_on_signals(&stop);
    eprintln!(
        "llmload knee: {} scenario(s) on {} worker(s); SLOs {}; probes of {} after {} warmup, from {}/s \
         by ×{} then bisecting to {:.0}%; reports in {}",
        p.profile.scenarios.len(),
        p.config.cores.len(),
        args.slo,
        format_us(probe.as_micros() as f64),
        format_us(warmup.as_micros() as f64),
        args.start_rate,
        args.growth,
        args.precision * 100.0,
        p.dir.display()
    );

    let mut stages = Vec::new();
    let mut timeline = Vec::new();
    let mut rows = Vec::new();
    let mut first: Option<RunResult> = None;
    let mut offset = 0.0;
    while let Some(rate) = search.next_rate() {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        let stage =
            Stage { load: Load::Open { from: rate, to: rate }, duration: warmup + probe, trace: None };
        let mut config = p.config.clone();
        config.stages = vec![stage.clone()];
        config.warmup = warmup;
        config.turn_lines = None;
        let live = Arc::new(Live::new(config.cores.len()));
        let mut progress = Progress::new(vec![stage], None, stop.clone());
        let result = engine::run(config, p.workload.clone(), live, &mut progress);
        progress.end_line();
        let mut result = result.map_err(|e| Failure::runtime(format!("probe at {rate}/s failed: {e}")))?;
        let Some(probe_result) = result.stages.pop() else { break };
        let verdict = knee::judge(
            &probe_result,
            &slos,
            health::generator_limits(&probe_result, result.fixed_connections),
        );
        let line = row(stages.len(), rate, &probe_result, &slos, &verdict);
        eprintln!("{line}");
        rows.push(line);
        search.record(rate, &verdict);
        for mut second in std::mem::take(&mut result.timeline) {
            second.t += offset;
            second.stage = stages.len();
            timeline.push(second);
        }
        offset += result.elapsed.as_secs_f64();
        stages.push(probe_result);
        first.get_or_insert(result);
    }
    if let Some(server) = p.mock.take() {
        server.stop();
    }
    let Some(base) = first else {
        return Err(Failure::runtime("knee: interrupted before the first probe ended"));
    };
    let interrupted = search.outcome().is_none();
    let outcome = search.outcome().cloned();
    let verdict = match &outcome {
        Some(o) => o.to_string(),
        None => "interrupted before the search ended".to_string(),
    };
    let run = RunResult { stages, interrupted, elapsed: Duration::from_secs_f64(offset), timeline, ..base };
    let mut notes = vec![format!("knee search ({}): {verdict}", args.slo)];
    notes.extend(rows.iter().cloned());
    let (_report, _checks) = crate::plan::finish(&p, &run, notes).map_err(Failure::runtime)?;
    let mut text = rows.join("\n");
    text.push_str(&format!("\n\n{verdict}\n"));
    std::fs::write(p.dir.join("knee.txt"), &text)
        .map_err(|e| Failure::runtime(format!("{}: {e}", p.dir.join("knee.txt").display())))?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}\nreports: {}", p.dir.display());
    Ok(match outcome {
        Some(Outcome::Knee { .. }) | Some(Outcome::AboveMax { .. }) => ExitCode::Pass,
        Some(Outcome::BelowStart { .. }) => ExitCode::ThresholdFailed,
        Some(Outcome::GeneratorLimited { .. }) | None => ExitCode::NotValid,
    })
}
