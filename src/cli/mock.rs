//! `llmload mock`: flags → validated settings → `mock::start`.

use std::io::Write;

use clap::Args;

use super::{ExitCode, Failure};
use crate::mock::config::{ContentMode, MockConfig, NonstreamDelay};
use crate::net::cores::select_cores;

#[derive(Args, Debug)]
pub(super) struct MockArgs {
    /// Listen address (port 0 picks a free port, printed on start).
    #[arg(long)]
    listen: Option<String>,
    /// Cores to serve on: a count (0 = all) or a list like `0,2-3`.
    #[arg(long)]
    cores: Option<String>,
    /// JSON config: models, per-model timing and fault rules (see docs/mock.md).
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// Print the effective configuration as JSON and exit.
    #[arg(long)]
    print_config: bool,
    /// Seed for every random draw.
    #[arg(long)]
    seed: Option<u64>,
    /// Require this key (Authorization: Bearer or x-api-key). Also read from LLMLOAD_MOCK_API_KEY.
    #[arg(long, env = "LLMLOAD_MOCK_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(long)]
    tls_cert: Option<std::path::PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long)]
    tls_key: Option<std::path::PathBuf>,
    /// Serve unknown model names with the first model instead of 404.
    #[arg(long)]
    accept_any_model: bool,
    /// Largest request body in bytes (larger gets 413).
    #[arg(long)]
    max_body: Option<usize>,
    /// Most requests served at once (all cores); more get 429 at once: a known capacity.
    #[arg(long)]
    max_concurrency: Option<usize>,
    /// A batched scheduler's capacity, e.g. `max_batch=16,step=20ms,prefill=100us`
    /// (`step_per_seq=D`, `queue=M` too): TTFT and ITL then rise with load (docs/mock.md).
    #[arg(long, value_name = "SPEC")]
    capacity: Option<String>,
    /// Time to first token for every model, e.g. `50ms`, `lognormal:200ms,700ms`, `prefill:30ms+200us`.
    #[arg(long)]
    ttft: Option<String>,
    /// Inter-token latency for every model, e.g. `10ms`, `normal:12ms,1500us`.
    #[arg(long)]
    itl: Option<String>,
    /// Output length in tokens for every model, e.g. `64`, `uniform:16..256`.
    #[arg(long)]
    output_tokens: Option<String>,
    /// Reasoning tokens before every answer, for every model (a count or distribution).
    #[arg(long, value_name = "N")]
    reasoning_tokens: Option<String>,
    /// Tokens per streamed content event for every model.
    #[arg(long)]
    tokens_per_event: Option<u32>,
    /// When non-streaming replies are sent: stream (default), ttft or none.
    #[arg(long, value_parser = ["stream", "ttft", "none"])]
    nonstream_delay: Option<String>,
    /// Reply text: filler (default) or echo of the last user message.
    #[arg(long, value_parser = ["filler", "echo"])]
    content: Option<String>,
    /// Keep a prefix cache of this many prompt blocks and report cached tokens (off by default).
    #[arg(long, value_name = "BLOCKS")]
    prefix_cache: Option<usize>,
    /// Tokens per prefix-cache block (default 16).
    #[arg(long, value_name = "TOKENS", requires = "prefix_cache")]
    prefix_cache_block: Option<u64>,
    /// Share (0–1) of requests offering tools, after a user turn, that answer with tool calls
    /// (default 1: all); the rest answer in text.
    #[arg(long, value_name = "P")]
    tool_call_rate: Option<f64>,
    /// A request / token window per API key (or model), e.g. `rpm=60,tpm=40000`,
    /// `rpm=5,window=2s,per=model,model=mock-gpt`; beyond it 429 with the provider's
    /// rate-limit headers. Repeatable; replaces the config's rate_limit.
    #[arg(long, value_name = "LIMITS")]
    rate_limit: Vec<String>,
    /// Count requests per API key on /metrics (by the key's short hash), without limiting.
    #[arg(long)]
    key_metrics: bool,
    /// Count prompt tokens with this tokenizer (o200k_base or cl100k_base) instead of chars / 4.
    #[arg(long, value_name = "NAME")]
    tokenizer: Option<String>,
}

impl MockArgs {
    /// The config file (or defaults) with flags applied on top.
    pub(super) fn config(&self) -> Result<MockConfig, Failure> {
        let mut config = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| Failure::usage(format!("--config {}: {e}", path.display())))?;
                MockConfig::from_json(&text)
                    .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?
            }
            None => MockConfig::default(),
        };
        if let Some(v) = &self.listen {
            config.listen = v.clone();
        }
        if let Some(v) = self.seed {
            config.seed = v;
        }
        if self.api_key.is_some() {
            config.api_key = self.api_key.clone();
        }
        config.accept_any_model |= self.accept_any_model;
        if self.tls_cert.is_some() {
            config.tls_cert = self.tls_cert.clone();
        }
        if self.tls_key.is_some() {
            config.tls_key = self.tls_key.clone();
        }
        if let Some(v) = self.max_body {
            config.max_body_bytes = v;
        }
        if self.max_concurrency.is_some() {
            config.max_concurrency = self.max_concurrency;
        }
        if self.capacity.is_some() {
            config.capacity = self.capacity.clone();
        }
        if self.tokenizer.is_some() {
            config.tokenizer = self.tokenizer.clone();
        }
        if !self.rate_limit.is_empty() {
            config.rate_limit = self.rate_limit.clone();
        }
        config.key_metrics |= self.key_metrics;
        if let Some(p) = self.tool_call_rate {
            config.tool_call_rate = p;
        }
        if let Some(blocks) = self.prefix_cache {
            let block_tokens = self
                .prefix_cache_block
                .or(config.prefix_cache.as_ref().map(|c| c.block_tokens))
                .unwrap_or_else(crate::mock::config::default_block_tokens);
            config.prefix_cache = Some(crate::mock::config::PrefixCacheConfig { blocks, block_tokens });
        }
        for m in &mut config.models {
            if let Some(v) = &self.ttft {
                m.ttft = v.clone();
            }
            if let Some(v) = &self.itl {
                m.itl = v.clone();
            }
            if let Some(v) = &self.output_tokens {
                m.output_tokens = v.clone();
            }
            if self.reasoning_tokens.is_some() {
                m.reasoning_tokens = self.reasoning_tokens.clone();
            }
            if let Some(v) = self.tokens_per_event {
                m.tokens_per_event = v;
            }
        }
        if let Some(v) = &self.nonstream_delay {
            config.nonstream_delay = match v.as_str() {
                "ttft" => NonstreamDelay::Ttft,
                "none" => NonstreamDelay::None,
                _ => NonstreamDelay::Stream,
            };
        }
        if let Some(v) = &self.content {
            config.content = if v == "echo" { ContentMode::Echo } else { ContentMode::Filler };
        }
        Ok(config)
    }
}

/// Runs `llmload mock` until the process is stopped.
pub(super) fn run(args: MockArgs) -> Result<ExitCode, Failure> {
    let config = args.config()?;
    let settings = config.validate().map_err(|e| {
        let origin = args.config.as_ref().map_or("mock config".to_string(), |p| p.display().to_string());
        Failure::usage(format!("{origin}: {e}"))
    })?;
    if args.print_config {
        println!("{}", config.to_redacted_json());
        return Ok(ExitCode::Pass);
    }
    let settings_capacity = settings.capacity.clone();
    let cores = select_cores(args.cores.as_deref()).map_err(Failure::usage)?;
    let server = crate::mock::start(settings, &cores)
        .map_err(|e| Failure::runtime(format!("mock: cannot listen on {}: {e}", config.listen)))?;
    // The first stdout line is the contract scripts and tests parse.
    let mut stdout = std::io::stdout().lock();
    let scheme = if config.tls_cert.is_some() { "https" } else { "http" };
    let _ = writeln!(stdout, "llmload mock: listening on {scheme}://{}", server.addr);
    let _ = stdout.flush();
    drop(stdout);
    eprintln!(
        "llmload mock: {} core(s), driver {}, models: {}",
        cores.len(),
        server.driver,
        config.models.iter().map(|m| m.id.as_str()).collect::<Vec<_>>().join(", ")
    );
    if let Some(c) = &settings_capacity {
        eprintln!("llmload mock: capacity model {} (one batch for all cores)", c.display());
    }
    server.wait();
    Ok(ExitCode::Pass)
}
