//! Command-line overrides, with nexus-loadtest's rules, applied to the raw profile before
//! validation so the result is validated as a whole:
//!
//! - `--target` replaces `defaults.target` and every scenario target that was empty or equal
//!   to the old default; scenarios with their own distinct target keep it.
//! - `--model`: the same rule for models.
//! - `--vk` sets `Authorization: Bearer <vk>` on every scenario (replacing any), and also
//!   `x-api-key: <vk>` on `anthropic` scenarios.
//! - `--vk-file FILE` makes its keys every scenario's key pool (replacing `api_keys` and any
//!   Authorization / x-api-key header); `--vk` replaces every pool with its one key.
//! - `--header K: V` is applied to every scenario after `--vk`.
//! - `--stages` replaces the stages (Go durations accepted); `--warmup` replaces `warmup`, so
//!   it is checked against the stages like the profile's own.
//! - `--insecure` sets `insecure_skip_verify`, `--capture-error-body` sets
//!   `capture_error_body`; `--seed` sets `seed`.
//! - `--retry N`, `--retry-on`, `--retry-max-wait` set those fields of every scenario's retry
//!   policy (the profile's, or the default one); `--retry 0` turns retries off.
//! - `--timeout`, `--grace`, `--arrival`, `--max-inflight`, `--connections` and `--tokenizer`
//!   replace their field: the profile's value is then neither read nor checked, and errors name the flag.
//!
//! So every value is the flag's when given, else the profile's, else the default (`Profile`
//! holds the profile's defaults; `None` there means "not set", and the run's default applies).

use std::time::Duration;

use super::limits::{self, Span};
use super::resolve::resolve;
use super::scenario::{check_header, is_http_url};
use super::schema::{RawDefaults, RawProfile, RawStage, RawStageObject, RawStages};
use super::{Profile, Resolving};

/// Values from the command line that change a profile.
#[derive(Clone, Debug, Default)]
pub(crate) struct Overrides {
    pub target: Option<String>,
    pub vk: Option<String>,
    /// `--vk-file`: a key pool, one key a line.
    pub vk_file: Option<std::path::PathBuf>,
    /// `--retry`, `--retry-on`, `--retry-max-wait`.
    pub retry: super::retry::RetryFlags,
    pub model: Option<String>,
    /// Comma-separated stages, e.g. `1:10s,100:60s,@500:2m`.
    pub stages: Option<String>,
    /// `--trace` and its options: one trace-replay stage instead of the stages.
    pub trace: Option<TraceFlags>,
    /// The start of each stage left out of the figures, e.g. `5s`.
    pub warmup: Option<String>,
    /// Extra headers, in order; later ones replace earlier ones of the same name.
    pub headers: Vec<(String, String)>,
    pub insecure: bool,
    pub seed: Option<u64>,
    /// Whole-request timeout, e.g. `1m30s`.
    pub timeout: Option<String>,
    /// How long in-flight requests may finish after a stage.
    pub grace: Option<String>,
    /// `constant` or `poisson`.
    pub arrival: Option<String>,
    pub max_inflight: Option<usize>,
    pub connections: Option<usize>,
    pub capture_error_body: bool,
    /// `o200k_base` or `cl100k_base`.
    pub tokenizer: Option<String>,
    /// Where relative data paths in the profile (datasets, traces) are read from: the
    /// profile file's directory; `None` = the working directory.
    pub base_dir: Option<std::path::PathBuf>,
}

/// `--trace FILE --trace-format F --time-scale X --trace-limit N`.
#[derive(Clone, Debug, Default)]
pub(crate) struct TraceFlags {
    pub path: std::path::PathBuf,
    pub format: Option<String>,
    pub time_scale: Option<f64>,
    pub limit: Option<i64>,
}

/// The values of the flags that replace a field after validation, parsed and checked.
#[derive(Default)]
struct Replaced {
    timeout: Option<Duration>,
    grace: Option<Duration>,
    arrival: Option<super::Arrival>,
    max_inflight: Option<usize>,
    connections: Option<usize>,
    tokenizer: Option<crate::tokens::Tokenizer>,
}

impl Overrides {
    /// Parses the flags that replace a field; errors name the flag.
    fn replaced(&self, errs: &mut Vec<String>) -> Replaced {
        let dur = |errs: &mut Vec<String>, flag: &str, v: &Option<String>, span: Span| {
            let v = v.as_deref()?;
            crate::units::parse_duration(v)
                .and_then(|d| span.check(d))
                .map_err(|e| errs.push(format!("{flag}: {e}")))
                .ok()
        };
        let count = |errs: &mut Vec<String>, flag: &str, n: Option<usize>| {
            let n = n?;
            limits::within(n as u64, 1, limits::MAX_INFLIGHT)
                .map(|n| n as usize)
                .map_err(|e| errs.push(format!("{flag}: {e}")))
                .ok()
        };
        let timeout = dur(errs, "--timeout", &self.timeout, limits::TIMEOUT);
        let grace = dur(errs, "--grace", &self.grace, limits::PAUSE);
        let arrival = self.arrival.as_deref().and_then(|a| {
            let parsed = super::Arrival::parse(a);
            if parsed.is_none() {
                errs.push(super::suggest::not_one_of("--arrival", a, &super::Arrival::NAMES));
            }
            parsed
        });
        let tokenizer = |errs: &mut Vec<String>| {
            let t = self.tokenizer.as_deref()?;
            let parsed = crate::tokens::Tokenizer::parse(t);
            if parsed.is_none() {
                errs.push(super::suggest::not_one_of("--tokenizer", t, &crate::tokens::Tokenizer::NAMES));
            }
            parsed
        };
        Replaced {
            timeout,
            grace,
            arrival,
            max_inflight: count(errs, "--max-inflight", self.max_inflight),
            connections: count(errs, "--connections", self.connections),
            tokenizer: tokenizer(errs),
        }
    }
}

/// Applies `overrides` to a raw profile, then validates and resolves it. Errors in the
/// override values themselves are named after their flag (`--target: …`).
pub(crate) fn apply(mut raw: RawProfile, overrides: &Overrides) -> Result<Profile, Vec<String>> {
    let mut errs = Vec::new();
    let replaced = overrides.replaced(&mut errs);
    // A replaced field is not the profile's any more: neither read nor checked.
    if overrides.timeout.is_some() {
        raw.timeout = None;
    }
    if overrides.grace.is_some() {
        raw.grace = None;
    }
    if overrides.arrival.is_some() {
        raw.arrival = None;
    }
    if overrides.max_inflight.is_some() {
        raw.max_inflight = None;
    }
    if overrides.connections.is_some() {
        raw.connections = None;
    }
    if overrides.tokenizer.is_some() {
        raw.tokenizer = None;
    }
    if overrides.capture_error_body {
        raw.capture_error_body = Some(true);
    }
    match (nexus_rules(raw, overrides), errs.is_empty()) {
        (Ok(mut p), true) => {
            let mut policies: Vec<_> = p.scenarios.iter_mut().map(|s| &mut s.retry).collect();
            overrides.retry.apply(&mut policies).map_err(|e| vec![e])?;
            p.timeout = replaced.timeout.unwrap_or(p.timeout);
            p.grace = replaced.grace.or(p.grace);
            p.arrival = replaced.arrival.or(p.arrival);
            p.max_inflight = replaced.max_inflight.or(p.max_inflight);
            p.connections = replaced.connections.or(p.connections);
            p.tokenizer = replaced.tokenizer.or(p.tokenizer);
            Ok(p)
        }
        (Ok(_), false) => Err(errs),
        (Err(more), _) => {
            errs.extend(more);
            Err(errs)
        }
    }
}

/// The overrides with nexus-loadtest's rules (target, model, key, headers, stages, warmup,
/// insecure, seed), then validation and resolution.
fn nexus_rules(mut raw: RawProfile, overrides: &Overrides) -> Result<Profile, Vec<String>> {
    let mut errs = Vec::new();
    if let Some(t) = &overrides.target {
        if is_http_url(t) {
            let defaults = raw.defaults.get_or_insert_with(RawDefaults::default);
            let old = defaults.target.replace(t.clone()).unwrap_or_default();
            for s in raw.scenarios.iter_mut().flatten() {
                if s.target.as_deref().is_none_or(|st| st.is_empty() || st == old) {
                    s.target = Some(t.clone());
                }
            }
        } else {
            errs.push(format!(
                "--target: {t:?} is not an http(s) URL (e.g. \"http://localhost:8080/v1/chat/completions\")"
            ));
        }
    }
    if let Some(m) = overrides.model.as_ref() {
        if m.is_empty() {
            errs.push("--model: empty".into());
        } else {
            let defaults = raw.defaults.get_or_insert_with(RawDefaults::default);
            let old = defaults.model.replace(m.clone()).unwrap_or_default();
            for s in raw.scenarios.iter_mut().flatten() {
                if s.model.as_deref().is_none_or(|sm| sm.is_empty() || sm == old) {
                    s.model = Some(m.clone());
                }
            }
        }
    }
    if let Some(vk) = &overrides.vk {
        if let Err(e) = check_header("Authorization", &format!("Bearer {vk}")) {
            errs.push(format!("--vk: {e}"));
        }
    }
    let key_file = match &overrides.vk_file {
        Some(path) => match super::keys::read_file(path) {
            Ok(pool) => Some(pool),
            Err(e) => {
                errs.extend(e);
                None
            }
        },
        None => None,
    };
    for (k, v) in &overrides.headers {
        if let Err(e) = check_header(k, v) {
            errs.push(format!("--header {k:?}: {e}"));
        }
    }
    let stages_path = match &overrides.stages {
        Some(s) => {
            raw.stages = Some(RawStages::Text(s.clone()));
            "--stages"
        }
        None => match &overrides.trace {
            Some(t) => {
                raw.stages = Some(RawStages::List(vec![RawStage::Object(Box::new(RawStageObject {
                    trace: Some(t.path.to_string_lossy().into_owned()),
                    format: t.format.clone(),
                    time_scale: t.time_scale,
                    limit: t.limit,
                    ..RawStageObject::default()
                }))]));
                "--trace"
            }
            None => "stages",
        },
    };
    let warmup_path = match &overrides.warmup {
        Some(w) => {
            raw.warmup = Some(w.clone());
            "--warmup"
        }
        None => "warmup",
    };
    if overrides.insecure {
        raw.insecure_skip_verify = Some(true);
    }
    if let Some(seed) = overrides.seed {
        raw.seed = Some(seed);
    }
    let ctx = Resolving {
        stages_path,
        warmup_path,
        vk: overrides.vk.as_deref(),
        key_file: key_file.as_ref(),
        headers: &overrides.headers,
        base_dir: overrides.base_dir.as_deref().unwrap_or(std::path::Path::new("")),
        // Unknown names are reported by `replaced`.
        tokenizer: overrides.tokenizer.as_deref().and_then(crate::tokens::Tokenizer::parse),
    };
    match resolve(raw, &ctx) {
        Ok(p) if errs.is_empty() => Ok(p),
        Ok(_) => Err(errs),
        Err(more) => {
            errs.extend(more);
            Err(errs)
        }
    }
}
