//! Watching the system under test while the load runs, beside the client's own figures: a
//! gateway's CPU and memory (`--pid NAME=PID`, `--cgroup NAME=PATH`, every 100 ms) and a
//! server's own Prometheus metrics (`--scrape NAME=URL`, every `--scrape-interval`).
//!
//! Both are measured at every stage boundary, while the engine holds the next stage's start
//! (`engine::Observer::boundary`), so a stage's figures are exactly the difference between
//! its two boundaries: all of its requests and none of the next stage's. A [`Session`] is
//! driven from the command line (`llmload run`, and `llmload overhead` through the same
//! calls); what it gathers is read by `report` into summary.json and every report. Nothing
//! here knows the engine or the reports.

pub(crate) mod exposition;
pub(crate) mod known;
pub(crate) mod procfs;
pub(crate) mod resources;
pub(crate) mod scrape;
pub(crate) mod series;
pub(crate) mod values;

use std::collections::BTreeMap;
use std::time::Duration;

pub(crate) use resources::ResourceFigures;
pub(crate) use series::ServerFigures;
pub(crate) use values::{GaugeRange, HistogramDelta};

/// What to watch, as the flags give it (names checked: unique, and fit for a label).
#[derive(Clone, Debug, Default)]
pub(crate) struct Spec {
    /// `--pid NAME=PID`.
    pub pids: Vec<(String, String)>,
    /// `--cgroup NAME=PATH`.
    pub cgroups: Vec<(String, String)>,
    /// `--scrape NAME=URL`.
    pub scrapes: Vec<(String, String)>,
    /// `--scrape-interval`.
    pub scrape_every: Duration,
}

/// Splits `NAME=VALUE` of flag `flag`; the error names the flag.
pub(crate) fn named(flag: &str, text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{flag} {text:?}: expected NAME=VALUE (e.g. {flag} gateway=…)"))?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)) {
        return Err(format!("{flag} {text:?}: the name {name:?} must be letters, digits, _, - or ."));
    }
    if value.is_empty() {
        return Err(format!("{flag} {text:?}: nothing after ="));
    }
    Ok((name.to_string(), value.to_string()))
}

/// What a session gathered in one stage.
#[derive(Debug, Default, Clone)]
pub(crate) struct StageObserved {
    pub resources: BTreeMap<String, ResourceFigures>,
    pub server: BTreeMap<String, ServerFigures>,
}

/// The samplers of one run.
pub(crate) struct Session {
    sampler: Option<resources::Sampler>,
    scraper: Option<scrape::Scraper>,
}

impl Session {
    /// Checks `spec` (every process exists, every cgroup and URL reads) and starts the
    /// threads; None when there is nothing to watch. Errors name the flag and the value.
    pub(crate) fn start(spec: &Spec) -> Result<Option<Session>, String> {
        let mut names = std::collections::BTreeSet::new();
        let mut probes = Vec::new();
        for (name, pid) in &spec.pids {
            let flag = format!("--pid {name}={pid}");
            let pid: i32 = pid.parse().map_err(|_| format!("{flag}: {pid:?} is not a process id"))?;
            probes.push((name.clone(), procfs::Probe::process(pid).map_err(|e| format!("{flag}: {e}"))?));
        }
        for (name, path) in &spec.cgroups {
            let probe = procfs::Probe::cgroup(path).map_err(|e| format!("--cgroup {name}={path}: {e}"))?;
            probes.push((name.clone(), probe));
        }
        for (name, _) in &probes {
            if !names.insert(name.clone()) {
                return Err(format!("--pid/--cgroup: the name {name:?} is given twice"));
            }
        }
        let mut endpoints = Vec::new();
        let mut scrape_names = std::collections::BTreeSet::new();
        for (name, url) in &spec.scrapes {
            if !scrape_names.insert(name.clone()) {
                return Err(format!("--scrape: the name {name:?} is given twice"));
            }
            endpoints.push((
                name.clone(),
                scrape::Endpoint::new(url).map_err(|e| format!("--scrape {name}={url}: {e}"))?,
            ));
        }
        if !endpoints.is_empty() && spec.scrape_every < Duration::from_millis(100) {
            return Err(format!(
                "--scrape-interval {}: at least 100ms",
                crate::units::format_us(spec.scrape_every.as_micros() as f64)
            ));
        }
        if probes.is_empty() && endpoints.is_empty() {
            return Ok(None);
        }
        let io = |what: &str, e: std::io::Error| format!("cannot start the {what} thread: {e}");
        let sampler = match probes.is_empty() {
            true => None,
            false => Some(resources::Sampler::start(probes, resources::EVERY).map_err(|e| io("sampler", e))?),
        };
        let scraper = match endpoints.is_empty() {
            true => None,
            false => Some(scrape::Scraper::start(endpoints, spec.scrape_every).map_err(|e| io("scrape", e))?),
        };
        Ok(Some(Session { sampler, scraper }))
    }

    /// A stage boundary (see `engine::Observer::boundary`): everything is measured now.
    pub(crate) fn boundary(&self, last: bool) {
        // The cheap reads first: a slow scrape does not move the resource boundary.
        if let Some(s) = &self.sampler {
            s.boundary(last);
        }
        if let Some(s) = &self.scraper {
            s.boundary(last);
        }
    }

    /// Stops the threads: what each stage gathered, in stage order.
    pub(crate) fn finish(self) -> Vec<StageObserved> {
        let resources = self.sampler.map(resources::Sampler::finish).unwrap_or_default();
        let server = self.scraper.map(scrape::Scraper::finish).unwrap_or_default();
        let n = resources.len().max(server.len());
        let mut out = vec![StageObserved::default(); n];
        for (i, r) in resources.into_iter().enumerate() {
            out[i].resources = r;
        }
        for (i, s) in server.into_iter().enumerate() {
            out[i].server = s;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_are_checked_with_the_flag_named() {
        assert_eq!(named("--pid", "gw=12").unwrap(), ("gw".to_string(), "12".to_string()));
        assert!(named("--pid", "12").unwrap_err().contains("--pid \"12\": expected NAME=VALUE"));
        assert!(named("--scrape", "a b=http://x").unwrap_err().contains("the name \"a b\""));
        assert!(named("--cgroup", "x=").unwrap_err().contains("nothing after ="));
        let spec = |pids: &[(&str, &str)]| Spec {
            pids: pids.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
            ..Spec::default()
        };
        assert!(Session::start(&Spec::default()).unwrap().is_none());
        let e = Session::start(&spec(&[("gw", "99999999")])).err().unwrap();
        assert!(e.starts_with("--pid gw=99999999: no process 99999999"), "{e}");
        assert!(Session::start(&spec(&[("gw", "x")])).err().unwrap().contains("not a process id"));
        let me = std::process::id().to_string();
        let e = Session::start(&spec(&[("a", &me), ("a", &me)])).err().unwrap();
        assert!(e.contains("given twice"), "{e}");
        let scrape =
            Spec { scrapes: vec![("m".into(), "http://127.0.0.1:9/metrics".into())], ..Spec::default() };
        assert!(Session::start(&scrape).err().unwrap().contains("--scrape-interval"));
    }
}
