//! `sharegpt`: ShareGPT's one JSON array of conversations (the shape of
//! `ShareGPT_V3_unfiltered_cleaned_split.json`):
//! `[{"id": "…", "conversations": [{"from": "human", "value": "…"}, {"from": "gpt", …}]}, …]`.
//!
//! `from` is read as vLLM's benchmarks read it: `human` / `user` is a user turn; `gpt` /
//! `chatgpt` / `bing` / `bard` / `assistant` the recorded reply; `system` the system prompt,
//! only before the first human turn. Replies before the first human turn (the tail of an
//! earlier part of a split conversation) are dropped, consecutive replies are one reply
//! (joined by a line break), and a human turn followed by another human turn has no recorded
//! reply. Other fields of an entry or a turn (`id`, `lang`, `markdown`) are ignored: the
//! variants of ShareGPT each add their own. An entry with no human turn is skipped and counted.
//!
//! Each entry is found by skipping over it, then parsed on its own, so the first ten bad
//! entries are all reported, each with its index and line.

use serde::de::{self, IgnoredAny};
use serde::{Deserialize, Deserializer};

use super::{describe, literal, message, Builder, Conversation, Errors, Turn};
use crate::names::did_you_mean;
use crate::protocol::Role;

/// The accepted values of `from`.
const SPEAKERS: [&str; 8] = ["human", "user", "gpt", "chatgpt", "bing", "bard", "assistant", "system"];

#[derive(Deserialize)]
#[serde(
    expecting = "a conversation like {\"id\": \"…\", \"conversations\": [{\"from\": \"human\", \"value\": \"…\"}]}"
)]
struct Entry {
    conversations: Vec<RawTurn>,
}

#[derive(Deserialize)]
#[serde(expecting = "a turn like {\"from\": \"human\", \"value\": \"…\"}")]
struct RawTurn {
    from: Speaker,
    value: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Speaker {
    Human,
    Gpt,
    System,
}

impl<'de> Deserialize<'de> for Speaker {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<str>::deserialize(d)?;
        match &*name {
            "human" | "user" => Ok(Speaker::Human),
            "gpt" | "chatgpt" | "bing" | "bard" | "assistant" => Ok(Speaker::Gpt),
            "system" => Ok(Speaker::System),
            other => {
                let mut msg = format!("{other:?} is not one of {}", SPEAKERS.join(", "));
                if let Some(s) = did_you_mean(other, &SPEAKERS) {
                    msg.push_str(&format!("; did you mean {s:?}?"));
                }
                Err(de::Error::custom(msg))
            }
        }
    }
}

/// Line numbers of byte offsets, asked for in increasing order.
struct Lines<'a> {
    bytes: &'a [u8],
    counted_to: usize,
    line: usize,
}

impl Lines<'_> {
    fn at(&mut self, offset: usize) -> usize {
        let offset = offset.min(self.bytes.len());
        if offset > self.counted_to {
            self.line += self.bytes[self.counted_to..offset].iter().filter(|&&c| c == b'\n').count();
            self.counted_to = offset;
        }
        self.line
    }
}

fn skip_ws(bytes: &[u8], mut pos: usize) -> usize {
    while bytes.get(pos).is_some_and(|c| c.is_ascii_whitespace()) {
        pos += 1;
    }
    pos
}

/// serde_json's message without its " at line L column C" (the caller gives the line).
fn syntax(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    full.strip_suffix(&suffix).unwrap_or(&full).to_string()
}

pub(super) fn read(bytes: &[u8], b: &mut Builder, errs: &mut Errors) {
    let mut lines = Lines { bytes, counted_to: 0, line: 1 };
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => return errs.at(lines.at(e.valid_up_to()), "not valid UTF-8"),
    };
    let mut pos = skip_ws(bytes, 0);
    if bytes.get(pos) != Some(&b'[') {
        let what = "expected ShareGPT's array ([{\"id\": …, \"conversations\": [{\"from\": \"human\", \"value\": …}]}, …])";
        return errs.at(lines.at(pos), what);
    }
    pos = skip_ws(bytes, pos + 1);
    if bytes.get(pos) == Some(&b']') {
        pos += 1;
    } else {
        for index in 0.. {
            let line = lines.at(pos);
            let mut values = serde_json::Deserializer::from_str(&text[pos..]).into_iter::<IgnoredAny>();
            match values.next() {
                Some(Ok(_)) => {}
                Some(Err(e)) => return errs.at(line + e.line() - 1, syntax(&e)),
                None => return errs.at(line, "the array is not closed (expected an entry or ])"),
            }
            let end = pos + values.byte_offset();
            entry(index, &text[pos..end], line, b, errs);
            pos = skip_ws(bytes, end);
            match bytes.get(pos) {
                Some(b',') => pos = skip_ws(bytes, pos + 1),
                Some(b']') => {
                    pos += 1;
                    break;
                }
                Some(_) => return errs.at(lines.at(pos), "expected , or ] after an entry"),
                None => return errs.at(lines.at(pos), "the array is not closed (expected , or ])"),
            }
        }
    }
    let rest = skip_ws(bytes, pos);
    if rest < bytes.len() {
        errs.at(lines.at(rest), "text after the array");
    }
}

/// Entry `index` (its JSON text, starting on `line`).
fn entry(index: usize, text: &str, line: usize, b: &mut Builder, errs: &mut Errors) {
    let mut de = serde_json::Deserializer::from_str(text);
    let raw: Entry = match serde_path_to_error::deserialize(&mut de) {
        Ok(raw) => raw,
        Err(e) => return errs.entry(index, line + e.inner().line() - 1, describe(&e)),
    };
    let mut system: Vec<&str> = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();
    let mut reply: Vec<&str> = Vec::new();
    let mut first_tokens = 0;
    for (i, t) in raw.conversations.iter().enumerate() {
        match t.from {
            Speaker::System if turns.is_empty() => system.push(&t.value),
            Speaker::System => {
                let what = format!(
                    "conversations[{i}]: a system turn after the first human turn (only a leading \
                     system prompt is replayed)"
                );
                return errs.entry(index, line, what);
            }
            Speaker::Gpt if turns.is_empty() => {}
            Speaker::Gpt => reply.push(&t.value),
            Speaker::Human => {
                close_reply(&mut turns, &mut reply, b);
                if turns.is_empty() {
                    first_tokens = b.count(&t.value);
                }
                turns.push(Turn {
                    messages: vec![message(Role::User, &t.value)],
                    max_tokens: None,
                    reply_json: None,
                });
            }
        }
    }
    close_reply(&mut turns, &mut reply, b);
    if turns.is_empty() {
        return b.skip_no_prompt();
    }
    let system_json = (!system.is_empty()).then(|| literal(&system.join("\n")));
    b.add(Conversation { system_json, turns }, first_tokens);
}

/// The replies gathered since the last human turn become that turn's recorded reply and its
/// `max_tokens`.
fn close_reply(turns: &mut [Turn], reply: &mut Vec<&str>, b: &Builder) {
    let (Some(turn), false) = (turns.last_mut(), reply.is_empty()) else { return };
    let text = reply.join("\n");
    turn.max_tokens = Some(b.reply_tokens(&text));
    turn.reply_json = Some(literal(&text));
    reply.clear();
}
