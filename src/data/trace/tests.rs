use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::csv::{parse_datetime_us, parse_scaled};
use super::*;

/// A file in the temp directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, content: &[u8]) -> TempFile {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("llmload-trace-{}-{n}-{name}", std::process::id()));
        std::fs::write(&path, content).unwrap();
        TempFile(path)
    }

    fn shown(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/data").join(name)
}

fn records(path: &Path, format: TraceFormat) -> Vec<Record> {
    TraceReader::open(path, format).unwrap().map(|r| r.unwrap()).collect()
}

/// The errors of scanning `content` as `format`, with the temp path replaced by `F`.
fn scan_errors(format: TraceFormat, content: &str) -> Vec<String> {
    let file = TempFile::new("bad", content.as_bytes());
    let errors = scan(&file.0, format, None).expect_err("the trace should be refused");
    errors.into_iter().map(|e| e.replace(&file.shown(), "F")).collect()
}

/// The one error of `content`, which must be on `line` and mention each of `words`.
fn one_error(format: TraceFormat, content: &str, line: u64, words: &[&str]) {
    let errors = scan_errors(format, content);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let prefix = format!("F:{line}: ");
    assert!(errors[0].starts_with(&prefix), "{:?} should start with {prefix:?}", errors[0]);
    for w in words {
        assert!(errors[0].contains(w), "{:?} should mention {w:?}", errors[0]);
    }
}

const MC_OK: &str = r#"{"timestamp": 0, "input_length": 600, "output_length": 10, "hash_ids": [0, 1]}"#;

#[test]
fn format_names_round_trip() {
    for name in TraceFormat::NAMES {
        assert_eq!(TraceFormat::parse(name).map(TraceFormat::name), Some(name));
    }
    assert_eq!(TraceFormat::parse("burstgpt"), Some(TraceFormat::BurstGpt));
    assert_eq!(TraceFormat::parse("Mooncake"), None);
    assert_eq!(TraceFormat::parse("csv"), None);
}

#[test]
fn mooncake_sample_matches_its_lines() {
    let path = sample("mooncake-sample.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let got = records(&path, TraceFormat::Mooncake);
    assert_eq!(got.len(), 40);
    for (i, (line, r)) in text.lines().zip(&got).enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(r.line, i as u64 + 1);
        assert_eq!(r.offset_us, v["timestamp"].as_u64().unwrap() * 1000);
        assert_eq!(u64::from(r.input_tokens), v["input_length"].as_u64().unwrap());
        assert_eq!(u64::from(r.output_tokens), v["output_length"].as_u64().unwrap());
        let ids: Vec<u64> = v["hash_ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
        assert_eq!(r.hash_ids, ids);
        // Mooncake's blocks are 512 tokens: the input fills exactly its last block.
        assert_eq!(r.input_tokens.div_ceil(512) as usize, r.hash_ids.len());
        assert!(r.prompt.is_none() && r.messages.is_none() && r.session.is_none());
    }
    // The sample shows prefix sharing: many records start with a block another one has.
    let sharing =
        got.iter().filter(|r| got.iter().any(|o| o.line != r.line && o.hash_ids[0] == r.hash_ids[0]));
    assert!(sharing.count() >= 20);
    let info: TraceInfo = scan(&path, TraceFormat::Mooncake, None).unwrap();
    assert_eq!(info.records, 40);
    assert_eq!(info.span_us, got[39].offset_us);
    assert_eq!(info.total_input_tokens, got.iter().map(|r| u64::from(r.input_tokens)).sum::<u64>());
    assert_eq!(info.total_output_tokens, got.iter().map(|r| u64::from(r.output_tokens)).sum::<u64>());
    assert_eq!(info.max_input_tokens, got.iter().map(|r| r.input_tokens).max().unwrap());
    assert_eq!(info.skipped, 0);
    assert!(info.sessions.is_empty());
}

#[test]
fn azure_sample_scans() {
    let path = sample("azure-sample.csv");
    let got = records(&path, TraceFormat::Azure);
    assert_eq!(got.len(), 40);
    assert_eq!((got[0].line, got[0].offset_us, got[0].input_tokens, got[0].output_tokens), (2, 0, 391, 39));
    // 2024-05-13 09:30:00.2932740 after 09:30:00.0000000.
    assert_eq!((got[1].offset_us, got[1].input_tokens, got[1].output_tokens), (293_274, 2224, 334));
    let info = scan(&path, TraceFormat::Azure, None).unwrap();
    assert_eq!((info.records, info.span_us), (40, got[39].offset_us));
}

#[test]
fn azure_offsets_are_exact_to_the_microsecond() {
    let file = TempFile::new(
        "azure.csv",
        b"TIMESTAMP,ContextTokens,GeneratedTokens\n\
          2023-11-16 18:15:46.6805900,4808,10\n\
          2023-11-16 18:15:47.0000004,3180,8\n\
          2023-11-16 18:15:47.0000005,3180,8\n\
          2023-11-17 00:00:00.5,110,27\n\
          2024-01-01 00:00:00,34,12\n",
    );
    let got: Vec<u64> = records(&file.0, TraceFormat::Azure).iter().map(|r| r.offset_us).collect();
    // 47.000000(4) - 46.680590 = 0.319410 s; 100 ns digits round to the nearest µs.
    // Midnight: 5 h 44 min 13.319410 s after 18:15:46.680590, plus .5 s.
    let jan1 = (46 * 86_400 - (18 * 3600 + 15 * 60 + 46)) as u64 * 1_000_000 - 680_590;
    assert_eq!(got, vec![0, 319_410, 319_411, 20_653_819_410, jan1]);
}

#[test]
fn datetimes_parse_strictly() {
    assert_eq!(parse_datetime_us("1970-01-01 00:00:00"), Some(0));
    assert_eq!(parse_datetime_us("1970-01-01T00:00:01.5Z"), Some(1_500_000));
    assert_eq!(parse_datetime_us("1970-01-01 01:00:00+01:00"), Some(0));
    assert_eq!(parse_datetime_us("1970-01-01 00:00:00.123456789-0030"), Some(1_800_123_457));
    assert_eq!(parse_datetime_us("2024-02-29 12:00:00").map(|us| us % 86_400_000_000), Some(43_200_000_000));
    for bad in [
        "2023-02-29 00:00:00",
        "2023-13-01 00:00:00",
        "2023-11-16 24:00:00",
        "2023-11-16 18:15",
        "2023-11-16 18:15:46.",
        "2023-11-16 18:15:46.1234567890",
        "2023-11-16 18:15:46 PST",
        "16/11/2023 18:15:46",
    ] {
        assert_eq!(parse_datetime_us(bad), None, "{bad}");
    }
}

#[test]
fn decimals_scale_exactly() {
    assert_eq!(parse_scaled("12", 6), Some(12_000_000));
    assert_eq!(parse_scaled("12.5", 6), Some(12_500_000));
    assert_eq!(parse_scaled(".25", 6), Some(250_000));
    assert_eq!(parse_scaled("5.", 6), Some(5_000_000));
    assert_eq!(parse_scaled("0.0000005", 6), Some(1));
    assert_eq!(parse_scaled("0.0000004", 6), Some(0));
    assert_eq!(parse_scaled("1234567.123456", 6), Some(1_234_567_123_456));
    assert_eq!(parse_scaled("1e3", 6), Some(1_000_000_000));
    for bad in ["", ".", "-1", "1.2.3", "abc", "1,5", "NaN"] {
        assert_eq!(parse_scaled(bad, 6), None, "{bad}");
    }
}

#[test]
fn burstgpt_sample_skips_failed_rows() {
    let path = sample("burstgpt-sample.csv");
    let mut reader = TraceReader::open(&path, TraceFormat::BurstGpt).unwrap();
    let got: Vec<Record> = reader.by_ref().map(|r| r.unwrap()).collect();
    assert_eq!((got.len(), reader.skipped()), (38, 2));
    // Timestamps 5.000 and 6.130 s: offsets from the first record.
    assert_eq!((got[0].offset_us, got[1].offset_us), (0, 1_130_000));
    // The quoted Model column parses like the others.
    assert_eq!((got[4].line, got[4].input_tokens, got[4].output_tokens), (6, 685, 327));
    // The failed row 11 is gone: line 10 is followed by line 12.
    assert_eq!((got[8].line, got[9].line), (10, 12));
    let info = scan(&path, TraceFormat::BurstGpt, None).unwrap();
    assert_eq!((info.records, info.skipped, info.span_us), (38, 2, got[37].offset_us));
}

#[test]
fn jsonl_sample_has_content_and_sessions() {
    let path = sample("trace-sample.jsonl");
    let got = records(&path, TraceFormat::Jsonl);
    assert_eq!(got.len(), 24);
    assert_eq!((got[2].offset_us, got[2].input_tokens), (1_350_000, 95));
    assert!(got[2].prompt.as_deref().unwrap().starts_with("Summarise the trade-offs"));
    let messages = got[4].messages.as_ref().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0], ("system".into(), "You are a terse assistant. Answer in one sentence.".into()));
    assert_eq!(messages[1].0, "user");
    let turns = |id: &str| got.iter().filter(|r| r.session.as_deref() == Some(id)).count();
    assert_eq!((turns("chat-a"), turns("chat-b"), turns("chat-c")), (3, 2, 3));
    let info = scan(&path, TraceFormat::Jsonl, None).unwrap();
    let last: Vec<(&str, u64)> =
        ["chat-a", "chat-b", "chat-c"].iter().map(|id| (*id, info.sessions[*id].last)).collect();
    assert_eq!(last, vec![("chat-a", 14), ("chat-b", 10), ("chat-c", 16)]);
    assert_eq!(info.sessions.len(), 3);
    assert_eq!(info.sessions["chat-b"].turns, 2);
    assert_eq!(info.span_us, 17_450_000);
}

#[test]
fn mooncake_accepts_fractional_timestamps_and_extra_fields() {
    let file = TempFile::new(
        "mc.jsonl",
        br#"{"timestamp": 3052.5, "input_length": 7, "output_length": 1, "hash_ids": [], "note": "x"}
{"timestamp": 3053.0004, "input_length": 7, "output_length": 1, "hash_ids": [3]}
"#,
    );
    let got = records(&file.0, TraceFormat::Mooncake);
    assert_eq!(got.iter().map(|r| r.offset_us).collect::<Vec<_>>(), vec![0, 500]);
}

#[test]
fn mooncake_bad_lines_name_line_and_field() {
    use TraceFormat::Mooncake as M;
    let bad = |line: &str| format!("{MC_OK}\n\n{line}\n{MC_OK}\n");
    one_error(M, &bad(r#"{"timestamp": 1, "input_length": 5, "output_length": 1}"#), 3, &["hash_ids"]);
    one_error(
        M,
        &bad(r#"{"timestamp": 1, "input_length": "5", "output_length": 1, "hash_ids": []}"#),
        3,
        &["input_length:", "string"],
    );
    one_error(
        M,
        &bad(r#"{"timestamp": 1, "input_length": 5, "output_length": 0, "hash_ids": []}"#),
        3,
        &["output_length is 0"],
    );
    one_error(
        M,
        &bad(r#"{"timestamp": 1, "input_length": 0, "output_length": 9, "hash_ids": []}"#),
        3,
        &["input_length is 0"],
    );
    one_error(
        M,
        &bad(r#"{"timestamp": 1, "input_length": 10000001, "output_length": 9, "hash_ids": []}"#),
        3,
        &["input_length 10000001", "10000000"],
    );
    one_error(
        M,
        &bad(r#"{"timestamp": 1, "input_length": 5, "output_length": 1000001, "hash_ids": []}"#),
        3,
        &["output_length 1000001", "1000000"],
    );
    one_error(
        M,
        &bad(r#"{"timestamp": -1, "input_length": 5, "output_length": 1, "hash_ids": []}"#),
        3,
        &["timestamp -1"],
    );
    one_error(
        M,
        &bad(r#"{"timestamp": 1, "input_length": 5, "output_length": 1, "hash_ids": [1, -2]}"#),
        3,
        &["hash_ids[1]"],
    );
    one_error(M, &bad(r#"{"timestamp": 1, "input_length": 5"#), 3, &["not valid JSON", "column"]);
    one_error(
        M,
        &bad(r#"{"timestamp": 1, "input_length": 5, "output_length": 1, "hash_ids": []} x"#),
        3,
        &["not valid JSON"],
    );
    let mut bytes = format!("{MC_OK}\n").into_bytes();
    bytes.extend_from_slice(b"{\"timestamp\": 1, \"x\": \"\xff\"}\n");
    let file = TempFile::new("latin1.jsonl", &bytes);
    let errors = scan(&file.0, M, None).unwrap_err();
    assert_eq!(errors, vec![format!("{}:2: not UTF-8 text (byte 24)", file.shown())]);
}

#[test]
fn timestamps_must_not_go_backwards() {
    let line =
        |ms: &str| format!(r#"{{"timestamp": {ms}, "input_length": 5, "output_length": 1, "hash_ids": []}}"#);
    let trace = [line("100"), line("3052.5"), line("3000"), line("3100")].join("\n");
    // Both values, in the file's unit, and the line of the earlier one.
    one_error(TraceFormat::Mooncake, &trace, 3, &["timestamp 3000 is earlier than 3052.5 on line 2"]);
    let azure = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:04.0319600,1,1\n2023-11-16 18:17:03.9799600,1,1\n";
    one_error(
        TraceFormat::Azure,
        azure,
        3,
        &["2023-11-16 18:17:03.97996 is earlier than 2023-11-16 18:17:04.03196 on line 2"],
    );
    // The failed line leaves the clock alone: line 4 compares with line 2 and is fine.
    let file = TempFile::new("back.jsonl", trace.as_bytes());
    let got: Vec<Result<u64, String>> =
        TraceReader::open(&file.0, TraceFormat::Mooncake).unwrap().map(|r| r.map(|r| r.offset_us)).collect();
    assert_eq!(got.len(), 4);
    assert_eq!((&got[0], &got[1], &got[3]), (&Ok(0), &Ok(2_952_500), &Ok(3_000_000)));
    assert!(got[2].is_err());
}

#[test]
fn jsonl_bad_lines_name_line_and_field() {
    use TraceFormat::Jsonl as J;
    let ok = r#"{"timestamp_ms": 0, "input_tokens": 5, "output_tokens": 1}"#;
    let bad = |line: &str| format!("{ok}\n{line}\n");
    one_error(
        J,
        &bad(r#"{"timestamp_ms": 1, "input_token": 5, "output_tokens": 1}"#),
        2,
        &["unknown field `input_token`"],
    );
    one_error(J, &bad(r#"{"timestamp_ms": 1, "output_tokens": 1}"#), 2, &["missing field `input_tokens`"]);
    one_error(
        J,
        &bad(
            r#"{"timestamp_ms": 1, "input_tokens": 5, "output_tokens": 1, "prompt": "a", "messages": [{"role": "user", "content": "b"}]}"#,
        ),
        2,
        &["both prompt and messages"],
    );
    one_error(
        J,
        &bad(
            r#"{"timestamp_ms": 1, "input_tokens": 5, "output_tokens": 1, "messages": [{"role": "user", "content": "b"}, {"role": "assistant", "content": 7}]}"#,
        ),
        2,
        &["messages[1].content:"],
    );
    one_error(
        J,
        &bad(r#"{"timestamp_ms": 1, "input_tokens": 5, "output_tokens": 1, "messages": []}"#),
        2,
        &["messages is empty"],
    );
    one_error(
        J,
        &bad(r#"{"timestamp_ms": 1, "input_tokens": 5, "output_tokens": 1, "prompt": ""}"#),
        2,
        &["prompt is empty"],
    );
    one_error(
        J,
        &bad(r#"{"timestamp_ms": 1, "input_tokens": 5, "output_tokens": 1, "session_id": 3}"#),
        2,
        &["session_id:"],
    );
    one_error(
        J,
        &bad(r#"{"timestamp_ms": "1", "input_tokens": 5, "output_tokens": 1}"#),
        2,
        &["timestamp_ms:"],
    );
    // Escaped text is unescaped (the borrowed fields fall back to owned).
    let file = TempFile::new(
        "esc.jsonl",
        br#"{"timestamp_ms": 0, "input_tokens": 5, "output_tokens": 1, "prompt": "a\"b\n"}"#,
    );
    assert_eq!(records(&file.0, J)[0].prompt.as_deref(), Some("a\"b\n"));
}

#[test]
fn csv_bad_rows_name_line_and_column() {
    use TraceFormat::{Azure as A, BurstGpt as B};
    let az = |row: &str| {
        format!("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.9799600,1,1\n{row}\n")
    };
    one_error(A, &az("2023-11-16 18:17:99.0,1,1"), 3, &["TIMESTAMP \"2023-11-16 18:17:99.0\""]);
    one_error(A, &az("2023-11-16 18:17:04.0,many,1"), 3, &["ContextTokens \"many\""]);
    one_error(A, &az("2023-11-16 18:17:04.0,1,0"), 3, &["GeneratedTokens is 0"]);
    one_error(A, &az("2023-11-16 18:17:04.0,1"), 3, &["2 columns, expected 3"]);
    one_error(
        A,
        "Timestamp,ContextTokens,GeneratedTokens\n",
        1,
        &["no \"TIMESTAMP\" column", "case-sensitive"],
    );
    one_error(A, "\nTIMESTAMP,ContextTokens\n", 2, &["no \"GeneratedTokens\" column"]);
    let bg = |row: &str| {
        format!("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n5,ChatGPT,1,1,2,API log\n{row}\n")
    };
    one_error(B, &bg("6,\"GPT-4,1,1,2,API log"), 3, &["unclosed quote"]);
    one_error(B, &bg("6,\"GPT-4\"x,1,1,2,API log"), 3, &["after its closing quote"]);
    one_error(B, &bg("six,ChatGPT,1,1,2,API log"), 3, &["Timestamp \"six\""]);
    one_error(B, &bg("6,ChatGPT,0,4,4,API log"), 3, &["Request tokens is 0"]);
    one_error(B, "Time,Model,Request tokens,Response tokens\n", 1, &["no \"Timestamp\" column"]);
}

#[test]
fn csv_headers_in_any_order_or_none() {
    let file = TempFile::new(
        "reordered.csv",
        b"GeneratedTokens,TIMESTAMP,Extra,ContextTokens\n7,2023-11-16 18:17:03.9,x,40\n",
    );
    let r = &records(&file.0, TraceFormat::Azure)[0];
    assert_eq!((r.input_tokens, r.output_tokens), (40, 7));
    let file = TempFile::new("bare.csv", b"2023-11-16 18:17:03.9,40,7\n2023-11-16 18:17:04.9,41,8\n");
    let got = records(&file.0, TraceFormat::Azure);
    assert_eq!((got[1].line, got[1].offset_us, got[1].input_tokens), (2, 1_000_000, 41));
    let file = TempFile::new("bare-bg.csv", b"10.5,ChatGPT,100,20,120,Conversation log\n");
    assert_eq!(records(&file.0, TraceFormat::BurstGpt)[0].output_tokens, 20);
}

#[test]
fn crlf_bom_and_blank_lines_are_tolerated() {
    let file = TempFile::new(
        "win.csv",
        b"\xef\xbb\xbfTIMESTAMP,ContextTokens,GeneratedTokens\r\n\r\n2023-11-16 18:17:03.9,40,7\r\n   \r\n2023-11-16 18:17:04.9,41,8\r\n",
    );
    let got = records(&file.0, TraceFormat::Azure);
    assert_eq!(got.iter().map(|r| (r.line, r.output_tokens)).collect::<Vec<_>>(), vec![(3, 7), (5, 8)]);
}

#[test]
fn the_first_ten_errors_are_listed() {
    let bad = r#"{"timestamp": 1}"#;
    let trace =
        |n: usize| std::iter::once(MC_OK).chain(std::iter::repeat_n(bad, n)).collect::<Vec<_>>().join("\n");
    let errors = scan_errors(TraceFormat::Mooncake, &trace(15));
    assert_eq!(errors.len(), 11);
    for (i, e) in errors[..10].iter().enumerate() {
        assert!(e.starts_with(&format!("F:{}: ", i + 2)), "{e}");
    }
    assert_eq!(errors[10], "F: … and more (only the first 10 are listed)");
    let errors = scan_errors(TraceFormat::Mooncake, &trace(10));
    assert_eq!(errors.len(), 10);
    assert!(errors[9].starts_with("F:11: "));
}

#[test]
fn empty_missing_and_failed_only_traces_are_refused() {
    assert_eq!(scan_errors(TraceFormat::Mooncake, ""), vec!["F: the mooncake trace has no records"]);
    assert_eq!(scan_errors(TraceFormat::Jsonl, "\n  \n"), vec!["F: the jsonl trace has no records"]);
    assert_eq!(
        scan_errors(TraceFormat::Azure, "TIMESTAMP,ContextTokens,GeneratedTokens\n"),
        vec!["F: the azure trace has no records"]
    );
    let failed =
        "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n1,ChatGPT,5,0,5,API log\n";
    assert_eq!(
        scan_errors(TraceFormat::BurstGpt, failed),
        vec!["F: the burstgpt trace has no records (all 1 rows are failed requests with 0 Response tokens)"]
    );
    let missing = Path::new("/nonexistent/llmload/trace.jsonl");
    let errors = scan(missing, TraceFormat::Mooncake, None).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("/nonexistent/llmload/trace.jsonl: cannot open the mooncake trace: "),
        "{errors:?}"
    );
    let dir = scan(&std::env::temp_dir(), TraceFormat::Azure, None).unwrap_err();
    assert_eq!(dir, vec![format!("{}: is a directory, not a trace file", std::env::temp_dir().display())]);
}

#[test]
fn a_limit_reads_only_the_first_records() {
    let path = sample("mooncake-sample.jsonl");
    let all = records(&path, TraceFormat::Mooncake);
    let info = scan(&path, TraceFormat::Mooncake, Some(5)).unwrap();
    assert_eq!((info.records, info.span_us), (5, all[4].offset_us));
    assert_eq!(info.total_input_tokens, all[..5].iter().map(|r| u64::from(r.input_tokens)).sum::<u64>());
    // A bad line after the limit is never read.
    let trace = format!("{MC_OK}\n{MC_OK}\nnot json\n");
    let file = TempFile::new("limit.jsonl", trace.as_bytes());
    assert_eq!(scan(&file.0, TraceFormat::Mooncake, Some(2)).unwrap().records, 2);
    assert!(scan(&file.0, TraceFormat::Mooncake, Some(3)).is_err());
}

#[test]
fn a_large_generated_trace_scans_in_one_pass() {
    // 200,000 records with shared leading blocks, written as the file is generated.
    let file = TempFile::new("large.jsonl", b"");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file.0).unwrap());
    let (mut total_in, mut total_out, mut max_in, mut ts_ms) = (0u64, 0u64, 0u32, 0u64);
    let mut next_id = 1000u64;
    let mut ids = String::new();
    for i in 0..200_000u64 {
        ts_ms += i % 7;
        let own = 1 + i % 5;
        ids.clear();
        ids.push_str(&format!("{}, {}", i % 16, 16 + i % 3)); // two shared system-prompt blocks
        for _ in 0..own {
            ids.push_str(&format!(", {next_id}"));
            next_id += 1;
        }
        let input = (2 + own as u32) * 512 - (i % 512) as u32;
        let output = 1 + (i % 900) as u32;
        (total_in, total_out, max_in) =
            (total_in + u64::from(input), total_out + u64::from(output), max_in.max(input));
        writeln!(out, r#"{{"timestamp": {ts_ms}, "input_length": {input}, "output_length": {output}, "hash_ids": [{ids}]}}"#)
            .unwrap();
    }
    drop(out);
    let info = scan(&file.0, TraceFormat::Mooncake, None).unwrap();
    assert_eq!(info.records, 200_000);
    assert_eq!(info.span_us, ts_ms * 1000);
    assert_eq!(
        (info.total_input_tokens, info.total_output_tokens, info.max_input_tokens),
        (total_in, total_out, max_in)
    );
    assert_eq!(info.skipped, 0);
}
