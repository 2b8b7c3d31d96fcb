//! `llmload compare OLD NEW`: a regression gate over two summary.json files.
//! Exit 0: no regression; 1: a regression beyond the threshold; 2: cannot compare.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{ExitCode, Failure};
use crate::report::compare;

#[derive(Args, Debug)]
pub(super) struct CompareArgs {
    /// The baseline summary.json (or its run directory).
    old: PathBuf,
    /// The candidate summary.json (or its run directory).
    new: PathBuf,
    /// Allowed relative change before a figure counts as a regression.
    #[arg(long, default_value_t = 10.0)]
    regress_pct: f64,
}

fn load(path: &Path) -> Result<serde_json::Value, Failure> {
    let file = if path.is_dir() { path.join("summary.json") } else { path.to_path_buf() };
    let text =
        std::fs::read_to_string(&file).map_err(|e| Failure::usage(format!("{}: {e}", file.display())))?;
    serde_json::from_str(&text).map_err(|e| Failure::usage(format!("{}: {e}", file.display())))
}

pub(super) fn run(args: CompareArgs) -> Result<ExitCode, Failure> {
    if args.regress_pct.is_nan() || args.regress_pct < 0.0 {
        return Err(Failure::usage("--regress-pct: must be a number ≥ 0"));
    }
    let (old, new) = (load(&args.old)?, load(&args.new)?);
    let rows = compare::compare(&old, &new, args.regress_pct)
        .map_err(|e| Failure::usage(format!("cannot compare: {}", e.0)))?;
    let mut out = std::io::stdout().lock();
    compare::render(&mut out, &rows, args.regress_pct).map_err(|e| Failure::runtime(e.to_string()))?;
    Ok(if rows.iter().any(|r| r.regressed) { ExitCode::ThresholdFailed } else { ExitCode::Pass })
}
