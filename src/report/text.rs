//! The text report: per stage × scenario (and all together) requests, rates, latency,
//! TTFT, inter-token latency, errors, then generator health.

use std::io::{self, Write};

use hdrhistogram::Histogram;

use super::health::{reasoning_findings, stage_findings, target_findings};
use super::view::RunView;
use crate::engine::StageResult;
use crate::metrics::{ErrorKind, Metric, Stats};
use crate::units::format_us;
use crate::units::per_second;

/// A percentile as text, or `-` when nothing was recorded.
fn pct(h: &Histogram<u64>, q: f64) -> String {
    if h.is_empty() {
        "-".into()
    } else {
        format_us(h.value_at_quantile(q) as f64)
    }
}

/// The one-line summary printed as each stage ends. It counts what the progress line
/// counts: rps is requests finished per second (here: inside the window), errors are failed
/// requests (cancelled and dropped ones are shown apart).
pub(crate) fn stage_line(index: usize, r: &StageResult) -> String {
    let a = &r.all;
    let secs = r.steady.as_secs_f64();
    let ok_pct = if a.requests > 0 { a.ok as f64 * 100.0 / a.requests as f64 } else { 0.0 };
    let mut line = format!(
        "stage {} {:>14}  reqs {:>8}  rps {:>9.1}  ok {:>6.2}%  p50 {:>8}  p99 {:>8}  ttft p50 {:>8}  errors {}",
        index + 1,
        r.stage.to_string(),
        a.requests,
        per_second(a.served, secs),
        ok_pct,
        pct(a.hists.get(Metric::Latency), 0.5),
        pct(a.hists.get(Metric::Latency), 0.99),
        pct(a.hists.get(Metric::Ttft), 0.5),
        a.failed
    );
    for (n, what) in [
        (a.cancelled, "cancelled"),
        (a.client_cancelled, "cancelled_by_client"),
        (a.dropped, "dropped"),
        (a.late, "late"),
    ] {
        if n > 0 {
            line.push_str(&format!("  {what} {n}"));
        }
    }
    if r.stage.is_open() {
        line.push_str(&format!("  offered {:.1}/s", per_second(a.requests + a.dropped, secs)));
    }
    if r.interrupted {
        line.push_str(&format!("  INTERRUPTED (measured {})", format_us(r.steady.as_micros() as f64)));
    }
    line
}

fn block(w: &mut impl Write, name: &str, s: &Stats, secs: f64) -> io::Result<()> {
    let ok_pct = if s.requests > 0 { s.ok as f64 * 100.0 / s.requests as f64 } else { 0.0 };
    writeln!(
        w,
        "  {name}: {:.1} req/s served ({:.1} ok/s), {:.1}/s offered; {} requests, {:.2}% ok, {:.2}% goodput, \
         {} failed, {} cancelled, {} dropped, {} finished after the window",
        per_second(s.served, secs),
        per_second(s.served_ok, secs),
        per_second(s.requests + s.dropped, secs),
        s.requests,
        ok_pct,
        if s.requests > 0 { s.good as f64 * 100.0 / s.requests as f64 } else { 0.0 },
        s.failed,
        s.cancelled,
        s.dropped,
        s.late
    )?;
    let h = |m| s.hists.get(m);
    writeln!(
        w,
        "    latency    p50 {}  p90 {}  p95 {}  p99 {}  p99.9 {}  max {}",
        pct(h(Metric::Latency), 0.5),
        pct(h(Metric::Latency), 0.9),
        pct(h(Metric::Latency), 0.95),
        pct(h(Metric::Latency), 0.99),
        pct(h(Metric::Latency), 0.999),
        pct(h(Metric::Latency), 1.0)
    )?;
    writeln!(
        w,
        "    service    p50 {}  p99 {}   send lag p50 {}  p99 {}  max {}",
        pct(h(Metric::Service), 0.5),
        pct(h(Metric::Service), 0.99),
        pct(h(Metric::SendLag), 0.5),
        pct(h(Metric::SendLag), 0.99),
        pct(h(Metric::SendLag), 1.0)
    )?;
    writeln!(
        w,
        "    ttft       p50 {}  p95 {}  p99 {}   ttfb p50 {}",
        pct(h(Metric::Ttft), 0.5),
        pct(h(Metric::Ttft), 0.95),
        pct(h(Metric::Ttft), 0.99),
        pct(h(Metric::Ttfb), 0.5)
    )?;
    writeln!(
        w,
        "    itl        p50 {}  p95 {}  p99 {}   tpot p50 {}",
        pct(h(Metric::Itl), 0.5),
        pct(h(Metric::Itl), 0.95),
        pct(h(Metric::Itl), 0.99),
        pct(h(Metric::Tpot), 0.5)
    )?;
    writeln!(
        w,
        "    tokens     {} completion ({:.1} tok/s), {} prompt{}{}",
        s.completion_tokens,
        per_second(s.served_tokens, secs),
        s.prompt_tokens,
        if s.counted_tokens > 0 {
            format!(", {} counted without usage", s.counted_tokens)
        } else {
            String::new()
        },
        if s.token_mismatch > 0 {
            format!(", {} token_mismatch (usage below the content events received)", s.token_mismatch)
        } else {
            String::new()
        }
    )?;
    if s.tokenizer_prompt_tokens + s.tokenizer_completion_tokens + s.tokenizer_compared > 0 {
        let of = |n: u64| {
            let share =
                if s.tokenizer_compared > 0 { n as f64 * 100.0 / s.tokenizer_compared as f64 } else { 0.0 };
            format!("{n} ({share:.1}%)")
        };
        writeln!(
            w,
            "    tokenizer  {} completion, {} prompt; of {} with usage, usage differs on {} prompts, {} completions",
            s.tokenizer_completion_tokens,
            s.tokenizer_prompt_tokens,
            s.tokenizer_compared,
            of(s.tokenizer_prompt_mismatch),
            of(s.tokenizer_completion_mismatch)
        )?;
    }
    reply_lines(w, s)?;
    limit_lines(w, s)?;
    if !s.status.is_empty() {
        let codes: Vec<String> = s.status.iter().map(|(c, n)| format!("{c}={n}")).collect();
        writeln!(w, "    status     {}", codes.join(" "))?;
    }
    let errors: Vec<String> = ErrorKind::ALL
        .iter()
        .filter(|k| s.errors[k.index()] > 0)
        .map(|k| format!("{}={}", k.name(), s.errors[k.index()]))
        .collect();
    if !errors.is_empty() {
        writeln!(w, "    errors     {}", errors.join(" "))?;
    }
    // What to do about them: once per stage, under the ALL line.
    if name == "ALL" {
        for k in ErrorKind::ALL.iter().filter(|k| s.errors[k.index()] > 0) {
            if let Some(hint) = k.hint() {
                writeln!(w, "    hint       {}: {hint}", k.name())?;
            }
        }
    }
    Ok(())
}

/// Reasoning, tool calls, the prompt cache and JSON answers, when the replies had any.
fn reply_lines(w: &mut impl Write, s: &Stats) -> io::Result<()> {
    let h = |m| s.hists.get(m);
    if s.reasoning_requests > 0 || s.reasoning_only > 0 {
        writeln!(
            w,
            "    reasoning  {} requests, {} tokens{}; reasoning time p50 {}  p99 {}; ttft_content p50 {}  p99 {}",
            s.reasoning_requests,
            s.reasoning_tokens,
            if s.reasoning_counted > 0 { format!(" ({} counted from events)", s.reasoning_counted) } else { String::new() },
            pct(h(Metric::ReasoningTime), 0.5),
            pct(h(Metric::ReasoningTime), 0.99),
            pct(h(Metric::TtftContent), 0.5),
            pct(h(Metric::TtftContent), 0.99)
        )?;
    }
    if s.tool_calls > 0 {
        writeln!(
            w,
            "    tools      {} calls in {} requests, {} argument bytes, {} invalid JSON arguments",
            s.tool_calls, s.tool_call_requests, s.tool_arg_bytes, s.tool_args_invalid
        )?;
    }
    if let Some(ratio) = s.cache_hit_ratio() {
        writeln!(
            w,
            "    cache      hit ratio {:.1}% ({} of {} prompt tokens cached, {} written) over {} requests",
            ratio * 100.0,
            s.cached_prompt_tokens,
            s.cache_prompt_tokens,
            s.cache_write_tokens,
            s.cache_reported
        )?;
    }
    if s.json_checked > 0 {
        writeln!(
            w,
            "    json       {} answers checked (response_format), {} not valid JSON",
            s.json_checked, s.json_invalid
        )?;
    }
    Ok(())
}

/// Most keys listed one per line; the rest are summed up in summary.json.
const KEYS_LISTED: usize = 16;

/// Rate limits, retries and the pool's keys (by index and short id, never the key itself).
fn limit_lines(w: &mut impl Write, s: &Stats) -> io::Result<()> {
    if s.rate_limited + s.retries + s.retry_after_invalid > 0 {
        let h = s.hists.get(Metric::RetryAfter);
        writeln!(
            w,
            "    limits     {} rate-limited (429/529), retry-after p50 {}  max {}{}; {} retries in {} requests \
             ({} then ok, {} exhausted, {} cut by the stage end)",
            s.rate_limited,
            pct(h, 0.5),
            pct(h, 1.0),
            if s.retry_after_invalid > 0 {
                format!(", {} unreadable retry-after", s.retry_after_invalid)
            } else {
                String::new()
            },
            s.retries,
            s.retried_requests,
            s.retried_ok,
            s.retry_exhausted,
            s.retry_cut
        )?;
    }
    for k in s.keys.0.iter().take(KEYS_LISTED) {
        writeln!(
            w,
            "    key {:<3}    id {}: {} requests, {} ok, {} failed, {} rate-limited, {} retries; latency p50 {}  p99 {}",
            k.tag.index,
            String::from_utf8_lossy(&k.tag.id),
            k.requests,
            k.ok,
            k.failed,
            k.rate_limited,
            k.retries,
            pct(&k.latency, 0.5),
            pct(&k.latency, 0.99)
        )?;
    }
    if s.keys.0.len() > KEYS_LISTED {
        writeln!(w, "    keys       … {} more in summary.json", s.keys.0.len() - KEYS_LISTED)?;
    }
    Ok(())
}

/// Writes the full report.
pub(crate) fn render(w: &mut impl Write, view: &RunView) -> io::Result<()> {
    let (run, summary) = (&view.run, view.summary);
    let (meta, checks) = (&summary.meta, &summary.thresholds);
    writeln!(w, "llmload report — target {}", summary.target)?;
    if !meta.shard.is_empty() {
        writeln!(w, "shard {} of a distributed run (merge the shards for the whole)", meta.shard)?;
    }
    if let Some(seed) = meta.seed {
        let how = match meta.seed_source.as_str() {
            "random" => " (drawn for this run)",
            "profile" => " (from the profile)",
            _ => "",
        };
        writeln!(w, "seed {seed}{how}: --seed {seed} repeats its prompts, conversation ids and schedule")?;
    }
    if let Some(t) = &meta.tokenizer {
        writeln!(w, "tokenizer {t}: sized prompts of an exact length; every request counted on the client beside the server's usage")?;
    }
    for note in &meta.notes {
        writeln!(w, "note: {note}")?;
    }
    if !meta.merged_from.is_empty() {
        writeln!(
            w,
            "merged from {} runs ({}): counters summed, histograms added",
            meta.merged_from.len(),
            meta.merged_from.join(", ")
        )?;
    }
    if run.interrupted {
        let cut = run.stages.iter().filter(|s| s.interrupted).count();
        writeln!(
            w,
            "INTERRUPTED: stopped by a signal; {} stage(s) ran to their end{}",
            run.stages.len() - cut,
            if cut > 0 { format!(", {cut} cut short") } else { String::new() }
        )?;
    }
    for (i, r) in run.stages.iter().enumerate() {
        let secs = r.steady.as_secs_f64();
        writeln!(w)?;
        let window = format_us(r.steady.as_micros() as f64);
        if r.interrupted && r.steady.is_zero() {
            writeln!(w, "stage {} ({}) — INTERRUPTED during its warmup: nothing measured", i + 1, r.stage)?;
        } else if r.interrupted {
            writeln!(w, "stage {} ({}) — INTERRUPTED: measured for {window}", i + 1, r.stage)?;
        } else {
            writeln!(w, "stage {} ({}) — window {window}", i + 1, r.stage)?;
        }
        if run.scenarios.len() > 1 {
            for (name, s) in run.scenarios.iter().zip(&r.scenarios) {
                block(w, name, s, secs)?;
            }
        }
        block(w, "ALL", &r.all, secs)?;
        for finding in target_findings(r).into_iter().chain(reasoning_findings(r, &run.scenarios)) {
            writeln!(w, "  ! {finding}")?;
        }
        if let Some(st) = summary.stages.get(i) {
            for line in super::observed::text_lines(st) {
                writeln!(w, "  {line}")?;
            }
        }
    }
    writeln!(w)?;
    writeln!(w, "generator health")?;
    writeln!(w, "  workers {} on driver {}, fd limit {}", run.workers, run.driver, summary.fd_limit)?;
    for (host, us) in &summary.dns_us {
        writeln!(w, "  dns {host} resolved once in {}", format_us(*us as f64))?;
    }
    let all = &view.total;
    if all.connects > 0 {
        // Connects in progress at once (per worker, capped): a stage's start is paced.
        let peak = run.stages.iter().flat_map(|s| s.connecting_peak.iter().copied()).max();
        writeln!(
            w,
            "  {} new connections: connect p50 {} p99 {}; tls p50 {} p99 {}{}",
            all.connects,
            pct(all.hists.get(Metric::Connect), 0.5),
            pct(all.hists.get(Metric::Connect), 0.99),
            pct(all.hists.get(Metric::Tls), 0.5),
            pct(all.hists.get(Metric::Tls), 0.99),
            peak.filter(|p| *p > 0)
                .map_or(String::new(), |p| format!("; at most {p} connecting at once per worker"))
        )?;
    }
    let mut bound = false;
    for (i, r) in run.stages.iter().enumerate() {
        let wall = r.wall.as_secs_f64().max(1e-9);
        let cpu: Vec<String> =
            r.worker_cpu.iter().map(|c| format!("{:.0}%", c.as_secs_f64() * 100.0 / wall)).collect();
        let mut findings = stage_findings(r, run.fixed_connections);
        bound |= !findings.is_empty();
        // Lost per-turn lines do not change the figures (histograms saw every request).
        if r.sink_dropped > 0 {
            findings.push(format!("{} per-turn records dropped (results.jsonl fell behind)", r.sink_dropped));
        }
        if r.all.backoffs > 0 {
            findings
                .push(format!("{} backoffs after requests that never reached the server", r.all.backoffs));
        }
        writeln!(
            w,
            "  stage {}: worker cpu {}{}",
            i + 1,
            cpu.join(" "),
            if findings.is_empty() { String::new() } else { format!("; {}", findings.join("; ")) }
        )?;
    }
    writeln!(w, "  verdict: {}", super::health::verdict(&view.total, bound).1)?;
    if !checks.is_empty() {
        writeln!(w)?;
        writeln!(
            w,
            "thresholds (with the defaults: error_rate when the profile sets none, ok_requests ≥ 1)"
        )?;
        for c in checks {
            let verdict = if c.deferred {
                "DEFERRED to merge (an absolute limit; actual is this shard's)"
            } else if c.pass {
                "PASS"
            } else if c.name == super::thresholds::OK_REQUESTS {
                "FAIL: no successful request in this stage"
            } else {
                "FAIL"
            };
            writeln!(
                w,
                "  stage {} {:<16} {:<12} limit {:<10} actual {:<12.3} {verdict}",
                c.stage + 1,
                c.scope,
                c.name,
                c.limit,
                c.actual,
            )?;
        }
        let failed = checks.iter().filter(|c| c.failed()).count();
        let deferred = checks.iter().filter(|c| c.deferred).count();
        writeln!(
            w,
            "  overall: {}{}",
            if failed == 0 { "PASS".to_string() } else { format!("FAIL ({failed} failed)") },
            if deferred == 0 { String::new() } else { format!(", {deferred} deferred to merge") }
        )?;
    }
    Ok(())
}
