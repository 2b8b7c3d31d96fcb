//! Stages: `N:dur` closed loop (N virtual users), `@R:dur` open loop (R arrivals/s), and
//! ramps `A..B:dur` / `@A..B:dur`. Parsing and `Display` round-trip.

use std::fmt;
use std::time::Duration;

use crate::units::{format_us, parse_duration};

/// The load of one stage.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Load {
    /// Closed loop: virtual users, ramping linearly from `from` to `to`.
    Closed { from: u32, to: u32 },
    /// Open loop: arrivals per second, ramping linearly from `from` to `to`.
    Open { from: f64, to: f64 },
}

/// One stage of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stage {
    pub load: Load,
    pub duration: Duration,
}

impl Stage {
    /// Parses one stage; the error quotes the text.
    pub fn parse(text: &str) -> Result<Stage, String> {
        let t = text.trim();
        let (load, dur) = t
            .rsplit_once(':')
            .ok_or_else(|| format!("stage {t:?}: expected N:DURATION (closed) or @RATE:DURATION (open)"))?;
        let duration = parse_duration(dur).map_err(|e| format!("stage {t:?}: {e}"))?;
        if duration.is_zero() {
            return Err(format!("stage {t:?}: duration must be above 0"));
        }
        let load = if let Some(rate) = load.strip_prefix('@') {
            let (from, to) = split_ramp(rate);
            let parse = |s: &str| {
                s.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|r| r.is_finite() && *r >= 0.0)
                    .ok_or_else(|| format!("stage {t:?}: rate {s:?} is not a number ≥ 0"))
            };
            let (from, to) = (parse(from)?, parse(to)?);
            if from == 0.0 && to == 0.0 {
                return Err(format!("stage {t:?}: rate must be above 0"));
            }
            Load::Open { from, to }
        } else {
            let (from, to) = split_ramp(load);
            let parse = |s: &str| {
                s.trim().parse::<u32>().map_err(|_| format!("stage {t:?}: users {s:?} is not a whole number"))
            };
            let (from, to) = (parse(from)?, parse(to)?);
            if from == 0 && to == 0 {
                return Err(format!("stage {t:?}: users must be above 0"));
            }
            Load::Closed { from, to }
        };
        Ok(Stage { load, duration })
    }

    /// Parses a comma-separated list.
    pub fn parse_list(text: &str) -> Result<Vec<Stage>, String> {
        let stages: Vec<Stage> =
            text.split(',').filter(|s| !s.trim().is_empty()).map(Stage::parse).collect::<Result<_, _>>()?;
        if stages.is_empty() {
            return Err("stages: none given".into());
        }
        Ok(stages)
    }

    /// Peak users (closed) or 0.
    pub fn peak_users(&self) -> u32 {
        match self.load {
            Load::Closed { from, to } => from.max(to),
            Load::Open { .. } => 0,
        }
    }

    /// The planned number of requests for open loop (area under the rate ramp).
    pub fn planned_arrivals(&self) -> f64 {
        match self.load {
            Load::Open { from, to } => (from + to) / 2.0 * self.duration.as_secs_f64(),
            Load::Closed { .. } => 0.0,
        }
    }

    /// True for open-loop stages.
    pub fn is_open(&self) -> bool {
        matches!(self.load, Load::Open { .. })
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_back() {
        for s in ["100:60s", "@2000:1m", "10..50:30s", "@100..500:2m", "@0.5:10s"] {
            let st = Stage::parse(s).unwrap();
            assert_eq!(Stage::parse(&st.to_string()).unwrap(), st, "{s}");
        }
        assert_eq!(Stage::parse("@2000:60s").unwrap().load, Load::Open { from: 2000.0, to: 2000.0 });
        assert_eq!(Stage::parse("5:1s").unwrap().duration, Duration::from_secs(1));
        assert_eq!(Stage::parse_list("1:1s, @5:2s").unwrap().len(), 2);
        assert_eq!(Stage::parse("@100..300:10s").unwrap().planned_arrivals(), 2000.0);
    }

    #[test]
    fn errors_quote_the_stage() {
        for bad in ["100", "x:5s", "@y:5s", "10:5", "10:0s", "0:5s", "@0:5s", "@-1:5s"] {
            let e = Stage::parse(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
        assert!(Stage::parse_list(" , ").is_err());
    }
}
