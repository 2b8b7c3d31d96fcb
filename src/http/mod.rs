//! The HTTP/1.1 client: targets resolved once, keep-alive connections, and one timed
//! exchange (request bytes out, the response read through the `wire` codec, SSE events
//! stamped with the time their bytes arrived, tokens settled).

pub(crate) mod cancel;
pub(crate) mod conn;
pub(crate) mod exchange;
pub(crate) mod settle;
pub(crate) mod target;
