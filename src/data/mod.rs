//! The inputs a run reads besides its profile: prompt datasets and arrival traces, parsed
//! and checked whole before any load (errors as `file:line: …`). Read by the profile (to
//! validate) and by the workload and engine (to replay); imports neither.

pub(crate) mod dataset;
pub(crate) mod trace;
