//! `llmload run`: flags → target, stages and workload → `engine::run` → reports.

use std::io::Write;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::Failure;
use crate::engine::{self, Arrival, EngineConfig, Observer, StageResult};
use crate::http::exchange::Timeouts;
use crate::http::target::Target;
use crate::metrics::live::Live;
use crate::mock::config::MockConfig;
use crate::net::cores::select_cores;
use crate::profile::stages::{Load, Stage};
use crate::report::{health, text};
use crate::units::parse_duration;
use crate::workload::simple::{SimpleSpec, SimpleWorkload};

/// Exit code when the run itself is not valid (generator-bound, aborted).
pub const EXIT_INVALID: i32 = 3;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Target base URL, e.g. http://127.0.0.1:8080/v1. Without one, the built-in mock is
    /// started in-process on loopback.
    #[arg(long)]
    target: Option<String>,
    /// Stages: `N:dur` closed loop, `@rate:dur` open loop, ramps `a..b:dur`, comma-separated.
    #[arg(long, default_value = "8:5s,@200:5s")]
    stages: String,
    /// Stream responses (SSE).
    #[arg(long)]
    stream: bool,
    /// Model name sent in requests.
    #[arg(long, default_value = "mock-gpt")]
    model: String,
    /// max_tokens of each request.
    #[arg(long, default_value_t = 64)]
    max_tokens: u32,
    /// The user message.
    #[arg(long, default_value = "Say something short about load testing.")]
    prompt: String,
    /// Worker cores: a count (0 = all) or a list like `0,2-3`.
    #[arg(long)]
    cores: Option<String>,
    /// Extra request header `Name: value` (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// API key sent as `Authorization: Bearer KEY` (never printed or written). Also LLMLOAD_VK.
    #[arg(long, env = "LLMLOAD_VK", hide_env_values = true)]
    vk: Option<String>,
    /// Whole-request timeout.
    #[arg(long, default_value = "600s")]
    timeout: String,
    /// TCP connect timeout.
    #[arg(long, default_value = "10s")]
    connect_timeout: String,
    /// Time allowed until the first response byte.
    #[arg(long, default_value = "120s")]
    first_byte_timeout: String,
    /// Longest silence between response bytes.
    #[arg(long, default_value = "60s")]
    idle_timeout: String,
    /// After a stage, how long in-flight requests may finish before they are cancelled.
    #[arg(long, default_value = "5s")]
    grace: String,
    /// Start of each stage excluded from statistics.
    #[arg(long, default_value = "0")]
    warmup: String,
    /// Open loop: most requests in flight; arrivals beyond are dropped and counted.
    #[arg(long, default_value_t = 10_000)]
    max_inflight: usize,
    /// Open loop: a fixed number of connections; arrivals queue for a free one (latency
    /// still counts from the intended time). Default: a connection per request in flight.
    #[arg(long)]
    connections: Option<usize>,
    /// Open-loop arrival process: constant or poisson.
    #[arg(long, default_value = "constant", value_parser = ["constant", "poisson"])]
    arrival: String,
    /// Seed for every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Source addresses to connect from, rotated per connection (e.g. 127.0.0.2,127.0.0.3).
    #[arg(long, value_delimiter = ',')]
    source_ip: Vec<String>,
    /// Keep the first bytes of failed responses.
    #[arg(long)]
    capture_error_body: bool,
    /// Directory under which each run writes its own directory of reports.
    #[arg(long, default_value = "runs")]
    out: std::path::PathBuf,
}

/// Creates `<out>/<UTC time>-<short id>/`.
fn run_dir(out: &std::path::Path, seed: u64) -> Result<std::path::PathBuf, Failure> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let id = (now.subsec_nanos() as u64 ^ seed.rotate_left(17) ^ std::process::id() as u64) & 0xffffff;
    let name = format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z-{id:06x}", rem / 3600, rem % 3600 / 60, rem % 60);
    let dir = out.join(name);
    std::fs::create_dir_all(&dir).map_err(|e| Failure::usage(format!("--out {}: {e}", out.display())))?;
    Ok(dir)
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
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

/// Prints a progress line per second and each stage as it ends.
struct Progress {
    stages: Vec<Stage>,
    last_sent: u64,
}

impl Observer for Progress {
    fn tick(&mut self, stage: usize, elapsed: Duration, live: &Live) {
        let t = live.totals();
        let rps = t.sent - self.last_sent;
        self.last_sent = t.sent;
        let total: Duration = self.stages.iter().map(|s| s.duration).sum();
        eprintln!(
            "[{:>5.1}s/{:.0}s] stage {} {}  rps {}  in flight {}  ok {}  failed {}  dropped {}",
            elapsed.as_secs_f64(),
            total.as_secs_f64(),
            stage + 1,
            self.stages.get(stage).map(|s| s.to_string()).unwrap_or_default(),
            rps,
            t.in_flight,
            t.ok,
            t.failed,
            t.dropped
        );
    }
    fn stage_done(&mut self, index: usize, result: &StageResult) {
        eprintln!("{}", text::stage_line(index, result));
    }
}

/// Reads the local port range; warns when the planned connections cannot fit.
fn check_port_budget(stages: &[Stage], max_inflight: usize, sources: usize) {
    let Ok(range) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range") else {
        return;
    };
    let mut it = range.split_whitespace().filter_map(|v| v.parse::<u64>().ok());
    let (Some(lo), Some(hi)) = (it.next(), it.next()) else {
        return;
    };
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

pub fn run(args: RunArgs) -> Result<i32, Failure> {
    // Validate everything before any connection is made.
    let stages = Stage::parse_list(&args.stages).map_err(|e| Failure::usage(format!("--stages: {e}")))?;
    let dur = |flag: &str, v: &str| parse_duration(v).map_err(|e| Failure::usage(format!("--{flag}: {e}")));
    let timeouts = Timeouts {
        connect: dur("connect-timeout", &args.connect_timeout)?,
        first_byte: dur("first-byte-timeout", &args.first_byte_timeout)?,
        idle: dur("idle-timeout", &args.idle_timeout)?,
        total: dur("timeout", &args.timeout)?,
    };
    let grace = dur("grace", &args.grace)?;
    let warmup = dur("warmup", &args.warmup)?;
    let mut headers = args.headers.iter().map(|h| parse_header(h)).collect::<Result<Vec<_>, _>>()?;
    if let Some(key) = &args.vk {
        headers.push(("authorization".into(), format!("Bearer {key}")));
    }
    let source_ips = args
        .source_ip
        .iter()
        .map(|s| {
            s.trim()
                .parse::<IpAddr>()
                .map_err(|_| Failure::usage(format!("--source-ip: {s:?} is not an IP address")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let cores = select_cores(args.cores.as_deref()).map_err(Failure::usage)?;
    let arrival = if args.arrival == "poisson" { Arrival::Poisson } else { Arrival::Constant };
    if args.connections == Some(0) {
        return Err(Failure::usage("--connections: must be at least 1"));
    }
    if args.max_inflight == 0 {
        return Err(Failure::usage("--max-inflight: must be at least 1"));
    }

    // The embedded mock when no target is given.
    let mut embedded = None;
    let target_url = match &args.target {
        Some(t) => t.clone(),
        None => {
            let mut config = MockConfig { listen: "127.0.0.1:0".into(), ..MockConfig::default() };
            for m in &mut config.models {
                m.ttft = "lognormal:30ms,80ms".into();
                m.itl = "normal:5ms,500us".into();
                m.output_tokens = "uniform:16..64".into();
            }
            let settings = config.validate().map_err(Failure::runtime)?;
            let server = crate::mock::start(settings, &cores)
                .map_err(|e| Failure::runtime(format!("embedded mock: {e}")))?;
            let url = format!("http://{}/v1", server.addr);
            eprintln!("llmload: no --target given; using the built-in mock at {url}");
            embedded = Some(server);
            url
        }
    };
    let mut target = Target::parse(&target_url).map_err(Failure::usage)?;
    target.resolve().map_err(Failure::runtime)?;
    check_port_budget(&stages, args.max_inflight, source_ips.len());

    let workload = SimpleWorkload::new(
        &target,
        &SimpleSpec {
            model: &args.model,
            max_tokens: args.max_tokens,
            stream: args.stream,
            prompt: &args.prompt,
            headers: &headers,
        },
    );
    let fd_limit = crate::net::limits::raise_nofile();
    let dir = run_dir(&args.out, args.seed)?;
    let config = EngineConfig {
        target: target.clone(),
        stages: stages.clone(),
        cores,
        timeouts,
        grace,
        warmup,
        max_inflight: args.max_inflight,
        connections: args.connections,
        arrival,
        seed: args.seed,
        source_ips,
        capture_error_body: args.capture_error_body,
    };
    eprintln!(
        "llmload: {} stage(s) against {} on {} worker(s)",
        stages.len(),
        target.url(),
        config.cores.len()
    );
    let mut progress = Progress { stages, last_sent: 0 };
    let result = engine::run(config, Arc::new(workload), &mut progress)
        .map_err(|e| Failure::runtime(format!("run failed: {e}")))?;
    if let Some(server) = embedded {
        server.stop();
    }
    let info = text::RunInfo { target: target.url(), fd_limit };
    let mut report = Vec::new();
    text::render(&mut report, &result, &info).map_err(|e| Failure::runtime(e.to_string()))?;
    let summary = crate::report::summary::build(&result, &target.url(), fd_limit);
    let json = serde_json::to_vec_pretty(&summary).expect("summary serializes");
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(dir.join(name), bytes)
            .map_err(|e| Failure::runtime(format!("{}: {e}", dir.join(name).display())))
    };
    write("report.txt", &report)?;
    write("summary.json", &json)?;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&report);
    let _ = writeln!(out, "\nreports: {}", dir.display());
    let _ = out.flush();
    Ok(if health::generator_bound(&result) { EXIT_INVALID } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_517), (2026, 3, 5));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn headers_are_validated() {
        assert_eq!(parse_header("X-A: b").unwrap(), ("X-A".to_string(), "b".to_string()));
        assert!(parse_header("nocolon").unwrap_err().message.contains("nocolon"));
        assert!(parse_header("bad name: v").is_err());
    }
}
