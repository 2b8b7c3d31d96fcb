//! Pure arrival schedules for open-loop stages: given the rate ramp, the offset of each
//! arrival from the stage start. No clock, so they test exactly (vegeta's pacer idea).

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

pub(crate) use crate::profile::Arrival;

/// Arrival offsets (seconds from the stage start) for a rate ramping linearly from `from`
/// to `to` over `duration` seconds.
pub(crate) struct Schedule {
    from: f64,
    to: f64,
    duration: f64,
    arrival: Arrival,
    rng: SmallRng,
    /// Arrivals issued so far.
    k: u64,
    /// Offset of the last arrival (Poisson).
    t: f64,
    /// Constant: arrival k comes when the ramp's area reaches k + phase (0 ≤ phase < 1).
    phase: f64,
    /// Every arrival was issued or skipped.
    exhausted: bool,
}

impl Schedule {
    pub(crate) fn new(from: f64, to: f64, duration: f64, arrival: Arrival, seed: u64) -> Schedule {
        Schedule {
            from,
            to,
            duration,
            arrival,
            rng: SmallRng::seed_from_u64(seed),
            k: 0,
            t: 0.0,
            phase: 0.0,
            exhausted: false,
        }
    }

    /// Shifts a constant schedule by a fraction of one arrival: M schedules of rate R/M with
    /// phases j/M interleave into one evenly spaced schedule of rate R, and their counts sum
    /// to exactly R·duration.
    pub(crate) fn phase(mut self, phase: f64) -> Schedule {
        self.phase = phase.clamp(0.0, 1.0 - f64::EPSILON);
        self
    }

    /// Rate at offset `t`.
    fn rate(&self, t: f64) -> f64 {
        self.from + (self.to - self.from) * (t / self.duration).clamp(0.0, 1.0)
    }

    /// Expected arrivals from the start to offset `t` (the area under the ramp).
    fn area(&self, t: f64) -> f64 {
        let t = t.clamp(0.0, self.duration);
        self.from * t + (self.to - self.from) * t * t / (2.0 * self.duration)
    }

    /// Skips every arrival before offset `t` that `next_offset` has not yet issued, and
    /// returns how many: a generator that fell behind accounts for its backlog in one step,
    /// however large. Constant: exactly the arrivals `next_offset` would have issued (to
    /// float rounding); Poisson: a Poisson-distributed count with the ramp's mean, after
    /// which the process goes on from `t` (it is memoryless).
    pub(crate) fn skip_before(&mut self, t: f64) -> u64 {
        if self.exhausted {
            return 0;
        }
        self.exhausted = t >= self.duration;
        let t = t.min(self.duration);
        let n = match self.arrival {
            Arrival::Constant => {
                let last = (self.area(t) - self.phase).ceil();
                if last.is_finite() && last > self.k as f64 {
                    (last - self.k as f64).min(u64::MAX as f64 / 2.0) as u64
                } else {
                    0
                }
            }
            Arrival::Poisson => {
                let mean = self.area(t) - self.area(self.t);
                if t <= self.t || mean.is_nan() || mean <= 0.0 {
                    return 0;
                }
                self.t = t;
                match rand_distr::Poisson::new(mean.min(1e15)) {
                    Ok(p) => rand_distr::Distribution::<f64>::sample(&p, &mut self.rng) as u64,
                    Err(_) => 0,
                }
            }
        };
        self.k = self.k.saturating_add(n);
        n
    }

    /// The offset where the cumulative arrivals of the ramp reach `n`:
    /// solves `from·t + (to − from)·t²/(2·duration) = n`.
    fn time_of(&self, n: f64) -> f64 {
        let a = (self.to - self.from) / (2.0 * self.duration);
        let b = self.from;
        if a.abs() < 1e-12 {
            if b <= 0.0 {
                f64::INFINITY
            } else {
                n / b
            }
        } else {
            let disc = b * b + 4.0 * a * n;
            if disc < 0.0 {
                f64::INFINITY
            } else {
                (-b + disc.sqrt()) / (2.0 * a)
            }
        }
    }

    /// The next arrival's offset, or None past the stage's end.
    pub(crate) fn next_offset(&mut self) -> Option<f64> {
        if self.exhausted {
            return None;
        }
        let t = match self.arrival {
            // Arrival k at the time the ramp's area reaches k (k = 0 at the start).
            Arrival::Constant => self.time_of(self.k as f64 + self.phase),
            Arrival::Poisson => {
                // Exponential gap at the current rate (exact for constant rates; for ramps
                // the rate is re-read at each arrival).
                let rate = self.rate(self.t).max(1e-9);
                let u: f64 = self.rng.gen_range(f64::EPSILON..1.0);
                self.t -= u.ln() / rate;
                self.t
            }
        };
        self.k += 1;
        self.exhausted = t >= self.duration;
        (!self.exhausted).then_some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(mut s: Schedule) -> Vec<f64> {
        std::iter::from_fn(|| s.next_offset()).collect()
    }

    #[test]
    fn constant_rate_is_evenly_spaced() {
        let v = all(Schedule::new(100.0, 100.0, 2.0, Arrival::Constant, 0));
        assert_eq!(v.len(), 200);
        assert!((v[1] - v[0] - 0.01).abs() < 1e-9);
        assert!((v[199] - 1.99).abs() < 1e-9);
    }

    #[test]
    fn phased_parts_interleave_and_sum_exactly() {
        for (rate, parts) in [(1000.0, 4usize), (333.0, 6), (7.0, 3), (2000.0, 2)] {
            let mut merged: Vec<f64> = (0..parts)
                .flat_map(|j| {
                    all(Schedule::new(rate / parts as f64, rate / parts as f64, 2.0, Arrival::Constant, 0)
                        .phase(j as f64 / parts as f64))
                })
                .collect();
            assert_eq!(merged.len() as f64, rate * 2.0, "rate {rate} over {parts} parts");
            merged.sort_by(f64::total_cmp);
            for w in merged.windows(2) {
                assert!((w[1] - w[0] - 1.0 / rate).abs() < 1e-6, "even spacing at rate {rate}");
            }
        }
    }

    #[test]
    fn ramp_issues_the_area_under_the_rate() {
        let v = all(Schedule::new(100.0, 300.0, 10.0, Arrival::Constant, 0));
        assert_eq!(v.len(), 2000);
        // Denser at the end than at the start.
        assert!(v[1] - v[0] > v[1999] - v[1998]);
        let down = all(Schedule::new(300.0, 100.0, 10.0, Arrival::Constant, 0));
        assert_eq!(down.len(), 2000);
    }

    #[test]
    fn skipping_counts_what_would_have_been_issued() {
        for (from, to, phase) in
            [(1000.0, 1000.0, 0.0), (333.0, 333.0, 0.4), (100.0, 300.0, 0.0), (300.0, 50.0, 0.7)]
        {
            let make = || Schedule::new(from, to, 10.0, Arrival::Constant, 0).phase(phase);
            let total = all(make()).len() as u64;
            for cut in [0.0, 0.0005, 1.0, 3.3, 9.99, 10.0, 50.0] {
                let mut s = make();
                let expect = all(make()).iter().filter(|&&o| o < cut).count() as u64;
                let skipped = s.skip_before(cut);
                assert!(
                    skipped.abs_diff(expect) <= 1,
                    "{from}..{to} phase {phase} cut {cut}: {skipped} vs {expect}"
                );
                // Nothing is issued twice or lost: the rest follows on.
                assert_eq!(skipped + all(s).len() as u64, total, "{from}..{to} cut {cut}");
            }
        }
        // An absurd backlog is one step, not a loop.
        let mut s = Schedule::new(1e300, 1e300, 1.0, Arrival::Constant, 0);
        assert!(s.skip_before(1.0) > 1 << 60);
        assert_eq!(s.next_offset(), None);
        assert_eq!(s.skip_before(1.0), 0);
        let mut p = Schedule::new(1e12, 1e12, 1.0, Arrival::Poisson, 3);
        let n = p.skip_before(1.0) as f64;
        assert!((n - 1e12).abs() < 1e12 * 0.01, "{n}");
        assert_eq!(p.next_offset(), None);
        let mut p = Schedule::new(1000.0, 1000.0, 20.0, Arrival::Poisson, 3);
        let head = p.skip_before(5.0) as f64;
        let rest = all(p).len() as f64;
        assert!(
            (head - 5000.0).abs() < 5000.0 * 0.1 && (rest - 15_000.0).abs() < 15_000.0 * 0.05,
            "{head} {rest}"
        );
    }

    #[test]
    fn poisson_is_seeded_and_close_to_the_rate() {
        let a = all(Schedule::new(1000.0, 1000.0, 20.0, Arrival::Poisson, 7));
        let b = all(Schedule::new(1000.0, 1000.0, 20.0, Arrival::Poisson, 7));
        assert_eq!(a, b);
        let n = a.len() as f64;
        assert!((n - 20_000.0).abs() < 20_000.0 * 0.03, "{n}");
        assert!(a.windows(2).all(|w| w[1] >= w[0]));
    }
}
