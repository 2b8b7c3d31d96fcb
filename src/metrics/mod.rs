//! Measurements: per-request outcomes recorded into thread-local histograms and counters,
//! merged only at stage boundaries.

pub mod counters;
pub mod encode;
pub mod error_kind;
pub mod hist;
pub mod limit;
pub mod live;
pub mod outcome;
pub mod stats;
pub mod timeline;

pub use counters::Counters;
pub use error_kind::ErrorKind;
pub use hist::{HistSet, Metric};
pub use limit::{Limit, Measure};
pub use outcome::Outcome;
pub use stats::Stats;
