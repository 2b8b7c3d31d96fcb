//! `llmload run`: a profile (or the built-in quickstart, or flags alone) → workload →
//! `engine::run` → reports in a run directory, and an exit code.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::metrics_server::{self, MetricsServer};
use super::progress::Progress;
use super::Failure;
use crate::engine::shard::Shard;
use crate::engine::{self, Arrival, EngineConfig};
use crate::http::conn::TlsClient;
use crate::http::exchange::Timeouts;
use crate::http::target::Scheme;
use crate::metrics::live::Live;
use crate::mock::config::MockConfig;
use crate::net::cores::select_cores;
use crate::profile::stages::{Load, Stage};
use crate::profile::{limits, Overrides, Profile};
use crate::report::{health, summary, thresholds};
use crate::units::{parse_duration, parse_wall_time_us};
use crate::workload::profile::{targets, ProfileWorkload};

use super::{EXIT_INVALID, EXIT_OK, EXIT_THRESHOLD};

/// The built-in default profile.
const QUICKSTART: &str = include_str!("../../profiles/quickstart.json");

#[derive(Args, Debug)]
pub struct RunArgs {
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
    /// Model for every scenario that inherited the default model.
    #[arg(long)]
    model: Option<String>,
    /// Stages: `N:dur` closed loop, `@rate:dur` open loop, ramps `a..b:dur`, comma-separated.
    #[arg(long)]
    stages: Option<String>,
    /// Extra request header `Name: value` for every scenario (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Without a profile: stream responses.
    #[arg(long)]
    stream: bool,
    /// Without a profile: the protocol (openai-chat, anthropic, openai-responses, openai-completions).
    #[arg(long, default_value = "openai-chat")]
    protocol: String,
    /// Without a profile: max_tokens of each request.
    #[arg(long, default_value_t = 64)]
    max_tokens: u32,
    /// Without a profile: the user message.
    #[arg(long, default_value = "Say something short about load testing.")]
    prompt: String,
    /// Worker cores: a count (0 = all) or a list like `0,2-3`.
    #[arg(long)]
    cores: Option<String>,
    /// Whole-request timeout (default: the profile's, else 120s).
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
    /// After a stage, how long in-flight requests may finish before they are cancelled.
    #[arg(long)]
    grace: Option<String>,
    /// Start of each stage excluded from statistics (default: the profile's).
    #[arg(long)]
    warmup: Option<String>,
    /// Open loop: most requests in flight; arrivals beyond are dropped and counted.
    #[arg(long)]
    max_inflight: Option<usize>,
    /// Open loop: a fixed number of connections; arrivals queue for a free one (latency
    /// still counts from the intended time). Default: a connection per request in flight.
    #[arg(long)]
    connections: Option<usize>,
    /// Open-loop arrival process: constant or poisson.
    #[arg(long, value_parser = ["constant", "poisson"])]
    arrival: Option<String>,
    /// Largest failed share of requests before the run fails (exit 1), when the profile sets
    /// no `error_rate` threshold; 1 turns it off. A stage without one successful request
    /// fails the run regardless.
    #[arg(long, default_value_t = thresholds::DEFAULT_MAX_ERROR_RATE, value_name = "SHARE")]
    max_error_rate: f64,
    /// Seed for every random choice (default: a new one per run, recorded in summary.json).
    #[arg(long)]
    seed: Option<u64>,
    /// Source addresses to connect from, rotated per connection (e.g. 127.0.0.2,127.0.0.3).
    #[arg(long, value_delimiter = ',')]
    source_ip: Vec<String>,
    /// Keep the first bytes of failed responses.
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

/// A one-scenario profile from the flags (used with --target and no profile file).
fn implicit_profile(args: &RunArgs, target: &str) -> Result<String, Failure> {
    let protocol = crate::protocol::ProtocolKind::parse(&args.protocol)
        .map_err(|e| Failure::usage(format!("--protocol: {e}")))?;
    // Checked here: in the profile a max_tokens of 0 would mean "the default" (nexus's rule).
    limits::within(args.max_tokens.into(), 1, limits::MAX_OUTPUT_TOKENS.into())
        .map_err(|e| Failure::usage(format!("--max-tokens: {e}")))?;
    // A base URL (`http://h/v1`) gets the protocol's path; a full endpoint URL is kept.
    let known = ["/chat/completions", "/messages", "/responses", "/completions"];
    let trimmed = target.trim_end_matches('/');
    let url = if known.iter().any(|k| trimmed.ends_with(k)) {
        trimmed.to_string()
    } else if trimmed.ends_with("/v1") {
        format!("{trimmed}{}", &protocol.default_path()[3..])
    } else {
        format!("{trimmed}{}", protocol.default_path())
    };
    let profile = serde_json::json!({
        "defaults": {"protocol": protocol.name(), "target": url, "model": args.model.clone().unwrap_or_else(|| "mock-gpt".into()),
                     "max_tokens": args.max_tokens, "stream": args.stream},
        // `--stages` replaces this as an override, so its errors name the flag.
        "stages": "8:10s",
        "scenarios": [{"name": "default", "content": {"mode": "pool", "prompts": [args.prompt]}}],
    });
    Ok(profile.to_string())
}

/// Points every scenario at `addr` (scheme and authority replaced, path kept).
fn retarget(profile: &mut Profile, base: &str) {
    for s in &mut profile.scenarios {
        let path = s.target.splitn(4, '/').nth(3).unwrap_or("");
        s.target = format!("{base}/{path}");
    }
}

/// The first SIGINT/SIGTERM sets `stop` (the run ends gracefully and reports are still
/// written); a second one exits at once (results.jsonl keeps every line flushed so far).
pub fn stop_on_signals(stop: &Arc<std::sync::atomic::AtomicBool>) {
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_conditional_shutdown(signal, 130, stop.clone());
        let _ = signal_hook::flag::register(signal, stop.clone());
    }
}

impl RunArgs {
    /// The flags `llmload knee` cannot honour (it chooses its own stages, runs alone and
    /// keeps no per-turn output).
    pub fn reject_for_knee(&self) -> Result<(), Failure> {
        let given = [
            ("--stages", self.stages.is_some()),
            ("--shard", self.shard.is_some()),
            ("--start-at", self.start_at.is_some()),
            ("--metrics-addr", self.metrics_addr.is_some()),
            ("--warmup (use --probe-warmup)", self.warmup.is_some()),
        ];
        match given.iter().find(|(_, on)| *on) {
            Some((flag, _)) => Err(Failure::usage(format!("knee: {flag} is not used by knee"))),
            None => Ok(()),
        }
    }
}

/// Sleeps until `at_us` (unix µs) less the engine's 50 ms start-up lead, unless stopped.
fn wait_until(at_us: u64, stop: &std::sync::atomic::AtomicBool) {
    let lead = 50_000;
    eprintln!(
        "llmload: waiting for --start-at ({})",
        crate::report::run_dir::rfc3339((at_us / 1_000_000) as i64)
    );
    loop {
        let now = crate::report::model::unix_us(std::time::SystemTime::now());
        if now + lead >= at_us || stop.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_micros((at_us - lead - now).min(100_000)));
    }
}

/// This machine's name (for run metadata).
fn hostname() -> String {
    nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "unknown".into())
}

/// Reads the local port range; warns when the planned connections cannot fit.
fn check_port_budget(stages: &[Stage], max_inflight: usize, sources: usize) {
    let Ok(range) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range") else { return };
    let mut it = range.split_whitespace().filter_map(|v| v.parse::<u64>().ok());
    let (Some(lo), Some(hi)) = (it.next(), it.next()) else { return };
    let ports = (hi.saturating_sub(lo) + 1) * sources.max(1) as u64;
    let planned = stages
        .iter()
        .map(|s| match s.load {
            Load::Closed { from, to } => u64::from(from.max(to)),
            Load::Open { .. } => max_inflight as u64,
        })
        .max()
        .unwrap_or(0);
    if planned > ports {
        eprintln!(
            "llmload: warning: up to {planned} connections planned but only {ports} local ports \
             ({lo}-{hi} × {} source address(es)); add --source-ip addresses",
            sources.max(1)
        );
    }
}

/// Everything a run needs, validated and set up (targets resolved, the built-in mock
/// started when asked for, the run directory created), before any load.
pub struct Prepared {
    pub profile: Profile,
    pub config: EngineConfig,
    pub workload: Arc<ProfileWorkload>,
    pub dir: PathBuf,
    pub mock: Option<crate::mock::Server>,
    pub metrics_listener: Option<std::net::TcpListener>,
    pub start_at_us: Option<u64>,
    /// The run's seed before the shard's part is mixed in (what `--seed` takes), and where it
    /// came from (`--seed`, `profile` or `random`).
    pub seed: (u64, &'static str),
    /// The limits the run is judged by (`thresholds::limits`).
    pub limits: Vec<(String, f64)>,
    fd_limit: u64,
    dns: Vec<(String, std::time::Duration)>,
    target_desc: Vec<String>,
    origin: String,
    profile_json: serde_json::Value,
    redact_header: Vec<String>,
}

/// Steps 1–3 of a run: validate everything, start the built-in mock if wanted, resolve
/// targets, build the workload and create the run directory.
pub fn prepare(args: &RunArgs) -> Result<Prepared, Failure> {
    // 1. Everything is validated before any connection is made, against `profile::limits`.
    let dur = |flag: &str, v: &str, span: limits::Span| {
        parse_duration(v).and_then(|d| span.check(d)).map_err(|e| Failure::usage(format!("--{flag}: {e}")))
    };
    let mut headers = args.headers.iter().map(|h| parse_header(h)).collect::<Result<Vec<_>, _>>()?;
    let source_ips = args
        .source_ip
        .iter()
        .map(|s| {
            s.trim()
                .parse::<IpAddr>()
                .map_err(|_| Failure::usage(format!("--source-ip: {s:?} is not an IP address")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for ip in &source_ips {
        crate::http::conn::check_source(*ip).map_err(Failure::usage)?;
    }
    let cores = select_cores(args.cores.as_deref()).map_err(Failure::usage)?;
    let metrics_listener = match &args.metrics_addr {
        Some(addr) => {
            Some(metrics_server::bind(addr).map_err(|e| Failure::usage(format!("--metrics-addr {e}")))?)
        }
        None => None,
    };
    for (flag, n) in [("connections", args.connections), ("max-inflight", args.max_inflight)] {
        if let Some(n) = n {
            limits::within(n as u64, 1, limits::MAX_INFLIGHT)
                .map_err(|e| Failure::usage(format!("--{flag}: {e}")))?;
        }
    }
    if !(0.0..=1.0).contains(&args.max_error_rate) {
        return Err(Failure::usage(format!(
            "--max-error-rate {}: a share from 0 to 1 (1 turns the limit off)",
            args.max_error_rate
        )));
    }
    let shard = match &args.shard {
        Some(s) => Shard::parse(s).map_err(|e| Failure::usage(format!("--shard {e}")))?,
        None => Shard::default(),
    };
    let start_at_us = match &args.start_at {
        Some(t) => {
            let at = parse_wall_time_us(t).map_err(|e| Failure::usage(format!("--start-at {e}")))?;
            let now = crate::report::model::unix_us(std::time::SystemTime::now());
            if at < now {
                return Err(Failure::usage(format!(
                    "--start-at {t:?} is {:.1}s in the past",
                    (now - at) as f64 / 1e6
                )));
            }
            Some(at)
        }
        None => None,
    };
    let profile_path = args.profile.clone().or(args.config.clone());
    let embedded = args.mock || (profile_path.is_none() && args.target.is_none());
    let (origin, text) = match &profile_path {
        Some(p) => (
            p.display().to_string(),
            std::fs::read_to_string(p).map_err(|e| Failure::usage(format!("{}: {e}", p.display())))?,
        ),
        None if args.target.is_some() && !args.mock => {
            ("flags".to_string(), implicit_profile(args, args.target.as_deref().unwrap_or_default())?)
        }
        None => ("built-in quickstart".to_string(), QUICKSTART.to_string()),
    };
    let overrides = Overrides {
        target: if profile_path.is_some() { args.target.clone() } else { None },
        vk: args.vk.clone(),
        model: if profile_path.is_some() { args.model.clone() } else { None },
        stages: args.stages.clone(),
        warmup: args.warmup.clone(),
        headers: std::mem::take(&mut headers),
        insecure: args.insecure,
        seed: args.seed,
    };
    let fail = |errs: Vec<String>| {
        Failure::usage(errs.iter().map(|e| format!("{origin}: {e}")).collect::<Vec<_>>().join("\n"))
    };
    let raw = crate::profile::parse_raw(&text).map_err(fail)?;
    let profile_json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let mut profile = crate::profile::apply(raw, &overrides).map_err(fail)?;
    let timeouts = Timeouts {
        connect: dur("connect-timeout", &args.connect_timeout, limits::TIMEOUT)?,
        first_byte: dur("first-byte-timeout", &args.first_byte_timeout, limits::TIMEOUT)?,
        idle: dur("idle-timeout", &args.idle_timeout, limits::TIMEOUT)?,
        total: match &args.timeout {
            Some(t) => dur("timeout", t, limits::TIMEOUT)?,
            None => profile.timeout,
        },
    };
    let grace = match &args.grace {
        Some(g) => dur("grace", g, limits::PAUSE)?,
        None => profile.grace.unwrap_or(std::time::Duration::from_secs(5)),
    };
    // `--warmup` went into the profile as an override, checked against its stages there.
    let warmup = profile.warmup;
    let arrival = match args.arrival.as_deref() {
        Some(a) => Arrival::parse(a).unwrap_or_default(),
        None => profile.arrival.unwrap_or_default(),
    };
    // Without a seed each run draws its own, so cache-busting prompts and conversation ids
    // never repeat across runs; the seed is recorded, and `--seed` repeats a run exactly.
    let (base_seed, seed_source) = match (args.seed, profile.seed) {
        (Some(s), _) => (s, "--seed"),
        (None, Some(s)) => (s, "profile"),
        (None, None) => (rand::random::<u64>(), "random"),
    };
    let seed = shard.seed(base_seed);
    let max_inflight = args.max_inflight.or(profile.max_inflight).unwrap_or(10_000);
    let connections = args.connections.or(profile.connections);
    engine::check_parts(
        shard,
        cores.len(),
        &[("--connections", connections), ("--max-inflight", Some(max_inflight))],
    )
    .map_err(Failure::usage)?;
    let insecure = args.insecure || profile.insecure_skip_verify;
    for w in &profile.warnings {
        eprintln!("llmload: warning: {origin}: {w}");
    }

    // 2. The built-in mock, when asked for (or when there is nothing else to target).
    let mut mock = None;
    if embedded {
        let mut config =
            MockConfig { listen: "127.0.0.1:0".into(), accept_any_model: true, ..MockConfig::default() };
        for m in &mut config.models {
            m.ttft = "lognormal:40ms,120ms".into();
            m.itl = "normal:8ms,1ms".into();
            m.output_tokens = "uniform:8..48".into();
        }
        let settings = config.validate().map_err(Failure::runtime)?;
        let server = crate::mock::start(settings, &cores)
            .map_err(|e| Failure::runtime(format!("built-in mock: {e}")))?;
        retarget(&mut profile, &format!("http://{}", server.addr));
        eprintln!("llmload: running {origin} against the built-in mock at http://{}", server.addr);
        mock = Some(server);
    }

    // 3. Targets resolved once; TLS per target.
    let (mut endpoints, target_index) = targets(&profile).map_err(Failure::usage)?;
    for t in &mut endpoints {
        t.resolve().map_err(Failure::runtime)?;
    }
    let tls: Vec<Option<TlsClient>> = endpoints
        .iter()
        .map(|t| {
            if t.scheme != Scheme::Https {
                return Ok(None);
            }
            let config =
                crate::net::tls::client_config(args.cacert.as_deref(), insecure).map_err(Failure::usage)?;
            let server_name = crate::net::tls::server_name(&t.host).map_err(Failure::usage)?;
            Ok(Some(TlsClient { config, server_name }))
        })
        .collect::<Result<_, Failure>>()?;
    if insecure && tls.iter().any(Option::is_some) {
        eprintln!("llmload: WARNING: --insecure: the server's TLS certificate is NOT verified");
    }
    check_port_budget(&profile.stages, max_inflight, source_ips.len());
    let dns: Vec<(String, std::time::Duration)> =
        endpoints.iter().map(|t| (t.host.clone(), t.dns_time)).collect();
    let workload = ProfileWorkload::new(&profile, &endpoints, &target_index, seed).map_err(Failure::usage)?;
    let fd_limit = crate::net::limits::raise_nofile();
    let dir = crate::report::run_dir::create(&args.out, seed)
        .map_err(|e| Failure::usage(format!("--out {}: {e}", args.out.display())))?;
    let target_desc: Vec<String> = {
        let mut urls: Vec<String> = profile.scenarios.iter().map(|s| s.target.clone()).collect();
        urls.dedup();
        urls
    };
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let config = EngineConfig {
        targets: endpoints,
        stages: profile.stages.clone(),
        cores,
        timeouts,
        grace,
        warmup,
        max_inflight,
        connections,
        arrival,
        seed,
        source_ips,
        capture_error_body: args.capture_error_body || profile.capture_error_body,
        record_turns: !args.no_jsonl,
        stop: stop.clone(),
        tls,
        shard,
    };
    let limits = thresholds::limits(&profile.thresholds, args.max_error_rate);
    Ok(Prepared {
        profile,
        config,
        workload: Arc::new(workload),
        dir,
        mock,
        metrics_listener,
        start_at_us,
        seed: (base_seed, seed_source),
        limits,
        fd_limit,
        dns,
        target_desc,
        origin,
        profile_json,
        redact_header: args.redact_header.clone(),
    })
}

/// `llmload run`.
pub fn run(args: RunArgs) -> Result<i32, Failure> {
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
        Some(
            crate::report::jsonl::JsonlWriter::create(&path, profile.stages.clone(), scenario_names)
                .map_err(|e| Failure::runtime(format!("{}: {e}", path.display())))?,
        )
    };
    let mut progress = Progress::new(profile.stages.clone(), jsonl, stop.clone()).for_shard(shard);
    let live = Arc::new(Live::new(p.config.cores.len()));
    let metrics = match p.metrics_listener.take() {
        Some(listener) => {
            let server = MetricsServer::start(listener, live.clone())
                .map_err(|e| Failure::runtime(format!("--metrics-addr: {e}")))?;
            eprintln!("llmload: live metrics at http://{}/metrics", server.addr());
            Some(server)
        }
        None => None,
    };
    let result = engine::run(p.config.clone(), p.workload.clone(), live, &mut progress);
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
    let (report, checks) = finish(&p, &result, Vec::new())?;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&report);
    let _ = writeln!(out, "\nreports: {}", dir.display());
    let _ = out.flush();
    Ok(if result.interrupted || health::generator_bound(&result) {
        EXIT_INVALID
    } else if checks.iter().any(|c| !c.pass) {
        EXIT_THRESHOLD
    } else {
        EXIT_OK
    })
}

/// Step 5: the summary of `result` with the run's metadata, every report written into the
/// run directory; returns the text report and the threshold checks.
pub fn finish(
    p: &Prepared,
    result: &engine::RunResult,
    notes: Vec<String>,
) -> Result<(Vec<u8>, Vec<thresholds::Check>), Failure> {
    let profile = &p.profile;
    let shard = p.config.shard;
    let coverage = if shard.count > 1 { thresholds::Coverage::Shard } else { thresholds::Coverage::Whole };
    let checks = thresholds::evaluate(&p.limits, result, coverage);
    let info =
        summary::RunInfo { target: p.target_desc.join(", "), fd_limit: p.fd_limit, dns: p.dns.clone() };
    let mut summary = summary::build(result, &info, &checks);
    let argv: Vec<String> = std::env::args().collect();
    let redacted = crate::report::redact::profile(p.profile_json.clone(), &p.redact_header);
    summary.meta = summary::Meta {
        run_id: summary::new_run_id(),
        command: crate::report::redact::command(&argv, &p.redact_header),
        profile_origin: p.origin.clone(),
        profile_sha256: crate::report::redact::profile_hash(&redacted),
        profile: redacted,
        start_unix_us: crate::report::model::unix_us(result.started),
        end_unix_us: crate::report::model::unix_us(std::time::SystemTime::now()),
        host: hostname(),
        cores: p.config.cores.clone(),
        fixed_connections: result.fixed_connections,
        shard: if shard.count > 1 { shard.to_string() } else { String::new() },
        start_at_unix_us: p.start_at_us,
        // The engine's first stage starts 50 ms after it records `started`.
        start_skew_us: p
            .start_at_us
            .map(|at| crate::report::model::unix_us(result.started) as i64 + 50_000 - at as i64),
        merged_from: Vec::new(),
        merged_runs: Vec::new(),
        notes,
        protocols: profile
            .scenarios
            .iter()
            .map(|s| (s.name.clone(), s.protocol.name().to_string()))
            .collect(),
        seed: Some(p.seed.0),
        seed_source: p.seed.1.to_string(),
        limits: p.limits.clone(),
        warnings: profile.warnings.clone(),
    };
    let report = crate::report::write_all(&p.dir, &summary).map_err(Failure::runtime)?;
    Ok((report, checks))
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

    #[test]
    fn the_quickstart_profile_is_valid() {
        let p = crate::profile::from_json(QUICKSTART).unwrap();
        let total: std::time::Duration = p.stages.iter().map(|s| s.duration).sum();
        assert!(total <= std::time::Duration::from_secs(35));
    }
}
