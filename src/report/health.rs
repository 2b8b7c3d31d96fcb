//! Generator health: whether a run's numbers describe the server or llmload itself; and
//! what the target did that the headline figures do not say on their own (it fell short of
//! the offered load, it could not be reached).

use crate::engine::{RunResult, StageResult};
use crate::metrics::{ErrorKind, Metric, Stats};
use crate::units::format_us;

/// An open-loop stage whose served rate is below this share of the offered rate is flagged:
/// the target did not keep up (queued or shed what it could not serve).
pub(crate) const SERVED_SHARE_MIN: f64 = 0.90;

/// Open-loop send-lag p99 above this means the generator could not keep its schedule.
pub(crate) const SEND_LAG_P99_LIMIT_US: u64 = 5_000;
/// A worker busier than this share of the stage's wall time is saturated.
pub(crate) const WORKER_CPU_LIMIT: f64 = 0.90;

/// Why a stage's numbers may describe the generator rather than the server.
pub(crate) fn stage_findings(stage: &StageResult, fixed_connections: bool) -> Vec<String> {
    let mut out = Vec::new();
    let at_limit = stage.all.dropped - stage.all.dropped_behind;
    if at_limit > 0 {
        out.push(format!("{at_limit} arrivals dropped at the in-flight limit (--max-inflight)"));
    }
    out.extend(generator_limits(stage, fixed_connections));
    out
}

/// What the target did that a reader of the rates must know: an open-loop stage served
/// less than was offered, or requests never reached the server.
pub(crate) fn target_findings(stage: &StageResult) -> Vec<String> {
    let mut out = Vec::new();
    let all = &stage.all;
    let window = stage.steady.as_secs_f64();
    let unreached: u64 =
        ErrorKind::ALL.iter().filter(|k| k.is_unreached()).map(|k| all.errors[k.index()]).sum();
    // What never reached the target is reported below, not as a target that fell behind.
    let offered = (all.requests + all.dropped).saturating_sub(unreached);
    if stage.stage.is_open() && offered > 0 && window > 0.0 {
        let (served, offered_rps) = (all.served as f64 / window, offered as f64 / window);
        if served < SERVED_SHARE_MIN * offered_rps {
            let mut f = format!(
                "served {served:.1}/s of the {offered_rps:.1}/s offered{} ({:.0}%): the target did not keep \
                 up; {} requests finished after the window",
                if unreached > 0 { " that reached it" } else { "" },
                served * 100.0 / offered_rps,
                all.late
            );
            let p50 = all.hists.get(Metric::Latency);
            let warmup = stage.stage.duration.saturating_sub(stage.steady);
            if !p50.is_empty()
                && !stage.interrupted
                && (p50.value_at_quantile(0.5) as u128) > warmup.as_micros()
            {
                let warmup = if warmup.is_zero() {
                    "no warmup".to_string()
                } else {
                    format!("the warmup ({})", format_us(warmup.as_micros() as f64))
                };
                f.push_str(&format!(
                    " ({warmup} is shorter than the median latency, {}: requests still in flight at the \
                     window's end are part of the gap; a warmup above the p99 latency measures the steady \
                     state)",
                    format_us(p50.value_at_quantile(0.5) as f64)
                ));
            }
            out.push(f);
        }
    }
    if unreached > 0 {
        let classes: Vec<String> = ErrorKind::ALL
            .iter()
            .filter(|k| k.is_unreached() && all.errors[k.index()] > 0)
            .map(|k| format!("{}={}", k.name(), all.errors[k.index()]))
            .collect();
        let what = if all.ok == 0 && unreached == all.failed {
            "target unreachable: every request failed before reaching the server".to_string()
        } else {
            format!("{unreached} requests failed before reaching the server")
        };
        let backoff = if all.backoffs > 0 {
            format!("; closed-loop users backed off {} times before retrying", all.backoffs)
        } else {
            String::new()
        };
        out.push(format!("{what} ({}){backoff}", classes.join(" ")));
    }
    out
}

/// Scenarios (and the stage as a whole) whose successful answers were all reasoning, with
/// no text and no tool call: reasoning used the token budget (raise `max_tokens`, or lower the
/// reasoning effort). Some answers so: said as a share.
pub(crate) fn reasoning_findings(stage: &StageResult, names: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let rows = names.iter().map(String::as_str).zip(&stage.scenarios);
    let rows: Vec<(&str, &Stats)> = if names.len() > 1 { rows.collect() } else { vec![("ALL", &stage.all)] };
    for (name, s) in rows {
        if s.reasoning_only == 0 {
            continue;
        }
        let share = if s.reasoning_only == s.ok {
            format!("all {} ok answers", s.ok)
        } else {
            format!("{} of {} ok answers", s.reasoning_only, s.ok)
        };
        let budget = if s.finish_length > 0 {
            format!(", {} ended at the token budget", s.finish_length)
        } else {
            String::new()
        };
        out.push(format!(
            "{name}: {share} had 0 content tokens, only reasoning ({} reasoning tokens{budget}): reasoning used              the budget (raise max_tokens or lower the reasoning effort)",
            s.reasoning_tokens
        ));
    }
    out
}

/// The findings that mean llmload itself ran out of something (ports, fds, CPU, its
/// schedule) — unlike drops at the in-flight limit, which a slow server causes.
pub(crate) fn generator_limits(stage: &StageResult, fixed_connections: bool) -> Vec<String> {
    let mut out = Vec::new();
    let all = &stage.all;
    let gen_errors = all.generator_errors();
    if gen_errors > 0 {
        out.push(format!(
            "{gen_errors} generator-side errors (port or fd exhaustion, unusable source address)"
        ));
    }
    if all.dropped_behind > 0 {
        out.push(format!(
            "{} arrivals never sent: llmload fell behind its schedule and the stage ended first",
            all.dropped_behind
        ));
    }
    if stage.stage.is_open() && !fixed_connections {
        let lag = all.hists.get(Metric::SendLag);
        if !lag.is_empty() && lag.value_at_quantile(0.99) > SEND_LAG_P99_LIMIT_US {
            out.push(format!(
                "send lag p99 {} above {}",
                crate::units::format_us(lag.value_at_quantile(0.99) as f64),
                crate::units::format_us(SEND_LAG_P99_LIMIT_US as f64)
            ));
        }
    }
    let wall = stage.wall.as_secs_f64().max(1e-9);
    if let Some(max_cpu) = stage.worker_cpu.iter().map(|c| c.as_secs_f64() / wall).reduce(f64::max) {
        if max_cpu > WORKER_CPU_LIMIT {
            out.push(format!("a worker used {:.0}% of a core", max_cpu * 100.0));
        }
    }
    out
}

/// The generator-health verdict shared by every report: whether the figures describe the
/// server, llmload itself, or nothing at all (no request reached the server). `true` = good.
pub(crate) fn verdict(total: &Stats, bound: bool) -> (bool, &'static str) {
    let unreached: u64 =
        ErrorKind::ALL.iter().filter(|k| k.is_unreached()).map(|k| total.errors[k.index()]).sum();
    if total.requests > 0 && total.ok == 0 && unreached == total.requests {
        (false, "NO REQUEST REACHED THE SERVER — the figures describe neither the server nor llmload (see the target findings)")
    } else if bound {
        (false, "GENERATOR-BOUND — some figures describe llmload, not the server (see the findings)")
    } else {
        (true, "the figures describe the server (no drops, no port/fd exhaustion, schedule kept)")
    }
}

/// True when any stage was generator-bound.
pub(crate) fn generator_bound(run: &RunResult) -> bool {
    run.stages.iter().any(|s| !stage_findings(s, run.fixed_connections).is_empty())
}
