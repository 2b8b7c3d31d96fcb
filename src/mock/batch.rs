//! The capacity model's scheduler, as a continuous-batching inference server (vLLM, TGI) runs
//! one: a step decodes one token for every running sequence; between steps finished sequences
//! leave and waiting ones join, first come first served, while fewer than `max_batch` run. A
//! joining sequence's prefill (uncached prompt tokens × `prefill`) lengthens the step it joins
//! in, and that step yields its first token. A step with `b` sequences and `p` new prompt
//! tokens takes `step + b × step_per_seq + p × prefill`; an arrival to an idle server starts a
//! step at once.
//!
//! The simulation is lazy: it has no clock of its own and is advanced to "now" by whoever
//! holds its lock (an arrival, a stream asking for its next token, a core's ticker), boundary
//! by boundary on the model's own times, so late wake-ups never shift the schedule. One
//! `Batch` serves the whole process (every core), so the capacity does not depend on
//! `--cores` or on which core a connection lands on.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write;
use std::time::{Duration, Instant};

use super::capacity::Capacity;

/// A sequence's id in the scheduler.
pub(crate) type SeqId = u64;

/// Step end times kept for looking up when a token was produced (a stream further behind
/// than this many steps reads its arrival instead, so its lag is overstated, never hidden).
const RING: usize = 4096;

/// Histogram bounds (seconds) for step, queue and first-token times.
const BOUNDS: [f64; 15] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

struct Seq {
    /// Uncached prompt tokens.
    prefill: u64,
    /// Tokens to decode.
    decode: u64,
    /// Tokens decoded so far.
    done: u64,
    /// The step it joined in (its token k is produced at the end of step `join + k − 1`).
    join: u64,
    arrived: Instant,
    running: bool,
}

/// A Prometheus histogram in seconds.
#[derive(Default)]
struct Hist {
    counts: [u64; BOUNDS.len() + 1],
    sum: f64,
}

impl Hist {
    fn record(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        self.counts[BOUNDS.iter().position(|&b| s <= b).unwrap_or(BOUNDS.len())] += 1;
        self.sum += s;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} histogram\n");
        let mut acc = 0;
        for (i, b) in BOUNDS.iter().enumerate() {
            acc += self.counts[i];
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {acc}");
        }
        acc += self.counts[BOUNDS.len()];
        let _ =
            write!(out, "{name}_bucket{{le=\"+Inf\"}} {acc}\n{name}_sum {}\n{name}_count {acc}\n", self.sum);
    }
}

/// What the scheduler did, for `/metrics`.
#[derive(Default)]
struct Stats {
    steps: u64,
    /// Σ over steps of the sequences in the step (÷ steps = mean batch).
    sequence_steps: u64,
    tokens: u64,
    prefill_tokens: u64,
    admitted: u64,
    rejected: u64,
    aborted: u64,
    step: Hist,
    queue: Hist,
    ttft: Hist,
}

/// The scheduler's state (one per process, behind a lock).
pub(crate) struct Batch {
    cap: Capacity,
    seqs: HashMap<SeqId, Seq>,
    running: Vec<SeqId>,
    waiting: VecDeque<SeqId>,
    next_id: SeqId,
    /// Steps started; the one in progress (if any) is `steps − 1`.
    steps: u64,
    /// When the step in progress ends; `None` when idle.
    step_end: Option<Instant>,
    /// `(step, end)` by `step % RING`.
    ends: Vec<(u64, Instant)>,
    stats: Stats,
}

impl Batch {
    pub(crate) fn new(cap: Capacity) -> Batch {
        Batch {
            cap,
            seqs: HashMap::new(),
            running: Vec::new(),
            waiting: VecDeque::new(),
            next_id: 0,
            steps: 0,
            step_end: None,
            ends: Vec::with_capacity(RING),
            stats: Stats::default(),
        }
    }

    /// Runs every step boundary up to `now`.
    pub(crate) fn advance(&mut self, now: Instant) {
        while let Some(end) = self.step_end.filter(|&end| end <= now) {
            self.boundary(end);
        }
    }

    /// The end of the step in progress (`None`: idle).
    pub(crate) fn step_end(&self) -> Option<Instant> {
        self.step_end
    }

    /// A new request: `prefill` uncached prompt tokens, `decode` tokens to generate. `None`
    /// when the queue is full (the request is refused).
    pub(crate) fn submit(&mut self, now: Instant, prefill: u64, decode: u64) -> Option<SeqId> {
        self.advance(now);
        // The scheduler's time may be a little ahead of a `now` read before the lock.
        let now = self.last_end().map_or(now, |t| t.max(now));
        if let Some(q) = self.cap.queue {
            if self.running.len() + self.waiting.len() >= self.cap.max_batch + q {
                self.stats.rejected += 1;
                return None;
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        let seq = Seq { prefill, decode: decode.max(1), done: 0, join: 0, arrived: now, running: false };
        self.seqs.insert(id, seq);
        self.waiting.push_back(id);
        if self.step_end.is_none() {
            self.start_step(now);
        }
        Some(id)
    }

    /// When token `k` (from 1) of `id` was produced, once it has been.
    pub(crate) fn token_time(&self, id: SeqId, k: u64) -> Option<Instant> {
        let seq = self.seqs.get(&id)?;
        if seq.done < k.max(1) {
            return None;
        }
        let step = seq.join + k.max(1) - 1;
        let (at_step, end) = self.ends[step as usize % RING];
        if at_step == step {
            return Some(end);
        }
        // Overwritten: the arrival, before the token, so a lag measured from it is overstated.
        Some(seq.arrived)
    }

    /// Forgets `id` (its reply ended). A sequence still running frees its slot at the next
    /// boundary (the step in progress keeps its length), as an aborted request does.
    pub(crate) fn remove(&mut self, id: SeqId) {
        let Some(seq) = self.seqs.remove(&id) else { return };
        if seq.done < seq.decode {
            self.stats.aborted += 1;
        }
        if seq.running {
            self.running.retain(|&r| r != id);
        } else if seq.done == 0 {
            self.waiting.retain(|&w| w != id);
        }
    }

    /// Sequences in the batch.
    pub(crate) fn running(&self) -> usize {
        self.running.len()
    }

    /// Sequences waiting for a slot.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.len()
    }

    fn last_end(&self) -> Option<Instant> {
        let last = self.steps.checked_sub(1)?;
        let (step, end) = *self.ends.get(last as usize % RING)?;
        (step == last).then_some(end)
    }

    /// The step in progress ended at `end`: one token for each running sequence, the finished
    /// ones leave, and the next step starts at `end` (not at whenever this was noticed).
    fn boundary(&mut self, end: Instant) {
        let step = self.steps - 1;
        let slot = step as usize % RING;
        if self.ends.len() <= slot {
            self.ends.push((step, end));
        } else {
            self.ends[slot] = (step, end);
        }
        self.stats.tokens += self.running.len() as u64;
        let (seqs, stats) = (&mut self.seqs, &mut self.stats);
        self.running.retain(|id| {
            let seq = seqs.get_mut(id).expect("a running sequence is known");
            seq.done += 1;
            if seq.done == 1 {
                stats.ttft.record(end - seq.arrived);
            }
            seq.running = seq.done < seq.decode;
            seq.running
        });
        self.start_step(end);
    }

    /// Fills free slots from the queue and starts a step at `t` (or goes idle).
    fn start_step(&mut self, t: Instant) {
        let mut prefill = 0;
        while self.running.len() < self.cap.max_batch {
            let Some(id) = self.waiting.pop_front() else { break };
            let seq = self.seqs.get_mut(&id).expect("a waiting sequence is known");
            seq.join = self.steps;
            seq.running = true;
            prefill += seq.prefill;
            self.stats.queue.record(t - seq.arrived);
            self.stats.admitted += 1;
            self.running.push(id);
        }
        if self.running.is_empty() {
            self.step_end = None;
            return;
        }
        let d = self.cap.step_time(self.running.len(), prefill);
        self.step_end = Some(t + d);
        self.steps += 1;
        self.stats.steps += 1;
        self.stats.sequence_steps += self.running.len() as u64;
        self.stats.prefill_tokens += prefill;
        self.stats.step.record(d);
    }

    /// The scheduler's figures in Prometheus text.
    pub(crate) fn render(&self, out: &mut String) {
        let mut metric = |kind: &str, name: &str, help: &str, v: u64| {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n");
        };
        metric(
            "gauge",
            "llmload_mock_batch_running",
            "Sequences in the batch (capacity model).",
            self.running() as u64,
        );
        metric(
            "gauge",
            "llmload_mock_batch_waiting",
            "Requests waiting for a batch slot.",
            self.waiting() as u64,
        );
        metric(
            "gauge",
            "llmload_mock_batch_max",
            "The batch's slots (max_batch).",
            self.cap.max_batch as u64,
        );
        let s = &self.stats;
        metric("counter", "llmload_mock_batch_steps_total", "Decode steps run.", s.steps);
        metric(
            "counter",
            "llmload_mock_batch_sequence_steps_total",
            "Sequences summed over steps (÷ steps = mean batch).",
            s.sequence_steps,
        );
        metric("counter", "llmload_mock_batch_tokens_total", "Tokens the batch produced.", s.tokens);
        metric(
            "counter",
            "llmload_mock_batch_prefill_tokens_total",
            "Uncached prompt tokens prefilled.",
            s.prefill_tokens,
        );
        metric("counter", "llmload_mock_batch_admitted_total", "Requests that got a batch slot.", s.admitted);
        metric(
            "counter",
            "llmload_mock_batch_rejected_total",
            "Requests refused with the queue full.",
            s.rejected,
        );
        metric(
            "counter",
            "llmload_mock_batch_aborted_total",
            "Requests that left before their last token (client gone, injected fault).",
            s.aborted,
        );
        s.step.render(out, "llmload_mock_batch_step_seconds", "Length of each step.");
        s.queue.render(out, "llmload_mock_batch_queue_seconds", "Arrival to batch slot.");
        s.ttft.render(
            out,
            "llmload_mock_batch_ttft_seconds",
            "Arrival to first token, as the scheduler produced it.",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn batch(spec: &str) -> Batch {
        Batch::new(Capacity::parse(spec).unwrap())
    }

    #[test]
    fn an_idle_server_answers_in_prefill_plus_one_step_then_a_token_a_step() {
        let mut b = batch("max_batch=4,step=10ms,prefill=100us");
        let t0 = Instant::now();
        let id = b.submit(t0, 50, 3).unwrap();
        assert_eq!(b.running(), 1);
        b.advance(t0 + ms(100));
        // 10 ms + 50 × 100 us, then 10 ms a token.
        assert_eq!(b.token_time(id, 1), Some(t0 + ms(15)));
        assert_eq!(b.token_time(id, 2), Some(t0 + ms(25)));
        assert_eq!(b.token_time(id, 3), Some(t0 + ms(35)));
        assert_eq!(b.token_time(id, 4), None);
        assert_eq!((b.running(), b.step_end()), (0, None), "idle after the last token");
        assert_eq!(b.stats.tokens, 3);
        assert_eq!(b.stats.prefill_tokens, 50);
    }

    #[test]
    fn a_full_batch_queues_and_a_free_slot_waits_for_the_boundary() {
        let mut b = batch("max_batch=2,step=10ms");
        let t0 = Instant::now();
        let a = b.submit(t0, 0, 2).unwrap();
        // Arrives mid-step with a free slot: joins at the next boundary (10 ms).
        let c = b.submit(t0 + ms(4), 0, 2).unwrap();
        // The batch is full: waits until `a` finishes at 20 ms.
        let d = b.submit(t0 + ms(5), 0, 1).unwrap();
        assert_eq!(b.waiting(), 2);
        b.advance(t0 + ms(11));
        assert_eq!((b.running(), b.waiting()), (2, 1));
        b.advance(t0 + ms(100));
        assert_eq!(b.token_time(a, 2), Some(t0 + ms(20)));
        assert_eq!(b.token_time(c, 1), Some(t0 + ms(20)));
        assert_eq!(b.token_time(c, 2), Some(t0 + ms(30)));
        assert_eq!(b.token_time(d, 1), Some(t0 + ms(30)));
        assert!((b.stats.queue.sum - (0.006 + 0.015)).abs() < 1e-9, "queued 6 ms and 15 ms");
        assert_eq!(b.stats.rejected, 0);
    }

    #[test]
    fn steps_grow_with_the_batch_and_new_prompts() {
        let mut b = batch("max_batch=8,step=10ms,step_per_seq=1ms,prefill=1ms");
        let t0 = Instant::now();
        let a = b.submit(t0, 5, 3).unwrap(); // step 0: 10 + 1 + 5 = 16 ms
        let c = b.submit(t0 + ms(1), 2, 3).unwrap(); // joins step 1: 10 + 2 + 2 = 14 ms
        b.advance(t0 + ms(100));
        assert_eq!(b.token_time(a, 1), Some(t0 + ms(16)));
        assert_eq!(b.token_time(a, 2), Some(t0 + ms(30)), "the other's prefill stalls this token");
        assert_eq!(b.token_time(c, 1), Some(t0 + ms(30)));
        assert_eq!(b.token_time(a, 3), Some(t0 + ms(42)), "two decoding: 12 ms");
        assert_eq!(b.token_time(c, 3), Some(t0 + ms(53)), "alone again: 11 ms");
    }

    #[test]
    fn a_full_queue_refuses_and_a_removed_sequence_frees_its_slot() {
        let mut b = batch("max_batch=1,step=10ms,queue=1");
        let t0 = Instant::now();
        let a = b.submit(t0, 0, 100).unwrap();
        let c = b.submit(t0, 0, 1).unwrap();
        assert!(b.submit(t0, 0, 1).is_none(), "batch and queue full");
        assert_eq!(b.stats.rejected, 1);
        b.advance(t0 + ms(25));
        b.remove(a);
        assert_eq!(b.stats.aborted, 1);
        // The step in progress (20–30 ms) keeps its length; `c` joins at 30 ms.
        b.advance(t0 + ms(100));
        assert_eq!(b.token_time(c, 1), Some(t0 + ms(40)));
        b.remove(c);
        assert_eq!(b.stats.aborted, 1, "a finished sequence is not aborted");
        assert!(b.seqs.is_empty());
    }

    #[test]
    fn saturated_throughput_is_max_batch_per_step() {
        // 4 slots, 10 ms steps: 400 tokens/s however many wait. The first arrival starts a
        // step alone; the other 39 join as slots free, so every later step but the last
        // few is full.
        let mut b = batch("max_batch=4,step=10ms");
        let t0 = Instant::now();
        for _ in 0..40 {
            b.submit(t0, 0, 10).unwrap();
        }
        b.advance(t0 + ms(1000));
        assert_eq!(b.stats.tokens, 397, "1 token in the first step, then 4 a step");
        b.advance(t0 + ms(2000));
        assert_eq!(b.stats.tokens, 400);
        assert_eq!(b.stats.sequence_steps, 400);
        assert!((101..=103).contains(&b.stats.steps), "{} steps", b.stats.steps);
        let mut text = String::new();
        b.render(&mut text);
        assert!(text.contains("llmload_mock_batch_tokens_total 400\n"), "{text}");
        assert!(text.contains("llmload_mock_batch_waiting 0\n"));
        assert!(text.contains(&format!("llmload_mock_batch_step_seconds_count {}\n", b.stats.steps)));
        assert!(text.contains("llmload_mock_batch_queue_seconds_bucket{le=\"+Inf\"} 40\n"));
    }
}
