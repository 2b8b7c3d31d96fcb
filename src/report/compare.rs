//! `llmload compare`: two `summary.json` files, stage by stage and scenario by scenario, as a
//! regression gate.

use std::io::{self, Write};

use serde_json::Value;

/// Why two summaries cannot be compared.
pub(crate) struct Incomparable(pub String);

/// One compared figure.
pub(crate) struct Row {
    pub stage: String,
    pub scope: String,
    pub metric: &'static str,
    pub old: f64,
    pub new: f64,
    pub regressed: bool,
}

/// (name, path inside a figures object, larger is worse, absolute noise floor).
const METRICS: &[(&str, &[&str], bool, f64)] = &[
    ("rps", &["rps"], false, 0.0),
    ("error_rate", &["ok_rate"], true, 0.001),
    ("latency_p50_ms", &["us", "latency", "p50"], true, 0.5),
    ("latency_p95_ms", &["us", "latency", "p95"], true, 0.5),
    ("latency_p99_ms", &["us", "latency", "p99"], true, 0.5),
    ("ttft_p95_ms", &["us", "ttft", "p95"], true, 0.5),
    ("itl_p95_ms", &["us", "itl", "p95"], true, 0.5),
    ("goodput", &["goodput"], false, 0.001),
];

fn value(fig: &Value, name: &str, path: &[&str]) -> Option<f64> {
    let mut v = fig;
    for p in path {
        v = v.get(p)?;
    }
    let x = v.as_f64()?;
    Some(match name {
        "error_rate" => 1.0 - x,
        n if n.ends_with("_ms") => x / 1e3,
        _ => x,
    })
}

/// Compares `old` and `new`; `pct` is the allowed relative change.
pub(crate) fn compare(old: &Value, new: &Value, pct: f64) -> Result<Vec<Row>, Incomparable> {
    for (name, s) in [("old", old), ("new", new)] {
        let version = s.get("schema_version").and_then(Value::as_u64);
        if !super::summary::READS.iter().any(|r| version == Some(u64::from(*r))) {
            return Err(Incomparable(format!(
                "{name}: not a summary.json of schema version {}",
                super::summary::READS.map(|r| r.to_string()).join(" or ")
            )));
        }
    }
    let stages = |s: &Value| s["stages"].as_array().cloned().unwrap_or_default();
    let (a, b) = (stages(old), stages(new));
    let specs =
        |v: &[Value]| v.iter().map(|s| s["stage"].as_str().unwrap_or("").to_string()).collect::<Vec<_>>();
    if specs(&a) != specs(&b) {
        return Err(Incomparable(format!("the stages differ: {:?} vs {:?}", specs(&a), specs(&b))));
    }
    let mut rows = Vec::new();
    for (sa, sb) in a.iter().zip(&b) {
        let stage = sa["stage"].as_str().unwrap_or("").to_string();
        let mut scopes = vec![("ALL".to_string(), &sa["all"], &sb["all"])];
        if let (Some(ma), Some(mb)) = (sa["scenarios"].as_object(), sb["scenarios"].as_object()) {
            if ma.len() > 1 {
                for (name, fa) in ma {
                    match mb.get(name) {
                        Some(fb) => scopes.push((name.clone(), fa, fb)),
                        None => {
                            return Err(Incomparable(format!(
                                "scenario {name:?} is missing from the new run"
                            )))
                        }
                    }
                }
            }
        }
        for (scope, fa, fb) in scopes {
            for &(metric, path, larger_is_worse, floor) in METRICS {
                let (Some(o), Some(n)) = (value(fa, metric, path), value(fb, metric, path)) else { continue };
                let limit = pct / 100.0;
                let regressed = if larger_is_worse {
                    n > o * (1.0 + limit) && n - o > floor
                } else {
                    n < o * (1.0 - limit) && o - n > floor
                };
                rows.push(Row {
                    stage: stage.clone(),
                    scope: scope.clone(),
                    metric,
                    old: o,
                    new: n,
                    regressed,
                });
            }
        }
    }
    Ok(rows)
}

/// Prints the comparison table.
pub(crate) fn render(w: &mut impl Write, rows: &[Row], pct: f64) -> io::Result<()> {
    writeln!(
        w,
        "{:<16} {:<16} {:<16} {:>14} {:>14} {:>9}  verdict",
        "stage", "scope", "metric", "old", "new", "delta"
    )?;
    for r in rows {
        let delta =
            if r.old != 0.0 { format!("{:+.1}%", (r.new - r.old) / r.old * 100.0) } else { "-".into() };
        writeln!(
            w,
            "{:<16} {:<16} {:<16} {:>14.3} {:>14.3} {:>9}  {}",
            r.stage,
            r.scope,
            r.metric,
            r.old,
            r.new,
            delta,
            if r.regressed { "REGRESSED" } else { "ok" }
        )?;
    }
    let n = rows.iter().filter(|r| r.regressed).count();
    writeln!(w, "{} regression(s) beyond {pct}%", n)
}
