//! Production traces, read as a stream: Mooncake JSONL, the Azure LLM inference CSV, BurstGPT
//! CSV, and llmload's own JSONL. Each line becomes one [`Record`]: when it arrived (µs after
//! the first record, unscaled), how many tokens it sent and asked for, and what the format
//! adds (Mooncake's block hashes; a prompt, messages or session id in our JSONL).
//!
//! Files are never loaded whole: [`TraceReader`] holds one line buffer, so a trace of millions
//! of records replays in the memory of one line. [`scan`] reads the file once up front, so
//! every bad line is reported as `file:line: what is wrong` before any load starts.
//!
//! This layer is pure: no engine, no clock, no randomness.

mod csv;
mod json;
mod reader;
mod scan;
#[cfg(test)]
mod tests;

pub(crate) use reader::TraceReader;
pub(crate) use scan::{scan, TraceInfo};

/// The largest input length a record may ask for (larger is a unit mix-up, not a request).
pub(crate) const MAX_INPUT_TOKENS: u64 = 10_000_000;
/// The largest output length a record may ask for.
pub(crate) const MAX_OUTPUT_TOKENS: u64 = 1_000_000;

/// A trace file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TraceFormat {
    /// Mooncake JSONL: `timestamp` (ms), `input_length`, `output_length`, `hash_ids`.
    Mooncake,
    /// Azure LLM inference CSV: `TIMESTAMP,ContextTokens,GeneratedTokens`, datetimes.
    Azure,
    /// BurstGPT CSV: `Timestamp` (s) … `Request tokens`, `Response tokens` …
    BurstGpt,
    /// llmload JSONL: `timestamp_ms`, `input_tokens`, `output_tokens`, optional content.
    Jsonl,
}

impl TraceFormat {
    /// Format names as written in profiles and on the command line, in variant order.
    pub(crate) const NAMES: [&'static str; 4] = ["mooncake", "azure", "burstgpt", "jsonl"];
    const ALL: [TraceFormat; 4] =
        [TraceFormat::Mooncake, TraceFormat::Azure, TraceFormat::BurstGpt, TraceFormat::Jsonl];

    /// The format called `name` (exact, lower case), if any.
    pub(crate) fn parse(name: &str) -> Option<TraceFormat> {
        Self::NAMES.iter().position(|n| *n == name).map(|i| Self::ALL[i])
    }

    /// The format's name, as [`TraceFormat::parse`] reads it.
    pub(crate) fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The names of the (timestamp, input, output) fields or columns, for messages.
    fn field_names(self) -> [&'static str; 3] {
        match self {
            TraceFormat::Mooncake => ["timestamp", "input_length", "output_length"],
            TraceFormat::Azure => ["TIMESTAMP", "ContextTokens", "GeneratedTokens"],
            TraceFormat::BurstGpt => ["Timestamp", "Request tokens", "Response tokens"],
            TraceFormat::Jsonl => ["timestamp_ms", "input_tokens", "output_tokens"],
        }
    }

    /// A timestamp (µs on the format's origin) as the format writes it: ms, s or a datetime.
    fn show_timestamp(self, us: i64) -> String {
        let decimal = |digits: usize| {
            let scale = 10i64.pow(digits as u32);
            let (whole, frac) = (us.div_euclid(scale), us.rem_euclid(scale));
            if frac == 0 {
                whole.to_string()
            } else {
                format!("{whole}.{}", format!("{frac:0digits$}").trim_end_matches('0'))
            }
        };
        match self {
            TraceFormat::Mooncake | TraceFormat::Jsonl => decimal(3),
            TraceFormat::BurstGpt => decimal(6),
            TraceFormat::Azure => csv::format_datetime_us(us),
        }
    }
}

/// One request of a trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Record {
    /// 1-based line in the file.
    pub(crate) line: u64,
    /// Microseconds after the first record's timestamp, unscaled.
    pub(crate) offset_us: u64,
    /// Prompt tokens (1 ..= [`MAX_INPUT_TOKENS`]).
    pub(crate) input_tokens: u32,
    /// Tokens to ask for (1 ..= [`MAX_OUTPUT_TOKENS`]).
    pub(crate) output_tokens: u32,
    /// Mooncake block hashes, in prompt order (empty in other formats).
    pub(crate) hash_ids: Vec<u64>,
    /// A verbatim prompt (llmload JSONL only).
    pub(crate) prompt: Option<String>,
    /// Chat messages as (role, content) (llmload JSONL only; never together with `prompt`).
    pub(crate) messages: Option<Vec<(String, String)>>,
    /// Conversation id: records of one session are turns of one conversation (llmload JSONL).
    pub(crate) session: Option<String>,
}

/// What a format parser found on one non-blank line.
enum Line {
    Record(Parsed),
    /// A CSV header row.
    Header,
    /// A BurstGPT failed request (0 response tokens): skipped and counted.
    Failed,
}

/// One record as the format wrote it, before the shared checks.
#[derive(Default)]
struct Parsed {
    /// The timestamp in µs, on the format's own origin (the epoch for Azure).
    ts_us: i64,
    input: u64,
    output: u64,
    hash_ids: Vec<u64>,
    prompt: Option<String>,
    messages: Option<Vec<(String, String)>>,
    session: Option<String>,
}
