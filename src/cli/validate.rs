//! `llmload validate PROFILE`: load and validate a profile without sending any load, then
//! print what it would run. Every error is listed, each prefixed with the file path; warnings
//! (accepted, but maybe not what was meant) go to stderr and keep the exit code 0.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use super::{ExitCode, Failure};
use crate::profile::{self, Content, Profile};
use crate::units::format_us;

#[derive(Args, Debug)]
pub(super) struct ValidateArgs {
    /// Profile to check (JSON; nexus-loadtest profiles are accepted unchanged).
    pub profile: PathBuf,
}

/// Validates the profile and prints a summary; exit 0 (also with warnings), or a usage
/// failure (exit 2).
pub(super) fn run(args: ValidateArgs) -> Result<ExitCode, Failure> {
    let profile =
        profile::load(&args.profile).map_err(|errs| Failure::usage(errors(&args.profile, &errs)))?;
    for w in &profile.warnings {
        eprintln!("llmload: warning: {}: {w}", args.profile.display());
    }
    print!("{}", summary(&args.profile, &profile));
    Ok(ExitCode::Pass)
}

/// All errors, one per line, each prefixed with the file path.
fn errors(path: &Path, errs: &[String]) -> String {
    let path = path.display();
    errs.iter().map(|e| format!("{path}: {e}")).collect::<Vec<_>>().join("\n")
}

/// The human summary of a valid profile.
fn summary(path: &Path, p: &Profile) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}: ok", path.display());
    if let Some(c) = p.comment.as_deref().filter(|c| !c.trim().is_empty()) {
        let _ = writeln!(out, "  {}", c.trim().replace('\n', "\n  "));
    }
    let total: std::time::Duration = p.stages.iter().map(|s| s.duration).sum();
    let list: Vec<String> = p.stages.iter().map(ToString::to_string).collect();
    let _ = writeln!(out, "stages ({}, {} total): {}", p.stages.len(), secs(total), list.join(", "));
    let mut extras = vec![format!("warmup {} per stage", secs(p.warmup))];
    if let Some(a) = p.arrival {
        extras.push(format!("arrival {}", a.as_str()));
    }
    if let Some(n) = p.max_inflight {
        extras.push(format!("max_inflight {n}"));
    }
    if let Some(n) = p.connections {
        extras.push(format!("connections {n}"));
    }
    if let Some(g) = p.grace {
        extras.push(format!("grace {}", secs(g)));
    }
    if let Some(s) = p.seed {
        extras.push(format!("seed {s}"));
    }
    if let Some(t) = p.tokenizer {
        extras.push(format!("tokenizer {}", t.name()));
    }
    let _ = writeln!(out, "  {}", extras.join(", "));
    let weights: u64 = p.scenarios.iter().map(|s| u64::from(s.weight)).sum();
    let _ = writeln!(out, "scenarios ({}):", p.scenarios.len());
    let rows: Vec<Vec<String>> = p
        .scenarios
        .iter()
        .map(|s| {
            let share = 100.0 * f64::from(s.weight) / weights.max(1) as f64;
            let turns = match s.turns {
                (a, b) if a == b => a.to_string(),
                (a, b) => format!("{a}..{b}"),
            };
            vec![
                s.name.clone(),
                format!("weight {} ({share:.0}%)", s.weight),
                s.protocol.name().to_string(),
                if s.stream { "stream" } else { "non-stream" }.to_string(),
                content(&s.content),
                format!("turns {turns}"),
                format!("max_tokens {}", s.max_tokens),
                format!("model {}", s.model),
                s.target.clone(),
            ]
        })
        .collect();
    let widths: Vec<usize> =
        (0..9).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    for row in &rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:w$}")).collect();
        let _ = writeln!(out, "  {}", cells.join("  ").trim_end());
    }
    let limits: Vec<String> = p.thresholds.iter().map(|l| format!("{} {}", l.name, l.bound)).collect();
    let limits = if limits.is_empty() { "none".to_string() } else { limits.join(", ") };
    let _ = writeln!(out, "thresholds: {limits}");
    let header = p.correlation.header.as_deref().unwrap_or("none");
    let _ = writeln!(
        out,
        "cache_mode {}, correlation header {header}, timeout {}, think_time {}",
        p.cache_mode.as_str(),
        secs(p.timeout),
        secs(p.think_time)
    );
    out
}

fn content(c: &Content) -> String {
    match c {
        Content::Pool(p) => format!("pool({} prompts)", p.len()),
        Content::Scripted(s) => format!("scripted({} lines)", s.len()),
        Content::Sized(n) => format!("sized(~{n} tokens)"),
        Content::Dataset(d) => format!(
            "dataset({} {}, {} entries)",
            d.data.format.name(),
            d.data.path.display(),
            d.data.conversations.len()
        ),
    }
}

fn secs(d: std::time::Duration) -> String {
    format_us(d.as_micros() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles").join(name)
    }

    #[test]
    fn summarises_a_valid_profile() {
        let path = shipped("realistic.json");
        let p = profile::load(&path).unwrap();
        let s = summary(&path, &p);
        assert!(s.contains("realistic.json: ok"), "{s}");
        assert!(s.contains("scenarios (3):"), "{s}");
        assert!(s.contains("weight 55 (55%)"), "{s}");
        assert!(s.contains("scripted(4 lines)"), "{s}");
        assert!(s.contains("thresholds: error_rate 0.02"), "{s}");
        assert_eq!(run(ValidateArgs { profile: path }).unwrap(), super::super::ExitCode::Pass);
    }

    #[test]
    fn lists_every_error_with_the_path() {
        let dir = std::env::temp_dir().join(format!("llmload-validate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.json");
        std::fs::write(&path, r#"{"stages": ["10:5"], "defaults": {"target": "ftp://x", "model": "m"}}"#)
            .unwrap();
        let f = run(ValidateArgs { profile: path.clone() }).unwrap_err();
        assert_eq!(f.code, super::super::ExitCode::Usage);
        let lines: Vec<&str> = f.message.lines().collect();
        assert_eq!(lines.len(), 2, "{}", f.message);
        assert!(lines.iter().all(|l| l.starts_with(&format!("{}: ", path.display()))), "{}", f.message);
        let missing = run(ValidateArgs { profile: dir.join("missing.json") }).unwrap_err();
        assert!(missing.message.contains("cannot read the profile"), "{}", missing.message);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
