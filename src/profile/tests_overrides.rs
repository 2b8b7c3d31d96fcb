//! Precedence of every profile-overriding flag: the flag's value when given, else the
//! profile's, else the default; a replaced field is not checked; errors name the flag.

use std::time::Duration;

use serde_json::json;

use super::tests::{base, with};
use super::*;
use crate::tokens::Tokenizer;

fn o() -> Overrides {
    Overrides::default()
}

#[test]
fn each_replacing_flag_beats_the_profile_which_beats_the_default() {
    let s = Duration::from_secs;
    // Defaults: nothing set.
    let p = with(&base(), &o()).unwrap();
    assert_eq!(
        (p.timeout, p.grace, p.arrival, p.max_inflight, p.connections),
        (s(120), None, None, None, None)
    );
    assert!(!p.capture_error_body && !p.insecure_skip_verify);
    // The profile's values.
    let mut v = base();
    for (k, val) in [
        ("timeout", json!("30s")),
        ("grace", json!("2s")),
        ("arrival", json!("poisson")),
        ("max_inflight", json!(50)),
        ("connections", json!(8)),
        ("seed", json!(7)),
        ("tokenizer", json!("cl100k_base")),
    ] {
        v[k] = val;
    }
    let p = with(&v, &o()).unwrap();
    assert_eq!(
        (p.timeout, p.grace, p.arrival, p.max_inflight, p.connections, p.seed),
        (s(30), Some(s(2)), Some(Arrival::Poisson), Some(50), Some(8), Some(7))
    );
    assert_eq!(p.tokenizer, Some(Tokenizer::Cl100k));
    // The flags' values, over the profile's.
    let flags = Overrides {
        timeout: Some("1m30s".into()),
        grace: Some("500ms".into()),
        arrival: Some("constant".into()),
        max_inflight: Some(3),
        connections: Some(2),
        seed: Some(9),
        tokenizer: Some("o200k_base".into()),
        capture_error_body: true,
        insecure: true,
        ..o()
    };
    let p = with(&v, &flags).unwrap();
    assert_eq!(
        (p.timeout, p.grace, p.arrival, p.max_inflight, p.connections, p.seed),
        (s(90), Some(Duration::from_millis(500)), Some(Arrival::Constant), Some(3), Some(2), Some(9))
    );
    assert!(p.capture_error_body && p.insecure_skip_verify);
    assert_eq!(p.tokenizer, Some(Tokenizer::O200k));
    // The flags alone, over the defaults.
    let p = with(&base(), &flags).unwrap();
    assert_eq!((p.timeout, p.arrival, p.connections), (s(90), Some(Arrival::Constant), Some(2)));
    assert_eq!((p.tokenizer, with(&base(), &o()).unwrap().tokenizer), (Some(Tokenizer::O200k), None));
}

#[test]
fn a_replaced_field_is_not_checked() {
    let mut v = base();
    v["timeout"] = json!("soon");
    v["arrival"] = json!("bursty");
    v["max_inflight"] = json!(0);
    v["tokenizer"] = json!("gpt2");
    assert_eq!(with(&v, &o()).unwrap_err().len(), 4);
    let flags = Overrides {
        timeout: Some("5s".into()),
        arrival: Some("poisson".into()),
        max_inflight: Some(10),
        tokenizer: Some("cl100k_base".into()),
        ..o()
    };
    let p = with(&v, &flags).unwrap();
    assert_eq!(
        (p.timeout, p.arrival, p.max_inflight),
        (Duration::from_secs(5), Some(Arrival::Poisson), Some(10))
    );
}

#[test]
fn flag_errors_name_the_flag_and_are_all_reported() {
    let flags = Overrides {
        timeout: Some("90".into()),
        grace: Some("25h".into()),
        arrival: Some("poison".into()),
        max_inflight: Some(0),
        connections: Some(2_000_000),
        tokenizer: Some("o200k_bse".into()),
        ..o()
    };
    let e = with(&base(), &flags).unwrap_err();
    assert_eq!(e.len(), 6, "{e:#?}");
    assert!(e[0].starts_with("--timeout: \"90\" has no unit"), "{}", e[0]);
    assert_eq!(e[1], "--grace: 25h is above the limit 24h");
    assert_eq!(e[2], r#"--arrival: "poison" is not one of constant, poisson; did you mean "poisson"?"#);
    assert_eq!(e[3], "--max-inflight: 0 must be at least 1");
    assert_eq!(e[4], "--connections: 2000000 is above the limit 1000000");
    assert_eq!(
        e[5],
        r#"--tokenizer: "o200k_bse" is not one of o200k_base, cl100k_base; did you mean "o200k_base"?"#
    );
}

#[test]
fn an_unknown_tokenizer_in_the_profile_names_the_field() {
    let mut v = base();
    v["tokenizer"] = json!("cl100k_bas");
    let e = with(&v, &o()).unwrap_err();
    assert_eq!(
        e,
        [r#"tokenizer: "cl100k_bas" is not one of o200k_base, cl100k_base; did you mean "cl100k_base"?"#]
    );
}

#[test]
fn stages_and_warmup_flags_take_compound_durations() {
    let flags = Overrides { stages: Some("4:1m30s".into()), warmup: Some("1m0.5s".into()), ..o() };
    let p = with(&base(), &flags).unwrap();
    assert_eq!((p.stages[0].duration, p.warmup), (Duration::from_secs(90), Duration::from_millis(60_500)));
}
