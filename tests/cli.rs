//! The command line itself: mock configuration errors name the field, --print-config shows
//! the effective config without secrets, validate reports every profile error.

mod common;

use common::llmload;

#[test]
fn mock_print_config_is_the_effective_config_without_the_key() {
    let (code, out, _) = llmload(&["mock", "--print-config", "--ttft", "50ms", "--api-key", "sk-hidden-1"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["models"][0]["ttft"], "50ms");
    assert!(!out.contains("sk-hidden-1"));
    assert_eq!(v["api_key"], "<redacted>");
}

#[test]
fn a_bad_mock_config_is_rejected_naming_the_field() {
    let dir = std::env::temp_dir().join(format!("llmload-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mock.json");
    std::fs::write(&path, r#"{"models":[{"id":"a","ttft":"gamma:1,2"}]}"#).unwrap();
    let (code, _, err) = llmload(&["mock", "--config", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("models[0].ttft") && err.contains("gamma"), "{err}");
    std::fs::write(&path, r#"{"modles":[]}"#).unwrap();
    let (code, _, err) = llmload(&["mock", "--config", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("modles"), "{err}");
    let (code, _, err) = llmload(&["mock", "--ttft", "fast"]);
    assert_eq!(code, 2);
    assert!(err.contains("ttft"), "{err}");
}

#[test]
fn validate_lists_every_error_with_its_path() {
    let dir = std::env::temp_dir().join(format!("llmload-cli-v-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("p.json");
    std::fs::write(
        &path,
        r#"{"defaults":{"model":"m"},"stages":["5:10s"],"scenarios":[
            {"name":"a","target":"http://h/v1/chat/completions","content":{"mode":"pooll"}},
            {"name":"b","protocol":"grpc"}]}"#,
    )
    .unwrap();
    let (code, _, err) = llmload(&["validate", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("scenarios[0].content.mode"), "{err}");
    assert!(err.contains("scenarios[1]"), "{err}");
    let (code, out, _) =
        llmload(&["validate", concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/realistic.json")]);
    assert_eq!(code, 0);
    assert!(out.contains("simple") && out.contains("complex"));
}
