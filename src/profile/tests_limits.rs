//! Every bound of `limits`, through the profile (the stage grammar, object stages, the
//! overrides), with the JSON path or flag in the message.

use std::time::Duration;

use serde_json::json;

use super::limits::{self, MAX_RATE, MAX_STAGE, MAX_USERS};
use super::stages::{Load, Stage};
use super::tests::{base, errs, ok, only_error, with};
use super::*;

#[test]
fn stage_durations_are_bounded_in_strings_and_objects() {
    // `--stages 5:1ns` used to start the load and fail at report time.
    assert_eq!(Stage::parse("5:1ns").unwrap_err(), "stage \"5:1ns\": duration 1ns is below the minimum 1ms");
    assert_eq!(
        Stage::parse("5:721h").unwrap_err(),
        "stage \"5:721h\": duration 721h is above the limit 720h"
    );
    assert_eq!(Stage::parse("5:1ms").unwrap().duration, limits::MIN_STAGE);
    assert_eq!(Stage::parse("5:720h").unwrap().duration, MAX_STAGE);
    // A duration past u64 nanoseconds saturates and is caught by the same bound.
    assert!(Stage::parse("5:99999999999999999999h").unwrap_err().contains("above the limit 720h"));
    for bad in ["5:0.5ms", "5:0s", "@1e9:1s", "@1e300:1s", "1000001:1s", "0..1000001:1s", "@0..2e7:1s"] {
        assert!(Stage::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(
        Stage::parse("5:0.5ms").unwrap_err(),
        "stage \"5:0.5ms\": duration 500us is below the minimum 1ms"
    );
    assert_eq!(Stage::parse("5:0s").unwrap_err(), "stage \"5:0s\": duration must be above 0");
    let mut v = base();
    v["stages"] = json!([{"concurrency": 4, "duration": "1ns"}, {"users": 4, "duration": "721h"}]);
    let e = errs(&v);
    assert_eq!(
        e,
        [
            "stages[0].duration: 1ns is below the minimum 1ms",
            "stages[1].duration: 721h is above the limit 720h"
        ]
    );
    let o = Overrides { stages: Some("4:1s,5:1ns".into()), ..Overrides::default() };
    assert_eq!(
        with(&base(), &o).unwrap_err(),
        ["--stages: stage \"5:1ns\": duration 1ns is below the minimum 1ms"]
    );
}

#[test]
fn rates_are_above_zero_and_bounded() {
    assert_eq!(
        Stage::parse("@1e9:1s").unwrap_err(),
        "stage \"@1e9:1s\": rate 1e9/s is above the limit 10000000/s"
    );
    assert_eq!(
        Stage::parse("@1e300:1s").unwrap_err(),
        "stage \"@1e300:1s\": rate 1e300/s is above the limit 10000000/s"
    );
    assert_eq!(
        Stage::parse("@0..2e7:1m").unwrap_err(),
        "stage \"@0..2e7:1m\": rate 20000000/s is above the limit 10000000/s"
    );
    assert_eq!(Stage::parse("@0:1s").unwrap_err(), "stage \"@0:1s\": rate must be above 0");
    assert_eq!(Stage::parse("@10000000:1s").unwrap().load, Load::Open { from: MAX_RATE, to: MAX_RATE });
    assert_eq!(Stage::parse("@0..5:1s").unwrap().load, Load::Open { from: 0.0, to: 5.0 });
    let mut v = base();
    v["stages"] = json!([{"rate": 1e9, "duration": "1s"}, {"rate": {"from": 0, "to": 2e7}, "duration": "1s"},
        {"rate": 0, "duration": "1s"}, {"rate": -1, "duration": "1s"}]);
    assert_eq!(
        errs(&v),
        [
            "stages[0].rate: 1e9/s is above the limit 10000000/s",
            "stages[1].rate: 20000000/s is above the limit 10000000/s",
            "stages[2].rate: must be above 0",
            "stages[3].rate: must be a number ≥ 0",
        ]
    );
}

#[test]
fn users_are_bounded() {
    assert_eq!(
        Stage::parse("1000001:1s").unwrap_err(),
        "stage \"1000001:1s\": users 1000001 is above the limit 1000000"
    );
    // Past u32: the limit's message, not "not a whole number".
    assert_eq!(
        Stage::parse("5000000000:1s").unwrap_err(),
        "stage \"5000000000:1s\": users 5000000000 is above the limit 1000000"
    );
    assert_eq!(
        Stage::parse("1..1000001:1s").unwrap_err(),
        "stage \"1..1000001:1s\": users 1000001 is above the limit 1000000"
    );
    assert_eq!(Stage::parse("1000000:1s").unwrap().peak_users(), MAX_USERS);
    let mut v = base();
    v["stages"] = json!([{"concurrency": 1_000_001, "duration": "1s"}, {"users": {"from": 1, "to": 2e6}, "duration": "1s"},
        {"users": 5e9, "duration": "1s"}, {"concurrency": 5_000_000_000_i64, "duration": "1s"}]);
    assert_eq!(
        errs(&v),
        [
            "stages[0].concurrency: 1000001 is above the limit 1000000",
            "stages[1].users: 2000000 is above the limit 1000000",
            "stages[2].users: 5e9 is above the limit 1000000",
            "stages[3].concurrency: 5000000000 is above the limit 1000000",
        ]
    );
}

#[test]
fn turns_and_tokens_are_bounded() {
    let mut v = base();
    v["scenarios"][0]["turns"] = json!(10_001);
    only_error(&v, "scenarios[0].turns: 10001 is above the limit 10000");
    v["scenarios"][0]["turns"] = json!({"min": 1, "max": 10_001});
    only_error(&v, "scenarios[0].turns.max: 10001 is above the limit 10000");
    v["scenarios"][0]["turns"] = json!(10_000);
    assert_eq!(ok(&v).scenarios[0].turns, (10_000, 10_000));

    let mut v = base();
    v["defaults"]["max_tokens"] = json!(1_000_001);
    v["scenarios"][1]["max_tokens"] = json!(2_000_000);
    assert_eq!(
        errs(&v),
        [
            "defaults.max_tokens: 1000001 is above the limit 1000000",
            "scenarios[1].max_tokens: 2000000 is above the limit 1000000"
        ]
    );
    v["defaults"]["max_tokens"] = json!(1_000_000);
    v["scenarios"][1].as_object_mut().unwrap().remove("max_tokens");
    assert_eq!(ok(&v).scenarios[1].max_tokens, limits::MAX_OUTPUT_TOKENS);

    // 2e9 tokens passed validation once and aborted the run on a 16 GB allocation.
    let mut v = base();
    v["scenarios"][1]["content"] = json!({"mode": "sized", "approx_input_tokens": 2_000_000_000_u32});
    only_error(&v, "scenarios[1].content.approx_input_tokens: 2000000000 is above the limit 4000000");
    v["scenarios"][1]["content"] = json!({"mode": "sized", "approx_input_tokens": 4_000_000});
    assert_eq!(ok(&v).scenarios[1].content, Content::Sized(limits::MAX_INPUT_TOKENS));
    let mut v = base();
    v["cache_mode"] = json!("shared-prefix");
    v["shared_prefix_tokens"] = json!(4_000_001);
    only_error(&v, "shared_prefix_tokens: 4000001 is above the limit 4000000");
}

#[test]
fn timeouts_and_pauses_are_bounded() {
    let mut v = base();
    v["timeout"] = json!("25h");
    v["think_time"] = json!("25h");
    v["grace"] = json!("48h");
    v["warmup"] = json!("721h");
    v["scenarios"][0]["think_time"] = json!("1000h");
    assert_eq!(
        errs(&v),
        [
            "warmup: 721h is above the limit 720h",
            "timeout: 25h is above the limit 24h",
            "think_time: 25h is above the limit 24h",
            "grace: 48h is above the limit 24h",
            "scenarios[0].think_time: 1000h is above the limit 24h",
        ]
    );
    let mut v = base();
    v["timeout"] = json!("500us");
    only_error(&v, "timeout: 500us is below the minimum 1ms");
    v["timeout"] = json!("24h");
    v["grace"] = json!("0s");
    let p = ok(&v);
    assert_eq!((p.timeout, p.grace), (limits::MAX_TIMEOUT, Some(Duration::ZERO)));
}

#[test]
fn counts_are_bounded() {
    let mut v = base();
    v["max_inflight"] = json!(1_000_001);
    v["connections"] = json!(0);
    v["scenarios"][0]["weight"] = json!(5_000_000_000_i64);
    assert_eq!(
        errs(&v),
        [
            "max_inflight: 1000001 is above the limit 1000000",
            "connections: 0 must be at least 1",
            "scenarios[0].weight: 5000000000 is above the limit 4294967295",
        ]
    );
}

#[test]
fn a_warmup_that_covers_a_stage_is_an_error_naming_it() {
    let mut v = base();
    v["stages"] = json!(["4:10s", "4:5s", "@5:3s"]);
    v["warmup"] = json!("5s");
    only_error(
        &v,
        "warmup: 5s is not shorter than stages[1] (4:5s), stages[2] (@5:3s), which would measure nothing \
         (shorten the warmup or lengthen the stage)",
    );
    v["warmup"] = json!("2999ms");
    assert_eq!(ok(&v).warmup, Duration::from_millis(2999));
    // `--warmup` and `--stages` are checked the same way, and named.
    let o = Overrides { warmup: Some("10s".into()), ..Overrides::default() };
    assert_eq!(
        with(&v, &o).unwrap_err(),
        ["--warmup: 10s is not shorter than stages[0] (4:10s), stages[1] (4:5s), stages[2] (@5:3s), which \
          would measure nothing (shorten the warmup or lengthen the stage)"]
    );
    let o = Overrides { stages: Some("4:1m,4:2s".into()), ..Overrides::default() };
    assert!(
        with(&v, &o).unwrap_err()[0].starts_with("warmup: 2.999s is not shorter than --stages[1] (4:2s),")
    );
    // An override replaces the profile's warmup: a shorter one makes the profile valid.
    v["warmup"] = json!("1h");
    let o = Overrides { warmup: Some("1s".into()), ..Overrides::default() };
    assert_eq!(with(&v, &o).unwrap().warmup, Duration::from_secs(1));
    let o = Overrides { warmup: Some("soon".into()), ..Overrides::default() };
    assert!(with(&v, &o).unwrap_err()[0].starts_with("--warmup: \"soon\""));
}
