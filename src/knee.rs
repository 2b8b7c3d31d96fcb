//! Knee finding: the highest open-loop rate a server sustains within its SLOs.
//!
//! Probes are open-loop stages (`@R`), each judged on its steady window. The rate grows by a
//! factor until a probe fails (an SLO broken, the served rate short of the offered one,
//! arrivals dropped), then the interval between the last pass and the first failure is bisected until
//! it is narrower than the precision. A probe where llmload itself ran out of something
//! (send lag, CPU, ports, fds: `health::generator_limits`) ends the search: that limit is
//! the generator's and is never reported as the server's knee. Pure logic, no clock.

use std::fmt;

use crate::engine::StageResult;
use crate::metrics::{Limit, Measure};

/// The served rate (requests finished inside the window, per second) must reach this share
/// of the offered rate for a probe to pass: a server that queues what it cannot serve
/// falls short here even when every request it finishes is fast and successful.
pub(crate) const SERVED_SHARE: f64 = 0.95;

/// Parses `ttft_p99=800ms,e2e_p99=5s,error_rate=1%`: [`Limit`]s on a stage (see
/// `metrics::limit` for the names).
pub(crate) fn parse_slos(text: &str) -> Result<Vec<Limit>, String> {
    let mut out: Vec<Limit> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let slo = Limit::parse(part).map_err(|e| format!("--slo {e}"))?;
        if let Measure::Request(_) = slo.measure {
            return Err(format!(
                "--slo {}: a probe is judged on a percentile, e.g. {}_p99",
                slo.name, slo.name
            ));
        }
        if out.iter().any(|s| s.name == slo.name) {
            return Err(format!("--slo {}: given twice", slo.name));
        }
        out.push(slo);
    }
    if out.is_empty() {
        return Err("--slo: no objective given".into());
    }
    Ok(out)
}

/// How a probe went.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Verdict {
    Pass,
    /// The server missed: the reasons.
    Fail(Vec<String>),
    /// llmload itself was the limit: the findings.
    GeneratorLimited(Vec<String>),
}

/// Requests per second that finished inside the probe's window (what the server did).
pub(crate) fn served_rate(stage: &StageResult) -> f64 {
    crate::units::per_second(stage.all.served, stage.steady.as_secs_f64())
}

/// Requests per second offered in the probe's window: arrivals (sent or dropped) and the
/// follow-up turns of multi-turn conversations.
pub(crate) fn offered_rate(stage: &StageResult) -> f64 {
    crate::units::per_second(stage.all.requests + stage.all.dropped, stage.steady.as_secs_f64())
}

/// Judges one probe.
pub(crate) fn judge(stage: &StageResult, slos: &[Limit], generator_limits: Vec<String>) -> Verdict {
    if !generator_limits.is_empty() {
        return Verdict::GeneratorLimited(generator_limits);
    }
    let mut reasons = Vec::new();
    let all = &stage.all;
    let (served, offered) = (served_rate(stage), offered_rate(stage));
    if served < SERVED_SHARE * offered {
        reasons.push(format!("served {served:.1}/s of {offered:.1}/s offered"));
    }
    if all.dropped > 0 {
        reasons.push(format!("{} arrivals dropped at the in-flight limit", all.dropped));
    }
    for slo in slos {
        match slo.value(all, stage.steady.as_secs_f64()) {
            Some(v) if !slo.holds(v) => {
                let cmp = if slo.measure.larger_is_worse() { ">" } else { "<" };
                reasons.push(format!("{} {} {cmp} {}", slo.name, slo.show(v), slo.show(slo.bound)))
            }
            Some(_) => {}
            None if matches!(slo.measure, Measure::Percentile(..)) && all.ok == 0 => {
                reasons.push(format!("{}: no successful request", slo.name))
            }
            None => {}
        }
    }
    if reasons.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail(reasons)
    }
}

/// Where the search ended.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Outcome {
    /// The highest passing rate, and the lowest failing one above it.
    Knee { rate: f64, first_fail: f64 },
    /// Every probe up to the maximum passed.
    AboveMax { max: f64 },
    /// The first probe already failed.
    BelowStart { start: f64 },
    /// llmload could not drive the rate: the last rate the server passed at (if any).
    GeneratorLimited { at: f64, last_pass: Option<f64> },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Knee { rate, first_fail } => {
                write!(f, "knee at {rate}/s (passes at {rate}/s, fails at {first_fail}/s): the limit is the server's")
            }
            Outcome::AboveMax { max } => write!(f, "no knee up to --max-rate {max}/s: every probe passed"),
            Outcome::BelowStart { start } => {
                write!(f, "knee below --start-rate {start}/s: the first probe already failed")
            }
            Outcome::GeneratorLimited { at, last_pass } => {
                write!(
                    f,
                    "llmload itself could not drive {at}/s (generator-bound): no server knee is reported"
                )?;
                if let Some(p) = last_pass {
                    write!(f, "; the server passed at {p}/s, so its knee is at least that")?;
                }
                Ok(())
            }
        }
    }
}

/// The search state: exponential growth, then bisection.
#[derive(Clone, Debug)]
pub(crate) struct Search {
    growth: f64,
    precision: f64,
    max: f64,
    start: f64,
    next: Option<f64>,
    pass: Option<f64>,
    fail: Option<f64>,
    outcome: Option<Outcome>,
}

/// Rates are kept to 3 significant digits so stage names stay readable.
fn round3(r: f64) -> f64 {
    if r <= 0.0 {
        return r;
    }
    let scale = 10f64.powi(2 - r.log10().floor() as i32);
    (r * scale).round() / scale
}

impl Search {
    pub(crate) fn new(start: f64, max: f64, growth: f64, precision: f64) -> Result<Search, String> {
        if !(start > 0.0 && start.is_finite()) {
            return Err("--start-rate: must be above 0".into());
        }
        if !(max >= start && max.is_finite()) {
            return Err("--max-rate: must be at least --start-rate".into());
        }
        if !(growth > 1.0 && growth.is_finite()) {
            return Err("--growth: must be above 1".into());
        }
        if !(precision > 0.0 && precision < 1.0) {
            return Err("--precision: must be between 0 and 1 (e.g. 0.05 for 5 %)".into());
        }
        Ok(Search { growth, precision, max, start, next: Some(start), pass: None, fail: None, outcome: None })
    }

    /// The rate of the next probe, or None when the search is over.
    pub(crate) fn next_rate(&self) -> Option<f64> {
        self.next
    }

    /// The result, once `next_rate` is None.
    pub(crate) fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    fn finish(&mut self, o: Outcome) {
        self.outcome = Some(o);
        self.next = None;
    }

    /// Records the verdict of the probe at `rate` (the last `next_rate`).
    pub(crate) fn record(&mut self, rate: f64, verdict: &Verdict) {
        match verdict {
            Verdict::GeneratorLimited(_) => {
                self.finish(Outcome::GeneratorLimited { at: rate, last_pass: self.pass });
                return;
            }
            Verdict::Pass => self.pass = Some(self.pass.map_or(rate, |p| p.max(rate))),
            Verdict::Fail(_) => self.fail = Some(self.fail.map_or(rate, |f| f.min(rate))),
        }
        match (self.pass, self.fail) {
            (None, Some(_)) => self.finish(Outcome::BelowStart { start: self.start }),
            (Some(p), None) => {
                if p >= self.max {
                    self.finish(Outcome::AboveMax { max: self.max });
                } else {
                    self.next = Some(round3(p * self.growth).min(self.max));
                }
            }
            (Some(p), Some(f)) => {
                let mid = round3((p + f) / 2.0);
                if (f - p) / p <= self.precision || mid <= p || mid >= f {
                    self.finish(Outcome::Knee { rate: p, first_fail: f });
                } else {
                    self.next = Some(mid);
                }
            }
            (None, None) => unreachable!("a verdict was recorded"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a search against a server that passes below `capacity`.
    fn search(capacity: f64, start: f64, max: f64) -> (Outcome, Vec<f64>) {
        let mut s = Search::new(start, max, 2.0, 0.05).unwrap();
        let mut probes = Vec::new();
        while let Some(r) = s.next_rate() {
            probes.push(r);
            assert!(probes.len() < 40, "the search ends");
            let v = if r <= capacity { Verdict::Pass } else { Verdict::Fail(vec!["slow".into()]) };
            s.record(r, &v);
        }
        (s.outcome().unwrap().clone(), probes)
    }

    #[test]
    fn finds_the_knee_within_the_precision() {
        for capacity in [15.0, 200.0, 333.0, 1234.0, 9999.0] {
            let (o, probes) = search(capacity, 10.0, 1e6);
            let Outcome::Knee { rate, first_fail } = o else { panic!("{o:?}") };
            assert!(rate <= capacity && first_fail > capacity, "{capacity}: {rate}..{first_fail}");
            assert!((capacity - rate) / capacity <= 0.05, "{capacity}: knee {rate} more than 5 % low");
            assert!(probes.len() <= 20, "{capacity}: {} probes", probes.len());
        }
    }

    #[test]
    fn reports_the_ends_and_the_generator() {
        assert_eq!(search(5.0, 10.0, 1000.0).0, Outcome::BelowStart { start: 10.0 });
        assert_eq!(search(1e9, 10.0, 1000.0).0, Outcome::AboveMax { max: 1000.0 });
        let mut s = Search::new(10.0, 1000.0, 2.0, 0.05).unwrap();
        s.record(10.0, &Verdict::Pass);
        s.record(20.0, &Verdict::GeneratorLimited(vec!["send lag".into()]));
        assert_eq!(s.next_rate(), None);
        assert_eq!(s.outcome(), Some(&Outcome::GeneratorLimited { at: 20.0, last_pass: Some(10.0) }));
        assert!(s.outcome().unwrap().to_string().contains("generator-bound"));
    }

    #[test]
    fn a_probe_passes_on_what_was_served_not_on_what_was_sent() {
        use crate::metrics::{Counters, Stats};
        use crate::profile::stages::Stage;
        use std::time::Duration;
        let probe = |all: Stats| StageResult {
            stage: Stage::parse("@100:2s").unwrap(),
            scenarios: Vec::new(),
            all,
            wall: Duration::from_secs(2),
            steady: Duration::from_secs(1),
            interrupted: false,
            worker_cpu: Vec::new(),
            sink_dropped: 0,
            connecting_peak: Vec::new(),
        };
        // Every request sent was fine and fast, but only half finished inside the window:
        // the server queued the rest.
        let counts = |c: Counters| Stats::from(c);
        let queued =
            probe(counts(Counters { requests: 100, ok: 100, served: 50, late: 50, ..Counters::default() }));
        assert_eq!((served_rate(&queued), offered_rate(&queued)), (50.0, 100.0));
        assert!(
            matches!(judge(&queued, &[], Vec::new()), Verdict::Fail(r) if r[0].contains("served 50.0/s"))
        );
        // Follow-up turns count on both sides.
        let kept_up = probe(counts(Counters {
            requests: 160,
            ok: 160,
            served: 158,
            followups: 60,
            ..Counters::default()
        }));
        assert_eq!(judge(&kept_up, &[], Vec::new()), Verdict::Pass);
        assert!(matches!(judge(&kept_up, &[], vec!["cpu".into()]), Verdict::GeneratorLimited(_)));
    }

    #[test]
    fn slos_parse_and_reject() {
        use crate::metrics::Metric;
        let s = parse_slos("ttft_p99=800ms, e2e_p95=5s,error_rate=1%,itl_p50=20ms").unwrap();
        assert_eq!(s[0].measure, Measure::Percentile(Metric::Ttft, 0.99));
        assert_eq!(s[0].bound, 800_000.0);
        assert_eq!(s[1].measure, Measure::Percentile(Metric::Latency, 0.95));
        assert!((s[2].bound - 0.01).abs() < 1e-12);
        assert_eq!(parse_slos("error_rate=0.02").unwrap()[0].bound, 0.02);
        for (bad, needle) in [
            ("ttft_p99", "NAME=LIMIT"),
            ("ttft_p98=1s", "p98"),
            ("foo_p99=1s", "unknown metric"),
            ("ttft_p99=800", "no unit"),
            ("error_rate=150%", "not a share from 0 to 1"),
            ("error_rate=x", "not a share"),
            ("ttft_p99=0s", "must be above 0"),
            ("ttft=1s", "judged on a percentile, e.g. ttft_p99"),
            ("eror_rate=1%", "did you mean \"error_rate\""),
            ("ttft_p99=1s,ttft_p99=2s", "twice"),
            ("", "no objective"),
        ] {
            let e = parse_slos(bad).unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
        assert!(Search::new(0.0, 10.0, 2.0, 0.05).is_err());
        assert!(Search::new(10.0, 5.0, 2.0, 0.05).is_err());
        assert!(Search::new(10.0, 50.0, 1.0, 0.05).is_err());
    }
}
