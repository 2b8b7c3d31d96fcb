//! Command-line overrides, with nexus-loadtest's rules, applied to the raw profile before
//! validation so the result is validated as a whole:
//!
//! - `--target` replaces `defaults.target` and every scenario target that was empty or equal
//!   to the old default; scenarios with their own distinct target keep it.
//! - `--model`: the same rule for models.
//! - `--vk` sets `Authorization: Bearer <vk>` on every scenario (replacing any), and also
//!   `x-api-key: <vk>` on `anthropic` scenarios.
//! - `--header K: V` is applied to every scenario after `--vk`.
//! - `--stages` replaces the stages (Go durations accepted); `--warmup` replaces `warmup`, so
//!   it is checked against the stages like the profile's own.
//! - `--insecure` sets `insecure_skip_verify`; `--seed` sets `seed`.

use super::resolve::resolve;
use super::scenario::{check_header, is_http_url};
use super::schema::{RawDefaults, RawProfile, RawStages};
use super::{Profile, Resolving};

/// Values from the command line that change a profile.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub target: Option<String>,
    pub vk: Option<String>,
    pub model: Option<String>,
    /// Comma-separated stages, e.g. `1:10s,100:60s,@500:2m`.
    pub stages: Option<String>,
    /// The start of each stage left out of the figures, e.g. `5s`.
    pub warmup: Option<String>,
    /// Extra headers, in order; later ones replace earlier ones of the same name.
    pub headers: Vec<(String, String)>,
    pub insecure: bool,
    pub seed: Option<u64>,
}

/// Applies `overrides` to a raw profile, then validates and resolves it. Errors in the
/// override values themselves are named after their flag (`--target: …`).
pub fn apply(mut raw: RawProfile, overrides: &Overrides) -> Result<Profile, Vec<String>> {
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
        None => "stages",
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
    let ctx =
        Resolving { stages_path, warmup_path, vk: overrides.vk.as_deref(), headers: &overrides.headers };
    match resolve(raw, &ctx) {
        Ok(p) if errs.is_empty() => Ok(p),
        Ok(_) => Err(errs),
        Err(more) => {
            errs.extend(more);
            Err(errs)
        }
    }
}
