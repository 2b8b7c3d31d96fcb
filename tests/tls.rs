//! HTTPS end to end: the mock serves TLS with a certificate made here, and `llmload run`
//! verifies it through --cacert, rejects it without, and skips verification with --insecure.

mod common;

use std::time::Duration;

use common::{assert_accounted, run_llmload, stage_all, tempdir, Mock};

/// Writes a self-signed certificate for localhost / 127.0.0.1; returns (cert, key) paths.
fn self_signed() -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = tempdir("tls");
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

#[test]
fn https_with_verification_stream_and_not() {
    let (cert, key) = self_signed();
    let mock = Mock::start(&[
        "--cores",
        "1",
        "--ttft",
        "2ms",
        "--itl",
        "1ms",
        "--output-tokens",
        "20",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let port = mock.addr.rsplit(':').next().unwrap();
    let target = format!("https://localhost:{port}/v1");
    for stream in [false, true] {
        let mut args =
            vec!["--target", &target, "--stages", "2:1s", "--cores", "1", "--cacert", cert.to_str().unwrap()];
        if stream {
            args.push("--stream");
        }
        let run = run_llmload(&args, Duration::from_secs(20));
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        let all = stage_all(&run.summary, 0);
        assert_accounted(all);
        assert!(all["ok"].as_u64().unwrap() > 0, "{all}");
        assert_eq!(all["failed"], 0, "{all}");
        // Every new connection recorded its handshake.
        assert!(all["us"]["tls"]["count"].as_u64().unwrap() >= 1, "{all}");
        if stream {
            assert!(all["us"]["itl"]["count"].as_u64().unwrap() > 0);
        }
    }
}

#[test]
fn an_untrusted_certificate_is_a_tls_error_unless_insecure() {
    let (cert, key) = self_signed();
    let mock = Mock::start(&[
        "--cores",
        "1",
        "--ttft",
        "0",
        "--itl",
        "0",
        "--output-tokens",
        "4",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let port = mock.addr.rsplit(':').next().unwrap();
    let target = format!("https://localhost:{port}/v1");
    let run =
        run_llmload(&["--target", &target, "--stages", "1:500ms", "--cores", "1"], Duration::from_secs(20));
    let all = stage_all(&run.summary, 0);
    assert_accounted(all);
    assert_eq!(all["ok"], 0, "{all}");
    assert!(all["errors"]["tls"].as_u64().unwrap() > 0, "{all}");
    let run = run_llmload(
        &["--target", &target, "--stages", "1:500ms", "--cores", "1", "--insecure"],
        Duration::from_secs(20),
    );
    assert!(run.stderr.contains("NOT verified"), "{}", run.stderr);
    let all = stage_all(&run.summary, 0);
    assert!(all["ok"].as_u64().unwrap() > 0, "{all}");
}
