//! The run directory's machine-readable outputs from a real run against the built-in mock:
//! `metrics.prom` passes `promtool check metrics` and agrees with `summary.json`;
//! `histograms.hlog` holds exactly the histograms of `summary.json`.

mod common;

use std::collections::BTreeMap;

use std::time::Duration;

use common::{promtool_check, run_llmload};
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

type Sample = (String, BTreeMap<String, String>, f64);

/// `(name, labels, value)` of every sample line (labels unescaped).
fn samples(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (series, value) = line.rsplit_once(' ').expect("value");
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.strip_suffix('}').expect("closing brace")),
            None => (series, ""),
        };
        let mut map = BTreeMap::new();
        let mut chars = labels.chars().peekable();
        while chars.peek().is_some() {
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            assert_eq!(chars.next(), Some('"'), "{line}");
            let mut val = String::new();
            loop {
                match chars.next().expect("unterminated label value") {
                    '\\' => match chars.next().expect("escape") {
                        'n' => val.push('\n'),
                        c => val.push(c),
                    },
                    '"' => break,
                    c => val.push(c),
                }
            }
            map.insert(key, val);
            if chars.peek() == Some(&',') {
                chars.next();
            }
        }
        let value = if value == "+Inf" { f64::INFINITY } else { value.parse().expect("number") };
        out.push((name.to_string(), map, value));
    }
    out
}

#[test]
fn metrics_prom_and_hlog_agree_with_the_summary() {
    let run =
        run_llmload(&["--stages", "4:2s,@10:1s", "--warmup", "0s", "--cores", "1"], Duration::from_secs(120));
    // 1 (a threshold missed) and 3 (generator-bound, e.g. send lag on a busy machine) still
    // write every report; only the outputs are judged here.
    assert!(
        [0, 1, 3].contains(&run.code),
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        run.code,
        run.stdout,
        run.stderr
    );
    let stages = run.summary["stages"].as_array().expect("stages");
    assert_eq!(stages.len(), 2);

    let prom = run.dir.join("metrics.prom");
    promtool_check(&prom);
    let samples = samples(&std::fs::read_to_string(&prom).unwrap());
    let sum = |name: &str, stage: usize, scenario: &str| -> (usize, f64) {
        let hits: Vec<f64> = samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && l.get("stage").map(String::as_str) == Some(&(stage + 1).to_string())
                    && l.get("scenario").map(String::as_str) == Some(scenario)
            })
            .map(|(_, _, v)| *v)
            .collect();
        (hits.len(), hits.iter().sum())
    };
    for (i, st) in stages.iter().enumerate() {
        let scopes: Vec<(&str, &serde_json::Value)> =
            st["scenarios"].as_object().unwrap().iter().map(|(k, v)| (k.as_str(), v)).collect();
        assert!(!scopes.is_empty());
        for (scenario, fig) in scopes {
            let requests = fig["requests"].as_u64().unwrap();
            assert_eq!(
                sum("llmload_requests_total", i, scenario),
                (4, requests as f64),
                "stage {i} {scenario}: one sample per outcome (ok, failed, cancelled, client_cancelled)"
            );
            let latency = fig["us"]["latency"]["count"].as_u64().unwrap();
            assert_eq!(sum("llmload_latency_seconds_count", i, scenario), (1, latency as f64));
            let inf = samples.iter().find(|(n, l, _)| {
                n == "llmload_latency_seconds_bucket"
                    && l["stage"] == (i + 1).to_string()
                    && l["scenario"] == scenario
                    && l["le"] == "+Inf"
            });
            assert_eq!(inf.map(|s| s.2), Some(latency as f64));
            let load = samples
                .iter()
                .find(|(n, l, _)| n == "llmload_requests_total" && l["stage"] == (i + 1).to_string())
                .map(|(_, l, _)| l["load"].clone());
            assert_eq!(load.as_deref(), st["stage"].as_str());
        }
        assert!(st["all"]["requests"].as_u64().unwrap() > 0, "stage {i} sent nothing");
    }
    sums_over_scenarios_are_the_totals(&samples, stages);
    let protocols: Vec<&str> =
        samples.iter().filter_map(|(_, l, _)| l.get("protocol").map(String::as_str)).collect();
    assert!(protocols.contains(&"openai-chat"), "no protocol label");

    // histograms.hlog: the same histograms as summary.json, tag by tag.
    let hlog = std::fs::read(run.dir.join("histograms.hlog")).expect("histograms.hlog");
    let mut logged = BTreeMap::new();
    for entry in IntervalLogIterator::new(&hlog) {
        if let LogEntry::Interval(iv) = entry.expect("interval log parses") {
            let tag = iv.tag().expect("tagged").as_str().to_string();
            assert!(logged.insert(tag, iv.encoded_histogram().to_string()).is_none(), "tag twice");
        }
    }
    let mut want = BTreeMap::new();
    let all = "ALL".to_string();
    for (i, st) in stages.iter().enumerate() {
        let scopes = st["scenarios"].as_object().unwrap().iter().chain([(&all, &st["all"])]);
        for (scenario, fig) in scopes {
            for (metric, text) in fig["histograms"].as_object().unwrap() {
                want.insert(
                    format!("stage{}/{scenario}/{metric}", i + 1),
                    text.as_str().unwrap().to_string(),
                );
            }
        }
    }
    assert_eq!(logged, want);
}

/// What PromQL's `sum by (stage, …)` over the file gives, per stage, is summary.json's `all`
/// and, over the stages, the run's total: no series is counted twice (the stage as a whole
/// has no series of its own beside its scenarios').
fn sums_over_scenarios_are_the_totals(samples: &[Sample], stages: &[serde_json::Value]) {
    let sum_by_stage = |name: &str, extra: &[(&str, &str)]| -> BTreeMap<String, f64> {
        let mut by = BTreeMap::new();
        for (_, l, v) in
            samples.iter().filter(|(n, l, _)| n == name && extra.iter().all(|(k, x)| l[*k] == *x))
        {
            *by.entry(l["stage"].clone()).or_insert(0.0) += v;
        }
        by
    };
    let all = |k: &str, sub: &str| -> BTreeMap<String, f64> {
        let pick = |st: &serde_json::Value| {
            let v = if sub.is_empty() { &st["all"][k] } else { &st["all"]["us"][k][sub] };
            v.as_u64().unwrap_or_else(|| panic!("all.{k} {sub}")) as f64
        };
        stages.iter().enumerate().map(|(i, st)| ((i + 1).to_string(), pick(st))).collect()
    };
    // (`llmload_threshold_pass{scenario="ALL"}` names a threshold's scope, not an aggregate.)
    let aggregate = samples
        .iter()
        .find(|(n, l, _)| n != "llmload_threshold_pass" && l.get("scenario").is_some_and(|s| s == "ALL"));
    assert!(aggregate.is_none(), "a series of the stage as a whole: {aggregate:?}");
    let scenarios: std::collections::BTreeSet<&str> =
        samples.iter().filter_map(|(_, l, _)| l.get("scenario").map(String::as_str)).collect();
    assert!(scenarios.len() >= 2, "the quickstart spreads its requests over scenarios: {scenarios:?}");

    let requests = sum_by_stage("llmload_requests_total", &[]);
    assert_eq!(requests, all("requests", ""));
    assert_eq!(sum_by_stage("llmload_requests_total", &[("outcome", "ok")]), all("ok", ""));
    assert_eq!(sum_by_stage("llmload_connections_total", &[]), all("connects", ""));
    assert_eq!(sum_by_stage("llmload_latency_seconds_count", &[]), all("latency", "count"));
    assert_eq!(sum_by_stage("llmload_latency_seconds_bucket", &[("le", "+Inf")]), all("latency", "count"));
    assert_eq!(sum_by_stage("llmload_ttft_seconds_count", &[]), all("ttft", "count"));
    // The summed buckets are the stage's histogram: they agree with its percentiles
    // (p(q) <= le exactly when the bucket holds ceil(q * count) requests).
    for (i, st) in stages.iter().enumerate() {
        let p = &st["all"]["us"]["latency"];
        let count = p["count"].as_u64().unwrap();
        let mut bounds: Vec<&str> = samples
            .iter()
            .filter(|(n, l, _)| n == "llmload_latency_seconds_bucket" && l["le"] != "+Inf")
            .map(|(_, l, _)| l["le"].as_str())
            .collect();
        bounds.sort_unstable();
        bounds.dedup();
        assert!(bounds.len() > 10);
        for le in bounds {
            let summed = sum_by_stage("llmload_latency_seconds_bucket", &[("le", le)])[&(i + 1).to_string()];
            let le_us = (le.parse::<f64>().unwrap() * 1e6).round() as u64;
            for q in ["p50", "p90", "p99"] {
                let need = ((q[1..].parse::<f64>().unwrap() / 100.0 * count as f64).ceil() as u64).max(1);
                let v = p[q].as_u64().unwrap();
                assert_eq!(v <= le_us, summed >= need as f64, "stage {} {q}={v} le={le}: {summed}", i + 1);
            }
        }
    }
    // `sum(llmload_requests_total)`: every request of the run once.
    let total: u64 = stages.iter().map(|st| st["all"]["requests"].as_u64().unwrap()).sum();
    assert_eq!(requests.values().sum::<f64>(), total as f64);
}

/// JSON answers (`response_format`) are checked and counted as the mock made them — a fault
/// rule breaks 30 % of them, a cap cuts others short — and the reply figures (reasoning,
/// tool calls, JSON) are the same in summary.json, results.jsonl, metrics.prom (promtool
/// clean), report.csv, report.txt and report.html.
#[test]
fn json_answers_match_the_mock_and_reply_figures_agree_in_every_output() {
    let dir = common::tempdir("json-mock");
    let config = dir.join("mock.json");
    let model = serde_json::json!({"models": [{"id": "mock-gpt", "faults": [{"rate": 0.3, "fault": "json-invalid=1"}]}]});
    std::fs::write(&config, model.to_string()).unwrap();
    let mock = common::Mock::start(&[
        "--cores",
        "1",
        "--config",
        config.to_str().unwrap(),
        "--ttft",
        "0",
        "--itl",
        "0",
        "--output-tokens",
        "8",
        "--reasoning-tokens",
        "3",
    ]);
    let object = serde_json::json!({"type": "json_object"});
    let schema = serde_json::json!({"type": "json_schema",
        "json_schema": {"name": "a", "schema": {"type": "object", "properties": {"answer": {"type": "string"}}}}});
    let tool = serde_json::json!([{"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}]);
    let p = common::profile_file(
        "json",
        serde_json::json!({
        "defaults": {"target": format!("http://{}/v1/chat/completions", mock.addr), "model": "mock-gpt", "max_tokens": 64, "stream": true},
        "stages": ["6:1s"],
        "scenarios": [
            {"name": "chat", "response_format": object},
            {"name": "body", "stream": false, "response_format": schema},
            {"name": "responses", "protocol": "openai-responses", "response_format": schema,
             "target": format!("http://{}/v1/responses", mock.addr)},
            // 3 reasoning + 8 answer tokens in a budget of 6: every answer cut, not JSON.
            {"name": "cut", "max_tokens": 6, "response_format": object},
            // Tool calls are not answers to check.
            {"name": "tools", "response_format": object, "tools": tool},
            {"name": "plain"}
        ]}),
    );
    let run = run_llmload(&[p.to_str().unwrap(), "--cores", "1", "--warmup", "0s"], Duration::from_secs(120));
    assert!([0, 3].contains(&run.code), "exit {}: {}", run.code, run.stderr);
    let st = &run.summary["stages"][0];
    let (all, sc) = (&st["all"], &st["scenarios"]);
    let n = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
    assert_eq!(n(all, "failed"), 0, "{all}");
    // The mock's ground truth, exactly.
    assert_eq!(n(all, "json_checked"), mock.metric("llmload_mock_json_answers_total"));
    assert_eq!(n(all, "json_invalid"), mock.metric("llmload_mock_json_invalid_total"));
    for name in ["chat", "body", "responses"] {
        let f = &sc[name];
        assert!(n(f, "ok") > 0, "{name}: {f}");
        assert_eq!(n(f, "json_checked"), n(f, "ok"), "{name}: every answer is checked");
    }
    let (checked, invalid) = (
        ["chat", "body", "responses"].map(|s| n(&sc[s], "json_checked")),
        ["chat", "body", "responses"].map(|s| n(&sc[s], "json_invalid")),
    );
    let (checked, invalid): (u64, u64) = (checked.iter().sum(), invalid.iter().sum());
    assert!(
        invalid > 0 && invalid < checked,
        "the fault breaks some answers, not all: {invalid} of {checked}"
    );
    assert_eq!(n(&sc["cut"], "json_invalid"), n(&sc["cut"], "ok"), "a cut answer is not JSON");
    assert_eq!(n(&sc["cut"], "json_checked"), n(&sc["cut"], "ok"));
    assert_eq!(n(&sc["tools"], "json_checked"), 0, "{}", sc["tools"]);
    assert_eq!(n(&sc["tools"], "tool_calls"), n(&sc["tools"], "ok"));
    assert_eq!(n(&sc["plain"], "json_checked"), 0);

    // results.jsonl: one json_valid per checked answer.
    let lines = run.lines();
    let marked = |v: bool| lines.iter().filter(|l| l["json_valid"] == v).count() as u64;
    assert_eq!(
        (marked(true) + marked(false), marked(false)),
        (n(all, "json_checked"), n(all, "json_invalid"))
    );

    // metrics.prom: promtool clean, and each reply counter sums to the stage's figure.
    let prom = run.dir.join("metrics.prom");
    promtool_check(&prom);
    let samples = samples(&std::fs::read_to_string(&prom).unwrap());
    let total = |name: &str| samples.iter().filter(|(s, _, _)| s == name).map(|(_, _, v)| *v).sum::<f64>();
    for (family, key) in [
        ("llmload_json_checked_total", "json_checked"),
        ("llmload_json_invalid_total", "json_invalid"),
        ("llmload_reasoning_tokens_total", "reasoning_tokens"),
        ("llmload_reasoning_requests_total", "reasoning_requests"),
        ("llmload_tool_calls_total", "tool_calls"),
    ] {
        assert_eq!(total(family), n(all, key) as f64, "{family}");
    }
    assert!(n(all, "reasoning_tokens") > 0);
    let cut = samples
        .iter()
        .find(|(s, l, _)| s == "llmload_json_invalid_total" && l["scenario"] == "cut")
        .map(|(_, _, v)| *v);
    assert_eq!(cut, Some(n(&sc["cut"], "json_invalid") as f64));

    // report.csv: the ALL row has the same counts.
    let csv = std::fs::read_to_string(run.dir.join("report.csv")).unwrap();
    let mut rows = csv.lines();
    let head: Vec<&str> = rows.next().unwrap().split(',').collect();
    let row: Vec<&str> =
        rows.find(|r| r.split(',').nth(2) == Some("ALL")).expect("ALL row").split(',').collect();
    let cell = |k: &str| row[head.iter().position(|h| *h == k).unwrap_or_else(|| panic!("column {k}"))];
    for k in ["json_checked", "json_invalid", "reasoning_tokens", "tool_calls"] {
        assert_eq!(cell(k), n(all, k).to_string(), "{k}");
    }
    assert!(cell("ttft_content_p50_ms").parse::<f64>().is_ok());

    let text = std::fs::read_to_string(run.dir.join("report.txt")).unwrap();
    let want = format!(
        "{} answers checked (response_format), {} not valid JSON",
        n(all, "json_checked"),
        n(all, "json_invalid")
    );
    assert!(text.contains(&want), "{text}");
    let html = std::fs::read_to_string(run.dir.join("report.html")).unwrap();
    assert!(html.contains("id=\"replies\""));
    let replies = html.split("id=\"replies\"").nth(1).unwrap_or("").split("</section>").next().unwrap_or("");
    // report.html groups digits by thousands (3,528).
    let grouped = {
        let d = n(all, "json_invalid").to_string();
        let mut g = String::new();
        for (i, c) in d.chars().enumerate() {
            if i > 0 && (d.len() - i) % 3 == 0 {
                g.push(',');
            }
            g.push(c);
        }
        g
    };
    assert!(
        html.contains(&format!("<td data-k=\"json_invalid\" class=\"hot\">{grouped}</td>")),
        "json_invalid {} not in the replies table:\n{replies}",
        n(all, "json_invalid")
    );
}
