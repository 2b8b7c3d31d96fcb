//! `llmload merge A/summary.json B/summary.json … --out DIR`: runs of the same profile from
//! several hosts or shards, combined exactly, with every report rendered again.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{ExitCode, Failure};
use crate::report::{merge, model};

#[derive(Args, Debug)]
pub(super) struct MergeArgs {
    /// summary.json files (or their run directories), at least two.
    #[arg(required = true, num_args = 2..)]
    inputs: Vec<PathBuf>,
    /// Directory to write the merged reports into (created).
    #[arg(long)]
    out: PathBuf,
}

/// A summary file, or the summary of a run directory.
pub(super) fn summary_path(p: &std::path::Path) -> PathBuf {
    if p.is_dir() {
        p.join("summary.json")
    } else {
        p.to_path_buf()
    }
}

/// Refuses one file given twice (however it is spelt: a directory, its summary.json, a link).
fn check_distinct_paths(inputs: &[PathBuf]) -> Result<(), Failure> {
    let mut seen: Vec<(PathBuf, &PathBuf)> = Vec::new();
    for p in inputs {
        let path = summary_path(p);
        let real = std::fs::canonicalize(&path).unwrap_or(path);
        if let Some((_, first)) = seen.iter().find(|(r, _)| *r == real) {
            return Err(Failure::usage(format!(
                "cannot merge: {} and {} are the same run ({}): merging it twice would count every \
                 request twice",
                first.display(),
                p.display(),
                real.display()
            )));
        }
        seen.push((real, p));
    }
    Ok(())
}

pub(super) fn run(args: MergeArgs) -> Result<ExitCode, Failure> {
    check_distinct_paths(&args.inputs)?;
    let inputs = args
        .inputs
        .iter()
        .map(|p| {
            let path = summary_path(p);
            model::load(&path).map(|s| (path.display().to_string(), s)).map_err(Failure::usage)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let merged = merge::merge(&inputs).map_err(|e| Failure::usage(format!("cannot merge: {e}")))?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Failure::usage(format!("--out {}: {e}", args.out.display())))?;
    let report = crate::report::write_all(&args.out, &merged).map_err(Failure::runtime)?;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&report);
    let _ = writeln!(out, "\nmerged {} runs into {}", inputs.len(), args.out.display());
    Ok(if merged.pass { ExitCode::Pass } else { ExitCode::ThresholdFailed })
}
