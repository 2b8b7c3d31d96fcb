//! One pinned monoio runtime per core.
//!
//! The io_uring ring is built with the best setup flags the kernel accepts
//! (SINGLE_ISSUER + DEFER_TASKRUN, then COOP_TASKRUN, then none) and falls back to the epoll
//! driver when io_uring is unavailable (seccomp, gVisor, `io_uring_disabled`). monoio's own
//! FusionDriver falls back silently and does not probe setup flags, so the ladder is ours.

use std::fmt;
use std::future::Future;
use std::io;
use std::thread::JoinHandle;

/// Ring size per core; a 1024-entry ring fits in 256 KiB of locked memory.
const RING_ENTRIES: u32 = 1024;

/// Which I/O driver a core ended up with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    /// io_uring with SINGLE_ISSUER | DEFER_TASKRUN (Linux 6.1+).
    UringDeferTaskrun,
    /// io_uring with COOP_TASKRUN (Linux 5.19+).
    UringCoopTaskrun,
    /// io_uring with no setup flags.
    Uring,
    /// epoll (monoio's legacy driver).
    Epoll,
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Driver::UringDeferTaskrun => "io_uring (SINGLE_ISSUER|DEFER_TASKRUN)",
            Driver::UringCoopTaskrun => "io_uring (COOP_TASKRUN)",
            Driver::Uring => "io_uring",
            Driver::Epoll => "epoll",
        })
    }
}

impl Driver {
    /// The driver a report names (the inverse of `Display`; unknown names read as epoll).
    pub fn from_name(name: &str) -> Driver {
        [Driver::UringDeferTaskrun, Driver::UringCoopTaskrun, Driver::Uring]
            .into_iter()
            .find(|d| d.to_string() == name)
            .unwrap_or(Driver::Epoll)
    }
}

/// The driver preference, from the environment: `LLMLOAD_DRIVER=epoll` forces epoll
/// (as does monoio's own `MONOIO_FORCE_LEGACY_DRIVER=1`).
fn epoll_forced() -> bool {
    std::env::var("LLMLOAD_DRIVER").is_ok_and(|v| v == "epoll")
        || std::env::var("MONOIO_FORCE_LEGACY_DRIVER").is_ok_and(|v| v == "1")
}

/// Runs `make()` to completion on a monoio runtime built on the current thread, trying the
/// driver ladder. Returns the driver used and the future's output.
pub(crate) fn block_on<F, Fut>(make: F) -> io::Result<(Driver, Fut::Output)>
where
    F: FnOnce(Driver) -> Fut,
    Fut: Future,
{
    if !epoll_forced() {
        type SetFlags = fn(&mut io_uring::Builder);
        let ladder: [(Driver, SetFlags); 3] = [
            (Driver::UringDeferTaskrun, |b| {
                b.setup_single_issuer().setup_defer_taskrun();
            }),
            (Driver::UringCoopTaskrun, |b| {
                b.setup_coop_taskrun();
            }),
            (Driver::Uring, |_| {}),
        ];
        let mut last_err = None;
        for (driver, flags) in ladder {
            let mut urb = io_uring::IoUring::builder();
            flags(&mut urb);
            match monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
                .with_entries(RING_ENTRIES)
                .uring_builder(urb)
                .enable_timer()
                .build()
            {
                Ok(mut rt) => return Ok((driver, rt.block_on(make(driver)))),
                Err(e) => last_err = Some(e),
            }
        }
        if let Some(e) = last_err {
            if e.raw_os_error() == Some(libc::ENOMEM) {
                eprintln!(
                    "llmload: io_uring ring setup failed with ENOMEM: the locked-memory limit \
                     (ulimit -l / LimitMEMLOCK) is too low; falling back to epoll"
                );
            }
        }
    }
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build()?;
    Ok((Driver::Epoll, rt.block_on(make(Driver::Epoll))))
}

/// A pinned worker thread: its driver and its future's output.
pub(crate) type Worker<T> = JoinHandle<io::Result<(Driver, T)>>;

/// Spawns one thread per entry of `cores`, pinned to that core, each running `make(index)` on
/// its own runtime. `make` runs on the new thread, so the future need not be `Send`.
pub(crate) fn spawn_pinned<F, Fut>(
    name: &str,
    cores: &[usize],
    make: F,
) -> io::Result<Vec<Worker<Fut::Output>>>
where
    F: Fn(usize, Driver) -> Fut + Send + Clone + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    let mut handles = Vec::with_capacity(cores.len());
    for (index, &core) in cores.iter().enumerate() {
        let make = make.clone();
        let handle = std::thread::Builder::new().name(format!("{name}-{index}")).spawn(move || {
            // Pinning is best effort: in a cgroup with fewer CPUs the thread still runs.
            core_affinity::set_for_current(core_affinity::CoreId { id: core });
            block_on(|driver| make(index, driver))
        })?;
        handles.push(handle);
    }
    Ok(handles)
}

/// The cores to run on: `n` of them (0 = all available), or an explicit list like `0,2-3`.
/// More workers than cores, or a core this process may not run on, is an error: pinning is
/// best effort, so either would silently run workers on shared cores.
pub(crate) fn select_cores(spec: Option<&str>) -> Result<Vec<usize>, String> {
    let available: Vec<usize> =
        core_affinity::get_core_ids().map(|ids| ids.into_iter().map(|c| c.id).collect()).unwrap_or_default();
    let available = if available.is_empty() {
        (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect()
    } else {
        available
    };
    select_from(spec, &available)
}

/// `select_cores` against a given list of available cores.
fn select_from(spec: Option<&str>, available: &[usize]) -> Result<Vec<usize>, String> {
    let Some(spec) = spec.map(str::trim) else {
        return Ok(available.to_vec());
    };
    let plural = if available.len() == 1 { "" } else { "s" };
    let machine =
        || format!("this machine has {} core{plural} for llmload ({})", available.len(), ranges(available));
    if let Ok(n) = spec.parse::<usize>() {
        if n == 0 {
            return Ok(available.to_vec());
        }
        if n > available.len() {
            return Err(format!("--cores {spec}: {}; give at most {} (0 = all)", machine(), available.len()));
        }
        return Ok(available[..n].to_vec());
    }
    let mut out: Vec<usize> = Vec::new();
    for part in spec.trim_start_matches('=').split(',') {
        let part = part.trim();
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let parse =
            |s: &str| s.parse::<usize>().map_err(|_| format!("--cores {spec:?}: {s:?} is not a core number"));
        let (lo, hi) = (parse(lo)?, parse(hi)?);
        if lo > hi {
            return Err(format!("--cores {spec:?}: range {part:?} is backwards"));
        }
        if let Some(c) = (lo..=hi).find(|c| !available.contains(c)) {
            return Err(format!("--cores {spec:?}: core {c} is not available; {}", machine()));
        }
        if let Some(twice) = (lo..=hi).find(|c| out.contains(c)) {
            return Err(format!("--cores {spec:?}: core {twice} is listed twice"));
        }
        out.extend(lo..=hi);
    }
    Ok(out)
}

/// `0-3,6,8-9`.
fn ranges(cores: &[usize]) -> String {
    let mut sorted = cores.to_vec();
    sorted.sort_unstable();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[j] + 1 {
            j += 1;
        }
        parts.push(if i == j { sorted[i].to_string() } else { format!("{}-{}", sorted[i], sorted[j]) });
        i = j + 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_lists_parse() {
        let four = [0, 1, 2, 3];
        assert_eq!(select_from(Some("0,2-3"), &four).unwrap(), vec![0, 2, 3]);
        assert_eq!(select_from(Some("3"), &four).unwrap(), vec![0, 1, 2]);
        assert_eq!(select_from(Some("0"), &four).unwrap(), four);
        assert_eq!(select_from(None, &four).unwrap(), four);
        assert!(select_from(Some("a"), &four).unwrap_err().contains("\"a\""));
        assert!(select_from(Some("3-1"), &four).unwrap_err().contains("backwards"));
        assert!(!select_cores(None).unwrap().is_empty());
    }

    #[test]
    fn cores_beyond_the_machine_are_refused() {
        let two = [0, 1];
        assert_eq!(
            select_from(Some("99"), &two).unwrap_err(),
            "--cores 99: this machine has 2 cores for llmload (0-1); give at most 2 (0 = all)"
        );
        assert_eq!(
            select_from(Some("5-7"), &two).unwrap_err(),
            "--cores \"5-7\": core 5 is not available; this machine has 2 cores for llmload (0-1)"
        );
        assert!(select_from(Some("1,2"), &two).unwrap_err().contains("core 2 is not available"));
        assert_eq!(
            select_from(Some("0,0-1"), &two).unwrap_err(),
            "--cores \"0,0-1\": core 0 is listed twice"
        );
        // A process limited to some cores (taskset, cpuset) may pin only to those.
        assert_eq!(select_from(Some("2,5"), &[2, 3, 5]).unwrap(), vec![2, 5]);
        assert!(select_from(Some("0"), &[2, 3, 5]).unwrap() == vec![2, 3, 5]);
        assert!(select_from(Some("4"), &[2, 3, 5]).unwrap_err().contains("3 cores for llmload (2-3,5)"));
        let n = core_affinity::get_core_ids().map_or(0, |c| c.len()).max(1) + 1;
        assert!(select_cores(Some(&n.to_string())).is_err(), "{n} workers on {} cores", n - 1);
    }

    #[test]
    fn a_runtime_starts_and_reports_its_driver() {
        let (driver, v) = block_on(|_| async { 7 }).unwrap();
        assert_eq!(v, 7);
        let _ = driver.to_string();
    }
}
