//! The replies table of report.html: reasoning, tool calls, the prompt cache and JSON
//! answers per stage × scenario, shown only when some reply had any of them.

use std::fmt::Write;

use super::*;
use crate::report::summary::Figures;

/// Whether `f` has a figure for this table.
fn has_any(f: &Figures) -> bool {
    f.reasoning_requests + f.reasoning_only + f.tool_calls + f.cache_reported + f.json_checked > 0
}

fn row(o: &mut String, stage: &str, scope: &str, f: &Figures) {
    let p = |m: &str, pick: fn(&crate::report::summary::Percentiles) -> u64| match f.us.get(m) {
        Some(x) => duration(x.count, pick(x)),
        None => "-".into(),
    };
    let cells: [(&str, String, bool); 12] = [
        ("stage", stage.to_string(), false),
        ("scenario", scope.to_string(), false),
        ("reasoning_requests", count(f.reasoning_requests), false),
        ("reasoning_tokens", count(f.reasoning_tokens), false),
        ("ttft_content_p50", p("ttft_content", |x| x.p50), false),
        ("reasoning_time_p50", p("reasoning_time", |x| x.p50), false),
        // Reasoning that used the whole budget, and broken answers, are what to look at.
        ("reasoning_only", count(f.reasoning_only), f.reasoning_only > 0),
        ("tool_calls", count(f.tool_calls), false),
        ("tool_args_invalid", count(f.tool_args_invalid), f.tool_args_invalid > 0),
        ("cache_hit_ratio", f.cache_hit_ratio.map_or("-".into(), percent), false),
        ("json_checked", count(f.json_checked), false),
        ("json_invalid", count(f.json_invalid), f.json_invalid > 0),
    ];
    o.push_str("<tr>");
    for (k, v, hot) in cells {
        let class = match k {
            "stage" | "scenario" => " class=\"l\"",
            _ if hot => " class=\"hot\"",
            _ => "",
        };
        let _ = write!(o, "<td data-k=\"{k}\"{class}>{}</td>", esc(&v));
    }
    o.push_str("</tr>");
}

/// The table, or nothing when no reply reasoned, called a tool, reported the cache or was
/// checked as JSON.
pub(super) fn replies(o: &mut String, s: &Summary) {
    if !s.stages.iter().any(|st| has_any(&st.all)) {
        return;
    }
    section(o, "replies", "Replies", "reasoning, tool calls, prompt cache and JSON answers of ok requests");
    o.push_str(
        "<div class=\"scroll\"><table class=\"figures\"><thead><tr>\
         <th class=\"l\">stage</th><th class=\"l\">scenario</th><th>reasoning requests</th>\
         <th>reasoning tokens</th><th title=\"first answer token\">ttft_content p50</th>\
         <th title=\"first to last reasoning token\">reasoning p50</th>\
         <th title=\"answers of only reasoning: the budget went to thinking\">reasoning only</th>\
         <th>tool calls</th><th title=\"arguments not valid JSON\">invalid args</th>\
         <th title=\"cached prompt tokens / prompt tokens, token-weighted\">cache hit</th>\
         <th title=\"answers checked against response_format\">JSON checked</th><th>JSON invalid</th>\
         </tr></thead><tbody>",
    );
    for (i, st) in s.stages.iter().enumerate() {
        let stage = (i + 1).to_string();
        row(o, &stage, "ALL", &st.all);
        if st.scenarios.len() > 1 {
            for (name, f) in st.scenarios.iter().filter(|(_, f)| has_any(f)) {
                row(o, "", name, f);
            }
        }
    }
    o.push_str("</tbody></table></div></section>");
}
