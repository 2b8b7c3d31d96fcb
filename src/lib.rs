//! llmload: a load generator for LLM gateways and inference servers, and the mock LLM
//! upstream they are measured against.
//!
//! The pipeline reads top to bottom: `profile` → `workload` → `engine` → `http`/`sse` →
//! `metrics` → `report`, with the `mock` beside it. `wire` (HTTP/1.1 framing, chunked,
//! SSE, provider error shapes) and `net` (pinned runtimes, sockets, limits) are shared by
//! both halves. Only `cli` touches arguments, stdout and exit codes.

#![forbid(unsafe_code)]

pub mod cli;
pub mod engine;
pub mod http;
pub mod knee;
pub mod metrics;
pub mod mock;
pub mod names;
pub mod net;
pub mod plan;
pub mod profile;
pub mod protocol;
pub mod report;
pub mod units;
pub mod wire;
pub mod workload;
