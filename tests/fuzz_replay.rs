//! Replays every committed fuzz input (the seed corpora in fuzz/corpus/<target>/ and the
//! inputs that once broke something, fuzz/regressions/<target>/) through the same checks the
//! fuzz targets run, so plain `cargo test` guards what fuzzing found. `scripts/fuzz.sh` runs
//! the targets themselves.

#[path = "../fuzz/checks.rs"]
#[allow(dead_code)]
mod checks;

use std::path::Path;

/// One target's invariant check.
type Check = fn(&[u8]);

/// Runs `check` over every file of the target's corpus and regressions; returns how many.
fn replay(target: &str, check: Check) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for dir in [root.join("corpus").join(target), root.join("regressions").join(target)] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{target}: {} fails its check", file.display());
            n += 1;
        }
    }
    n
}

#[test]
fn every_committed_fuzz_input_passes_its_check() {
    let targets: [(&str, Check); 5] = [
        ("sse", checks::sse),
        ("body", checks::body),
        ("response", checks::response),
        ("request", checks::request),
        ("protocol", checks::protocol),
    ];
    for (target, check) in targets {
        let n = replay(target, check);
        assert!(n >= 5, "{target}: only {n} committed inputs (the seed corpus is missing)");
    }
}
