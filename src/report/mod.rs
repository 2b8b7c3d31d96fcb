//! Reports rendered from a run's merged results. Every writer takes `impl Write`; the engine
//! never sees an output format.

pub mod compare;
pub mod csv;
pub mod health;
pub mod jsonl;
pub mod run_dir;
pub mod summary;
pub mod text;
pub mod thresholds;
