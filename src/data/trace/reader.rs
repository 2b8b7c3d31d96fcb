//! [`TraceReader`]: a trace file read one line at a time through one reused buffer. The
//! format parsers turn a line into a [`Line`]; this file owns what every format shares:
//! line numbers, blank lines, token limits, arrival order and offsets from the first record.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::csv::{self, Columns};
use super::{json, Line, Record, TraceFormat, MAX_INPUT_TOKENS, MAX_OUTPUT_TOKENS};

/// A line longer than this is refused (it is not a trace line; a prompt of 10M tokens fits).
const MAX_LINE_BYTES: usize = 64 << 20;

/// Streams the records of one trace file. Items are `Err("{path}:{line}: what is wrong")`
/// for a bad line; iteration goes on after one, so a caller can list several. A line that
/// fails leaves the arrival clock where the last good record put it.
pub(crate) struct TraceReader {
    path: String,
    format: TraceFormat,
    input: BufReader<File>,
    buf: Vec<u8>,
    line: u64,
    /// CSV column positions, known after the first non-blank row.
    columns: Option<Columns>,
    fields: Vec<(usize, usize)>,
    /// The first record's timestamp (µs), the origin of every offset.
    first_us: Option<i64>,
    /// The last good record's timestamp (µs) and line.
    last: (i64, u64),
    skipped: u64,
    done: bool,
}

impl TraceReader {
    /// Opens `path` as a trace of `format`. Errors name the path.
    pub(crate) fn open(path: &Path, format: TraceFormat) -> Result<TraceReader, String> {
        let shown = path.display().to_string();
        let file =
            File::open(path).map_err(|e| format!("{shown}: cannot open the {} trace: {e}", format.name()))?;
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(format!("{shown}: is a directory, not a trace file"));
        }
        Ok(TraceReader {
            path: shown,
            format,
            input: BufReader::with_capacity(256 << 10, file),
            buf: Vec::with_capacity(4096),
            line: 0,
            columns: None,
            fields: Vec::new(),
            first_us: None,
            last: (0, 0),
            skipped: 0,
            done: false,
        })
    }

    /// BurstGPT rows skipped so far as failed requests (0 response tokens).
    pub(crate) fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Reads the next line into `buf`; false at the end of the file.
    fn read_line(&mut self) -> Result<bool, ReadError> {
        self.buf.clear();
        let limit = MAX_LINE_BYTES as u64 + 1;
        let n = (&mut self.input)
            .take(limit)
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| ReadError::Io(format!("{}:{}: cannot read: {e}", self.path, self.line + 1)))?;
        if n == 0 {
            return Ok(false);
        }
        self.line += 1;
        if self.buf.len() > MAX_LINE_BYTES {
            // Skip the rest of the monster line, so the next item starts on a fresh one.
            while !self.buf.ends_with(b"\n") {
                self.buf.clear();
                let n = (&mut self.input).take(limit).read_until(b'\n', &mut self.buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
            }
            self.buf = Vec::with_capacity(4096); // do not keep 64 MiB for the lines after it
            let mib = MAX_LINE_BYTES >> 20;
            return Err(ReadError::TooLong(format!(
                "{}:{}: line longer than {mib} MiB",
                self.path, self.line
            )));
        }
        Ok(true)
    }

    /// The record on the line in `buf`, `None` for a blank, header or skipped line.
    fn parse_current(&mut self) -> Result<Option<Record>, String> {
        let text = std::str::from_utf8(&self.buf)
            .map_err(|e| format!("not UTF-8 text (byte {})", e.valid_up_to() + 1))?;
        let text = text.strip_suffix('\n').unwrap_or(text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        let text = if self.line == 1 { text.strip_prefix('\u{feff}').unwrap_or(text) } else { text };
        if text.trim().is_empty() {
            return Ok(None);
        }
        let parsed = match self.format {
            TraceFormat::Mooncake => json::mooncake(text)?,
            TraceFormat::Jsonl => json::jsonl(text)?,
            TraceFormat::Azure | TraceFormat::BurstGpt => {
                csv::row(self.format, text, &mut self.columns, &mut self.fields)?
            }
        };
        let p = match parsed {
            Line::Record(p) => p,
            Line::Header => return Ok(None),
            Line::Failed => {
                self.skipped += 1;
                return Ok(None);
            }
        };
        let [ts_name, input_name, output_name] = self.format.field_names();
        let input_tokens = tokens(input_name, p.input, MAX_INPUT_TOKENS)?;
        let output_tokens = tokens(output_name, p.output, MAX_OUTPUT_TOKENS)?;
        let first = *self.first_us.get_or_insert(p.ts_us);
        let (last_us, last_line) = self.last;
        if last_line > 0 && p.ts_us < last_us {
            return Err(format!(
                "{ts_name} {} is earlier than {} on line {last_line}; records must be in arrival order",
                self.format.show_timestamp(p.ts_us),
                self.format.show_timestamp(last_us),
            ));
        }
        self.last = (p.ts_us, self.line);
        Ok(Some(Record {
            line: self.line,
            offset_us: (p.ts_us - first) as u64,
            input_tokens,
            output_tokens,
            hash_ids: p.hash_ids,
            prompt: p.prompt,
            messages: p.messages,
            session: p.session,
        }))
    }
}

/// Why a line could not be read.
enum ReadError {
    Io(String),
    TooLong(String),
}

/// A token count within 1..=`max`.
fn tokens(name: &str, n: u64, max: u64) -> Result<u32, String> {
    match n {
        0 => Err(format!("{name} is 0; a request needs at least 1 token")),
        n if n > max => Err(format!("{name} {n} is over the limit of {max}")),
        n => Ok(n as u32),
    }
}

impl Iterator for TraceReader {
    type Item = Result<Record, String>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.read_line() {
                Ok(true) => {}
                Ok(false) => self.done = true,
                // A read error ends the file; an over-long line does not.
                Err(ReadError::Io(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Err(ReadError::TooLong(e)) => return Some(Err(e)),
            }
            if self.done {
                break;
            }
            match self.parse_current() {
                Ok(Some(record)) => return Some(Ok(record)),
                Ok(None) => {}
                Err(e) => return Some(Err(format!("{}:{}: {e}", self.path, self.line))),
            }
        }
        None
    }
}
