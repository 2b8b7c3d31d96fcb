//! docs/summary.schema.json against the types that write summary.json: every object of the
//! schema names exactly the fields its type writes, so a new counter (or any field) cannot
//! be added without documenting it. (tests/conformance/test_summary_schema.py validates
//! real summaries against the schema.)

use std::collections::BTreeSet;

use serde_json::Value;

use super::*;
use crate::metrics::ErrorKind;
use crate::report::thresholds::Check;

/// Read when the test runs (not compiled in: the release build never needs the docs).
const SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/summary.schema.json");

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("an object").keys().cloned().collect()
}

/// The property names of a schema object, checking that all of them are required unless
/// listed in `optional` (fields read with a default).
fn properties(def: &Value, optional: &[&str]) -> BTreeSet<String> {
    let props = keys(&def["properties"]);
    let required: BTreeSet<String> =
        def["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    let want: BTreeSet<String> = props.iter().filter(|p| !optional.contains(&p.as_str())).cloned().collect();
    assert_eq!(required, want, "required of {}", def["description"]);
    assert_eq!(def["additionalProperties"], false, "{}", def["description"]);
    props
}

fn names(list: &Value) -> Vec<String> {
    list["enum"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

/// A server's figures with every optional object present, so the schema of each is checked.
fn server_figures() -> crate::observe::ServerFigures {
    use crate::observe::{GaugeRange, HistogramDelta};
    let mut f = crate::observe::ServerFigures::default();
    f.known.ttft = Some(HistogramDelta::default());
    f.known.running = Some(GaugeRange { min: 0.0, max: 1.0, last: 0.0 });
    f
}

fn summary() -> Summary {
    let stats = Stats::default();
    let stage = StageSummary {
        stage: "4:2s".into(),
        duration_s: 2.0,
        steady_s: 2.0,
        wall_s: 2.1,
        interrupted: false,
        worker_cpu_s: vec![0.5],
        sink_dropped: 0,
        connecting_peak: vec![],
        generator_findings: vec![],
        tokenizer: None,
        target_findings: vec![],
        resources: [("gw".to_string(), crate::observe::ResourceFigures::default())].into_iter().collect(),
        server_metrics: [("vllm".to_string(), server_figures())].into_iter().collect(),
        scenarios: [("chat".to_string(), Figures::of(&stats, 2.0))].into_iter().collect(),
        all: Figures::of(&stats, 2.0),
    };
    let check = Check {
        stage: 0,
        scope: "ALL".into(),
        name: "error_rate".into(),
        limit: 0.1,
        actual: 0.0,
        pass: true,
        deferred: false,
    };
    let meta = Meta { merged_runs: vec![MergedRun::default()], ..Meta::default() };
    Summary {
        schema_version: SCHEMA_VERSION,
        llmload_version: "0".into(),
        meta,
        target: "t".into(),
        dns_us: BTreeMap::new(),
        driver: "epoll".into(),
        workers: 1,
        fd_limit: 1,
        generator_bound: false,
        interrupted: false,
        stages: vec![stage],
        thresholds: vec![check],
        pass: true,
        timeline: vec![Second::default()],
    }
}

#[test]
fn the_schema_names_every_field_summary_json_has() {
    let text = std::fs::read_to_string(SCHEMA).expect("docs/summary.schema.json");
    let schema: Value = serde_json::from_str(&text).expect("docs/summary.schema.json is JSON");
    let defs = &schema["$defs"];
    let written = serde_json::to_value(summary()).unwrap();
    assert_eq!(schema["properties"]["schema_version"]["const"], SCHEMA_VERSION);
    let objects = [
        ("summary", &schema, &written, &[][..]),
        ("meta", &defs["meta"], &written["meta"], &[]),
        ("merged_run", &defs["merged_run"], &written["meta"]["merged_runs"][0], &[]),
        ("stage", &defs["stage"], &written["stages"][0], &["connecting_peak", "resources", "server_metrics"]),
        ("resource_figures", &defs["resource_figures"], &written["stages"][0]["resources"]["gw"], &[]),
        ("server_figures", &defs["server_figures"], &written["stages"][0]["server_metrics"]["vllm"], &[]),
        ("known", &defs["known"], &written["stages"][0]["server_metrics"]["vllm"]["known"], &[]),
        (
            "histogram_delta",
            &defs["histogram_delta"],
            &written["stages"][0]["server_metrics"]["vllm"]["known"]["ttft"],
            &[],
        ),
        (
            "gauge_range",
            &defs["gauge_range"],
            &written["stages"][0]["server_metrics"]["vllm"]["known"]["running"],
            &[],
        ),
        ("figures", &defs["figures"], &written["stages"][0]["all"], &[]),
        ("scenario figures", &defs["figures"], &written["stages"][0]["scenarios"]["chat"], &[]),
        ("percentiles", &defs["percentiles"], &written["stages"][0]["all"]["us"]["latency"], &[]),
        // Written always; read with a default from older summaries.
        ("check", &defs["check"], &written["thresholds"][0], &["deferred"]),
        ("second", &defs["second"], &written["timeline"][0], &["cancelled"]),
    ];
    for (what, def, value, optional) in objects {
        assert_eq!(properties(def, optional), keys(value), "{what}: schema vs summary.json");
    }
    // A key pool's figures (the summary above has none).
    let mut set = crate::metrics::keys::KeySet::default();
    let mut o = crate::metrics::Outcome::new(std::time::Instant::now());
    o.key = Some(crate::metrics::keys::KeyTag { index: 0, id: *b"0a1b2c3d" });
    set.record(&o);
    let key = serde_json::to_value(&KeyFigures::of(&set)[0]).unwrap();
    assert_eq!(properties(&defs["key_figures"], &[]), keys(&key), "key figures: schema vs summary.json");
    let metrics: Vec<String> = Metric::ALL.iter().map(|m| m.name().to_string()).collect();
    assert_eq!(names(&defs["metric"]), metrics);
    let classes: Vec<String> = ErrorKind::ALL.iter().map(|k| k.name().to_string()).collect();
    assert_eq!(names(&defs["error_class"]), classes);
    let us = &defs["figures"]["properties"]["us"]["required"];
    assert_eq!(us.as_array().unwrap().len(), Metric::ALL.len(), "every metric's percentiles are written");
}
