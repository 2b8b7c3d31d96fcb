//! HTTPS end to end: the mock serves TLS with a certificate made here, and `llmload run`
//! verifies it through --cacert, rejects it without, and skips verification with --insecure.

mod common;

use std::time::Duration;

use common::{assert_accounted, run_llmload, stage_all, tempdir, Mock};

/// Writes a self-signed certificate for localhost / 127.0.0.1; returns (cert, key) paths.
fn self_signed() -> (std::path::PathBuf, std::path::PathBuf) {
    certificate(&["localhost", "127.0.0.1"], false)
}

/// Writes a self-signed certificate for `names`, long expired if `expired`.
fn certificate(names: &[&str], expired: bool) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = tempdir("tls");
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    if expired {
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    }
    let signing_key = rcgen::KeyPair::generate().unwrap();
    let cert_pem = params.self_signed(&signing_key).unwrap().pem();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, cert_pem).unwrap();
    std::fs::write(&key, signing_key.serialize_pem()).unwrap();
    (cert, key)
}

/// A mock serving TLS with this certificate and key.
fn tls_mock(cert: &std::path::Path, key: &std::path::Path) -> Mock {
    Mock::start(&[
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
    ])
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

/// The report's errors line, and the hint for `class`, of a run that failed with it.
fn assert_failed_with(run: &common::RunOutput, class: &str, hint: &str) {
    let all = stage_all(&run.summary, 0);
    assert_accounted(all);
    assert_eq!(all["ok"], 0, "{all}");
    assert!(all["failed"].as_u64().unwrap() > 0, "{all}");
    assert_eq!(all["errors"][class], all["failed"], "every failure is {class}: {all}");
    let text = std::fs::read_to_string(run.dir.join("report.txt")).unwrap();
    assert!(text.contains(&format!("    hint       {class}: ")) && text.contains(hint), "{text}");
}

#[test]
fn an_untrusted_certificate_is_a_tls_error_unless_insecure() {
    let (cert, key) = self_signed();
    let mock = tls_mock(&cert, &key);
    let port = mock.addr.rsplit(':').next().unwrap();
    let target = format!("https://localhost:{port}/v1");
    let run =
        run_llmload(&["--target", &target, "--stages", "1:500ms", "--cores", "1"], Duration::from_secs(20));
    assert_failed_with(&run, "tls_unknown_issuer", "pass --cacert FILE with the issuing CA");
    let run = run_llmload(
        // Long enough for a handshake and a reply on a busy machine (a debug build under load).
        &["--target", &target, "--stages", "1:2s", "--cores", "1", "--insecure"],
        Duration::from_secs(20),
    );
    assert!(run.stderr.contains("NOT verified"), "{}", run.stderr);
    let all = stage_all(&run.summary, 0);
    assert!(all["ok"].as_u64().unwrap() > 0, "{all}");
}

#[test]
fn a_certificate_for_another_name_or_out_of_date_says_so() {
    for (names, expired, class, hint) in [
        (&["wrong.example"][..], false, "tls_name_mismatch", "not valid for the target's host name"),
        (&["localhost"][..], true, "tls_cert_expired", "expired or not yet valid"),
    ] {
        let (cert, key) = certificate(names, expired);
        let mock = tls_mock(&cert, &key);
        let port = mock.addr.rsplit(':').next().unwrap();
        let target = format!("https://localhost:{port}/v1");
        // Trusted (the certificate is its own CA), so only the name or the dates are wrong.
        let run = run_llmload(
            &["--target", &target, "--stages", "1:500ms", "--cores", "1", "--cacert", cert.to_str().unwrap()],
            Duration::from_secs(20),
        );
        assert_failed_with(&run, class, hint);
    }
}
