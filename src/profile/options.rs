//! A scenario's request options: tools (`{name, description, parameters}`, sent in each
//! protocol's shape), `tool_choice`, `tool_result_tokens` (the size of each tool result a
//! tool-result turn sends), reasoning (`reasoning_effort` for OpenAI, `thinking_budget` for
//! Anthropic), `response_format`, and `extra_body` fields passed through as written. An option
//! the scenario's protocol has no field for is an error naming it.

use serde_json::Value;

use super::limits::{self, count};
use super::schema::RawScenario;
use super::suggest::not_one_of;
use super::{RequestOptions, Tool, ToolChoice};
use crate::protocol::ProtocolKind;

const EFFORTS: [&str; 4] = ["minimal", "low", "medium", "high"];
/// Body fields llmload writes itself: `extra_body` may not replace them.
const OWN_FIELDS: [&str; 10] = [
    "model",
    "messages",
    "input",
    "prompt",
    "system",
    "max_tokens",
    "max_output_tokens",
    "stream",
    "stream_options",
    "tools",
];

/// Checks and resolves the options of scenario `s` (errors name `at(field)`).
pub(super) fn resolve(
    s: &RawScenario,
    protocol: Option<ProtocolKind>,
    max_tokens: u32,
    at: &dyn Fn(&str) -> String,
    errs: &mut Vec<String>,
) -> RequestOptions {
    let mut o = RequestOptions::default();
    for (i, t) in s.tools.iter().flatten().enumerate() {
        match tool(t) {
            Ok(t) if o.tools.iter().any(|u| u.name == t.name) => {
                errs.push(format!("{}: the name {:?} is used twice", at(&format!("tools[{i}]")), t.name))
            }
            Ok(t) => o.tools.push(t),
            Err(e) => errs.push(format!("{}: {e}", at(&format!("tools[{i}]")))),
        }
    }
    if let Some(c) = &s.tool_choice {
        match tool_choice(c, &o.tools, &at("tool_choice")) {
            Ok(c) => o.tool_choice = Some(c),
            Err(e) => errs.push(e),
        }
    }
    if let Some(n) = s.tool_result_tokens {
        let path = at("tool_result_tokens");
        if o.tools.is_empty() {
            errs.push(format!("{path}: the scenario has no tools"));
        } else {
            let n = count(errs, &path, Some(n), 1, limits::MAX_INPUT_TOKENS.into());
            o.tool_result_tokens = n.map(|n| n as u32);
        }
    }
    let no_field = |field: &str, p: ProtocolKind, instead: &str| {
        format!("{}: {} has no such field{instead}", at(field), p.name())
    };
    if let Some(e) = &s.reasoning_effort {
        if !EFFORTS.contains(&e.as_str()) {
            errs.push(not_one_of(&at("reasoning_effort"), e, &EFFORTS));
        } else if let Some(p @ (ProtocolKind::Anthropic | ProtocolKind::OpenAiCompletions)) = protocol {
            errs.push(no_field(
                "reasoning_effort",
                p,
                if p == ProtocolKind::Anthropic { " (use thinking_budget)" } else { "" },
            ));
        } else {
            o.reasoning_effort = Some(e.clone());
        }
    }
    if let Some(b) = s.thinking_budget {
        match protocol {
            Some(ProtocolKind::Anthropic) | None => match u32::try_from(b) {
                // Anthropic's rules: at least 1,024, and below max_tokens.
                Ok(b) if b >= 1024 && b < max_tokens => o.thinking_budget = Some(b),
                _ => errs.push(format!(
                    "{}: {b} must be at least 1024 and below max_tokens ({max_tokens})",
                    at("thinking_budget")
                )),
            },
            Some(p) => errs.push(no_field("thinking_budget", p, " (use reasoning_effort)")),
        }
    }
    if let Some(f) = &s.response_format {
        match protocol {
            Some(p @ (ProtocolKind::Anthropic | ProtocolKind::OpenAiCompletions)) => {
                errs.push(no_field("response_format", p, ""))
            }
            _ if !f.is_object() => errs.push(format!("{}: must be an object", at("response_format"))),
            _ => o.response_format = Some(f.clone()),
        }
    }
    for (k, v) in s.extra_body.iter().flatten() {
        if OWN_FIELDS.contains(&k.as_str()) {
            errs.push(format!("{}: {k:?} is written by llmload and cannot be replaced", at("extra_body")));
        } else if k != "_comment" {
            o.extra_body.push((k.clone(), v.clone()));
        }
    }
    if !o.tools.is_empty() && protocol == Some(ProtocolKind::OpenAiCompletions) {
        errs.push(no_field("tools", ProtocolKind::OpenAiCompletions, ""));
    }
    o
}

fn tool(v: &Value) -> Result<Tool, String> {
    let Value::Object(m) = v else { return Err("must be an object {name, description, parameters}".into()) };
    if let Some(k) =
        m.keys().find(|k| !matches!(k.as_str(), "name" | "description" | "parameters" | "_comment"))
    {
        return Err(format!("unknown field {k:?} (a tool is {{name, description, parameters}})"));
    }
    let name = m.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()).ok_or("name: missing")?;
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') || name.len() > 64 {
        return Err(format!("name: {name:?} must be 1-64 letters, digits, _ or -"));
    }
    let description = match m.get("description") {
        None => None,
        Some(Value::String(d)) => Some(d.clone()),
        Some(_) => return Err("description: must be a string".into()),
    };
    let parameters = match m.get("parameters") {
        None => serde_json::json!({"type": "object", "properties": {}}),
        Some(p @ Value::Object(_)) => p.clone(),
        Some(_) => return Err("parameters: must be a JSON Schema object".into()),
    };
    Ok(Tool { name: name.to_string(), description, parameters })
}

fn tool_choice(v: &Value, tools: &[Tool], path: &str) -> Result<ToolChoice, String> {
    let choice = match v {
        Value::String(s) => match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            other => return Err(not_one_of(path, other, &["auto", "none", "required"])),
        },
        Value::Object(m) => match m.get("name").and_then(Value::as_str) {
            Some(n) if tools.iter().any(|t| t.name == n) => ToolChoice::Named(n.to_string()),
            Some(n) => return Err(format!("{path}: {n:?} is not one of the scenario's tools")),
            None => return Err(format!("{path}: an object names a tool: {{\"name\": TOOL}}")),
        },
        _ => return Err(format!("{path}: auto, none, required or {{\"name\": TOOL}}")),
    };
    if tools.is_empty() {
        return Err(format!("{path}: the scenario has no tools"));
    }
    Ok(choice)
}
