//! `llmload report RUN_DIR|summary.json|results.jsonl`: every report rendered again from saved
//! data — exactly from summary.json when there is one, else rebuilt from results.jsonl (after
//! a crash), with the estimates that implies stated in the reports.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{ExitCode, Failure};
use crate::report::{model, rebuild};

#[derive(Args, Debug)]
pub(super) struct ReportArgs {
    /// A run directory, its summary.json, or a results.jsonl.
    input: PathBuf,
    /// Where to write the reports (default: the input's directory).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Rebuild from results.jsonl even when summary.json exists.
    #[arg(long)]
    from_jsonl: bool,
}

pub(super) fn run(args: ReportArgs) -> Result<ExitCode, Failure> {
    let input = &args.input;
    let dir =
        if input.is_dir() { input.clone() } else { input.parent().map(PathBuf::from).unwrap_or_default() };
    let (summary_file, jsonl_file) = if input.is_dir() {
        (input.join("summary.json"), input.join("results.jsonl"))
    } else if input.extension().is_some_and(|e| e == "jsonl") {
        (PathBuf::new(), input.clone())
    } else {
        (input.clone(), PathBuf::new())
    };
    let summary = if !args.from_jsonl && summary_file.is_file() {
        model::load(&summary_file).map_err(Failure::usage)?
    } else if jsonl_file.is_file() {
        eprintln!("llmload: rebuilding from {} (no summary.json used)", jsonl_file.display());
        rebuild::from_jsonl(&jsonl_file).map_err(Failure::usage)?
    } else {
        return Err(Failure::usage(format!(
            "{}: neither a run directory with summary.json or results.jsonl, nor one of those files",
            input.display()
        )));
    };
    let out = args.out.unwrap_or(dir);
    std::fs::create_dir_all(&out).map_err(|e| Failure::usage(format!("--out {}: {e}", out.display())))?;
    let report = crate::report::write_all(&out, &summary).map_err(Failure::runtime)?;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(&report);
    let _ = writeln!(stdout, "\nreports: {}", out.display());
    Ok(ExitCode::Pass)
}
