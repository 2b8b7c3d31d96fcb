//! JSON writing for request bodies: string literals, and the pieces every protocol's body is
//! written from, by concatenation. Message contents and the system prompt arrive already
//! encoded as JSON string literals and are copied verbatim; only the model name is escaped
//! here. Each protocol's `write_body` (beside its decoder) puts the pieces in its own order.

use super::{Message, Role, TurnBody};

/// Whether `text` has a byte JSON escapes (a quote, a backslash, a control byte). No early
/// exit, so the loop vectorizes: most texts have none, and are copied as they are.
#[inline]
fn needs_escape(text: &str) -> bool {
    text.bytes().fold(false, |any, b| any | (b < 0x20) | (b == b'"') | (b == b'\\'))
}

/// Encodes `text` as a JSON string literal (with quotes) appended to `out`.
pub(crate) fn json_string(text: &str, out: &mut String) {
    if !needs_escape(text) {
        out.reserve(text.len() + 2);
        out.push('"');
        out.push_str(text);
        out.push('"');
        return;
    }
    let mut buf = Vec::with_capacity(text.len() + 2);
    serde_json::to_writer(&mut buf, text).expect("a str always serializes");
    out.push_str(std::str::from_utf8(&buf).expect("serde_json writes UTF-8"));
}

/// Appends `text` JSON-escaped, without the quotes (pieces escaped this way join into the
/// literal of their concatenation).
pub(crate) fn json_string_body(text: &str, out: &mut String) {
    if !needs_escape(text) {
        out.push_str(text);
        return;
    }
    let mut buf = String::with_capacity(text.len() + 8);
    json_string(text, &mut buf);
    out.push_str(&buf[1..buf.len() - 1]);
}

/// Encodes `text` as a JSON string literal (with quotes) appended to a byte buffer: the
/// bytes serde_json writes.
#[inline]
pub(crate) fn write_json_string(text: &str, out: &mut Vec<u8>) {
    if !needs_escape(text) {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
        return;
    }
    serde_json::to_writer(out, text).expect("a str always serializes");
}

/// `{"model":…`: the start of every body.
pub(crate) fn open(turn: &TurnBody<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"model\":");
    write_json_string(turn.model, out);
}

/// `,"stream":…` (with `"stream_options":{"include_usage":true}` on a stream when the
/// protocol sends usage only when asked) and the closing brace.
pub(crate) fn close(turn: &TurnBody<'_>, ask_usage: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(turn.extra_json.as_bytes());
    out.extend_from_slice(if turn.stream { b",\"stream\":true" } else { b",\"stream\":false" });
    if turn.stream && ask_usage {
        out.extend_from_slice(b",\"stream_options\":{\"include_usage\":true}");
    }
    out.push(b'}');
}

/// `,"NAME":N`.
pub(crate) fn number(name: &[u8], n: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name);
    out.extend_from_slice(b"\":");
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// `,"NAME":LITERAL` for a JSON literal given as it is (the system prompt).
pub(crate) fn literal(name: &[u8], json: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name);
    out.extend_from_slice(b"\":");
    out.extend_from_slice(json.as_bytes());
}

/// `{"role":…,"content":…}` per message, comma-separated (and after a comma when `comma`);
/// a `Role::Raw` entry as it is.
pub(crate) fn messages(messages: &[Message], mut comma: bool, out: &mut Vec<u8>) {
    for m in messages {
        if comma {
            out.push(b',');
        }
        comma = true;
        let role: &[u8] = match m.role {
            Role::User => b"user",
            Role::Assistant => b"assistant",
            Role::Raw => {
                out.extend_from_slice(m.content_json.as_bytes());
                continue;
            }
        };
        out.extend_from_slice(b"{\"role\":\"");
        out.extend_from_slice(role);
        out.extend_from_slice(b"\",\"content\":");
        out.extend_from_slice(m.content_json.as_bytes());
        out.push(b'}');
    }
}

/// The text of a JSON string literal (the literal itself if it does not decode).
pub(crate) fn unquote(literal: &str) -> String {
    serde_json::from_str(literal).unwrap_or_else(|_| literal.to_owned())
}

/// What the body tests of every protocol share: conversations to write and the checks every
/// body passes.
#[cfg(test)]
pub(crate) mod testing {
    use serde_json::Value;

    use super::unquote;
    use crate::protocol::{json_string, Message, Role, TurnBody};

    fn message(role: Role, text: &str) -> Message {
        let mut content_json = String::new();
        json_string(text, &mut content_json);
        Message { role, content_json }
    }

    /// One turn, three turns (with a reply in between), each with and without a system prompt.
    pub(crate) fn conversations() -> Vec<(Option<String>, Vec<Message>)> {
        let single = vec![message(Role::User, "Say \"hi\"\n\u{e9}")];
        let multi = vec![
            message(Role::User, "first"),
            message(Role::Assistant, "reply \\ one"),
            message(Role::User, "second \u{1F980}"),
        ];
        let mut system = String::new();
        json_string("Be \"brief\".", &mut system);
        vec![
            (None, single.clone()),
            (Some(system.clone()), single),
            (None, multi.clone()),
            (Some(system), multi),
        ]
    }

    /// The body `write` appends for a turn, as JSON, after the checks every body passes.
    pub(crate) fn body(
        write: fn(&TurnBody<'_>, &mut Vec<u8>),
        system: Option<&str>,
        messages: &[Message],
        stream: bool,
        verbatim: bool,
    ) -> Value {
        let turn = TurnBody {
            model: "m\"odel\\x",
            system_json: system,
            messages,
            max_tokens: 77,
            stream,
            extra_json: "",
        };
        let mut out = b"prefix".to_vec();
        write(&turn, &mut out);
        assert_eq!(&out[..6], b"prefix", "appends");
        let json: Value = serde_json::from_slice(&out[6..]).expect("the body is JSON");
        assert_eq!(json["model"], "m\"odel\\x");
        assert_eq!(json["stream"], stream);
        if verbatim {
            let raw = std::str::from_utf8(&out).unwrap();
            for m in messages {
                assert!(raw.contains(&m.content_json), "content copied verbatim");
            }
        }
        json
    }

    /// The role/content pairs of a messages array.
    pub(crate) fn pairs(list: &Value) -> Vec<(String, String)> {
        let list = list.as_array().expect("an array");
        list.iter()
            .map(|m| (m["role"].as_str().unwrap().into(), m["content"].as_str().unwrap().into()))
            .collect()
    }

    /// The pairs `messages` should appear as.
    pub(crate) fn expected(messages: &[Message]) -> Vec<(String, String)> {
        let role = |r| if r == Role::User { "user" } else { "assistant" };
        messages.iter().map(|m| (role(m.role).into(), unquote(&m.content_json))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_serde_escapes_them() {
        for text in ["plain", "", "q\"b\\n\nt\t\u{1}\u{1f}\u{7f}", "caf\u{e9} \u{1F980}", "a/b"] {
            let want = serde_json::to_string(text).unwrap();
            let mut s = String::new();
            json_string(text, &mut s);
            let mut v = Vec::new();
            write_json_string(text, &mut v);
            assert_eq!((s.as_str(), v.as_slice()), (want.as_str(), want.as_bytes()));
            let mut joined = String::from("\"");
            json_string_body(text, &mut joined);
            json_string_body(text, &mut joined);
            joined.push('"');
            assert_eq!(joined, serde_json::to_string(&format!("{text}{text}")).unwrap());
        }
    }
}
