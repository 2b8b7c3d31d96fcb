//! scripts/multi-service.sh on the real binary: two mocks whose fixed TTFTs differ by 60 ms,
//! compared in the same window for two rounds; the per-round and across-rounds deltas, the
//! key path (one gateway needs a key, named by an environment variable, that must never be
//! written anywhere), and SERVICES errors refused before any llmload run starts.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{run_limited, tempdir, Mock};

const BIN: &str = env!("CARGO_BIN_EXE_llmload");
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/multi-service.sh");
/// The slow gateway's key: it must reach the slow mock (which refuses requests without it)
/// and appear nowhere in the script's output or under OUT.
const KEY: &str = "sk-test-multi-7f3a9c1e5b";

/// The script with a clean environment for its own variables, a time limit, and both
/// streams captured (drained on threads so a chatty child cannot block).
fn script(args: &[&str], env: &[(&str, &str)], limit: Duration) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg(SCRIPT).args(args);
    for var in
        ["SERVICES", "SERVICES_FILE", "OUT", "EXTRA_ARGS", "CORES_PER_RUN", "START_DELAY", "LLMLOAD_VK"]
    {
        cmd.env_remove(var);
    }
    cmd.env("LLMLOAD_BIN", BIN).envs(env.iter().copied());
    run_limited(&mut cmd, limit)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A one-scenario streamed profile whose own target (a closed port) and model (one the mock
/// does not serve) must both be replaced by the gateway's --target and --model: if either
/// override failed, every request would fail.
fn profile(dir: &Path) -> PathBuf {
    let p = dir.join("profile.json");
    let json = serde_json::json!({
        "defaults": {"protocol": "openai-chat", "target": "http://127.0.0.1:9/v1/chat/completions",
                     "model": "not-served-by-the-mock", "max_tokens": 20, "stream": true},
        "stages": ["1:1s"],
        "scenarios": [{"name": "chat", "content": {"mode": "pool", "prompts": ["Say hello."]}}],
    });
    std::fs::write(&p, json.to_string()).unwrap();
    p
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The `ms` value of a cell like `+60.0ms` / `20.2ms`.
fn ms(cell: &str) -> f64 {
    cell.trim_end_matches("ms").parse().unwrap_or_else(|_| panic!("{cell:?} is not a number of ms"))
}

#[test]
fn two_gateways_in_the_same_window_show_the_ttft_difference_each_round_and_across_rounds() {
    let mock_args = |ttft: &'static str| {
        vec!["--ttft", ttft, "--itl", "5ms", "--output-tokens", "20", "--cores", "1", "--seed", "1"]
    };
    let fast = Mock::start(&mock_args("20ms"));
    let mut slow_args = mock_args("80ms");
    slow_args.extend(["--api-key", KEY]);
    let slow = Mock::start(&slow_args);

    let dir = tempdir("multi");
    let profile = profile(&dir);
    let services = dir.join("services.txt");
    std::fs::write(
        &services,
        format!(
            "# name|target|model|key-env-var\n\
             fast|http://{}/v1/chat/completions|mock-gpt|-\n\
             \n\
             slow | http://{}/v1/chat/completions | mock-gpt | MULTI_TEST_SLOW_KEY\n",
            fast.addr, slow.addr
        ),
    )
    .unwrap();
    let out_dir = dir.join("out");
    let o = script(
        &[profile.to_str().unwrap(), "2:2s", "2"],
        &[
            ("SERVICES_FILE", services.to_str().unwrap()),
            ("MULTI_TEST_SLOW_KEY", KEY),
            ("CORES_PER_RUN", "1"),
            ("OUT", out_dir.to_str().unwrap()),
        ],
        Duration::from_secs(120),
    );
    let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
    let ctx = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(o.status.code(), Some(0), "{ctx}");
    assert!(!stderr.contains("the profile sends some scenarios"), "{ctx}");

    // Two rounds, each with its own table of both gateways.
    let rounds: Vec<&str> = stdout.split("== round ").skip(1).collect();
    assert_eq!(rounds.len(), 2, "{ctx}");
    for (r, round) in rounds.iter().enumerate() {
        assert!(round.starts_with(&format!("{}/2: 2 gateways at ", r + 1)), "{ctx}");
        let row = |name: &str| -> Vec<&str> {
            let line = round
                .lines()
                .find(|l| l.split_whitespace().next() == Some(name))
                .unwrap_or_else(|| panic!("round {}: no row for {name}\n{ctx}", r + 1));
            line.split_whitespace().collect()
        };
        assert!(round.lines().any(|l| l.starts_with("gateway") && l.contains("ttft_p50_Δ")), "{ctx}");
        let (f, s) = (row("fast"), row("slow"));
        // gateway ttft_p50 ttft_p95 lat_p95 rps err ttft_p50_Δ: no errors (so the key, the
        // target and the model all reached the mocks), and the delta of the fixed TTFTs.
        assert_eq!(f[5], "0.00%", "round {}: fast had errors\n{ctx}", r + 1);
        assert_eq!(s[5], "0.00%", "round {}: slow had errors\n{ctx}", r + 1);
        assert_eq!(f[6], "+0.0ms", "{ctx}");
        let delta = ms(s[6]);
        assert!((40.0..=90.0).contains(&delta), "round {}: slow's delta {delta} ms\n{ctx}", r + 1);
        assert!((15.0..=60.0).contains(&ms(f[1])), "round {}: fast's TTFT p50\n{ctx}", r + 1);
    }

    // Across rounds: the median (and min, max) delta of each gateway.
    let across = stdout.split("across 2 rounds:").nth(1).unwrap_or_else(|| panic!("no across part\n{ctx}"));
    let row = |name: &str| -> Vec<f64> {
        let line = across
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no across-rounds row for {name}\n{ctx}"));
        line.split_whitespace().skip(1).map(ms).collect()
    };
    assert_eq!(row("fast"), vec![0.0, 0.0, 0.0], "{ctx}");
    let s = row("slow");
    assert_eq!(s.len(), 3, "{ctx}");
    assert!((40.0..=90.0).contains(&s[0]), "slow's median delta {}\n{ctx}", s[0]);
    assert!(s[1] <= s[0] && s[0] <= s[2], "{ctx}");
    assert!(stdout.contains(&format!("results: {}", out_dir.display())), "{ctx}");

    // The layout: one run per gateway and round, each with its summary; the exit codes.
    for r in 1..=2 {
        let round = out_dir.join(format!("round-{r}"));
        assert_eq!(std::fs::read_to_string(round.join("exit-codes")).unwrap(), "fast 0\nslow 0\n");
        for name in ["fast", "slow"] {
            let runs: Vec<_> = std::fs::read_dir(round.join(name)).unwrap().flatten().collect();
            assert_eq!(runs.len(), 1, "round {r} {name}");
            let summary: serde_json::Value =
                serde_json::from_slice(&std::fs::read(runs[0].path().join("summary.json")).unwrap()).unwrap();
            let all = &summary["stages"][0]["all"];
            assert!(all["requests"].as_u64().unwrap() >= 4, "round {r} {name}: {all}");
            assert_eq!(all["failed"].as_u64(), Some(0), "round {r} {name}: {all}");
        }
    }
    assert!(out_dir.join("summary.txt").is_file());

    // The key: nowhere in the output, nowhere in any file the runs wrote.
    assert!(!stdout.contains(KEY) && !stderr.contains(KEY), "the key leaked into the output");
    let all_files = files(&out_dir);
    assert!(all_files.len() >= 2 * 2 * 3, "{all_files:?}");
    for f in all_files {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()), "the key is in {}", f.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_services_lines_are_refused_before_any_run_starts() {
    let dir = tempdir("multi-bad");
    let profile = profile(&dir);
    // An llmload that records every invocation: any call at all means the script went ahead.
    let marker = dir.join("llmload-was-called");
    let wrapper = dir.join("llmload");
    std::fs::write(&wrapper, format!("#!/bin/sh\ntouch '{}'\nexec '{BIN}' \"$@\"\n", marker.display()))
        .unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out_dir = dir.join("out");
    let services = dir.join("services.txt");
    let run = |lines: &str, env: &[(&str, &str)]| {
        std::fs::write(&services, lines).unwrap();
        let mut vars = vec![
            ("SERVICES_FILE", services.to_str().unwrap()),
            ("OUT", out_dir.to_str().unwrap()),
            ("LLMLOAD_BIN", wrapper.to_str().unwrap()),
        ];
        vars.extend_from_slice(env);
        let o = script(&[profile.to_str().unwrap(), "1:1s", "2"], &vars, Duration::from_secs(30));
        assert!(!marker.exists(), "llmload was started:\n{}", text(&o.stderr));
        assert!(!out_dir.exists(), "OUT was created");
        (o.status.code(), text(&o.stdout), text(&o.stderr))
    };

    // The 4th field missing, on line 3 (after a comment and a good line).
    let (code, stdout, stderr) = run(
        "# gateways\n\
         a|http://127.0.0.1:9/v1/chat/completions|mock-gpt|-\n\
         b|http://127.0.0.1:9/v1/chat/completions|mock-gpt\n",
        &[],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("line 3: gateway 'b': 3 field(s), expected 4"), "{stderr}");
    assert!(stderr.contains("nothing was run"), "{stderr}");

    // An empty 4th field, a key variable that is not set, a key pasted in place of the
    // variable's name (refused without being echoed), a target that is not a URL.
    let pasted = "sk-live-0123456789.abcdef";
    let (code, _, stderr) = run(
        &format!(
            "a|http://127.0.0.1:9/v1|m|\n\
             b|http://127.0.0.1:9/v1|m|MULTI_TEST_UNSET_KEY\n\
             c|http://127.0.0.1:9/v1|m|{pasted}\n\
             d|127.0.0.1:9|m|-\n"
        ),
        &[],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("line 1: gateway 'a': no key variable (4th field)"), "{stderr}");
    assert!(stderr.contains("line 2: gateway 'b': key variable MULTI_TEST_UNSET_KEY is not set"), "{stderr}");
    assert!(stderr.contains("line 3: gateway 'c': the 4th field must be the NAME"), "{stderr}");
    assert!(stderr.contains("line 4: gateway 'd': target '127.0.0.1:9' is not an http(s) URL"), "{stderr}");
    assert!(!stderr.contains(pasted), "a pasted key was echoed: {stderr}");

    // A key on the command line is refused too.
    let (code, _, stderr) =
        run("a|http://127.0.0.1:9/v1|m|-\n", &[("EXTRA_ARGS", "--stream --vk sk-on-the-command-line")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("EXTRA_ARGS: --vk is refused"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_and_missing_arguments() {
    let o = script(&["--help"], &[], Duration::from_secs(10));
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o.stdout).starts_with("usage: scripts/multi-service.sh PROFILE STAGES ROUNDS"));
    let o = script(&[], &[], Duration::from_secs(10));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).starts_with("usage: "), "{}", text(&o.stderr));
    let o = script(
        &["-", "1:1s", "two"],
        &[("SERVICES", "a|http://127.0.0.1:9/v1|m|-")],
        Duration::from_secs(10),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("ROUNDS must be a positive whole number"), "{}", text(&o.stderr));
}
