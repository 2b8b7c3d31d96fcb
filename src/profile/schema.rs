//! The profile as written (JSON), before validation: nexus-loadtest's fields and ours.
//!
//! Every object denies unknown fields but accepts `_comment` (any JSON, ignored). Values
//! whose range or syntax needs a path-named message (durations, enums, counts) stay loosely
//! typed here (`String`, `i64`) and are checked in `resolve`, which collects every error.
//! `Option` fields are "not set"; for nexus compatibility an empty string or a zero count
//! where Go would see its zero value also means "not set" (see `resolve`).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A whole profile file.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProfile {
    /// What the profile measures; kept as `Profile::comment` when it is text.
    #[serde(rename = "_comment")]
    pub comment: Option<Value>,
    pub defaults: Option<RawDefaults>,
    pub stages: Option<RawStages>,
    pub warmup: Option<String>,
    pub cache_mode: Option<String>,
    pub shared_prefix_tokens: Option<i64>,
    pub correlation: Option<RawCorrelation>,
    pub thresholds: Option<RawThresholds>,
    pub scenarios: Option<Vec<RawScenario>>,
    /// Accepted for nexus profiles; llmload speaks HTTP/1.1 only, so it changes nothing.
    pub disable_http2: Option<bool>,
    pub disable_keepalive: Option<bool>,
    pub insecure_skip_verify: Option<bool>,
    pub timeout: Option<String>,
    pub think_time: Option<String>,
    pub capture_error_body: Option<bool>,
    pub arrival: Option<String>,
    pub seed: Option<u64>,
    pub max_inflight: Option<i64>,
    pub connections: Option<i64>,
    pub grace: Option<String>,
    /// Closed loop: what the users count, `sessions` (default) or `requests`.
    pub concurrency: Option<String>,
    /// `shared` (default) or `per-conversation` connections.
    pub connection: Option<String>,
    /// A header carrying the conversation id on every turn (session affinity).
    pub session_header: Option<String>,
    /// `o200k_base` or `cl100k_base`: exact prompt lengths and client-side token counts.
    pub tokenizer: Option<String>,
    /// Retry policy of every scenario without its own (off when absent).
    pub retry: Option<RawRetry>,
    /// A key pool for every scenario without its own: each request takes the next key.
    pub api_keys: Option<Vec<RawKey>>,
    /// `round-robin` (default) or `weighted`.
    pub key_pick: Option<String>,
}

/// `defaults`: inherited by every scenario.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDefaults {
    #[serde(rename = "_comment")]
    pub comment: Option<Value>,
    pub protocol: Option<String>,
    pub target: Option<String>,
    /// Values are checked to be strings in `resolve` (a `_comment` key is skipped).
    pub headers: Option<BTreeMap<String, Value>>,
    pub model: Option<String>,
    pub max_tokens: Option<i64>,
    pub stream: Option<bool>,
    pub system: Option<String>,
}

/// One entry of `scenarios`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScenario {
    #[serde(rename = "_comment")]
    pub comment: Option<Value>,
    pub name: Option<String>,
    pub weight: Option<i64>,
    pub protocol: Option<String>,
    pub target: Option<String>,
    pub headers: Option<BTreeMap<String, Value>>,
    pub model: Option<String>,
    pub system: Option<String>,
    pub max_tokens: Option<i64>,
    pub stream: Option<bool>,
    pub turns: Option<RawTurns>,
    pub content: Option<RawContent>,
    pub think_time: Option<String>,
    pub slo: Option<RawSlo>,
    /// Tool definitions `{name, description, parameters}`, sent in each protocol's shape.
    pub tools: Option<Vec<Value>>,
    /// `auto`, `none`, `required`, or `{"name": TOOL}`.
    pub tool_choice: Option<Value>,
    /// Tokens of each tool result a tool-result turn sends (default 64).
    pub tool_result_tokens: Option<i64>,
    /// `low`, `medium` or `high` (OpenAI chat `reasoning_effort`, Responses `reasoning.effort`).
    pub reasoning_effort: Option<String>,
    /// Anthropic extended thinking: `thinking: {type: enabled, budget_tokens: N}`.
    pub thinking_budget: Option<i64>,
    /// OpenAI `response_format` (Responses: `text.format`), passed through.
    pub response_format: Option<Value>,
    /// Fields added to every request body as written (vllm bench's `--extra-body`).
    pub extra_body: Option<serde_json::Map<String, Value>>,
    /// `{"rate": 0.1, "after": "first_token" | "200ms" | "N events"}`: requests the client
    /// abandons, as users cancel.
    pub cancel: Option<RawCancel>,
    /// The scenario's own retry policy, replacing the profile's (`max_retries: 0` turns it off).
    pub retry: Option<RawRetry>,
    /// The scenario's own key pool and how it is picked from, replacing the profile's.
    pub api_keys: Option<Vec<RawKey>>,
    pub key_pick: Option<String>,
}

/// `cancel` (ours).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCancel {
    #[serde(rename = "_comment")]
    pub comment: Option<Value>,
    pub rate: Option<f64>,
    pub after: Option<String>,
}

/// `retry`: which responses are retried, how often and how long to wait.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetry {
    #[serde(rename = "_comment")]
    pub comment: Option<Value>,
    /// Retries after the first attempt (0 = off).
    pub max_retries: Option<i64>,
    /// Statuses retried (default 429, 503, 529).
    pub on: Option<Vec<i64>>,
    /// Wait what `retry-after` asks (default true); else, or without one, back off.
    pub retry_after: Option<bool>,
    /// Longest wait (a longer `retry-after` waits this long and is counted).
    pub max_wait: Option<String>,
    /// First backoff, doubled per retry up to `max_backoff`, less up to 25 % jitter.
    pub backoff: Option<String>,
    pub max_backoff: Option<String>,
}

/// One key of `api_keys`: `"sk-…"` or `{"key": "sk-…", "weight": 3}`.
#[derive(Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub(crate) enum RawKey {
    Key(String),
    Weighted(RawWeightedKey),
}

/// The object form of a key.
#[derive(Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWeightedKey {
    pub key: String,
    pub weight: Option<i64>,
}

// Keys are secrets: a debug print shows their place, never their text.
impl fmt::Debug for RawKey {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            RawKey::Key(_) => f.write_str("RawKey(<redacted>)"),
            RawKey::Weighted(w) => write!(f, "RawKey(<redacted>, weight {:?})", w.weight),
        }
    }
}

/// `content`: where prompts come from.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawContent {
    #[serde(rename = "_comment")]
    pub comment: Option<Value>,
    pub mode: Option<String>,
    pub prompts: Option<Vec<String>>,
    pub script: Option<Vec<String>>,
    pub approx_input_tokens: Option<i64>,
    /// Mode `dataset`: the file (relative to the profile's directory), its format, the order
    /// entries are taken in, the longest first prompt kept, and what multi-turn history holds.
    pub path: Option<String>,
    pub format: Option<String>,
    pub order: Option<String>,
    pub max_prompt_tokens: Option<i64>,
    pub history: Option<String>,
}

/// `turns`: `3` or `{"min": 3, "max": 6}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub(crate) enum RawTurns {
    Fixed(i64),
    Range(RawTurnRange),
}

/// The object form of `turns`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTurnRange {
    #[serde(rename = "_comment")]
    pub comment: Option<Value>,
    pub min: Option<i64>,
    pub max: Option<i64>,
}

/// `slo` (ours): per-request goodput limits; 0 or absent = no limit.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSlo {
    #[serde(rename = "_comment")]
    pub comment: Option<Value>,
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
}

/// `correlation`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCorrelation {
    #[serde(rename = "_comment")]
    pub comment: Option<Value>,
    pub uuid_in_prompt: Option<bool>,
    pub header: Option<String>,
}

/// `thresholds`: nexus's three plus ours; 0 = disabled.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawThresholds {
    #[serde(rename = "_comment")]
    pub comment: Option<Value>,
    pub ttft_p95_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub error_rate: Option<f64>,
    pub p99_ms: Option<f64>,
    pub ttft_p99_ms: Option<f64>,
    pub itl_p95_ms: Option<f64>,
    pub min_goodput: Option<f64>,
    pub min_rps: Option<f64>,
}

/// `stages`: a list, or one comma-separated string (`"1:10s,100:60s"`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub(crate) enum RawStages {
    Text(String),
    List(Vec<RawStage>),
}

/// One stage: `"100:60s"` / `"@2000:60s"` / `"10..50:30s"`, or an object.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub(crate) enum RawStage {
    Text(String),
    Object(Box<RawStageObject>),
}

/// The object form of a stage: nexus's `{"concurrency": 20, "duration": "60s"}`, or ours
/// with `users` (closed loop) or `rate` (open loop), each a number or `{"from", "to"}`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStageObject {
    #[serde(rename = "_comment")]
    pub comment: Option<Value>,
    pub concurrency: Option<i64>,
    pub users: Option<RawSpan>,
    pub rate: Option<RawSpan>,
    pub duration: Option<String>,
    /// Trace replay (ours): the file, then its `format`, `time_scale`, `limit`, `block_tokens`.
    pub trace: Option<String>,
    pub format: Option<String>,
    pub time_scale: Option<f64>,
    pub limit: Option<i64>,
    pub block_tokens: Option<i64>,
}

/// A number, or a ramp `{"from": a, "to": b}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub(crate) enum RawSpan {
    One(f64),
    Ramp(RawRamp),
}

/// The object form of `RawSpan`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRamp {
    #[serde(rename = "_comment")]
    pub comment: Option<Value>,
    pub from: f64,
    pub to: f64,
}

impl RawProfile {
    /// The profile as JSON, unset fields left out: what a run records of a profile it built
    /// as a value (the implicit one), readable back by `profile::from_json`.
    pub(crate) fn to_json(&self) -> Value {
        fn drop_nulls(v: &mut Value) {
            match v {
                Value::Object(m) => {
                    m.retain(|_, x| !x.is_null());
                    m.values_mut().for_each(drop_nulls);
                }
                Value::Array(a) => a.iter_mut().for_each(drop_nulls),
                _ => {}
            }
        }
        let mut v = serde_json::to_value(self).unwrap_or_default();
        drop_nulls(&mut v);
        v
    }
}

// The either-forms get hand-written visitors instead of `#[serde(untagged)]`, so an error
// inside the object form keeps its path and its "unknown field" message.

impl<'de> Deserialize<'de> for RawStages {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawStages;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of stages or a string like \"10:30s,@50:60s\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RawStages, E> {
                Ok(RawStages::Text(s.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawStages, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(RawStages::List(items))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawStage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawStage;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a stage string like \"100:60s\" or an object like {\"concurrency\": 100, \"duration\": \"60s\"}")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RawStage, E> {
                Ok(RawStage::Text(s.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawStage, A::Error> {
                RawStageObject::deserialize(MapAccessDeserializer::new(map))
                    .map(|o| RawStage::Object(Box::new(o)))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawSpan {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawSpan;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or {\"from\": a, \"to\": b}")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawSpan, E> {
                Ok(RawSpan::One(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawSpan, E> {
                Ok(RawSpan::One(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawSpan, E> {
                Ok(RawSpan::One(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawSpan, A::Error> {
                RawRamp::deserialize(MapAccessDeserializer::new(map)).map(RawSpan::Ramp)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawTurns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawTurns;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a whole number or {\"min\": a, \"max\": b}")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawTurns, E> {
                Ok(RawTurns::Fixed(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawTurns, E> {
                Ok(RawTurns::Fixed(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawTurns, A::Error> {
                RawTurnRange::deserialize(MapAccessDeserializer::new(map)).map(RawTurns::Range)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key as a string, or {\"key\": \"…\", \"weight\": N}")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RawKey, E> {
                Ok(RawKey::Key(s.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawKey, A::Error> {
                RawWeightedKey::deserialize(MapAccessDeserializer::new(map)).map(RawKey::Weighted)
            }
        }
        d.deserialize_any(V)
    }
}
