//! Scenarios: `defaults` merged into each scenario with nexus's fallbacks (an empty string
//! or a zero count inherits, as Go's zero values do), content modes, turns, weights, headers
//! and SLOs. Errors found in `defaults` are reported once, at `defaults.*`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::keys::KeyPool;
use super::limits::{self, count, duration, limit};
use super::retry::RetryPolicy;
use super::schema::{RawCancel, RawContent, RawDefaults, RawProfile, RawScenario, RawSlo, RawTurns};
use super::suggest::{not_one_of, push_key};
use super::{
    Content, DatasetContent, Resolving, ScenarioSpec, DEFAULT_PROMPT, DEFAULT_SCRIPT_LINE,
    DEFAULT_SIZED_TOKENS,
};
use crate::data::dataset::{self, Dataset, Format, History, Order};
use crate::http::cancel::{CancelAfter, ClientCancel};
use crate::metrics::Limit;
use crate::protocol::ProtocolKind;
use crate::tokens::Counter;

const DEFAULT_PROTOCOL: ProtocolKind = ProtocolKind::OpenAiChat;
const DEFAULT_MAX_TOKENS: u32 = 64;
const CONTENT_MODES: [&str; 4] = ["pool", "scripted", "sized", "dataset"];

/// The `defaults` block, checked. A field that failed its check is `None` here and is not
/// reported again by the scenarios inheriting it (`bad` lists those fields).
struct Defaults {
    protocol: Option<ProtocolKind>,
    target: Option<String>,
    headers: Vec<(String, String)>,
    model: Option<String>,
    max_tokens: u32,
    stream: bool,
    system: Option<String>,
    bad_protocol: bool,
    bad_target: bool,
    /// The profile-wide retry policy and key pool (`retry`, `api_keys`).
    retry: Option<RetryPolicy>,
    keys: Option<KeyPool>,
}

pub(super) fn resolve_scenarios(
    raw: &RawProfile,
    think_time: Duration,
    ctx: &Resolving,
    errs: &mut Vec<String>,
    warns: &mut Vec<String>,
) -> Vec<ScenarioSpec> {
    let mut d = resolve_defaults(raw.defaults.as_ref(), errs);
    d.retry = super::retry::resolve(errs, "retry", raw.retry.as_ref());
    d.keys = super::keys::resolve(errs, "api_keys", raw.api_keys.as_deref(), raw.key_pick.as_deref());
    let list = raw.scenarios.as_deref().filter(|l| !l.is_empty());
    let Some(list) = list else {
        if raw.scenarios.is_some() {
            warns.push(
                "scenarios: [] is treated as one scenario \"default\" made from defaults \
                 (nexus-loadtest's rule); leave scenarios out, or list them"
                    .into(),
            );
        }
        let implicit = RawScenario { name: Some("default".into()), ..RawScenario::default() };
        return resolve_one(&implicit, None, &d, think_time, ctx, errs, warns).into_iter().collect();
    };
    if list.iter().all(|s| matches!(s.weight, Some(w) if w <= 0)) {
        errs.push("scenarios: weights all zero (give at least one scenario a weight above 0)".into());
    }
    let mut out: Vec<ScenarioSpec> = Vec::new();
    let mut names: Vec<(String, usize)> = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let path = format!("scenarios[{i}]");
        let name = s.name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| format!("scenario-{i}"));
        if let Some((_, first)) = names.iter().find(|(n, _)| *n == name) {
            errs.push(format!("{path}.name: {name:?} is already used by scenarios[{first}]"));
        }
        names.push((name.clone(), i));
        let s = RawScenario { name: Some(name), ..s.clone() };
        out.extend(resolve_one(&s, Some(&path), &d, think_time, ctx, errs, warns));
    }
    out
}

fn resolve_defaults(raw: Option<&RawDefaults>, errs: &mut Vec<String>) -> Defaults {
    let r = raw.cloned().unwrap_or_default();
    let protocol = nonempty(&r.protocol).map(|p| protocol_named(errs, "defaults.protocol", p));
    let bad_protocol = matches!(protocol, Some(None));
    let target = nonempty(&r.target);
    let bad_target = target.is_some_and(|t| !check_target(errs, "defaults.target", t));
    Defaults {
        protocol: protocol.flatten(),
        target: target.filter(|_| !bad_target).map(str::to_string),
        headers: headers(errs, "defaults.headers", r.headers.as_ref()),
        model: nonempty(&r.model).map(str::to_string),
        max_tokens: max_tokens(errs, "defaults.max_tokens", r.max_tokens).unwrap_or(DEFAULT_MAX_TOKENS),
        stream: r.stream.unwrap_or(false),
        system: nonempty(&r.system).map(str::to_string),
        bad_protocol,
        bad_target,
        retry: None,
        keys: None,
    }
}

/// One scenario; `path` is `None` for the implicit scenario made from `defaults` alone.
fn resolve_one(
    s: &RawScenario,
    path: Option<&str>,
    d: &Defaults,
    think_time: Duration,
    ctx: &Resolving,
    errs: &mut Vec<String>,
    warns: &mut Vec<String>,
) -> Option<ScenarioSpec> {
    let before = errs.len();
    let at = |field: &str| path.map_or_else(|| format!("defaults.{field}"), |p| format!("{p}.{field}"));
    let protocol = match nonempty(&s.protocol) {
        Some(p) => protocol_named(errs, &at("protocol"), p),
        None if d.bad_protocol => None,
        None => Some(d.protocol.unwrap_or(DEFAULT_PROTOCOL)),
    };
    let target = match nonempty(&s.target) {
        Some(t) => check_target(errs, &at("target"), t).then(|| t.to_string()),
        None if d.bad_target => None,
        None => {
            if d.target.is_none() {
                errs.push(match path {
                    Some(p) => format!("{p}: no target (set defaults.target or {p}.target)"),
                    None => "defaults.target: no target (set defaults.target, or pass --target)".into(),
                });
            }
            d.target.clone()
        }
    };
    let model = nonempty(&s.model).map(str::to_string).or_else(|| d.model.clone());
    if model.is_none() {
        errs.push(match path {
            Some(p) => format!("{p}: no model (set defaults.model or {p}.model, or pass --model)"),
            None => "defaults.model: no model (set defaults.model, or pass --model)".into(),
        });
    }
    let mut hdrs = d.headers.clone();
    if let Some(p) = path {
        for (k, v) in headers(errs, &format!("{p}.headers"), s.headers.as_ref()) {
            set_header(&mut hdrs, &k, &v);
        }
    }
    if let Some(vk) = ctx.vk {
        set_header(&mut hdrs, "Authorization", &format!("Bearer {vk}"));
        if protocol.is_some_and(ProtocolKind::uses_x_api_key) {
            set_header(&mut hdrs, "x-api-key", vk);
        }
    }
    for (k, v) in ctx.headers {
        set_header(&mut hdrs, k, v);
    }
    let retry = match (&s.retry, path) {
        (Some(r), Some(p)) => super::retry::resolve(errs, &format!("{p}.retry"), Some(r)),
        _ => d.retry.clone(),
    };
    let keys = key_pool(s, path, d, ctx, &mut hdrs, errs);
    let max_tokens = max_tokens(errs, &at("max_tokens"), s.max_tokens).unwrap_or(d.max_tokens);
    let turns = turns(errs, &at("turns"), s.turns.as_ref());
    // Token counts for datasets (`max_prompt_tokens`, recorded reply lengths).
    let counter = ctx.tokenizer.map_or(Counter::Estimate, Counter::Exact);
    let content = content(errs, warns, &at("content"), s.content.as_ref(), ctx, counter);
    let turns = match &content {
        Content::Dataset(d) => {
            if s.turns.is_some() {
                warns.push(format!(
                    "{}: ignored with content mode \"dataset\" (each entry is a whole conversation \
                     and sets its own turns)",
                    at("turns")
                ));
            }
            d.data.turn_range()
        }
        _ => turns,
    };
    let think_time = duration(errs, &at("think_time"), s.think_time.as_deref(), think_time, limits::PAUSE);
    let slo = s.slo.as_ref().map(|slo| resolve_slo(errs, &at("slo"), slo)).unwrap_or_default();
    let options = super::options::resolve(s, protocol, max_tokens, &at, errs);
    let cancel = s.cancel.as_ref().and_then(|c| resolve_cancel(errs, &at("cancel"), c));
    let weight = match s.weight {
        Some(w) if w > 0 => {
            count(errs, &at("weight"), Some(w), 1, limits::MAX_WEIGHT).map_or(1, |w| w as u32)
        }
        None => 1,
        Some(w) => {
            // nexus-loadtest counts a weight ≤ 0 as 1; its profiles must keep running.
            warns.push(format!(
                "{}: {w} is treated as 1 (nexus-loadtest's rule); remove the scenario to switch it off",
                at("weight")
            ));
            1
        }
    };
    if errs.len() > before {
        return None;
    }
    Some(ScenarioSpec {
        name: s.name.clone().unwrap_or_default(),
        weight,
        protocol: protocol?,
        target: target?,
        headers: hdrs,
        model: model?,
        system: nonempty(&s.system).map(str::to_string).or_else(|| d.system.clone()),
        max_tokens,
        stream: s.stream.unwrap_or(d.stream),
        turns,
        content,
        think_time,
        slo,
        options,
        cancel,
        retry,
        keys,
    })
}

/// The scenario's key pool: none with `--vk` (one key for all), the `--vk-file` pool (its
/// keys replace any Authorization or x-api-key header), else the scenario's `api_keys` or the
/// profile's — which may not meet a key header of the scenario's own.
fn key_pool(
    s: &RawScenario,
    path: Option<&str>,
    d: &Defaults,
    ctx: &Resolving,
    hdrs: &mut Vec<(String, String)>,
    errs: &mut Vec<String>,
) -> Option<KeyPool> {
    const KEY_HEADERS: [&str; 2] = ["authorization", "x-api-key"];
    if ctx.vk.is_some() {
        return None;
    }
    if let Some(pool) = ctx.key_file {
        hdrs.retain(|(k, _)| !KEY_HEADERS.iter().any(|h| k.eq_ignore_ascii_case(h)));
        return Some(pool.clone());
    }
    let (pool, at) = match (path, &s.api_keys) {
        (Some(p), Some(_)) => {
            let at = format!("{p}.api_keys");
            (super::keys::resolve(errs, &at, s.api_keys.as_deref(), s.key_pick.as_deref()), at)
        }
        (Some(p), None) if s.key_pick.is_some() => {
            errs.push(format!("{p}.key_pick: set without {p}.api_keys"));
            (None, String::new())
        }
        _ => (d.keys.clone(), "api_keys".to_string()),
    };
    if let Some((name, _)) = hdrs.iter().find(|(k, _)| KEY_HEADERS.iter().any(|h| k.eq_ignore_ascii_case(h)))
    {
        if pool.is_some() {
            errs.push(format!(
                "{at}: the scenario also sends its own {name:?} header (headers or --header); a pool key \
                 replaces it on every request, so remove one"
            ));
        }
    }
    pool
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// The protocol called exactly `name`; an unknown name is an error naming `path`, with the
/// closest known name suggested.
pub(super) fn protocol_named(errs: &mut Vec<String>, path: &str, name: &str) -> Option<ProtocolKind> {
    let found = ProtocolKind::ALL.into_iter().find(|k| k.name() == name);
    if found.is_none() {
        errs.push(not_one_of(path, name, &ProtocolKind::ALL.map(ProtocolKind::name)));
    }
    found
}

/// True for an absolute `http://` or `https://` URL with a host.
pub(super) fn is_http_url(text: &str) -> bool {
    let Ok(uri) = text.parse::<http::Uri>() else { return false };
    matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some_and(|h| !h.is_empty())
}

fn check_target(errs: &mut Vec<String>, path: &str, target: &str) -> bool {
    let ok = is_http_url(target);
    if !ok {
        errs.push(format!(
            "{path}: {target:?} is not an http(s) URL (e.g. \"http://localhost:8080/v1/chat/completions\")"
        ));
    }
    ok
}

/// Checks a header name and value; the error says which is wrong.
pub(super) fn check_header(name: &str, value: &str) -> Result<(), String> {
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(format!("{name:?} is not a valid header name"));
    }
    if ["content-length", "transfer-encoding"].iter().any(|h| name.eq_ignore_ascii_case(h)) {
        return Err(format!("{name:?} is set by llmload from the body; remove it"));
    }
    if http::HeaderValue::from_str(value).is_err() {
        return Err(format!("the value of {name:?} has characters not allowed in a header"));
    }
    Ok(())
}

fn headers(
    errs: &mut Vec<String>,
    path: &str,
    map: Option<&BTreeMap<String, Value>>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in map.into_iter().flatten() {
        if k == "_comment" {
            continue;
        }
        let mut p = path.to_string();
        push_key(&mut p, k);
        let Value::String(v) = v else {
            errs.push(format!("{p}: expected a string value"));
            continue;
        };
        match check_header(k, v) {
            Ok(()) => set_header(&mut out, k, v),
            Err(e) => errs.push(format!("{p}: {e}")),
        }
    }
    out
}

/// Sets a header, replacing one of the same name (any case) in place.
pub(super) fn set_header(list: &mut Vec<(String, String)>, name: &str, value: &str) {
    match list.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
        Some(slot) => *slot = (name.to_string(), value.to_string()),
        None => list.push((name.to_string(), value.to_string())),
    }
}

/// `max_tokens`: 0 or absent inherits (`None`); negative is an error.
fn max_tokens(errs: &mut Vec<String>, path: &str, v: Option<i64>) -> Option<u32> {
    match v {
        None | Some(0) => None,
        v => count(errs, path, v, 1, limits::MAX_OUTPUT_TOKENS.into()).map(|n| n as u32),
    }
}

fn turns(errs: &mut Vec<String>, path: &str, t: Option<&RawTurns>) -> (u32, u32) {
    let at_least_one = |errs: &mut Vec<String>, p: &str, v: i64| -> u32 {
        if v < 1 {
            errs.push(format!("{p}: {v} is not allowed (a conversation has at least 1 turn)"));
            1
        } else if v > i64::from(limits::MAX_TURNS) {
            errs.push(format!("{p}: {v} is above the limit {}", limits::MAX_TURNS));
            1
        } else {
            v as u32
        }
    };
    match t {
        None => (1, 1),
        Some(RawTurns::Fixed(n)) => {
            let n = at_least_one(errs, path, *n);
            (n, n)
        }
        Some(RawTurns::Range(r)) => {
            let min = at_least_one(errs, &format!("{path}.min"), r.min.unwrap_or(1));
            let max = at_least_one(errs, &format!("{path}.max"), r.max.unwrap_or(i64::from(min)));
            if min > max {
                errs.push(format!("{path}: min {min} > max {max}"));
            }
            (min, max)
        }
    }
}

fn content(
    errs: &mut Vec<String>,
    warns: &mut Vec<String>,
    path: &str,
    c: Option<&RawContent>,
    ctx: &Resolving,
    counter: Counter,
) -> Content {
    let Some(c) = c else { return Content::Pool(vec![DEFAULT_PROMPT.into()]) };
    let mode = c.mode.as_deref().filter(|m| !m.is_empty()).unwrap_or("pool");
    // A field of another mode is read by nobody: say so rather than drop it silently (a
    // warning for nexus's modes, whose profiles must keep loading; an error around datasets).
    let fields = [
        ("prompts", c.prompts.is_some(), "pool"),
        ("script", c.script.is_some(), "scripted"),
        ("approx_input_tokens", c.approx_input_tokens.is_some(), "sized"),
        ("path", c.path.is_some(), "dataset"),
        ("format", c.format.is_some(), "dataset"),
        ("order", c.order.is_some(), "dataset"),
        ("max_prompt_tokens", c.max_prompt_tokens.is_some(), "dataset"),
        ("history", c.history.is_some(), "dataset"),
    ];
    if CONTENT_MODES.contains(&mode) {
        for (field, given, owner) in fields {
            if !given || owner == mode {
                continue;
            }
            let why = format!("in mode {mode:?} (it is read in mode {owner:?})");
            if mode == "dataset" || owner == "dataset" {
                errs.push(format!("{path}.{field}: not read {why}; remove it"));
            } else {
                warns.push(format!("{path}.{field}: ignored {why}"));
            }
        }
    }
    match mode {
        "pool" => match &c.prompts {
            // A missing list is nexus's default prompt; an empty one is a mistake.
            None => Content::Pool(vec![DEFAULT_PROMPT.into()]),
            Some(p) if p.is_empty() => {
                errs.push(format!(
                    "{path}.prompts: empty (a pool scenario needs at least one prompt; leave prompts out \
                     for the default prompt)"
                ));
                Content::Pool(vec![DEFAULT_PROMPT.into()])
            }
            Some(p) => Content::Pool(p.clone()),
        },
        "scripted" => match &c.script {
            None => Content::Scripted(vec![DEFAULT_SCRIPT_LINE.into()]),
            Some(s) if s.is_empty() => {
                errs.push(format!("{path}.script: empty (a scripted scenario needs at least one line)"));
                Content::Scripted(vec![DEFAULT_SCRIPT_LINE.into()])
            }
            Some(s) => Content::Scripted(s.clone()),
        },
        "sized" => Content::Sized(match c.approx_input_tokens {
            None => DEFAULT_SIZED_TOKENS,
            Some(n) if n <= 0 => {
                errs.push(format!("{path}.approx_input_tokens: {n} must be above 0"));
                DEFAULT_SIZED_TOKENS
            }
            n => count(errs, &format!("{path}.approx_input_tokens"), n, 1, limits::MAX_INPUT_TOKENS.into())
                .map_or(DEFAULT_SIZED_TOKENS, |n| n as u32),
        }),
        "dataset" => match resolve_dataset(errs, warns, path, c, ctx, counter) {
            Some(d) => Content::Dataset(d),
            None => Content::Pool(vec![DEFAULT_PROMPT.into()]),
        },
        other => {
            errs.push(not_one_of(&format!("{path}.mode"), other, &CONTENT_MODES));
            Content::Pool(vec![DEFAULT_PROMPT.into()])
        }
    }
}

/// `mode: "dataset"`: the options checked, then the file loaded and checked (its errors and
/// what it skipped are reported at `path.path`).
fn resolve_dataset(
    errs: &mut Vec<String>,
    warns: &mut Vec<String>,
    path: &str,
    c: &RawContent,
    ctx: &Resolving,
    counter: Counter,
) -> Option<DatasetContent> {
    let before = errs.len();
    let Some(written) = c.path.as_deref().filter(|p| !p.is_empty()) else {
        errs.push(format!(
            "{path}.path: missing (mode \"dataset\" reads its prompts from a file, e.g. \"data/prompts.jsonl\")"
        ));
        return None;
    };
    let file = ctx.data_path(written);
    let format = match c.format.as_deref() {
        Some(f) => Format::parse(f).or_else(|| {
            errs.push(not_one_of(&format!("{path}.format"), f, &Format::NAMES));
            None
        }),
        None => Format::from_extension(&file).or_else(|| {
            errs.push(format!(
                "{path}.format: missing, and the name {written:?} does not tell (.jsonl, .json and .txt \
                 do); give one of {}",
                Format::NAMES.join(", ")
            ));
            None
        }),
    };
    let order = c.order.as_deref().map_or(Some(Order::default()), |o| {
        Order::parse(o).or_else(|| {
            errs.push(not_one_of(&format!("{path}.order"), o, &Order::NAMES));
            None
        })
    });
    let history = c.history.as_deref().map_or(Some(History::default()), |h| {
        History::parse(h).or_else(|| {
            errs.push(not_one_of(&format!("{path}.history"), h, &History::NAMES));
            None
        })
    });
    if c.history.is_some() && format.is_some_and(|f| f != Format::ShareGpt) {
        errs.push(format!(
            "{path}.history: only read with format \"sharegpt\" (the other formats record no replies); remove it"
        ));
    }
    let max_prompt_tokens = count(
        errs,
        &format!("{path}.max_prompt_tokens"),
        c.max_prompt_tokens,
        1,
        limits::MAX_INPUT_TOKENS.into(),
    )
    .map(|n| n as u32);
    let (Some(format), Some(order), Some(history), true) = (format, order, history, errs.len() == before)
    else {
        return None;
    };
    let limits = dataset::Limits { max_prompt_tokens, max_output_tokens: limits::MAX_OUTPUT_TOKENS };
    match Dataset::load(&file, format, limits, counter) {
        Ok(data) => {
            warns.extend(data.warnings.iter().map(|w| format!("{path}.path: {w}")));
            Some(DatasetContent { data: Arc::new(data), order, history })
        }
        Err(list) => {
            errs.extend(list.into_iter().map(|e| format!("{path}.path: {e}")));
            None
        }
    }
}

/// `cancel`: a rate in (0, 1] and where; a rate of 0 sets none.
fn resolve_cancel(errs: &mut Vec<String>, path: &str, c: &RawCancel) -> Option<ClientCancel> {
    let rate = c.rate.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&rate) {
        errs.push(format!("{path}.rate: {rate} is not a share from 0 to 1 (0.1 = one request in ten)"));
        return None;
    }
    let Some(after) = c.after.as_deref() else {
        errs.push(format!(
            "{path}.after: missing (\"first_token\", \"N events\" or a duration such as \"200ms\")"
        ));
        return None;
    };
    match CancelAfter::parse(after) {
        Ok(after) => (rate > 0.0).then_some(ClientCancel { rate, after }),
        Err(e) => {
            errs.push(format!("{path}.after: {e}"));
            None
        }
    }
}

fn resolve_slo(errs: &mut Vec<String>, path: &str, s: &RawSlo) -> Vec<Limit> {
    [("ttft_ms", s.ttft_ms), ("tpot_ms", s.tpot_ms), ("e2e_ms", s.e2e_ms)]
        .into_iter()
        .filter_map(|(name, v)| limit(errs, &format!("{path}.{name}"), name, v?, "0 = no limit"))
        .collect()
}
