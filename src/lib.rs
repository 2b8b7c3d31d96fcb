//! llmload: a load generator for LLM gateways and inference servers, and the mock LLM
//! upstream they are measured against.
//!
//! The pipeline reads top to bottom: `profile` → `workload` → `engine` → `http`/`sse` →
//! `metrics` → `report`, with the `mock` beside it. `wire` (HTTP/1.1 framing, chunked,
//! SSE, provider error shapes) and `net` (pinned runtimes, sockets, limits) are shared by
//! both halves. Only `cli` touches arguments, stdout and exit codes.

#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

pub mod cli;
pub(crate) mod data;
pub(crate) mod engine;
pub(crate) mod http;
pub(crate) mod knee;
pub mod metrics;
pub(crate) mod mock;
pub(crate) mod names;
pub(crate) mod net;
pub(crate) mod observe;
pub(crate) mod plan;
pub(crate) mod profile;
pub mod protocol;
pub mod report;
pub(crate) mod tokens;
pub(crate) mod units;
pub mod wire;
pub(crate) mod workload;
