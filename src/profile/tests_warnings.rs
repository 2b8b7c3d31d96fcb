//! No silent rewrites: each nexus-compatible coercion loads with a warning naming the field,
//! and the rest are errors.

use serde_json::json;

use super::tests::{base, errs, ok, only_error};
use super::*;

fn warnings(v: &serde_json::Value) -> Vec<String> {
    ok(v).warnings
}

#[test]
fn the_base_profile_and_the_documented_defaults_warn_nothing() {
    assert_eq!(warnings(&base()), Vec::<String>::new());
    let mut v = base();
    v.as_object_mut().unwrap().remove("scenarios");
    assert_eq!(warnings(&v), Vec::<String>::new(), "no scenarios: the implicit one, as documented");
    let mut v = base();
    v["scenarios"][0]["content"] = json!({"mode": "pool"});
    v["scenarios"][1]["max_tokens"] = json!(0);
    v["scenarios"][1]["model"] = json!("");
    assert_eq!(warnings(&v), Vec::<String>::new(), "nexus's zero values inherit, as documented");
}

#[test]
fn a_weight_of_zero_or_less_counts_as_one_with_a_warning() {
    let mut v = base();
    v["scenarios"][1]["weight"] = json!(0);
    let p = ok(&v);
    assert_eq!(p.scenarios[1].weight, 1, "nexus-loadtest's rule: nexus profiles keep running");
    assert_eq!(
        p.warnings,
        ["scenarios[1].weight: 0 is treated as 1 (nexus-loadtest's rule); remove the scenario to switch it off"]
    );
    v["scenarios"][1]["weight"] = json!(-2);
    assert_eq!(
        warnings(&v),
        ["scenarios[1].weight: -2 is treated as 1 (nexus-loadtest's rule); remove the scenario to switch it off"]
    );
}

#[test]
fn empty_scenarios_make_the_implicit_one_with_a_warning() {
    let mut v = base();
    v["scenarios"] = json!([]);
    let p = ok(&v);
    assert_eq!(p.scenarios.len(), 1);
    assert_eq!(p.scenarios[0].name, "default");
    assert_eq!(
        p.warnings,
        ["scenarios: [] is treated as one scenario \"default\" made from defaults (nexus-loadtest's rule); \
          leave scenarios out, or list them"]
    );
}

#[test]
fn a_scenario_without_users_in_every_stage_is_an_error() {
    // 1 user, 3 scenarios: only the first ever runs.
    let mut v = base();
    v["stages"] = json!(["1:1s"]);
    v["scenarios"].as_array_mut().unwrap().push(json!({"name": "c"}));
    let e = errs(&v);
    assert_eq!(e.len(), 2, "{e:#?}");
    assert_eq!(
        e[0],
        "scenarios[1]: \"b\" gets no virtual user in any stage, so it never runs: users are split by \
         weight, and its share (weight 1 of 5) of at most 1 users rounds to 0; give a stage at least 5 \
         users, raise its weight, or remove it"
    );
    assert!(e[1].starts_with("scenarios[2]: \"c\" gets no virtual user in any stage"), "{}", e[1]);
    // A ramp's peak counts: 1..5 users reach all three (3 + 1 + 1).
    v["stages"] = json!(["1..5:1s"]);
    assert_eq!(warnings(&v), Vec::<String>::new());
}

#[test]
fn a_scenario_without_users_in_some_stages_warns_naming_them() {
    let mut v = base();
    v["stages"] = json!(["1:1s", "4:1s", "2:1s"]);
    assert_eq!(
        warnings(&v),
        ["scenarios[1]: \"b\" gets no virtual user in stages[0] (1:1s), stages[2] (2:1s): its share \
          (weight 1 of 4) of the users rounds to 0 there (4 or more users give it one)"]
    );
    // Open-loop arrivals reach every scenario, so no closed stage alone makes it an error.
    v["stages"] = json!(["1:1s", "@5:1s"]);
    let w = warnings(&v);
    assert_eq!(w.len(), 1, "{w:#?}");
    assert!(w[0].starts_with("scenarios[1]: \"b\" gets no virtual user in stages[0] (1:1s):"), "{}", w[0]);
    v["stages"] = json!(["@5:1s"]);
    assert_eq!(warnings(&v), Vec::<String>::new());
}

#[test]
fn think_time_on_single_turn_scenarios_warns() {
    let mut v = base();
    v["scenarios"][0]["think_time"] = json!("2s");
    assert_eq!(
        warnings(&v),
        ["scenarios[0].think_time: 2s never applies: the scenario has 1 turn per conversation (think time \
          is the pause between turns)"]
    );
    v["scenarios"][0]["turns"] = json!({"min": 1, "max": 2});
    assert_eq!(warnings(&v), Vec::<String>::new(), "a second turn can follow");
    let mut v = base();
    v["think_time"] = json!("250ms");
    assert_eq!(
        warnings(&v),
        ["think_time: 250ms never applies: every scenario that inherits it has 1 turn per conversation \
          (think time is the pause between turns)"]
    );
    v["scenarios"][1]["turns"] = json!(3);
    assert_eq!(warnings(&v), Vec::<String>::new(), "b inherits it and has 3 turns");
    let mut v = base();
    v["scenarios"][0]["think_time"] = json!("0s");
    assert_eq!(warnings(&v), Vec::<String>::new(), "no pause, nothing to warn about");
}

#[test]
fn empty_prompt_list_is_an_error_and_fields_of_another_mode_warn() {
    let mut v = base();
    v["scenarios"][0]["content"] = json!({"mode": "pool", "prompts": []});
    only_error(
        &v,
        "scenarios[0].content.prompts: empty (a pool scenario needs at least one prompt; leave prompts out \
         for the default prompt)",
    );
    v["scenarios"][0]["content"] = json!({"mode": "sized", "prompts": ["x"], "script": ["y"]});
    v["scenarios"][1]["content"] = json!({"approx_input_tokens": 100});
    assert_eq!(
        warnings(&v),
        [
            "scenarios[0].content.prompts: ignored in mode \"sized\" (it is read in mode \"pool\")",
            "scenarios[0].content.script: ignored in mode \"sized\" (it is read in mode \"scripted\")",
            "scenarios[1].content.approx_input_tokens: ignored in mode \"pool\" (it is read in mode \"sized\")",
        ]
    );
}

#[test]
fn fields_that_change_nothing_warn() {
    let mut v = base();
    v["shared_prefix_tokens"] = json!(2048);
    v["cache_mode"] = json!("natural");
    v["correlation"] = json!({"uuid_in_prompt": true});
    assert_eq!(
        warnings(&v),
        [
            "shared_prefix_tokens: ignored with cache_mode \"natural\" (it applies to \"shared-prefix\" only)",
            "correlation.uuid_in_prompt: ignored with cache_mode \"natural\" (the id goes into the prompt \
             with \"bust\" only)",
        ]
    );
    v["cache_mode"] = json!("shared-prefix");
    v["correlation"] = json!({"uuid_in_prompt": false});
    assert_eq!(warnings(&v), Vec::<String>::new());
}

#[test]
fn shipped_profiles_warn_only_about_their_one_user_first_stage() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue; // profiles/data: what the profiles read
        }
        let p = load(&path).unwrap_or_else(|e| panic!("{}: {e:#?}", path.display()));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let want = match name.as_str() {
            // nexus-loadtest's documented profiles start with one user, which runs one scenario.
            "realistic.json" | "ai-gateway.json" => p.scenarios.len() - 1,
            _ => 0,
        };
        assert_eq!(p.warnings.len(), want, "{name}: {:#?}", p.warnings);
        assert!(p.warnings.iter().all(|w| w.contains("gets no virtual user in stages[0] (1:15s)")), "{name}");
    }
}
