//! What one sample of a process tree or a cgroup reads: CPU time (user and system) and
//! resident memory, from `/proc/PID/stat` and `/proc/PID/status`, or a cgroup v2
//! directory's `cpu.stat` and `memory.current` (its members' RSS where the hierarchy has no
//! memory controller).
//!
//! A process counts with its whole tree (a gateway such as LiteLLM serves from worker
//! processes): its descendants are found through `/proc/PID/task/TID/children` (a scan of
//! `/proc` where the kernel has no such file). CPU of a tree is each live member's own time
//! plus the time of the children it has reaped (`cutime`, `cstime`), so a worker that exits
//! and is reaped inside the tree keeps counting; memory is the members' RSS summed (pages
//! shared between them count once per process).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// `/proc` reports CPU in USER_HZ ticks, which the kernel ABI fixes at 100 per second.
const TICKS_PER_S: u64 = 100;

/// The largest process tree followed (a fork bomb must not stall the sampler).
const MAX_TREE: usize = 4096;

/// What is sampled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// A process and its descendants; `start` is the root's start time (clock ticks after
    /// boot), so a pid reused by another process reads as gone.
    Tree { pid: i32, start: u64 },
    /// A cgroup v2 directory.
    Cgroup { dir: PathBuf },
}

/// One reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Reading {
    /// Cumulative CPU time, µs.
    pub user_us: u64,
    pub system_us: u64,
    /// Resident memory now (None: a cgroup with neither `memory.current` nor members).
    pub rss_bytes: Option<u64>,
    /// Processes counted (the tree's members, or the cgroup's).
    pub processes: u32,
}

/// Why a probe could not be read: the process or cgroup is gone (exited, removed), or
/// something else (the text names the file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ProbeError {
    Gone(String),
    Unreadable(String),
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeError::Gone(s) | ProbeError::Unreadable(s) => f.write_str(s),
        }
    }
}

/// The fields of `/proc/PID/stat` used here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stat {
    state: u8,
    ppid: i32,
    /// Own and reaped children's CPU, ticks.
    user: u64,
    system: u64,
    start: u64,
}

/// Parses `/proc/PID/stat`. The command name (field 2) is in parentheses and may hold
/// spaces and parentheses itself, so fields are counted after the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state): field N is f[N - 3].
    let num = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    Some(Stat {
        state: *f.first()?.as_bytes().first()?,
        ppid: f.get(1)?.parse().ok()?,
        user: num(14)? + num(16)?,
        system: num(15)? + num(17)?,
        start: num(22)?,
    })
}

fn read_stat(pid: i32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `VmRSS` of `/proc/PID/status` in bytes (0 for a zombie or a kernel thread, which have
/// none).
fn rss_bytes(pid: i32) -> u64 {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return 0 };
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The children of `pid` from `/proc/PID/task/*/children`; None where the kernel has no
/// such file.
fn children(pid: i32) -> Option<Vec<i32>> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut out = Vec::new();
    let mut any = false;
    for task in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
            any = true;
            out.extend(text.split_whitespace().filter_map(|v| v.parse::<i32>().ok()));
        }
    }
    any.then_some(out)
}

/// Every process's parent, from a scan of `/proc` (the fallback for `children`).
fn parents() -> HashMap<i32, Vec<i32>> {
    let mut map: HashMap<i32, Vec<i32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        if let Some(stat) = read_stat(pid) {
            map.entry(stat.ppid).or_default().push(pid);
        }
    }
    map
}

impl Probe {
    /// A probe of process `pid` and its tree; the error says why it cannot be (no such
    /// process).
    pub(crate) fn process(pid: i32) -> Result<Probe, String> {
        if pid <= 0 {
            return Err(format!("{pid} is not a process id"));
        }
        match read_stat(pid) {
            Some(s) if s.state != b'Z' => Ok(Probe::Tree { pid, start: s.start }),
            Some(_) => Err(format!("process {pid} has exited (a zombie)")),
            None => Err(format!("no process {pid} (/proc/{pid}/stat cannot be read)")),
        }
    }

    /// A probe of cgroup v2 directory `path` (absolute, or under /sys/fs/cgroup); the error
    /// names the file missing.
    pub(crate) fn cgroup(path: &str) -> Result<Probe, String> {
        let p = Path::new(path);
        let dir = if p.is_absolute() { p.to_path_buf() } else { Path::new("/sys/fs/cgroup").join(p) };
        let stat = dir.join("cpu.stat");
        let text = std::fs::read_to_string(&stat)
            .map_err(|e| format!("{} cannot be read ({e}); is it a cgroup v2 directory?", stat.display()))?;
        parse_cpu_stat(&text).ok_or_else(|| format!("{}: no usage_usec", stat.display()))?;
        Ok(Probe::Cgroup { dir })
    }

    /// What the probe watches, for the report (`pid 42`, `cgroup /sys/fs/cgroup/x`).
    pub(crate) fn describe(&self) -> String {
        match self {
            Probe::Tree { pid, .. } => format!("pid {pid}"),
            Probe::Cgroup { dir } => format!("cgroup {}", dir.display()),
        }
    }

    /// One reading now.
    pub(crate) fn read(&self) -> Result<Reading, ProbeError> {
        match self {
            Probe::Tree { pid, start } => read_tree(*pid, *start),
            Probe::Cgroup { dir } => read_cgroup(dir),
        }
    }
}

fn read_tree(root: i32, start: u64) -> Result<Reading, ProbeError> {
    let gone = || ProbeError::Gone(format!("process {root} exited"));
    let stat = read_stat(root).filter(|s| s.start == start).ok_or_else(gone)?;
    let mut reading = Reading::default();
    let add = |pid: i32, s: &Stat, reading: &mut Reading| {
        reading.user_us += s.user * (1_000_000 / TICKS_PER_S);
        reading.system_us += s.system * (1_000_000 / TICKS_PER_S);
        *reading.rss_bytes.get_or_insert(0) += rss_bytes(pid);
        reading.processes += 1;
    };
    add(root, &stat, &mut reading);
    if stat.state == b'Z' {
        // Its last figures still stand; the sampler reports it gone after this reading.
        return Ok(reading);
    }
    let mut fallback: Option<HashMap<i32, Vec<i32>>> = None;
    let mut queue = vec![root];
    let mut seen = 1;
    while let Some(pid) = queue.pop() {
        let kids = match children(pid) {
            Some(k) => k,
            None => fallback.get_or_insert_with(parents).get(&pid).cloned().unwrap_or_default(),
        };
        for kid in kids {
            if seen >= MAX_TREE {
                break;
            }
            // A child that exited between the two reads is simply not counted live (its time
            // moves to its parent's cutime once reaped).
            if let Some(s) = read_stat(kid).filter(|s| s.ppid == pid) {
                seen += 1;
                add(kid, &s, &mut reading);
                queue.push(kid);
            }
        }
    }
    Ok(reading)
}

/// `usage_usec`, `user_usec`, `system_usec` of a cgroup's `cpu.stat`.
fn parse_cpu_stat(text: &str) -> Option<(u64, u64, u64)> {
    let field = |name: &str| {
        text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<u64>().ok())
    };
    let usage = field("usage_usec")?;
    Some((usage, field("user_usec").unwrap_or(usage), field("system_usec").unwrap_or(0)))
}

fn read_cgroup(dir: &Path) -> Result<Reading, ProbeError> {
    let stat = dir.join("cpu.stat");
    let text = std::fs::read_to_string(&stat).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ProbeError::Gone(format!("cgroup {} was removed", dir.display()))
        } else {
            ProbeError::Unreadable(format!("{}: {e}", stat.display()))
        }
    })?;
    let (_, user, system) = parse_cpu_stat(&text)
        .ok_or_else(|| ProbeError::Unreadable(format!("{}: no usage_usec", stat.display())))?;
    let members = cgroup_members(dir);
    let rss_bytes = match std::fs::read_to_string(dir.join("memory.current")) {
        Ok(v) => v.trim().parse().ok(),
        // No memory controller in this hierarchy (cgroup v2 beside v1 controllers, or the
        // root): the members' RSS summed, as for a process tree.
        Err(_) => (!members.is_empty()).then(|| members.iter().map(|&pid| rss_bytes(pid)).sum()),
    };
    Ok(Reading { user_us: user, system_us: system, rss_bytes, processes: members.len() as u32 })
}

/// The processes of cgroup `dir` and of the cgroups below it (as `cpu.stat` counts them).
fn cgroup_members(dir: &Path) -> Vec<i32> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        if let Ok(text) = std::fs::read_to_string(d.join("cgroup.procs")) {
            out.extend(text.split_whitespace().filter_map(|v| v.parse::<i32>().ok()));
        }
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(entry.path());
            }
        }
        if out.len() >= MAX_TREE {
            out.truncate(MAX_TREE);
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        let line =
            "4242 (a (weird) name) S 1 4242 4242 0 -1 4194304 97 0 0 0 250 50 7 3 20 0 3 0 75697 3133440 \
                    360 18446744073709551615 0 0 0";
        let s = parse_stat(line).unwrap();
        assert_eq!((s.state, s.ppid, s.user, s.system, s.start), (b'S', 1, 257, 53, 75697));
        assert_eq!(parse_stat("12 (x) S 1"), None);
    }

    #[test]
    fn reads_this_process_and_a_child_in_its_tree() {
        let me = std::process::id() as i32;
        let mut child = std::process::Command::new("sleep").arg("5").spawn().expect("spawn sleep");
        let probe = Probe::process(me).unwrap();
        // The child shows up within a moment (the spawn has returned, so it exists).
        let r = probe.read().unwrap();
        assert!(r.processes >= 2, "the sleep child is part of the tree: {r:?}");
        let rss = r.rss_bytes.unwrap();
        assert!((1 << 20..1 << 34).contains(&rss), "rss {rss}");
        let _ = child.kill();
        let _ = child.wait();
        assert!(probe.describe().starts_with("pid "));
    }

    #[test]
    fn a_missing_or_exited_process_is_named() {
        assert!(Probe::process(0).unwrap_err().contains("not a process id"));
        // Pids above the kernel's maximum (at most 2^22) never exist.
        assert!(Probe::process(99_999_999).unwrap_err().contains("no process 99999999"));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        let probe = Probe::process(pid);
        let _ = child.wait();
        if let Ok(p) = probe {
            assert!(matches!(p.read(), Err(ProbeError::Gone(_))), "reaped: gone");
        }
    }

    #[test]
    fn reads_a_cgroup_directory() {
        let dir = std::env::temp_dir().join(format!("llmload-cgroup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("cpu.stat"),
            "usage_usec 3000\nuser_usec 2000\nsystem_usec 1000\nnr_periods 0\n",
        )
        .unwrap();
        std::fs::write(dir.join("memory.current"), "8388608\n").unwrap();
        std::fs::write(dir.join("cgroup.procs"), "1\n2\n").unwrap();
        let probe = Probe::cgroup(dir.to_str().unwrap()).unwrap();
        let r = probe.read().unwrap();
        assert_eq!(r, Reading { user_us: 2000, system_us: 1000, rss_bytes: Some(8 << 20), processes: 2 });
        std::fs::remove_file(dir.join("memory.current")).unwrap();
        // Without memory.current, the members' RSS: this process's in a cgroup below.
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/cgroup.procs"), format!("{}\n", std::process::id())).unwrap();
        std::fs::write(dir.join("cgroup.procs"), "").unwrap();
        let r = probe.read().unwrap();
        assert_eq!(r.processes, 1, "{r:?}");
        assert!(r.rss_bytes.unwrap() >= 1 << 20, "{r:?}");
        std::fs::remove_file(dir.join("sub/cgroup.procs")).unwrap();
        assert_eq!(probe.read().unwrap().rss_bytes, None, "no members, no memory figure");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(probe.read(), Err(ProbeError::Gone(_))));
        assert!(Probe::cgroup("/nonexistent/x").unwrap_err().contains("cgroup v2"));
    }
}
