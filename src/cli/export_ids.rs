//! `llmload export-ids RUN_DIR|results.jsonl`: the run's conversation UUIDs (the value of the
//! correlation header) for joining client results with a server's request log.
//!
//! - `lines`: each distinct `conv_uuid` once, in order of first appearance.
//! - `csv`: one row per turn with a header line, RFC 4180 quoting, no value for a missing
//!   figure (PostgreSQL reads it as NULL): ready for psql `\copy … WITH (FORMAT csv, HEADER)`.
//! - `sql-values`: the distinct UUIDs as an SQL `VALUES ('…'), …` list.
//!
//! The file is read line by line (only the set of UUIDs already printed is kept). Warmup
//! turns are left out unless `--include-warmup`. A line that does not parse is an error
//! naming the file and the line number; exit 2 when the file cannot be opened, 1 for a bad
//! line or a write error.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::{ExitCode, Failure};
use crate::report::jsonl::Line;

#[derive(Args, Debug)]
pub(super) struct ExportIdsArgs {
    /// A run directory (its results.jsonl is read) or a results.jsonl file.
    pub input: PathBuf,
    /// lines: distinct conv_uuid, one per line; csv: one row per turn with a header
    /// (conv_uuid,turn,stage,scenario,intended_start_us,latency_us,ttft_us,status,error,
    /// completion_tokens); sql-values: the distinct ids as `VALUES ('…'), …`.
    #[arg(long, value_enum, default_value_t = Format::Lines)]
    pub format: Format,
    /// Include warmup turns (left out by default).
    #[arg(long)]
    pub include_warmup: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum Format {
    Lines,
    Csv,
    SqlValues,
}

/// The header of `--format csv`.
pub(super) const CSV_HEADER: &str =
    "conv_uuid,turn,stage,scenario,intended_start_us,latency_us,ttft_us,status,error,completion_tokens";

pub(super) fn run(args: ExportIdsArgs) -> Result<ExitCode, Failure> {
    let path = if args.input.is_dir() { args.input.join("results.jsonl") } else { args.input.clone() };
    let file = File::open(&path).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    let stdout = io::stdout().lock();
    let mut out = BufWriter::with_capacity(1 << 16, stdout);
    match export(BufReader::with_capacity(1 << 16, file), &path, &mut out, args.format, args.include_warmup)
        .and_then(|n| out.flush().map_err(ExportError::Write).map(|()| n))
    {
        Ok(_) => Ok(ExitCode::Pass),
        // `llmload export-ids … | head`: the reader left; not an error.
        Err(ExportError::Write(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::Pass),
        Err(ExportError::Write(e)) => Err(Failure::runtime(format!("writing the export: {e}"))),
        Err(ExportError::Input(msg)) => Err(Failure::usage(msg)),
    }
}

/// Why an export stopped.
#[derive(Debug)]
pub(super) enum ExportError {
    /// A bad or unreadable input line: `FILE:LINE: why`.
    Input(String),
    /// Writing the output failed.
    Write(io::Error),
}

/// Streams `input` (results.jsonl lines, `path` names it in errors) to `out`; returns the
/// number of rows written (ids for `lines`/`sql-values`, turns for `csv`).
pub(super) fn export<R: BufRead, W: Write>(
    mut input: R,
    path: &Path,
    out: &mut W,
    format: Format,
    include_warmup: bool,
) -> Result<u64, ExportError> {
    let w = ExportError::Write;
    let mut seen: HashSet<u128> = HashSet::new();
    let mut rows = 0u64;
    let mut buf = Vec::with_capacity(1024);
    let mut line_no = 0u64;
    let mut row = String::with_capacity(256);
    if format == Format::Csv {
        writeln!(out, "{CSV_HEADER}").map_err(w)?;
    }
    loop {
        buf.clear();
        let n = input
            .read_until(b'\n', &mut buf)
            .map_err(|e| ExportError::Input(format!("{}: line {}: {e}", path.display(), line_no + 1)))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let bad = |why: String| ExportError::Input(format!("{}:{line_no}: {why}", path.display()));
        let t: Line = serde_json::from_slice(&buf).map_err(|e| bad(e.to_string()))?;
        let id = parse_uuid(&t.conv_uuid)
            .ok_or_else(|| bad(format!("conv_uuid {:?} is not an RFC 4122 UUID", t.conv_uuid)))?;
        if t.warmup && !include_warmup {
            continue;
        }
        match format {
            Format::Csv => {
                row.clear();
                csv_row(&mut row, &t);
                out.write_all(row.as_bytes()).map_err(w)?;
                rows += 1;
            }
            Format::Lines | Format::SqlValues => {
                if !seen.insert(id) {
                    continue;
                }
                // The UUID was checked: only hex digits and hyphens, nothing to quote.
                let uuid = t.conv_uuid.to_ascii_lowercase();
                match (format, rows) {
                    (Format::Lines, _) => writeln!(out, "{uuid}"),
                    (_, 0) => write!(out, "VALUES\n  ('{uuid}')"),
                    _ => write!(out, ",\n  ('{uuid}')"),
                }
                .map_err(w)?;
                rows += 1;
            }
        }
    }
    if format == Format::SqlValues {
        if rows == 0 {
            return Err(ExportError::Input(format!(
                "{}: no conversations to export (an SQL VALUES list cannot be empty)",
                path.display()
            )));
        }
        writeln!(out).map_err(w)?;
    }
    Ok(rows)
}

/// One CSV row (with its line end) in the column order of [`CSV_HEADER`].
fn csv_row(out: &mut String, t: &Line) {
    use std::fmt::Write as _;
    csv_field(out, &t.conv_uuid);
    let _ = write!(out, ",{},{},", t.turn, t.stage);
    csv_field(out, &t.scenario);
    let _ = write!(out, ",{},{},", t.intended_start, t.latency_us);
    if let Some(ttft) = t.ttft_us {
        let _ = write!(out, "{ttft}");
    }
    let _ = write!(out, ",{},", t.status);
    if let Some(e) = &t.error {
        csv_field(out, e);
    }
    let _ = writeln!(out, ",{}", t.completion_tokens);
}

/// An RFC 4180 field: quoted when it holds a comma, quote, CR or LF, or is empty (so that
/// PostgreSQL reads an empty string, not NULL); quotes inside are doubled.
fn csv_field(out: &mut String, s: &str) {
    if !s.is_empty() && !s.contains([',', '"', '\r', '\n']) {
        out.push_str(s);
        return;
    }
    out.push('"');
    for c in s.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

/// The 128 bits of a canonical `8-4-4-4-12` hex UUID (either case), or None.
fn parse_uuid(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    if b.len() != 36 {
        return None;
    }
    let mut v: u128 = 0;
    for (i, &c) in b.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if c != b'-' {
                return None;
            }
            continue;
        }
        v = (v << 4) | (c as char).to_digit(16)? as u128;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0b5e3c1a-9f1d-4c2b-8a7e-2d4f6a8b0c1e";
    const B: &str = "7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2910";

    fn line(uuid: &str, turn: u32, extra: &str) -> String {
        format!(
            r#"{{"stage":1,"concurrency":2,"scenario":"chat","protocol":"openai-chat","conv_uuid":"{uuid}","turn":{turn},"turns_total":2,"stream":true,"intended_start":1700000000000000,"start":1700000000000100,"send_lag_us":100,"latency_us":250000,"service_us":249900,"ttfb_us":1000,"ttft_us":2000,"itl_mean_us":null,"itl_max_us":null,"tpot_us":null,"status":200,"prompt_tokens":5,"completion_tokens":7,"token_source":"usage","content_len":30,"warmup":false,"worker":0{extra}}}"#
        )
    }

    fn run_export(input: &str, format: Format, warmup: bool) -> Result<String, String> {
        let mut out = Vec::new();
        match export(input.as_bytes(), Path::new("r/results.jsonl"), &mut out, format, warmup) {
            Ok(_) => Ok(String::from_utf8(out).unwrap()),
            Err(ExportError::Input(m)) => Err(m),
            Err(ExportError::Write(e)) => Err(e.to_string()),
        }
    }

    #[test]
    fn lines_are_distinct_in_first_appearance_order() {
        let input = [line(B, 1, ""), line(A, 1, ""), line(B, 2, ""), line(A, 2, "")].join("\n") + "\n";
        assert_eq!(run_export(&input, Format::Lines, false).unwrap(), format!("{B}\n{A}\n"));
    }

    #[test]
    fn sql_values_list_the_distinct_ids() {
        let input = [line(A, 1, ""), line(A, 2, ""), line(B, 1, "")].join("\n");
        assert_eq!(
            run_export(&input, Format::SqlValues, false).unwrap(),
            format!("VALUES\n  ('{A}'),\n  ('{B}')\n")
        );
        let err = run_export("", Format::SqlValues, false).unwrap_err();
        assert!(err.contains("no conversations"), "{err}");
    }

    #[test]
    fn csv_has_the_header_one_row_per_turn_nulls_and_rfc4180_quoting() {
        let quirky = line(A, 2, "")
            .replace(r#""scenario":"chat""#, r#""scenario":"a,\"b\"\nc""#)
            .replace(r#""ttft_us":2000"#, r#""ttft_us":null,"error":"timeout""#);
        let empty = line(B, 1, "").replace(r#""scenario":"chat""#, r#""scenario":"""#);
        let input = [line(A, 1, ""), quirky, empty].join("\n") + "\n";
        let out = run_export(&input, Format::Csv, false).unwrap();
        let expected = format!(
            "{CSV_HEADER}\n\
             {A},1,1,chat,1700000000000000,250000,2000,200,,7\n\
             {A},2,1,\"a,\"\"b\"\"\nc\",1700000000000000,250000,,200,timeout,7\n\
             {B},1,1,\"\",1700000000000000,250000,2000,200,,7\n"
        );
        assert_eq!(out, expected);
    }

    #[test]
    fn warmup_turns_are_left_out_unless_asked_for() {
        let input =
            [line(A, 1, "").replace(r#""warmup":false"#, r#""warmup":true"#), line(B, 1, "")].join("\n");
        assert_eq!(run_export(&input, Format::Lines, false).unwrap(), format!("{B}\n"));
        assert_eq!(run_export(&input, Format::Lines, true).unwrap(), format!("{A}\n{B}\n"));
        let csv = run_export(&input, Format::Csv, false).unwrap();
        assert_eq!(csv.lines().count(), 2, "{csv}");
    }

    #[test]
    fn a_bad_line_names_the_file_and_line_number() {
        let cases = [
            (format!("{}\n{{\"stage\":", line(A, 1, "")), "r/results.jsonl:2: "),
            (format!("{}\n\n", line(A, 1, "")), "r/results.jsonl:2: "),
            (format!("{}\n{}", line(A, 1, ""), line("not-a-uuid", 1, "")), "r/results.jsonl:2: conv_uuid"),
            (line(A, 1, "").replace(r#""latency_us":250000,"#, ""), "r/results.jsonl:1: missing field"),
        ];
        for (input, want) in cases {
            for format in [Format::Lines, Format::Csv, Format::SqlValues] {
                let err = run_export(&input, format, false).unwrap_err();
                assert!(err.starts_with(want), "{format:?}: {err:?} should start with {want:?}");
            }
        }
    }

    #[test]
    fn uuids_parse_only_in_canonical_form() {
        assert!(parse_uuid(A).is_some());
        assert_eq!(parse_uuid(A), parse_uuid(&A.to_uppercase()));
        assert!(parse_uuid(&A.replace('-', "")).is_none());
        assert!(parse_uuid(&A.replacen('-', "x", 1)).is_none());
        assert!(parse_uuid(&format!("{A}0")).is_none());
        assert!(parse_uuid(&A.replacen('0', "g", 1)).is_none());
    }
}
