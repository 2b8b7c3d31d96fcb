//! Client cancellation (a scenario's `cancel`), end to end against the mock: the share of
//! requests abandoned, where, how they are counted (`cancelled_by_client`, outside ok_rate and
//! goodput), and the mock's view of the same disconnects (it stops generating).

mod common;

use std::time::Duration;

use common::{assert_accounted, llmload, profile_file, run_llmload, stage_all, Mock};
use serde_json::{json, Value};

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("a count: {v}"))
}

/// Runs `cancel` on a streamed chat scenario of 100 tokens, 5 ms apart (a full answer takes
/// over half a second, so a cancelled stream always has events left to send).
fn run_cancel(tag: &str, cancel: Value) -> (Mock, common::RunOutput) {
    let mock = Mock::start(&["--cores", "1", "--ttft", "20ms", "--itl", "5ms", "--output-tokens", "100"]);
    let target = format!("http://{}/v1/chat/completions", mock.addr);
    let p = profile_file(
        tag,
        json!({
            "defaults": {"model": "mock-gpt", "max_tokens": 100, "stream": true},
            "stages": ["4:2s"],
            "scenarios": [{"name": "chat", "target": target, "cancel": cancel}],
        }),
    );
    let run = run_llmload(&[p.to_str().unwrap(), "--cores", "1"], Duration::from_secs(60));
    (mock, run)
}

/// The mock's disconnect counter once it has noticed every cancel (at its next write, one
/// inter-token gap later at most; the bound is generous for a busy machine).
fn disconnects_settled(mock: &Mock, want: u64) -> u64 {
    let mut got = 0;
    for _ in 0..100 {
        got = mock.metric("llmload_mock_client_disconnects_total");
        if got >= want {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    got
}

#[test]
fn cancel_after_the_first_token_is_its_own_class_and_the_mock_stops() {
    let (mock, run) = run_cancel("cancel-first", json!({"rate": 0.5, "after": "first_token"}));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let all = stage_all(&run.summary, 0);
    assert_accounted(all);
    let lines = run.lines();
    let cancelled: Vec<&Value> = lines.iter().filter(|l| l["error"] == "cancelled_by_client").collect();
    let k = cancelled.len() as u64;
    // About half of them, and every one accounted apart from successes and failures.
    assert!(k > 0 && k < lines.len() as u64, "{k} of {}", lines.len());
    assert_eq!(
        n(&all["client_cancelled"]),
        lines.iter().filter(|l| l["warmup"] != true).filter(|l| l["error"] == "cancelled_by_client").count()
            as u64
    );
    assert_eq!(n(&all["failed"]), 0, "{all}");
    assert_eq!(all["ok_rate"], 1.0, "client cancels are outside the success share: {all}");
    assert_eq!(all["goodput"], 1.0, "and outside goodput: {all}");
    for l in &cancelled {
        assert!((1..100).contains(&n(&l["cancel_events"])), "{l}");
    }
    // The mock saw every cancel as a disconnect and stopped: far fewer than 100 events each.
    assert_eq!(disconnects_settled(&mock, k), k);
    let events = mock.metric("llmload_mock_disconnect_events_total");
    assert!(events < k * 50, "{events} events over {k} cancelled streams");
    // The report says it in words, and prom has the outcome.
    assert!(run.stdout.contains("cancelled_by_client"), "{}", run.stdout);
}

#[test]
fn cancel_after_a_time_and_after_n_events() {
    let (mock, run) = run_cancel("cancel-time", json!({"rate": 1.0, "after": "150ms"}));
    // Nothing succeeded, so there is nothing to measure: the default gate (ok_requests ≥ 1)
    // fails the run, as it should; the cancels themselves are no errors.
    assert_eq!(run.code, 1, "{}", run.stderr);
    let all = stage_all(&run.summary, 0);
    assert_accounted(all);
    assert_eq!(n(&all["ok"]), 0);
    assert!(n(&all["client_cancelled"]) > 0);
    for l in run.lines() {
        assert_eq!(l["error"], "cancelled_by_client", "{l}");
        // Sent, then abandoned at 150 ms: never before, and (a busy machine) within seconds.
        let e2e = n(&l["service_us"]);
        assert!((150_000..3_000_000).contains(&e2e), "{l}");
    }
    assert_eq!(n(&all["failed"]), 0, "{all}");
    assert!(disconnects_settled(&mock, 1) >= 1);

    let (_mock, run) = run_cancel("cancel-events", json!({"rate": 1.0, "after": "10 events"}));
    for l in run.lines() {
        assert_eq!(l["error"], "cancelled_by_client", "{l}");
        let events = n(&l["cancel_events"]);
        assert!((10..100).contains(&events), "{l}");
    }
}

#[test]
fn a_bad_cancel_is_rejected_naming_the_field() {
    for (cancel, field) in [
        (json!({"rate": 1.5, "after": "first_token"}), "scenarios[0].cancel.rate"),
        (json!({"rate": 0.1}), "scenarios[0].cancel.after"),
        (json!({"rate": 0.1, "after": "whenever"}), "scenarios[0].cancel.after"),
        (json!({"rate": 0.1, "after": "first_token", "when": 1}), "when"),
    ] {
        let p = profile_file(
            "bad-cancel",
            json!({"defaults": {"target": "http://127.0.0.1:9/v1/chat/completions", "model": "m"},
                   "stages": ["1:1s"], "scenarios": [{"cancel": cancel}]}),
        );
        let (code, out, err) = llmload(&["validate", p.to_str().unwrap()]);
        assert_eq!(code, 2, "{out}{err}");
        assert!(err.contains(field), "{field}: {err}");
    }
}
