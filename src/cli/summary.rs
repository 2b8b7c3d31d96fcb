//! `llmload summary --table [NAME=]RUN_DIR…`: key figures of several runs side by side, one
//! row per run, with each run's TTFT p50 delta against the fastest. When a name appears more
//! than once (rounds of a same-window comparison), the k-th occurrence belongs to round k and
//! a summary across rounds follows: the median delta and its spread per name.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{ExitCode, Failure};
use crate::report::model;
use crate::report::summary::{Figures, Summary};

#[derive(Args, Debug)]
pub(super) struct SummaryArgs {
    /// Print the side-by-side table (the only format so far).
    #[arg(long)]
    table: bool,
    /// Runs as `NAME=RUN_DIR` (or a bare directory: its name is the directory's).
    #[arg(required = true)]
    runs: Vec<String>,
    /// Which stage (1-based); default: the last stage of each run.
    #[arg(long)]
    stage: Option<usize>,
}

struct Row {
    name: String,
    round: usize,
    ttft_p50: f64,
    ttft_p95: f64,
    lat_p95: f64,
    rps: f64,
    err: f64,
    generator_bound: bool,
}

fn ms(f: &Figures, metric: &str, pick: fn(&crate::report::summary::Percentiles) -> u64) -> f64 {
    f.us.get(metric).map_or(f64::NAN, |p| if p.count == 0 { f64::NAN } else { pick(p) as f64 / 1e3 })
}

fn row(name: String, round: usize, s: &Summary, stage: Option<usize>) -> Result<Row, String> {
    let st = match stage {
        Some(n) => s.stages.get(n.wrapping_sub(1)).ok_or_else(|| format!("{name}: no stage {n}"))?,
        None => s.stages.last().ok_or_else(|| format!("{name}: the run has no completed stage"))?,
    };
    let a = &st.all;
    Ok(Row {
        name,
        round,
        ttft_p50: ms(a, "ttft", |p| p.p50),
        ttft_p95: ms(a, "ttft", |p| p.p95),
        lat_p95: ms(a, "latency", |p| p.p95),
        rps: a.rps,
        err: if a.requests > 0 { 1.0 - a.ok_rate } else { 0.0 },
        generator_bound: s.generator_bound,
    })
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn render(w: &mut impl Write, rows: &[Row]) -> std::io::Result<()> {
    let rounds = rows.iter().map(|r| r.round).max().unwrap_or(0) + 1;
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(7).max(7);
    for round in 0..rounds {
        let here: Vec<&Row> = rows.iter().filter(|r| r.round == round).collect();
        let fastest = here.iter().map(|r| r.ttft_p50).filter(|v| v.is_finite()).fold(f64::INFINITY, f64::min);
        if rounds > 1 {
            writeln!(w, "round {}", round + 1)?;
        }
        writeln!(
            w,
            "{:<width$}  {:>10}  {:>10}  {:>10}  {:>9}  {:>7}  {:>12}",
            "gateway", "ttft_p50", "ttft_p95", "lat_p95", "rps", "err", "ttft_p50_Δ"
        )?;
        for r in &here {
            writeln!(
                w,
                "{:<width$}  {:>8.1}ms  {:>8.1}ms  {:>8.1}ms  {:>9.1}  {:>6.2}%  {:>+10.1}ms{}",
                r.name,
                r.ttft_p50,
                r.ttft_p95,
                r.lat_p95,
                r.rps,
                r.err * 100.0,
                r.ttft_p50 - fastest,
                if r.generator_bound { "  WARNING: generator-bound run" } else { "" }
            )?;
        }
    }
    if rounds > 1 {
        writeln!(w, "\nacross {rounds} rounds: ttft_p50 delta against the fastest of each round")?;
        writeln!(w, "{:<width$}  {:>10}  {:>10}  {:>10}", "gateway", "median", "min", "max")?;
        let mut names: Vec<&str> = Vec::new();
        for r in rows {
            if !names.contains(&r.name.as_str()) {
                names.push(&r.name);
            }
        }
        for name in names {
            let mut deltas: Vec<f64> = (0..rounds)
                .filter_map(|round| {
                    let here: Vec<&Row> = rows.iter().filter(|r| r.round == round).collect();
                    let fastest = here
                        .iter()
                        .map(|r| r.ttft_p50)
                        .filter(|v| v.is_finite())
                        .fold(f64::INFINITY, f64::min);
                    here.iter().find(|r| r.name == name).map(|r| r.ttft_p50 - fastest)
                })
                .filter(|d| d.is_finite())
                .collect();
            if deltas.is_empty() {
                writeln!(
                    w,
                    "{:<width$}  {:>10}  {:>10}  {:>10}  (no TTFT in any round)",
                    name, "-", "-", "-"
                )?;
                continue;
            }
            let (lo, hi) =
                deltas.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), d| (a.min(*d), b.max(*d)));
            writeln!(w, "{:<width$}  {:>+8.1}ms  {:>+8.1}ms  {:>+8.1}ms", name, median(&mut deltas), lo, hi)?;
        }
    }
    Ok(())
}

pub(super) fn run(args: SummaryArgs) -> Result<ExitCode, Failure> {
    if !args.table {
        return Err(Failure::usage("summary: say --table (the only format so far)"));
    }
    let mut rows = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for spec in &args.runs {
        let (name, dir) = match spec.split_once('=') {
            Some((n, d)) if !n.is_empty() => (n.to_string(), PathBuf::from(d)),
            _ => {
                let p = PathBuf::from(spec);
                let name =
                    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| spec.clone());
                (name, p)
            }
        };
        let round = seen.iter().filter(|n| **n == name).count();
        seen.push(name.clone());
        let summary = model::load(&super::merge::summary_path(&dir)).map_err(Failure::usage)?;
        rows.push(row(name, round, &summary, args.stage).map_err(Failure::usage)?);
    }
    let mut out = std::io::stdout().lock();
    render(&mut out, &rows).map_err(|e| Failure::runtime(e.to_string()))?;
    Ok(ExitCode::Pass)
}
