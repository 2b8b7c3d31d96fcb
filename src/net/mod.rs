//! Sockets and threads shared by the load generator and the mock: one pinned monoio runtime
//! per core, listener and client socket options, and process limits.

pub mod cores;
pub mod latch;
pub mod limits;
pub mod socket;
pub mod timer;
pub mod tls;
