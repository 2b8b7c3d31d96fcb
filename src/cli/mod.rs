//! The command line: parse arguments, dispatch to the library, map errors to exit codes.
//! Only this module prints to stdout or decides exit codes.

mod compare;
mod export_ids;
mod knee;
mod merge;
mod metrics_server;
mod mock;
mod overhead;
mod progress;
mod report;
mod run;
mod summary;
mod validate;
mod watch;

use clap::{Parser, Subcommand};

/// The process exit code, one meaning each (README "Exit codes", `--help`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// The run is valid and every threshold and default limit passed (`compare`: no
    /// regression; `knee`: a knee found, or none up to `--max-rate`).
    Pass = 0,
    /// A threshold or default limit failed (the error-rate limit, a stage with no successful
    /// request), `compare` found a regression, or `knee`'s first probe already failed.
    ThresholdFailed = 1,
    /// Bad usage or bad input (flags, profile, config, data files; a refused merge), found
    /// before any load.
    Usage = 2,
    /// The run is not valid: llmload itself was the limit (generator-bound) or it was
    /// interrupted, so its figures do not describe the target.
    NotValid = 3,
    /// A runtime error: the run could not start (a name did not resolve, a server could not
    /// be opened) or its outputs could not be written.
    Runtime = 4,
}

/// The exit codes as `--help` lists them.
const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  pass: the run is valid and every threshold and default limit passed
  1  a threshold or default limit failed (compare: a regression)
  2  usage or profile error: bad flags, profile or files, refused before any load
  3  the run is not valid: generator-bound or interrupted
  4  runtime error: could not start (name, server, mock) or could not write outputs";

#[derive(Parser, Debug)]
#[command(
    name = "llmload",
    version,
    about = "Load generator for LLM gateways, with an SDK-exact mock upstream",
    after_help = EXIT_CODES_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a load test (without --target: against the built-in mock).
    #[command(after_help = EXIT_CODES_HELP)]
    Run(Box<run::RunArgs>),
    /// Serve the mock OpenAI + Anthropic upstream.
    Mock(Box<mock::MockArgs>),
    /// Compare two runs' summary.json files; exit 1 on a regression.
    Compare(compare::CompareArgs),
    /// Check a profile without sending any load.
    Validate(validate::ValidateArgs),
    /// Find the highest open-loop rate the target sustains within SLOs.
    #[command(after_help = EXIT_CODES_HELP)]
    Knee(Box<knee::KneeArgs>),
    /// Latency a gateway adds: the same schedule direct and via each gateway, in trials.
    #[command(after_help = EXIT_CODES_HELP)]
    Overhead(Box<overhead::OverheadArgs>),
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
            let code = if e.use_stderr() { ExitCode::Usage } else { ExitCode::Pass };
            let _ = e.print();
            return code as i32;
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
        Command::Overhead(args) => overhead::run(*args),
        Command::Report(args) => report::run(args),
        Command::Summary(args) => summary::run(args),
        Command::ExportIds(args) => export_ids::run(args),
    };
    match result {
        Ok(code) => code as i32,
        Err(e) => {
            eprintln!("llmload: {}", e.message);
            e.code as i32
        }
    }
}

/// An error that ends the process: what to print and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: ExitCode,
}

impl Failure {
    /// Bad usage, profile or config (exit 2).
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), code: ExitCode::Usage }
    }
    /// A runtime failure (exit 4).
    pub fn runtime(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), code: ExitCode::Runtime }
    }
}

impl From<crate::plan::PlanError> for Failure {
    fn from(e: crate::plan::PlanError) -> Failure {
        match e {
            crate::plan::PlanError::Usage(m) => Failure::usage(m),
            crate::plan::PlanError::Runtime(m) => Failure::runtime(m),
        }
    }
}
