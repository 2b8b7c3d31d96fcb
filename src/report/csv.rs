//! `report.csv`: one row per stage × scenario (and ALL), stable column names, for spreadsheets.

use std::io::{self, Write};

use super::summary::Figures;
use super::view::RunView;

/// The columns, in order. Times are milliseconds.
pub(crate) const COLUMNS: &[&str] = &[
    "stage",
    "load",
    "scenario",
    "requests",
    "ok",
    "failed",
    "cancelled",
    "client_cancelled",
    "dropped",
    "dropped_behind",
    "late",
    "rps",
    "ok_rps",
    "offered_rps",
    "ok_rate",
    "goodput",
    "output_tokens_per_s",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_p999_ms",
    "latency_max_ms",
    "service_p50_ms",
    "service_p99_ms",
    "send_lag_p99_ms",
    "ttfb_p50_ms",
    "ttft_p50_ms",
    "ttft_p95_ms",
    "ttft_p99_ms",
    "itl_p50_ms",
    "itl_p95_ms",
    "tpot_p50_ms",
    "prompt_tokens",
    "completion_tokens",
    "token_mismatch",
    "backoffs",
    "errors",
    "ttft_content_p50_ms",
    "ttft_content_p99_ms",
    "reasoning_time_p50_ms",
    "reasoning_requests",
    "reasoning_tokens",
    "reasoning_only",
    "tool_call_requests",
    "tool_calls",
    "tool_args_invalid",
    "cached_prompt_tokens",
    "cache_write_tokens",
    "cache_hit_ratio",
    "json_checked",
    "json_invalid",
];

/// Quotes a field when it holds a comma, quote or line break (RFC 4180).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn row(w: &mut impl Write, stage: usize, load: &str, scenario: &str, f: &Figures) -> io::Result<()> {
    let ms = |metric: &str, q: &str| {
        // A summary older than a metric lacks it: an empty cell.
        let Some(p) = f.us.get(metric) else { return String::new() };
        let us = match q {
            "p50" => p.p50,
            "p90" => p.p90,
            "p95" => p.p95,
            "p99" => p.p99,
            "p999" => p.p999,
            _ => p.max,
        };
        format!("{:.3}", us as f64 / 1e3)
    };
    let errors: Vec<String> = f.error_counts().iter().map(|(k, v)| format!("{k}={v}")).collect();
    let cells = [
        stage.to_string(),
        field(load),
        field(scenario),
        f.requests.to_string(),
        f.ok.to_string(),
        f.failed.to_string(),
        f.cancelled.to_string(),
        f.client_cancelled.to_string(),
        f.dropped.to_string(),
        f.dropped_behind.to_string(),
        f.late.to_string(),
        format!("{:.3}", f.rps),
        format!("{:.3}", f.ok_rps),
        format!("{:.3}", f.offered_rps),
        format!("{:.5}", f.ok_rate),
        format!("{:.5}", f.goodput),
        format!("{:.3}", f.output_tokens_per_s),
        ms("latency", "p50"),
        ms("latency", "p90"),
        ms("latency", "p95"),
        ms("latency", "p99"),
        ms("latency", "p999"),
        ms("latency", "max"),
        ms("service", "p50"),
        ms("service", "p99"),
        ms("send_lag", "p99"),
        ms("ttfb", "p50"),
        ms("ttft", "p50"),
        ms("ttft", "p95"),
        ms("ttft", "p99"),
        ms("itl", "p50"),
        ms("itl", "p95"),
        ms("tpot", "p50"),
        f.prompt_tokens.to_string(),
        f.completion_tokens.to_string(),
        f.token_mismatch.to_string(),
        f.backoffs.to_string(),
        field(&errors.join(" ")),
        ms("ttft_content", "p50"),
        ms("ttft_content", "p99"),
        ms("reasoning_time", "p50"),
        f.reasoning_requests.to_string(),
        f.reasoning_tokens.to_string(),
        f.reasoning_only.to_string(),
        f.tool_call_requests.to_string(),
        f.tool_calls.to_string(),
        f.tool_args_invalid.to_string(),
        f.cached_prompt_tokens.to_string(),
        f.cache_write_tokens.to_string(),
        // Empty when no response reported the cache (summary.json's null).
        f.cache_hit_ratio.map_or(String::new(), |r| format!("{r:.5}")),
        f.json_checked.to_string(),
        f.json_invalid.to_string(),
    ];
    writeln!(w, "{}", cells.join(","))
}

/// Writes the CSV of a run (its figures as the summary has them).
pub(crate) fn render(w: &mut impl Write, view: &RunView) -> io::Result<()> {
    writeln!(w, "{}", COLUMNS.join(","))?;
    for (i, stage) in view.summary.stages.iter().enumerate() {
        for (name, f) in &stage.scenarios {
            row(w, i + 1, &stage.stage, name, f)?;
        }
        row(w, i + 1, &stage.stage, "ALL", &stage.all)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
