//! Reports rendered from a run's merged results. Every writer takes `impl Write`; the engine
//! never sees an output format.

pub(crate) mod compare;
pub(crate) mod csv;
pub(crate) mod health;
pub(crate) mod hlog;
pub mod html;
pub(crate) mod jsonl;
pub(crate) mod live_metrics;
pub(crate) mod merge;
pub(crate) mod model;
pub(crate) mod observed;
pub(crate) mod overhead;
pub(crate) mod prom;
mod prom_replies;
pub(crate) mod promtext;
pub(crate) mod rebuild;
pub(crate) mod redact;
pub(crate) mod run_dir;
pub(crate) mod summary;
pub(crate) mod svg;
pub(crate) mod text;
pub(crate) mod thresholds;
pub(crate) mod view;

use std::path::Path;

use summary::Summary;

/// Writes `bytes` to `dir/name` atomically (a temporary file renamed into place), so a
/// reader (or a textfile collector) never sees half a file.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Renders every report of a run from its summary into `dir` and returns the text report.
/// `llmload run`, `merge` and `report` all come through here; the summary is decoded once
/// into a [`view::RunView`] that every renderer takes.
pub fn write_all(dir: &Path, summary: &Summary) -> Result<Vec<u8>, String> {
    let view = view::RunView::decode(summary)?;
    let io = |e: std::io::Error| e.to_string();
    let mut report = Vec::new();
    text::render(&mut report, &view).map_err(io)?;
    write_atomic(dir, "report.txt", &report)?;
    write_atomic(dir, "summary.json", &serde_json::to_vec_pretty(summary).expect("summary serializes"))?;
    let mut csv = Vec::new();
    csv::render(&mut csv, &view).map_err(io)?;
    write_atomic(dir, "report.csv", &csv)?;
    write_atomic(dir, "metrics.prom", prom::render(&view).as_bytes())?;
    write_atomic(dir, "histograms.hlog", hlog::render(&view).as_bytes())?;
    write_atomic(dir, "report.html", html::render(&view).as_bytes())?;
    Ok(report)
}
