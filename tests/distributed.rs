//! Several generator processes as one: shards of a run against the mock, merged, versus one
//! process at the same total load; merge refusals; re-rendering reports from saved data.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{assert_accounted, run_llmload, stage_all, tempdir, Mock};
use llmload::metrics::encode;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_llmload"))
}

fn profile(dir: &Path, target: &str) -> PathBuf {
    let path = dir.join("profile.json");
    let p = serde_json::json!({
        "defaults": {"target": target, "model": "mock-gpt", "protocol": "openai-chat", "stream": true, "max_tokens": 16},
        "stages": "@100:3s,6:2s",
        "warmup": "0s",
        "scenarios": [
            {"name": "a", "weight": 55, "content": {"mode": "pool", "prompts": ["hi a"]}},
            {"name": "b", "weight": 30, "content": {"mode": "pool", "prompts": ["hi b"]}},
            {"name": "c", "weight": 15, "content": {"mode": "pool", "prompts": ["hi c"]}}
        ]
    });
    std::fs::write(&path, p.to_string()).unwrap();
    path
}

/// The run directory a finished `--out` holds.
fn run_dir(out: &Path) -> PathBuf {
    std::fs::read_dir(out).unwrap().next().unwrap().unwrap().path()
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

fn conv_ids(dir: &Path) -> HashSet<String> {
    std::fs::read_to_string(dir.join("results.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["conv_uuid"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Percentile of the histograms of `metric` in stage `i` of several summaries, added.
fn added_quantile(summaries: &[&serde_json::Value], i: usize, metric: &str, q: f64) -> u64 {
    let mut total = llmload::metrics::hist::new_histogram();
    for s in summaries {
        let text = stage_all(s, i)["histograms"][metric].as_str().expect("histogram present");
        total.add(encode::decode(text).unwrap()).unwrap();
    }
    total.value_at_quantile(q)
}

#[test]
fn shards_merged_equal_one_process_at_the_same_total_load() {
    let mock = Mock::start(&["--cores", "1", "--ttft", "20ms", "--itl", "2ms", "--output-tokens", "8"]);
    let work = tempdir("shards");
    let profile = profile(&work, &format!("http://{}/v1/chat/completions", mock.addr));
    let profile = profile.to_str().unwrap();

    // Two shards started together...
    let start = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 2;
    let shards: Vec<_> = (0..2)
        .map(|k| {
            let out = work.join(format!("shard{k}"));
            let child = bin()
                .args(["run", profile, "--cores", "1", "--shard", &format!("{k}/2"), "--start-at"])
                .arg(start.to_string())
                .arg("--out")
                .arg(&out)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (out, child)
        })
        .collect();
    let mut dirs = Vec::new();
    for (out, child) in shards {
        let o = child.wait_with_output().unwrap();
        let dir = run_dir(&out);
        common::assert_ran(o.status.code(), &summary(&dir), &String::from_utf8_lossy(&o.stderr));
        dirs.push(dir);
    }
    // ...and one process with everything.
    let one = run_llmload(&[profile, "--cores", "1"], Duration::from_secs(60));
    common::assert_ran(Some(one.code), &one.summary, &one.stderr);

    let merged_dir = work.join("merged");
    let o = bin().arg("merge").args(&dirs).arg("--out").arg(&merged_dir).output().unwrap();
    assert!(matches!(o.status.code(), Some(0)), "{}", String::from_utf8_lossy(&o.stderr));
    let merged = summary(&merged_dir);
    let parts: Vec<serde_json::Value> = dirs.iter().map(|d| summary(d)).collect();

    for (k, s) in parts.iter().enumerate() {
        assert_eq!(s["meta"]["shard"], format!("{k}/2"));
        let skew = s["meta"]["start_skew_us"].as_i64().expect("skew recorded");
        assert!(skew.abs() < 1_000_000, "shard {k} started {skew} µs off --start-at");
    }
    // Open loop: 100/s for 3 s is exactly 300 arrivals, split 150 + 150.
    for s in &parts {
        assert_eq!(stage_all(s, 0)["requests"], 150, "each shard runs half the rate");
    }
    assert_eq!(stage_all(&merged, 0)["requests"], 300);
    assert_eq!(stage_all(&one.summary, 0)["requests"], 300);
    // Counters are sums, for every stage.
    for i in 0..2 {
        let sum: u64 = parts.iter().map(|s| stage_all(s, i)["requests"].as_u64().unwrap()).sum();
        assert_eq!(stage_all(&merged, i)["requests"].as_u64().unwrap(), sum);
        assert_accounted(stage_all(&merged, i));
        assert_eq!(stage_all(&merged, i)["failed"], 0);
    }
    // Closed loop, 6 users split 3 + 3: the same rate as one process within a wide bound
    // (both are bounded by the mock's latency, which a busy machine stretches unevenly
    // between the two runs; the exact checks are the counts above).
    let (m, s) =
        (stage_all(&merged, 1)["rps"].as_f64().unwrap(), stage_all(&one.summary, 1)["rps"].as_f64().unwrap());
    assert!((m - s).abs() / s < 0.5, "closed-loop rps merged {m} vs one process {s}");
    // Percentiles come from the added histograms, exactly.
    let refs: Vec<&serde_json::Value> = parts.iter().collect();
    for (metric, key) in [("latency", "p99"), ("latency", "p50"), ("ttft", "p90"), ("itl", "p999")] {
        let q = match key {
            "p50" => 0.5,
            "p90" => 0.9,
            "p99" => 0.99,
            _ => 0.999,
        };
        assert_eq!(
            stage_all(&merged, 0)["us"][metric][key].as_u64().unwrap(),
            added_quantile(&refs, 0, metric, q),
            "{metric} {key}"
        );
    }
    // Shards have their own seeds: no conversation id is shared.
    let (a, b) = (conv_ids(&dirs[0]), conv_ids(&dirs[1]));
    assert!(!a.is_empty() && a.is_disjoint(&b), "conversation ids collide across shards");
    let text = std::fs::read_to_string(merged_dir.join("report.txt")).unwrap();
    assert!(text.contains("merged from 2 runs"), "{text}");
}

#[test]
fn merge_refuses_runs_that_are_not_the_same_test() {
    let mock = Mock::start(&["--cores", "1", "--ttft", "1ms", "--itl", "1ms", "--output-tokens", "4"]);
    let work = tempdir("merge-refuse");
    let target = format!("http://{}/v1/chat/completions", mock.addr);
    let prof = profile(&work, &target);
    let prof = prof.to_str().unwrap();
    let a = run_llmload(&[prof, "--cores", "1", "--stages", "7:1s"], Duration::from_secs(30));
    let b = run_llmload(&[prof, "--cores", "1", "--stages", "7:2s"], Duration::from_secs(30));
    let c = run_llmload(&["--target", &target, "--cores", "1", "--stages", "7:1s"], Duration::from_secs(30));
    for r in [&a, &b, &c] {
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let merge = |x: &Path, y: &Path| {
        let o = bin().arg("merge").arg(x).arg(y).arg("--out").arg(work.join("m")).output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stderr).to_string())
    };
    let (code, err) = merge(&a.dir, &b.dir);
    assert_eq!(code, Some(2));
    assert!(err.contains("different stages"), "{err}");
    let (code, err) = merge(&a.dir, &c.dir);
    assert_eq!(code, Some(2));
    assert!(err.contains("different profile"), "{err}");
    // One run twice would double every count: refused, by path and by run id.
    let id = a.summary["meta"]["run_id"].as_str().expect("run id recorded").to_string();
    assert_eq!(id.len(), 32, "{id}");
    assert_ne!(b.summary["meta"]["run_id"], a.summary["meta"]["run_id"]);
    let (code, err) = merge(&a.dir, &a.dir);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("the same run") && err.matches(&*a.dir.to_string_lossy()).count() >= 2, "{err}");
    let copy = work.join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(a.dir.join("summary.json"), copy.join("summary.json")).unwrap();
    let (code, err) = merge(&a.dir.join("summary.json"), &copy);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&format!("hold the same run (run id {id})")), "{err}");
    assert!(err.contains(&*copy.to_string_lossy()) && err.contains(&*a.dir.to_string_lossy()), "{err}");
    assert!(!work.join("m").exists(), "a refused merge writes nothing");
    // A merge of two runs records both; merging it with one of them again is refused too.
    let d = run_llmload(&[prof, "--cores", "1", "--stages", "7:1s"], Duration::from_secs(30));
    assert_eq!(d.code, 0, "{}", d.stderr);
    let (code, err) = merge(&a.dir, &d.dir);
    assert_eq!(code, Some(0), "{err}");
    let merged = summary(&work.join("m"));
    let ids: Vec<&str> = merged["meta"]["merged_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str(), d.summary["meta"]["run_id"].as_str().unwrap()]);
    let o =
        bin().arg("merge").arg(work.join("m")).arg(&copy).arg("--out").arg(work.join("m2")).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("the same run"), "{err}");
}

/// A profile at @40/s for 3 s with `min_rps` (absolute) and `error_rate` (a share).
fn rps_profile(dir: &Path, target: &str, min_rps: f64) -> PathBuf {
    let path = dir.join(format!("profile-{min_rps}.json"));
    let p = serde_json::json!({
        "defaults": {"target": target, "model": "mock-gpt", "protocol": "openai-chat", "max_tokens": 4},
        "stages": "@40:3s",
        "warmup": "0s",
        "thresholds": {"min_rps": min_rps, "error_rate": 0.5},
        "scenarios": [{"name": "a", "content": {"mode": "pool", "prompts": ["hi"]}}]
    });
    std::fs::write(&path, p.to_string()).unwrap();
    path
}

/// Runs shards 0/2 and 1/2 of `profile` at once; their run directories, exit codes, stderr.
fn two_shards(profile: &Path, out: &Path) -> Vec<(PathBuf, Option<i32>, String)> {
    let children: Vec<_> = (0..2)
        .map(|k| {
            let dir = out.join(format!("shard{k}"));
            let child = bin()
                .arg("run")
                .arg(profile)
                .args(["--cores", "1", "--connections", "8", "--shard", &format!("{k}/2"), "--out"])
                .arg(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (dir, child)
        })
        .collect();
    children
        .into_iter()
        .map(|(dir, child)| {
            let o = child.wait_with_output().unwrap();
            (run_dir(&dir), o.status.code(), String::from_utf8_lossy(&o.stderr).to_string())
        })
        .collect()
}

#[test]
fn shards_defer_absolute_thresholds_to_merge() {
    let mock = Mock::start(&["--cores", "1", "--ttft", "2ms", "--itl", "1ms", "--output-tokens", "2"]);
    let work = tempdir("shard-thresholds");
    let target = format!("http://{}/v1/chat/completions", mock.addr);
    // The whole run serves about 40/s: 30 holds, 60 does not. Each shard serves about 20/s.
    for (min_rps, want) in [(30.0, 0), (60.0, 1)] {
        let prof = rps_profile(&work, &target, min_rps);
        let shards = two_shards(&prof, &work.join(format!("run-{min_rps}")));
        for (k, (dir, code, stderr)) in shards.iter().enumerate() {
            let s = summary(dir);
            assert_eq!(*code, Some(0), "shard {k} of a min_rps {min_rps} run: {stderr}");
            assert_eq!(s["pass"], true);
            let check = |name: &str| {
                s["thresholds"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone()
            };
            let rps = check("min_rps");
            assert_eq!(rps["deferred"], true, "{rps}");
            assert!(rps["actual"].as_f64().unwrap() < 30.0, "a shard serves its half: {rps}");
            assert_eq!(check("error_rate")["deferred"], false, "shares are judged on a shard");
            let text = std::fs::read_to_string(dir.join("report.txt")).unwrap();
            assert!(text.contains("min_rps") && text.contains("DEFERRED to merge"), "{text}");
            assert!(text.contains("2 deferred to merge"), "min_rps and ok_requests: {text}");
            // The start line and the progress line show the shard's share.
            assert!(
                stderr.contains(&format!("shard {k}/2 runs its share of the load: stage 1 20/s of 40/s")),
                "{stderr}"
            );
            assert!(stderr.contains(&format!("] 1/1 shard {k}/2: 20/s of 40/s rps")), "{stderr}");
        }
        let out = work.join(format!("merged-{min_rps}"));
        let o =
            bin().arg("merge").arg(&shards[0].0).arg(&shards[1].0).arg("--out").arg(&out).output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(want),
            "merge at min_rps {min_rps}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let merged = summary(&out);
        let rps =
            merged["thresholds"].as_array().unwrap().iter().find(|c| c["name"] == "min_rps").unwrap().clone();
        assert_eq!(rps["deferred"], false, "{rps}");
        assert_eq!(rps["pass"], want == 0, "{rps}");
        assert!(rps["actual"].as_f64().unwrap() > 30.0, "the merged run serves the whole rate: {rps}");
        let text = std::fs::read_to_string(out.join("report.txt")).unwrap();
        assert!(!text.contains("DEFERRED"), "{text}");
    }
}

#[test]
fn reports_render_again_identically_from_summary_json() {
    // 4 users: one for each of the quickstart's 4 scenarios (fewer leave one without a user).
    let run = run_llmload(&["--stages", "4:2s", "--cores", "1"], Duration::from_secs(60));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = tempdir("rerender");
    let o = bin().arg("report").arg(&run.dir).arg("--out").arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    for file in ["report.txt", "summary.json", "report.csv"] {
        assert_eq!(
            std::fs::read_to_string(run.dir.join(file)).unwrap(),
            std::fs::read_to_string(out.join(file)).unwrap(),
            "{file} differs when rendered again"
        );
    }
}

#[test]
fn bad_shard_and_start_times_are_refused_before_any_load() {
    let out = tempdir("bad-shard");
    for (args, needle) in [
        (vec!["--shard", "0/0"], "at least 1"),
        (vec!["--shard", "2/2"], "below N"),
        (vec!["--shard", "one/2"], "not a whole number"),
        (vec!["--start-at", "tomorrow"], "RFC 3339"),
        (vec!["--start-at", "2001-01-01T00:00:00Z"], "in the past"),
    ] {
        let o = bin().arg("run").args(&args).arg("--out").arg(&out).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "no run started");
}
