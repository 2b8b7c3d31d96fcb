//! overhead.txt: the comparison as a person reads it, one block per gateway and stage.

use std::fmt::Write;

use super::passthrough::Pair;
use super::{Cancellation, Delta, Gateway, Overhead, METRICS, QUANTILES};

fn ms(us: Option<f64>) -> String {
    us.map_or("-".into(), |v| format!("{:.2}ms", v / 1e3))
}

fn signed_ms(us: Option<f64>) -> String {
    us.map_or("-".into(), |v| format!("{:+.2}ms", v / 1e3))
}

fn num(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.2}"))
}

fn pair(p: &Pair, f: fn(Option<f64>) -> String) -> String {
    format!("{} via / {} direct", f(p.via), f(p.direct))
}

/// `+1.23ms [+0.90..+1.50]`: the median Δ across trials and its range.
fn delta_cell(d: &Delta) -> String {
    format!("{} [{}..{}]", signed_ms(d.delta_us), signed_ms(d.delta_min_us), signed_ms(d.delta_max_us))
}

fn cancellation(o: &mut String, c: &Cancellation) {
    if !c.measured {
        let _ = writeln!(o, "  cancellation: not measured: {}", c.reason.as_deref().unwrap_or("-"));
        return;
    }
    let side = |s: &Option<super::CancelSide>| match s {
        Some(s) => format!(
            "{} cancelled, {} upstream disconnects ({}), after {} and {} events",
            s.client_cancelled,
            s.upstream_disconnects,
            s.propagated_share.map_or("-".into(), |v| format!("{:.0}%", v * 100.0)),
            s.mean_time_to_disconnect_ms.map_or("-".into(), |v| format!("{v:.1}ms")),
            num(s.mean_events_before_disconnect),
        ),
        None => "-".into(),
    };
    let _ = writeln!(o, "  cancellation: {}", c.verdict.unwrap_or("nothing cancelled"));
    let _ = writeln!(o, "    via:    {}", side(&c.via));
    let _ = writeln!(o, "    direct: {}", side(&c.direct));
    if let Some(d) = c.added_delay_ms {
        let _ = writeln!(o, "    the upstream learns of a cancel {d:+.1}ms later via the gateway");
    }
}

fn gateway(o: &mut String, g: &Gateway) {
    let _ = writeln!(o, "\n== {} ({}) — {}", g.name, g.url, if g.pass { "PASS" } else { "FAIL" });
    for r in &g.reasons {
        let _ = writeln!(o, "  ! {r}");
    }
    for s in &g.stages {
        let _ = writeln!(o, "stage {} ({})", s.stage + 1, s.label);
        let _ = writeln!(
            o,
            "  {:<5} {:>10} {:>10}  {:<28} {:<28} {:<28}",
            "", "direct p50", "via p50", "Δ p50 [min..max]", "Δ p90 [min..max]", "Δ p99 [min..max]"
        );
        for (name, _) in METRICS {
            let d = &s.delta[name];
            let p50 = &d["p50"];
            let cells: Vec<String> =
                QUANTILES.iter().map(|(q, _)| format!("{:<28}", delta_cell(&d[q]))).collect();
            let _ = writeln!(
                o,
                "  {name:<5} {:>10} {:>10}  {}",
                ms(p50.direct_us),
                ms(p50.via_us),
                cells.join(" ")
            );
        }
        let p = &s.pass_through;
        let _ = writeln!(
            o,
            "  pass-through: {} (streamed ok {})",
            p.verdict,
            pair(&p.streamed_ok, |v| v.map_or("-".into(), |v| format!("{v:.0}")))
        );
        let _ = writeln!(
            o,
            "    chunks/response {} (coalescing ×{}); gap p50 {}, p99 {}",
            pair(&p.chunks_per_response, num),
            num(p.coalescing_ratio),
            pair(&p.gap_us.p50, ms),
            pair(&p.gap_us.p99, ms)
        );
        let _ = writeln!(
            o,
            "    TTFT/e2e {}; first byte → first token {}",
            pair(&p.first_token_share, num),
            pair(&p.ttfb_to_first_token_us, ms)
        );
        let _ = writeln!(
            o,
            "    tokens/response {}; bytes/response {}",
            pair(&p.tokens_per_response, num),
            pair(&p.bytes_per_response, |v| v.map_or("-".into(), |v| format!("{v:.0}")))
        );
        for c in &p.checks {
            let _ = writeln!(o, "    {:<16} {:<14} {}", c.name, c.verdict, c.detail);
        }
        let added: Vec<String> = s.errors_added.iter().map(|(k, v)| format!("{k} +{v}")).collect();
        let _ = writeln!(
            o,
            "  errors added: {}",
            if added.is_empty() { "none".into() } else { added.join(", ") }
        );
    }
    cancellation(o, &g.cancellation);
    resources(o, g);
}

/// One `resources:` line per stage: medians across trials (peaks the highest), then each
/// trial's CPU per 1M requests.
fn resources(o: &mut String, g: &Gateway) {
    let Some(r) = &g.resources else {
        let _ = writeln!(o, "  resources: not sampled (--pid {0}=PID or --cgroup {0}=PATH)", g.name);
        return;
    };
    let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}%"));
    let mib = |v: Option<u64>| v.map_or("-".into(), crate::report::observed::mib);
    for s in &r.stages {
        let per: Vec<String> = s
            .trials
            .iter()
            .map(|t| t.figures.cpu_s_per_1m_requests.map_or("-".into(), |v| format!("{v:.0}")))
            .collect();
        let _ = writeln!(
            o,
            "  resources: stage {} ({}) {}: {} cpu-s per 1M requests [trials {}], cpu {} avg / {} peak, \
             rss {} avg / {} peak",
            s.stage + 1,
            s.label,
            r.source,
            s.cpu_s_per_1m_requests.map_or("-".into(), |v| format!("{v:.0}")),
            per.join(", "),
            pct(s.cpu_pct_avg),
            pct(s.cpu_pct_peak),
            mib(s.rss_avg_bytes),
            mib(s.rss_peak_bytes)
        );
    }
}

/// The whole of overhead.txt.
pub(crate) fn render(v: &Overhead) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "llmload overhead: {} trial(s), seed {}, profile {}; upstream {}{}",
        v.trials,
        v.seed,
        v.profile,
        v.upstream.url,
        if v.upstream.builtin_mock { " (built-in mock)" } else { "" }
    );
    for (i, order) in v.order.iter().enumerate() {
        let _ = writeln!(o, "trial {}: {}", i + 1, order.join(" → "));
    }
    let _ = writeln!(o, "Δ = via − direct of the same trial; [min..max] across trials");
    for g in &v.gateways {
        gateway(&mut o, g);
    }
    let _ = writeln!(o, "\nruns:");
    for r in &v.runs {
        let _ = writeln!(
            o,
            "  trial {} {:<12} exit {}  ok {}/{}  {}",
            r.trial, r.target, r.exit_code, r.ok, r.requests, r.dir
        );
    }
    let _ = writeln!(o, "\n{}", if v.pass { "PASS" } else { "FAIL" });
    o
}
