//! Tests of `prom`: the file is valid, exact, and sums over scenarios to the stage totals.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::*;
use crate::metrics::{encode, hist::new_histogram, Counters, Stats};
use crate::report::summary::{Meta, StageSummary, Summary, SCHEMA_VERSION};
use crate::report::thresholds::Check;

fn stats(values_us: &[u64], ok: u64) -> Stats {
    let mut s =
        Stats::from(Counters { requests: ok + 2, ok, failed: 1, cancelled: 1, ..Counters::default() });
    s.status.insert(200, ok);
    s.status.insert(500, 1);
    s.errors[crate::metrics::ErrorKind::ALL[0].index()] = 1;
    for v in values_us {
        s.hists.record(Metric::Latency, *v);
        s.hists.record(Metric::Ttft, *v / 2);
    }
    s
}

fn summary() -> Summary {
    let values: Vec<u64> = (0..5000).map(|i| 1 + i * i * 13 % 3_000_000).chain([10_000, 10_003]).collect();
    let nasty = "we\"ird\\name\nx";
    // Three scenarios (one of them named ALL by its profile) and, as merge_stage makes it,
    // the stage's `all` as their sum.
    let stage = |load: &str| {
        let parts = [("chat", stats(&values, 7)), (nasty, stats(&values[..100], 3)), ("ALL", stats(&[], 0))];
        let mut all = Stats::default();
        parts.iter().for_each(|(_, s)| all.add(s));
        StageSummary {
            stage: load.to_string(),
            duration_s: 2.0,
            steady_s: 2.0,
            wall_s: 2.1,
            worker_cpu_s: vec![0.1],
            sink_dropped: 0,
            connecting_peak: vec![],
            generator_findings: vec![],
            tokenizer: None,
            target_findings: vec![],
            resources: Default::default(),
            server_metrics: Default::default(),
            interrupted: false,
            scenarios: parts.iter().map(|(n, s)| (n.to_string(), Figures::of(s, 2.0))).collect(),
            all: Figures::of(&all, 2.0),
        }
    };
    Summary {
        schema_version: SCHEMA_VERSION,
        llmload_version: "9.9.9".into(),
        meta: Meta {
            host: "h\"1".into(),
            start_unix_us: 1_700_000_000_000_000,
            end_unix_us: 1_700_000_004_000_000,
            protocols: [("chat", "openai-chat"), (nasty, "anthropic")]
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            ..Meta::default()
        },
        target: "mock".into(),
        dns_us: BTreeMap::new(),
        driver: "io_uring".into(),
        workers: 1,
        fd_limit: 1024,
        generator_bound: false,
        interrupted: false,
        stages: vec![stage("4:2s"), stage("@2000:60s")],
        thresholds: vec![Check {
            stage: 1,
            scope: "ALL".into(),
            name: "p95_ms".into(),
            limit: 1.0,
            actual: 2.0,
            pass: false,
            deferred: false,
        }],
        pass: false,
        timeline: vec![],
    }
}

/// Parses a label set `{a="x",b="y"}` (with the format's escapes) into pairs.
fn parse_labels(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "label {key} in {s}");
        let mut val = String::new();
        loop {
            match chars.next().expect("unterminated label value") {
                '\\' => match chars.next() {
                    Some('n') => val.push('\n'),
                    Some(c @ ('\\' | '"')) => val.push(c),
                    c => panic!("bad escape {c:?} in {s}"),
                },
                '"' => break,
                c => val.push(c),
            }
        }
        out.push((key, val));
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    out
}

type Sample = (String, Vec<(String, String)>, f64);

/// (name, labels, value) for every sample; asserts HELP/TYPE come once per family, before
/// its samples, and that no series repeats.
fn parse(text: &str) -> Vec<Sample> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helps = BTreeSet::new();
    let mut series = BTreeSet::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(types.insert(name.to_string(), kind.to_string()).is_none(), "two TYPEs for {name}");
            assert!(helps.contains(name), "TYPE before HELP for {name}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split_once(' ').unwrap().0;
            assert!(helps.insert(name.to_string()), "two HELPs for {name}");
            continue;
        }
        assert!(!line.starts_with('#'), "{line}");
        let (series_text, value) = line.rsplit_once(' ').unwrap();
        assert!(series.insert(series_text.to_string()), "duplicate series {series_text}");
        let (name, labels) = match series_text.split_once('{') {
            Some((n, l)) => (n, parse_labels(l.strip_suffix('}').unwrap())),
            None => (series_text, vec![]),
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| types.get(*f).is_some_and(|k| k == "histogram")))
            .unwrap_or(name);
        assert!(types.contains_key(family), "sample {name} without a TYPE");
        assert!(name.starts_with("llmload_"), "{name}");
        let value = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("value {v:?}")),
        };
        out.push((name.to_string(), labels, value));
    }
    out
}

fn label<'a>(labels: &'a [(String, String)], k: &str) -> Option<&'a str> {
    labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

#[test]
fn families_series_and_escaping() {
    let s = summary();
    let text = render(&RunView::decode(&s).unwrap());
    let samples = parse(&text);
    assert!(text.contains(r#"scenario="we\"ird\\name\nx""#), "{text}");
    assert!(text.contains(r#"host="h\"1""#));
    // The nasty name survives a round trip through the format.
    let names: BTreeSet<&str> = samples.iter().filter_map(|(_, l, _)| label(l, "scenario")).collect();
    assert_eq!(names, ["ALL", "chat", "we\"ird\\name\nx"].into_iter().collect());
    // requests_total over outcomes equals requests, per stage and scenario.
    for (stage, scope) in [("1", "ALL"), ("2", "chat")] {
        let total: f64 = samples
            .iter()
            .filter(|(n, l, _)| {
                n == "llmload_requests_total"
                    && label(l, "stage") == Some(stage)
                    && label(l, "scenario") == Some(scope)
            })
            .map(|(_, _, v)| v)
            .sum();
        let st = &s.stages[stage.parse::<usize>().unwrap() - 1];
        assert_eq!(total, st.scenarios[scope].requests as f64);
    }
    let find = |name: &str, stage: &str, scope: &str| {
        samples
            .iter()
            .find(|(n, l, _)| {
                n == name && label(l, "stage") == Some(stage) && label(l, "scenario") == Some(scope)
            })
            .unwrap_or_else(|| panic!("{name} {stage} {scope}"))
            .clone()
    };
    let (_, l, _) = find("llmload_requests_total", "2", "chat");
    assert_eq!(label(&l, "load"), Some("@2000:60s"));
    assert_eq!(label(&l, "protocol"), Some("openai-chat"));
    // A scenario the profile named ALL is a scenario like the others (no protocol known here).
    let (_, l, _) = find("llmload_requests_total", "1", "ALL");
    assert_eq!(label(&l, "protocol"), Some(""));
    assert!(text.contains("llmload_run_thresholds_pass 0\n"));
    assert!(text.contains(
        r#"llmload_threshold_pass{stage="2",load="@2000:60s",scenario="ALL",threshold="p95_ms"} 0"#
    ));
    assert!(text.contains("llmload_run_start_timestamp_seconds 1700000000\n"));
}

#[test]
fn histograms_are_cumulative_and_exact() {
    let s = summary();
    let samples = parse(&render(&RunView::decode(&s).unwrap()));
    let mut checked = 0;
    for (stage_i, st) in s.stages.iter().enumerate() {
        for (scope, fig) in &st.scenarios {
            for metric in Metric::ALL {
                let family = format!("llmload_{}_seconds", metric.name());
                let stage = (stage_i + 1).to_string();
                let ours = |suffix: &str| {
                    samples
                        .iter()
                        .filter(|(n, l, _)| {
                            *n == format!("{family}{suffix}")
                                && label(l, "stage") == Some(&stage)
                                && label(l, "scenario") == Some(scope)
                        })
                        .cloned()
                        .collect::<Vec<_>>()
                };
                let buckets = ours("_bucket");
                assert_eq!(buckets.len(), BUCKETS_US.len() + 1);
                let les: Vec<f64> =
                    buckets.iter().map(|(_, l, _)| label(l, "le").unwrap().parse().unwrap()).collect();
                assert!(les.windows(2).all(|w| w[0] < w[1]), "{les:?}");
                assert_eq!(les.last(), Some(&f64::INFINITY));
                let counts: Vec<f64> = buckets.iter().map(|b| b.2).collect();
                assert!(counts.windows(2).all(|w| w[0] <= w[1]), "not cumulative: {counts:?}");
                let count = ours("_count");
                assert_eq!(count.len(), 1);
                assert_eq!(*counts.last().unwrap(), count[0].2, "+Inf != _count");
                let p = &fig.us[metric.name()];
                assert_eq!(count[0].2, p.count as f64);
                let sum = ours("_sum")[0].2;
                assert!((sum - p.mean * p.count as f64 / 1e6).abs() < 1e-9 * sum.max(1.0));
                // Buckets agree with the summary's percentiles.
                for (i, le_us) in BUCKETS_US.iter().enumerate() {
                    for (q, v) in [(0.5, p.p50), (0.9, p.p90), (0.99, p.p99)] {
                        if p.count == 0 {
                            continue;
                        }
                        let need = ((q * p.count as f64).ceil() as u64).max(1) as f64;
                        assert_eq!(v <= *le_us, counts[i] >= need, "{family} {scope} q={q} le={le_us}");
                    }
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 2 * 3 * Metric::ALL.len());
}

/// No series counts twice: summed over scenarios, every counter and every histogram
/// series equals the stage's `all` figure (the bucket counts exactly, since the stage's
/// histogram is the sum of the scenarios').
#[test]
fn sums_over_scenarios_are_the_stage_totals() {
    let s = summary();
    let samples = parse(&render(&RunView::decode(&s).unwrap()));
    let stage_sum = |name: &str, stage: usize, extra: &[(&str, &str)]| -> f64 {
        samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && label(l, "stage") == Some(&(stage + 1).to_string())
                    && extra.iter().all(|(k, v)| label(l, k) == Some(v))
            })
            .map(|(_, _, v)| v)
            .sum()
    };
    for (i, st) in s.stages.iter().enumerate() {
        let all = &st.all;
        assert_eq!(stage_sum("llmload_requests_total", i, &[]), all.requests as f64);
        assert_eq!(stage_sum("llmload_requests_total", i, &[("outcome", "ok")]), all.ok as f64);
        assert_eq!(stage_sum("llmload_responses_total", i, &[("status", "500")]), all.status[&500] as f64);
        assert_eq!(stage_sum("llmload_good_requests_total", i, &[]), all.good as f64);
        assert!((stage_sum("llmload_requests_per_second", i, &[]) - all.rps).abs() < 1e-9);
        for metric in Metric::ALL {
            let family = format!("llmload_{}_seconds", metric.name());
            let h =
                all.histograms.get(metric.name()).map_or_else(new_histogram, |t| encode::decode(t).unwrap());
            for (le, us) in BUCKETS_US.iter().map(|us| (le_label(*us), *us)) {
                let summed = stage_sum(&format!("{family}_bucket"), i, &[("le", &le)]);
                assert_eq!(summed, count_at_most(&h, us) as f64, "{family} le={le}");
            }
            assert_eq!(stage_sum(&format!("{family}_count"), i, &[]), h.len() as f64);
        }
    }
    // The total really is spread over several scenarios.
    assert!(s.stages[0].scenarios.values().filter(|f| f.requests > 0).count() >= 3);
}

#[test]
fn bucket_counts_mind_equivalent_ranges() {
    let mut h = new_histogram();
    // 10_000 µs sits in a range of 8 equivalent values (10_000..=10_007).
    assert_eq!(h.highest_equivalent(10_000), 10_007);
    for v in [9_999, 10_000, 10_007, 10_008, 2_047, 2_048] {
        h.record(v).unwrap();
    }
    // The range holding 10_000 reaches past it, so its values count only under a later bound.
    assert_eq!(count_at_most(&h, 10_000), 3);
    assert_eq!(count_at_most(&h, 10_007), 5);
    assert_eq!(count_at_most(&h, 2_047), 1);
    assert_eq!(count_at_most(&h, 1), 0);
    assert_eq!(count_at_most(&new_histogram(), 1_000), 0);
    assert_eq!(le_label(100), "0.0001");
    assert_eq!(le_label(2_500_000), "2.5");
    assert_eq!(le_label(500_000_000), "500");
}
