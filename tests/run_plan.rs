//! The run plan through the real binary: one duration grammar for every flag, unknown names
//! refused with a suggestion (exit 2) whether they come from a flag or a profile, an output
//! directory that cannot be made (exit 4) before any load, and the exit codes in `--help`.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{assert_ran, llmload, profile_file, run_llmload, tempdir, Mock, Target};

/// Asserts `llmload run <args>` exits 2 before any load with every needle in its stderr.
fn refused(args: &[&str], target: &Target, needles: &[&str]) {
    let out = tempdir("refused");
    let mut all = vec!["run"];
    all.extend(args);
    all.extend(["--out", out.to_str().unwrap()]);
    let (code, _, err) = llmload(&all);
    assert_eq!(code, 2, "{args:?}: {err}");
    for needle in needles {
        assert!(err.contains(needle), "{args:?}: expected {needle:?} in {err}");
    }
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "{args:?}: a run directory was made");
    target.assert_untouched(&format!("{args:?}"));
}

#[test]
fn compound_durations_are_accepted_by_every_duration_flag() {
    let mock = Mock::start(&["--cores", "1", "--ttft", "1ms", "--itl", "1ms", "--output-tokens", "2"]);
    let url = format!("http://{}/v1", mock.addr);
    let args = [
        "--target",
        url.as_str(),
        "--cores",
        "1",
        "--stages",
        "2:1s",
        "--timeout",
        "1m30s",
        "--connect-timeout",
        "1m0.5s",
        "--first-byte-timeout",
        "1m30s",
        "--idle-timeout",
        "1m30s",
        "--grace",
        "1s500ms",
        "--warmup",
        "100ms",
        "--no-jsonl",
    ];
    let run = run_llmload(&args, Duration::from_secs(60));
    assert_ran(Some(run.code), &run.summary, &run.stderr);
    assert!(run.summary["stages"][0]["all"]["ok"].as_u64().unwrap_or(0) > 0, "{}", run.summary);
}

#[test]
fn unknown_arrival_and_protocol_flags_are_refused_with_a_suggestion() {
    let target = Target::new();
    let url = target.url.clone();
    refused(
        &["--target", &url, "--stages", "@5:1s", "--arrival", "poison"],
        &target,
        &[r#"--arrival: "poison" is not one of constant, poisson; did you mean "poisson"?"#],
    );
    refused(
        &["--target", &url, "--stages", "1:1s", "--protocol", "anthropc"],
        &target,
        &[r#"--protocol: "anthropc" is not one of"#, r#"did you mean "anthropic"?"#],
    );
}

#[test]
fn unknown_arrival_and_protocol_in_a_profile_are_refused_with_a_suggestion() {
    let target = Target::new();
    let path = profile_file(
        "names",
        serde_json::json!({
            "defaults": {"target": target.url, "model": "m"},
            "stages": ["@5:1s"],
            "arrival": "poison",
            "scenarios": [{"name": "a", "protocol": "openai-chatt"}]
        }),
    );
    let p = path.to_str().unwrap();
    refused(
        &[p],
        &target,
        &[
            &format!(r#"{p}: arrival: "poison" is not one of constant, poisson; did you mean "poisson"?"#),
            &format!(r#"{p}: scenarios[0].protocol: "openai-chatt" is not one of"#),
            r#"did you mean "openai-chat"?"#,
        ],
    );
    // `validate` says the same.
    let (code, _, err) = llmload(&["validate", p]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(r#"did you mean "poisson"?"#), "{err}");
    // `--arrival` replaces the profile's: only the protocol is left to refuse.
    let (code, _, err) =
        llmload(&["run", p, "--arrival", "poisson", "--out", tempdir("names-out").to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(!err.contains("arrival") && err.contains("openai-chatt"), "{err}");
    target.assert_untouched("--arrival over a bad profile");
}

#[test]
fn an_out_directory_that_cannot_be_made_exits_4_before_any_load() {
    let target = Target::new();
    let blocker = tempdir("out").join("a-file");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let out = blocker.join("runs");
    let (code, stdout, err) =
        llmload(&["run", "--target", &target.url, "--stages", "1:1s", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 4, "{stdout}{err}");
    assert!(err.contains(&format!("--out {}", out.display())), "{err}");
    assert!(err.contains("cannot create the run directory"), "{err}");
    assert!(!Path::new(&out).exists());
    target.assert_untouched("--out under a file");
}

#[test]
fn help_lists_the_exit_codes() {
    for args in [&["--help"][..], &["run", "--help"], &["knee", "--help"]] {
        let (code, out, err) = llmload(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        for line in [
            "Exit codes:",
            "0  pass",
            "1  a threshold or default limit failed",
            "2  usage or profile error",
            "3  the run is not valid: generator-bound or interrupted",
            "4  runtime error",
        ] {
            assert!(out.contains(line), "{args:?}: {line:?} missing from\n{out}");
        }
    }
}
