// TEMPORARY STUB until the trace readers land.
use std::collections::HashMap;
use std::path::Path;
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TraceFormat {
    Mooncake,
    Azure,
    BurstGpt,
    Jsonl,
}
impl TraceFormat {
    pub(crate) const NAMES: [&'static str; 4] = ["mooncake", "azure", "burstgpt", "jsonl"];
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "mooncake" => Some(Self::Mooncake),
            "azure" => Some(Self::Azure),
            "burstgpt" => Some(Self::BurstGpt),
            "jsonl" => Some(Self::Jsonl),
            _ => None,
        }
    }
    pub(crate) fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}
#[derive(Clone, Debug, Default)]
pub(crate) struct Record {
    pub line: u64,
    pub offset_us: u64,
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub hash_ids: Vec<u64>,
    pub prompt: Option<String>,
    pub messages: Option<Vec<(String, String)>>,
    pub session: Option<String>,
}
#[derive(Clone, Debug, Default)]
pub(crate) struct TraceInfo {
    pub records: u64,
    pub span_us: u64,
    pub skipped: u64,
    pub max_input_tokens: u32,
    pub total_input_tokens: u64,
    pub total_output_tokens: u64,
    pub sessions: HashMap<String, SessionSpan>,
}
#[derive(Clone, Debug, Default)]
pub(crate) struct SessionSpan {
    pub last: u64,
    pub turns: u32,
}
pub(crate) struct TraceReader;
impl TraceReader {
    pub(crate) fn open(_p: &Path, _f: TraceFormat) -> Result<TraceReader, String> {
        Err("stub".into())
    }
}
impl Iterator for TraceReader {
    type Item = Result<Record, String>;
    fn next(&mut self) -> Option<Self::Item> {
        None
    }
}
pub(crate) fn scan(_p: &Path, _f: TraceFormat, _l: Option<u64>) -> Result<TraceInfo, Vec<String>> {
    Err(vec!["stub".into()])
}
