//! `text`: one prompt per line, sent as it is (a trailing `\r` is a line ending, not text);
//! blank lines are skipped. A line that is not UTF-8 is an error (a prompt is never rewritten).

use super::{message, Builder, Conversation, Errors, Turn};
use crate::protocol::Role;

pub(super) fn read(bytes: &[u8], b: &mut Builder, errs: &mut Errors) {
    for (i, raw) in bytes.split(|&c| c == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Ok(text) = std::str::from_utf8(raw) else {
            errs.at(i + 1, "not valid UTF-8");
            continue;
        };
        if text.trim().is_empty() {
            continue;
        }
        let turn = Turn { messages: vec![message(Role::User, text)], max_tokens: None, reply_json: None };
        b.add(Conversation { system_json: None, turns: vec![turn] }, b.count(text));
    }
}
