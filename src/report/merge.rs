//! Runs of one profile from several generator hosts (or shards), combined exactly: counters
//! summed, histograms added, every percentile recomputed from the added histograms (never
//! averaged). Inputs that do not describe the same test are refused with the reason.

use std::collections::BTreeMap;

use super::summary::{self, MergedRun, Second, Summary};
use super::thresholds::Coverage;
use super::view::RunView;
use crate::engine::shard::Shard;
use crate::engine::RunResult;

/// A summary's run id. One written before run ids existed is identified by its host, shard
/// and start and end times instead (a copy has the same ones; two runs do not).
fn identity(s: &Summary) -> String {
    if s.meta.run_id.is_empty() {
        let m = &s.meta;
        format!("legacy:{}:{}:{}:{}", m.host, m.shard, m.start_unix_us, m.end_unix_us)
    } else {
        s.meta.run_id.clone()
    }
}

/// The single runs a summary stands for: itself, or the runs it was merged from.
fn leaves(s: &Summary) -> Vec<MergedRun> {
    if s.meta.merged_runs.is_empty() {
        vec![MergedRun { run_id: identity(s), shard: s.meta.shard.clone() }]
    } else {
        s.meta.merged_runs.clone()
    }
}

/// Refuses a run given twice (by run id, also inside an earlier merge), one shard given by
/// two runs, and shards of different splits; returns every single run, each once, and what
/// they cover together (a part while some shard of the split is missing).
fn distinct_runs(inputs: &[(String, Summary)]) -> Result<(Vec<MergedRun>, Coverage), String> {
    let mut seen: Vec<(&str, MergedRun)> = Vec::new();
    for (name, s) in inputs {
        for run in leaves(s) {
            if let Some((other, _)) = seen.iter().find(|(_, r)| r.run_id == run.run_id) {
                return Err(format!(
                    "{other} and {name} hold the same run (run id {}): merging it twice would count \
                     every request twice",
                    run.run_id
                ));
            }
            let shard = |r: &MergedRun| Shard::parse(&r.shard).ok();
            for (other, r) in &seen {
                match (shard(r), shard(&run)) {
                    (Some(a), Some(b)) if a == b => {
                        return Err(format!(
                            "{other} and {name} are both shard {a} (different runs): that shard's load \
                             would be counted twice; merge one run per shard"
                        ))
                    }
                    (Some(a), Some(b)) if a.count != b.count => {
                        return Err(format!(
                            "{other} is shard {a} but {name} is shard {b}: shards of different splits"
                        ))
                    }
                    (Some(_), None) | (None, Some(_)) => {
                        let (sharded, whole): (&str, &str) =
                            if run.shard.is_empty() { (other, name) } else { (name, other) };
                        return Err(format!(
                            "{sharded} is a shard but {whole} is not: merge the shards of one split"
                        ));
                    }
                    _ => {}
                }
            }
            seen.push((name, run));
        }
    }
    let shards: Vec<Shard> = seen.iter().filter_map(|(_, r)| Shard::parse(&r.shard).ok()).collect();
    let coverage = match shards.first() {
        Some(s) if shards.len() < s.count => Coverage::Shard,
        _ => Coverage::Whole,
    };
    Ok((seen.into_iter().map(|(_, r)| r).collect(), coverage))
}

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
    // `--tokenizer` is not in the profile: counts of two tokenizers do not add up.
    let (a, b) = (&first.meta.tokenizer, &other.meta.tokenizer);
    if a != b {
        let show = |t: &Option<String>| t.clone().unwrap_or_else(|| "none".into());
        return Err(format!("{name}: a different tokenizer ({} vs {})", show(b), show(a)));
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
        a.connecting_peak.extend(stage.connecting_peak);
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
pub(crate) fn merge(inputs: &[(String, Summary)]) -> Result<Summary, String> {
    let Some((_, first)) = inputs.first() else { return Err("nothing to merge".into()) };
    for (name, s) in &inputs[1..] {
        check_compatible(first, s, name)?;
    }
    let (runs, coverage) = distinct_runs(inputs)?;
    let decode =
        |name: &str, s| RunView::decode(s).map(RunView::into_run).map_err(|e| format!("{name}: {e}"));
    let mut run = decode(&inputs[0].0, first)?;
    for (name, s) in &inputs[1..] {
        add_run(&mut run, decode(name, s)?);
    }
    let timelines: Vec<&[Second]> = inputs.iter().map(|(_, s)| s.timeline.as_slice()).collect();
    run.timeline = merge_timelines(&timelines);
    let mut dns = BTreeMap::new();
    for (_, s) in inputs {
        for (h, us) in &s.dns_us {
            dns.entry(h.clone()).or_insert(*us);
        }
    }
    let info = super::summary::RunInfo {
        target: first.target.clone(),
        fd_limit: inputs.iter().map(|(_, s)| s.fd_limit).min().unwrap_or(0),
        dns: dns.into_iter().map(|(h, us)| (h, std::time::Duration::from_micros(us))).collect(),
        tokenizer: first.meta.tokenizer.clone(),
    };
    // The limits the runs were judged by (older summaries: the profile's thresholds).
    let limits = match crate::profile::from_json(&first.meta.profile.to_string()) {
        _ if !first.meta.limits.is_empty() => first.meta.limits.clone(),
        Ok(profile) if !first.meta.profile.is_null() => profile.thresholds,
        _ => Vec::new(),
    };
    let checks = super::thresholds::evaluate(&limits, &run, coverage);
    let mut out = summary::build(&run, &info, &checks);
    let mut drivers: Vec<&str> = inputs.iter().map(|(_, s)| s.driver.as_str()).collect();
    drivers.dedup();
    out.driver = drivers.join(" + ");
    out.meta = first.meta.clone();
    out.meta.run_id = summary::new_run_id();
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
    for (name, s) in inputs {
        if s.meta.run_id.is_empty() {
            out.meta.notes.push(format!(
                "{name} has no run id (written by an older llmload): told apart from the others by \
                 its host, shard and start and end times{}",
                if s.meta.merged_from.is_empty() {
                    ""
                } else {
                    "; the runs merged into it could not be checked"
                }
            ));
        }
    }
    if coverage == Coverage::Shard {
        let count = Shard::parse(&runs[0].shard).map_or(0, |s| s.count);
        out.meta.notes.push(format!(
            "{} of {count} shards merged: absolute thresholds (min_rps) stay deferred until every shard is",
            runs.len()
        ));
    }
    out.meta.merged_runs = runs;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::summary::Meta;

    fn summary(meta: Meta) -> Summary {
        let value = serde_json::json!({
            "schema_version": summary::SCHEMA_VERSION, "llmload_version": "0", "meta": meta,
            "target": "t", "dns_us": {}, "driver": "epoll", "workers": 1, "fd_limit": 1,
            "generator_bound": false, "interrupted": false, "stages": [], "thresholds": [], "pass": true
        });
        serde_json::from_value(value).unwrap()
    }

    fn run(id: &str, shard: &str) -> Summary {
        summary(Meta { run_id: id.into(), shard: shard.into(), host: "h".into(), ..Meta::default() })
    }

    fn check(parts: &[(&str, Summary)]) -> Result<(Vec<MergedRun>, Coverage), String> {
        let named: Vec<(String, Summary)> = parts.iter().map(|(n, s)| (n.to_string(), s.clone())).collect();
        distinct_runs(&named)
    }

    #[test]
    fn a_run_given_twice_is_refused_also_inside_a_merge() {
        let err = check(&[("a", run("1", "")), ("b", run("1", ""))]).unwrap_err();
        assert!(err.contains("a and b hold the same run (run id 1)"), "{err}");
        let (runs, coverage) = check(&[("a", run("1", "0/2")), ("b", run("2", "1/2"))]).unwrap();
        assert_eq!(coverage, Coverage::Whole);
        let merged = summary(Meta { run_id: "m".into(), merged_runs: runs, ..Meta::default() });
        let err = check(&[("m", merged.clone()), ("b", run("2", "1/2"))]).unwrap_err();
        assert!(err.contains("m and b hold the same run (run id 2)"), "{err}");
        // Old summaries (no run id): a copy has the same host, shard and times.
        let old = |start| summary(Meta { host: "h".into(), start_unix_us: start, ..Meta::default() });
        assert!(check(&[("x", old(5)), ("y", old(5))]).unwrap_err().contains("the same run"));
        assert!(check(&[("x", old(5)), ("y", old(6))]).is_ok());
    }

    #[test]
    fn shards_must_be_distinct_parts_of_one_split() {
        let err = check(&[("a", run("1", "0/2")), ("b", run("2", "0/2"))]).unwrap_err();
        assert!(err.contains("both shard 0/2"), "{err}");
        let err = check(&[("a", run("1", "0/2")), ("b", run("2", "1/3"))]).unwrap_err();
        assert!(err.contains("different splits"), "{err}");
        let err = check(&[("a", run("1", "")), ("b", run("2", "1/2"))]).unwrap_err();
        assert!(err.contains("b is a shard but a is not"), "{err}");
        // Two of three shards are still a part of the run.
        let (_, coverage) = check(&[("a", run("1", "0/3")), ("b", run("2", "2/3"))]).unwrap();
        assert_eq!(coverage, Coverage::Shard);
        let (_, coverage) = check(&[("a", run("1", "")), ("b", run("2", ""))]).unwrap();
        assert_eq!(coverage, Coverage::Whole);
    }

    #[test]
    fn runs_counted_by_different_tokenizers_do_not_merge() {
        let with = |t: Option<&str>| summary(Meta { tokenizer: t.map(str::to_string), ..Meta::default() });
        let err = check_compatible(&with(Some("o200k_base")), &with(None), "b").unwrap_err();
        assert_eq!(err, "b: a different tokenizer (none vs o200k_base)");
        assert!(check_compatible(&with(Some("cl100k_base")), &with(Some("cl100k_base")), "b").is_ok());
    }
}
