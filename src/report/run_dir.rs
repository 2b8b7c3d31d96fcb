//! Run directories: `<out>/<UTC yyyymmddThhmmssZ>-<short id>/`.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::units::calendar::utc_compact;

/// Creates a fresh run directory under `out`.
pub(crate) fn create(out: &Path, salt: u64) -> std::io::Result<PathBuf> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let id =
        (u64::from(now.subsec_nanos()) ^ salt.rotate_left(17) ^ u64::from(std::process::id())) & 0xff_ffff;
    let dir = out.join(format!("{}-{id:06x}", utc_compact(now.as_secs() as i64)));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
