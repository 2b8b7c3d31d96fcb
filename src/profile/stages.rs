//! Stages: `N:dur` closed loop (N virtual users), `@R:dur` open loop (R arrivals/s), ramps
//! `A..B:dur` / `@A..B:dur`, and trace replay (arrivals at a trace file's recorded times,
//! shown as `trace(N):dur`). Parsing and `Display` round-trip; a trace stage read back from
//! its text has no file (reports only need its label).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::limits;
use crate::units::{format_us, parse_duration};

/// The load of one stage.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Load {
    /// Closed loop: virtual users, ramping linearly from `from` to `to`.
    Closed { from: u32, to: u32 },
    /// Open loop: arrivals per second, ramping linearly from `from` to `to`.
    Open { from: f64, to: f64 },
    /// Open loop at a trace's recorded times: `records` arrivals.
    Trace { records: u64 },
}

/// One stage of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    pub load: Load,
    pub duration: Duration,
    /// The trace a `Load::Trace` stage replays (`None` when read back from a report).
    pub(crate) trace: Option<Arc<TraceStage>>,
}

/// A trace replayed as a stage, its file checked whole before any load.
#[derive(Clone, Debug)]
pub(crate) struct TraceStage {
    /// The file, resolved against the profile's directory.
    pub(crate) path: PathBuf,
    pub(crate) format: crate::data::trace::TraceFormat,
    /// Recorded offsets are multiplied by this (0.5 replays twice as fast).
    pub(crate) time_scale: f64,
    /// Replay at most this many records.
    pub(crate) limit: Option<u64>,
    /// Tokens per prefix block of a Mooncake `hash_ids` entry.
    pub(crate) block_tokens: u32,
    pub(crate) info: crate::data::trace::TraceInfo,
}

impl PartialEq for TraceStage {
    fn eq(&self, o: &TraceStage) -> bool {
        (&self.path, self.format, self.time_scale, self.limit, self.block_tokens)
            == (&o.path, o.format, o.time_scale, o.limit, o.block_tokens)
    }
}

impl TraceStage {
    /// The replay offset of a record recorded `offset_us` after the trace's first.
    pub(crate) fn offset(&self, offset_us: u64) -> Duration {
        Duration::from_secs_f64(offset_us as f64 * self.time_scale / 1e6)
    }

    /// The stage: every record inside it (the last one 1 ms before its end).
    pub(crate) fn stage(self) -> Stage {
        let duration = self.offset(self.info.span_us) + Duration::from_millis(1);
        Stage { load: Load::Trace { records: self.info.records }, duration, trace: Some(Arc::new(self)) }
    }
}

impl Stage {
    /// Parses one stage (the one stage grammar: `--stages`, profile strings, reports reading
    /// stages back); durations in `units::parse_duration`'s syntax (`10:1m30s`). The error
    /// quotes the text.
    pub fn parse(text: &str) -> Result<Stage, String> {
        let t = text.trim();
        let (load, dur) = t
            .rsplit_once(':')
            .ok_or_else(|| format!("stage {t:?}: expected N:DURATION (closed) or @RATE:DURATION (open)"))?;
        let at = |e: String| format!("stage {t:?}: {e}");
        let duration = parse_duration(dur).map_err(at)?;
        let load = if let Some(n) = load.strip_prefix("trace(").and_then(|n| n.strip_suffix(')')) {
            let records = n.parse::<u64>().map_err(|_| at(format!("records {n:?} is not a whole number")))?;
            Load::Trace { records }
        } else if let Some(rate) = load.strip_prefix('@') {
            let (from, to) = split_ramp(rate);
            let parse = |s: &str| {
                s.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|r| r.is_finite() && *r >= 0.0)
                    .ok_or_else(|| at(format!("rate {s:?} is not a number ≥ 0")))
            };
            Load::Open { from: parse(from)?, to: parse(to)? }
        } else {
            let (from, to) = split_ramp(load);
            // Read as u64 so a number past u32 gets the limit's message, not "not a number".
            let parse = |s: &str| match s.trim().parse::<u64>() {
                Ok(n) => limits::within(n, 0, limits::MAX_USERS.into())
                    .map(|n| n as u32)
                    .map_err(|e| at(format!("users {e}"))),
                Err(_) => Err(at(format!("users {s:?} is not a whole number"))),
            };
            Load::Closed { from: parse(from)?, to: parse(to)? }
        };
        let stage = Stage { load, duration, trace: None };
        stage.check().map_err(at)?;
        Ok(stage)
    }

    /// Checks the duration, then the load, against `limits`; the reason starts with the part
    /// (`duration …`, `users …`, `rate …`).
    pub fn check(&self) -> Result<(), String> {
        limits::STAGE.check(self.duration).map_err(|e| format!("duration {e}"))?;
        self.load.check().map_err(|e| format!("{} {e}", self.load.field()))
    }

    /// Peak users (closed) or 0.
    pub fn peak_users(&self) -> u32 {
        match self.load {
            Load::Closed { from, to } => from.max(to),
            Load::Open { .. } | Load::Trace { .. } => 0,
        }
    }

    /// The planned number of requests for open loop (area under the rate ramp, or the
    /// trace's records).
    pub fn planned_arrivals(&self) -> f64 {
        match self.load {
            Load::Open { from, to } => (from + to) / 2.0 * self.duration.as_secs_f64(),
            Load::Trace { records } => records as f64,
            Load::Closed { .. } => 0.0,
        }
    }

    /// The mean arrival rate of an open-loop stage (a ramp's end rate), else `None`.
    pub fn rate(&self) -> Option<f64> {
        match self.load {
            Load::Open { to, .. } => Some(to),
            Load::Trace { records } => Some(records as f64 / self.duration.as_secs_f64()),
            Load::Closed { .. } => None,
        }
    }

    /// True for open-loop stages (trace replay included).
    pub fn is_open(&self) -> bool {
        matches!(self.load, Load::Open { .. } | Load::Trace { .. })
    }
}

impl Load {
    /// What the load counts, as errors name it.
    pub fn field(&self) -> &'static str {
        match self {
            Load::Closed { .. } => "users",
            Load::Open { .. } => "rate",
            Load::Trace { .. } => "records",
        }
    }

    /// Checks the load against `limits`: above 0, at most `MAX_USERS` users or `MAX_RATE`
    /// arrivals/s at either end of a ramp. The reason does not name the field.
    pub fn check(&self) -> Result<(), String> {
        match *self {
            Load::Closed { from, to } if from == 0 && to == 0 => Err("must be above 0".into()),
            Load::Closed { from, to } if from.max(to) > limits::MAX_USERS => {
                Err(format!("{} is above the limit {}", from.max(to), limits::MAX_USERS))
            }
            Load::Open { from, to } if !(from.is_finite() && to.is_finite() && from >= 0.0 && to >= 0.0) => {
                Err("must be a number ≥ 0".into())
            }
            Load::Open { from, to } if from == 0.0 && to == 0.0 => Err("must be above 0".into()),
            Load::Trace { records: 0 } => Err("must be above 0".into()),
            Load::Open { from, to } if from.max(to) > limits::MAX_RATE => Err(format!(
                "{}/s is above the limit {}/s",
                limits::show_number(from.max(to)),
                limits::show_number(limits::MAX_RATE)
            )),
            _ => Ok(()),
        }
    }
}

fn split_ramp(s: &str) -> (&str, &str) {
    s.split_once("..").unwrap_or((s, s))
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dur = format_us(self.duration.as_micros() as f64);
        match self.load {
            Load::Closed { from, to } if from == to => write!(f, "{from}:{dur}"),
            Load::Closed { from, to } => write!(f, "{from}..{to}:{dur}"),
            Load::Open { from, to } if from == to => write!(f, "@{from}:{dur}"),
            Load::Open { from, to } => write!(f, "@{from}..{to}:{dur}"),
            Load::Trace { records } => write!(f, "trace({records}):{dur}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_back() {
        for s in ["100:60s", "@2000:1m", "10..50:30s", "@100..500:2m", "@0.5:10s", "trace(250):1m30s"] {
            let st = Stage::parse(s).unwrap();
            assert_eq!(Stage::parse(&st.to_string()).unwrap(), st, "{s}");
        }
        assert_eq!(Stage::parse("@2000:60s").unwrap().load, Load::Open { from: 2000.0, to: 2000.0 });
        assert_eq!(Stage::parse("5:1s").unwrap().duration, Duration::from_secs(1));
        assert_eq!(Stage::parse("@100..300:10s").unwrap().planned_arrivals(), 2000.0);
    }

    #[test]
    fn errors_quote_the_stage() {
        for bad in [
            "100",
            "x:5s",
            "@y:5s",
            "10:5",
            "10:0s",
            "0:5s",
            "@0:5s",
            "@-1:5s",
            "5:0.5ms",
            "@1e9:1s",
            "2000000:1s",
            "trace(x):5s",
            "trace(0):5s",
        ] {
            let e = Stage::parse(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
    }
}
