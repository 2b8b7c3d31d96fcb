//! `report.html`: one self-contained page (inline CSS and SVG, no script, no network) with
//! the run's header and verdicts, per-second timelines, per-stage percentile spectra, TTFT
//! and ITL distributions, the stage table, thresholds and generator health. Rendered from a
//! [`RunView`] like every other report (histograms decoded once, by the view).

use std::fmt::Write;

use super::summary::{Second, Summary};
use super::svg::{self, esc, Band, Bar, Chart, Mark, Series};
use super::view::RunView;
use crate::metrics::{Metric, Stats};
use crate::units::calendar::rfc3339;
use crate::units::{format_us, sig3};

const PALETTE: [&str; 8] =
    ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#d4a72c", "#9d755d"];
const BLUE: &str = "#4c78a8";
const GREEN: &str = "#54a24b";
const RED: &str = "#e45756";
const ORANGE: &str = "#f58518";
const PURPLE: &str = "#b279a2";
const TEAL: &str = "#3e9e98";
const INK: &str = "#3b4350";

/// A count with thousands separators (`12,345`), as the page prints counts.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration figure as the page prints it: `-` when the histogram was empty.
pub fn duration(samples: u64, us: u64) -> String {
    if samples == 0 {
        "-".into()
    } else {
        short_us(us as f64)
    }
}

/// A measured duration as the page prints it: three significant digits.
fn short_us(us: f64) -> String {
    format_us(sig3(us))
}

fn num(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn percent(share: f64) -> String {
    format!("{:.2}%", share * 100.0)
}

/// Renders the page.
pub fn render(view: &RunView) -> String {
    let summary = view.summary;
    let stats: Vec<&Stats> = view.run.stages.iter().map(|st| &st.all).collect();
    let total = &view.total;
    let mut o = String::with_capacity(256 * 1024);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>llmload report — {}</title><style>{STYLE}</style></head><body><main>",
        esc(&summary.target)
    );
    header(&mut o, summary);
    kpis(&mut o, summary, total);

    section(&mut o, "timelines", "Timeline", "per second; shaded spans and dashed lines are stages");
    o.push_str("<div class=\"grid\">");
    for c in timelines(summary) {
        o.push_str(&c);
    }
    o.push_str("</div></section>");

    section(&mut o, "percentiles", "Latency by percentile", "one line per stage; tail on a log scale");
    o.push_str("<div class=\"grid\">");
    o.push_str(&spectrum(summary, &stats, Metric::Latency, "Latency (from intended start)"));
    o.push_str(&spectrum(summary, &stats, Metric::Ttft, "Time to first token"));
    o.push_str("</div></section>");

    section(&mut o, "distributions", "Distributions", "all stages; log-spaced bins");
    o.push_str("<div class=\"grid\">");
    o.push_str(&distribution(total, Metric::Ttft, "Time to first token", TEAL));
    o.push_str(&distribution(total, Metric::Itl, "Inter-token latency", BLUE));
    o.push_str("</div></section>");

    tables::stage_table(&mut o, summary);
    observed::section(&mut o, summary);
    replies::replies(&mut o, summary);
    tables::thresholds(&mut o, summary);
    tables::health(&mut o, summary, total);
    let _ = writeln!(
        o,
        "<footer>llmload {} · summary.json schema {} · this page is self-contained (no scripts, \
         no network)</footer></main></body></html>",
        esc(&summary.llmload_version),
        summary.schema_version
    );
    o
}

fn section(o: &mut String, id: &str, title: &str, note: &str) {
    let _ = write!(o, "<section id=\"{id}\"><h2>{}<small>{}</small></h2>", esc(title), esc(note));
}

fn badge(o: &mut String, class: &str, text: &str, tip: &str) {
    let _ = write!(o, "<span class=\"badge {class}\" title=\"{}\">{}</span>", esc(tip), esc(text));
}

fn shell_quote(arg: &str) -> String {
    if !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c)) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

fn header(o: &mut String, s: &Summary) {
    let m = &s.meta;
    let _ = write!(
        o,
        "<header><div class=\"brand\">llmload report</div><h1>{}</h1><div class=\"badges\">",
        esc(&s.target)
    );
    if s.interrupted {
        badge(
            o,
            "bad",
            "INTERRUPTED",
            "stopped by a signal: a stage it cut short is measured up to the signal",
        );
    }
    if s.generator_bound {
        badge(o, "warn", "GENERATOR-BOUND", "some figures describe llmload, not the server (see health)");
    }
    let failed = s.thresholds.iter().filter(|c| c.failed()).count();
    let deferred = s.thresholds.iter().filter(|c| c.deferred).count();
    if s.thresholds.is_empty() {
        badge(o, "none", "NO THRESHOLDS", "the profile sets no thresholds");
    } else if failed == 0 {
        let judged = s.thresholds.len() - deferred;
        let why = match deferred {
            0 => format!("{judged} checks passed"),
            d => format!("{judged} checks passed, {d} deferred to merge (absolute limits on a shard)"),
        };
        badge(o, "good", "THRESHOLDS PASS", &why);
    } else {
        badge(
            o,
            "bad",
            &format!("THRESHOLDS FAIL ({failed})"),
            &format!("{failed} of {} checks failed", s.thresholds.len() - deferred),
        );
    }
    if !m.shard.is_empty() {
        badge(o, "none", &format!("SHARD {}", m.shard), "one shard of a distributed run");
    }
    o.push_str("</div><dl class=\"meta\">");
    let mut item = |k: &str, v: String, class: &str| {
        let _ = write!(o, "<div><dt>{}</dt><dd class=\"{class}\">{v}</dd></div>", esc(k));
    };
    let time = |us: u64| if us == 0 { "-".to_string() } else { rfc3339((us / 1_000_000) as i64) };
    item("started", esc(&time(m.start_unix_us)), "");
    item("ended", esc(&time(m.end_unix_us)), "");
    let took = m.end_unix_us.saturating_sub(m.start_unix_us);
    item("duration", if m.start_unix_us == 0 { "-".into() } else { esc(&short_us(took as f64)) }, "");
    item("host", esc(if m.host.is_empty() { "-" } else { &m.host }), "");
    item("llmload", esc(&s.llmload_version), "");
    item("profile", esc(if m.profile_origin.is_empty() { "-" } else { &m.profile_origin }), "");
    item(
        "profile sha256",
        esc(if m.profile_sha256.is_empty() { "-" } else { &m.profile_sha256 }),
        "mono two",
    );
    if !m.merged_from.is_empty() {
        item("merged from", esc(&m.merged_from.join(", ")), "");
    }
    let cmd: Vec<String> = m.command.iter().map(|a| shell_quote(a)).collect();
    let cmd = if cmd.is_empty() { "-".to_string() } else { cmd.join(" ") };
    item("command", esc(&cmd), "mono wide");
    o.push_str("</dl></header>");
}

fn kpis(o: &mut String, s: &Summary, total: &Stats) {
    let steady: f64 = s.stages.iter().map(|st| st.steady_s).sum::<f64>().max(1e-9);
    let ok = if total.requests > 0 { total.ok as f64 / total.requests as f64 } else { 0.0 };
    let q = |m: Metric, q: f64| {
        let h = total.hists.get(m);
        duration(h.len(), if h.is_empty() { 0 } else { h.value_at_quantile(q) })
    };
    let cards = [
        ("requests", count(total.requests), format!("{} stage(s)", s.stages.len())),
        (
            "success",
            percent(ok),
            format!("{} failed · {} dropped", count(total.failed), count(total.dropped)),
        ),
        (
            "throughput",
            format!("{:.1}/s", total.served as f64 / steady),
            format!("served · {:.1}/s offered", (total.requests + total.dropped) as f64 / steady),
        ),
        (
            "latency p50 / p99",
            format!("{} / {}", q(Metric::Latency, 0.5), q(Metric::Latency, 0.99)),
            "all stages".into(),
        ),
        (
            "TTFT p50 / p99",
            format!("{} / {}", q(Metric::Ttft, 0.5), q(Metric::Ttft, 0.99)),
            "all stages".into(),
        ),
        (
            "output tokens",
            format!("{:.1}/s", total.ok_completion_tokens as f64 / steady),
            count(total.completion_tokens) + " in all",
        ),
    ];
    o.push_str("<div class=\"kpis\">");
    for (k, v, sub) in cards {
        let _ = write!(o, "<div class=\"kpi\"><div class=\"k\">{}</div><div class=\"v\">{}</div><div class=\"sub\">{}</div></div>", esc(k), esc(&v), esc(&sub));
    }
    o.push_str("</div>");
}

/// A chart in a card with a title and a legend (name, colour, dashed).
fn card(title: &str, legend: &[(&str, &str, bool)], chart: &Chart) -> String {
    let mut o = format!("<figure class=\"card\"><figcaption><h3>{}</h3><span class=\"legend\">", esc(title));
    for (name, color, dashed) in legend {
        let _ = write!(
            o,
            "<span><i class=\"{}\" style=\"border-color:{color}\"></i>{}</span>",
            if *dashed { "dashed" } else { "" },
            esc(name)
        );
    }
    o.push_str("</span></figcaption>");
    o.push_str(&chart.render());
    o.push_str("</figure>");
    o
}

fn stage_name(s: &Summary, i: usize) -> String {
    match s.stages.get(i) {
        Some(st) => format!("stage {} · {}", i + 1, st.stage),
        None => format!("stage {}", i + 1),
    }
}

/// Stage spans on the timeline: a boundary halfway between the last sample of one stage and
/// the first of the next.
fn stage_bands(s: &Summary) -> Vec<Band> {
    let tl = &s.timeline;
    let mut bands: Vec<Band> = Vec::new();
    for (i, p) in tl.iter().enumerate() {
        if i == 0 || p.stage != tl[i - 1].stage {
            let x0 = if i == 0 { 0.0 } else { (tl[i - 1].t + p.t) / 2.0 };
            if let Some(last) = bands.last_mut() {
                last.x1 = x0;
            }
            bands.push(Band { x0, x1: p.t, label: stage_name(s, p.stage) });
        }
    }
    if let (Some(last), Some(p)) = (bands.last_mut(), tl.last()) {
        last.x1 = p.t;
    }
    bands
}

fn timeline_hover(s: &Summary, p: &Second) -> String {
    let mut t = format!(
        "{:.0}s, {}: sent {}, ok {}, failed {}, dropped {}, in flight {}, {} tokens",
        p.t,
        stage_name(s, p.stage),
        p.sent,
        p.ok,
        p.failed,
        p.dropped,
        p.in_flight,
        p.tokens
    );
    for (name, v) in
        [("latency p50", p.latency_p50_us), ("p99", p.latency_p99_us), ("ttft p50", p.ttft_p50_us)]
    {
        if let Some(v) = v {
            let _ = write!(t, ", {name} {}", short_us(v as f64));
        }
    }
    t
}

fn timelines(s: &Summary) -> Vec<String> {
    let tl = &s.timeline;
    let x = svg::seconds_axis(tl.last().map_or(1.0, |p| p.t));
    let bands = stage_bands(s);
    let hovers: Vec<(f64, f64, String)> = tl
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let a = if i == 0 { 0.0 } else { (tl[i - 1].t + p.t) / 2.0 };
            let z = tl.get(i + 1).map_or(p.t, |n| (p.t + n.t) / 2.0);
            (a, z, timeline_hover(s, p))
        })
        .collect();
    let series = |name: &str, color: &'static str, dashed: bool, f: &dyn Fn(&Second) -> Option<f64>| Series {
        name: name.to_string(),
        color,
        dashed,
        wide: false,
        points: tl.iter().map(|p| (p.t, f(p))).collect(),
    };
    let chart = |label: &str, y: svg::Axis, series: Vec<Series>| {
        let mut c = Chart::new(label, x.clone(), y);
        c.series = series;
        c.bands = bands.iter().map(|b| Band { x0: b.x0, x1: b.x1, label: b.label.clone() }).collect();
        c.hovers = hovers.clone();
        c
    };
    let max = |f: &dyn Fn(&Second) -> f64| tl.iter().map(f).fold(0.0, f64::max);
    let mut cards = Vec::new();
    let rps = chart(
        "requests per second",
        svg::count_axis(max(&|p| p.sent.max(p.ok) as f64)),
        vec![
            Series { wide: true, ..series("sent", BLUE, false, &|p| Some(p.sent as f64)) },
            series("ok", GREEN, true, &|p| Some(p.ok as f64)),
        ],
    );
    cards.push(card("Requests per second", &[("sent", BLUE, false), ("ok", GREEN, true)], &rps));
    let errors = chart(
        "errors per second",
        svg::count_axis(max(&|p| p.failed.max(p.dropped) as f64)),
        vec![
            series("failed", RED, false, &|p| Some(p.failed as f64)),
            series("dropped", ORANGE, true, &|p| Some(p.dropped as f64)),
        ],
    );
    cards.push(card("Errors per second", &[("failed", RED, false), ("dropped", ORANGE, true)], &errors));
    let in_flight = chart(
        "requests in flight",
        svg::count_axis(max(&|p| p.in_flight as f64)),
        vec![series("in flight", PURPLE, false, &|p| Some(p.in_flight.max(0) as f64))],
    );
    cards.push(card("In flight (end of each second)", &[("in flight", PURPLE, false)], &in_flight));
    let tokens = chart(
        "output tokens per second",
        svg::count_axis(max(&|p| p.tokens as f64)),
        vec![series("tokens", TEAL, false, &|p| Some(p.tokens as f64))],
    );
    cards.push(card("Output tokens per second", &[("tokens", TEAL, false)], &tokens));
    let us = |v: Option<u64>| v.map(|v| v as f64);
    if tl.iter().any(|p| p.latency_p50_us.is_some() || p.latency_p99_us.is_some() || p.ttft_p50_us.is_some())
    {
        let top = max(&|p| {
            [p.latency_p50_us, p.latency_p99_us, p.ttft_p50_us].iter().flatten().copied().max().unwrap_or(0)
                as f64
        });
        let mut lat = chart(
            "latency per second",
            svg::linear_axis(top, svg::time_label),
            vec![
                series("latency p50", BLUE, false, &|p| us(p.latency_p50_us)),
                series("latency p99", RED, false, &|p| us(p.latency_p99_us)),
                series("TTFT p50", TEAL, true, &|p| us(p.ttft_p50_us)),
            ],
        );
        let legend = [("latency p50", BLUE, false), ("latency p99", RED, false), ("TTFT p50", TEAL, true)];
        lat.width = 2.0 * svg::W + 20.0;
        let wide = card("Latency of requests finishing each second", &legend, &lat);
        cards.push(wide.replacen("class=\"card\"", "class=\"card full\"", 1));
    }
    cards
}

fn quantile_label(q: f64) -> String {
    format!("p{}", num(q * 100.0))
}

/// HdrHistogram-style percentile spectrum of `metric`, one line per stage.
fn spectrum(s: &Summary, stats: &[&Stats], metric: Metric, title: &str) -> String {
    const STEPS: usize = 200;
    let xs: Vec<f64> =
        (0..=STEPS).map(|i| (1.0 - 10f64.powf(-4.0 * i as f64 / STEPS as f64)).min(0.9999)).collect();
    let mut series = Vec::new();
    let mut legend = Vec::new();
    let mut top = 0u64;
    let names: Vec<String> = (0..stats.len()).map(|i| stage_name(s, i)).collect();
    for (i, st) in stats.iter().enumerate() {
        let h = st.hists.get(metric);
        if h.is_empty() {
            continue;
        }
        top = top.max(h.max());
        let color = PALETTE[i % PALETTE.len()];
        legend.push((names[i].as_str(), color, false));
        let points = xs.iter().map(|&q| (q, Some(h.value_at_quantile(q) as f64))).collect();
        series.push(Series { name: names[i].clone(), color, dashed: false, wide: false, points });
    }
    let mut c = Chart::new(title, svg::tail_axis(), svg::linear_axis(top as f64, svg::time_label));
    let marks = [0.0, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999];
    for (k, q) in marks.iter().enumerate() {
        let mut text = quantile_label(*q);
        for (i, st) in stats.iter().enumerate() {
            let h = st.hists.get(metric);
            if !h.is_empty() {
                let _ = write!(text, "\n{}: {}", names[i], short_us(h.value_at_quantile(*q) as f64));
            }
        }
        let a = if k == 0 { 0.0 } else { 1.0 - ((1.0 - marks[k - 1]) * (1.0 - q)).sqrt() };
        let z = marks.get(k + 1).map_or(0.9999, |n| 1.0 - ((1.0 - n) * (1.0 - q)).sqrt());
        c.hovers.push((a, z, text));
    }
    c.series = series;
    card(title, &legend, &c)
}

/// A bar chart of `metric` over all stages: share of samples per log-spaced bin, p50/p99 marked.
fn distribution(total: &Stats, metric: Metric, title: &str, color: &'static str) -> String {
    let h = total.hists.get(metric);
    if h.is_empty() {
        let c = Chart::new(title, svg::log_time_axis(1e3, 1e6), svg::linear_axis(0.0, share_label));
        return card(title, &[], &c);
    }
    let bins = svg::log_bins(h.min() as f64, h.max() as f64);
    let mut counts = vec![0u64; bins.len()];
    for v in h.iter_recorded() {
        let value = h.median_equivalent(v.value_iterated_to()) as f64;
        let i = bins.partition_point(|b| b.1 <= value).min(bins.len() - 1);
        counts[i] += v.count_at_value();
    }
    let n = h.len().max(1) as f64;
    let top = counts.iter().copied().max().unwrap_or(0) as f64 * 100.0 / n;
    let x = svg::log_time_axis(bins[0].0, bins[bins.len() - 1].1);
    let mut c = Chart::new(title, x, svg::linear_axis(top, share_label));
    c.bar_color = color;
    c.bars = bins
        .iter()
        .zip(&counts)
        .filter(|(_, n)| **n > 0)
        .map(|(b, k)| Bar {
            x0: b.0,
            x1: b.1,
            y: *k as f64 * 100.0 / n,
            title: format!(
                "{} – {}: {} ({:.1}%)",
                short_us(b.0),
                short_us(b.1),
                count(*k),
                *k as f64 * 100.0 / n
            ),
        })
        .collect();
    let (p50, p99) = (h.value_at_quantile(0.5), h.value_at_quantile(0.99));
    c.marks.push(Mark { x: p50 as f64, label: format!("p50 {}", short_us(p50 as f64)), color: INK });
    c.marks.push(Mark { x: p99 as f64, label: format!("p99 {}", short_us(p99 as f64)), color: RED });
    let legend = [(title, color, false), ("p50", INK, false), ("p99", RED, false)];
    card(&format!("{title} · {} samples", count(h.len())), &legend, &c)
}

fn share_label(v: f64) -> String {
    format!("{}%", num(v))
}

/// The page's style sheet, embedded (the page loads nothing).
const STYLE: &str = include_str!("html.css");

mod observed;
mod replies;
mod tables;
#[cfg(test)]
mod tests;
