//! report.html from synthetic summaries: escaping of user input, every chart present, and
//! empty or interrupted runs rendering without panics.

use std::collections::BTreeMap;

use crate::metrics::{Counters, Metric, Stats};
use crate::report::summary::{Figures, Meta, Second, StageSummary, Summary};
use crate::report::thresholds::Check;
use crate::report::view::RunView;

/// The page of a summary (decoded as `write_all` decodes it).
fn render(s: &Summary) -> Result<String, String> {
    Ok(super::render(&RunView::decode(s)?))
}

fn stats(requests: u64, base_us: u64) -> Stats {
    let mut s =
        Stats::from(Counters { requests, ok: requests, good: requests, connects: 2, ..Counters::default() });
    for i in 0..requests {
        s.hists.record(Metric::Latency, base_us + i * 1_000);
        s.hists.record(Metric::Ttft, base_us / 4 + i * 300);
        for k in 0..5 {
            s.hists.record(Metric::Itl, 8_000 + k * 500 + i);
        }
        s.hists.record(Metric::Connect, 90);
    }
    s
}

fn stage(load: &str, scenarios: &[(&str, Stats)]) -> StageSummary {
    let mut all = Stats::default();
    for (_, s) in scenarios {
        all.add(s);
    }
    StageSummary {
        stage: load.to_string(),
        duration_s: 3.0,
        steady_s: 2.5,
        wall_s: 3.1,
        worker_cpu_s: vec![0.2, 3.0],
        sink_dropped: 7,
        connecting_peak: vec![],
        generator_findings: vec!["a worker used 97% of a core".into()],
        tokenizer: None,
        target_findings: vec![],
        resources: Default::default(),
        server_metrics: Default::default(),
        interrupted: false,
        scenarios: scenarios.iter().map(|(n, s)| (n.to_string(), Figures::of(s, 2.5))).collect(),
        all: Figures::of(&all, 2.5),
    }
}

fn summary(stages: Vec<StageSummary>, timeline: Vec<Second>) -> Summary {
    Summary {
        schema_version: 1,
        llmload_version: "0.1.0".into(),
        meta: Meta {
            command: vec!["llmload".into(), "run".into(), "--header".into(), "x: <redacted>".into()],
            profile_origin: "p.json".into(),
            profile_sha256: "ab".repeat(32),
            start_unix_us: 1_795_624_345_000_000,
            end_unix_us: 1_795_624_351_000_000,
            host: "box".into(),
            cores: vec![0, 1],
            ..Meta::default()
        },
        target: "http://127.0.0.1:1/v1/chat/completions".into(),
        dns_us: BTreeMap::new(),
        driver: "epoll".into(),
        workers: 2,
        fd_limit: 1024,
        generator_bound: true,
        interrupted: false,
        stages,
        thresholds: Vec::new(),
        pass: true,
        timeline,
    }
}

fn seconds(n: usize, latency: bool) -> Vec<Second> {
    (0..n)
        .map(|i| Second {
            t: i as f64 + 0.98,
            stage: i * 2 / n,
            sent: 10 + i as u64,
            ok: 10,
            failed: i as u64 % 2,
            in_flight: 4,
            latency_p50_us: latency.then_some(200_000),
            latency_p99_us: (latency && i != 2).then_some(400_000),
            ttft_p50_us: latency.then_some(50_000),
            ..Second::default()
        })
        .collect()
}

#[test]
fn user_input_is_escaped() {
    let evil = "<script>alert(1)</script>";
    let mut s = summary(
        vec![stage("4:3s", &[(evil, stats(20, 100_000)), ("a&b", stats(5, 50_000))])],
        seconds(4, false),
    );
    s.target = "http://x/\"><img src=x onerror=alert(1)>".into();
    s.meta.command.push("--stages='1:1s'".into());
    s.thresholds.push(Check {
        stage: 0,
        scope: evil.into(),
        name: "p99_ms".into(),
        limit: 1.0,
        actual: 2.0,
        pass: false,
        deferred: false,
    });
    let html = render(&s).unwrap();
    assert!(!html.contains("<script"), "a script element got through");
    assert!(!html.contains("<img"), "an img element got through");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("a&amp;b"));
    assert!(html.contains("&#39;--stages=&#39;\\&#39;&#39;1:1s&#39;\\&#39;&#39;&#39;"), "quoted command");
    assert!(html.contains("THRESHOLDS FAIL (1)"));
}

#[test]
fn a_full_run_has_every_chart_and_table() {
    let stages = vec![
        stage("4:3s", &[("chat", stats(40, 100_000)), ("quick", stats(30, 300_000))]),
        stage("@20..40:3s", &[("chat", stats(60, 120_000)), ("quick", stats(10, 200_000))]),
    ];
    let html = render(&summary(stages.clone(), seconds(6, false))).unwrap();
    // Timelines: rps, errors, in flight, tokens; spectra: latency, TTFT; distributions: TTFT, ITL.
    assert_eq!(html.matches("<svg").count(), 8);
    assert!(!html.contains("no data"), "every chart has data");
    for needle in [
        "id=\"stage-1-all\"",
        "id=\"stage-2-all\"",
        "4 users · 3s",
        "20→40/s · 3s",
        "GENERATOR-BOUND",
        "NO THRESHOLDS",
        "a worker used 97% of a core",
        "2026-11-25T",
        "stage 2 · @20..40:3s",
    ] {
        assert!(html.contains(needle), "{needle} missing");
    }
    // Two ALL rows and two scenario rows per stage.
    assert_eq!(html.matches("<tr id=\"stage-").count(), 6);
    let with_latency = render(&summary(stages, seconds(6, true))).unwrap();
    assert_eq!(with_latency.matches("<svg").count(), 9, "the latency timeline joins when sampled");
    assert!(with_latency.contains("Latency of requests finishing each second"));
}

#[test]
fn empty_and_interrupted_runs_render() {
    let mut s = summary(Vec::new(), Vec::new());
    s.interrupted = true;
    s.generator_bound = false;
    s.meta = Meta::default();
    let html = render(&s).unwrap();
    assert!(html.contains("INTERRUPTED"));
    assert!(html.contains("no stage completed"));
    assert_eq!(html.matches("<svg").count(), 8);
    assert_eq!(html.matches("no data").count(), 8);
    // A stage that saw no requests at all: empty histograms, one-point timeline.
    let s = summary(vec![stage("1:1s", &[("only", Stats::default())])], seconds(1, true));
    let html = render(&s).unwrap();
    assert!(html.contains("id=\"stage-1-all\""));
    assert!(html.ends_with("</html>\n"));
}

#[test]
fn a_corrupt_histogram_is_an_error() {
    let mut s = summary(vec![stage("1:1s", &[("only", stats(3, 1_000))])], Vec::new());
    s.stages[0].all.histograms.insert("latency".into(), "not base64!".into());
    assert!(render(&s).unwrap_err().contains("stages[0]"));
}
