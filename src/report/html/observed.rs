//! report.html's "System under test" section: each stage's gateway resources and the
//! server's own metrics beside the client's (shown only when the run watched them).

use std::fmt::Write;

use super::*;
use crate::report::observed::{known_rows, mib, range, resource_line, scrape_line};

/// Most raw series listed per server and stage.
const RAW_SHOWN: usize = 50;

pub(super) fn section(o: &mut String, s: &Summary) {
    let resources = s.stages.iter().any(|st| !st.resources.is_empty());
    let servers = s.stages.iter().any(|st| !st.server_metrics.is_empty());
    if !resources && !servers {
        return;
    }
    super::section(o, "observed", "System under test", "as the gateway and the server saw the stages");
    if resources {
        o.push_str(
            "<div class=\"scroll\"><table class=\"figures narrow\"><thead><tr><th class=\"l\">stage</th>\
             <th class=\"l\">gateway</th><th>cpu s</th><th>user</th><th>sys</th><th>cpu avg</th>\
             <th title=\"the busiest second\">cpu peak</th><th>cpu-s / 1M req</th><th>rss avg</th>\
             <th>rss peak</th></tr></thead><tbody>",
        );
        for (i, st) in s.stages.iter().enumerate() {
            for (name, f) in &st.resources {
                let title = esc(&resource_line(name, f));
                let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
                let _ = write!(
                    o,
                    "<tr title=\"{title}\"><td class=\"l\">{}</td><td class=\"l\">{} <small class=\"muted\">{}</small></td>\
                     <td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.1}%</td><td>{:.1}%</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&stage_name(s, i)),
                    esc(name),
                    esc(&f.source),
                    f.cpu_s,
                    f.cpu_user_s,
                    f.cpu_system_s,
                    f.cpu_pct_avg,
                    f.cpu_pct_peak,
                    opt(f.cpu_s_per_1m_requests.map(|v| format!("{v:.0}"))),
                    opt(f.rss_avg_bytes.map(mib)),
                    opt(f.rss_peak_bytes.map(mib)),
                );
            }
        }
        o.push_str("</tbody></table></div>");
        for (i, st) in s.stages.iter().enumerate() {
            for (name, f) in &st.resources {
                if let Some(why) = &f.ended {
                    let _ = write!(
                        o,
                        "<p class=\"verdict warn\">{}: {}: sampling ended: {}</p>",
                        esc(&stage_name(s, i)),
                        esc(name),
                        esc(why)
                    );
                }
            }
        }
    }
    for (i, st) in s.stages.iter().enumerate() {
        for (name, f) in &st.server_metrics {
            let class = if f.failed_scrapes > 0 { "verdict warn" } else { "muted" };
            let _ = write!(
                o,
                "<p class=\"{class}\">{}: {}</p>",
                esc(&stage_name(s, i)),
                esc(&scrape_line(name, f))
            );
            let rows = known_rows(f, st);
            if !rows.is_empty() {
                o.push_str(
                    "<div class=\"scroll\"><table class=\"figures narrow\"><thead><tr><th class=\"l\"></th>\
                     <th class=\"l\">server</th><th class=\"l\">client</th></tr></thead><tbody>",
                );
                for (what, server, client) in rows {
                    let _ = write!(
                        o,
                        "<tr><td class=\"l\">{}</td><td class=\"l mono\">{}</td><td class=\"l mono\">{}</td></tr>",
                        esc(what),
                        esc(&server),
                        esc(&client)
                    );
                }
                o.push_str("</tbody></table></div>");
            }
            let raw: Vec<(String, String)> = f
                .counters
                .iter()
                .map(|(k, v)| (k.clone(), format!("+{}", crate::report::promtext::format_value(*v))))
                .chain(f.gauges.iter().map(|(k, g)| (k.clone(), range(g))))
                .chain(f.histograms.iter().map(|(k, h)| (k.clone(), crate::report::observed::hist(h))))
                .collect();
            if raw.is_empty() {
                continue;
            }
            let more = raw.len().saturating_sub(RAW_SHOWN) as u64 + f.series_left_out;
            let _ = write!(
                o,
                "<details><summary>{} raw series{}</summary><table class=\"figures narrow\"><tbody>",
                raw.len() as u64 + f.series_left_out,
                if more > 0 { format!(" ({more} not shown; see summary.json)") } else { String::new() }
            );
            for (k, v) in raw.iter().take(RAW_SHOWN) {
                let _ = write!(
                    o,
                    "<tr><td class=\"l mono\">{}</td><td class=\"mono\">{}</td></tr>",
                    esc(k),
                    esc(v)
                );
            }
            o.push_str("</tbody></table></details>");
        }
    }
    o.push_str("</section>");
}
