//! `llmload run`: a profile (or the built-in quickstart, or flags alone) → workload →
//! `engine::run` → reports in a run directory, and an exit code.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::metrics_server::{self, MetricsServer};
use super::progress::Progress;
use super::watch::{self, WatchArgs};
use super::{ExitCode, Failure};
use crate::metrics::live::Live;
use crate::plan::{self, ImplicitFlags, Plan, Request};
use crate::profile::{Overrides, TraceFlags};
use crate::report::jsonl::{JsonlWriter, LineFormat};
use crate::report::{health, thresholds};

#[derive(Args, Debug)]
pub(super) struct RunArgs {
    /// Profile (JSON). Without one: with --target a single chat scenario from the flags,
    /// without --target the built-in quickstart against the built-in mock.
    profile: Option<PathBuf>,
    /// Profile (JSON), as nexus-loadtest's -config.
    #[arg(long, conflicts_with = "profile")]
    config: Option<PathBuf>,
    /// Target URL: replaces the default target and every scenario target that inherited it.
    #[arg(long)]
    target: Option<String>,
    /// Start the built-in mock in-process and send every scenario to it.
    #[arg(long)]
    mock: bool,
    /// API key: `Authorization: Bearer KEY` (and `x-api-key` for Anthropic scenarios).
    /// Never printed or written. Also read from LLMLOAD_VK.
    #[arg(long, env = "LLMLOAD_VK", hide_env_values = true)]
    vk: Option<String>,
    /// A key pool: one key a line (blank and # lines skipped), taken in turn by every
    /// request of every scenario (replacing the profile's api_keys). Per-key figures go to
    /// summary.json under each key's index and a short hash; a key is never written.
    #[arg(long, value_name = "FILE", conflicts_with = "vk")]
    vk_file: Option<PathBuf>,
    /// Retry each request up to N times on 429, 503 and 529 (or --retry-on), waiting what
    /// retry-after asks (at most --retry-max-wait) or backing off; latency still counts from
    /// the first attempt. Replaces the profile's max_retries; 0 turns retries off.
    #[arg(long, value_name = "N")]
    retry: Option<u32>,
    /// The statuses retried, e.g. 429,503,529.
    #[arg(long, value_name = "LIST")]
    retry_on: Option<String>,
    /// Longest wait before a retry: a longer retry-after waits this long and is counted
    /// (default: the profile's, else 60s).
    #[arg(long, value_name = "DURATION")]
    retry_max_wait: Option<String>,
    /// Model for every scenario that inherited the default model.
    #[arg(long)]
    model: Option<String>,
    /// Stages: `N:dur` closed loop, `@rate:dur` open loop, ramps `a..b:dur`, comma-separated.
    #[arg(long)]
    stages: Option<String>,
    /// Replay this trace file as the only stage (arrivals at its recorded times; see
    /// docs/workloads.md). Replaces the stages.
    #[arg(long, value_name = "FILE", conflicts_with = "stages")]
    trace: Option<std::path::PathBuf>,
    /// The trace's format: mooncake, azure, burstgpt or jsonl.
    #[arg(long, value_name = "FORMAT", requires = "trace")]
    trace_format: Option<String>,
    /// Multiply the trace's recorded times by this (0.5 replays twice as fast) [default: 1].
    #[arg(long, value_name = "X", requires = "trace")]
    time_scale: Option<f64>,
    /// Replay only the trace's first N records.
    #[arg(long, value_name = "N", requires = "trace")]
    trace_limit: Option<i64>,
    /// Extra request header `Name: value` for every scenario (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Without a profile (with --target): stream responses.
    #[arg(long)]
    stream: bool,
    /// Without a profile (with --target): the protocol (openai-chat, anthropic,
    /// openai-responses, openai-completions) [default: openai-chat].
    #[arg(long)]
    protocol: Option<String>,
    /// Without a profile (with --target): max_tokens of each request [default: 64].
    #[arg(long)]
    max_tokens: Option<u32>,
    /// Without a profile (with --target): the user message.
    #[arg(long)]
    prompt: Option<String>,
    /// Without a profile (with --target): send the entries of this dataset instead of
    /// --prompt, in file order (jsonl, sharegpt JSON or text; see docs/workloads.md).
    #[arg(long, value_name = "PATH", conflicts_with = "prompt")]
    dataset: Option<String>,
    /// The format of --dataset: jsonl, sharegpt or text [default: from the extension,
    /// .jsonl, .json, .txt].
    #[arg(long, value_name = "FORMAT", requires = "dataset")]
    dataset_format: Option<String>,
    /// Worker cores: a count (0 = all) or a list like `0,2-3`.
    #[arg(long)]
    cores: Option<String>,
    /// Whole-request timeout, e.g. 90s or 1m30s (default: the profile's, else 120s).
    #[arg(long)]
    timeout: Option<String>,
    /// TCP connect (and TLS handshake) timeout.
    #[arg(long, default_value = "10s")]
    connect_timeout: String,
    /// Time allowed until the first response byte.
    #[arg(long, default_value = "120s")]
    first_byte_timeout: String,
    /// Longest silence between response bytes.
    #[arg(long, default_value = "60s")]
    idle_timeout: String,
    /// After a stage, how long in-flight requests may finish before they are cancelled
    /// (default: the profile's, else 5s).
    #[arg(long)]
    grace: Option<String>,
    /// Start of each stage excluded from statistics (default: the profile's).
    #[arg(long)]
    warmup: Option<String>,
    /// Open loop: most requests in flight; arrivals beyond are dropped and counted
    /// (default: the profile's, else 10000).
    #[arg(long)]
    max_inflight: Option<usize>,
    /// Open loop: a fixed number of connections; arrivals queue for a free one (latency
    /// still counts from the intended time). Default: a connection per request in flight.
    #[arg(long)]
    connections: Option<usize>,
    /// Open-loop arrival process: constant or poisson (default: the profile's, else constant).
    #[arg(long)]
    arrival: Option<String>,
    /// Largest failed share of requests before the run fails (exit 1), when the profile sets
    /// no `error_rate` threshold; 1 turns it off. A stage without one successful request
    /// fails the run regardless.
    #[arg(long, default_value_t = thresholds::DEFAULT_MAX_ERROR_RATE, value_name = "SHARE")]
    max_error_rate: f64,
    /// Seed for every random choice (default: a new one per run, recorded in summary.json).
    #[arg(long)]
    seed: Option<u64>,
    /// Size prompts exactly and count every request's tokens on the client with this
    /// tokenizer: o200k_base or cl100k_base (default: the profile's `tokenizer`, else none).
    #[arg(long, value_name = "NAME")]
    tokenizer: Option<String>,
    /// Source addresses to connect from, rotated per connection (e.g. 127.0.0.2,127.0.0.3).
    #[arg(long, value_delimiter = ',')]
    source_ip: Vec<String>,
    /// Keep the first bytes of failed responses (also the profile's `capture_error_body`).
    #[arg(long)]
    capture_error_body: bool,
    /// Extra CA certificates (PEM) to trust for https targets.
    #[arg(long)]
    cacert: Option<PathBuf>,
    /// Do not verify the server's TLS certificate (a warning is printed).
    #[arg(long)]
    insecure: bool,
    /// Do not write results.jsonl (one line per request costs ~2 µs of generator CPU per
    /// request; summaries and histograms are unaffected).
    #[arg(long)]
    no_jsonl: bool,
    /// Run part K of N of a distributed run (K from 0, like JOB_COMPLETION_INDEX): users and
    /// open-loop rates are divided exactly between the shards, seeds differ per shard.
    #[arg(long, value_name = "K/N")]
    shard: Option<String>,
    /// Start the first stage at this wall-clock time (RFC 3339 or unix seconds), so shards on
    /// several hosts line up; the measured start skew is recorded in summary.json.
    #[arg(long, value_name = "TIME")]
    start_at: Option<String>,
    /// A header whose value is a secret, besides Authorization, x-api-key and the like: its
    /// value is never written (repeatable).
    #[arg(long, value_name = "NAME")]
    redact_header: Vec<String>,
    /// Serve live Prometheus metrics at http://ADDR/metrics while the run goes (e.g.
    /// 127.0.0.1:9464): request, token and drop counters, in flight, the stage, and latency
    /// and TTFT histograms, cumulative since the start.
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<String>,
    #[command(flatten)]
    pub(super) watch: WatchArgs,
    /// Directory under which each run writes its own directory of reports.
    #[arg(long, default_value = "runs")]
    out: PathBuf,
}

fn parse_header(h: &str) -> Result<(String, String), Failure> {
    let (k, v) =
        h.split_once(':').ok_or_else(|| Failure::usage(format!("--header {h:?}: expected 'Name: value'")))?;
    let k = k.trim();
    if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_!#$%&'*+.^`|~".contains(&b)) {
        return Err(Failure::usage(format!("--header {h:?}: {k:?} is not a valid header name")));
    }
    if v.contains(['\r', '\n']) {
        return Err(Failure::usage(format!("--header {k:?}: the value contains a line break")));
    }
    Ok((k.to_string(), v.trim().to_string()))
}

/// The first SIGINT/SIGTERM sets `stop` (the run ends gracefully and reports are still
/// written); a second one exits at once (results.jsonl keeps every line flushed so far).
pub(super) fn stop_on_signals(stop: &Arc<std::sync::atomic::AtomicBool>) {
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_conditional_shutdown(signal, 130, stop.clone());
        let _ = signal_hook::flag::register(signal, stop.clone());
    }
}

impl RunArgs {
    /// The flags `llmload knee` cannot honour (it chooses its own stages, runs alone and
    /// keeps no per-turn output).
    pub(super) fn reject_for_knee(&self) -> Result<(), Failure> {
        let given = [
            ("--stages", self.stages.is_some()),
            ("--trace", self.trace.is_some()),
            ("--shard", self.shard.is_some()),
            ("--start-at", self.start_at.is_some()),
            ("--metrics-addr", self.metrics_addr.is_some()),
            ("--warmup (use --probe-warmup)", self.warmup.is_some()),
        ];
        let watch = self.watch.given().map(|flag| (flag, true));
        match given.iter().copied().chain(watch).find(|(_, on)| *on) {
            Some((flag, _)) => Err(Failure::usage(format!("knee: {flag} is not used by knee"))),
            None => Ok(()),
        }
    }
}

impl RunArgs {
    /// The flags `llmload overhead` sets itself or cannot honour (it runs one target at a
    /// time, alone).
    pub(super) fn reject_for_overhead(&self) -> Result<(), Failure> {
        let given = [
            ("--target (use --direct and --via)", self.target.is_some()),
            ("--mock (leave out --direct for the built-in mock)", self.mock),
            ("--shard", self.shard.is_some()),
            ("--start-at", self.start_at.is_some()),
            ("--metrics-addr", self.metrics_addr.is_some()),
        ];
        match given.iter().find(|(_, on)| *on) {
            Some((flag, _)) => Err(Failure::usage(format!("overhead: {flag} is not used by overhead"))),
            None => Ok(()),
        }
    }
}

/// Sleeps until `at_us` (unix µs) less the engine's 50 ms start-up lead, unless stopped.
fn wait_until(at_us: u64, stop: &std::sync::atomic::AtomicBool) {
    let lead = 50_000;
    eprintln!(
        "llmload: waiting for --start-at ({})",
        crate::units::calendar::rfc3339((at_us / 1_000_000) as i64)
    );
    loop {
        let now = crate::report::model::unix_us(std::time::SystemTime::now());
        if now + lead >= at_us || stop.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_micros((at_us - lead - now).min(100_000)));
    }
}

/// The run `args` ask for, as the library takes it; errors name the flag.
pub(super) fn request(args: &RunArgs) -> Result<Request, Failure> {
    let headers = args.headers.iter().map(|h| parse_header(h)).collect::<Result<Vec<_>, _>>()?;
    let profile = args.profile.clone().or(args.config.clone());
    Ok(Request {
        mock: args.mock,
        retarget: None,
        overrides: Overrides {
            target: args.target.clone(),
            vk: args.vk.clone(),
            vk_file: args.vk_file.clone(),
            retry: crate::profile::retry::RetryFlags {
                retry: args.retry,
                retry_on: args.retry_on.clone(),
                max_wait: args.retry_max_wait.clone(),
            },
            model: args.model.clone(),
            stages: args.stages.clone(),
            trace: args.trace.as_ref().map(|path| TraceFlags {
                // Relative to where the command runs, not to the profile.
                path: std::path::absolute(path).unwrap_or_else(|_| path.clone()),
                format: args.trace_format.clone(),
                time_scale: args.time_scale,
                limit: args.trace_limit,
            }),
            warmup: args.warmup.clone(),
            headers,
            insecure: args.insecure,
            seed: args.seed,
            timeout: args.timeout.clone(),
            grace: args.grace.clone(),
            arrival: args.arrival.clone(),
            max_inflight: args.max_inflight,
            connections: args.connections,
            capture_error_body: args.capture_error_body,
            tokenizer: args.tokenizer.clone(),
            base_dir: None,
        },
        profile,
        implicit: ImplicitFlags {
            protocol: args.protocol.clone(),
            max_tokens: args.max_tokens,
            stream: args.stream,
            prompt: args.prompt.clone(),
            dataset: args.dataset.clone(),
            dataset_format: args.dataset_format.clone(),
        },
        cores: args.cores.clone(),
        connect_timeout: args.connect_timeout.clone(),
        first_byte_timeout: args.first_byte_timeout.clone(),
        idle_timeout: args.idle_timeout.clone(),
        max_error_rate: args.max_error_rate,
        source_ips: args.source_ip.clone(),
        cacert: args.cacert.clone(),
        shard: args.shard.clone(),
        start_at: args.start_at.clone(),
        redact_header: args.redact_header.clone(),
        out: args.out.clone(),
        argv: std::env::args().collect(),
    })
}

/// Plans the run `args` ask for (nothing is sent yet); notices go to stderr.
pub(super) fn prepare(args: &RunArgs) -> Result<Plan, Failure> {
    let request = request(args)?;
    plan::prepare(&request, &mut |line| eprintln!("llmload: {line}")).map_err(Failure::from)
}

/// `llmload run`.
pub(super) fn run(args: RunArgs) -> Result<ExitCode, Failure> {
    let metrics_listener = match &args.metrics_addr {
        Some(addr) => {
            Some(metrics_server::bind(addr).map_err(|e| Failure::usage(format!("--metrics-addr {e}")))?)
        }
        None => None,
    };
    // Checked (a process that does not exist, a URL that does not parse) before any load.
    let session = args.watch.session()?;
    let mut p = prepare(&args)?;
    eprintln!(
        "llmload: {} stage(s), {} scenario(s) against {} on {} worker(s); reports in {}",
        p.profile.stages.len(),
        p.profile.scenarios.len(),
        p.target_desc.join(", "),
        p.config.cores.len(),
        p.dir.display()
    );
    let shard = p.config.shard;
    if let Some(line) = super::progress::shard_line(&p.profile.stages, shard) {
        eprintln!("{line}");
    }
    let stop = p.config.stop.clone();
    let dir = p.dir.clone();
    // 4. The run.
    stop_on_signals(&stop);
    if let Some(at) = p.start_at_us {
        wait_until(at, &stop);
    }
    let profile = &p.profile;
    let scenario_names: Vec<String> = profile.scenarios.iter().map(|s| s.name.clone()).collect();
    let jsonl = if args.no_jsonl {
        None
    } else {
        let path = dir.join("results.jsonl");
        p.config.turn_lines = Some(Arc::new(LineFormat::new(profile.stages.clone(), scenario_names)));
        Some(JsonlWriter::create(&path).map_err(|e| Failure::runtime(format!("{}: {e}", path.display())))?)
    };
    let mut progress = Progress::new(profile.stages.clone(), jsonl, stop.clone()).for_shard(shard);
    let live = Arc::new(Live::new(p.config.cores.len()));
    let metrics = match metrics_listener {
        Some(listener) => {
            let server = MetricsServer::start(listener, live.clone())
                .map_err(|e| Failure::runtime(format!("--metrics-addr: {e}")))?;
            eprintln!("llmload: live metrics at http://{}/metrics", server.addr());
            Some(server)
        }
        None => None,
    };
    let result = watch::run_engine(&mut p, live, &mut progress, session);
    progress.end_line();
    if let Some(server) = metrics {
        server.stop();
    }
    let result = result.map_err(|e| Failure::runtime(format!("run failed: {e}")))?;
    if let Some(server) = p.mock.take() {
        server.stop();
    }

    if let Some(e) = progress.jsonl_error.take() {
        eprintln!("llmload: results.jsonl: {e}");
    }
    // 5. Reports and the verdict: everything is rendered from the summary.
    let (report, checks) = plan::finish(&p, &result, Vec::new()).map_err(Failure::runtime)?;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&report);
    let _ = writeln!(out, "\nreports: {}", dir.display());
    let _ = out.flush();
    Ok(if result.interrupted || health::generator_bound(&result) {
        ExitCode::NotValid
    } else if checks.iter().any(|c| !c.pass) {
        ExitCode::ThresholdFailed
    } else {
        ExitCode::Pass
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_validated() {
        assert_eq!(parse_header("X-A: b").unwrap(), ("X-A".to_string(), "b".to_string()));
        assert!(parse_header("nocolon").unwrap_err().message.contains("nocolon"));
        assert!(parse_header("bad name: v").is_err());
    }
}
