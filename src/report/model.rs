//! A saved run read back: `summary.json` loaded and checked (its version, every field with
//! its JSON path on error). `report::view` decodes what is loaded for the reports.

use std::time::{SystemTime, UNIX_EPOCH};

use super::summary::Summary;

/// Microseconds since the Unix epoch.
pub(crate) fn unix_us(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// Reads and checks a `summary.json`; the error names the file.
pub(crate) fn load(path: &std::path::Path) -> Result<Summary, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    match value.get("schema_version").and_then(serde_json::Value::as_u64) {
        Some(v) if super::summary::READS.iter().any(|r| u64::from(*r) == v) => {}
        Some(v) => {
            return Err(format!(
                "{}: schema_version {v}, this llmload reads {}{}",
                path.display(),
                super::summary::READS.map(|r| r.to_string()).join(" and "),
                if v == 1 {
                    " (version 1 counted rps as requests sent, not requests served: run the test again)"
                } else {
                    ""
                }
            ))
        }
        None => return Err(format!("{}: not a summary.json (no schema_version)", path.display())),
    }
    let mut summary: Summary = serde_path_to_error::deserialize(value)
        .map_err(|e| format!("{}: {}: {}", path.display(), e.path(), e.inner()))?;
    // Every version read has the current fields: written again, it is the current version.
    summary.schema_version = super::summary::SCHEMA_VERSION;
    Ok(summary)
}
