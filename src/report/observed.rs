//! The system under test as it saw itself, beside the client's figures: each stage's gateway
//! resources (`--pid`, `--cgroup`) and server metrics (`--scrape`), put into summary.json by
//! [`attach`] and rendered here for report.txt and metrics.prom (report.html: `html::observed`).

use super::promtext::{Kind, PromText};
use super::summary::{Percentiles, StageSummary};
use crate::observe::{GaugeRange, HistogramDelta, ResourceFigures, ServerFigures, StageObserved};
use crate::units::{format_us, sig3};

/// Most raw (unrecognised) series the text report lists per server and stage.
const RAW_SHOWN: usize = 8;

/// Puts what a session observed into the stages it observed (by index), with CPU per
/// million of each stage's requests.
pub(crate) fn attach(stages: &mut [StageSummary], observed: &[StageObserved]) {
    for (st, obs) in stages.iter_mut().zip(observed) {
        st.resources = obs.resources.clone();
        for f in st.resources.values_mut() {
            f.per_requests(st.all.requests);
        }
        st.server_metrics = obs.server.clone();
    }
}

/// Bytes in MiB, one decimal.
pub(crate) fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

/// Seconds (a server's histogram unit) as a duration.
pub(crate) fn secs(v: f64) -> String {
    format_us(sig3(v * 1e6))
}

/// A gauge range: `0..32 (last 0)`.
pub(crate) fn range(g: &GaugeRange) -> String {
    let n = |v: f64| if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.2}") };
    format!("{}..{} (last {})", n(g.min), n(g.max), n(g.last))
}

/// A server histogram in a line: `mean 45ms p50 40ms p99 120ms (1000)`.
pub(crate) fn hist(h: &HistogramDelta) -> String {
    let o = |v: Option<f64>| v.map_or_else(|| "-".to_string(), secs);
    format!("mean {} p50 {} p99 {} ({:.0})", o(h.mean), o(h.p50), o(h.p99), h.count)
}

/// A client histogram the same way (µs percentiles of summary.json).
pub(crate) fn client(p: Option<&Percentiles>) -> String {
    match p {
        Some(p) if p.count > 0 => format!(
            "mean {} p50 {} p99 {} ({})",
            format_us(sig3(p.mean)),
            format_us(sig3(p.p50 as f64)),
            format_us(sig3(p.p99 as f64)),
            p.count
        ),
        _ => "-".into(),
    }
}

/// One resource figure in a line.
pub(crate) fn resource_line(name: &str, f: &ResourceFigures) -> String {
    let mut line = format!("gateway {name} ({}", f.source);
    if f.processes_peak > 1 {
        line.push_str(&format!(", {} processes", f.processes_peak));
    }
    line.push_str("): ");
    if f.samples == 0 {
        line.push_str("not sampled");
    } else {
        line.push_str(&format!(
            "cpu {:.2} s (user {:.2}, sys {:.2}), {:.1}% avg, {:.1}% peak",
            f.cpu_s, f.cpu_user_s, f.cpu_system_s, f.cpu_pct_avg, f.cpu_pct_peak
        ));
        if let Some(per) = f.cpu_s_per_1m_requests {
            line.push_str(&format!(", {per:.0} cpu-s per 1M requests"));
        }
        if let (Some(avg), Some(peak)) = (f.rss_avg_bytes, f.rss_peak_bytes) {
            line.push_str(&format!("; rss avg {}, peak {}", mib(avg), mib(peak)));
        }
    }
    if let Some(why) = &f.ended {
        line.push_str(&format!("; sampling ended: {why}"));
    }
    if f.read_errors > 0 {
        line.push_str(&format!("; {} unreadable samples", f.read_errors));
    }
    line
}

/// The recognised rows of a server beside the client's: (what, server, client).
pub(crate) fn known_rows(f: &ServerFigures, st: &StageSummary) -> Vec<(&'static str, String, String)> {
    let k = &f.known;
    let us = |m: &str| st.all.us.get(m);
    let mut rows = Vec::new();
    if let Some(n) = k.requests {
        rows.push(("requests", format!("{n:.0}"), st.all.requests.to_string()));
    }
    for (what, h, metric) in
        [("ttft", &k.ttft, "ttft"), ("e2e latency", &k.e2e, "service"), ("itl", &k.itl, "itl")]
    {
        if let Some(h) = h {
            rows.push((what, hist(h), client(us(metric))));
        }
    }
    if let Some(h) = &k.queue_time {
        rows.push(("queue time", hist(h), "-".into()));
    }
    for (what, g) in [("running", &k.running), ("waiting", &k.waiting)] {
        if let Some(g) = g {
            rows.push((what, range(g), "-".into()));
        }
    }
    if let (Some(h), Some(q)) = (k.prefix_cache_hits, k.prefix_cache_queries) {
        let rate = k.prefix_cache_hit_rate.map_or("-".into(), |r| format!("{:.1}%", r * 100.0));
        let mine = st.all.cache_hit_ratio.map_or("-".into(), |r| format!("{:.1}%", r * 100.0));
        rows.push(("prefix cache", format!("{h:.0} of {q:.0} tokens hit ({rate})"), mine));
    }
    if let Some(n) = k.prompt_tokens {
        rows.push(("prompt tokens", format!("{n:.0}"), st.all.prompt_tokens.to_string()));
    }
    if let Some(n) = k.generation_tokens {
        rows.push(("output tokens", format!("{n:.0}"), st.all.completion_tokens.to_string()));
    }
    rows
}

/// The scrape count line of a server.
pub(crate) fn scrape_line(name: &str, f: &ServerFigures) -> String {
    let mut line = format!("server {name} ({}): {} scrapes", f.url, f.scrapes);
    if f.failed_scrapes > 0 {
        line.push_str(&format!(
            ", {} FAILED (last: {})",
            f.failed_scrapes,
            f.last_error.as_deref().unwrap_or("?")
        ));
    }
    if f.bad_lines > 0 {
        line.push_str(&format!(", {} unreadable lines", f.bad_lines));
    }
    line
}

/// The text report's lines for one stage (indented by the caller's two spaces).
pub(crate) fn text_lines(st: &StageSummary) -> Vec<String> {
    let mut out = Vec::new();
    for (name, f) in &st.resources {
        out.push(resource_line(name, f));
    }
    for (name, f) in &st.server_metrics {
        out.push(scrape_line(name, f));
        let rows = known_rows(f, st);
        if !rows.is_empty() {
            out.push(format!("  {:<14} {:<44} client", "", "server"));
        }
        for (what, server, mine) in rows {
            out.push(format!("  {what:<14} {server:<44} {mine}"));
        }
        let raw: Vec<String> = f
            .counters
            .iter()
            .map(|(k, v)| format!("  + {k} {}", super::promtext::format_value(*v)))
            .chain(f.gauges.iter().map(|(k, g)| format!("  ~ {k} {}", range(g))))
            .collect();
        let shown = raw.len().min(RAW_SHOWN);
        out.extend(raw.iter().take(shown).cloned());
        let more = (raw.len() - shown) as u64 + f.series_left_out;
        if more > 0 {
            out.push(format!("  … {more} more series (summary.json: server_metrics.{name})"));
        }
    }
    out
}

/// metrics.prom's families of gateway resources and server scrapes (none when the run had
/// neither).
pub(crate) fn prom(p: &mut PromText, stages: &[StageSummary]) {
    let stage_labels = |i: usize, st: &StageSummary| ((i + 1).to_string(), st.stage.clone());
    if stages.iter().any(|st| !st.resources.is_empty()) {
        p.family("llmload_gateway_cpu_seconds", Kind::Gauge, "CPU time of a sampled gateway in the stage.");
        for (i, st) in stages.iter().enumerate() {
            let (stage, load) = stage_labels(i, st);
            for (name, f) in &st.resources {
                for (mode, v) in [("user", f.cpu_user_s), ("system", f.cpu_system_s)] {
                    let labels = [("stage", stage.as_str()), ("load", &load), ("name", name), ("mode", mode)];
                    p.sample("llmload_gateway_cpu_seconds", &labels, v);
                }
            }
        }
        type Pick = fn(&ResourceFigures) -> Option<f64>;
        let families: [(&str, &str, Pick); 5] = [
            ("llmload_gateway_cpu_percent_avg", "CPU % (100 = one core) averaged over the stage.", |f| {
                Some(f.cpu_pct_avg)
            }),
            ("llmload_gateway_cpu_percent_peak", "CPU % in the busiest second of the stage.", |f| {
                Some(f.cpu_pct_peak)
            }),
            (
                "llmload_gateway_cpu_seconds_per_million_requests",
                "CPU seconds per 1M requests of the stage.",
                |f| f.cpu_s_per_1m_requests,
            ),
            ("llmload_gateway_rss_bytes_avg", "Resident memory averaged over the stage's samples.", |f| {
                f.rss_avg_bytes.map(|b| b as f64)
            }),
            ("llmload_gateway_rss_bytes_peak", "Resident memory at its highest sample in the stage.", |f| {
                f.rss_peak_bytes.map(|b| b as f64)
            }),
        ];
        for (family, help, value) in families {
            p.family(family, Kind::Gauge, help);
            for (i, st) in stages.iter().enumerate() {
                let (stage, load) = stage_labels(i, st);
                for (name, f) in &st.resources {
                    if let Some(v) = value(f).filter(|_| f.samples > 0) {
                        p.sample(family, &[("stage", &stage), ("load", &load), ("name", name)], v);
                    }
                }
            }
        }
    }
    if stages.iter().any(|st| !st.server_metrics.is_empty()) {
        p.family(
            "llmload_server_scrapes_total",
            Kind::Counter,
            "Scrapes of a server's metrics in the stage.",
        );
        for (i, st) in stages.iter().enumerate() {
            let (stage, load) = stage_labels(i, st);
            for (name, f) in &st.server_metrics {
                for (result, n) in [("ok", f.scrapes), ("failed", f.failed_scrapes)] {
                    let labels =
                        [("stage", stage.as_str()), ("load", &load), ("name", name), ("result", result)];
                    p.sample("llmload_server_scrapes_total", &labels, n as f64);
                }
            }
        }
        p.family(
            "llmload_server_requests",
            Kind::Gauge,
            "Requests the server itself counted in the stage (recognised metrics).",
        );
        for (i, st) in stages.iter().enumerate() {
            let (stage, load) = stage_labels(i, st);
            for (name, f) in &st.server_metrics {
                if let Some(n) = f.known.requests {
                    p.sample(
                        "llmload_server_requests",
                        &[("stage", &stage), ("load", &load), ("name", name)],
                        n,
                    );
                }
            }
        }
        p.family(
            "llmload_server_ttft_seconds",
            Kind::Gauge,
            "The server's own TTFT in the stage, by statistic.",
        );
        for (i, st) in stages.iter().enumerate() {
            let (stage, load) = stage_labels(i, st);
            for (name, f) in &st.server_metrics {
                let Some(h) = &f.known.ttft else { continue };
                for (stat, v) in [("mean", h.mean), ("p50", h.p50), ("p99", h.p99)] {
                    if let Some(v) = v {
                        let labels =
                            [("stage", stage.as_str()), ("load", &load), ("name", name), ("stat", stat)];
                        p.sample("llmload_server_ttft_seconds", &labels, v);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::known::Known;

    #[test]
    fn lines_put_the_server_beside_the_client() {
        let all =
            serde_json::to_value(crate::report::summary::Figures::of(&Default::default(), 2.0)).unwrap();
        let mut st: StageSummary = serde_json::from_value(serde_json::json!({
            "stage": "4:2s", "duration_s": 2.0, "steady_s": 2.0, "wall_s": 2.0, "interrupted": false,
            "worker_cpu_s": [], "sink_dropped": 0, "generator_findings": [], "tokenizer": null,
            "target_findings": [], "scenarios": {}, "all": all,
        }))
        .unwrap();
        st.all.counters.requests = 1000;
        let server = ServerFigures {
            url: "http://h/metrics".into(),
            scrapes: 3,
            failed_scrapes: 1,
            last_error: Some("connect 127.0.0.1:9: refused".into()),
            known: Known {
                requests: Some(1000.0),
                running: Some(GaugeRange { min: 0.0, max: 8.0, last: 0.0 }),
                ..Known::default()
            },
            counters: (0..20).map(|i| (format!("x_total{{i=\"{i}\"}}"), 1.0)).collect(),
            ..ServerFigures::default()
        };
        st.server_metrics.insert("vllm".into(), server);
        let gw = ResourceFigures {
            source: "pid 7".into(),
            samples: 10,
            cpu_s: 1.5,
            cpu_pct_avg: 15.0,
            rss_avg_bytes: Some(10 << 20),
            rss_peak_bytes: Some(12 << 20),
            ..ResourceFigures::default()
        };
        st.resources.insert("gw".into(), gw);
        attach(std::slice::from_mut(&mut st), &[]);
        let lines = text_lines(&st);
        let text = lines.join("\n");
        assert!(text.contains("gateway gw (pid 7): cpu 1.50 s"), "{text}");
        assert!(text.contains("rss avg 10.0 MiB, peak 12.0 MiB"), "{text}");
        assert!(text.contains("1 FAILED (last: connect 127.0.0.1:9: refused)"), "{text}");
        assert!(lines
            .iter()
            .any(|l| l.contains("requests") && l.contains("1000") && l.trim_end().ends_with("1000")));
        assert!(text.contains("running        0..8 (last 0)"), "{text}");
        assert!(text.contains("… 12 more series"), "8 of 20 raw series shown: {text}");
        let mut p = PromText::new();
        prom(&mut p, std::slice::from_ref(&st));
        let prom = p.finish();
        assert!(
            prom.contains(
                "llmload_server_scrapes_total{stage=\"1\",load=\"4:2s\",name=\"vllm\",result=\"failed\"} 1"
            ),
            "{prom}"
        );
        assert!(
            prom.contains("llmload_gateway_rss_bytes_peak{stage=\"1\",load=\"4:2s\",name=\"gw\"} 12582912"),
            "{prom}"
        );
    }
}
