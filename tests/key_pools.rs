//! Key pools (`--vk-file`, profile `api_keys`): requests take the pool's keys in turn (or by
//! weight), per-key figures in summary.json match the mock's per-key counts, and no key is
//! written anywhere — not in any file of the run directory, nor on stdout or stderr.

mod common;

use std::time::Duration;

use common::{assert_accounted, profile_file, run_llmload, stage_all, tempdir, Mock};
use serde_json::{json, Value};

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("a count: {v}"))
}

fn key_id(key: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes()).iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// Every file under `dir`, recursively.
fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn assert_no_key_written(run: &common::RunOutput, keys: &[&str]) {
    let all = files(&run.dir);
    assert!(all.len() >= 3, "the run wrote its files: {all:?}");
    for key in keys {
        for f in &all {
            let bytes = std::fs::read(f).unwrap();
            let found = bytes.windows(key.len()).any(|w| w == key.as_bytes());
            assert!(!found, "{key} written in {}", f.display());
        }
        assert!(!run.stdout.contains(key) && !run.stderr.contains(key), "{key} printed");
    }
}

#[test]
fn a_key_file_round_robin_matches_the_mocks_per_key_counts_and_no_key_is_written() {
    let keys = ["sk-pool-alpha-4f1c9e", "sk-pool-bravo-77d2a0", "sk-pool-charlie-0b3e5d"];
    let mock = Mock::start(&[
        "--cores",
        "1",
        "--ttft",
        "1ms",
        "--itl",
        "1ms",
        "--output-tokens",
        "4",
        "--rate-limit",
        "rpm=4,window=60s",
    ]);
    let file = tempdir("vk").join("keys.txt");
    std::fs::write(&file, format!("# team keys\n{}\n\n{}\n{}\n", keys[0], keys[1], keys[2])).unwrap();
    let p = profile_file(
        "vk-file",
        json!({"defaults": {"model": "mock-gpt", "max_tokens": 4, "target": format!("http://{}/v1/chat/completions", mock.addr)},
               "stages": ["@15:2s"], "scenarios": [{"name": "chat"}]}),
    );
    let run = run_llmload(
        &[p.to_str().unwrap(), "--cores", "1", "--vk-file", file.to_str().unwrap(), "--max-error-rate", "1"],
        Duration::from_secs(60),
    );
    let all = stage_all(&run.summary, 0);
    assert_accounted(all);
    let per_key = all["keys"].as_array().unwrap_or_else(|| panic!("keys in {all}"));
    assert_eq!(per_key.len(), 3, "{all}");
    let report = std::fs::read_to_string(run.dir.join("report.txt")).unwrap();
    let mut total = 0;
    for (i, k) in per_key.iter().enumerate() {
        assert_eq!((n(&k["index"]), k["id"].as_str().unwrap()), (i as u64, key_id(keys[i]).as_str()), "{k}");
        let id = key_id(keys[i]);
        assert_eq!(
            n(&k["requests"]),
            mock.metric(&format!("llmload_mock_key_requests_total{{key=\"{id}\"}}")),
            "{k}"
        );
        assert_eq!(
            n(&k["rate_limited"]),
            mock.metric(&format!("llmload_mock_key_rate_limited_total{{key=\"{id}\"}}")),
            "{k}"
        );
        // Round-robin: 10 each of 30, the first 4 of each key within its window.
        assert_eq!((n(&k["requests"]), n(&k["ok"]), n(&k["rate_limited"])), (10, 4, 6), "{k}");
        assert!(n(&k["latency_us"]["count"]) == 4, "{k}");
        total += n(&k["requests"]);
        // report.txt lists the key by index and id with the same counts.
        let line = format!("key {i:<3}    id {id}: 10 requests, 4 ok, 6 failed, 6 rate-limited, 0 retries;");
        assert!(report.contains(&line), "{line:?} not in report.txt:\n{report}");
    }
    assert_eq!(total, n(&all["requests"]));
    assert!(report.contains("    limits     18 rate-limited (429/529)"), "{report}");
    assert_eq!(run.summary["stages"][0]["scenarios"]["chat"]["keys"], all["keys"]);
    assert_no_key_written(&run, &keys);
}

#[test]
fn profile_keys_by_weight_and_per_scenario() {
    let mock = Mock::start(&[
        "--cores",
        "1",
        "--ttft",
        "1ms",
        "--itl",
        "1ms",
        "--output-tokens",
        "4",
        "--key-metrics",
    ]);
    let target = format!("http://{}/v1/chat/completions", mock.addr);
    let p = profile_file(
        "weighted",
        json!({"defaults": {"model": "mock-gpt", "max_tokens": 4, "target": target},
               "api_keys": [{"key": "sk-heavy-91ab", "weight": 3}, {"key": "sk-light-22cd", "weight": 1}],
               "key_pick": "weighted",
               "stages": ["@20:2s"],
               "scenarios": [{"name": "shared", "weight": 1},
                             {"name": "own", "weight": 1, "api_keys": ["sk-own-5e6f"]}]}),
    );
    let run = run_llmload(&[p.to_str().unwrap(), "--cores", "1"], Duration::from_secs(60));
    common::assert_ran(Some(run.code), &run.summary, &run.stderr);
    let shared = &run.summary["stages"][0]["scenarios"]["shared"]["keys"];
    let own = &run.summary["stages"][0]["scenarios"]["own"]["keys"];
    let (heavy, light) = (n(&shared[0]["requests"]), n(&shared[1]["requests"]));
    // Exact shares of a smooth rotation: 3 of every 4.
    assert!(heavy + light > 8 && heavy.abs_diff(3 * light) <= 3, "{shared}");
    assert_eq!(own.as_array().unwrap().len(), 1, "{own}");
    assert_eq!(own[0]["index"], 2, "indexes span the run's keys: {own}");
    for (k, key) in [(&shared[0], "sk-heavy-91ab"), (&shared[1], "sk-light-22cd"), (&own[0], "sk-own-5e6f")] {
        let id = key_id(key);
        assert_eq!(k["id"], id.as_str());
        assert_eq!(
            n(&k["requests"]),
            mock.metric(&format!("llmload_mock_key_requests_total{{key=\"{id}\"}}")),
            "{k}"
        );
    }
    assert_no_key_written(&run, &["sk-heavy-91ab", "sk-light-22cd", "sk-own-5e6f"]);
}

#[test]
fn bad_key_pools_are_refused_naming_the_field_or_line() {
    let target = common::Target::new();
    let dir = tempdir("bad-vk");
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "# no keys yet\n\n").unwrap();
    let bad = dir.join("bad.txt");
    std::fs::write(&bad, "sk-fine-1\nsk-fine-1\n").unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["run", "--target", &target.url, "--stages", "1:1s"];
        all.extend(args);
        common::llmload(&all)
    };
    let (code, _, err) = run(&["--vk-file", empty.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("--vk-file {}: no keys", empty.display())), "{err}");
    let (code, _, err) = run(&["--vk-file", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("--vk-file {}:2: the same key as line 1", bad.display())), "{err}");
    assert!(!err.contains("sk-fine-1"), "an error never quotes a key: {err}");
    for (pool, pick, needle) in [
        (
            json!([{"key": "sk-zero-weight", "weight": 0}]),
            json!("weighted"),
            "api_keys[0].weight: 0 must be at least 1",
        ),
        (json!([{"key": "sk-neg-weight", "weight": -2}]), json!("weighted"), "api_keys[0].weight"),
        (json!([]), Value::Null, "api_keys: empty"),
        (json!(["sk-a", "sk-b"]), json!("random"), "key_pick: \"random\""),
    ] {
        let mut profile = json!({"defaults": {"model": "m", "target": target.url}, "stages": ["1:1s"], "api_keys": pool, "scenarios": [{"name": "s"}]});
        if !pick.is_null() {
            profile["key_pick"] = pick;
        }
        let p = profile_file("bad-pool", profile);
        let (code, _, err) = common::llmload(&["run", p.to_str().unwrap()]);
        assert_eq!(code, 2, "{needle}: {err}");
        assert!(err.contains(needle), "expected {needle:?} in {err}");
        assert!(!err.contains("sk-zero") && !err.contains("sk-neg"), "{err}");
    }
    target.assert_untouched("bad key pools");
}
