//! Pure arrival schedules for open-loop stages: given the rate ramp, the offset of each
//! arrival from the stage start. No clock, so they test exactly (vegeta's pacer idea).

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Constant spacing or Poisson arrivals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Arrival {
    #[default]
    Constant,
    Poisson,
}

/// Arrival offsets (seconds from the stage start) for a rate ramping linearly from `from`
/// to `to` over `duration` seconds.
pub struct Schedule {
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
}

impl Schedule {
    pub fn new(from: f64, to: f64, duration: f64, arrival: Arrival, seed: u64) -> Schedule {
        Schedule { from, to, duration, arrival, rng: SmallRng::seed_from_u64(seed), k: 0, t: 0.0, phase: 0.0 }
    }

    /// Shifts a constant schedule by a fraction of one arrival: M schedules of rate R/M with
    /// phases j/M interleave into one evenly spaced schedule of rate R, and their counts sum
    /// to exactly R·duration.
    pub fn phase(mut self, phase: f64) -> Schedule {
        self.phase = phase.clamp(0.0, 1.0 - f64::EPSILON);
        self
    }

    /// Rate at offset `t`.
    fn rate(&self, t: f64) -> f64 {
        self.from + (self.to - self.from) * (t / self.duration).clamp(0.0, 1.0)
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
    pub fn next_offset(&mut self) -> Option<f64> {
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
        (t < self.duration).then_some(t)
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
    fn poisson_is_seeded_and_close_to_the_rate() {
        let a = all(Schedule::new(1000.0, 1000.0, 20.0, Arrival::Poisson, 7));
        let b = all(Schedule::new(1000.0, 1000.0, 20.0, Arrival::Poisson, 7));
        assert_eq!(a, b);
        let n = a.len() as f64;
        assert!((n - 20_000.0).abs() < 20_000.0 * 0.03, "{n}");
        assert!(a.windows(2).all(|w| w[1] >= w[0]));
    }
}
