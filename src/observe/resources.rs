//! Resource sampling of a gateway (`--pid`, `--cgroup`): a thread of its own reads every
//! probe every 100 ms, and each stage boundary reads them once more, so a stage's CPU is
//! exactly the difference between the readings at its two boundaries. Per stage: CPU
//! seconds (user, system), CPU % on average and in the busiest second, RSS on average and at
//! its peak.
//!
//! The thread is not pinned: it sleeps between samples and a sample costs a few reads of
//! `/proc`, so it takes no measurable time from the load workers' cores.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::procfs::{Probe, ProbeError, Reading};

/// How often each probe is read.
pub(crate) const EVERY: Duration = Duration::from_millis(100);

/// The span the peak CPU % is taken over: `/proc` counts in 10 ms ticks, so one 100 ms
/// interval reads ±10 %; a second reads ±1 %.
const PEAK_SPAN: Duration = Duration::from_secs(1);

/// One probe's figures in one stage (`stages[].resources.NAME` in summary.json).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct ResourceFigures {
    /// What was sampled: `pid N` (with its process tree) or `cgroup PATH`.
    pub source: String,
    /// Readings taken in the stage (its two boundaries included).
    pub samples: u64,
    /// Time from the stage's first reading to its last (s): the stage, unless the process
    /// exited during it.
    pub window_s: f64,
    pub cpu_user_s: f64,
    pub cpu_system_s: f64,
    /// User + system.
    pub cpu_s: f64,
    /// CPU time ÷ `window_s` (100 = one core busy).
    pub cpu_pct_avg: f64,
    /// The busiest second of the stage (the average when the stage is shorter).
    pub cpu_pct_peak: f64,
    /// `cpu_s` per million requests of the stage (null: no requests).
    pub cpu_s_per_1m_requests: Option<f64>,
    /// Resident memory over the readings (null: the cgroup reports none).
    pub rss_avg_bytes: Option<u64>,
    pub rss_peak_bytes: Option<u64>,
    /// The most processes counted at once (the tree, or the cgroup's).
    pub processes_peak: u32,
    /// Set when sampling ended in this stage or before: the process exited, the cgroup was
    /// removed.
    pub ended: Option<String>,
    /// Readings that failed for another reason (counted, not fatal).
    pub read_errors: u64,
}

impl ResourceFigures {
    /// Fills `cpu_s_per_1m_requests` from the stage's request count.
    pub(crate) fn per_requests(&mut self, requests: u64) {
        self.cpu_s_per_1m_requests = (requests > 0).then(|| self.cpu_s * 1e6 / requests as f64);
    }
}

/// A stage being sampled.
#[derive(Default)]
struct Window {
    first: Option<(Instant, Reading)>,
    last: Option<(Instant, Reading)>,
    samples: u64,
    rss_sum: u128,
    rss_samples: u64,
    rss_peak: Option<u64>,
    processes_peak: u32,
    peak_pct: f64,
    /// Readings of the last `PEAK_SPAN` (time, CPU µs).
    recent: VecDeque<(Instant, u64)>,
    read_errors: u64,
}

impl Window {
    fn add(&mut self, at: Instant, r: Reading) {
        self.first.get_or_insert((at, r));
        self.last = Some((at, r));
        self.samples += 1;
        if let Some(rss) = r.rss_bytes {
            self.rss_sum += u128::from(rss);
            self.rss_samples += 1;
            self.rss_peak = Some(self.rss_peak.map_or(rss, |p| p.max(rss)));
        }
        self.processes_peak = self.processes_peak.max(r.processes);
        let cpu = r.user_us + r.system_us;
        self.recent.push_back((at, cpu));
        while self.recent.len() > 2 && at.duration_since(self.recent[1].0) >= PEAK_SPAN {
            self.recent.pop_front();
        }
        if let Some(&(t0, c0)) = self.recent.front() {
            let span = at.duration_since(t0);
            if span >= PEAK_SPAN {
                self.peak_pct = self.peak_pct.max(pct(cpu.saturating_sub(c0), span));
            }
        }
    }

    fn figures(&self, source: &str, ended: Option<String>) -> ResourceFigures {
        let (Some((t0, a)), Some((t1, b))) = (self.first, self.last) else {
            return ResourceFigures {
                source: source.to_string(),
                ended,
                read_errors: self.read_errors,
                ..ResourceFigures::default()
            };
        };
        let span = t1.duration_since(t0);
        let user = b.user_us.saturating_sub(a.user_us);
        let system = b.system_us.saturating_sub(a.system_us);
        let avg = pct(user + system, span);
        ResourceFigures {
            source: source.to_string(),
            samples: self.samples,
            window_s: span.as_secs_f64(),
            cpu_user_s: user as f64 / 1e6,
            cpu_system_s: system as f64 / 1e6,
            cpu_s: (user + system) as f64 / 1e6,
            cpu_pct_avg: avg,
            cpu_pct_peak: self.peak_pct.max(avg),
            cpu_s_per_1m_requests: None,
            rss_avg_bytes: (self.rss_samples > 0)
                .then(|| (self.rss_sum / u128::from(self.rss_samples)) as u64),
            rss_peak_bytes: self.rss_peak,
            processes_peak: self.processes_peak,
            ended,
            read_errors: self.read_errors,
        }
    }
}

fn pct(cpu_us: u64, span: Duration) -> f64 {
    if span.is_zero() {
        0.0
    } else {
        cpu_us as f64 / 1e6 / span.as_secs_f64() * 100.0
    }
}

/// One probe and its stages.
struct Track {
    name: String,
    probe: Probe,
    source: String,
    /// Why sampling ended, once it did.
    ended: Option<String>,
    window: Option<Window>,
    window_started: Option<Instant>,
    done: Vec<ResourceFigures>,
}

impl Track {
    /// Reads the probe; a failure ends sampling (gone) or is counted (anything else).
    fn read(&mut self, now: Instant) -> Option<Reading> {
        if self.ended.is_some() {
            return None;
        }
        match self.probe.read() {
            Ok(r) => Some(r),
            Err(ProbeError::Gone(why)) => {
                let into = self.window_started.map_or(String::new(), |t| {
                    format!(" {:.1} s into the stage", now.duration_since(t).as_secs_f64())
                });
                self.ended = Some(format!("{why}{into}"));
                None
            }
            Err(ProbeError::Unreadable(_)) => {
                if let Some(w) = &mut self.window {
                    w.read_errors += 1;
                }
                None
            }
        }
    }

    fn sample(&mut self, now: Instant) {
        if let Some(r) = self.read(now) {
            if let Some(w) = &mut self.window {
                w.add(now, r);
            }
        }
    }

    /// One reading ends the window open (if any) and starts the next (unless `last`).
    fn boundary(&mut self, now: Instant, last: bool) {
        let reading = self.read(now);
        if let Some(mut w) = self.window.take() {
            if let Some(r) = reading {
                w.add(now, r);
            }
            self.done.push(w.figures(&self.source, self.ended.clone()));
        }
        if !last {
            let mut w = Window::default();
            if let Some(r) = reading {
                w.add(now, r);
            }
            self.window = Some(w);
            self.window_started = Some(now);
        }
    }
}

struct State {
    tracks: Vec<Track>,
    stopped: bool,
}

/// The sampler thread and what it has gathered.
pub(crate) struct Sampler {
    state: Arc<(Mutex<State>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling `probes` (name, probe) every `every`.
    pub(crate) fn start(probes: Vec<(String, Probe)>, every: Duration) -> std::io::Result<Sampler> {
        let tracks = probes
            .into_iter()
            .map(|(name, probe)| Track {
                name,
                source: probe.describe(),
                probe,
                ended: None,
                window: None,
                window_started: None,
                done: Vec::new(),
            })
            .collect();
        let state = Arc::new((Mutex::new(State { tracks, stopped: false }), Condvar::new()));
        let shared = state.clone();
        let thread = std::thread::Builder::new().name("llmload-sampler".into()).spawn(move || {
            let (lock, wake) = &*shared;
            let mut next = Instant::now();
            let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if st.stopped {
                    return;
                }
                let now = Instant::now();
                if now >= next {
                    st.tracks.iter_mut().for_each(|t| t.sample(now));
                    // A fixed cadence; after a stall, the next sample is a period from now.
                    next = (next + every).max(now);
                    continue;
                }
                st = wake.wait_timeout(st, next - now).unwrap_or_else(|e| e.into_inner()).0;
            }
        })?;
        Ok(Sampler { state, thread: Some(thread) })
    }

    /// A stage boundary: every probe is read now; the stage before (if any) ends with this
    /// reading and, unless `last`, the next begins with it.
    pub(crate) fn boundary(&self, last: bool) {
        let mut st = self.state.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        st.tracks.iter_mut().for_each(|t| t.boundary(now, last));
    }

    /// Stops the thread; per stage (in boundary order), each probe's figures by name.
    pub(crate) fn finish(mut self) -> Vec<BTreeMap<String, ResourceFigures>> {
        {
            let mut st = self.state.0.lock().unwrap_or_else(|e| e.into_inner());
            st.stopped = true;
            self.state.1.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let mut st = self.state.0.lock().unwrap_or_else(|e| e.into_inner());
        let stages = st.tracks.iter().map(|t| t.done.len()).max().unwrap_or(0);
        let mut out: Vec<BTreeMap<String, ResourceFigures>> = (0..stages).map(|_| BTreeMap::new()).collect();
        for t in &mut st.tracks {
            for (i, f) in std::mem::take(&mut t.done).into_iter().enumerate() {
                out[i].insert(t.name.clone(), f);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_is_the_difference_between_its_boundaries() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let r = |cpu_ms: u64, rss_mib: u64| Reading {
            user_us: cpu_ms * 750,
            system_us: cpu_ms * 250,
            rss_bytes: Some(rss_mib << 20),
            processes: 2,
        };
        let mut w = Window::default();
        // Half a core for a second, then a full core for a second.
        for i in 0..=20u64 {
            let cpu = if i <= 10 { i * 50 } else { 500 + (i - 10) * 100 };
            w.add(at(i * 100), r(cpu, 10 + i));
        }
        let f = w.figures("pid 1", None);
        assert_eq!(f.samples, 21);
        assert!((f.window_s - 2.0).abs() < 1e-9);
        assert!((f.cpu_s - 1.5).abs() < 1e-9 && (f.cpu_user_s - 1.125).abs() < 1e-9, "{f:?}");
        assert!((f.cpu_pct_avg - 75.0).abs() < 1e-6, "{f:?}");
        assert!((f.cpu_pct_peak - 100.0).abs() < 1e-6, "the busiest second: {f:?}");
        assert_eq!(f.rss_peak_bytes, Some(30 << 20));
        assert_eq!(f.rss_avg_bytes, Some(20 << 20));
        let mut f = f;
        f.per_requests(3_000);
        assert!((f.cpu_s_per_1m_requests.unwrap() - 500.0).abs() < 1e-6);
        f.per_requests(0);
        assert_eq!(f.cpu_s_per_1m_requests, None);
    }

    #[test]
    fn samples_this_process_per_stage_and_a_gone_one_is_reported() {
        let me = Probe::process(std::process::id() as i32).unwrap();
        let mut child = std::process::Command::new("sleep").arg("10").spawn().unwrap();
        let gone = Probe::process(child.id() as i32).unwrap();
        let s = Sampler::start(vec![("me".into(), me), ("child".into(), gone)], Duration::from_millis(10))
            .unwrap();
        s.boundary(false);
        // Busy for a while: this process's CPU shows in the stage.
        let until = Instant::now() + Duration::from_millis(300);
        let mut x = 0u64;
        while Instant::now() < until {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        let _ = child.kill();
        let _ = child.wait();
        std::thread::sleep(Duration::from_millis(50));
        s.boundary(false);
        s.boundary(true);
        let stages = s.finish();
        assert_eq!(stages.len(), 2, "{x}");
        let me = &stages[0]["me"];
        assert!(me.cpu_s >= 0.05 && me.samples >= 3, "{me:?}");
        assert!(me.rss_peak_bytes.unwrap() >= 1 << 20);
        assert!(stages[0]["child"].ended.as_deref().unwrap().contains("exited"), "{:?}", stages[0]["child"]);
        assert_eq!(stages[1]["child"].samples, 0);
        assert!(stages[1]["child"].ended.is_some(), "still reported as ended in the next stage");
    }
}
