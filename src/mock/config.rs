//! Mock configuration: flags for the common knobs, `--config mock.json` for models, per-model
//! timing and fault rules. A bad config is rejected at start, naming the field path.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::capacity::Capacity;
use super::dist::{Dist, Unit};
use super::faults::FaultPlan;
use crate::tokens::Tokenizer;
use crate::units::parse_duration;

/// The configuration as written (JSON), before validation.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MockConfig {
    /// Free text, ignored.
    #[serde(default, rename = "_comment", skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Listen address; port 0 picks a free port.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Seed for every random draw (timing, lengths, fault rates).
    #[serde(default)]
    pub seed: u64,
    /// Required key (`Authorization: Bearer K` or `x-api-key: K`); none = accept any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// Serve any model name with the first model's settings instead of 404.
    #[serde(default)]
    pub accept_any_model: bool,
    /// PEM certificate chain: serve HTTPS (with `tls_key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key for `tls_cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Largest accepted request body; larger gets 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Time allowed for a request head once its first byte arrived.
    #[serde(default = "default_header_timeout")]
    pub header_timeout: String,
    /// Time allowed for a request body.
    #[serde(default = "default_body_timeout")]
    pub body_timeout: String,
    /// Keep-alive idle time before the mock closes a connection.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: String,
    /// When a non-streaming reply is sent: `stream` (after the time the stream would take),
    /// `ttft` (after the TTFT only) or `none` (at once).
    #[serde(default)]
    pub nonstream_delay: NonstreamDelay,
    /// Reply text: `filler` (deterministic words) or `echo` (the last user message, cycled).
    #[serde(default)]
    pub content: ContentMode,
    /// Most requests served at once (all cores together); POST requests beyond it get 429
    /// `rate_limit_error` at once. A server with a known capacity (limit ÷ service time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<usize>,
    /// The capacity model (`max_batch=N,step=D,…`, see `capacity`); off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<String>,
    /// `o200k_base` or `cl100k_base`: prompt tokens are the contents counted by it (plus the
    /// same per-message overhead), instead of chars / 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<String>,
    /// A prefix cache of this many blocks (off when absent); see `cache`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_cache: Option<PrefixCacheConfig>,
    /// Share (0–1) of requests offering tools, after a user turn, that answer with tool calls;
    /// the rest answer in text. 1 (the default): all of them.
    #[serde(default = "one_f64")]
    pub tool_call_rate: f64,
    /// Request and token windows (`rpm=N,tpm=N[,window=60s][,per=key|model][,model=ID]`
    /// each, see `ratelimit`); beyond one the request gets 429 with the provider's headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_limit: Vec<String>,
    /// Count requests per API key on /metrics (on with any per-key rate limit).
    #[serde(default)]
    pub key_metrics: bool,
    /// Served models; the defaults are mock-gpt, mock-claude and mock-embed.
    #[serde(default = "default_models")]
    pub models: Vec<ModelConfig>,
}

/// The prefix cache's size.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PrefixCacheConfig {
    /// Blocks kept (least recently used evicted first).
    pub blocks: usize,
    /// Tokens per block (4 characters each, the estimate's unit).
    #[serde(default = "default_block_tokens")]
    pub block_tokens: u64,
}

pub(crate) fn default_block_tokens() -> u64 {
    16
}

/// When non-streaming replies go out.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum NonstreamDelay {
    /// After TTFT + the inter-token gaps, as the stream would have taken.
    #[default]
    Stream,
    /// After TTFT only.
    Ttft,
    /// At once.
    None,
}

/// Where reply text comes from.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ContentMode {
    /// Deterministic filler words.
    #[default]
    Filler,
    /// The words of the last user message, cycled.
    Echo,
}

/// One served model.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelConfig {
    /// Model id as clients send it.
    pub id: String,
    /// Time to first token (see `dist` for the syntax).
    #[serde(default = "default_ttft")]
    pub ttft: String,
    /// Inter-token latency.
    #[serde(default = "default_itl")]
    pub itl: String,
    /// Output length in tokens before the request's cap.
    #[serde(default = "default_output_tokens")]
    pub output_tokens: String,
    /// Tokens carried by each streamed content event.
    #[serde(default = "one")]
    pub tokens_per_event: u32,
    /// Embedding length when the request does not ask for `dimensions`.
    #[serde(default = "default_dims")]
    pub embedding_dimensions: u32,
    /// Reasoning tokens before each answer (a count or distribution, as `output_tokens`);
    /// none by default. Anthropic sends them only when the request enables thinking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<String>,
    /// Faults drawn per request by rate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultRule>,
}

/// A fault injected into a share of a model's requests.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultRule {
    /// Share of requests, 0–1.
    pub rate: f64,
    /// The fault, in `x-mock-fault` syntax.
    pub fault: String,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_max_body() -> usize {
    32 << 20
}
fn default_header_timeout() -> String {
    "10s".into()
}
fn default_body_timeout() -> String {
    "30s".into()
}
fn default_idle_timeout() -> String {
    "120s".into()
}
fn default_ttft() -> String {
    "lognormal:120ms,350ms".into()
}
fn default_itl() -> String {
    "normal:12ms,1500us".into()
}
fn default_output_tokens() -> String {
    "lognormal:120,400".into()
}
fn one() -> u32 {
    1
}
fn one_f64() -> f64 {
    1.0
}
fn default_dims() -> u32 {
    1536
}
fn default_models() -> Vec<ModelConfig> {
    ["mock-gpt", "mock-claude", "mock-embed"]
        .into_iter()
        .map(|id| ModelConfig {
            id: id.into(),
            ttft: default_ttft(),
            itl: default_itl(),
            output_tokens: default_output_tokens(),
            tokens_per_event: 1,
            embedding_dimensions: default_dims(),
            reasoning_tokens: None,
            faults: Vec::new(),
        })
        .collect()
}

impl Default for MockConfig {
    fn default() -> Self {
        serde_json::from_str("{}").expect("defaults deserialize")
    }
}

/// A validated model, ready to serve.
#[derive(Clone, Debug)]
pub(crate) struct Model {
    pub id: String,
    pub ttft: Dist,
    pub itl: Dist,
    pub output_tokens: Dist,
    pub tokens_per_event: u32,
    pub embedding_dimensions: u32,
    pub reasoning_tokens: Option<Dist>,
    pub faults: Vec<(f64, FaultPlan)>,
}

/// The validated configuration the server runs on.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub listen: SocketAddr,
    /// HTTPS when set.
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    pub seed: u64,
    pub api_key: Option<String>,
    pub accept_any_model: bool,
    pub max_body_bytes: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub nonstream_delay: NonstreamDelay,
    pub content: ContentMode,
    pub models: Vec<Model>,
    pub max_concurrency: Option<usize>,
    /// The batched scheduler's settings (`None`: replies are paced by the models' TTFT / ITL).
    pub capacity: Option<Capacity>,
    /// Counts prompt tokens (`None`: the chars / 4 estimate).
    pub tokenizer: Option<Tokenizer>,
    /// Prefix cache (blocks, tokens per block).
    pub prefix_cache: Option<(usize, u64)>,
    /// Share of tool-offering requests after a user turn that call tools.
    pub tool_call_rate: f64,
    pub rate_limits: Vec<super::ratelimit::RateRule>,
    pub key_metrics: bool,
}

impl MockConfig {
    /// Reads a JSON config; errors name the JSON path.
    pub(crate) fn from_json(text: &str) -> Result<MockConfig, String> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." {
                inner.to_string()
            } else {
                format!("{path}: {inner}")
            }
        })
    }

    /// The config as JSON with secrets redacted.
    pub(crate) fn to_redacted_json(&self) -> String {
        let mut shown = self.clone();
        if shown.api_key.is_some() {
            shown.api_key = Some("<redacted>".into());
        }
        serde_json::to_string_pretty(&shown).expect("config serializes")
    }

    /// Validates every field; the error names the path and the reason.
    pub(crate) fn validate(&self) -> Result<Settings, String> {
        let listen: SocketAddr = self
            .listen
            .parse()
            .map_err(|_| format!("listen: {:?} is not HOST:PORT with a numeric host", self.listen))?;
        let dur = |field: &str, v: &str| parse_duration(v).map_err(|e| format!("{field}: {e}"));
        if self.models.is_empty() {
            return Err("models: at least one model is needed".into());
        }
        if self.max_concurrency == Some(0) {
            return Err("max_concurrency: must be at least 1".into());
        }
        let tokenizer = match self.tokenizer.as_deref() {
            None => None,
            Some(name) => Some(Tokenizer::parse(name).ok_or_else(|| {
                let mut e = format!("tokenizer: {name:?} is not one of {}", Tokenizer::NAMES.join(", "));
                if let Some(s) = crate::names::did_you_mean(name, &Tokenizer::NAMES) {
                    e.push_str(&format!("; did you mean {s:?}?"));
                }
                e
            })?),
        };
        let prefix_cache = match &self.prefix_cache {
            None => None,
            Some(c) if c.blocks == 0 => return Err("prefix_cache.blocks: must be at least 1".into()),
            Some(c) if c.block_tokens == 0 || c.block_tokens > 1 << 20 => {
                return Err("prefix_cache.block_tokens: must be 1..=1048576".into())
            }
            Some(c) => Some((c.blocks, c.block_tokens)),
        };
        let capacity = match self.capacity.as_deref() {
            None => None,
            Some(spec) => Some(Capacity::parse(spec).map_err(|e| format!("capacity: {e}"))?),
        };
        if !(0.0..=1.0).contains(&self.tool_call_rate) {
            return Err(format!("tool_call_rate: {} is not between 0 and 1", self.tool_call_rate));
        }
        let rate_limits = (self.rate_limit.iter().enumerate())
            .map(|(i, r)| super::ratelimit::RateRule::parse(r).map_err(|e| format!("rate_limit[{i}]: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let mut models = Vec::with_capacity(self.models.len());
        for (i, m) in self.models.iter().enumerate() {
            let at = |field: &str| format!("models[{i}].{field}");
            if m.id.trim().is_empty() {
                return Err(format!("{}: must not be empty", at("id")));
            }
            if models.iter().any(|seen: &Model| seen.id == m.id) {
                return Err(format!("{}: {:?} is listed twice", at("id"), m.id));
            }
            if m.tokens_per_event == 0 {
                return Err(format!("{}: must be at least 1", at("tokens_per_event")));
            }
            if m.embedding_dimensions == 0 || m.embedding_dimensions > 65_536 {
                return Err(format!("{}: must be 1..=65536", at("embedding_dimensions")));
            }
            let ttft = Dist::parse(&m.ttft, Unit::Micros).map_err(|e| format!("{}: {e}", at("ttft")))?;
            let itl = Dist::parse(&m.itl, Unit::Micros).map_err(|e| format!("{}: {e}", at("itl")))?;
            if matches!(itl, Dist::Prefill { .. }) {
                return Err(format!("{}: prefill applies to ttft only", at("itl")));
            }
            let output_tokens = Dist::parse(&m.output_tokens, Unit::Count)
                .map_err(|e| format!("{}: {e}", at("output_tokens")))?;
            let reasoning_tokens = match &m.reasoning_tokens {
                None => None,
                Some(v) => Some(
                    Dist::parse(v, Unit::Count).map_err(|e| format!("{}: {e}", at("reasoning_tokens")))?,
                ),
            };
            let mut faults = Vec::new();
            for (j, rule) in m.faults.iter().enumerate() {
                if !(0.0..=1.0).contains(&rule.rate) {
                    return Err(format!(
                        "{}: {} is not between 0 and 1",
                        at(&format!("faults[{j}].rate")),
                        rule.rate
                    ));
                }
                let plan = FaultPlan::parse(&rule.fault)
                    .map_err(|e| format!("{}: {e}", at(&format!("faults[{j}].fault"))))?;
                faults.push((rule.rate, plan));
            }
            models.push(Model {
                id: m.id.clone(),
                ttft,
                itl,
                output_tokens,
                tokens_per_event: m.tokens_per_event,
                embedding_dimensions: m.embedding_dimensions,
                reasoning_tokens,
                faults,
            });
        }
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(
                crate::net::tls::server_config(cert, key).map_err(|e| format!("tls_cert/tls_key: {e}"))?,
            ),
            (None, None) => None,
            (Some(_), None) => return Err("tls_key: needed with tls_cert".into()),
            (None, Some(_)) => return Err("tls_cert: needed with tls_key".into()),
        };
        Ok(Settings {
            listen,
            tls,
            seed: self.seed,
            api_key: self.api_key.clone().filter(|k| !k.is_empty()),
            accept_any_model: self.accept_any_model,
            max_body_bytes: self.max_body_bytes,
            header_timeout: dur("header_timeout", &self.header_timeout)?,
            body_timeout: dur("body_timeout", &self.body_timeout)?,
            idle_timeout: dur("idle_timeout", &self.idle_timeout)?,
            nonstream_delay: self.nonstream_delay,
            content: self.content,
            max_concurrency: self.max_concurrency,
            capacity,
            models,
            tokenizer,
            prefix_cache,
            tool_call_rate: self.tool_call_rate,
            rate_limits,
            key_metrics: self.key_metrics,
        })
    }
}

impl Settings {
    /// The model serving `id`: an exact match, or with `accept_any_model` the first model.
    pub(crate) fn model(&self, id: &str) -> Option<&Model> {
        self.models.iter().find(|m| m.id == id).or_else(|| self.accept_any_model.then(|| &self.models[0]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        let s = MockConfig::default().validate().unwrap();
        assert_eq!(s.models.len(), 3);
        assert_eq!(s.listen.port(), 8080);
        assert!(s.model("mock-gpt").is_some());
        assert!(s.model("gpt-4o").is_none());
    }

    #[test]
    fn errors_name_the_path() {
        let e = MockConfig::from_json(r#"{"models":[{"id":"a","tokens_per_evnt":2}]}"#).unwrap_err();
        assert!(e.contains("models[0]") && e.contains("tokens_per_evnt"), "{e}");
        let c = MockConfig::from_json(r#"{"models":[{"id":"a"},{"id":"b","ttft":"gamma:1"}]}"#).unwrap();
        let e = c.validate().unwrap_err();
        assert!(e.starts_with("models[1].ttft:"), "{e}");
        let c =
            MockConfig::from_json(r#"{"models":[{"id":"a","faults":[{"rate":2,"fault":"status=500"}]}]}"#)
                .unwrap();
        assert!(c.validate().unwrap_err().starts_with("models[0].faults[0].rate"));
        let e = MockConfig::from_json(r#"{"listen": 5}"#).unwrap_err();
        assert!(e.starts_with("listen:"), "{e}");
        let c = MockConfig::from_json(r#"{"tokenizer": "o200k_bas"}"#).unwrap();
        assert_eq!(
            c.validate().unwrap_err(),
            r#"tokenizer: "o200k_bas" is not one of o200k_base, cl100k_base; did you mean "o200k_base"?"#
        );
        let c = MockConfig::from_json(r#"{"models":[{"id":"a","reasoning_tokens":"gamma:1"}]}"#).unwrap();
        assert!(c.validate().unwrap_err().starts_with("models[0].reasoning_tokens:"));
        let c = MockConfig::from_json(r#"{"prefix_cache":{"blocks":10,"block_tokens":0}}"#).unwrap();
        assert_eq!(c.validate().unwrap_err(), "prefix_cache.block_tokens: must be 1..=1048576");
        let c = MockConfig::from_json(r#"{"capacity":"max_batch=4"}"#).unwrap();
        assert!(c.validate().unwrap_err().starts_with("capacity: step: missing"));
        let c = MockConfig::from_json(r#"{"capacity":"max_batch=4,step=10ms"}"#).unwrap();
        assert_eq!(c.validate().unwrap().capacity.unwrap().max_batch, 4);
        let c = MockConfig::from_json(r#"{"tool_call_rate":1.5}"#).unwrap();
        assert_eq!(c.validate().unwrap_err(), "tool_call_rate: 1.5 is not between 0 and 1");
        assert_eq!(MockConfig::default().validate().unwrap().tool_call_rate, 1.0);
        let e = MockConfig::from_json(r#"{"prefix_cache":{"blocks":10,"size":3}}"#).unwrap_err();
        assert!(e.starts_with("prefix_cache") && e.contains("size"), "{e}");
        let c = MockConfig::from_json(r#"{"prefix_cache":{"blocks":10}}"#).unwrap();
        assert_eq!(c.validate().unwrap().prefix_cache, Some((10, 16)));
        let c = MockConfig::from_json(r#"{"tokenizer": "cl100k_base"}"#).unwrap();
        assert_eq!(c.validate().unwrap().tokenizer, Some(Tokenizer::Cl100k));
    }

    #[test]
    fn printed_config_hides_the_key() {
        let c = MockConfig { api_key: Some("sk-secret-123".into()), ..MockConfig::default() };
        let shown = c.to_redacted_json();
        assert!(!shown.contains("sk-secret-123"));
        assert!(shown.contains("<redacted>"));
    }
}
