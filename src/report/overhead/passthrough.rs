//! The pass-through check: does a gateway hand a stream on as it comes, or buffer or
//! re-chunk it? Streamed requests only, every trial pooled, via against direct: chunks per
//! response (the coalescing ratio), the inter-chunk gaps, where the first token falls
//! between the first byte and the end (a buffering gateway shows TTFT ≈ e2e), and tokens
//! per response (bytes per response shown, not judged: a gateway re-frames the events).

use serde::Serialize;

use super::quantile;
use crate::metrics::{Metric, Stats};

pub(crate) const PASS: &str = "pass";
pub(crate) const FAIL: &str = "fail";
/// No streamed request succeeded on one side: nothing to judge.
pub(crate) const NOT_APPLICABLE: &str = "not_applicable";

/// Above this share of e2e at TTFT the stream arrived all at once...
const BUFFERED_SHARE: f64 = 0.9;
/// ...which only tells when direct streams spread out more than this.
const SPREAD_SHARE: f64 = 0.75;
/// Largest direct ÷ via chunks per response that is still pass-through.
const MAX_COALESCING: f64 = 1.25;
/// Smallest via ÷ direct median gap that is still pass-through (gaps collapse when a reply
/// is flushed in bursts).
const MIN_GAP_RATIO: f64 = 0.5;
/// Largest relative difference of tokens per response.
const MAX_TOKEN_DIFF: f64 = 0.01;

/// A figure direct and via.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub(crate) struct Pair {
    pub direct: Option<f64>,
    pub via: Option<f64>,
}

/// p50/p90/p99 of the inter-chunk gaps, µs.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub(crate) struct Gaps {
    pub p50: Pair,
    pub p90: Pair,
    pub p99: Pair,
}

/// One judged property.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Check {
    pub name: &'static str,
    /// `pass`, `fail` or `not_applicable`.
    pub verdict: &'static str,
    pub detail: String,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct PassThrough {
    /// `pass` (every applicable check passed), `fail`, or `not_applicable` (no successful
    /// streamed request on one side).
    pub verdict: &'static str,
    pub streamed_ok: Pair,
    pub chunks_per_response: Pair,
    /// Direct ÷ via chunks per response: 1 when the gateway forwards every event, 2 when it
    /// merges them in pairs.
    pub coalescing_ratio: Option<f64>,
    pub gap_us: Gaps,
    /// TTFT p50 ÷ e2e p50: near 1 when the whole reply arrives at once.
    pub first_token_share: Pair,
    /// TTFT p50 − TTFB p50, µs: first byte to first token.
    pub ttfb_to_first_token_us: Pair,
    pub tokens_per_response: Pair,
    pub bytes_per_response: Pair,
    pub checks: Vec<Check>,
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    a.zip(b).and_then(|(a, b)| (b > 0.0).then(|| a / b))
}

fn per_response(total: u64, s: &Stats) -> Option<f64> {
    (s.ok > 0).then(|| total as f64 / s.ok as f64)
}

fn p50(s: &Stats, m: Metric) -> Option<f64> {
    quantile(s.hists.get(m), 0.5)
}

fn check(name: &'static str, pass: Option<bool>, detail: String) -> Check {
    let verdict = match pass {
        Some(true) => PASS,
        Some(false) => FAIL,
        None => NOT_APPLICABLE,
    };
    Check { name, verdict, detail }
}

impl PassThrough {
    /// `direct` and `via`: the streamed scenarios' stats of one stage, trials added up.
    pub(crate) fn judge(direct: &Stats, via: &Stats) -> PassThrough {
        let pair = |f: &dyn Fn(&Stats) -> Option<f64>| Pair { direct: f(direct), via: f(via) };
        let chunks = pair(&|s| per_response(s.content_events, s));
        let gap = |q: f64| pair(&|s| quantile(s.hists.get(Metric::Itl), q));
        let gap_us = Gaps { p50: gap(0.5), p90: gap(0.9), p99: gap(0.99) };
        let share = pair(&|s| ratio(p50(s, Metric::Ttft), p50(s, Metric::Latency)));
        let tokens = pair(&|s| per_response(s.ok_completion_tokens, s));
        let coalescing = ratio(chunks.direct, chunks.via);
        let mut out = PassThrough {
            verdict: NOT_APPLICABLE,
            streamed_ok: pair(&|s| Some(s.ok as f64)),
            chunks_per_response: chunks,
            coalescing_ratio: coalescing,
            gap_us,
            first_token_share: share,
            ttfb_to_first_token_us: pair(&|s| {
                p50(s, Metric::Ttft).zip(p50(s, Metric::Ttfb)).map(|(t, b)| t - b)
            }),
            tokens_per_response: tokens,
            bytes_per_response: pair(&|s| per_response(s.bytes_in, s)),
            checks: Vec::new(),
        };
        if direct.ok == 0 || via.ok == 0 {
            return out;
        }
        let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
        out.checks.push(match share.direct.zip(share.via) {
            Some((d, _)) if d >= SPREAD_SHARE => check(
                "not_buffered",
                None,
                format!("direct streams put the first token at {d:.2} of e2e: too short to tell"),
            ),
            Some((d, v)) => check(
                "not_buffered",
                Some(v < BUFFERED_SHARE),
                format!("TTFT/e2e p50 {v:.2} via vs {d:.2} direct (buffered at ≥ {BUFFERED_SHARE})"),
            ),
            None => check("not_buffered", None, "no TTFT or e2e figure".into()),
        });
        out.checks.push(match gap_us.p50.direct.zip(gap_us.p50.via) {
            Some((d, v)) if d >= 1000.0 => check(
                "gaps_kept",
                Some(v >= MIN_GAP_RATIO * d),
                format!("inter-chunk gap p50 {:.2} ms via vs {:.2} ms direct", v / 1e3, d / 1e3),
            ),
            _ => check("gaps_kept", None, "direct gaps under 1 ms or none: nothing to compare".into()),
        });
        out.checks.push(check(
            "not_coalesced",
            coalescing.map(|c| c <= MAX_COALESCING),
            format!(
                "chunks/response {} via vs {} direct (coalescing ×{})",
                f(chunks.via),
                f(chunks.direct),
                f(coalescing)
            ),
        ));
        out.checks.push(check(
            "tokens_identical",
            tokens.direct.zip(tokens.via).map(|(d, v)| (v - d).abs() <= MAX_TOKEN_DIFF * d.max(1.0)),
            format!("tokens/response {} via vs {} direct", f(tokens.via), f(tokens.direct)),
        ));
        let judged: Vec<&Check> = out.checks.iter().filter(|c| c.verdict != NOT_APPLICABLE).collect();
        out.verdict = match judged.iter().any(|c| c.verdict == FAIL) {
            true => FAIL,
            false if judged.is_empty() => NOT_APPLICABLE,
            false => PASS,
        };
        out
    }
}
