//! Process limits: raise RLIMIT_NOFILE to the hard limit at start.

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Raises the soft open-files limit to the hard limit; returns the limit now in force.
pub(crate) fn raise_nofile() -> u64 {
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(_) => soft,
        },
        Ok((soft, _)) => soft,
        Err(_) => 0,
    }
}
