//! `metrics.prom` series for what the replies held beside their text: reasoning, tool calls,
//! the prompt cache and JSON answers — one counter per figure of summary.json, so a ratio
//! is a quotient of two of them (docs/metrics.md gives the queries).

use super::promtext::Kind;
use super::summary::Figures;

/// A figure's value in a scope.
type Value = fn(&Figures) -> f64;

/// (name, kind, help, value), as `prom::SIMPLE`.
pub(super) const REPLIES: &[(&str, Kind, &str, Value)] = &[
    (
        "llmload_reasoning_requests_total",
        Kind::Counter,
        "Successful requests with reasoning (usage reasoning tokens, or reasoning events).",
        |f| f.reasoning_requests as f64,
    ),
    (
        "llmload_reasoning_tokens_total",
        Kind::Counter,
        "Reasoning tokens of successful requests (part of their completion tokens).",
        |f| f.reasoning_tokens as f64,
    ),
    (
        "llmload_reasoning_only_requests_total",
        Kind::Counter,
        "Successful requests whose answer was all reasoning: no text, no tool call.",
        |f| f.reasoning_only as f64,
    ),
    ("llmload_tool_call_requests_total", Kind::Counter, "Successful requests that called tools.", |f| {
        f.tool_call_requests as f64
    }),
    ("llmload_tool_calls_total", Kind::Counter, "Tool calls in successful requests.", |f| {
        f.tool_calls as f64
    }),
    ("llmload_tool_argument_bytes_total", Kind::Counter, "Argument bytes of those tool calls.", |f| {
        f.tool_arg_bytes as f64
    }),
    (
        "llmload_tool_arguments_invalid_total",
        Kind::Counter,
        "Tool calls whose arguments were not valid JSON once complete.",
        |f| f.tool_args_invalid as f64,
    ),
    (
        "llmload_cache_reported_requests_total",
        Kind::Counter,
        "Successful requests whose usage reported the prompt cache.",
        |f| f.cache_reported as f64,
    ),
    (
        "llmload_cache_prompt_tokens_total",
        Kind::Counter,
        "Prompt tokens of the requests that reported the prompt cache (the hit ratio's denominator).",
        |f| f.cache_prompt_tokens as f64,
    ),
    (
        "llmload_cached_prompt_tokens_total",
        Kind::Counter,
        "Prompt tokens read from the provider's cache.",
        |f| f.cached_prompt_tokens as f64,
    ),
    (
        "llmload_cache_write_tokens_total",
        Kind::Counter,
        "Prompt tokens written to the provider's cache (Anthropic cache_creation_input_tokens).",
        |f| f.cache_write_tokens as f64,
    ),
    (
        "llmload_json_checked_total",
        Kind::Counter,
        "Successful requests whose answer was checked as JSON (response_format json_object or json_schema).",
        |f| f.json_checked as f64,
    ),
    (
        "llmload_json_invalid_total",
        Kind::Counter,
        "Of the checked answers: not valid JSON (json_object: not an object).",
        |f| f.json_invalid as f64,
    ),
];
