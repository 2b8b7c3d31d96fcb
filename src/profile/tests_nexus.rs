//! nexus-loadtest profiles load unchanged (reconstructed from its documented schema and
//! shipped profiles), and every profile shipped in `profiles/` loads and says what it is.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::stages::Load;
use super::*;

/// nexus-loadtest's realistic.json as documented: object stages, Go durations, correlation,
/// thresholds, int turns, pool and scripted content, a big system prompt.
const NEXUS_REALISTIC: &str = r#"{
  "_comment": "Realistic mixed workload: simple / medium / complex tiers.",
  "defaults": {
    "protocol": "openai-chat",
    "target": "http://localhost:3050/v1/chat/completions",
    "headers": { "Authorization": "Bearer REPLACE_WITH_VK", "Content-Type": "application/json" },
    "model": "gpt-4o-mini",
    "max_tokens": 256,
    "stream": false
  },
  "stages": [
    { "concurrency": 1, "duration": "15s" },
    { "concurrency": 20, "duration": "60s" },
    { "concurrency": 50, "duration": "60s" },
    { "concurrency": 100, "duration": "60s" }
  ],
  "warmup": "8s",
  "think_time": "250ms",
  "cache_mode": "bust",
  "correlation": { "uuid_in_prompt": true, "header": "x-request-id" },
  "thresholds": { "ttft_p95_ms": 0, "p95_ms": 0, "error_rate": 0.02 },
  "timeout": "120s",
  "disable_http2": false,
  "disable_keepalive": false,
  "insecure_skip_verify": false,
  "capture_error_body": true,
  "scenarios": [
    { "name": "simple", "weight": 55, "turns": 1, "stream": false, "max_tokens": 64,
      "content": { "mode": "pool", "prompts": ["What is 2+2?", "Capital of France?", "Define latency.",
        "Spell 'gateway' backwards.", "What is JSON?", "Name a prime number."] } },
    { "name": "medium", "weight": 30, "turns": 4, "stream": true, "max_tokens": 220,
      "content": { "mode": "scripted", "script": ["Explain goroutines.", "And channels?",
        "How do I avoid leaks?", "Show a worker pool."] } },
    { "name": "complex", "weight": 15, "turns": 3, "stream": true, "max_tokens": 512,
      "system": "You are an expert software architect. Think carefully about trade-offs.",
      "content": { "mode": "scripted", "script": ["Design a multi-region KV store.",
        "How do you handle partitions?", "What about consistency during failover?"] } }
  ]
}"#;

/// nexus-loadtest's ai-gateway.json as documented: turns as {min,max}, sized content.
const NEXUS_AI_GATEWAY: &str = r#"{
  "_comment": "Minimal example",
  "defaults": {
    "protocol": "openai-chat",
    "target": "http://localhost:3050/v1/chat/completions",
    "headers": { "Authorization": "Bearer REPLACE_WITH_VK" },
    "model": "claude-haiku-4-5",
    "max_tokens": 64
  },
  "stages": [
    { "concurrency": 1, "duration": "15s" }, { "concurrency": 50, "duration": "60s" },
    { "concurrency": 200, "duration": "60s" }, { "concurrency": 500, "duration": "60s" },
    { "concurrency": 1000, "duration": "2m" }
  ],
  "warmup": "10s",
  "cache_mode": "bust",
  "correlation": { "uuid_in_prompt": true, "header": "x-request-id" },
  "thresholds": { "error_rate": 0.01 },
  "scenarios": [
    { "name": "quick-qa", "weight": 70, "turns": 1, "stream": false, "max_tokens": 64,
      "content": { "mode": "pool", "prompts": ["a?", "b?", "c?"] } },
    { "name": "chat", "weight": 20, "turns": { "min": 3, "max": 6 }, "stream": true, "max_tokens": 128,
      "content": { "mode": "scripted", "script": ["one", "two", "three", "four"] } },
    { "name": "long-ctx", "weight": 10, "turns": 2, "stream": true, "max_tokens": 256,
      "content": { "mode": "sized", "approx_input_tokens": 2000 } }
  ]
}"#;

/// nexus-loadtest's cross-ingress.json as documented.
const NEXUS_CROSS_INGRESS: &str = r#"{
  "defaults": { "target": "http://localhost:3050/v1/chat/completions",
    "headers": { "Authorization": "Bearer REPLACE_WITH_VK" }, "model": "claude-haiku-4-5", "max_tokens": 64 },
  "stages": [ { "concurrency": 20, "duration": "30s" }, { "concurrency": 100, "duration": "60s" } ],
  "warmup": "5s",
  "scenarios": [
    { "name": "openai-ingress", "weight": 50, "protocol": "openai-chat",
      "target": "http://localhost:3050/v1/chat/completions", "stream": false },
    { "name": "anthropic-ingress", "weight": 50, "protocol": "anthropic",
      "target": "http://localhost:3050/v1/messages",
      "headers": { "anthropic-version": "2023-06-01" }, "stream": true }
  ]
}"#;

#[test]
fn nexus_realistic_loads_unchanged() {
    let p = from_json(NEXUS_REALISTIC).unwrap_or_else(|e| panic!("{e:#?}"));
    let users: Vec<Load> = p.stages.iter().map(|s| s.load).collect();
    assert_eq!(users[3], Load::Closed { from: 100, to: 100 });
    assert_eq!(p.stages[0].duration, Duration::from_secs(15));
    assert_eq!((p.warmup, p.think_time), (Duration::from_secs(8), Duration::from_millis(250)));
    assert_eq!(p.thresholds, [Limit::from_number("error_rate", 0.02).unwrap()]);
    assert!(p.capture_error_body);
    let names: Vec<(&str, u32)> = p.scenarios.iter().map(|s| (s.name.as_str(), s.weight)).collect();
    assert_eq!(names, [("simple", 55), ("medium", 30), ("complex", 15)]);
    let [simple, medium, complex] = &p.scenarios[..] else { unreachable!() };
    assert_eq!((simple.max_tokens, simple.stream, simple.turns), (64, false, (1, 1)));
    assert!(matches!(&simple.content, Content::Pool(p) if p.len() == 6));
    assert_eq!((medium.max_tokens, medium.stream, medium.turns), (220, true, (4, 4)));
    assert!(matches!(&medium.content, Content::Scripted(s) if s.len() == 4));
    assert_eq!(complex.system.as_deref().map(|s| s.starts_with("You are an expert")), Some(true));
    assert_eq!(simple.system, None);
    assert_eq!(medium.model, "gpt-4o-mini");
    assert_eq!(medium.header("content-type"), Some("application/json"));
}

#[test]
fn nexus_ai_gateway_loads_unchanged() {
    let p = from_json(NEXUS_AI_GATEWAY).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(p.stages.len(), 5);
    assert_eq!(p.stages[4].duration, Duration::from_secs(120));
    let chat = &p.scenarios[1];
    assert_eq!((chat.turns, chat.stream, chat.max_tokens), ((3, 6), true, 128));
    assert_eq!(p.scenarios[2].content, Content::Sized(2000));
    assert_eq!(p.scenarios[2].turns, (2, 2));
    assert!(p.scenarios.iter().all(|s| s.protocol.name() == "openai-chat" && s.model == "claude-haiku-4-5"));
    assert_eq!(p.cache_mode, CacheMode::Bust);
    assert_eq!(p.correlation, Correlation { uuid_in_prompt: true, header: Some("x-request-id".into()) });
}

#[test]
fn nexus_cross_ingress_loads_unchanged() {
    let p = from_json(NEXUS_CROSS_INGRESS).unwrap_or_else(|e| panic!("{e:#?}"));
    let [oai, ant] = &p.scenarios[..] else { unreachable!() };
    assert_eq!((oai.protocol.name(), oai.stream), ("openai-chat", false));
    assert_eq!((ant.protocol.name(), ant.stream), ("anthropic", true));
    assert_eq!(ant.target, "http://localhost:3050/v1/messages");
    assert_eq!(ant.header("authorization"), Some("Bearer REPLACE_WITH_VK"));
    assert_eq!(ant.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(ant.max_tokens, 64);
    // nexus's -target/-vk rules on this profile.
    let o = Overrides {
        target: Some("http://gw:9000/v1/chat/completions".into()),
        vk: Some("vk-9".into()),
        ..Overrides::default()
    };
    let p = apply(parse_raw(NEXUS_CROSS_INGRESS).unwrap(), &o).unwrap();
    assert_eq!(p.scenarios[0].target, "http://gw:9000/v1/chat/completions");
    assert_eq!(p.scenarios[1].target, "http://localhost:3050/v1/messages", "a distinct target is kept");
    assert_eq!(p.scenarios[0].header("x-api-key"), None);
    assert_eq!(p.scenarios[1].header("x-api-key"), Some("vk-9"));
}

#[test]
fn nexus_defaults_apply_to_a_bare_profile() {
    let p = from_json(
        r#"{"defaults": {"target": "http://localhost:3050/v1/chat/completions", "model": "m"},
            "stages": [{"concurrency": 3, "duration": "1m30s"}]}"#,
    )
    .unwrap();
    assert_eq!(p.stages[0].duration, Duration::from_secs(90));
    assert_eq!(
        (p.warmup, p.think_time, p.timeout),
        (Duration::ZERO, Duration::ZERO, Duration::from_secs(120))
    );
    assert_eq!((p.cache_mode, p.shared_prefix_tokens), (CacheMode::Bust, 1024));
    assert_eq!(p.correlation, Correlation { uuid_in_prompt: true, header: Some("x-request-id".into()) });
    assert!(p.thresholds.is_empty());
    assert!(!p.disable_keepalive && !p.insecure_skip_verify && !p.capture_error_body);
    assert_eq!((p.arrival, p.seed, p.max_inflight, p.connections, p.grace), (None, None, None, None, None));
    let s = &p.scenarios[..];
    assert_eq!(s.len(), 1);
    let s = &s[0];
    assert_eq!((s.name.as_str(), s.weight, s.protocol.name()), ("default", 1, "openai-chat"));
    assert_eq!((s.max_tokens, s.stream, s.turns, s.system.clone()), (64, false, (1, 1), None));
    assert_eq!(s.content, Content::Pool(vec![DEFAULT_PROMPT.into()]));
    assert!(s.headers.is_empty());
    // Go zero values inherit: empty strings and max_tokens 0 fall back to the defaults.
    let p = from_json(
        r#"{"defaults": {"target": "http://h/x", "model": "m", "max_tokens": 100, "system": "sys"},
            "stages": "1:1s",
            "scenarios": [{"name": "z", "target": "", "model": "", "protocol": "", "max_tokens": 0,
                           "system": "", "content": {"mode": ""}}]}"#,
    )
    .unwrap();
    let z = &p.scenarios[0];
    assert_eq!((z.target.as_str(), z.model.as_str(), z.protocol.name()), ("http://h/x", "m", "openai-chat"));
    assert_eq!((z.max_tokens, z.system.as_deref(), z.weight), (100, Some("sys"), 1));
}

fn profiles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles")
}

fn shipped(name: &str) -> Profile {
    load(&profiles_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e:#?}"))
}

const SHIPPED: [&str; 10] = [
    "ai-gateway.json",
    "cross-ingress.json",
    "perf-128-nonstream.json",
    "perf-128-stream.json",
    "perf-550-nonstream.json",
    "perf-550-stream.json",
    "perf-hotpath-nonstream.json",
    "perf-hotpath-stream.json",
    "quickstart.json",
    "realistic.json",
];

#[test]
fn every_shipped_profile_loads() {
    let mut found: Vec<String> = std::fs::read_dir(profiles_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    found.sort();
    for name in &SHIPPED {
        assert!(found.iter().any(|f| f == name), "profiles/{name} is missing");
    }
    for name in &found {
        let p = shipped(name);
        assert!(p.comment.as_deref().is_some_and(|c| c.len() > 40), "{name}: _comment says what it measures");
        for s in &p.scenarios {
            assert!(s.target.starts_with("http://localhost:8080/v1/"), "{name}/{}: {}", s.name, s.target);
            assert_eq!(s.header("authorization"), Some("Bearer REPLACE_WITH_VK"), "{name}/{}", s.name);
            assert!(["mock-gpt", "mock-claude"].contains(&s.model.as_str()), "{name}/{}", s.name);
            if s.protocol.name() == "anthropic" {
                assert!(s.target.ends_with("/v1/messages"), "{name}/{}", s.name);
                assert!(s.header("anthropic-version").is_some(), "{name}/{}", s.name);
            } else {
                assert!(s.target.ends_with("/v1/chat/completions"), "{name}/{}", s.name);
            }
        }
    }
}

#[test]
fn quickstart_is_short_light_and_covers_both_protocols() {
    let p = shipped("quickstart.json");
    let total: Duration = p.stages.iter().map(|s| s.duration).sum();
    assert!(total <= Duration::from_secs(30), "{total:?}");
    assert!(p.stages.iter().any(|s| s.is_open()) && p.stages.iter().any(|s| !s.is_open()));
    for st in &p.stages {
        match st.load {
            Load::Open { from, to } => assert!(from.max(to) <= 50.0),
            Load::Closed { from, to } => assert!(from.max(to) <= 10),
            Load::Trace { .. } => panic!("the quickstart replays no trace"),
        }
    }
    assert!(p.warmup <= Duration::from_secs(2));
    let has = |f: &dyn Fn(&ScenarioSpec) -> bool| p.scenarios.iter().any(f);
    for proto in ["openai-chat", "anthropic"] {
        assert!(has(&|s| s.protocol.name() == proto && s.stream), "{proto} streamed");
        assert!(has(&|s| s.protocol.name() == proto && !s.stream), "{proto} not streamed");
        assert!(has(&|s| s.protocol.name() == proto && s.turns.1 > 1), "{proto} multi-turn");
    }
}

#[test]
fn realistic_has_nexus_tiers() {
    let p = shipped("realistic.json");
    let tiers: Vec<(&str, u32, (u32, u32), bool)> =
        p.scenarios.iter().map(|s| (s.name.as_str(), s.weight, s.turns, s.stream)).collect();
    assert_eq!(
        tiers,
        [("simple", 55, (1, 1), false), ("medium", 30, (4, 4), true), ("complex", 15, (3, 3), true)]
    );
    assert!(matches!(&p.scenarios[0].content, Content::Pool(p) if p.len() == 6));
    assert!(matches!(&p.scenarios[1].content, Content::Scripted(s) if s.len() == 4));
    assert!(matches!(&p.scenarios[2].content, Content::Scripted(s) if s.len() == 3));
    let system = p.scenarios[2].system.as_deref().unwrap_or("");
    // About 1.5k tokens at ~4 characters per token.
    assert!((5_500..8_000).contains(&system.len()), "{}", system.len());
    assert_eq!(p.think_time, Duration::from_millis(250));
    assert_eq!(p.thresholds, [Limit::from_number("error_rate", 0.02).unwrap()]);
}

#[test]
fn perf_tiers_are_sized_single_scenario_openai_chat() {
    for (tier, tokens, max_tokens) in [("128", 128, 256), ("550", 550, 256), ("hotpath", 12_500, 64)] {
        for stream in [true, false] {
            let name = format!("perf-{tier}-{}.json", if stream { "stream" } else { "nonstream" });
            let p = shipped(&name);
            assert_eq!(p.cache_mode, CacheMode::Bust, "{name}");
            let [s] = &p.scenarios[..] else { panic!("{name}: one scenario") };
            assert_eq!(s.content, Content::Sized(tokens), "{name}");
            assert_eq!(
                (s.max_tokens, s.stream, s.protocol.name()),
                (max_tokens, stream, "openai-chat"),
                "{name}"
            );
        }
    }
}

#[test]
fn cross_ingress_and_ai_gateway_shapes() {
    let p = shipped("cross-ingress.json");
    let protos: Vec<&str> = p.scenarios.iter().map(|s| s.protocol.name()).collect();
    assert_eq!(protos, ["openai-chat", "anthropic"]);
    assert_eq!(p.scenarios[0].weight, p.scenarios[1].weight);
    let p = shipped("ai-gateway.json");
    let shape: Vec<(&str, u32, (u32, u32))> =
        p.scenarios.iter().map(|s| (s.name.as_str(), s.weight, s.turns)).collect();
    assert_eq!(shape, [("quick-qa", 70, (1, 1)), ("chat", 20, (3, 6)), ("long-ctx", 10, (2, 2))]);
    assert_eq!(p.scenarios[2].content, Content::Sized(2000));
}
