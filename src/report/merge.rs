//! Runs of one profile from several generator hosts (or shards), combined exactly: counters
//! summed, histograms added, every percentile recomputed from the added histograms (never
//! averaged). Inputs that do not describe the same test are refused with the reason.

use std::collections::BTreeMap;

use super::model::run_from_summary;
use super::summary::{self, Second, Summary};
use crate::engine::RunResult;

/// Why two summaries cannot be merged.
fn check_compatible(first: &Summary, other: &Summary, name: &str) -> Result<(), String> {
    let (a, b) = (&first.meta.profile_sha256, &other.meta.profile_sha256);
    if a != b {
        return Err(format!(
            "{name}: a different profile (sha256 {} vs {}): merge only runs of the same profile",
            short(b),
            short(a)
        ));
    }
    let (mine, theirs): (Vec<&str>, Vec<&str>) = (
        first.stages.iter().map(|st| st.stage.as_str()).collect(),
        other.stages.iter().map(|st| st.stage.as_str()).collect(),
    );
    // An interrupted run completed a prefix of the stages: only that prefix must agree.
    let n = if first.interrupted || other.interrupted {
        mine.len().min(theirs.len())
    } else {
        mine.len().max(theirs.len())
    };
    if mine.get(..n) != theirs.get(..n) {
        return Err(format!("{name}: different stages ({} vs {})", theirs.join(","), mine.join(",")));
    }
    Ok(())
}

fn short(hash: &str) -> &str {
    if hash.is_empty() {
        "none"
    } else {
        &hash[..hash.len().min(12)]
    }
}

/// Adds `other` into `acc`, stage by stage (stages only one side has are kept as they are).
fn add_run(acc: &mut RunResult, other: RunResult) {
    for (i, stage) in other.stages.into_iter().enumerate() {
        let Some(a) = acc.stages.get_mut(i) else {
            acc.stages.push(stage);
            continue;
        };
        for (name, s) in other.scenarios.iter().zip(&stage.scenarios) {
            match acc.scenarios.iter().position(|n| n == name) {
                Some(j) => a.scenarios[j].add(s),
                None => {
                    acc.scenarios.push(name.clone());
                    a.scenarios.push(s.clone());
                }
            }
        }
        a.all.add(&stage.all);
        a.wall = a.wall.max(stage.wall);
        a.steady = a.steady.max(stage.steady);
        a.worker_cpu.extend(stage.worker_cpu);
        a.sink_dropped += stage.sink_dropped;
    }
    acc.interrupted |= other.interrupted;
    acc.fixed_connections |= other.fixed_connections;
    acc.workers += other.workers;
}

/// Per-second samples summed by position (the shards started together). Percentiles of a
/// second cannot be combined exactly, so they are kept only when one run has them.
fn merge_timelines(parts: &[&[Second]]) -> Vec<Second> {
    let len = parts.iter().map(|p| p.len()).max().unwrap_or(0);
    (0..len)
        .map(|i| {
            let here: Vec<&Second> = parts.iter().filter_map(|p| p.get(i)).collect();
            let mut s = Second { t: here[0].t, stage: here[0].stage, ..Second::default() };
            for h in &here {
                s.sent += h.sent;
                s.ok += h.ok;
                s.failed += h.failed;
                s.cancelled += h.cancelled;
                s.dropped += h.dropped;
                s.tokens += h.tokens;
                s.in_flight += h.in_flight;
            }
            if here.len() == 1 {
                s.latency_p50_us = here[0].latency_p50_us;
                s.latency_p99_us = here[0].latency_p99_us;
                s.ttft_p50_us = here[0].ttft_p50_us;
            }
            s
        })
        .collect()
}

/// Merges summaries (named for errors) into one. The thresholds of the profile they share
/// are checked again on the merged figures.
pub fn merge(inputs: &[(String, Summary)]) -> Result<Summary, String> {
    let Some((_, first)) = inputs.first() else { return Err("nothing to merge".into()) };
    for (name, s) in &inputs[1..] {
        check_compatible(first, s, name)?;
    }
    let mut run = run_from_summary(first).map_err(|e| format!("{}: {e}", inputs[0].0))?;
    for (name, s) in &inputs[1..] {
        add_run(&mut run, run_from_summary(s).map_err(|e| format!("{name}: {e}"))?);
    }
    let mut dns = BTreeMap::new();
    for (_, s) in inputs {
        for (h, us) in &s.dns_us {
            dns.entry(h.clone()).or_insert(*us);
        }
    }
    let info = super::text::RunInfo {
        target: first.target.clone(),
        fd_limit: inputs.iter().map(|(_, s)| s.fd_limit).min().unwrap_or(0),
        dns: dns.into_iter().map(|(h, us)| (h, std::time::Duration::from_micros(us))).collect(),
    };
    let checks = match crate::profile::from_json(&first.meta.profile.to_string()) {
        Ok(profile) if !first.meta.profile.is_null() => {
            super::thresholds::evaluate(&profile.thresholds, &run)
        }
        _ => Vec::new(),
    };
    let mut out = summary::build(&run, &info, &checks);
    let mut drivers: Vec<&str> = inputs.iter().map(|(_, s)| s.driver.as_str()).collect();
    drivers.dedup();
    out.driver = drivers.join(" + ");
    out.meta = first.meta.clone();
    out.meta.shard = String::new();
    out.meta.cores = Vec::new();
    out.meta.host = "merged".into();
    out.meta.start_unix_us = inputs.iter().map(|(_, s)| s.meta.start_unix_us).min().unwrap_or(0);
    out.meta.end_unix_us = inputs.iter().map(|(_, s)| s.meta.end_unix_us).max().unwrap_or(0);
    out.meta.merged_from = inputs
        .iter()
        .flat_map(|(_, s)| {
            if s.meta.merged_from.is_empty() {
                let shard =
                    if s.meta.shard.is_empty() { String::new() } else { format!(" shard {}", s.meta.shard) };
                vec![format!("{}{shard}", s.meta.host)]
            } else {
                s.meta.merged_from.clone()
            }
        })
        .collect();
    let timelines: Vec<&[Second]> = inputs.iter().map(|(_, s)| s.timeline.as_slice()).collect();
    out.timeline = merge_timelines(&timelines);
    Ok(out)
}
