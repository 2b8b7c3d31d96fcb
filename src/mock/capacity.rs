//! The capacity model's settings: `--capacity max_batch=N,step=D[,step_per_seq=D][,prefill=D]
//! [,queue=M]` (config `"capacity": "…"`, the same text). Off unless given; `batch` runs it.

use std::time::Duration;

use crate::units::parse_duration;

/// Fields of the spec, for the error that names an unknown one.
const FIELDS: [&str; 5] = ["max_batch", "step", "step_per_seq", "prefill", "queue"];

/// The shortest decode step accepted: every step is a timer wake of the mock, so shorter
/// steps would make the mock, not the model, the limit.
const MIN_STEP: Duration = Duration::from_micros(50);

/// A continuous-batching server's capacity (see docs/mock.md, "Capacity model").
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Capacity {
    /// Sequences decoded together in one step; more wait in the queue.
    pub max_batch: usize,
    /// A step's fixed time.
    pub step: Duration,
    /// What each sequence in the batch adds to a step.
    pub step_per_seq: Duration,
    /// Prefill time per uncached prompt token, added to the step a sequence joins in.
    pub prefill: Duration,
    /// Most requests waiting for a batch slot; beyond it requests are refused at once (503 /
    /// 529 overloaded). `None`: unbounded, as vLLM queues.
    pub queue: Option<usize>,
}

impl Capacity {
    /// Parses `key=value,…`; the error names the field.
    pub(crate) fn parse(spec: &str) -> Result<Capacity, String> {
        let (mut max_batch, mut step, mut step_per_seq, mut prefill, mut queue) =
            (None, None, Duration::ZERO, Duration::ZERO, None);
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item.split_once('=').ok_or_else(|| format!("{item:?} is not key=value"))?;
            let (key, value) = (key.trim(), value.trim());
            let count = |max: usize| {
                value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=max).contains(n))
                    .ok_or_else(|| format!("{key}: {value:?} is not a whole number from 1 to {max}"))
            };
            let duration = |v: &str| {
                let d = parse_duration(v).map_err(|e| format!("{key}: {e}"))?;
                if d > Duration::from_secs(60) {
                    return Err(format!("{key}: {v:?} is above 60s"));
                }
                Ok(d)
            };
            match key {
                "max_batch" => max_batch = Some(count(1 << 16)?),
                "step" => step = Some(duration(value)?),
                "step_per_seq" => step_per_seq = duration(value)?,
                "prefill" => prefill = duration(value.trim_end_matches("/token"))?,
                "queue" if value == "0" => queue = Some(0),
                "queue" => queue = Some(count(1 << 24)?),
                other => {
                    let mut e = format!("unknown field {other:?} (use {})", FIELDS.join(", "));
                    if let Some(s) = crate::names::did_you_mean(other, &FIELDS) {
                        e.push_str(&format!("; did you mean {s:?}?"));
                    }
                    return Err(e);
                }
            }
        }
        let max_batch = max_batch.ok_or("max_batch: missing (the most sequences decoded at once)")?;
        let step = step.ok_or("step: missing (the time of one decode step, e.g. step=20ms)")?;
        if step < MIN_STEP {
            return Err(format!("step: {step:?} is below {MIN_STEP:?}"));
        }
        Ok(Capacity { max_batch, step, step_per_seq, prefill, queue })
    }

    /// How long a step takes with `batch` sequences, `prefill_tokens` of them new.
    pub(crate) fn step_time(&self, batch: usize, prefill_tokens: u64) -> Duration {
        self.step + self.step_per_seq * batch as u32 + self.prefill.saturating_mul(prefill_tokens as u32)
    }

    /// The spec back in the syntax `parse` reads.
    pub(crate) fn display(&self) -> String {
        let us = |d: Duration| crate::units::format_us(d.as_nanos() as f64 / 1e3);
        let mut s = format!("max_batch={},step={}", self.max_batch, us(self.step));
        if !self.step_per_seq.is_zero() {
            s.push_str(&format!(",step_per_seq={}", us(self.step_per_seq)));
        }
        if !self.prefill.is_zero() {
            s.push_str(&format!(",prefill={}", us(self.prefill)));
        }
        if let Some(q) = self.queue {
            s.push_str(&format!(",queue={q}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_field_and_prints_back() {
        let c = Capacity::parse("max_batch=8, step=20ms,step_per_seq=500us,prefill=100us/token,queue=16")
            .unwrap();
        assert_eq!(c.max_batch, 8);
        assert_eq!(c.step, Duration::from_millis(20));
        assert_eq!(c.step_per_seq, Duration::from_micros(500));
        assert_eq!(c.prefill, Duration::from_micros(100));
        assert_eq!(c.queue, Some(16));
        assert_eq!(Capacity::parse(&c.display()).unwrap(), c);
        let d = Capacity::parse("max_batch=4,step=10ms").unwrap();
        assert_eq!((d.step_per_seq, d.prefill, d.queue), (Duration::ZERO, Duration::ZERO, None));
        assert_eq!(d.display(), "max_batch=4,step=10ms");
        assert_eq!(Capacity::parse("max_batch=4,step=10ms,queue=0").unwrap().queue, Some(0));
        // 20 ms + 4 × 500 us + 100 tokens × 100 us.
        assert_eq!(c.step_time(4, 100), Duration::from_millis(32));
    }

    #[test]
    fn errors_name_the_field() {
        for (spec, needle) in [
            ("step=10ms", "max_batch: missing"),
            ("max_batch=4", "step: missing"),
            ("max_batch=0,step=10ms", "max_batch: \"0\" is not a whole number"),
            ("max_batch=x,step=10ms", "max_batch:"),
            ("max_batch=4,step=10", "step: \"10\" has no unit"),
            ("max_batch=4,step=10us", "step: 10µs is below 50µs"),
            ("max_batch=4,step=2m", "step: \"2m\" is above 60s"),
            ("max_batch=4,step=10ms,prefill=-1ms", "prefill:"),
            ("max_batch=4,step=10ms,queue=-1", "queue:"),
            ("max_batch=4,step=10ms,max_bach=3", "unknown field \"max_bach\""),
            ("max_batch=4,step=10ms,max_bach=3", "did you mean \"max_batch\""),
            ("max_batch=4,step", "\"step\" is not key=value"),
        ] {
            let e = Capacity::parse(spec).unwrap_err();
            assert!(e.contains(needle), "{spec}: {e}");
        }
    }
}
