//! The command line: parse arguments, dispatch to the library, map errors to exit codes.
//! Only this module prints to stdout or decides exit codes.

mod compare;
mod export_ids;
mod knee;
mod merge;
mod metrics_server;
mod mock;
mod progress;
mod report;
mod run;
mod summary;
mod validate;

use clap::{Parser, Subcommand};

/// Exit codes, one meaning each (README "Exit codes"):
/// the run is valid and every threshold and default limit passed (or, for `compare`, no
/// regression);
pub const EXIT_OK: i32 = 0;
/// a threshold or default limit failed (the error-rate limit, a stage with no successful
/// request), or `compare` found a regression;
pub const EXIT_THRESHOLD: i32 = 1;
/// bad usage or bad input (flags, profile, config, data files; a refused merge), found
/// before any load;
pub const EXIT_USAGE: i32 = 2;
/// the run is not valid: llmload itself was the limit (generator-bound) or it was
/// interrupted, so its figures do not describe the target;
pub const EXIT_INVALID: i32 = 3;
/// a runtime failure: a name did not resolve, a server or file could not be opened or
/// written.
pub const EXIT_RUNTIME: i32 = 4;

#[derive(Parser, Debug)]
#[command(
    name = "llmload",
    version,
    about = "Load generator for LLM gateways, with an SDK-exact mock upstream"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a load test (without --target: against the built-in mock).
    Run(Box<run::RunArgs>),
    /// Serve the mock OpenAI + Anthropic upstream.
    Mock(Box<mock::MockArgs>),
    /// Compare two runs' summary.json files; exit 1 on a regression.
    Compare(compare::CompareArgs),
    /// Check a profile without sending any load.
    Validate(validate::ValidateArgs),
    /// Find the highest open-loop rate the target sustains within SLOs.
    Knee(Box<knee::KneeArgs>),
    /// Combine runs of one profile from several hosts or shards (histograms added).
    Merge(merge::MergeArgs),
    /// Render every report again from a run directory, summary.json or results.jsonl.
    Report(report::ReportArgs),
    /// Print key figures of runs side by side (one row per run).
    Summary(summary::SummaryArgs),
    /// Export a run's conversation UUIDs (lines, per-turn CSV, SQL VALUES) for server-side joins.
    ExportIds(export_ids::ExportIdsArgs),
}

/// Runs the CLI and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    crate::net::limits::raise_nofile();
    let result = match cli.command {
        Command::Run(args) => run::run(*args),
        Command::Mock(args) => mock::run(*args),
        Command::Validate(args) => validate::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Knee(args) => knee::run(*args),
        Command::Report(args) => report::run(args),
        Command::Summary(args) => summary::run(args),
        Command::ExportIds(args) => export_ids::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("llmload: {}", e.message);
            e.code
        }
    }
}

/// An error that ends the process: what to print and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: i32,
}

impl Failure {
    /// Bad usage, profile or config (exit 2).
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), code: EXIT_USAGE }
    }
    /// A runtime failure (exit 4).
    pub fn runtime(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), code: EXIT_RUNTIME }
    }
}
