//! `jsonl`: one JSON object per line, `{"prompt": "…"}` or `{"messages": [{"role": "system" |
//! "user" | "assistant", "content": "…"}, …]}`, with an optional `max_tokens` (or its alias
//! `output_tokens`). Blank lines are skipped; any other field is an error.

use serde::Deserialize;

use super::{describe, literal, message, Builder, Conversation, Errors, Turn};
use crate::protocol::Role;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object with \"prompt\" or \"messages\"")]
struct Line {
    prompt: Option<String>,
    messages: Option<Vec<ChatMessage>>,
    max_tokens: Option<i64>,
    output_tokens: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a message like {\"role\": \"user\", \"content\": \"…\"}")]
struct ChatMessage {
    role: ChatRole,
    content: String,
}

#[derive(Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ChatRole {
    System,
    User,
    Assistant,
}

pub(super) fn read(bytes: &[u8], b: &mut Builder, errs: &mut Errors) {
    for (i, raw) in bytes.split(|&c| c == b'\n').enumerate() {
        let line = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Ok(text) = std::str::from_utf8(raw) else {
            errs.at(line, "not valid UTF-8");
            continue;
        };
        if text.trim().is_empty() {
            continue;
        }
        match entry(text, b) {
            Ok((conversation, first_tokens)) => b.add(conversation, first_tokens),
            Err(e) => errs.at(line, e),
        }
    }
}

/// One line: the conversation and the prompt tokens of its request.
fn entry(text: &str, b: &Builder) -> Result<(Conversation, u32), String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let line: Line = serde_path_to_error::deserialize(&mut de).map_err(|e| describe(&e))?;
    de.end().map_err(|_| "text after the JSON object (one object per line)".to_string())?;
    let max_tokens = match (line.max_tokens, line.output_tokens) {
        (Some(_), Some(_)) => {
            return Err("max_tokens and output_tokens both given (output_tokens is another name \
                        for max_tokens; give one)"
                .into())
        }
        (Some(n), None) => Some(tokens("max_tokens", n, b.limits.max_output_tokens)?),
        (None, Some(n)) => Some(tokens("output_tokens", n, b.limits.max_output_tokens)?),
        (None, None) => None,
    };
    match (line.prompt, line.messages) {
        (Some(_), Some(_)) => Err("prompt and messages both given (give one)".into()),
        (None, None) => Err("no prompt or messages (e.g. {\"prompt\": \"Hello\"})".into()),
        (Some(p), None) => {
            let turn = Turn { messages: vec![message(Role::User, &p)], max_tokens, reply_json: None };
            Ok((Conversation { system_json: None, turns: vec![turn] }, b.count(&p)))
        }
        (None, Some(list)) => messages(&list, max_tokens, b),
    }
}

/// `max_tokens` / `output_tokens`: 1 to `max`.
fn tokens(field: &str, n: i64, max: u32) -> Result<u32, String> {
    if n < 1 {
        Err(format!("{field}: {n} must be at least 1"))
    } else if n > i64::from(max) {
        Err(format!("{field}: {n} is above the limit {max}"))
    } else {
        Ok(n as u32)
    }
}

/// A `messages` entry: sent as one request, as written. A system message may only come first;
/// the last message must be the user's (the request asks for the next reply).
fn messages(
    list: &[ChatMessage],
    max_tokens: Option<u32>,
    b: &Builder,
) -> Result<(Conversation, u32), String> {
    let Some(last) = list.last() else { return Err("messages: empty".into()) };
    if let Some(i) = list.iter().skip(1).position(|m| m.role == ChatRole::System) {
        return Err(format!("messages[{}]: a system message may only come first", i + 1));
    }
    if last.role != ChatRole::User {
        return Err(format!(
            "messages[{}]: the last message must be the user's (a request asks for the next reply)",
            list.len() - 1
        ));
    }
    // The first request's prompt: everything before the first assistant message.
    let first_tokens =
        list.iter().take_while(|m| m.role != ChatRole::Assistant).map(|m| b.count(&m.content)).sum();
    let system_json = (list[0].role == ChatRole::System).then(|| literal(&list[0].content));
    let messages = list
        .iter()
        .filter(|m| m.role != ChatRole::System)
        .map(|m| message(if m.role == ChatRole::User { Role::User } else { Role::Assistant }, &m.content))
        .collect();
    Ok((
        Conversation { system_json, turns: vec![Turn { messages, max_tokens, reply_json: None }] },
        first_tokens,
    ))
}
