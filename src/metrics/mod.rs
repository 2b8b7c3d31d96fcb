//! Measurements: per-request outcomes recorded into thread-local histograms and counters,
//! merged only at stage boundaries.

pub(crate) mod counters;
pub mod encode;
pub(crate) mod error_kind;
pub mod hist;
pub(crate) mod keys;
pub(crate) mod limit;
pub(crate) mod live;
pub(crate) mod outcome;
pub(crate) mod reply;
pub(crate) mod stats;
pub(crate) mod throttle;
pub(crate) mod timeline;

pub(crate) use counters::Counters;
pub(crate) use error_kind::ErrorKind;
pub(crate) use hist::Metric;
pub(crate) use limit::{Limit, Measure};
pub(crate) use outcome::{Outcome, TokenizerCounts};
pub(crate) use stats::Stats;
