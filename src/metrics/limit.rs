//! One vocabulary for limits: a [`Measure`] and the bound it must keep. Profile thresholds
//! (`ttft_p95_ms`, `error_rate`, `min_rps`), `llmload knee --slo` objectives (`ttft_p99=800ms`)
//! and a scenario's per-request goodput SLO (`ttft_ms`) are all a [`Limit`], named in one
//! grammar and parsed here; an unknown name is an error with the nearest known one, never a
//! limit that silently measures nothing.
//!
//! Names: `error_rate`, `min_goodput`, `min_rps`, `ok_requests`, and for latencies
//! `METRIC_pNN` (a percentile over a stage; `pNN` alone is end-to-end latency) or `METRIC`
//! (one request's value), where METRIC is `ttft`, `e2e` (or `latency`), `itl`, `tpot`, `ttfb`
//! and NN is `50`, `90`, `95`, `99` or `999`. A latency name ending in `_ms` takes a number
//! of milliseconds (`p95_ms: 500`); without it, a duration with a unit (`e2e_p99=5s`).

use std::time::Instant;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Metric, Outcome, Stats};
use crate::names::did_you_mean;
use crate::units::{format_us, parse_duration_us};

/// What a limit measures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Measure {
    /// A percentile (quantile `q`) of a latency metric over a stage.
    Percentile(Metric, f64),
    /// One request's latency (a scenario's goodput SLO).
    Request(Metric),
    /// Share of the stage's requests that failed or were cancelled (not by the client's `cancel`).
    ErrorRate,
    /// Share of the stage's requests that succeeded within their scenario's SLO.
    Goodput,
    /// Requests served per second of the stage's window.
    Rps,
    /// Successful requests in the stage.
    OkRequests,
}

/// The unit a limit's bound (and every value it is compared with) is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    /// Latency given as a duration (`800ms`), kept in µs.
    Micros,
    /// Latency given as a number of milliseconds (`_ms` names).
    Millis,
    /// A fraction 0–1 (`1%` on the command line).
    Share,
    PerSecond,
    Count,
}

const METRICS: [(&str, Metric); 6] = [
    ("ttft", Metric::Ttft),
    ("e2e", Metric::Latency),
    ("latency", Metric::Latency),
    ("itl", Metric::Itl),
    ("tpot", Metric::Tpot),
    ("ttfb", Metric::Ttfb),
];
const PERCENTILES: [(&str, f64); 5] = [("50", 0.5), ("90", 0.9), ("95", 0.95), ("99", 0.99), ("999", 0.999)];
const PLAIN: [(&str, Measure, Unit); 4] = [
    ("error_rate", Measure::ErrorRate, Unit::Share),
    ("min_goodput", Measure::Goodput, Unit::Share),
    ("min_rps", Measure::Rps, Unit::PerSecond),
    ("ok_requests", Measure::OkRequests, Unit::Count),
];

impl Measure {
    /// True when a larger value is worse (latencies, the error rate); false for the
    /// floors (`min_goodput`, `min_rps`, `ok_requests`).
    pub fn larger_is_worse(self) -> bool {
        matches!(self, Measure::Percentile(..) | Measure::Request(_) | Measure::ErrorRate)
    }

    /// True when the measure means the same on a part of the run (a shard of a distributed
    /// run) as on the whole: shares and percentiles, not absolute counts and rates.
    pub fn holds_per_shard(self) -> bool {
        matches!(self, Measure::Percentile(..) | Measure::ErrorRate | Measure::Goodput)
    }

    /// True for properties of a whole stage (its rate, its successes), not of a scenario.
    pub fn whole_stage_only(self) -> bool {
        matches!(self, Measure::Rps | Measure::OkRequests)
    }
}

/// One limit: a measure, named as written, and its bound.
#[derive(Clone, Debug, PartialEq)]
pub struct Limit {
    /// The name as written (`ttft_p95_ms`, `e2e_p99`, `error_rate`).
    pub name: String,
    pub measure: Measure,
    /// The bound, in the unit the name implies: ms for `_ms` names, µs for durations, a share
    /// 0–1, requests/s, a count.
    pub bound: f64,
    unit: Unit,
}

/// Every name the grammar knows, for suggestions.
fn known_names() -> Vec<String> {
    let mut out: Vec<String> = PLAIN.iter().map(|(n, ..)| n.to_string()).collect();
    for (m, _) in METRICS {
        out.push(m.to_string());
        out.push(format!("{m}_ms"));
        for (p, _) in PERCENTILES {
            out.push(format!("{m}_p{p}"));
            out.push(format!("{m}_p{p}_ms"));
        }
    }
    out.extend(PERCENTILES.iter().map(|(p, _)| format!("p{p}_ms")));
    out
}

fn suggestion(name: &str) -> String {
    let known = known_names();
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    match did_you_mean(name, &known) {
        Some(s) => format!("; did you mean {s:?}?"),
        None => String::new(),
    }
}

/// A measure from its name, and the unit its bound is written in.
fn parse_name(name: &str) -> Result<(Measure, Unit), String> {
    if let Some((_, m, u)) = PLAIN.iter().find(|(n, ..)| *n == name) {
        return Ok((*m, *u));
    }
    let (base, unit) = match name.strip_suffix("_ms") {
        Some(base) => (base, Unit::Millis),
        None => (name, Unit::Micros),
    };
    let (metric, pct) = match base.rsplit_once("_p") {
        Some((m, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (m, Some(p)),
        _ => match base.strip_prefix('p') {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => ("latency", Some(p)),
            _ => (base, None),
        },
    };
    let Some(&(_, m)) = METRICS.iter().find(|(n, _)| *n == metric) else {
        return Err(match pct {
            Some(_) => format!(
                "{name:?}: unknown metric {metric:?} (ttft, e2e, itl, tpot, ttfb){}",
                suggestion(name)
            ),
            None => format!(
                "{name:?}: unknown measure (error_rate, min_goodput, min_rps, ok_requests, or a \
                 latency: METRIC_pNN, e.g. ttft_p99){}",
                suggestion(name)
            ),
        });
    };
    match pct {
        Some(p) => match PERCENTILES.iter().find(|(n, _)| *n == p) {
            Some(&(_, q)) => Ok((Measure::Percentile(m, q), unit)),
            None => Err(format!("{name:?}: unknown percentile p{p} (p50, p90, p95, p99, p999)")),
        },
        None if m == Metric::Itl => {
            Err(format!("{name:?}: a request has many inter-token gaps; limit a percentile (itl_p95)"))
        }
        None => Ok((Measure::Request(m), unit)),
    }
}

/// Why `v` cannot bound `unit`, if it cannot.
fn check_bound(unit: Unit, v: f64) -> Result<(), &'static str> {
    match unit {
        Unit::Share if !(0.0..=1.0).contains(&v) => Err("is not a share from 0 to 1"),
        Unit::Count if !(v.is_finite() && v >= 0.0) => Err("must be 0 or above"),
        Unit::Micros | Unit::Millis | Unit::PerSecond if !(v.is_finite() && v > 0.0) => {
            Err("must be above 0")
        }
        _ => Ok(()),
    }
}

impl Limit {
    /// A limit from a name and a number in the name's unit (profiles, summary.json). Errors
    /// say why without a field name.
    pub fn from_number(name: &str, bound: f64) -> Result<Limit, String> {
        let (measure, unit) = parse_name(name)?;
        if unit == Unit::Micros {
            return Err(format!("{name:?} takes a duration; {name}_ms takes a number of milliseconds"));
        }
        check_bound(unit, bound).map_err(|why| format!("{bound} {why}"))?;
        Ok(Limit { name: name.to_string(), measure, bound, unit })
    }

    /// A limit from `NAME=VALUE` (the command line): durations with a unit for latencies
    /// (`800ms`), `1%` or `0.01` for shares, numbers otherwise.
    pub fn parse(text: &str) -> Result<Limit, String> {
        let (name, value) = text
            .split_once('=')
            .ok_or_else(|| format!("{text:?}: expected NAME=LIMIT, e.g. ttft_p99=800ms"))?;
        let (name, value) = (name.trim(), value.trim());
        let (measure, unit) = parse_name(name)?;
        let bound = match unit {
            Unit::Micros => parse_duration_us(value).map_err(|e| format!("{name}: {e}"))?,
            Unit::Share => {
                let (num, scale) = value.strip_suffix('%').map_or((value, 1.0), |n| (n, 0.01));
                let v: f64 = num
                    .trim()
                    .parse()
                    .map_err(|_| format!("{name}: {value:?} is not a share (1% or 0.01)"))?;
                v * scale
            }
            _ => value.parse().map_err(|_| format!("{name}: {value:?} is not a number"))?,
        };
        check_bound(unit, bound).map_err(|why| format!("{name}: {value:?} {why}"))?;
        Ok(Limit { name: name.to_string(), measure, bound, unit })
    }

    /// True when `v` (in this limit's unit) keeps the bound.
    pub fn holds(&self, v: f64) -> bool {
        if self.measure.larger_is_worse() {
            v <= self.bound
        } else {
            v >= self.bound
        }
    }

    /// The value on a stage's figures, in this limit's unit; None when nothing was measured
    /// (no request, an empty histogram) or the measure is a per-request one.
    pub fn value(&self, s: &Stats, steady_s: f64) -> Option<f64> {
        let share = |n: u64| (s.judged() > 0).then(|| n as f64 / s.judged() as f64);
        match self.measure {
            Measure::Percentile(m, q) => {
                let h = s.hists.get(m);
                (!h.is_empty()).then(|| self.of_us(h.value_at_quantile(q) as f64))
            }
            Measure::Request(_) => None,
            Measure::ErrorRate => share(s.ok).map(|ok| 1.0 - ok),
            Measure::Goodput => share(s.good),
            Measure::Rps => Some(crate::units::per_second(s.served, steady_s)),
            Measure::OkRequests => Some(s.ok as f64),
        }
    }

    /// One request's value of a per-request measure, in this limit's unit; None when the
    /// request has none (no token yet, one token only for TPOT) or the measure is a stage's.
    pub fn request_value(&self, o: &Outcome) -> Option<f64> {
        let Measure::Request(m) = self.measure else { return None };
        let t = |a: Instant, b: Instant| self.of_secs(b.saturating_duration_since(a).as_secs_f64());
        match m {
            Metric::Ttft => o.first_token.map(|f| t(o.intended, f)),
            Metric::Ttfb => o.first_byte.map(|f| t(o.intended, f)),
            Metric::Latency => Some(t(o.intended, o.end)),
            Metric::Tpot => match (o.first_token, o.last_token) {
                (Some(f), Some(l)) if o.completion_tokens > 1 => {
                    Some(t(f, l) / (o.completion_tokens - 1) as f64)
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// A value of this limit as text: `800ms`, `1.00%`, `20`.
    pub fn show(&self, v: f64) -> String {
        match self.unit {
            Unit::Micros => format_us(v),
            Unit::Millis => format_us(v * 1e3),
            Unit::Share => format!("{:.2}%", v * 100.0),
            Unit::PerSecond | Unit::Count => format!("{v}"),
        }
    }

    fn of_us(&self, us: f64) -> f64 {
        match self.unit {
            Unit::Millis => us / 1e3,
            _ => us,
        }
    }

    fn of_secs(&self, s: f64) -> f64 {
        match self.unit {
            Unit::Millis => s * 1e3,
            _ => s * 1e6,
        }
    }
}

/// In summary.json as `[name, bound]`.
impl Serialize for Limit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.name, self.bound).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Limit, D::Error> {
        let (name, bound) = <(String, f64)>::deserialize(d)?;
        Limit::from_number(&name, bound).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_grammar_for_every_name() {
        let m = |name: &str| parse_name(name).unwrap();
        assert_eq!(m("ttft_p95_ms"), (Measure::Percentile(Metric::Ttft, 0.95), Unit::Millis));
        assert_eq!(m("p99_ms"), (Measure::Percentile(Metric::Latency, 0.99), Unit::Millis));
        assert_eq!(m("e2e_p99"), (Measure::Percentile(Metric::Latency, 0.99), Unit::Micros));
        assert_eq!(m("latency_p999"), (Measure::Percentile(Metric::Latency, 0.999), Unit::Micros));
        assert_eq!(m("itl_p95_ms"), (Measure::Percentile(Metric::Itl, 0.95), Unit::Millis));
        assert_eq!(m("tpot_ms"), (Measure::Request(Metric::Tpot), Unit::Millis));
        assert_eq!(m("e2e_ms"), (Measure::Request(Metric::Latency), Unit::Millis));
        assert_eq!(m("error_rate"), (Measure::ErrorRate, Unit::Share));
        assert_eq!(m("min_goodput"), (Measure::Goodput, Unit::Share));
        assert_eq!(m("min_rps"), (Measure::Rps, Unit::PerSecond));
        assert_eq!(m("ok_requests"), (Measure::OkRequests, Unit::Count));
    }

    #[test]
    fn unknown_names_are_errors_with_a_suggestion() {
        let e = |name: &str| parse_name(name).unwrap_err();
        assert_eq!(e("ttft_p59_ms"), r#""ttft_p59_ms": unknown percentile p59 (p50, p90, p95, p99, p999)"#);
        assert!(
            e("tfft_p95_ms").starts_with(r#""tfft_p95_ms": unknown metric "tfft""#),
            "{}",
            e("tfft_p95_ms")
        );
        assert!(e("tfft_p95_ms").ends_with(r#"did you mean "ttft_p95_ms"?"#), "{}", e("tfft_p95_ms"));
        assert!(e("eror_rate").starts_with(r#""eror_rate": unknown measure"#));
        assert!(e("eror_rate").ends_with(r#"did you mean "error_rate"?"#));
        assert!(!e("banana").contains("did you mean"));
        assert!(e("itl_ms").contains("percentile"));
        // A summary with a measure this version does not know is refused, not judged as 0.
        let bad: Result<Limit, _> = serde_json::from_str(r#"["p95_milliseconds", 5]"#);
        assert!(bad.unwrap_err().to_string().contains("unknown measure"));
    }

    #[test]
    fn numbers_and_text_bound_in_the_names_unit() {
        let l = Limit::from_number("p95_ms", 500.0).unwrap();
        assert_eq!((l.bound, l.show(l.bound)), (500.0, "500ms".to_string()));
        assert_eq!(serde_json::to_string(&l).unwrap(), r#"["p95_ms",500.0]"#);
        assert_eq!(serde_json::from_str::<Limit>(r#"["p95_ms",500.0]"#).unwrap(), l);
        assert!(Limit::from_number("e2e_p99", 5.0).unwrap_err().contains("takes a duration"));
        assert_eq!(Limit::from_number("error_rate", 1.5).unwrap_err(), "1.5 is not a share from 0 to 1");
        assert_eq!(Limit::from_number("min_rps", -1.0).unwrap_err(), "-1 must be above 0");
        assert_eq!(Limit::parse("ttft_p99=800ms").unwrap().bound, 800_000.0);
        assert_eq!(Limit::parse("ttft_p99_ms=800").unwrap().bound, 800.0);
        assert!((Limit::parse("error_rate=1%").unwrap().bound - 0.01).abs() < 1e-12);
        assert_eq!(Limit::parse("error_rate=0.02").unwrap().bound, 0.02);
        assert_eq!(
            Limit::parse("error_rate=150%").unwrap_err(),
            r#"error_rate: "150%" is not a share from 0 to 1"#
        );
        assert_eq!(Limit::parse("ttft_p99=0s").unwrap_err(), r#"ttft_p99: "0s" must be above 0"#);
    }

    #[test]
    fn floors_and_ceilings() {
        let ceiling = Limit::from_number("error_rate", 0.1).unwrap();
        assert!(ceiling.holds(0.1) && !ceiling.holds(0.11));
        let floor = Limit::from_number("min_rps", 20.0).unwrap();
        assert!(floor.holds(20.0) && !floor.holds(19.9));
        let s = Stats::from(crate::metrics::Counters {
            requests: 4,
            ok: 3,
            failed: 1,
            good: 2,
            served: 10,
            ..Default::default()
        });
        assert_eq!(ceiling.value(&s, 5.0), Some(0.25));
        assert_eq!(floor.value(&s, 5.0), Some(2.0));
        assert_eq!(Limit::from_number("min_goodput", 0.5).unwrap().value(&s, 5.0), Some(0.5));
        assert_eq!(Limit::from_number("p95_ms", 1.0).unwrap().value(&s, 5.0), None);
        assert_eq!(ceiling.value(&Stats::default(), 5.0), None);
    }

    #[test]
    fn a_request_has_its_own_values() {
        use std::time::Duration;
        let t0 = Instant::now();
        let mut o = Outcome::new(t0);
        o.first_token = Some(t0 + Duration::from_millis(100));
        o.last_token = Some(t0 + Duration::from_millis(400));
        o.end = t0 + Duration::from_millis(500);
        o.completion_tokens = 4;
        let v = |name: &str, o: &Outcome| Limit::from_number(name, 1.0).unwrap().request_value(o);
        assert_eq!(v("ttft_ms", &o), Some(100.0));
        assert_eq!(v("e2e_ms", &o), Some(500.0));
        assert_eq!(v("tpot_ms", &o), Some(100.0));
        assert_eq!(v("p95_ms", &o), None);
        o.completion_tokens = 1;
        assert_eq!(v("tpot_ms", &o), None);
    }
}
