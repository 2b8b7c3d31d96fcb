//! A scenario's request options rendered once, as the `,"field":value` fragment each of its
//! requests carries, in its protocol's shape: tools as OpenAI chat functions, Responses
//! functions or Anthropic tools (`input_schema`); tool_choice likewise; reasoning as chat
//! `reasoning_effort`, Responses `reasoning.effort` or Anthropic `thinking`; response_format as
//! chat `response_format` or Responses `text.format`; extra_body fields as written.

use serde_json::{json, Map, Value};

use crate::profile::{RequestOptions, Tool, ToolChoice};
use crate::protocol::answer::JsonShape;
use crate::protocol::ProtocolKind;

/// The body fragment (empty without options).
pub(super) fn render(o: &RequestOptions, protocol: ProtocolKind) -> String {
    let mut fields = Map::new();
    if !o.tools.is_empty() {
        fields.insert("tools".into(), Value::Array(o.tools.iter().map(|t| tool(t, protocol)).collect()));
    }
    if let Some(c) = &o.tool_choice {
        fields.insert("tool_choice".into(), tool_choice(c, protocol));
    }
    if let Some(e) = &o.reasoning_effort {
        match protocol {
            ProtocolKind::OpenAiResponses => fields.insert("reasoning".into(), json!({"effort": e})),
            _ => fields.insert("reasoning_effort".into(), json!(e)),
        };
    }
    if let Some(b) = o.thinking_budget {
        fields.insert("thinking".into(), json!({"type": "enabled", "budget_tokens": b}));
    }
    if let Some(f) = &o.response_format {
        match protocol {
            // Responses takes the format inside `text`, without the chat form's wrapper.
            ProtocolKind::OpenAiResponses => {
                let format = match (f.get("type"), f.get("json_schema")) {
                    (Some(t), Some(Value::Object(s))) if t == "json_schema" => {
                        let mut m = s.clone();
                        m.insert("type".into(), json!("json_schema"));
                        Value::Object(m)
                    }
                    _ => f.clone(),
                };
                fields.insert("text".into(), json!({"format": format}))
            }
            _ => fields.insert("response_format".into(), f.clone()),
        };
    }
    for (k, v) in &o.extra_body {
        fields.insert(k.clone(), v.clone());
    }
    let mut out = String::new();
    for (k, v) in &fields {
        out.push(',');
        out.push_str(&Value::String(k.clone()).to_string());
        out.push(':');
        out.push_str(&v.to_string());
    }
    out
}

/// What the answers must be when the scenario asks for JSON: its `response_format`, or one
/// `extra_body` sets (as `response_format` or Responses `text.format`; written last, it wins).
/// Anthropic has no `response_format` (the profile refuses it), and its whole bodies keep
/// thinking in the reply text, so its answers are never checked.
pub(super) fn json_shape(o: &RequestOptions, protocol: ProtocolKind) -> Option<JsonShape> {
    if protocol == ProtocolKind::Anthropic {
        return None;
    }
    let extra = |k: &str| o.extra_body.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v);
    let format = extra("response_format")
        .or_else(|| extra("text").and_then(|t| t.get("format")))
        .or(o.response_format.as_ref())?;
    JsonShape::of(format)
}

fn tool(t: &Tool, protocol: ProtocolKind) -> Value {
    let mut m = Map::new();
    match protocol {
        ProtocolKind::Anthropic => {
            m.insert("name".into(), json!(t.name));
            if let Some(d) = &t.description {
                m.insert("description".into(), json!(d));
            }
            m.insert("input_schema".into(), t.parameters.clone());
        }
        ProtocolKind::OpenAiResponses => {
            m.insert("type".into(), json!("function"));
            m.insert("name".into(), json!(t.name));
            if let Some(d) = &t.description {
                m.insert("description".into(), json!(d));
            }
            m.insert("parameters".into(), t.parameters.clone());
        }
        _ => {
            let mut f = Map::new();
            f.insert("name".into(), json!(t.name));
            if let Some(d) = &t.description {
                f.insert("description".into(), json!(d));
            }
            f.insert("parameters".into(), t.parameters.clone());
            m.insert("type".into(), json!("function"));
            m.insert("function".into(), Value::Object(f));
        }
    }
    Value::Object(m)
}

fn tool_choice(c: &ToolChoice, protocol: ProtocolKind) -> Value {
    match (protocol, c) {
        (ProtocolKind::Anthropic, ToolChoice::Auto) => json!({"type": "auto"}),
        (ProtocolKind::Anthropic, ToolChoice::None) => json!({"type": "none"}),
        (ProtocolKind::Anthropic, ToolChoice::Required) => json!({"type": "any"}),
        (ProtocolKind::Anthropic, ToolChoice::Named(n)) => json!({"type": "tool", "name": n}),
        (_, ToolChoice::Auto) => json!("auto"),
        (_, ToolChoice::None) => json!("none"),
        (_, ToolChoice::Required) => json!("required"),
        (ProtocolKind::OpenAiResponses, ToolChoice::Named(n)) => json!({"type": "function", "name": n}),
        (_, ToolChoice::Named(n)) => json!({"type": "function", "function": {"name": n}}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> RequestOptions {
        RequestOptions {
            tools: vec![Tool {
                name: "get_weather".into(),
                description: Some("Weather now".into()),
                parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
            }],
            tool_choice: Some(ToolChoice::Named("get_weather".into())),
            ..RequestOptions::default()
        }
    }

    fn parsed(o: &RequestOptions, p: ProtocolKind) -> Value {
        serde_json::from_str(&format!("{{\"model\":\"m\"{}}}", render(o, p))).unwrap()
    }

    #[test]
    fn tools_and_choices_take_each_protocols_shape() {
        let chat = parsed(&opts(), ProtocolKind::OpenAiChat);
        assert_eq!(chat["tools"][0]["function"]["name"], "get_weather");
        assert_eq!(chat["tools"][0]["function"]["parameters"]["required"][0], "city");
        assert_eq!(chat["tool_choice"], json!({"type": "function", "function": {"name": "get_weather"}}));
        let anthropic = parsed(&opts(), ProtocolKind::Anthropic);
        assert_eq!(anthropic["tools"][0]["input_schema"]["properties"]["city"]["type"], "string");
        assert_eq!(anthropic["tool_choice"], json!({"type": "tool", "name": "get_weather"}));
        let responses = parsed(&opts(), ProtocolKind::OpenAiResponses);
        assert_eq!(
            responses["tools"][0],
            json!({"type": "function", "name": "get_weather", "description": "Weather now",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}})
        );
        assert_eq!(responses["tool_choice"], json!({"type": "function", "name": "get_weather"}));
        assert_eq!(render(&RequestOptions::default(), ProtocolKind::OpenAiChat), "");
    }

    #[test]
    fn reasoning_formats_and_extra_fields() {
        let o = RequestOptions {
            reasoning_effort: Some("high".into()),
            response_format: Some(
                json!({"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}}}),
            ),
            extra_body: vec![("top_k".into(), json!(5))],
            ..RequestOptions::default()
        };
        let chat = parsed(&o, ProtocolKind::OpenAiChat);
        assert_eq!((chat["reasoning_effort"].clone(), chat["top_k"].clone()), (json!("high"), json!(5)));
        assert_eq!(chat["response_format"]["json_schema"]["name"], "r");
        let responses = parsed(&o, ProtocolKind::OpenAiResponses);
        assert_eq!(responses["reasoning"], json!({"effort": "high"}));
        assert_eq!(
            responses["text"]["format"],
            json!({"type": "json_schema", "name": "r", "schema": {"type": "object"}})
        );
        assert_eq!(json_shape(&o, ProtocolKind::OpenAiChat), Some(JsonShape::Value));
        assert_eq!(json_shape(&RequestOptions::default(), ProtocolKind::OpenAiChat), None);
        let text =
            RequestOptions { response_format: Some(json!({"type": "text"})), ..RequestOptions::default() };
        assert_eq!(json_shape(&text, ProtocolKind::OpenAiChat), None);
        let extra = RequestOptions {
            extra_body: vec![("text".into(), json!({"format": {"type": "json_object"}}))],
            ..text
        };
        assert_eq!(
            json_shape(&extra, ProtocolKind::OpenAiResponses),
            Some(JsonShape::Object),
            "extra_body's format wins"
        );
        assert_eq!(json_shape(&extra, ProtocolKind::Anthropic), None);
        let thinking = RequestOptions { thinking_budget: Some(2048), ..RequestOptions::default() };
        assert_eq!(
            parsed(&thinking, ProtocolKind::Anthropic)["thinking"],
            json!({"type": "enabled", "budget_tokens": 2048})
        );
    }
}
