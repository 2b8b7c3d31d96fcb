//! A reply that ended in tool calls, written back into the conversation as an agent does: the
//! assistant's calls, then one result per call, in each protocol's shape.
//!
//! - OpenAI chat: an assistant message with `tool_calls` `[{id, type: function, function:
//!   {name, arguments}}]` (its text as `content`, else `null`), then one `{role: tool,
//!   tool_call_id, content}` message per call.
//! - Anthropic: an assistant message whose `content` is its text block (if any) and a
//!   `tool_use` block `{type, id, name, input}` per call, then a user message of `tool_result`
//!   blocks `{type, tool_use_id, content}`.
//! - Responses: the text as an assistant message item (if any) and a `function_call` item
//!   `{type, call_id, name, arguments}` per call, then a `function_call_output` item `{type,
//!   call_id, output}` per call.
//!
//! The arguments go back as received (Anthropic's `input` must be an object: arguments that
//! are not one go back as `{}`); a call the server sent without an id gets `llmload_call_<i>`
//! in both places, so the history stays consistent. Only the calls the decoder kept (the first
//! `tools::MAX_KEPT`) are written, their calls and results alike.

use serde::de::IgnoredAny;

use super::{json_string, Decoder, KeptCall, ProtocolKind, Role};

/// Writes call `i`'s id as a JSON string literal.
fn id(call: &KeptCall<'_>, i: usize, out: &mut String) {
    if call.id.is_empty() {
        out.push_str("\"llmload_call_");
        out.push_str(itoa::Buffer::new().format(i));
        out.push('"');
    } else {
        json_string(call.id, out);
    }
}

/// The arguments if they are one JSON object, else `{}`.
fn object_or_empty(arguments: &str) -> &str {
    let ok = arguments.trim_start().starts_with('{') && serde_json::from_str::<IgnoredAny>(arguments).is_ok();
    if ok {
        arguments
    } else {
        "{}"
    }
}

/// The calls `decoder` kept, in order.
fn calls(decoder: &dyn Decoder) -> impl Iterator<Item = (usize, KeptCall<'_>)> {
    (0..).map_while(|i| decoder.tool_call(i).map(|c| (i, c)))
}

/// One entry per call, comma-separated: `shape` is the text before the id, before the name,
/// before the arguments and after them; the arguments go as a JSON string, or (`as_object`)
/// as the object itself.
fn each_call(decoder: &dyn Decoder, shape: [&str; 4], as_object: bool, out: &mut String) {
    for (i, c) in calls(decoder) {
        if i > 0 {
            out.push(',');
        }
        out.push_str(shape[0]);
        id(&c, i, out);
        out.push_str(shape[1]);
        json_string(c.name, out);
        out.push_str(shape[2]);
        if as_object {
            out.push_str(object_or_empty(c.arguments));
        } else {
            json_string(c.arguments, out);
        }
        out.push_str(shape[3]);
    }
}

/// Appends the assistant's side of a tool-call turn (its `reply` text and the calls of
/// `decoder`) to `out`, and returns the role it is stored under; `None` (and nothing written)
/// when there is no kept call or the protocol has no tools.
pub(crate) fn write_calls(
    protocol: ProtocolKind,
    decoder: &dyn Decoder,
    reply: &str,
    out: &mut String,
) -> Option<Role> {
    decoder.tool_call(0)?;
    let said = !reply.trim().is_empty();
    let role = match protocol {
        ProtocolKind::OpenAiCompletions => return None,
        ProtocolKind::OpenAiChat => {
            out.push_str("{\"role\":\"assistant\",\"content\":");
            if said {
                json_string(reply, out);
            } else {
                out.push_str("null");
            }
            out.push_str(",\"tool_calls\":[");
            let shape =
                ["{\"id\":", ",\"type\":\"function\",\"function\":{\"name\":", ",\"arguments\":", "}}"];
            each_call(decoder, shape, false, out);
            out.push_str("]}");
            Role::Raw
        }
        ProtocolKind::Anthropic => {
            out.push('[');
            if said {
                out.push_str("{\"type\":\"text\",\"text\":");
                json_string(reply, out);
                out.push_str("},");
            }
            let shape = ["{\"type\":\"tool_use\",\"id\":", ",\"name\":", ",\"input\":", "}"];
            each_call(decoder, shape, true, out);
            out.push(']');
            Role::Assistant
        }
        ProtocolKind::OpenAiResponses => {
            if said {
                out.push_str("{\"role\":\"assistant\",\"content\":");
                json_string(reply, out);
                out.push_str("},");
            }
            let shape = ["{\"type\":\"function_call\",\"call_id\":", ",\"name\":", ",\"arguments\":", "}"];
            each_call(decoder, shape, false, out);
            Role::Raw
        }
    };
    Some(role)
}

/// Appends the results of the calls of `decoder` (after `write_calls`): `result(i, out)`
/// appends call `i`'s result text, JSON-escaped without the quotes. Returns the role the
/// results are stored under.
pub(crate) fn write_results(
    protocol: ProtocolKind,
    decoder: &dyn Decoder,
    out: &mut String,
    result: &mut dyn FnMut(usize, &mut String),
) -> Role {
    let (open, id_field, content_field, close, role) = match protocol {
        ProtocolKind::Anthropic => {
            ("{\"type\":\"tool_result\",\"tool_use_id\":", ",\"content\":\"", "\"}", "]", Role::User)
        }
        ProtocolKind::OpenAiResponses => {
            ("{\"type\":\"function_call_output\",\"call_id\":", ",\"output\":\"", "\"}", "", Role::Raw)
        }
        _ => ("{\"role\":\"tool\",\"tool_call_id\":", ",\"content\":\"", "\"}", "", Role::Raw),
    };
    if protocol == ProtocolKind::Anthropic {
        out.push('[');
    }
    for (i, c) in calls(decoder) {
        if i > 0 {
            out.push(',');
        }
        out.push_str(open);
        id(&c, i, out);
        out.push_str(id_field);
        result(i, out);
        out.push_str(content_field);
    }
    out.push_str(close);
    role
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::protocol::{json_string_body, Message, TurnBody};

    /// A decoder that has read `body` (a whole reply of `protocol`).
    fn decoded(protocol: ProtocolKind, body: &str) -> crate::protocol::kind::AnyDecoder {
        let mut d = protocol.decoder();
        d.body(body.as_bytes(), None).expect("a valid reply");
        d
    }

    /// The request body of a conversation: the user's question, then the tool turn.
    fn request(protocol: ProtocolKind, d: &dyn Decoder, reply: &str) -> Value {
        let mut user = String::new();
        json_string("weather?", &mut user);
        let mut calls = String::new();
        let role = write_calls(protocol, d, reply, &mut calls).expect("calls");
        let mut results = String::new();
        let results_role = write_results(protocol, d, &mut results, &mut |i, out| {
            json_string_body(&format!("result \"{i}\""), out)
        });
        let messages = [
            Message { role: Role::User, content_json: user },
            Message { role, content_json: calls },
            Message { role: results_role, content_json: results },
        ];
        let turn = TurnBody {
            model: "m",
            system_json: None,
            messages: &messages,
            max_tokens: 8,
            stream: false,
            extra_json: "",
        };
        let mut out = Vec::new();
        protocol.write_body(&turn, &mut out);
        serde_json::from_slice(&out).expect("the body is JSON")
    }

    #[test]
    fn openai_chat_sends_the_calls_then_a_tool_message_per_call() {
        let reply = r#"{"choices":[{"message":{"content":null,"tool_calls":[
            {"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
            {"id":"","type":"function","function":{"name":"g\"q","arguments":"{\"broken"}}]},
            "finish_reason":"tool_calls"}]}"#;
        let d = decoded(ProtocolKind::OpenAiChat, reply);
        let v = request(ProtocolKind::OpenAiChat, &d, "");
        assert_eq!(
            v["messages"],
            json!([
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_a", "type": "function",
                     "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "llmload_call_1", "type": "function",
                     "function": {"name": "g\"q", "arguments": "{\"broken"}}]},
                {"role": "tool", "tool_call_id": "call_a", "content": "result \"0\""},
                {"role": "tool", "tool_call_id": "llmload_call_1", "content": "result \"1\""},
            ])
        );
        let v = request(ProtocolKind::OpenAiChat, &d, "Let me look.");
        assert_eq!(v["messages"][1]["content"], "Let me look.");
    }

    #[test]
    fn anthropic_sends_tool_use_blocks_then_tool_results() {
        let reply = r#"{"content":[{"type":"text","text":"Checking."},
            {"type":"tool_use","id":"toolu_1","name":"lookup","input":{"q":"x"}}],"stop_reason":"tool_use"}"#;
        let d = decoded(ProtocolKind::Anthropic, reply);
        let v = request(ProtocolKind::Anthropic, &d, "Checking.");
        assert_eq!(
            v["messages"],
            json!([
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "result \"0\""}]},
            ])
        );
        // Streamed arguments that are not one object go back as `{}`.
        for (args, sent) in [("{\"q\":", json!({})), ("[1]", json!({})), ("", json!({})), (" {}", json!({}))]
        {
            assert_eq!(serde_json::from_str::<Value>(object_or_empty(args)).unwrap(), sent, "{args:?}");
        }
    }

    #[test]
    fn responses_sends_function_call_items_then_outputs() {
        let reply = r#"{"status":"completed","output":[
            {"type":"function_call","id":"fc_1","call_id":"call_9","name":"lookup","arguments":"{\"q\":1}"}]}"#;
        let d = decoded(ProtocolKind::OpenAiResponses, reply);
        let v = request(ProtocolKind::OpenAiResponses, &d, " ");
        assert_eq!(
            v["input"],
            json!([
                {"role": "user", "content": "weather?"},
                {"type": "function_call", "call_id": "call_9", "name": "lookup", "arguments": "{\"q\":1}"},
                {"type": "function_call_output", "call_id": "call_9", "output": "result \"0\""},
            ])
        );
        let v = request(ProtocolKind::OpenAiResponses, &d, "so");
        assert_eq!(v["input"][1], json!({"role": "assistant", "content": "so"}));
    }

    #[test]
    fn no_kept_call_writes_nothing() {
        let d = decoded(ProtocolKind::OpenAiChat, r#"{"choices":[{"message":{"content":"hi"}}]}"#);
        let mut out = String::new();
        assert_eq!(write_calls(ProtocolKind::OpenAiChat, &d, "hi", &mut out), None);
        assert!(out.is_empty());
    }
}
