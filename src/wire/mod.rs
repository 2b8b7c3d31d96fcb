//! HTTP/1.1 and SSE wire code shared by the load generator and the mock. Everything here takes
//! `&[u8]` and knows no runtime, so it can be tested at every byte split and fuzzed.

pub mod api_error;
pub mod chunked;
pub mod encode;
pub mod head;
pub mod sse;
