//! Run descriptions: stages and profiles. Everything is validated before any load starts;
//! every error names the JSON path and the reason, and all errors are reported at once.
//!
//! A profile is JSON in nexus-loadtest's format, which is accepted unchanged (`defaults`,
//! object-form stages, Go durations, `correlation`, `thresholds`, weighted `scenarios` with
//! `turns` and `content` modes), plus llmload's own fields (string stages with open-loop
//! rates and ramps, `arrival`, `seed`, `max_inflight`, `connections`, `grace`, per-scenario
//! `think_time` and `slo`, more thresholds). The pipeline is
//! text → [`schema::RawProfile`] (`suggest::decode`) → [`Overrides`] (`overrides`) →
//! [`Profile`] (`resolve`, `scenario`, then `checks` across fields). Every value is checked
//! against [`limits`]. Where nexus-loadtest's rules coerce a value (a weight ≤ 0 counts as 1,
//! `scenarios: []` makes one scenario from `defaults`) the profile still loads, with a
//! warning in [`Profile::warnings`]; other rewrites are errors.

pub(crate) mod apportion;
mod checks;
pub(crate) mod implicit;
pub(crate) mod keys;
pub(crate) mod limits;
mod options;
mod overrides;
mod resolve;
pub(crate) mod retry;
mod scenario;
pub(crate) mod schema;
pub(crate) mod stages;
mod suggest;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_dataset;
#[cfg(test)]
mod tests_limits;
#[cfg(test)]
mod tests_nexus;
#[cfg(test)]
mod tests_overrides;
#[cfg(test)]
mod tests_trace;
#[cfg(test)]
mod tests_warnings;
mod trace_stage;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use implicit::Implicit;
pub(crate) use overrides::{apply, Overrides, TraceFlags};
pub(crate) use schema::RawProfile;
use stages::Stage;

use crate::data::dataset::{Dataset, History, Order};
use crate::http::cancel::ClientCancel;
use crate::metrics::Limit;
use crate::protocol::ProtocolKind;

/// What the command line adds on top of the raw profile while resolving.
#[derive(Clone, Copy)]
struct Resolving<'a> {
    /// How stage errors are labelled: `stages`, or `--stages` when overridden.
    stages_path: &'a str,
    /// How warmup errors are labelled: `warmup`, or `--warmup` when overridden.
    warmup_path: &'a str,
    /// `--vk`: bearer key for every scenario (and `x-api-key` for anthropic ones).
    vk: Option<&'a str>,
    /// `--vk-file`: the key pool of every scenario.
    key_file: Option<&'a keys::KeyPool>,
    /// `--header`, applied to every scenario after the key.
    headers: &'a [(String, String)],
    /// The directory relative data paths are read from (empty: the working directory).
    base_dir: &'a Path,
    /// `--tokenizer`, which replaces the profile's (datasets are counted with it).
    tokenizer: Option<crate::tokens::Tokenizer>,
}

impl Resolving<'_> {
    /// A data path as written in the profile, made relative to the profile's directory.
    fn data_path(&self, written: &str) -> std::path::PathBuf {
        self.base_dir.join(written)
    }
}

/// The pool prompt when a pool scenario lists none (nexus's default).
pub(crate) const DEFAULT_PROMPT: &str = "In one short sentence, explain a randomly chosen idea.";
/// The script line when a scripted scenario gives no `script` (nexus's default).
pub(crate) const DEFAULT_SCRIPT_LINE: &str = "continue";
/// Tokens of each tool result without `tool_result_tokens`: a short tool output.
pub(crate) const DEFAULT_TOOL_RESULT_TOKENS: u32 = 64;

/// Input size of a sized scenario without `approx_input_tokens` (nexus's default).
pub(crate) const DEFAULT_SIZED_TOKENS: u32 = 256;

/// A validated profile with every default applied.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Profile {
    pub stages: Vec<Stage>,
    /// Requests starting within this time of each stage's start are not measured.
    pub warmup: Duration,
    pub cache_mode: CacheMode,
    /// Length of the common prefix with `CacheMode::SharedPrefix`.
    pub shared_prefix_tokens: u32,
    pub correlation: Correlation,
    /// Pass/fail limits checked per stage (a 0 in the profile sets none), in a fixed order.
    pub thresholds: Vec<Limit>,
    pub scenarios: Vec<ScenarioSpec>,
    pub disable_keepalive: bool,
    pub insecure_skip_verify: bool,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Pause between the turns of a conversation (a scenario may override it).
    pub think_time: Duration,
    /// Keep the start of non-2xx bodies in per-request records.
    pub capture_error_body: bool,
    /// How open-loop arrivals are spaced; `None` = not set (`Arrival::default()`).
    pub arrival: Option<Arrival>,
    pub seed: Option<u64>,
    pub max_inflight: Option<usize>,
    pub connections: Option<usize>,
    /// How long in-flight requests may finish after the last stage.
    pub grace: Option<Duration>,
    /// What closed-loop users hold, how connections are reused, the affinity header.
    pub sessions: Sessions,
    /// Builds sized prompts of an exact length and counts every request's tokens client-side
    /// (`None`: the chars / 4 estimate sizes prompts, nothing is counted).
    pub tokenizer: Option<crate::tokens::Tokenizer>,
    /// The top-level `_comment`, when it is text (an array of strings is joined by lines).
    pub comment: Option<String>,
    /// What was accepted but may not do what the author meant (`path: what happens`), in
    /// profile order; printed as `llmload: warning: …` before any load.
    pub warnings: Vec<String>,
}

/// How prompts are kept from hitting a cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CacheMode {
    /// A per-conversation UUID at the front of the first user message (nexus's default).
    Bust,
    /// All conversations share a prefix of `shared_prefix_tokens`, then differ.
    SharedPrefix,
    /// Prompts are sent as written.
    Natural,
}

impl CacheMode {
    /// The names as written in profiles.
    pub(crate) const NAMES: [&'static str; 3] = ["bust", "shared-prefix", "natural"];

    /// Parses a profile name.
    pub(crate) fn parse(name: &str) -> Option<CacheMode> {
        match name {
            "bust" => Some(CacheMode::Bust),
            "shared-prefix" => Some(CacheMode::SharedPrefix),
            "natural" => Some(CacheMode::Natural),
            _ => None,
        }
    }

    /// The profile name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CacheMode::Bust => "bust",
            CacheMode::SharedPrefix => "shared-prefix",
            CacheMode::Natural => "natural",
        }
    }
}

/// How open-loop arrivals are spaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Arrival {
    /// Evenly spaced along the rate ramp (the default).
    #[default]
    Constant,
    /// A Poisson process with the ramp's rate.
    Poisson,
}

impl Arrival {
    /// The names as written in profiles and `--arrival`.
    pub(crate) const NAMES: [&'static str; 2] = ["constant", "poisson"];

    /// Parses a profile name.
    pub(crate) fn parse(name: &str) -> Option<Arrival> {
        match name {
            "constant" => Some(Arrival::Constant),
            "poisson" => Some(Arrival::Poisson),
            _ => None,
        }
    }

    /// The profile name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Arrival::Constant => "constant",
            Arrival::Poisson => "poisson",
        }
    }
}

/// What a closed loop's N counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Concurrency {
    /// N conversations: a user holds its seat through think time, as a chat user does.
    #[default]
    Sessions,
    /// N requests in flight: a user whose conversation thinks sends another one's turn.
    Requests,
}

/// How conversations use connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Reuse {
    /// A user's (closed loop) or the worker's (open loop) connections serve every
    /// conversation.
    #[default]
    Shared,
    /// Each conversation opens its own connection, keeps it through think time and closes
    /// it at its end.
    PerConversation,
}

/// Session behaviour of a profile.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(crate) struct Sessions {
    pub concurrency: Concurrency,
    pub connection: Reuse,
    /// Sent on every turn with the conversation's id (e.g. `x-session-id`).
    pub header: Option<String>,
}

impl Concurrency {
    pub(crate) const NAMES: [&'static str; 2] = ["sessions", "requests"];

    pub(crate) fn parse(name: &str) -> Option<Concurrency> {
        match name {
            "sessions" => Some(Concurrency::Sessions),
            "requests" => Some(Concurrency::Requests),
            _ => None,
        }
    }
}

impl Reuse {
    pub(crate) const NAMES: [&'static str; 2] = ["shared", "per-conversation"];

    pub(crate) fn parse(name: &str) -> Option<Reuse> {
        match name {
            "shared" => Some(Reuse::Shared),
            "per-conversation" => Some(Reuse::PerConversation),
            _ => None,
        }
    }
}

/// Per-conversation correlation id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Correlation {
    /// Put the id in the prompt (only with `CacheMode::Bust`).
    pub uuid_in_prompt: bool,
    /// Send the id in this header on every turn; `None` when set to `""`.
    pub header: Option<String>,
}

/// One weighted scenario, with the defaults merged in.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ScenarioSpec {
    pub name: String,
    /// Share of the virtual users (closed loop) or arrivals (open loop); at least 1.
    pub weight: u32,
    pub protocol: ProtocolKind,
    /// Full URL including the path.
    pub target: String,
    /// Defaults, then the scenario's own, then `--vk` and `--header`; names are unique
    /// ignoring case (a later one replaces an earlier one in place).
    pub headers: Vec<(String, String)>,
    pub model: String,
    pub system: Option<String>,
    pub max_tokens: u32,
    pub stream: bool,
    /// Turns per conversation `(min, max)`, drawn uniformly per conversation.
    pub turns: (u32, u32),
    pub content: Content,
    pub think_time: Duration,
    /// Per-request goodput limits (`ttft_ms`, `tpot_ms`, `e2e_ms`); empty = none.
    pub slo: Vec<Limit>,
    /// Tools, reasoning and output options sent with every request.
    pub options: RequestOptions,
    /// The share of requests abandoned by the client, and where (`cancel`).
    pub cancel: Option<ClientCancel>,
    /// Which responses are sent again (`retry`, `--retry`); None: none.
    pub retry: Option<retry::RetryPolicy>,
    /// The keys its requests take in turn (`api_keys`, `--vk-file`); None: the headers' key.
    pub keys: Option<keys::KeyPool>,
}

impl ScenarioSpec {
    /// The value of a header, ignoring the case of the name.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What a scenario's requests ask for besides the conversation (`options`).
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct RequestOptions {
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    /// Tokens of each tool result sent after a reply that called tools (`None`: the default,
    /// `DEFAULT_TOOL_RESULT_TOKENS`).
    pub tool_result_tokens: Option<u32>,
    pub reasoning_effort: Option<String>,
    pub thinking_budget: Option<u32>,
    pub response_format: Option<serde_json::Value>,
    pub extra_body: Vec<(String, serde_json::Value)>,
}

/// A tool a model may call.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// A JSON Schema object.
    pub parameters: serde_json::Value,
}

/// Whether and which tools the model must call.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ToolChoice {
    Auto,
    None,
    Required,
    Named(String),
}

/// Where a scenario's user messages come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Content {
    /// A random prompt per turn.
    Pool(Vec<String>),
    /// Turn `i` sends `script[i % len]`.
    Scripted(Vec<String>),
    /// Generated filler of about this many input tokens.
    Sized(u32),
    /// Entries of a dataset file, each replayed as one conversation.
    Dataset(DatasetContent),
}

/// `content.mode: "dataset"`: the loaded file and how it is replayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DatasetContent {
    /// Compared by file, format and filter, not by contents.
    pub data: Arc<Dataset>,
    pub order: Order,
    pub history: History,
}

/// Reads, parses and validates a profile file.
pub(crate) fn load(path: &Path) -> Result<Profile, Vec<String>> {
    load_with(path, &Overrides::default())
}

/// Reads a profile file, applies command-line overrides, then validates.
pub(crate) fn load_with(path: &Path, overrides: &Overrides) -> Result<Profile, Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("cannot read the profile: {e}")])?;
    let mut overrides = overrides.clone();
    overrides.base_dir = overrides.base_dir.or_else(|| path.parent().map(Path::to_path_buf));
    apply(parse_raw(&text)?, &overrides)
}

/// Parses and validates profile text.
pub(crate) fn from_json(text: &str) -> Result<Profile, Vec<String>> {
    apply(parse_raw(text)?, &Overrides::default())
}

/// Parses profile text into the raw schema (shape errors only, no validation), for callers
/// that apply `Overrides` themselves.
pub(crate) fn parse_raw(text: &str) -> Result<RawProfile, Vec<String>> {
    suggest::decode(text)
}
