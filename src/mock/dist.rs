//! Seeded distributions for the mock's timing model: TTFT, inter-token latency and output length.
//!
//! One text syntax serves flags, config files and `--print-config`:
//!
//! | spec | meaning |
//! |---|---|
//! | `50ms` or `fixed:50ms` | always 50 ms |
//! | `uniform:40ms..60ms` | uniform between the bounds |
//! | `normal:50ms,5ms` | mean, standard deviation; clamped to [0.3, 1.7] × mean |
//! | `lognormal:200ms,700ms` | median (p50) and p99; right-skewed like real TTFT |
//! | `prefill:30ms+200us` | TTFT only: 30 ms plus 200 µs per prompt token |
//!
//! Counts (output tokens) use the same forms without units: `64`, `uniform:16..128`,
//! `normal:40,20`, `lognormal:100,400`.

use std::fmt;

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::units::{format_us, parse_duration_us};

/// z-score of the 99th percentile of a standard normal.
const Z99: f64 = 2.326_347_874;

/// What a spec's numbers are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Microseconds, written with a unit suffix.
    Micros,
    /// Plain counts.
    Count,
}

/// A one-dimensional distribution over non-negative values.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Dist {
    /// Always the same value.
    Fixed(f64),
    /// Uniform on `[lo, hi]`.
    Uniform { lo: f64, hi: f64 },
    /// Normal, clamped to `[0.3, 1.7] × mean` as llm-d's simulator does.
    Normal { mean: f64, sd: f64 },
    /// Lognormal from its median and 99th percentile.
    LogNormal { p50: f64, p99: f64 },
    /// TTFT only: `base + per_token × prompt_tokens`.
    Prefill { base: f64, per_token: f64 },
}

impl Dist {
    /// Parses a spec (see the module docs).
    pub(crate) fn parse(spec: &str, unit: Unit) -> Result<Dist, String> {
        let spec = spec.trim();
        let value = |s: &str| parse_value(s, unit);
        let (kind, args) = spec.split_once(':').unwrap_or(("fixed", spec));
        let dist = match kind {
            "fixed" => Dist::Fixed(value(args)?),
            "uniform" => {
                let (lo, hi) =
                    args.split_once("..").ok_or_else(|| format!("{spec:?}: uniform needs LOW..HIGH"))?;
                Dist::Uniform { lo: value(lo)?, hi: value(hi)? }
            }
            "normal" => {
                let (mean, sd) =
                    args.split_once(',').ok_or_else(|| format!("{spec:?}: normal needs MEAN,SD"))?;
                Dist::Normal { mean: value(mean)?, sd: value(sd)? }
            }
            "lognormal" => {
                let (p50, p99) =
                    args.split_once(',').ok_or_else(|| format!("{spec:?}: lognormal needs P50,P99"))?;
                Dist::LogNormal { p50: value(p50)?, p99: value(p99)? }
            }
            "prefill" if unit == Unit::Micros => {
                let (base, per) =
                    args.split_once('+').ok_or_else(|| format!("{spec:?}: prefill needs BASE+PER_TOKEN"))?;
                Dist::Prefill { base: value(base)?, per_token: value(per.trim_end_matches("/token"))? }
            }
            other => {
                return Err(format!(
                    "{spec:?}: unknown distribution {other:?} (use fixed, uniform, normal, lognormal{})",
                    if unit == Unit::Micros { " or prefill" } else { "" }
                ))
            }
        };
        dist.check().map_err(|e| format!("{spec:?}: {e}"))?;
        Ok(dist)
    }

    fn check(&self) -> Result<(), &'static str> {
        match *self {
            Dist::Uniform { lo, hi } if lo > hi => Err("LOW is above HIGH"),
            Dist::LogNormal { p50, .. } if p50 <= 0.0 => Err("P50 must be above 0"),
            Dist::LogNormal { p50, p99 } if p99 < p50 => Err("P99 is below P50"),
            _ => Ok(()),
        }
    }

    /// Draws one value; `prompt_tokens` feeds the prefill model.
    pub(crate) fn sample<R: Rng>(&self, rng: &mut R, prompt_tokens: u64) -> f64 {
        let v = match *self {
            Dist::Fixed(v) => v,
            Dist::Uniform { lo, hi } => {
                if hi > lo {
                    rng.gen_range(lo..=hi)
                } else {
                    lo
                }
            }
            Dist::Normal { mean, sd } => {
                let z: f64 = StandardNormal.sample(rng);
                (mean + sd * z).clamp(0.3 * mean, 1.7 * mean)
            }
            Dist::LogNormal { p50, p99 } => {
                let sigma = (p99 / p50).ln() / Z99;
                let z: f64 = StandardNormal.sample(rng);
                p50 * (sigma * z).exp()
            }
            Dist::Prefill { base, per_token } => base + per_token * prompt_tokens as f64,
        };
        v.max(0.0)
    }

    /// Formats the spec back in the syntax `parse` accepts.
    pub(crate) fn display(&self, unit: Unit) -> String {
        let f = |v: f64| match unit {
            Unit::Micros => format_us(v),
            Unit::Count => format!("{v}"),
        };
        match *self {
            Dist::Fixed(v) => format!("fixed:{}", f(v)),
            Dist::Uniform { lo, hi } => format!("uniform:{}..{}", f(lo), f(hi)),
            Dist::Normal { mean, sd } => format!("normal:{},{}", f(mean), f(sd)),
            Dist::LogNormal { p50, p99 } => format!("lognormal:{},{}", f(p50), f(p99)),
            Dist::Prefill { base, per_token } => format!("prefill:{}+{}", f(base), f(per_token)),
        }
    }
}

fn parse_value(text: &str, unit: Unit) -> Result<f64, String> {
    let text = text.trim();
    let v = match unit {
        Unit::Micros => parse_duration_us(text)?,
        Unit::Count => text.parse::<f64>().map_err(|_| format!("{text:?} is not a number"))?,
    };
    if v < 0.0 || !v.is_finite() {
        return Err(format!("{text:?} must be a finite value ≥ 0"));
    }
    Ok(v)
}

impl fmt::Display for Dist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display(Unit::Micros))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn specs_parse_and_print_back() {
        for (spec, unit) in [
            ("fixed:50ms", Unit::Micros),
            ("uniform:40ms..60ms", Unit::Micros),
            ("normal:50ms,5ms", Unit::Micros),
            ("lognormal:200ms,700ms", Unit::Micros),
            ("prefill:30ms+200us", Unit::Micros),
            ("uniform:16..128", Unit::Count),
        ] {
            let d = Dist::parse(spec, unit).unwrap();
            assert_eq!(d.display(unit), spec);
            assert_eq!(Dist::parse(&d.display(unit), unit).unwrap(), d);
        }
        assert_eq!(Dist::parse("50ms", Unit::Micros).unwrap(), Dist::Fixed(50_000.0));
    }

    #[test]
    fn bad_specs_name_the_problem() {
        assert!(Dist::parse("gamma:1,2", Unit::Micros).unwrap_err().contains("unknown distribution"));
        assert!(Dist::parse("uniform:60ms..40ms", Unit::Micros).unwrap_err().contains("above"));
        assert!(Dist::parse("normal:50ms", Unit::Micros).unwrap_err().contains("MEAN,SD"));
        assert!(Dist::parse("prefill:1+2", Unit::Count).is_err());
        assert!(Dist::parse("-5", Unit::Count).is_err());
    }

    #[test]
    fn lognormal_hits_its_percentiles() {
        let d = Dist::parse("lognormal:100ms,400ms", Unit::Micros).unwrap();
        let mut rng = SmallRng::seed_from_u64(1);
        let mut v: Vec<f64> = (0..200_000).map(|_| d.sample(&mut rng, 0)).collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let p50 = v[v.len() / 2];
        let p99 = v[v.len() * 99 / 100];
        assert!((p50 - 100_000.0).abs() < 3_000.0, "p50 {p50}");
        assert!((p99 - 400_000.0).abs() < 25_000.0, "p99 {p99}");
    }

    #[test]
    fn normal_is_clamped_and_prefill_scales() {
        let d = Dist::parse("normal:10ms,50ms", Unit::Micros).unwrap();
        let mut rng = SmallRng::seed_from_u64(2);
        for _ in 0..10_000 {
            let x = d.sample(&mut rng, 0);
            assert!((3_000.0..=17_000.0).contains(&x));
        }
        let p = Dist::parse("prefill:30ms+200us", Unit::Micros).unwrap();
        assert_eq!(p.sample(&mut rng, 100), 50_000.0);
    }
}
