//! The tables of report.html: stages × scenarios, thresholds, generator health.

use std::fmt::Write;

use super::*;
use crate::profile::stages::{Load, Stage};
use crate::report::summary::Figures;
use crate::units::format_us;

/// The load of a stage in words (`4 users · 10s`, `20/s · 10s`, `10→50 users · 30s`).
fn load_words(stage: &str) -> String {
    let Ok(st) = Stage::parse(stage) else { return stage.to_string() };
    let dur = format_us(st.duration.as_micros() as f64);
    match st.load {
        Load::Closed { from, to } if from == to => format!("{from} users · {dur}"),
        Load::Closed { from, to } => format!("{from}→{to} users · {dur}"),
        Load::Open { from, to } if from == to => format!("{}/s · {dur}", num(from)),
        Load::Open { from, to } => format!("{}→{}/s · {dur}", num(from), num(to)),
        Load::Trace { records } => format!("trace · {records} records · {dur}"),
    }
}

fn figure_row(o: &mut String, id: &str, class: &str, stage: &str, load: &str, scope: &str, f: &Figures) {
    let p = |m: &str| f.us.get(m).cloned();
    let d = |m: &str, pick: fn(&crate::report::summary::Percentiles) -> u64| match p(m) {
        Some(x) => duration(x.count, pick(&x)),
        None => "-".into(),
    };
    let mut errors: Vec<String> = f.error_counts().iter().map(|(k, n)| format!("{k}={n}")).collect();
    errors.extend(
        f.status_counts().iter().filter(|(c, _)| c.as_str() != "200").map(|(c, n)| format!("status {c}={n}")),
    );
    for (name, n) in
        [("dropped", f.dropped), ("cancelled", f.cancelled), ("token_mismatch", f.token_mismatch)]
    {
        if n > 0 {
            errors.push(format!("{name}={n}"));
        }
    }
    let cells: [(&str, String); 18] = [
        ("stage", stage.to_string()),
        ("load", load.to_string()),
        ("scenario", scope.to_string()),
        ("requests", count(f.requests)),
        ("rps", format!("{:.1}", f.rps)),
        ("offered", format!("{:.1}", f.offered_rps)),
        ("ok", percent(f.ok_rate)),
        ("goodput", percent(f.goodput)),
        ("latency_p50", d("latency", |x| x.p50)),
        ("latency_p90", d("latency", |x| x.p90)),
        ("latency_p99", d("latency", |x| x.p99)),
        ("ttft_p50", d("ttft", |x| x.p50)),
        ("ttft_p95", d("ttft", |x| x.p95)),
        ("ttft_p99", d("ttft", |x| x.p99)),
        ("itl_p50", d("itl", |x| x.p50)),
        ("itl_p95", d("itl", |x| x.p95)),
        ("tok_s", format!("{:.1}", f.output_tokens_per_s)),
        ("errors", count(f.failed)),
    ];
    let _ = write!(o, "<tr id=\"{id}\" class=\"{class}\">");
    for (k, v) in cells {
        let extra = match k {
            "errors" if !errors.is_empty() => format!(" class=\"hot\" title=\"{}\"", esc(&errors.join(" "))),
            "scenario" | "load" | "stage" => " class=\"l\"".to_string(),
            _ => String::new(),
        };
        let _ = write!(o, "<td data-k=\"{k}\"{extra}>{}</td>", esc(&v));
    }
    o.push_str("</tr>");
}

pub(super) fn stage_table(o: &mut String, s: &Summary) {
    section(o, "stages", "Stages", "steady-state figures; ALL is every scenario together");
    o.push_str(
        "<div class=\"scroll\"><table class=\"figures\"><thead><tr><th colspan=\"8\"></th>\
         <th colspan=\"3\" class=\"grp\">latency</th><th colspan=\"3\" class=\"grp\">TTFT</th>\
         <th colspan=\"2\" class=\"grp\">ITL</th><th colspan=\"2\"></th></tr><tr>\
         <th class=\"l\">stage</th><th class=\"l\">load</th><th class=\"l\">scenario</th><th>requests</th>\
         <th title=\"finished inside the window, per second\">served/s</th><th>offered/s</th><th>ok</th><th>goodput</th><th>p50</th><th>p90</th><th>p99</th><th>p50</th>\
         <th>p95</th><th>p99</th><th>p50</th><th>p95</th><th>tok/s</th><th>errors</th></tr></thead><tbody>",
    );
    if s.stages.is_empty() {
        o.push_str("<tr><td colspan=\"18\" class=\"l muted\">no stage completed</td></tr>");
    }
    for (i, st) in s.stages.iter().enumerate() {
        let load = load_words(&st.stage);
        let first = format!("{}", i + 1);
        figure_row(o, &format!("stage-{}-all", i + 1), "all", &first, &load, "ALL", &st.all);
        if st.scenarios.len() > 1 {
            for (name, f) in &st.scenarios {
                figure_row(o, &format!("stage-{}-s", i + 1), "sc", "", "", name, f);
            }
        }
    }
    o.push_str("</tbody></table></div>");
    for (i, st) in s.stages.iter().enumerate() {
        let mut notes = st.target_findings.clone();
        if st.interrupted {
            notes.insert(
                0,
                format!("interrupted: measured for {:.1} s of {:.1} s", st.steady_s, st.duration_s),
            );
        }
        for f in notes {
            let _ = write!(o, "<p class=\"verdict warn\">{}: {}</p>", esc(&stage_name(s, i)), esc(&f));
        }
    }
    o.push_str("</section>");
}

pub(super) fn thresholds(o: &mut String, s: &Summary) {
    section(o, "thresholds", "Thresholds", "actual value per stage; checked on ALL and on each scenario");
    if s.thresholds.is_empty() {
        o.push_str("<p class=\"muted\">The profile sets no thresholds.</p></section>");
        return;
    }
    // One row per (scope, threshold, limit), one column per stage.
    let mut rows: Vec<(&str, &str, f64)> = Vec::new();
    for c in &s.thresholds {
        if !rows.iter().any(|r| r.0 == c.scope && r.1 == c.name && r.2 == c.limit) {
            rows.push((&c.scope, &c.name, c.limit));
        }
    }
    let stages = s.thresholds.iter().map(|c| c.stage + 1).max().unwrap_or(0).max(s.stages.len());
    o.push_str(
        "<div class=\"scroll\"><table class=\"figures narrow\"><thead><tr><th class=\"l\">scope</th>\
         <th class=\"l\">threshold</th><th>limit</th>",
    );
    for i in 0..stages {
        let _ = write!(o, "<th>stage {}</th>", i + 1);
    }
    o.push_str("</tr></thead><tbody>");
    for (scope, name, limit) in rows {
        let _ = write!(
            o,
            "<tr><td class=\"l\">{}</td><td class=\"l mono\">{}</td><td>{}</td>",
            esc(scope),
            esc(name),
            num(limit)
        );
        for i in 0..stages {
            let check = s
                .thresholds
                .iter()
                .find(|c| c.stage == i && c.scope == scope && c.name == name && c.limit == limit);
            match check {
                Some(c) => {
                    let (class, text) = if c.deferred {
                        ("none", "DEFERRED")
                    } else if c.pass {
                        ("good", "PASS")
                    } else {
                        ("bad", "FAIL")
                    };
                    let _ = write!(
                        o,
                        "<td>{} <span class=\"badge small {class}\">{text}</span></td>",
                        num(c.actual)
                    );
                }
                None => o.push_str("<td class=\"muted\">-</td>"),
            }
        }
        o.push_str("</tr>");
    }
    o.push_str("</tbody></table></div></section>");
}

pub(super) fn health(o: &mut String, s: &Summary, total: &Stats) {
    section(o, "health", "Generator health", "whether the figures describe the server or llmload");
    o.push_str("<dl class=\"meta\">");
    let mut item = |k: &str, v: String| {
        let class = if v.len() > 28 { " class=\"two\"" } else { "" };
        let _ = write!(o, "<div><dt>{}</dt><dd{class}>{}</dd></div>", esc(k), esc(&v));
    };
    item("driver", s.driver.clone());
    item("workers", format!("{} on cores {:?}", s.workers, s.meta.cores));
    item("fd limit", count(s.fd_limit));
    for (host, us) in &s.dns_us {
        item("dns", format!("{host} resolved once in {}", format_us(*us as f64)));
    }
    if total.connects > 0 {
        let q = |m: Metric, q: f64| {
            let h = total.hists.get(m);
            duration(h.len(), if h.is_empty() { 0 } else { h.value_at_quantile(q) })
        };
        let mut text = format!(
            "{} new; connect p50 {} p99 {}",
            count(total.connects),
            q(Metric::Connect, 0.5),
            q(Metric::Connect, 0.99)
        );
        if !total.hists.get(Metric::Tls).is_empty() {
            let _ = write!(text, "; tls p50 {} p99 {}", q(Metric::Tls, 0.5), q(Metric::Tls, 0.99));
        }
        item("connections", text);
    }
    o.push_str("</dl>");
    let (good, verdict) = crate::report::health::verdict(total, s.generator_bound);
    let _ = write!(o, "<p class=\"verdict {}\">{}</p>", if good { "good" } else { "warn" }, esc(verdict));
    o.push_str(
        "<div class=\"scroll\"><table class=\"figures narrow\"><thead><tr><th class=\"l\">stage</th>\
         <th class=\"l\">worker cpu (share of a core)</th><th class=\"l\">findings</th>\
         <th>records dropped</th></tr></thead><tbody>",
    );
    if s.stages.is_empty() {
        o.push_str("<tr><td colspan=\"4\" class=\"l muted\">no stage completed</td></tr>");
    }
    for (i, st) in s.stages.iter().enumerate() {
        let wall = st.wall_s.max(1e-9);
        let mut cpu = String::new();
        for c in &st.worker_cpu_s {
            let share = c / wall;
            let hot = if share > crate::report::health::WORKER_CPU_LIMIT { " hot" } else { "" };
            let _ = write!(
                cpu,
                "<span class=\"meter{hot}\"><b style=\"width:{:.0}%\"></b><em>{:.0}%</em></span>",
                (share * 100.0).clamp(0.0, 100.0),
                share * 100.0
            );
        }
        let findings = if st.generator_findings.is_empty() {
            "<span class=\"muted\">none</span>".to_string()
        } else {
            st.generator_findings.iter().map(|f| esc(f)).collect::<Vec<_>>().join("<br>")
        };
        let _ = write!(
            o,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{cpu}</td><td class=\"l\">{findings}</td>\
             <td{}>{}</td></tr>",
            esc(&stage_name(s, i)),
            if st.sink_dropped > 0 { " class=\"hot\"" } else { "" },
            count(st.sink_dropped)
        );
    }
    o.push_str("</tbody></table></div></section>");
}
