//! Datasets: prompts and conversations read from a file (`jsonl`, `sharegpt`, `text`), loaded
//! whole and checked once when the profile is resolved, before any load. Every message is
//! kept as a JSON string literal, escaped here once, so a turn only copies bytes.
//!
//! This module imports nothing from `profile` (the profile holds a loaded `Dataset`); its
//! errors are `file:line: what`, the first `MAX_ERRORS` of a file, and the caller names the
//! profile field.

mod jsonl;
pub(crate) mod replay;
mod sharegpt;
mod text;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::names::did_you_mean;
use crate::protocol::{json_string, Message};
use crate::tokens::Counter;

/// Errors reported per file; the rest are counted.
const MAX_ERRORS: usize = 10;

/// How a dataset file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// One JSON object per line: `prompt` or `messages`, optional `max_tokens`.
    Jsonl,
    /// The ShareGPT JSON array of multi-turn conversations.
    ShareGpt,
    /// One prompt per line.
    Text,
}

impl Format {
    /// The names as written in profiles and `--dataset-format`.
    pub(crate) const NAMES: [&'static str; 3] = ["jsonl", "sharegpt", "text"];

    pub(crate) fn parse(name: &str) -> Option<Format> {
        match name {
            "jsonl" => Some(Format::Jsonl),
            "sharegpt" => Some(Format::ShareGpt),
            "text" => Some(Format::Text),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::ShareGpt => "sharegpt",
            Format::Text => "text",
        }
    }

    /// The format a file's extension implies: `.jsonl`, `.json` (ShareGPT's one array) and
    /// `.txt`.
    pub(crate) fn from_extension(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "jsonl" => Some(Format::Jsonl),
            "json" => Some(Format::ShareGpt),
            "txt" => Some(Format::Text),
            _ => None,
        }
    }
}

/// Which entry a new conversation replays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Order {
    /// Entries in file order, across all conversations of the scenario, then again.
    #[default]
    Sequential,
    /// A uniform draw per conversation.
    Random,
}

impl Order {
    pub(crate) const NAMES: [&'static str; 2] = ["sequential", "random"];

    pub(crate) fn parse(name: &str) -> Option<Order> {
        match name {
            "sequential" => Some(Order::Sequential),
            "random" => Some(Order::Random),
            _ => None,
        }
    }
}

/// What a multi-turn replay puts in the history after each turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum History {
    /// The server's reply (what a real client would send on).
    #[default]
    Live,
    /// The reply recorded in the dataset (every run sends the same conversation).
    Recorded,
}

impl History {
    pub(crate) const NAMES: [&'static str; 2] = ["live", "recorded"];

    pub(crate) fn parse(name: &str) -> Option<History> {
        match name {
            "live" => Some(History::Live),
            "recorded" => Some(History::Recorded),
            _ => None,
        }
    }
}

/// Bounds applied while loading.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Entries whose first request is longer (in tokens) are skipped and counted.
    pub max_prompt_tokens: Option<u32>,
    /// The largest `max_tokens` an entry may ask for (a recorded reply's length is capped).
    pub max_output_tokens: u32,
}

/// One turn of a replayed conversation.
#[derive(Clone, Debug)]
pub(crate) struct Turn {
    /// What the turn adds to the history before asking for a reply, oldest first, ending with
    /// a user message (more than one only for a jsonl `messages` entry).
    pub messages: Vec<Message>,
    /// The turn's `max_tokens`, when the entry gives it (else the scenario's).
    pub max_tokens: Option<u32>,
    /// The reply recorded in the dataset, as a JSON string literal (ShareGPT).
    pub reply_json: Option<String>,
}

/// One entry: a conversation of one or more turns.
#[derive(Clone, Debug)]
pub(crate) struct Conversation {
    /// The entry's own system prompt (a JSON string literal); it replaces the scenario's.
    pub system_json: Option<String>,
    pub turns: Vec<Turn>,
}

/// A loaded, checked dataset.
pub(crate) struct Dataset {
    /// The file as opened.
    pub path: PathBuf,
    pub format: Format,
    pub max_prompt_tokens: Option<u32>,
    /// At least one.
    pub conversations: Vec<Conversation>,
    /// What was skipped, as `file: skipped …`.
    pub warnings: Vec<String>,
}

/// Datasets are equal when read from the same file the same way (their contents are not
/// compared: a profile equals itself without a walk over a large file).
impl PartialEq for Dataset {
    fn eq(&self, other: &Self) -> bool {
        (&self.path, self.format, self.max_prompt_tokens, self.conversations.len())
            == (&other.path, other.format, other.max_prompt_tokens, other.conversations.len())
    }
}

impl Eq for Dataset {}

impl fmt::Debug for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("max_prompt_tokens", &self.max_prompt_tokens)
            .field("conversations", &self.conversations.len())
            .finish()
    }
}

impl Dataset {
    /// Reads and checks `path`; every error is `file:line: what` (or `file: what`), the
    /// first `MAX_ERRORS` of them. `counter` counts tokens for `max_prompt_tokens` and for
    /// recorded reply lengths.
    pub(crate) fn load(
        path: &Path,
        format: Format,
        limits: Limits,
        counter: Counter,
    ) -> Result<Dataset, Vec<String>> {
        let file = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| vec![format!("cannot read {file}: {e}")])?;
        let mut errs = Errors { file: file.clone(), list: Vec::new(), more: 0 };
        let mut b = Builder { counter, limits, seen: 0, too_long: 0, no_prompt: 0, out: Vec::new() };
        match format {
            Format::Jsonl => jsonl::read(&bytes, &mut b, &mut errs),
            Format::ShareGpt => sharegpt::read(&bytes, &mut b, &mut errs),
            Format::Text => text::read(&bytes, &mut b, &mut errs),
        }
        errs.finish()?;
        let (conversations, warnings) = b.finish(&file)?;
        Ok(Dataset {
            path: path.to_path_buf(),
            format,
            max_prompt_tokens: limits.max_prompt_tokens,
            conversations,
            warnings,
        })
    }

    /// The fewest and most turns of its conversations.
    pub(crate) fn turn_range(&self) -> (u32, u32) {
        let turns = self.conversations.iter().map(|c| c.turns.len() as u32);
        (turns.clone().min().unwrap_or(1), turns.max().unwrap_or(1))
    }
}

/// A file's errors: the first `MAX_ERRORS` kept, the rest counted.
struct Errors {
    file: String,
    list: Vec<String>,
    more: usize,
}

impl Errors {
    /// `file:line: what`.
    fn at(&mut self, line: usize, what: impl fmt::Display) {
        self.push(|file| format!("{file}:{line}: {what}"));
    }

    /// `file: entry N (line L): what`, for one element of a file that is a single array.
    fn entry(&mut self, index: usize, line: usize, what: impl fmt::Display) {
        self.push(|file| format!("{file}: entry {index} (line {line}): {what}"));
    }

    fn push(&mut self, message: impl FnOnce(&str) -> String) {
        if self.list.len() < MAX_ERRORS {
            self.list.push(message(&self.file));
        } else {
            self.more += 1;
        }
    }

    fn finish(mut self) -> Result<(), Vec<String>> {
        if self.more > 0 {
            self.list.push(format!("{}: … and {} more", self.file, self.more));
        }
        if self.list.is_empty() {
            Ok(())
        } else {
            Err(self.list)
        }
    }
}

/// Collects the entries a reader accepts, skipping and counting those over
/// `max_prompt_tokens` or without a prompt.
struct Builder {
    counter: Counter,
    limits: Limits,
    /// Entries read (kept or skipped).
    seen: usize,
    too_long: usize,
    no_prompt: usize,
    out: Vec<Conversation>,
}

impl Builder {
    fn count(&self, text: &str) -> u32 {
        self.counter.count(text)
    }

    /// A recorded reply's length as a `max_tokens`: at least 1, at most the limit.
    fn reply_tokens(&self, text: &str) -> u32 {
        self.count(text).clamp(1, self.limits.max_output_tokens)
    }

    /// An entry whose first request has `first_tokens` prompt tokens.
    fn add(&mut self, conversation: Conversation, first_tokens: u32) {
        self.seen += 1;
        if self.limits.max_prompt_tokens.is_some_and(|max| first_tokens > max) {
            self.too_long += 1;
        } else {
            self.out.push(conversation);
        }
    }

    /// An entry with nothing to send.
    fn skip_no_prompt(&mut self) {
        self.seen += 1;
        self.no_prompt += 1;
    }

    fn finish(self, file: &str) -> Result<(Vec<Conversation>, Vec<String>), Vec<String>> {
        let n = self.seen;
        let mut skipped = Vec::new();
        if self.no_prompt > 0 {
            skipped.push(format!("skipped {} of {n} entries with no human turn", self.no_prompt));
        }
        if let (Some(max), true) = (self.limits.max_prompt_tokens, self.too_long > 0) {
            skipped.push(format!(
                "skipped {} of {n} entries longer than {max} tokens (counted with {})",
                self.too_long,
                self.counter.name()
            ));
        }
        if n == 0 {
            return Err(vec![format!("{file}: no entries (an empty dataset)")]);
        }
        if self.out.is_empty() {
            return Err(vec![format!("{file}: no entry left to send ({})", skipped.join("; "))]);
        }
        Ok((self.out, skipped.into_iter().map(|s| format!("{file}: {s}")).collect()))
    }
}

/// A user or assistant message with its content escaped.
fn message(role: crate::protocol::Role, text: &str) -> Message {
    Message { role, content_json: literal(text) }
}

/// `text` as a JSON string literal.
fn literal(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    json_string(text, &mut s);
    s
}

/// A serde error inside one JSON value, as `path: reason` (unknown fields and variants get
/// the nearest known name), without serde_json's " at line L column C".
fn describe(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let inner = e.inner();
    let full = inner.to_string();
    let suffix = format!(" at line {} column {}", inner.line(), inner.column());
    let reason = full.strip_suffix(&suffix).unwrap_or(&full);
    let reason = unknown_name(reason).unwrap_or_else(|| reason.to_string());
    // A syntax error has no path worth naming (serde_path_to_error gives `?`).
    let data_error = inner.classify() == serde_json::error::Category::Data;
    match e.path().to_string().as_str() {
        "." => reason,
        _ if !data_error => reason,
        path => format!("{path}: {reason}"),
    }
}

/// serde's "unknown field `x`, expected one of `a`, `b`" (or variant) in our words.
fn unknown_name(reason: &str) -> Option<String> {
    let (what, rest) = [("field", "unknown field `"), ("value", "unknown variant `")]
        .into_iter()
        .find_map(|(what, prefix)| reason.strip_prefix(prefix).map(|rest| (what, rest)))?;
    let (name, expected) = rest.split_once('`')?;
    let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let mut out = match what {
        // The path already ends with the field's name.
        "field" => format!("unknown field (known: {})", known.join(", ")),
        _ => format!("{name:?} is not one of {}", known.join(", ")),
    };
    if let Some(s) = did_you_mean(name, &known) {
        out.push_str(&format!("; did you mean {s:?}?"));
    }
    Some(out)
}

#[cfg(test)]
mod tests;
