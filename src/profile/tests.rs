//! Profile validation: each bad input gives its path-named message, every error is
//! collected, and the command-line overrides follow nexus-loadtest's rules.

use std::time::Duration;

use serde_json::{json, Value};

use super::stages::Load;
use super::*;

pub(super) const CHAT: &str = "http://localhost:8080/v1/chat/completions";
const MESSAGES: &str = "http://localhost:8080/v1/messages";

/// A small valid profile to break one field at a time.
pub(super) fn base() -> Value {
    json!({
        "defaults": {"target": CHAT, "model": "mock-gpt", "headers": {"Authorization": "Bearer k"}},
        "stages": ["4:1s"],
        "scenarios": [
            {"name": "a", "weight": 3},
            {"name": "b", "weight": 1, "protocol": "anthropic", "target": MESSAGES, "model": "mock-claude",
             "headers": {"authorization": "Bearer other", "anthropic-version": "2023-06-01"}}
        ]
    })
}

pub(super) fn ok(v: &Value) -> Profile {
    from_json(&v.to_string()).unwrap_or_else(|e| panic!("{e:#?}"))
}

pub(super) fn errs(v: &Value) -> Vec<String> {
    from_json(&v.to_string()).expect_err("should be rejected")
}

/// Asserts the profile is rejected with exactly this one message.
pub(super) fn only_error(v: &Value, msg: &str) {
    assert_eq!(errs(v), [msg]);
}

#[test]
fn syntax_error_names_line_and_column() {
    let e = from_json("{\n  \"stages\": [\"1:1s\"],\n  \"warmup\": 5s\n}").unwrap_err();
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("profile does not parse: line 3, column 14: "), "{}", e[0]);
}

#[test]
fn unknown_field_suggests_the_known_name() {
    let mut v = base();
    v["scenarios"][0]["max_token"] = json!(10);
    only_error(&v, r#"scenarios[0].max_token: unknown field; did you mean "max_tokens"?"#);
    let mut v = base();
    v["thresholds"] = json!({"error_rte": 0.1});
    only_error(&v, r#"thresholds.error_rte: unknown field; did you mean "error_rate"?"#);
    let mut v = base();
    v["stages"] = json!([{"concurency": 5, "duration": "1s"}]);
    only_error(&v, r#"stages[0].concurency: unknown field; did you mean "concurrency"?"#);
    let mut v = base();
    v["defaults"]["flavour"] = json!("x");
    let e = errs(&v);
    assert!(
        e[0].starts_with("defaults.flavour: unknown field (known here: _comment, protocol, target"),
        "{e:?}"
    );
}

#[test]
fn comment_is_accepted_at_every_level() {
    let mut v = base();
    v["_comment"] = json!(["line one", "line two"]);
    v["defaults"]["_comment"] = json!("d");
    v["defaults"]["headers"]["_comment"] = json!("not sent as a header");
    v["stages"] = json!([{"_comment": "s", "concurrency": 1, "duration": "1s"},
        {"rate": {"_comment": "r", "from": 1, "to": 5}, "duration": "1s"}]);
    v["correlation"] = json!({"_comment": "c"});
    v["thresholds"] = json!({"_comment": "t"});
    v["scenarios"][0]["_comment"] = json!({"any": "json"});
    v["scenarios"][0]["turns"] = json!({"_comment": "t", "min": 1, "max": 2});
    v["scenarios"][0]["content"] = json!({"_comment": "c"});
    v["scenarios"][0]["slo"] = json!({"_comment": "s", "ttft_ms": 500});
    let p = ok(&v);
    assert_eq!(p.comment.as_deref(), Some("line one\nline two"));
    assert_eq!(p.scenarios[0].header("_comment"), None);
    assert_eq!(p.stages[1].load, Load::Open { from: 1.0, to: 5.0 });
}

#[test]
fn scenario_without_a_target() {
    let mut v = base();
    v["defaults"].as_object_mut().unwrap().remove("target");
    only_error(&v, "scenarios[0]: no target (set defaults.target or scenarios[0].target)");
    let v = json!({"defaults": {"model": "m"}, "stages": "1:1s"});
    only_error(&v, "defaults.target: no target (set defaults.target, or pass --target)");
}

#[test]
fn weights_all_zero_is_an_error_but_one_zero_counts_as_one() {
    let mut v = base();
    v["scenarios"][0]["weight"] = json!(0);
    v["scenarios"][1]["weight"] = json!(0);
    only_error(&v, "scenarios: weights all zero (give at least one scenario a weight above 0)");
    v["scenarios"][1]["weight"] = json!(4);
    assert_eq!(ok(&v).scenarios.iter().map(|s| s.weight).collect::<Vec<_>>(), [1, 4]);
    v["scenarios"][1].as_object_mut().unwrap().remove("weight");
    v["scenarios"][0]["weight"] = json!(-2);
    assert_eq!(ok(&v).scenarios.iter().map(|s| s.weight).collect::<Vec<_>>(), [1, 1]);
}

#[test]
fn content_errors() {
    let mut v = base();
    v["scenarios"][1]["content"] = json!({"mode": "scripted", "script": []});
    only_error(&v, "scenarios[1].content.script: empty (a scripted scenario needs at least one line)");
    v["scenarios"][1]["content"] = json!({"mode": "sized", "approx_input_tokens": 0});
    only_error(&v, "scenarios[1].content.approx_input_tokens: 0 must be above 0");
    v["scenarios"][1]["content"] = json!({"mode": "sized", "approx_input_tokens": -5});
    only_error(&v, "scenarios[1].content.approx_input_tokens: -5 must be above 0");
    v["scenarios"][1]["content"] = json!({"prompts": []});
    only_error(
        &v,
        "scenarios[1].content.prompts: empty (a pool scenario needs at least one prompt; leave prompts \
         out for the default prompt)",
    );
    v["scenarios"][1]["content"] = json!({"mode": "pooll"});
    only_error(
        &v,
        r#"scenarios[1].content.mode: "pooll" is not one of pool, scripted, sized, dataset; did you mean "pool"?"#,
    );
}

#[test]
fn content_defaults() {
    let mut v = base();
    v["scenarios"][0]["content"] = json!({"mode": "scripted"});
    v["scenarios"][1]["content"] = json!({"mode": "sized"});
    let p = ok(&v);
    assert_eq!(p.scenarios[0].content, Content::Scripted(vec![DEFAULT_SCRIPT_LINE.into()]));
    assert_eq!(p.scenarios[1].content, Content::Sized(DEFAULT_SIZED_TOKENS));
    v["scenarios"][0]["content"] = json!({"mode": "pool"});
    let p = ok(&v);
    assert_eq!(p.scenarios[0].content, Content::Pool(vec![DEFAULT_PROMPT.into()]));
    assert_eq!(p.warnings, Vec::<String>::new(), "a missing list is the documented default");
}

#[test]
fn unknown_protocol_lists_the_known_ones() {
    let mut v = base();
    v["scenarios"][0]["protocol"] = json!("openai");
    only_error(
        &v,
        "scenarios[0].protocol: \"openai\" is not one of openai-chat, anthropic, openai-responses, openai-completions",
    );
    // A bad default is reported once, not again for each scenario that inherits it.
    let mut v = base();
    v["defaults"]["protocol"] = json!("anthropc");
    only_error(
        &v,
        "defaults.protocol: \"anthropc\" is not one of openai-chat, anthropic, openai-responses, \
         openai-completions; did you mean \"anthropic\"?",
    );
}

#[test]
fn bad_durations_name_the_field() {
    let mut v = base();
    v["warmup"] = json!("10");
    v["timeout"] = json!("0s");
    v["think_time"] = json!("5 parsecs");
    v["scenarios"][0]["think_time"] = json!("-1s");
    let e = errs(&v);
    assert_eq!(e.len(), 4, "{e:#?}");
    assert!(e[0].starts_with("warmup: \"10\" has no unit"), "{}", e[0]);
    assert_eq!(e[1], "timeout: must be above 0");
    assert!(e[2].starts_with("think_time: \"5 parsecs\": unknown unit"), "{}", e[2]);
    assert_eq!(e[3], "scenarios[0].think_time: \"-1s\" is negative");
}

#[test]
fn bad_stages_name_the_item() {
    let mut v = base();
    v["stages"] = json!(["10:5", "x:5s", {"concurrency": 0, "duration": "1s"}, {"duration": "1s"},
        {"rate": 5}, {"users": 2, "rate": 3, "duration": "1s"}]);
    let e = errs(&v);
    assert_eq!(e.len(), 6, "{e:#?}");
    assert!(e[0].starts_with("stages[0]: stage \"10:5\": \"5\" has no unit"), "{}", e[0]);
    assert_eq!(e[1], "stages[1]: stage \"x:5s\": users \"x\" is not a whole number");
    assert_eq!(e[2], "stages[2].concurrency: 0 must be a whole number above 0");
    assert_eq!(e[3], "stages[3]: give exactly one of concurrency, users or rate (found none)");
    assert_eq!(e[4], "stages[4].duration: missing (e.g. \"60s\")");
    assert_eq!(e[5], "stages[5]: give exactly one of concurrency, users or rate (found users and rate)");
    v["stages"] = json!("1:1s, 100");
    only_error(&v, "stages: stage \"100\": expected N:DURATION (closed) or @RATE:DURATION (open)");
    v["stages"] = json!([]);
    assert!(errs(&v)[0].starts_with("stages: no stages"));
    v.as_object_mut().unwrap().remove("stages");
    assert!(errs(&v)[0].starts_with("stages: no stages"));
}

#[test]
fn stage_forms_and_go_durations() {
    let mut v = base();
    v["stages"] = json!(["5:1m30s", "@2000:60s", "10..50:30s", "@1..9:1h2m",
        {"concurrency": 20, "duration": "1m30s"}, {"users": {"from": 1, "to": 4}, "duration": "1s"},
        {"rate": 2.5, "duration": "250ms"}]);
    v["warmup"] = json!("0.2s");
    let p = ok(&v);
    let s = |secs: u64| Duration::from_secs(secs);
    assert_eq!(p.stages[0].duration, s(90));
    assert_eq!(p.stages[0].load, Load::Closed { from: 5, to: 5 });
    assert_eq!(p.stages[1].load, Load::Open { from: 2000.0, to: 2000.0 });
    assert_eq!(p.stages[2].load, Load::Closed { from: 10, to: 50 });
    assert_eq!(p.stages[3].duration, s(3720));
    assert_eq!(p.stages[4].load, Load::Closed { from: 20, to: 20 });
    assert_eq!(p.stages[5].load, Load::Closed { from: 1, to: 4 });
    assert_eq!(p.stages[6].duration, Duration::from_millis(250));
    assert_eq!(p.warmup, Duration::from_millis(200));
    v["stages"] = json!("1:10s,@5:1m30s");
    assert_eq!(ok(&v).stages.len(), 2);
    v["stages"] = json!(" 1:10s, @5:1m30s ,");
    assert_eq!(ok(&v).stages[1].duration, s(90));
    v["stages"] = json!("1:10s,7");
    assert!(errs(&v)[0].starts_with("stages: stage \"7\": expected N:DURATION"), "{:?}", errs(&v));
}

#[test]
fn target_must_be_an_http_url() {
    let mut v = base();
    v["scenarios"][1]["target"] = json!("localhost:8080/v1/messages");
    only_error(
        &v,
        "scenarios[1].target: \"localhost:8080/v1/messages\" is not an http(s) URL \
         (e.g. \"http://localhost:8080/v1/chat/completions\")",
    );
    v["scenarios"][1]["target"] = json!("ftp://host/x");
    assert!(errs(&v)[0].starts_with("scenarios[1].target: \"ftp://host/x\" is not an http(s) URL"));
    v["scenarios"][1]["target"] = json!("https://gw.example:8443/v1/messages");
    assert_eq!(ok(&v).scenarios[1].target, "https://gw.example:8443/v1/messages");
}

#[test]
fn turns_errors_and_forms() {
    let mut v = base();
    v["scenarios"][0]["turns"] = json!({"min": 5, "max": 2});
    only_error(&v, "scenarios[0].turns: min 5 > max 2");
    v["scenarios"][0]["turns"] = json!(0);
    only_error(&v, "scenarios[0].turns: 0 is not allowed (a conversation has at least 1 turn)");
    v["scenarios"][0]["turns"] = json!({"min": 0, "max": 3});
    only_error(&v, "scenarios[0].turns.min: 0 is not allowed (a conversation has at least 1 turn)");
    v["scenarios"][0]["turns"] = json!("3");
    assert!(errs(&v)[0].starts_with("scenarios[0].turns: invalid type: string \"3\""));
    v["scenarios"][0]["turns"] = json!({"min": 3, "max": 6});
    v["scenarios"][1]["turns"] = json!(4);
    let p = ok(&v);
    assert_eq!((p.scenarios[0].turns, p.scenarios[1].turns), ((3, 6), (4, 4)));
    v["scenarios"][0]["turns"] = json!({"min": 3});
    assert_eq!(ok(&v).scenarios[0].turns, (3, 3));
}

#[test]
fn thresholds_in_range() {
    let mut v = base();
    v["thresholds"] = json!({"error_rate": 1.5, "min_goodput": -0.1, "p95_ms": -3, "ttft_p95_ms": 0});
    let e = errs(&v);
    assert_eq!(e.len(), 3, "{e:#?}");
    assert_eq!(e[0], "thresholds.p95_ms: -3 must be above 0 (0 disables it)");
    assert_eq!(e[1], "thresholds.error_rate: 1.5 is not a share from 0 to 1 (0 disables it)");
    assert_eq!(e[2], "thresholds.min_goodput: -0.1 is not a share from 0 to 1 (0 disables it)");
    v["thresholds"] = json!({"error_rate": 0.02, "ttft_p95_ms": 0, "p99_ms": 800, "min_rps": 10});
    let t: Vec<(String, f64)> = ok(&v).thresholds.into_iter().map(|l| (l.name, l.bound)).collect();
    // 0 disables ttft_p95_ms; the rest in a fixed order.
    assert_eq!(t, [("error_rate".into(), 0.02), ("p99_ms".into(), 800.0), ("min_rps".into(), 10.0)]);
}

#[test]
fn other_field_errors() {
    let mut v = base();
    v["cache_mode"] = json!("buts");
    v["arrival"] = json!("poison");
    v["max_inflight"] = json!(0);
    v["correlation"] = json!({"header": "bad header"});
    v["scenarios"][1]["slo"] = json!({"ttft_ms": -1});
    v["scenarios"][1]["headers"]["X Bad"] = json!("v");
    v["scenarios"][0]["max_tokens"] = json!(-1);
    v["scenarios"][1]["name"] = json!("a");
    let e = errs(&v);
    let want = [
        r#"cache_mode: "buts" is not one of bust, shared-prefix, natural; did you mean "bust"?"#,
        r#"correlation.header: "bad header" is not a valid header name"#,
        r#"arrival: "poison" is not one of constant, poisson; did you mean "poisson"?"#,
        "max_inflight: 0 must be at least 1",
        "scenarios[0].max_tokens: -1 must be at least 1",
        r#"scenarios[1].name: "a" is already used by scenarios[0]"#,
        r#"scenarios[1].headers."X Bad": "X Bad" is not a valid header name"#,
        "scenarios[1].slo.ttft_ms: -1 must be above 0 (0 = no limit)",
    ];
    assert_eq!(e, want);
}

#[test]
fn headers_merge_case_insensitively_scenario_wins() {
    let p = ok(&base());
    assert_eq!(p.scenarios[0].headers, [("Authorization".to_string(), "Bearer k".to_string())]);
    let b = &p.scenarios[1];
    assert_eq!(b.headers.len(), 2, "{:?}", b.headers);
    assert_eq!(b.header("AUTHORIZATION"), Some("Bearer other"));
    assert_eq!(b.header("anthropic-version"), Some("2023-06-01"));
}

#[test]
fn our_fields_resolve() {
    let mut v = base();
    v["arrival"] = json!("poisson");
    v["seed"] = json!(42);
    v["max_inflight"] = json!(5000);
    v["connections"] = json!(64);
    v["grace"] = json!("5s");
    v["cache_mode"] = json!("shared-prefix");
    v["shared_prefix_tokens"] = json!(2048);
    v["think_time"] = json!("1s");
    v["correlation"] = json!({"uuid_in_prompt": false, "header": ""});
    v["disable_http2"] = json!(true);
    v["scenarios"][0]["think_time"] = json!("2s");
    v["scenarios"][0]["slo"] = json!({"ttft_ms": 500, "tpot_ms": 0, "e2e_ms": 4000});
    let p = ok(&v);
    assert_eq!(p.arrival, Some(Arrival::Poisson));
    assert_eq!((p.seed, p.max_inflight, p.connections), (Some(42), Some(5000), Some(64)));
    assert_eq!(p.grace, Some(Duration::from_secs(5)));
    assert_eq!((p.cache_mode, p.shared_prefix_tokens), (CacheMode::SharedPrefix, 2048));
    assert_eq!(p.correlation, Correlation { uuid_in_prompt: false, header: None });
    assert_eq!(p.scenarios[0].think_time, Duration::from_secs(2));
    assert_eq!(p.scenarios[1].think_time, Duration::from_secs(1));
    let slo: Vec<(&str, f64)> = p.scenarios[0].slo.iter().map(|l| (l.name.as_str(), l.bound)).collect();
    assert_eq!(slo, [("ttft_ms", 500.0), ("e2e_ms", 4000.0)]);
    assert!(p.scenarios[1].slo.is_empty());
}

#[test]
fn all_errors_are_collected() {
    let mut v = base();
    v["warmup"] = json!("soon");
    v["stages"] = json!(["1:1s", "oops"]);
    v["thresholds"] = json!({"error_rate": 2});
    v["scenarios"][0]["turns"] = json!(0);
    v["scenarios"][1]["content"] = json!({"mode": "scripted", "script": []});
    v["scenarios"][1]["protocol"] = json!("gemini");
    assert_eq!(errs(&v).len(), 6, "{:#?}", errs(&v));
}

pub(super) fn with(raw: &Value, o: &Overrides) -> Result<Profile, Vec<String>> {
    apply(parse_raw(&raw.to_string()).unwrap(), o)
}

#[test]
fn target_and_model_overrides_touch_only_inheriting_scenarios() {
    let mut v = base();
    v["scenarios"].as_array_mut().unwrap().push(json!({"name": "c", "target": CHAT, "model": "mock-gpt"}));
    v["scenarios"].as_array_mut().unwrap().push(json!({"name": "d", "target": "", "model": ""}));
    v["stages"] = json!(["6:1s"]);
    let gw = "https://gw.example/v1/chat/completions";
    let o =
        Overrides { target: Some(gw.into()), model: Some("openai/gpt-4o".into()), ..Overrides::default() };
    let p = with(&v, &o).unwrap();
    let targets: Vec<&str> = p.scenarios.iter().map(|s| s.target.as_str()).collect();
    assert_eq!(targets, [gw, MESSAGES, gw, gw]);
    let models: Vec<&str> = p.scenarios.iter().map(|s| s.model.as_str()).collect();
    assert_eq!(models, ["openai/gpt-4o", "mock-claude", "openai/gpt-4o", "openai/gpt-4o"]);
    // With no target anywhere, --target supplies it.
    let bare = json!({"defaults": {"model": "m"}, "stages": "1:1s"});
    let p = with(&bare, &Overrides { target: Some(gw.into()), ..Overrides::default() }).unwrap();
    assert_eq!((p.scenarios[0].name.as_str(), p.scenarios[0].target.as_str()), ("default", gw));
    let e = with(&bare, &Overrides { target: Some("gw:80".into()), ..Overrides::default() }).unwrap_err();
    assert!(e[0].starts_with("--target: \"gw:80\" is not an http(s) URL"), "{e:?}");
}

#[test]
fn vk_sets_bearer_everywhere_and_x_api_key_for_anthropic_only() {
    let mut v = base();
    v["scenarios"][0]["headers"] = json!({"x-api-key": "keep"});
    let o = Overrides {
        vk: Some("sk-1".into()),
        headers: vec![("X-Route".into(), "fast".into()), ("authorization".into(), "Bearer hdr".into())],
        ..Overrides::default()
    };
    let p = with(&v, &Overrides { vk: Some("sk-1".into()), ..Overrides::default() }).unwrap();
    let (a, b) = (&p.scenarios[0], &p.scenarios[1]);
    assert_eq!(a.header("authorization"), Some("Bearer sk-1"));
    assert_eq!(a.header("x-api-key"), Some("keep"), "openai-chat scenario keeps its own x-api-key");
    assert_eq!(b.header("Authorization"), Some("Bearer sk-1"));
    assert_eq!(b.header("x-api-key"), Some("sk-1"));
    assert_eq!(b.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("authorization")).count(), 1);
    // --header comes after --vk, so it wins.
    let p = with(&v, &o).unwrap();
    assert_eq!(p.scenarios[1].header("authorization"), Some("Bearer hdr"));
    assert_eq!(p.scenarios[0].header("x-route"), Some("fast"));
    let framing = Overrides { headers: vec![("Content-Length".into(), "5".into())], ..Overrides::default() };
    let e = with(&v, &framing).unwrap_err();
    assert_eq!(
        e,
        ["--header \"Content-Length\": \"Content-Length\" is set by llmload from the body; remove it"]
    );
    let bad = Overrides {
        vk: Some("a\nb".into()),
        headers: vec![("a b".into(), "v".into())],
        ..Overrides::default()
    };
    let e = with(&v, &bad).unwrap_err();
    assert_eq!(e[0], "--vk: the value of \"Authorization\" has characters not allowed in a header");
    assert_eq!(e[1], "--header \"a b\": \"a b\" is not a valid header name");
}

#[test]
fn stages_override_replaces_and_revalidates() {
    let o = |s: &str| Overrides { stages: Some(s.into()), ..Overrides::default() };
    let p = with(&base(), &o("1:10s,100:1m30s,@500:2m")).unwrap();
    assert_eq!(p.stages.len(), 3);
    assert_eq!(p.stages[1].duration, Duration::from_secs(90));
    let e = with(&base(), &o("1:10s,100")).unwrap_err();
    assert_eq!(e, ["--stages: stage \"100\": expected N:DURATION (closed) or @RATE:DURATION (open)"]);
    assert!(with(&base(), &o(" , ")).unwrap_err()[0].starts_with("--stages: no stages"));
    // A profile without stages is valid once --stages supplies them.
    let mut v = base();
    v.as_object_mut().unwrap().remove("stages");
    assert_eq!(with(&v, &o("@5:1s")).unwrap().stages.len(), 1);
    // Other errors are still found after the override.
    v["scenarios"][0]["turns"] = json!(0);
    assert_eq!(with(&v, &o("@5:1s")).unwrap_err().len(), 1);
}

#[test]
fn insecure_and_seed_overrides() {
    let o = Overrides { insecure: true, seed: Some(7), ..Overrides::default() };
    let p = with(&base(), &o).unwrap();
    assert!(p.insecure_skip_verify);
    assert_eq!(p.seed, Some(7));
    assert!(!ok(&base()).insecure_skip_verify);
}
