//! From JSON text to `RawProfile` with path-named errors, and "did you mean" suggestions.
//!
//! Syntax errors carry a line and column. Shape errors (unknown field, wrong type) carry the
//! JSON path; unknown fields get the nearest known name at that level. After a shape error
//! the offending key is dropped and decoding retried, so one pass reports every bad field.

use serde_json::Value;
use serde_path_to_error::Segment;

use super::schema::RawProfile;
pub(super) use crate::names::did_you_mean;

/// Shape errors reported at most, per file.
const MAX_SHAPE_ERRORS: usize = 32;

/// Parses profile text into the raw schema, or every error found.
pub(super) fn decode(text: &str) -> Result<RawProfile, Vec<String>> {
    let mut value: Value = serde_json::from_str(text).map_err(|e| vec![syntax_error(&e)])?;
    if !value.is_object() {
        return Err(vec![format!(
            "profile: expected a JSON object at the top level, found {}",
            kind(&value)
        )]);
    }
    let mut errors = Vec::new();
    loop {
        match serde_path_to_error::deserialize::<_, RawProfile>(&value) {
            Ok(raw) if errors.is_empty() => return Ok(raw),
            Ok(_) => return Err(errors),
            Err(e) => {
                let segments: Vec<Segment> = e.path().iter().cloned().collect();
                errors.push(shape_error(&segments, &e.inner().to_string()));
                if errors.len() >= MAX_SHAPE_ERRORS || !remove_at(&mut value, &segments) {
                    return Err(errors);
                }
            }
        }
    }
}

fn syntax_error(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = full.strip_suffix(&suffix).unwrap_or(&full);
    format!("profile does not parse: line {}, column {}: {msg}", e.line(), e.column())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// One shape error as `path: reason`.
fn shape_error(segments: &[Segment], inner: &str) -> String {
    let path = format_path(segments);
    if let Some(rest) = inner.strip_prefix("unknown field `") {
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let known = backquoted(expected);
        return match did_you_mean(name, &known) {
            Some(s) => format!("{path}: unknown field; did you mean {s:?}?"),
            None if known.is_empty() => format!("{path}: unknown field"),
            None => format!("{path}: unknown field (known here: {})", known.join(", ")),
        };
    }
    format!("{path}: {inner}")
}

/// The names serde quotes in backticks, in order (its "expected one of `a`, `b`" list).
fn backquoted(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// Drops the value at `segments` (a map key) so decoding can go on. Returns false when the
/// error sits on a list element or the top level, where dropping would shift later paths.
fn remove_at(root: &mut Value, segments: &[Segment]) -> bool {
    let Some((Segment::Map { key }, parents)) = segments.split_last() else { return false };
    let mut node = root;
    for seg in parents {
        node = match (seg, node) {
            (Segment::Map { key }, Value::Object(m)) => match m.get_mut(key) {
                Some(v) => v,
                None => return false,
            },
            (Segment::Seq { index }, Value::Array(a)) => match a.get_mut(*index) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match node {
        Value::Object(m) => m.remove(key).is_some(),
        _ => false,
    }
}

/// Formats a JSON path: `scenarios[2].content.mode`; keys that are not plain words are
/// quoted (`defaults.headers."X Bad"`).
pub(super) fn format_path(segments: &[Segment]) -> String {
    let mut out = String::new();
    for seg in segments {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => push_key(&mut out, key),
            Segment::Enum { variant } => push_key(&mut out, variant),
            Segment::Unknown => out.push_str(".?"),
        }
    }
    if out.is_empty() {
        "profile".into()
    } else {
        out
    }
}

/// Appends `.key` to a path, quoting keys that are not plain words.
pub(super) fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        path.push_str(key);
    } else {
        path.push_str(&format!("{key:?}"));
    }
}

/// `path: "value" is not one of a, b, c` plus a suggestion when one is close.
pub(super) fn not_one_of(path: &str, value: &str, known: &[&str]) -> String {
    let mut msg = format!("{path}: {value:?} is not one of {}", known.join(", "));
    if let Some(s) = did_you_mean(value, known) {
        msg.push_str(&format!("; did you mean {s:?}?"));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_have_line_and_column() {
        let e = decode("{\n  \"warmup\": \"1s\",\n  oops\n}").unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("profile does not parse: line 3, column 3: "), "{}", e[0]);
        assert!(!e[0].contains(" at line "), "{}", e[0]);
        let e = decode("[1]").unwrap_err();
        assert!(e[0].contains("expected a JSON object"), "{}", e[0]);
    }

    #[test]
    fn serde_lists_known_fields_in_backquotes() {
        // The suggestion relies on serde's "unknown field `x`, expected one of `a`, `b`".
        let e = decode(r#"{"scenarios": [{"name": "a", "max_token": 1}]}"#).unwrap_err();
        assert_eq!(e, [r#"scenarios[0].max_token: unknown field; did you mean "max_tokens"?"#]);
        let e = decode(r#"{"zzzzzz": 1}"#).unwrap_err();
        assert!(e[0].starts_with("zzzzzz: unknown field (known here: _comment, defaults, "), "{}", e[0]);
    }

    #[test]
    fn every_shape_error_is_reported() {
        let text = r#"{"warmpu": "1s", "defaults": {"modle": "m", "max_tokens": "x"},
            "scenarios": [{"name": "a"}, {"wieght": 2, "content": {"promtps": []}}]}"#;
        let e = decode(text).unwrap_err();
        assert_eq!(e.len(), 5, "{e:#?}");
        assert!(e.contains(&r#"warmpu: unknown field; did you mean "warmup"?"#.to_string()));
        assert!(e.contains(&r#"defaults.modle: unknown field; did you mean "model"?"#.to_string()));
        assert!(e.iter().any(|m| m.starts_with("defaults.max_tokens: invalid type: string \"x\"")));
        assert!(e.contains(&r#"scenarios[1].wieght: unknown field; did you mean "weight"?"#.to_string()));
        assert!(e.contains(
            &r#"scenarios[1].content.promtps: unknown field; did you mean "prompts"?"#.to_string()
        ));
    }

    #[test]
    fn paths_quote_odd_keys() {
        let segs = [Segment::Map { key: "defaults".into() }, Segment::Map { key: "headers".into() }];
        let mut p = format_path(&segs);
        push_key(&mut p, "X Bad");
        assert_eq!(p, r#"defaults.headers."X Bad""#);
        assert_eq!(format_path(&[]), "profile");
    }
}
