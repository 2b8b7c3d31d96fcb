use super::*;
use crate::metrics::Stats;

/// A stage of streamed replies: `n` requests, TTFT and e2e in ms, `events` per reply, gaps.
fn stream(n: u64, ttft_ms: u64, e2e_ms: u64, events: u64, gap_us: u64) -> StageStats {
    let mut s = Stats::default();
    for _ in 0..n {
        s.requests += 1;
        s.ok += 1;
        s.content_events += events;
        s.ok_completion_tokens += events;
        s.hists.record(Metric::Ttft, ttft_ms * 1000);
        s.hists.record(Metric::Ttfb, ttft_ms * 1000);
        s.hists.record(Metric::Latency, e2e_ms * 1000);
        for _ in 1..events {
            s.hists.record(Metric::Itl, gap_us);
        }
    }
    StageStats { all: s.clone(), streamed: s }
}

fn input(direct: Vec<StageStats>, via: Vec<StageStats>) -> Input {
    let trials = direct.len();
    let mut runs = Vec::new();
    for (k, (d, v)) in direct.into_iter().zip(via).enumerate() {
        for (target, s) in [(0, d), (1, v)] {
            runs.push(TargetRun {
                target,
                trial: k + 1,
                stages: vec![s],
                disconnects: None,
                resources: Vec::new(),
                exit_code: 0,
                dir: String::new(),
            });
        }
    }
    Input {
        targets: vec![
            Target { name: "direct".into(), url: "u".into() },
            Target { name: "gw".into(), url: "g".into() },
        ],
        stage_labels: vec!["2:1s".into()],
        runs,
        trials,
        cancel_unmeasured: Some("no scenario has cancel".into()),
    }
}

#[test]
fn delta_is_via_minus_direct_per_trial_with_the_spread() {
    let i = input(
        vec![stream(10, 50, 300, 32, 8000), stream(10, 52, 300, 32, 8000)],
        vec![stream(10, 60, 310, 32, 8000), stream(10, 70, 330, 32, 8000)],
    );
    let g = &i.gateways()[0];
    let d = &g.stages[0].delta["ttft"]["p50"];
    let trials: Vec<f64> = d.trials_us.iter().flatten().map(|v| (v / 1000.0).round()).collect();
    assert_eq!(trials, vec![10.0, 18.0]);
    assert_eq!(
        (d.delta_min_us.map(|v| (v / 1e3).round()), d.delta_max_us.map(|v| (v / 1e3).round())),
        (Some(10.0), Some(18.0))
    );
    assert_eq!(g.stages[0].pass_through.verdict, passthrough::PASS);
    assert!(g.pass);
}

#[test]
fn a_buffered_stream_fails_the_pass_through_check() {
    // The whole reply at once: TTFT ≈ e2e, gaps collapsed to nothing.
    let i = input(vec![stream(10, 50, 300, 32, 8000)], vec![stream(10, 299, 300, 32, 5)]);
    let g = &i.gateways()[0];
    let p = &g.stages[0].pass_through;
    assert_eq!(p.verdict, passthrough::FAIL);
    let failed: Vec<&str> =
        p.checks.iter().filter(|c| c.verdict == passthrough::FAIL).map(|c| c.name).collect();
    assert_eq!(failed, vec!["not_buffered", "gaps_kept"]);
    assert!(!g.pass && g.reasons[0].contains("pass-through"));
    // Merged in pairs: coalescing ×2 and half the tokens per event are not pass-through.
    let i = input(vec![stream(10, 50, 300, 32, 8000)], vec![stream(10, 50, 300, 16, 16000)]);
    let p = &i.gateways()[0].stages[0].pass_through;
    assert_eq!(p.coalescing_ratio, Some(2.0));
    assert!(p.checks.iter().any(|c| c.name == "not_coalesced" && c.verdict == passthrough::FAIL));
}

#[test]
fn errors_added_count_only_the_excess_over_direct() {
    let mut via = stream(10, 50, 300, 32, 8000);
    via.all.status.insert(502, 3);
    let mut direct = stream(10, 50, 300, 32, 8000);
    direct.all.status.insert(502, 1);
    let i = input(vec![direct], vec![via]);
    assert_eq!(i.gateways()[0].stages[0].errors_added.get("http_502"), Some(&2));
}
