//! Watching the system under test from the command line: the `--pid`, `--cgroup`, `--scrape`
//! and `--scrape-interval` flags (flattened into `llmload run`, and into any command that
//! drives `engine::run`, such as `llmload overhead`), and the observer that measures an
//! `observe::Session` at every stage boundary.
//!
//! A command uses it as: `args.session()?` before any load (bad flags, a process that does
//! not exist, an unreadable cgroup or URL are usage errors naming the flag), `engine::run`
//! with `Watched::new(&mut its_observer, &session)` as the observer, then
//! `session.finish()` for what each stage saw (`report::observed::attach` puts it into the
//! stage summaries, with CPU per million requests).

use clap::Args;

use super::Failure;
use crate::engine::{Observer, StageResult};
use crate::metrics::live::LiveSnapshot;
use crate::metrics::timeline::Second;
use crate::observe;

#[derive(Args, Debug, Default, Clone)]
pub(super) struct WatchArgs {
    /// Sample this process and its descendants as NAME (repeatable): CPU (user, system) and
    /// RSS every 100 ms, per stage in every report (e.g. --pid litellm=4242).
    #[arg(long = "pid", value_name = "NAME=PID")]
    pub pids: Vec<String>,
    /// Sample this cgroup v2 directory as NAME (repeatable; absolute, or under
    /// /sys/fs/cgroup): cpu.stat and memory.current every 100 ms.
    #[arg(long = "cgroup", value_name = "NAME=PATH")]
    pub cgroups: Vec<String>,
    /// Scrape this Prometheus endpoint as NAME (repeatable) at every stage start and end and
    /// every --scrape-interval: counter increases and gauge ranges per stage, vLLM's TTFT,
    /// queue time, running/waiting and prefix cache beside the client's. A failed scrape is
    /// counted, never fatal.
    #[arg(long = "scrape", value_name = "NAME=URL")]
    pub scrapes: Vec<String>,
    /// How often --scrape targets are read between stage boundaries.
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    pub scrape_interval: String,
}

impl WatchArgs {
    /// The first of these flags given (for a command that cannot honour them).
    pub(super) fn given(&self) -> Option<&'static str> {
        [("--pid", &self.pids), ("--cgroup", &self.cgroups), ("--scrape", &self.scrapes)]
            .into_iter()
            .find(|(_, v)| !v.is_empty())
            .map(|(flag, _)| flag)
    }

    /// What the flags ask to watch; errors name the flag.
    pub(super) fn spec(&self) -> Result<observe::Spec, Failure> {
        let named = |flag: &str, list: &[String]| {
            list.iter()
                .map(|v| observe::named(flag, v).map_err(Failure::usage))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(observe::Spec {
            pids: named("--pid", &self.pids)?,
            cgroups: named("--cgroup", &self.cgroups)?,
            scrapes: named("--scrape", &self.scrapes)?,
            scrape_every: crate::units::parse_duration(&self.scrape_interval)
                .map_err(|e| Failure::usage(format!("--scrape-interval: {e}")))?,
        })
    }

    /// Checks every target (the process exists, the cgroup and URL read) and starts the
    /// sampling threads; None when nothing is watched. Call it before any load.
    pub(super) fn session(&self) -> Result<Option<observe::Session>, Failure> {
        observe::Session::start(&self.spec()?).map_err(Failure::usage)
    }
}

/// Runs `plan`'s engine with `observer`, through `Watched` when a session measures the system
/// under test (what it observed per stage goes into the plan).
pub(super) fn run_engine(
    plan: &mut crate::plan::Plan,
    live: std::sync::Arc<crate::metrics::live::Live>,
    observer: &mut dyn Observer,
    session: Option<observe::Session>,
) -> std::io::Result<crate::engine::RunResult> {
    let (config, workload) = (plan.config.clone(), plan.workload.clone());
    let result = match &session {
        Some(session) => crate::engine::run(config, workload, live, &mut Watched::new(observer, session)),
        None => crate::engine::run(config, workload, live, observer),
    };
    plan.observed = session.map(observe::Session::finish).unwrap_or_default();
    result
}

/// An observer with a session measuring the system under test at every stage boundary (the
/// engine holds each stage's start until it has); everything else goes to `inner`.
pub(super) struct Watched<'a> {
    inner: &'a mut dyn Observer,
    session: &'a observe::Session,
}

impl<'a> Watched<'a> {
    pub(super) fn new(inner: &'a mut dyn Observer, session: &'a observe::Session) -> Watched<'a> {
        Watched { inner, session }
    }
}

impl Observer for Watched<'_> {
    fn tick(&mut self, second: &Second, live: &LiveSnapshot) {
        self.inner.tick(second, live);
    }
    fn stage_started(&mut self, index: usize, at: std::time::Instant) {
        self.inner.stage_started(index, at);
    }
    fn stage_done(&mut self, index: usize, result: &StageResult) {
        self.inner.stage_done(index, result);
    }
    fn turns(&mut self, lines: &[u8], count: u64) {
        self.inner.turns(lines, count);
    }
    fn flush(&mut self) {
        self.inner.flush();
    }
    fn holds_stages(&self) -> bool {
        true
    }
    fn boundary(&mut self, _index: usize, last: bool) {
        self.session.boundary(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_checked_with_the_flag_named() {
        let args = |pids: &[&str], cgroups: &[&str], scrapes: &[&str]| WatchArgs {
            pids: pids.iter().map(|s| s.to_string()).collect(),
            cgroups: cgroups.iter().map(|s| s.to_string()).collect(),
            scrapes: scrapes.iter().map(|s| s.to_string()).collect(),
            scrape_interval: "5s".into(),
        };
        let err = |a: WatchArgs| a.session().err().expect("refused").message;
        assert!(err(args(&["x=notanumber"], &[], &[])).contains("--pid x=notanumber: \"notanumber\" is not"));
        assert!(err(args(&[], &["gw"], &[])).contains("--cgroup \"gw\": expected NAME=VALUE"));
        assert!(err(args(&[], &["gw="], &[])).contains("--cgroup \"gw=\": nothing after ="));
        assert!(err(args(&[], &["gw=/nonexistent/cg"], &[])).contains("--cgroup gw=/nonexistent/cg: "));
        assert!(err(args(&[], &[], &["m=not a url"])).starts_with("--scrape m=not a url: "));
        let mut bad_interval = args(&[], &[], &[]);
        bad_interval.scrape_interval = "soon".into();
        assert!(err(bad_interval).contains("--scrape-interval"));
        assert_eq!(args(&[], &["a=b"], &[]).given(), Some("--cgroup"));
        assert!(args(&[], &[], &[]).session().unwrap().is_none());
    }
}
