//! `llmload overhead`: one profile and one seed, run direct to the upstream and via each
//! gateway, the targets in a seeded random order per trial; the comparison (latency added,
//! pass-through, errors added, cancel propagation) in overhead.txt and overhead.json beside
//! every run's own reports. Each run is an ordinary planned run (`plan::prepare` →
//! `engine::run` → `plan::finish`); only the target, its key and the order change.

mod upstream;

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Args;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::progress::Progress;
use super::run::{self, RunArgs};
use super::watch::{self, WatchArgs};
use super::{ExitCode, Failure};
use crate::metrics::live::Live;
use crate::observe::{self, ResourceFigures};
use crate::plan::{self, Plan, Request};
use crate::report::overhead::{self, Disconnects, Input, Overhead, StageStats, Target, TargetRun};
use crate::report::{health, write_atomic};

#[derive(Args, Debug)]
pub(super) struct OverheadArgs {
    /// The upstream, direct: a URL as `llmload run --target` takes it. Without it the
    /// built-in mock is started in-process at --mock-listen and is the upstream.
    #[arg(long, value_name = "URL")]
    direct: Option<String>,
    /// A gateway in front of the same upstream, NAME=URL (repeatable); the URL as `--target`.
    #[arg(long = "via", value_name = "NAME=URL", required = true)]
    via: Vec<String>,
    /// The environment variable holding one target's key, NAME=VAR (NAME is `direct` or a
    /// --via name; repeatable). A target without one uses --vk / LLMLOAD_VK, if set.
    #[arg(long = "key-env", value_name = "NAME=VAR")]
    key_env: Vec<String>,
    /// Trials: every target runs once per trial, in a seeded random order.
    #[arg(long, default_value_t = 3)]
    trials: usize,
    /// Without --direct: where the built-in mock listens (point the gateways at it).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    mock_listen: String,
    /// How long after each run the upstream's disconnect counters are read again (cancels
    /// that reach it late still count).
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    cancel_settle: String,
    #[command(flatten)]
    run: RunArgs,
}

/// A target name: [A-Za-z0-9._-], as multi-service.sh's.
fn check_name(name: &str) -> Result<(), Failure> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
        return Err(Failure::usage(format!("--via {name:?}: a name is letters, digits, '.', '_' or '-'")));
    }
    Ok(())
}

/// The targets: `direct` first (its URL filled in later for the built-in mock), then each
/// `--via NAME=URL`.
fn targets(direct: &str, via: &[String]) -> Result<Vec<Target>, Failure> {
    let mut out = vec![Target { name: "direct".into(), url: direct.to_string() }];
    for v in via {
        let (name, url) =
            v.split_once('=').ok_or_else(|| Failure::usage(format!("--via {v:?}: expected NAME=URL")))?;
        check_name(name)?;
        if out.iter().any(|t| t.name == name) {
            return Err(Failure::usage(format!(
                "--via {name}: the name is taken (direct is the upstream's)"
            )));
        }
        if url.is_empty() {
            return Err(Failure::usage(format!("--via {name}: no URL")));
        }
        out.push(Target { name: name.to_string(), url: url.to_string() });
    }
    Ok(out)
}

/// Each target's key: from the variable `--key-env` names for it, else `fallback`. Keys are
/// never printed; an error names the variable, not its value.
fn keys(
    targets: &[Target],
    key_env: &[String],
    fallback: &Option<String>,
) -> Result<Vec<Option<String>>, Failure> {
    let mut keys = vec![fallback.clone(); targets.len()];
    for k in key_env {
        let (name, var) =
            k.split_once('=').ok_or_else(|| Failure::usage(format!("--key-env {k:?}: expected NAME=VAR")))?;
        let i = targets.iter().position(|t| t.name == name).ok_or_else(|| {
            Failure::usage(format!("--key-env {name}: no such target (direct or a --via name)"))
        })?;
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => keys[i] = Some(v),
            _ => {
                return Err(Failure::usage(format!(
                    "--key-env {name}={var}: the variable {var} is not set or empty"
                )))
            }
        }
    }
    Ok(keys)
}

/// What to sample during each target's runs: `--pid`/`--cgroup NAME=…` go to the gateway
/// NAME (never to direct: the upstream is not what is measured). Each spec is checked now,
/// before any load (the process exists, the cgroup reads).
fn watch_specs(watch: &WatchArgs, targets: &[Target]) -> Result<Vec<Option<observe::Spec>>, Failure> {
    if watch.given() == Some("--scrape") {
        return Err(Failure::usage("overhead: --scrape is not used by overhead"));
    }
    let spec = watch.spec()?;
    let mut out: Vec<Option<observe::Spec>> = vec![None; targets.len()];
    let probes = spec
        .pids
        .iter()
        .map(|p| ("--pid", p, true))
        .chain(spec.cgroups.iter().map(|c| ("--cgroup", c, false)));
    for (flag, (name, value), pid) in probes {
        let i = targets.iter().skip(1).position(|t| &t.name == name).ok_or_else(|| {
            Failure::usage(format!("{flag} {name}={value}: no gateway {name:?} (NAME is a --via name)"))
        })? + 1;
        let s = out[i].get_or_insert_with(observe::Spec::default);
        if !s.pids.is_empty() || !s.cgroups.is_empty() {
            return Err(Failure::usage(format!("{flag} {name}={value}: gateway {name} is sampled twice")));
        }
        match pid {
            true => s.pids.push((name.clone(), value.clone())),
            false => s.cgroups.push((name.clone(), value.clone())),
        }
    }
    for s in out.iter().flatten() {
        observe::Session::start(s).map_err(Failure::usage)?.map(observe::Session::finish);
    }
    Ok(out)
}

/// The request of one run: the common one, pointed at `target` with its key.
fn request_for(base: &Request, target: &str, retarget: bool, key: &Option<String>) -> Request {
    let mut r = base.clone();
    r.overrides.vk = key.clone();
    if retarget {
        r.retarget = Some(target.to_string());
        r.overrides.target = None;
    } else {
        r.overrides.target = Some(target.to_string());
    }
    r
}

/// The plan of one run, its directory moved to `dir`.
fn prepare(req: &Request, dir: &Path, stop: &Arc<AtomicBool>, quiet: bool) -> Result<Plan, Failure> {
    let mut p = plan::prepare(req, &mut |line| {
        if !quiet {
            eprintln!("llmload: {line}");
        }
    })
    .map_err(Failure::from)?;
    std::fs::rename(&p.dir, dir).map_err(|e| Failure::runtime(format!("{}: {e}", dir.display())))?;
    p.dir = dir.to_path_buf();
    p.config.stop = stop.clone();
    Ok(p)
}

/// What one run gave: its stages, exit code, whether it was interrupted, and the sampled
/// gateway's figures per stage (empty when not sampled).
type RunOutcome = (Vec<StageStats>, i32, bool, Vec<ResourceFigures>);

/// Runs one plan as `llmload run` would (without results.jsonl), sampling `watch` (one
/// gateway) when given, and writes its reports (summary.json with the resources).
fn run_one(
    p: &mut Plan,
    stop: &Arc<AtomicBool>,
    watch: Option<&observe::Spec>,
) -> Result<RunOutcome, Failure> {
    let live = Arc::new(Live::new(p.config.cores.len()));
    let mut progress = Progress::new(p.profile.stages.clone(), None, stop.clone());
    let session = match watch {
        // Checked before any load; a process that exited since is this run's failure.
        Some(spec) => observe::Session::start(spec).map_err(Failure::runtime)?,
        None => None,
    };
    let result = watch::run_engine(p, live, &mut progress, session);
    progress.end_line();
    let result = result.map_err(|e| Failure::runtime(format!("run failed: {e}")))?;
    let name = watch.and_then(|s| s.pids.iter().chain(&s.cgroups).next()).map(|(n, _)| n.clone());
    let resources = match name {
        Some(name) => result
            .stages
            .iter()
            .enumerate()
            .map(|(i, st)| {
                let mut f =
                    p.observed.get(i).and_then(|o| o.resources.get(&name)).cloned().unwrap_or_default();
                f.per_requests(st.all.requests);
                f
            })
            .collect(),
        None => Vec::new(),
    };
    let (_report, checks) = plan::finish(p, &result, Vec::new()).map_err(Failure::runtime)?;
    let code = if result.interrupted || health::generator_bound(&result) {
        ExitCode::NotValid
    } else if checks.iter().any(|c| !c.pass) {
        ExitCode::ThresholdFailed
    } else {
        ExitCode::Pass
    };
    let stages = result
        .stages
        .iter()
        .map(|st| {
            let mut s = StageStats { all: st.all.clone(), ..StageStats::default() };
            for (spec, stats) in p.profile.scenarios.iter().zip(&st.scenarios) {
                if spec.stream {
                    s.streamed.add(stats);
                }
            }
            s
        })
        .collect();
    Ok((stages, code as i32, result.interrupted, resources))
}

pub(super) fn run(args: OverheadArgs) -> Result<ExitCode, Failure> {
    args.run.reject_for_overhead()?;
    if args.trials == 0 {
        return Err(Failure::usage("--trials: at least 1"));
    }
    let settle = crate::units::parse_duration(&args.cancel_settle)
        .map_err(|e| Failure::usage(format!("--cancel-settle: {e}")))?;
    let base = run::request(&args.run)?;
    let mut targets = targets(args.direct.as_deref().unwrap_or(""), &args.via)?;
    let keys = keys(&targets, &args.key_env, &base.overrides.vk)?;
    let watch = watch_specs(&args.run.watch, &targets)?;
    let stop = Arc::new(AtomicBool::new(false));
    run::stop_on_signals(&stop);

    // The upstream: given, or the built-in mock, started once for every run and trial.
    let mock = match &args.direct {
        Some(_) => None,
        None => {
            let mut config = plan::embedded_mock_config(base.overrides.tokenizer.clone());
            config.listen = args.mock_listen.clone();
            for m in &mut config.models {
                // Steady latencies, and every reply exactly max_tokens long, so the direct
                // and via runs get the same replies and the Δ is not upstream noise.
                m.ttft = "normal:50ms,2ms".into();
                m.output_tokens = "fixed:1000000".into();
            }
            let settings = config.validate().map_err(|e| Failure::usage(format!("built-in mock: {e}")))?;
            let cores = crate::net::cores::select_cores(base.cores.as_deref()).map_err(Failure::usage)?;
            let server = crate::mock::start(settings, &cores)
                .map_err(|e| Failure::runtime(format!("built-in mock at {}: {e}", args.mock_listen)))?;
            targets[0].url = format!("http://{}", server.addr);
            eprintln!("llmload overhead: the upstream is the built-in mock at {}", targets[0].url);
            Some(server)
        }
    };
    // The built-in mock with a profile: its paths kept, as `llmload run --mock` does.
    let retarget_direct = mock.is_some() && base.profile.is_some();

    // Every run planned before any load: bad input for any target stops it all here. The
    // first plan fixes the seed for the rest, so every run has the same schedule.
    let top = crate::report::run_dir::create(&base.out, rand::random())
        .map_err(|e| Failure::runtime(format!("--out {}: {e}", base.out.display())))?;
    let mut base = base;
    let mut plans: Vec<(usize, usize, Plan)> = Vec::new();
    let mut seed = None;
    for trial in 1..=args.trials {
        for (i, t) in targets.iter().enumerate() {
            let req = request_for(&base, &t.url, i == 0 && retarget_direct, &keys[i]);
            let dir = top.join(format!("trial{trial}-{}", t.name));
            let p = prepare(&req, &dir, &stop, !plans.is_empty())?;
            if seed.is_none() {
                seed = Some(p.seed.0);
                base.overrides.seed = Some(p.seed.0);
            }
            plans.push((trial, i, p));
        }
    }
    let seed = seed.unwrap_or_default();
    let mut order_rng = rand::rngs::SmallRng::seed_from_u64(seed ^ 0x6f76_6572_6865_6164);
    let mut order: Vec<Vec<usize>> = Vec::new();
    for _ in 0..args.trials {
        let mut o: Vec<usize> = (0..targets.len()).collect();
        o.shuffle(&mut order_rng);
        order.push(o);
    }

    // Cancellation propagation: measured when a scenario cancels and the upstream's
    // /metrics has the llmload mock's counters.
    let profile = &plans[0].2.profile;
    let origin = upstream::origin(&targets[0].url);
    let cancel_unmeasured = if !profile.scenarios.iter().any(|s| s.cancel.is_some()) {
        Some("no scenario has cancel".to_string())
    } else {
        origin.clone().and_then(|o| upstream::disconnects(&o)).err()
    };
    let measure = cancel_unmeasured.is_none();
    let llmload_mock = origin.as_ref().is_ok_and(|o| upstream::disconnects(o).is_ok());
    let stage_labels: Vec<String> = profile.stages.iter().map(|s| s.to_string()).collect();
    let profile_origin = match &base.profile {
        Some(p) => p.display().to_string(),
        None => "flags".to_string(),
    };
    eprintln!(
        "llmload overhead: {} target(s) × {} trial(s), seed {seed}; reports in {}",
        targets.len(),
        args.trials,
        top.display()
    );

    let mut runs = Vec::new();
    let mut interrupted = false;
    'trials: for (k, o) in order.iter().enumerate() {
        let trial = k + 1;
        for &i in o {
            if stop.load(Ordering::Relaxed) {
                interrupted = true;
                break 'trials;
            }
            let p = plans
                .iter_mut()
                .find(|(t, j, _)| *t == trial && *j == i)
                .map(|(_, _, p)| p)
                .expect("every run is planned");
            eprintln!(
                "llmload overhead: trial {trial}/{}: {} ({})",
                args.trials, targets[i].name, targets[i].url
            );
            let read = |when: &str| match (measure, &origin) {
                (true, Ok(o)) => upstream::disconnects(o)
                    .map_err(|e| eprintln!("llmload overhead: warning: {when} {}: {e}", targets[i].name))
                    .ok(),
                _ => None,
            };
            let before = read("before");
            let (stages, exit_code, was_interrupted, resources) = run_one(p, &stop, watch[i].as_ref())?;
            interrupted |= was_interrupted;
            let disconnects = before.and_then(|b| {
                std::thread::sleep(settle);
                read("after").map(|a: Disconnects| a.since(&b))
            });
            runs.push(TargetRun {
                target: i,
                trial,
                stages,
                disconnects,
                resources,
                exit_code,
                dir: p.dir.display().to_string(),
            });
        }
    }
    if let Some(server) = mock {
        server.stop();
    }

    let input =
        Input { targets: targets.clone(), stage_labels, runs, trials: args.trials, cancel_unmeasured };
    let gateways = input.gateways();
    let rows = input.rows();
    let not_valid = interrupted || rows.iter().any(|r| r.exit_code == ExitCode::NotValid as i32);
    let failed = rows.iter().any(|r| r.exit_code != 0) || gateways.iter().any(|g| !g.pass);
    let code = if not_valid {
        ExitCode::NotValid
    } else if failed {
        ExitCode::ThresholdFailed
    } else {
        ExitCode::Pass
    };
    let result = Overhead {
        seed,
        trials: args.trials,
        profile: profile_origin,
        upstream: overhead::Upstream {
            url: targets[0].url.clone(),
            builtin_mock: args.direct.is_none(),
            llmload_mock,
        },
        order: order.iter().map(|o| o.iter().map(|&i| targets[i].name.clone()).collect()).collect(),
        runs: rows,
        gateways,
        pass: code == ExitCode::Pass,
    };
    let text = overhead::text::render(&result);
    let json = serde_json::to_vec_pretty(&result).expect("overhead serializes");
    write_atomic(&top, "overhead.json", &json).map_err(Failure::runtime)?;
    write_atomic(&top, "overhead.txt", text.as_bytes()).map_err(Failure::runtime)?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}\nreports: {}", top.display());
    let _ = out.flush();
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_keys_are_checked() {
        let t = targets("http://u:1", &["gw=http://g:2".into()]).unwrap();
        assert_eq!(
            (t[0].name.as_str(), t[1].name.as_str(), t[1].url.as_str()),
            ("direct", "gw", "http://g:2")
        );
        assert!(targets("", &["direct=http://x".into()]).unwrap_err().message.contains("taken"));
        assert!(targets("", &["a b=http://x".into()]).is_err());
        assert!(targets("", &["nourl".into()]).unwrap_err().message.contains("NAME=URL"));
        let k = keys(&t, &[], &Some("k".into())).unwrap();
        assert_eq!(k, vec![Some("k".to_string()), Some("k".to_string())]);
        let e = keys(&t, &["gw=LLMLOAD_TEST_SURELY_UNSET_VAR".into()], &None).unwrap_err();
        assert!(e.message.contains("LLMLOAD_TEST_SURELY_UNSET_VAR is not set"), "{}", e.message);
        assert!(keys(&t, &["other=X".into()], &None).unwrap_err().message.contains("no such target"));
    }
}
