//! HTTP/1.1 and SSE wire code shared by the load generator and the mock. Everything here takes
//! `&[u8]` and knows no runtime, so it can be tested at every byte split and fuzzed: `response`
//! and `request` parse heads (rules and typed errors in `head`), `body` decodes any framing
//! (chunked through `chunked`), `sse` scans event streams, `encode` and `api_error` write.

pub(crate) mod api_error;
pub mod body;
pub(crate) mod chunked;
pub(crate) mod encode;
pub mod head;
pub mod ratelimit;
pub mod request;
pub mod response;
pub mod sse;
#[cfg(test)]
pub(crate) mod testing;
