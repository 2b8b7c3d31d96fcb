//! A run's plan: what the command line asks (`Request`) → the profile with every override
//! applied, the engine's configuration, the workload, the built-in mock when wanted and the
//! run directory, all validated and set up before any load (`prepare`); after the run, the
//! summary with the run's metadata and every report (`finish`). The CLI only maps flags into
//! a `Request` and the outcome into an exit code.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::shard::Shard;
use crate::engine::{self, EngineConfig};
use crate::http::conn::TlsClient;
use crate::http::exchange::Timeouts;
use crate::http::target::Scheme;
use crate::mock::config::MockConfig;
use crate::net::cores::select_cores;
use crate::profile::stages::{Load, Stage};
use crate::profile::{implicit, limits, Implicit, Overrides, Profile, RawProfile};
use crate::report::{summary, thresholds};
use crate::units::{parse_duration, parse_wall_time_us};
use crate::workload::profile::{targets, ProfileWorkload};

/// The built-in default profile.
const QUICKSTART: &str = include_str!("../profiles/quickstart.json");
/// How long in-flight requests may finish after a stage, unless `--grace` or the profile says.
pub(crate) const DEFAULT_GRACE: Duration = Duration::from_secs(5);
/// Most requests in flight (open loop), unless `--max-inflight` or the profile says.
pub(crate) const DEFAULT_MAX_INFLIGHT: usize = 10_000;

/// The flags that only describe the implicit profile (`--target` without a profile file);
/// `None`/`false` = not given.
#[derive(Clone, Debug, Default)]
pub(crate) struct ImplicitFlags {
    pub protocol: Option<String>,
    pub max_tokens: Option<u32>,
    pub stream: bool,
    pub prompt: Option<String>,
    pub dataset: Option<String>,
    pub dataset_format: Option<String>,
}

impl ImplicitFlags {
    /// The flags given, by name.
    fn given(&self) -> Vec<&'static str> {
        [
            ("--protocol", self.protocol.is_some()),
            ("--max-tokens", self.max_tokens.is_some()),
            ("--stream", self.stream),
            ("--prompt", self.prompt.is_some()),
            ("--dataset", self.dataset.is_some()),
            ("--dataset-format", self.dataset_format.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect()
    }
}

/// What the command line asks of a run. Values that change the profile are in `overrides`
/// (flag > profile > default); the rest configure the run itself.
#[derive(Clone, Debug, Default)]
pub(crate) struct Request {
    /// The profile file. Without one: with `overrides.target` the implicit profile (from
    /// the target, `overrides.model` and `protocol`, `max_tokens`, `stream`, `prompt`),
    /// without it the built-in quickstart against the built-in mock.
    pub profile: Option<PathBuf>,
    /// Start the built-in mock in-process and send every scenario to it.
    pub mock: bool,
    /// Send every scenario to this base URL (scheme and authority replaced, path kept), as
    /// the built-in mock does: `llmload overhead` against a mock it started itself.
    pub retarget: Option<String>,
    pub overrides: Overrides,
    /// The implicit profile's flags; an error when the run has a profile (file or quickstart).
    pub implicit: ImplicitFlags,
    /// Worker cores: a count (0 = all) or a list like `0,2-3`.
    pub cores: Option<String>,
    /// Connect, first-byte and idle timeouts (durations).
    pub connect_timeout: String,
    pub first_byte_timeout: String,
    pub idle_timeout: String,
    /// Largest failed share before the run fails, when the profile sets no `error_rate`.
    pub max_error_rate: f64,
    /// Source addresses to connect from.
    pub source_ips: Vec<String>,
    /// Extra CA certificates (PEM) for https targets.
    pub cacert: Option<PathBuf>,
    /// `K/N`: part K of a distributed run of N.
    pub shard: Option<String>,
    /// Wall-clock start of the first stage (RFC 3339 or unix seconds).
    pub start_at: Option<String>,
    /// Headers whose values are secrets (besides the usual ones).
    pub redact_header: Vec<String>,
    /// Directory under which the run's directory is made.
    pub out: PathBuf,
    /// The command line as given, recorded (redacted) in summary.json.
    pub argv: Vec<String>,
}

/// Why a run could not be planned: bad input (found before any load), or the machine or
/// the network refused (a name that does not resolve, a directory that cannot be made).
#[derive(Debug, PartialEq)]
pub enum PlanError {
    Usage(String),
    Runtime(String),
}

fn usage(message: impl Into<String>) -> PlanError {
    PlanError::Usage(message.into())
}

/// Everything a run needs, validated and set up (targets resolved, the built-in mock
/// started when asked for, the run directory created), before any load.
pub(crate) struct Plan {
    pub profile: Profile,
    pub config: EngineConfig,
    pub workload: Arc<ProfileWorkload>,
    pub dir: PathBuf,
    pub mock: Option<crate::mock::Server>,
    pub start_at_us: Option<u64>,
    /// The run's seed before the shard's part is mixed in (what `--seed` takes), and where it
    /// came from (`--seed`, `profile` or `random`).
    pub seed: (u64, &'static str),
    /// The limits the run is judged by (`thresholds::limits`).
    pub limits: Vec<crate::metrics::Limit>,
    /// The targets, for the start line and the summary.
    pub target_desc: Vec<String>,
    /// What `--pid`, `--cgroup` and `--scrape` observed, per stage (set after the run).
    pub observed: Vec<crate::observe::StageObserved>,
    fd_limit: u64,
    dns: Vec<(String, Duration)>,
    origin: String,
    profile_json: serde_json::Value,
    redact_header: Vec<String>,
    argv: Vec<String>,
}

/// Points every scenario at `base` (scheme and authority replaced, path kept).
fn retarget(profile: &mut Profile, base: &str) {
    for s in &mut profile.scenarios {
        let path = s.target.splitn(4, '/').nth(3).unwrap_or("");
        s.target = format!("{base}/{path}");
    }
}

/// The built-in mock's configuration for `profile`: on 127.0.0.1 (any port), any model
/// name, 8 ms between tokens, counting prompts with the run's tokenizer so the two agree.
pub(crate) fn embedded_mock_config(tokenizer: Option<String>) -> MockConfig {
    let mut config =
        MockConfig { listen: "127.0.0.1:0".into(), accept_any_model: true, ..MockConfig::default() };
    for m in &mut config.models {
        m.itl = "normal:8ms,1ms".into();
    }
    config.tokenizer = tokenizer;
    config
}

/// This machine's name (for run metadata).
fn hostname() -> String {
    nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "unknown".into())
}

/// A warning when the planned connections cannot fit in the local port range.
fn port_budget(stages: &[Stage], max_inflight: usize, sources: usize) -> Option<String> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = range.split_whitespace().filter_map(|v| v.parse::<u64>().ok());
    let (lo, hi) = (it.next()?, it.next()?);
    let ports = (hi.saturating_sub(lo) + 1) * sources.max(1) as u64;
    let planned = stages
        .iter()
        .map(|s| match s.load {
            Load::Closed { from, to } => u64::from(from.max(to)),
            Load::Open { .. } | Load::Trace { .. } => max_inflight as u64,
        })
        .max()
        .unwrap_or(0);
    (planned > ports).then(|| {
        format!(
            "warning: up to {planned} connections planned but only {ports} local ports \
             ({lo}-{hi} × {} source address(es)); add --source-ip addresses",
            sources.max(1)
        )
    })
}

/// The profile a request names, as (origin, raw profile, its JSON as recorded, the overrides
/// that still apply to it).
fn source(req: &Request) -> Result<(String, RawProfile, serde_json::Value, Overrides), PlanError> {
    let mut overrides = req.overrides.clone();
    let flags = &req.implicit;
    let implicit_only = |profile: &str| {
        let given = flags.given();
        match given.is_empty() {
            true => Ok(()),
            false => Err(usage(format!(
                "{} describe{} a run without a profile (with --target); {profile} sets {} itself",
                given.join(", "),
                if given.len() == 1 { "s" } else { "" },
                if given.len() == 1 { "it" } else { "them" },
            ))),
        }
    };
    let (origin, text) = match (&req.profile, &req.overrides.target) {
        (Some(p), _) => {
            implicit_only(&format!("the profile {}", p.display()))?;
            overrides.base_dir = p.parent().map(std::path::Path::to_path_buf);
            (
                p.display().to_string(),
                std::fs::read_to_string(p).map_err(|e| usage(format!("{}: {e}", p.display())))?,
            )
        }
        (None, Some(target)) if !req.mock => {
            if flags.prompt.is_some() && flags.dataset.is_some() {
                return Err(usage("--prompt and --dataset both give the user messages; give one"));
            }
            let implicit = Implicit {
                target: target.clone(),
                protocol: flags.protocol.clone().unwrap_or_else(|| implicit::PROTOCOL.into()),
                model: overrides.model.take(),
                max_tokens: flags.max_tokens.unwrap_or(implicit::MAX_TOKENS),
                stream: flags.stream,
                prompt: flags.prompt.clone().unwrap_or_else(|| implicit::PROMPT.into()),
                dataset: flags.dataset.clone(),
                dataset_format: flags.dataset_format.clone(),
            };
            overrides.target = None;
            let raw = implicit.raw().map_err(|errs| usage(errs.join("\n")))?;
            let json = raw.to_json();
            return Ok(("flags".into(), raw, json, overrides));
        }
        // The quickstart names its own models, and its target is the built-in mock.
        (None, _) => {
            implicit_only("the built-in quickstart")?;
            if overrides.model.is_some() {
                return Err(usage(
                    "--model: the built-in quickstart names its own models (give --target or a profile)",
                ));
            }
            overrides.target = None;
            ("built-in quickstart".to_string(), QUICKSTART.to_string())
        }
    };
    let raw = crate::profile::parse_raw(&text).map_err(|errs| {
        usage(errs.iter().map(|e| format!("{origin}: {e}")).collect::<Vec<_>>().join("\n"))
    })?;
    let json = serde_json::from_str(&text).unwrap_or_default();
    Ok((origin, raw, json, overrides))
}

/// Steps 1–3 of a run: validate everything, start the built-in mock if wanted, resolve
/// targets, build the workload and create the run directory. `notice` gets each line worth
/// telling the user (warnings first), before any load.
pub(crate) fn prepare(req: &Request, notice: &mut dyn FnMut(&str)) -> Result<Plan, PlanError> {
    // 1. Everything is validated before any connection is made, against `profile::limits`.
    let dur = |flag: &str, v: &str| {
        parse_duration(v).and_then(|d| limits::TIMEOUT.check(d)).map_err(|e| usage(format!("--{flag}: {e}")))
    };
    let source_ips = req
        .source_ips
        .iter()
        .map(|s| {
            s.trim().parse::<IpAddr>().map_err(|_| usage(format!("--source-ip: {s:?} is not an IP address")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for ip in &source_ips {
        crate::http::conn::check_source(*ip).map_err(usage)?;
    }
    let cores = select_cores(req.cores.as_deref()).map_err(usage)?;
    if !(0.0..=1.0).contains(&req.max_error_rate) {
        return Err(usage(format!(
            "--max-error-rate {}: a share from 0 to 1 (1 turns the limit off)",
            req.max_error_rate
        )));
    }
    let shard = match &req.shard {
        Some(s) => Shard::parse(s).map_err(|e| usage(format!("--shard {e}")))?,
        None => Shard::default(),
    };
    let start_at_us = match &req.start_at {
        Some(t) => {
            let at = parse_wall_time_us(t).map_err(|e| usage(format!("--start-at {e}")))?;
            let now = crate::report::model::unix_us(std::time::SystemTime::now());
            if at < now {
                return Err(usage(format!(
                    "--start-at {t:?} is {:.1}s in the past",
                    (now - at) as f64 / 1e6
                )));
            }
            Some(at)
        }
        None => None,
    };
    let timeouts = (
        dur("connect-timeout", &req.connect_timeout)?,
        dur("first-byte-timeout", &req.first_byte_timeout)?,
        dur("idle-timeout", &req.idle_timeout)?,
    );
    let embedded = req.mock || (req.profile.is_none() && req.overrides.target.is_none());
    let (origin, raw, profile_json, overrides) = source(req)?;
    let mut profile = crate::profile::apply(raw, &overrides).map_err(|errs| {
        usage(errs.iter().map(|e| format!("{origin}: {e}")).collect::<Vec<_>>().join("\n"))
    })?;
    let timeouts =
        Timeouts { connect: timeouts.0, first_byte: timeouts.1, idle: timeouts.2, total: profile.timeout };
    // Without a seed each run draws its own, so cache-busting prompts and conversation ids
    // never repeat across runs; the seed is recorded, and `--seed` repeats a run exactly.
    let (base_seed, seed_source) = match (overrides.seed, profile.seed) {
        (Some(s), _) => (s, "--seed"),
        (None, Some(s)) => (s, "profile"),
        (None, None) => (rand::random::<u64>(), "random"),
    };
    let seed = shard.seed(base_seed);
    let max_inflight = profile.max_inflight.unwrap_or(DEFAULT_MAX_INFLIGHT);
    engine::check_parts(
        shard,
        cores.len(),
        &[("--connections", profile.connections), ("--max-inflight", Some(max_inflight))],
    )
    .map_err(usage)?;
    for w in &profile.warnings {
        notice(&format!("warning: {origin}: {w}"));
    }

    // 2. The built-in mock, when asked for (or when there is nothing else to target).
    let mut mock = None;
    if embedded {
        let mut config = embedded_mock_config(profile.tokenizer.map(|t| t.name().to_string()));
        for m in &mut config.models {
            m.ttft = "lognormal:40ms,120ms".into();
            m.output_tokens = "uniform:8..48".into();
        }
        let settings = config.validate().map_err(PlanError::Runtime)?;
        let server = crate::mock::start(settings, &cores)
            .map_err(|e| PlanError::Runtime(format!("built-in mock: {e}")))?;
        retarget(&mut profile, &format!("http://{}", server.addr));
        notice(&format!("running {origin} against the built-in mock at http://{}", server.addr));
        mock = Some(server);
    }

    if let Some(base) = &req.retarget {
        retarget(&mut profile, base);
    }

    // 3. Targets resolved once; TLS per target.
    let (mut endpoints, target_index) = targets(&profile).map_err(usage)?;
    for t in &mut endpoints {
        t.resolve().map_err(PlanError::Runtime)?;
    }
    let insecure = profile.insecure_skip_verify;
    let tls: Vec<Option<TlsClient>> = endpoints
        .iter()
        .map(|t| {
            if t.scheme != Scheme::Https {
                return Ok(None);
            }
            let config = crate::net::tls::client_config(req.cacert.as_deref(), insecure).map_err(usage)?;
            let server_name = crate::net::tls::server_name(&t.host).map_err(usage)?;
            Ok(Some(TlsClient { config, server_name }))
        })
        .collect::<Result<_, PlanError>>()?;
    if insecure && tls.iter().any(Option::is_some) {
        notice("WARNING: --insecure: the server's TLS certificate is NOT verified");
    }
    if let Some(w) = port_budget(&profile.stages, max_inflight, source_ips.len()) {
        notice(&w);
    }
    let dns: Vec<(String, Duration)> = endpoints.iter().map(|t| (t.host.clone(), t.dns_time)).collect();
    // The vocabulary loads in a moment: now, not on the first request.
    if let Some(t) = profile.tokenizer {
        t.warm();
    }
    let workload = ProfileWorkload::new(&profile, &endpoints, &target_index, seed).map_err(usage)?;
    let fd_limit = crate::net::limits::raise_nofile();
    let dir = crate::report::run_dir::create(&req.out, seed).map_err(|e| {
        PlanError::Runtime(format!("--out {}: cannot create the run directory: {e}", req.out.display()))
    })?;
    let target_desc: Vec<String> = {
        let mut urls: Vec<String> = profile.scenarios.iter().map(|s| s.target.clone()).collect();
        urls.dedup();
        urls
    };
    let config = EngineConfig {
        targets: endpoints,
        stages: profile.stages.clone(),
        cores,
        timeouts,
        grace: profile.grace.unwrap_or(DEFAULT_GRACE),
        warmup: profile.warmup,
        max_inflight,
        connections: profile.connections,
        arrival: profile.arrival.unwrap_or_default(),
        concurrency: profile.sessions.concurrency,
        reuse: profile.sessions.connection,
        seed,
        source_ips,
        capture_error_body: profile.capture_error_body,
        // Set by `run` when it opens results.jsonl.
        turn_lines: None,
        stop: Arc::new(AtomicBool::new(false)),
        tls,
        shard,
        retry: profile.scenarios.iter().map(|s| s.retry.clone()).collect(),
    };
    let limits = thresholds::limits(&profile.thresholds, req.max_error_rate);
    Ok(Plan {
        profile,
        config,
        workload: Arc::new(workload),
        dir,
        mock,
        start_at_us,
        seed: (base_seed, seed_source),
        limits,
        target_desc,
        observed: Vec::new(),
        fd_limit,
        dns,
        origin,
        profile_json,
        redact_header: req.redact_header.clone(),
        argv: req.argv.clone(),
    })
}

/// Step 5: the summary of `result` with the run's metadata, every report written into the
/// run directory; returns the text report and the threshold checks.
pub(crate) fn finish(
    p: &Plan,
    result: &engine::RunResult,
    notes: Vec<String>,
) -> Result<(Vec<u8>, Vec<thresholds::Check>), String> {
    let profile = &p.profile;
    let shard = p.config.shard;
    let coverage = if shard.count > 1 { thresholds::Coverage::Shard } else { thresholds::Coverage::Whole };
    let checks = thresholds::evaluate(&p.limits, result, coverage);
    let tokenizer = profile.tokenizer.map(|t| t.name().to_string());
    let info = summary::RunInfo {
        target: p.target_desc.join(", "),
        fd_limit: p.fd_limit,
        dns: p.dns.clone(),
        tokenizer: tokenizer.clone(),
    };
    let mut summary = summary::build(result, &info, &checks);
    crate::report::observed::attach(&mut summary.stages, &p.observed);
    let redacted = crate::report::redact::profile(p.profile_json.clone(), &p.redact_header);
    summary.meta = summary::Meta {
        run_id: summary::new_run_id(),
        command: crate::report::redact::command(&p.argv, &p.redact_header),
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
        tokenizer,
        limits: p.limits.clone(),
        warnings: profile.warnings.clone(),
    };
    let report = crate::report::write_all(&p.dir, &summary)?;
    Ok((report, checks))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(target: Option<&str>, mock: bool) -> Request {
        Request {
            mock,
            overrides: Overrides {
                target: target.map(str::to_string),
                model: Some("m-1".into()),
                timeout: Some("1m30s".into()),
                ..Overrides::default()
            },
            implicit: ImplicitFlags {
                protocol: Some("anthropic".into()),
                max_tokens: Some(16),
                prompt: Some("hi".into()),
                stream: false,
                ..ImplicitFlags::default()
            },
            ..Request::default()
        }
    }

    #[test]
    fn the_source_is_the_implicit_profile_with_a_target_else_the_quickstart() {
        let (origin, raw, json, o) = source(&request(Some("http://h:1/v1"), false)).unwrap();
        assert_eq!(origin, "flags");
        // Target and model went into the implicit profile; the other overrides still apply.
        assert_eq!((&o.target, &o.model, o.timeout.as_deref()), (&None, &None, Some("1m30s")));
        assert_eq!(json["defaults"]["model"], "m-1");
        let p = crate::profile::apply(raw, &o).unwrap();
        assert_eq!(p.scenarios[0].target, "http://h:1/v1/messages");
        assert_eq!(p.timeout, Duration::from_secs(90));
        let quickstart = |target: Option<&str>, mock| Request {
            implicit: ImplicitFlags::default(),
            overrides: Overrides { target: target.map(str::to_string), ..Overrides::default() },
            ..request(target, mock)
        };
        for req in [quickstart(None, false), quickstart(Some("http://h:1"), true)] {
            let (origin, _, json, o) = source(&req).unwrap();
            assert_eq!(origin, "built-in quickstart");
            assert_eq!((o.target, o.model), (None, None));
            assert!(json["scenarios"].is_array());
        }
        let mut bad = request(Some("http://h:1"), false);
        bad.implicit.protocol = Some("gpt".into());
        assert!(matches!(source(&bad), Err(PlanError::Usage(m)) if m.starts_with("--protocol: \"gpt\"")));
    }

    #[test]
    fn implicit_flags_with_a_profile_are_an_error_not_ignored() {
        // With the quickstart (no target) and with a profile file, none of them would apply.
        let quick = request(None, false);
        let Err(PlanError::Usage(m)) = source(&quick) else { panic!("accepted") };
        assert!(m.starts_with("--protocol, --max-tokens, --prompt describe a run without a profile"), "{m}");
        let file = Request { profile: Some("p.json".into()), ..request(None, false) };
        let Err(PlanError::Usage(m)) = source(&file) else { panic!("accepted") };
        assert!(m.contains("the profile p.json sets them itself"), "{m}");
        let stream =
            Request { implicit: ImplicitFlags { stream: true, ..Default::default() }, ..Request::default() };
        let Err(PlanError::Usage(m)) = source(&stream) else { panic!("accepted") };
        assert!(m.starts_with("--stream describes a run"), "{m}");
        let model = Request {
            overrides: Overrides { model: Some("m".into()), ..Overrides::default() },
            ..Request::default()
        };
        let Err(PlanError::Usage(m)) = source(&model) else { panic!("accepted") };
        assert!(m.starts_with("--model: the built-in quickstart"), "{m}");
    }

    #[test]
    fn the_quickstart_profile_is_valid() {
        let p = crate::profile::from_json(QUICKSTART).unwrap();
        let total: Duration = p.stages.iter().map(|s| s.duration).sum();
        assert!(total <= Duration::from_secs(35));
    }
}
