//! Tool calls the mock plans when a request carries `tools`: which tool, arguments that are
//! valid JSON for its schema (each required property filled by type, an enum by its first
//! value), and the fragments the arguments stream in. Shared by the OpenAI and Anthropic
//! shapes; the ids are the provider's (`call_…` / `toolu_…`).

use serde_json::{Map, Value};

/// Characters of arguments JSON per streamed fragment (one token each, as chars / 4 counts).
const FRAGMENT_CHARS: usize = 4;

/// Deepest schema nesting filled in; deeper objects are left `{}`.
const MAX_DEPTH: usize = 8;

/// One planned tool call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ToolCall {
    /// `call_<hex>` (OpenAI) or `toolu_<hex>` (Anthropic).
    pub id: String,
    pub name: String,
    /// The arguments as compact JSON.
    pub arguments: String,
    /// Byte ends of the streamed fragments of `arguments` (the last is its length).
    pub ends: Vec<usize>,
}

impl ToolCall {
    /// The streamed fragments; each counts as one completion token.
    pub(crate) fn fragments(&self) -> usize {
        self.ends.len()
    }

    /// Fragment `i` of the arguments.
    pub(crate) fn fragment(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.arguments[start..self.ends[i]]
    }
}

/// A tool's name and parameter schema, from any provider's definition: OpenAI chat
/// `{type: function, function: {name, parameters}}`, Responses `{type: function, name,
/// parameters}`, Anthropic `{name, input_schema}`. `None` for a definition without a name
/// (built-in tools such as `web_search`).
pub(crate) fn spec(tool: &Value) -> Option<(&str, Option<&Value>)> {
    let f = tool.get("function").unwrap_or(tool);
    let name = f.get("name")?.as_str()?;
    Some((name, f.get("parameters").or_else(|| f.get("input_schema"))))
}

/// `n` calls over `tools` (rotating over those with a name), ids `{prefix}{id_hex}{index}`.
pub(crate) fn plan(tools: &[Value], n: u64, prefix: &str, id_hex: &str) -> Vec<ToolCall> {
    let specs: Vec<_> = tools.iter().filter_map(spec).collect();
    if specs.is_empty() {
        return Vec::new();
    }
    (0..n as usize)
        .map(|i| {
            let (name, schema) = specs[i % specs.len()];
            let arguments = match schema {
                Some(s) => value_for(s, 0).to_string(),
                None => "{}".to_string(),
            };
            let ends = fragment_ends(&arguments);
            ToolCall { id: format!("{prefix}{id_hex}{i:02x}"), name: name.to_string(), arguments, ends }
        })
        .collect()
}

/// Fragment ends every `FRAGMENT_CHARS` characters (on char boundaries).
fn fragment_ends(s: &str) -> Vec<usize> {
    let mut ends: Vec<usize> =
        s.char_indices().map(|(i, _)| i).skip(FRAGMENT_CHARS).step_by(FRAGMENT_CHARS).collect();
    ends.push(s.len());
    ends
}

/// A value valid for `schema`: enum / const first, else by `type` (the first of a list).
fn value_for(schema: &Value, depth: usize) -> Value {
    if let Some(v) = schema.get("const") {
        return v.clone();
    }
    if let Some(first) = schema.get("enum").and_then(Value::as_array).and_then(|e| e.first()) {
        return first.clone();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(first) = schema.get(key).and_then(Value::as_array).and_then(|e| e.first()) {
            return value_for(first, depth + 1);
        }
    }
    let kind = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => {
            ts.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("null")
        }
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    match kind {
        "object" => object_for(schema, depth),
        "array" => {
            let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0).min(4);
            let item = schema.get("items").map_or(Value::String("mock".into()), |s| value_for(s, depth + 1));
            Value::Array((0..min).map(|_| item.clone()).collect())
        }
        "integer" => Value::from(bounded(schema, 1.0) as i64),
        "number" => Value::from(bounded(schema, 1.5)),
        "boolean" => Value::Bool(true),
        "null" => Value::Null,
        _ => {
            let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0).min(64) as usize;
            Value::String(format!("{:x<min$}", "mock"))
        }
    }
}

/// `default`, clamped into `minimum..=maximum` when the schema sets them.
fn bounded(schema: &Value, default: f64) -> f64 {
    let mut v = default;
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        v = v.max(min);
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        v = v.min(max);
    }
    v
}

/// Every required property, filled by its schema (in the order `required` lists them).
fn object_for(schema: &Value, depth: usize) -> Value {
    let mut out = Map::new();
    if depth >= MAX_DEPTH {
        return Value::Object(out);
    }
    let props = schema.get("properties");
    for name in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
        if let Some(name) = name.as_str() {
            let sub = props.and_then(|p| p.get(name));
            let value = sub.map_or(Value::String("mock".into()), |s| value_for(s, depth + 1));
            out.insert(name.to_string(), value);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn required_properties_are_filled_by_type() {
        let schema = json!({"type": "object", "required": ["city", "n", "x", "ok", "tags", "unit", "loc", "opt"],
            "properties": {
                "city": {"type": "string"}, "n": {"type": "integer", "minimum": 3}, "x": {"type": "number"},
                "ok": {"type": "boolean"}, "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "loc": {"type": "object", "required": ["lat"], "properties": {"lat": {"type": "number"}}},
                "opt": {"type": ["null", "integer"]},
                "skipped": {"type": "string"}}});
        let v = value_for(&schema, 0);
        assert_eq!(
            v,
            json!({"city": "mock", "n": 3, "x": 1.5, "ok": true, "tags": ["mock"], "unit": "celsius",
                   "loc": {"lat": 1.5}, "opt": 1})
        );
    }

    #[test]
    fn plans_rotate_over_tools_of_every_shape() {
        let tools = vec![
            json!({"type": "function", "function": {"name": "get_weather",
                   "parameters": {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}}}),
            json!({"type": "web_search_preview"}),
            json!({"name": "lookup", "input_schema": {"type": "object", "properties": {}}}),
        ];
        let calls = plan(&tools, 3, "call_", "abc");
        let names: Vec<_> = calls.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["get_weather", "lookup", "get_weather"]);
        assert_eq!(calls[0].id, "call_abc00");
        assert_eq!(calls[1].id, "call_abc01");
        assert_eq!(calls[0].arguments, r#"{"city":"mock"}"#);
        assert_eq!(calls[1].arguments, "{}");
        let joined: String = (0..calls[0].fragments()).map(|i| calls[0].fragment(i)).collect();
        assert_eq!(joined, calls[0].arguments);
        assert_eq!(calls[0].fragments(), calls[0].arguments.len().div_ceil(FRAGMENT_CHARS));
        assert!(plan(&[json!({"type": "code_interpreter"})], 2, "call_", "x").is_empty());
    }

    #[test]
    fn fragments_split_on_char_boundaries() {
        let ends = fragment_ends("é日本語🚀ab");
        let s = "é日本語🚀ab";
        assert_eq!(ends.len(), 2);
        assert!(ends.iter().all(|&e| s.is_char_boundary(e)));
        assert_eq!(fragment_ends(""), vec![0]);
    }
}
