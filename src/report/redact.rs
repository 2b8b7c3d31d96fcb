//! Secrets out of everything written: the command line and the profile keep their shape but
//! API keys and credential headers become `<redacted>`.

use serde_json::Value;

pub(crate) const REDACTED: &str = "<redacted>";

/// Headers whose values are credentials, whatever the run says.
const SECRET_HEADERS: &[&str] =
    &["authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "x-goog-api-key"];

/// Flags whose value is a secret.
const SECRET_FLAGS: &[&str] = &["--vk"];

/// Whether a header's value must never be written (`extra`: `--redact-header` names).
pub(crate) fn is_secret_header(name: &str, extra: &[String]) -> bool {
    let name = name.trim();
    SECRET_HEADERS.iter().any(|s| s.eq_ignore_ascii_case(name))
        || extra.iter().any(|s| s.trim().eq_ignore_ascii_case(name))
}

/// `Name: value` with the value redacted when the header is secret.
fn header_arg(h: &str, extra: &[String]) -> String {
    match h.split_once(':') {
        Some((k, _)) if is_secret_header(k, extra) => format!("{k}: {REDACTED}"),
        _ => h.to_string(),
    }
}

/// The command line with every secret replaced.
pub(crate) fn command(args: &[String], extra: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut next_is = None::<&str>;
    for a in args {
        match next_is.take() {
            Some("secret") => out.push(REDACTED.to_string()),
            Some(_) => out.push(header_arg(a, extra)),
            None => {
                if SECRET_FLAGS.contains(&a.as_str()) {
                    next_is = Some("secret");
                    out.push(a.clone());
                } else if a == "--header" || a == "-H" {
                    next_is = Some("header");
                    out.push(a.clone());
                } else if let Some((flag, _)) = a.split_once('=').filter(|(f, _)| SECRET_FLAGS.contains(f)) {
                    out.push(format!("{flag}={REDACTED}"));
                } else if let Some(h) = a.strip_prefix("--header=") {
                    out.push(format!("--header={}", header_arg(h, extra)));
                } else {
                    out.push(a.clone());
                }
            }
        }
    }
    out
}

/// The profile with its `vk` and secret header values replaced (at any depth).
pub(crate) fn profile(mut v: Value, extra: &[String]) -> Value {
    redact_value(&mut v, extra);
    v
}

fn redact_value(v: &mut Value, extra: &[String]) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                let lower = k.to_ascii_lowercase();
                if lower == "vk" || lower == "api_key" || lower == "apikey" {
                    *val = Value::String(REDACTED.into());
                } else if lower == "api_keys" {
                    // A key pool keeps its length and weights; every key is replaced.
                    if let Value::Array(keys) = val {
                        for k in keys.iter_mut() {
                            match k {
                                Value::Object(o) => {
                                    o.insert("key".into(), Value::String(REDACTED.into()));
                                }
                                other => *other = Value::String(REDACTED.into()),
                            }
                        }
                    } else {
                        *val = Value::String(REDACTED.into());
                    }
                } else if lower == "headers" {
                    if let Value::Object(h) = val {
                        for (name, hv) in h.iter_mut() {
                            if is_secret_header(name, extra) {
                                *hv = Value::String(REDACTED.into());
                            }
                        }
                    }
                } else {
                    redact_value(val, extra);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redact_value(i, extra)),
        _ => {}
    }
}

/// SHA-256 (hex) of the redacted profile in canonical form (keys sorted): equal for runs of
/// the same profile, whichever host or shard ran them.
pub(crate) fn profile_hash(redacted: &Value) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(serde_json::to_vec(redacted).expect("JSON value serializes"));
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_lose_their_secrets() {
        let args: Vec<String> = [
            "llmload",
            "run",
            "--vk",
            "sk-1",
            "--vk=sk-2",
            "--header",
            "Authorization: Bearer sk-3",
            "--header=X-Tenant: t1",
            "--header",
            "X-Secret: sk-4",
            "p.json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let out = command(&args, &["x-secret".into()]).join(" ");
        for k in ["sk-1", "sk-2", "sk-3", "sk-4"] {
            assert!(!out.contains(k), "{k} in {out}");
        }
        assert!(out.contains("X-Tenant: t1") && out.contains("p.json"), "{out}");
    }

    #[test]
    fn profiles_lose_their_secrets_and_hash_stably() {
        let v: Value = serde_json::json!({"defaults": {"vk": "sk-a", "headers": {"x-api-key": "sk-b", "X-Keep": "1"}},
            "api_keys": ["sk-d", {"key": "sk-e", "weight": 2}],
            "scenarios": [{"name": "s", "headers": {"Authorization": "Bearer sk-c"}, "api_keys": ["sk-f"]}]});
        let r = profile(v.clone(), &[]);
        let text = r.to_string();
        assert!(!text.contains("sk-"), "{text}");
        assert!(text.contains("X-Keep"));
        assert_eq!(r["api_keys"][1]["weight"], 2, "a pool keeps its weights");
        assert_eq!(profile_hash(&r), profile_hash(&profile(v, &[])));
        assert_eq!(profile_hash(&r).len(), 64);
    }
}
