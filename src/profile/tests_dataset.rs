//! `content.mode: "dataset"`: paths relative to the profile, formats, options, fields of other
//! modes, and the file's own errors and skips reported at the field.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::tests::CHAT;
use super::*;
use crate::data::dataset::Format;

/// A profile file in a fresh directory, with `data/<name>` files beside it; the profile has
/// one scenario whose content is `content`.
fn profile_with(tag: &str, files: &[(&str, &str)], content: Value) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("llmload-profile-dataset-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data")).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join("data").join(name), text).unwrap();
    }
    let v = json!({
        "defaults": {"target": CHAT, "model": "m"},
        "stages": ["2:1s"],
        "scenarios": [{"name": "d", "content": content}]
    });
    let path = dir.join("profile.json");
    std::fs::write(&path, v.to_string()).unwrap();
    path
}

fn dataset_of(p: &Profile) -> &DatasetContent {
    match &p.scenarios[0].content {
        Content::Dataset(d) => d,
        other => panic!("not a dataset: {other:?}"),
    }
}

const JSONL: &str = "{\"prompt\": \"one\"}\n{\"prompt\": \"two\", \"max_tokens\": 5}\n";

#[test]
fn a_dataset_path_is_read_beside_the_profile_with_its_format_from_the_extension() {
    let path = profile_with("rel", &[("p.jsonl", JSONL)], json!({"mode": "dataset", "path": "data/p.jsonl"}));
    // From another working directory too: the path is the profile's, not the cwd's.
    let p = load(&path).unwrap();
    let d = dataset_of(&p);
    assert_eq!(d.data.path, path.parent().unwrap().join("data/p.jsonl"));
    assert_eq!((d.data.format, d.order, d.history), (Format::Jsonl, Order::Sequential, History::Live));
    assert_eq!(d.data.conversations.len(), 2);
    assert_eq!(p.scenarios[0].turns, (1, 1));
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    // Equal profiles compare equal (by file, not by contents).
    assert_eq!(load(&path).unwrap(), p);
}

#[test]
fn dataset_options_are_checked_and_named() {
    let files = [("p.jsonl", JSONL), ("p.data", JSONL)];
    let bad = json!({"mode": "dataset", "path": "data/p.jsonl", "format": "jsonlines", "order": "shuffled",
                     "history": "recorded", "max_prompt_tokens": 0});
    let e = load(&profile_with("opts", &files, bad)).unwrap_err();
    assert_eq!(
        e,
        [
            "scenarios[0].content.format: \"jsonlines\" is not one of jsonl, sharegpt, text",
            "scenarios[0].content.order: \"shuffled\" is not one of sequential, random",
            "scenarios[0].content.max_prompt_tokens: 0 must be at least 1",
        ]
    );
    let e = load(&profile_with(
        "hist",
        &files,
        json!({"mode": "dataset", "path": "data/p.jsonl", "history": "recorded"}),
    ))
    .unwrap_err();
    assert_eq!(
        e,
        ["scenarios[0].content.history: only read with format \"sharegpt\" (the other formats record no replies); remove it"]
    );
    let e =
        load(&profile_with("ext", &files, json!({"mode": "dataset", "path": "data/p.data"}))).unwrap_err();
    assert_eq!(
        e,
        ["scenarios[0].content.format: missing, and the name \"data/p.data\" does not tell (.jsonl, .json and .txt do); \
          give one of jsonl, sharegpt, text"]
    );
    let p = load(&profile_with(
        "fmt",
        &files,
        json!({"mode": "dataset", "path": "data/p.data", "format": "jsonl", "order": "random"}),
    ))
    .unwrap();
    assert_eq!(dataset_of(&p).order, Order::Random);
    let e = load(&profile_with("nopath", &files, json!({"mode": "dataset"}))).unwrap_err();
    assert_eq!(
        e,
        ["scenarios[0].content.path: missing (mode \"dataset\" reads its prompts from a file, e.g. \"data/prompts.jsonl\")"]
    );
    let e = load(&profile_with("mode", &files, json!({"mode": "datset"}))).unwrap_err();
    assert_eq!(
        e,
        ["scenarios[0].content.mode: \"datset\" is not one of pool, scripted, sized, dataset; did you mean \"dataset\"?"]
    );
}

#[test]
fn fields_of_other_modes_are_errors_around_datasets() {
    let files = [("p.jsonl", JSONL)];
    let v = json!({"mode": "dataset", "path": "data/p.jsonl", "prompts": ["x"], "approx_input_tokens": 5});
    assert_eq!(
        load(&profile_with("other1", &files, v)).unwrap_err(),
        [
            "scenarios[0].content.prompts: not read in mode \"dataset\" (it is read in mode \"pool\"); remove it",
            "scenarios[0].content.approx_input_tokens: not read in mode \"dataset\" (it is read in mode \"sized\"); \
             remove it",
        ]
    );
    let v = json!({"mode": "pool", "path": "data/p.jsonl", "order": "random"});
    assert_eq!(
        load(&profile_with("other2", &files, v)).unwrap_err(),
        [
            "scenarios[0].content.path: not read in mode \"pool\" (it is read in mode \"dataset\"); remove it",
            "scenarios[0].content.order: not read in mode \"pool\" (it is read in mode \"dataset\"); remove it",
        ]
    );
}

#[test]
fn the_files_errors_and_skips_are_reported_at_the_field() {
    let bad = "{\"prompt\": \"ok\"}\n{\"prompt\": \"x\", \"max_tokns\": 3}\n";
    let path = profile_with("bad", &[("b.jsonl", bad)], json!({"mode": "dataset", "path": "data/b.jsonl"}));
    let file = path.parent().unwrap().join("data/b.jsonl");
    assert_eq!(
        load(&path).unwrap_err(),
        [format!(
            "scenarios[0].content.path: {}:2: max_tokns: unknown field (known: prompt, messages, max_tokens, \
             output_tokens); did you mean \"max_tokens\"?",
            file.display()
        )]
    );
    let path = profile_with("missing", &[], json!({"mode": "dataset", "path": "data/none.txt"}));
    let e = load(&path).unwrap_err();
    let file = path.parent().unwrap().join("data/none.txt");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with(&format!("scenarios[0].content.path: cannot read {}: ", file.display())),
        "{e:?}"
    );

    let text = "short\na line that is much too long\n";
    let v = json!({"mode": "dataset", "path": "data/t.txt", "max_prompt_tokens": 2});
    let p = load(&profile_with("skip", &[("t.txt", text)], v)).unwrap();
    let file = p.scenarios[0].content.clone();
    let Content::Dataset(d) = file else { unreachable!() };
    assert_eq!(
        p.warnings,
        [format!(
            "scenarios[0].content.path: {}: skipped 1 of 2 entries longer than 2 tokens (counted with estimate)",
            d.data.path.display()
        )]
    );
}

#[test]
fn a_dataset_scenario_takes_its_turns_from_the_entries() {
    let sharegpt = r#"[{"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"},
                       {"from": "human", "value": "c"}]},
                      {"conversations": [{"from": "human", "value": "only"}]}]"#;
    let dir_profile =
        profile_with("turns", &[("s.json", sharegpt)], json!({"mode": "dataset", "path": "data/s.json"}));
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&dir_profile).unwrap()).unwrap();
    v["scenarios"][0]["turns"] = json!(5);
    v["scenarios"][0]["content"]["history"] = json!("recorded");
    std::fs::write(&dir_profile, v.to_string()).unwrap();
    let p = load(&dir_profile).unwrap();
    assert_eq!(p.scenarios[0].turns, (1, 2));
    assert_eq!(dataset_of(&p).history, History::Recorded);
    assert_eq!(
        p.warnings,
        ["scenarios[0].turns: ignored with content mode \"dataset\" (each entry is a whole conversation and sets \
          its own turns)"]
    );
}

#[test]
fn the_shipped_sharegpt_profile_loads_its_sample() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/sharegpt.json");
    let p = load(&path).unwrap();
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let d = dataset_of(&p);
    assert_eq!(d.data.format, Format::ShareGpt);
    assert!((5..=8).contains(&d.data.conversations.len()));
    assert_eq!(p.scenarios[0].turns, (1, 4));
}
