//! Sockets and threads shared by the load generator and the mock: one pinned monoio runtime
//! per core, listener and client socket options, and process limits.

pub(crate) mod cores;
pub(crate) mod latch;
pub(crate) mod limits;
pub(crate) mod socket;
pub(crate) mod timer;
pub(crate) mod tls;
