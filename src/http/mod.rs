//! The HTTP/1.1 client: targets resolved once, keep-alive connections, and one timed
//! exchange (request bytes out, status + headers, Content-Length / chunked / close-delimited
//! body, SSE events stamped with the time their bytes arrived).

pub mod conn;
pub mod exchange;
pub mod target;
