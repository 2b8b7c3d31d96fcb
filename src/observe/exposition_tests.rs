use super::*;

/// An exposition in the shape vLLM's (prometheus_client's) `/metrics` has: counters declared
/// without `_total`, `_created` timestamps, histograms, a gauge with many labels.
pub(crate) const VLLM: &str = r#"# HELP python_gc_objects_collected_total Objects collected during gc
# TYPE python_gc_objects_collected_total counter
python_gc_objects_collected_total{generation="0"} 12345.0
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="Qwen/Qwen3-0.6B"} 3.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="Qwen/Qwen3-0.6B"} 1.0
# HELP vllm:prefix_cache_queries Prefix cache queries, in terms of number of queried tokens.
# TYPE vllm:prefix_cache_queries counter
vllm:prefix_cache_queries_total{engine="0",model_name="Qwen/Qwen3-0.6B"} 2048.0
vllm:prefix_cache_queries_created{engine="0",model_name="Qwen/Qwen3-0.6B"} 1.7601e+09
# HELP vllm:prefix_cache_hits Prefix cache hits, in terms of number of cached tokens.
# TYPE vllm:prefix_cache_hits counter
vllm:prefix_cache_hits_total{engine="0",model_name="Qwen/Qwen3-0.6B"} 512.0
# HELP vllm:request_success_total Count of successfully processed requests.
# TYPE vllm:request_success_total counter
vllm:request_success_total{engine="0",finished_reason="stop",model_name="Qwen/Qwen3-0.6B"} 40.0
vllm:request_success_total{engine="0",finished_reason="length",model_name="Qwen/Qwen3-0.6B"} 2.0
# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.001",model_name="Qwen/Qwen3-0.6B"} 0.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.005",model_name="Qwen/Qwen3-0.6B"} 0.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.01",model_name="Qwen/Qwen3-0.6B"} 10.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.02",model_name="Qwen/Qwen3-0.6B"} 30.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.04",model_name="Qwen/Qwen3-0.6B"} 40.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="Qwen/Qwen3-0.6B"} 42.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="Qwen/Qwen3-0.6B"} 42.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="Qwen/Qwen3-0.6B"} 0.7
vllm:time_to_first_token_seconds_created{engine="0",model_name="Qwen/Qwen3-0.6B"} 1.7601e+09
# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig
# TYPE vllm:cache_config_info gauge
vllm:cache_config_info{block_size="16",cache_dtype="auto",enable_prefix_caching="True",gpu_memory_utilization="0.9"} 1.0
"#;

#[test]
fn reads_a_vllm_exposition() {
    let e = parse(VLLM);
    assert_eq!(e.bad_lines, 0, "{:?}", e.first_bad);
    assert_eq!(e.samples.len(), 18);
    let find = |name: &str| e.samples.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("{name}"));
    let running = find("vllm:num_requests_running");
    assert_eq!(running.value, 3.0);
    assert_eq!(running.label("model_name"), Some("Qwen/Qwen3-0.6B"));
    assert_eq!(e.role(running), ("vllm:num_requests_running".to_string(), Role::Gauge));
    let q = find("vllm:prefix_cache_queries_total");
    assert_eq!(e.role(q), ("vllm:prefix_cache_queries".to_string(), Role::Counter));
    let created = find("vllm:prefix_cache_queries_created");
    assert_eq!(e.role(created).1, Role::Created);
    assert_eq!(created.value, 1.7601e9);
    let ok = find("vllm:request_success_total");
    assert_eq!(e.role(ok), ("vllm:request_success_total".to_string(), Role::Counter));
    let bucket = find("vllm:time_to_first_token_seconds_bucket");
    assert_eq!(e.role(bucket), ("vllm:time_to_first_token_seconds".to_string(), Role::Bucket));
    assert_eq!(
        bucket.key(Some("le")),
        r#"vllm:time_to_first_token_seconds_bucket{engine="0",model_name="Qwen/Qwen3-0.6B"}"#
    );
    let inf = e.samples.iter().find(|s| s.label("le") == Some("+Inf")).unwrap();
    assert_eq!(inf.value, 42.0);
    assert_eq!(e.role(find("vllm:time_to_first_token_seconds_sum")).1, Role::Sum);
    assert_eq!(e.role(find("vllm:time_to_first_token_seconds_count")).1, Role::Count);
    assert_eq!(e.role(find("python_gc_objects_collected_total")).1, Role::Counter);
}

#[test]
fn labels_with_escapes_comments_and_special_values() {
    let text = "# a free comment\n\
                #TYPE odd gauge\n\
                \n\
                odd{path=\"C:\\\\dir\",quote=\"say \\\"hi\\\"\",nl=\"a\\nb\",brace=\"}{,=\",} NaN 1700000000000\n\
                odd{x=\"1\"} +Inf\n\
                odd{x=\"2\"} -inf\n\
                plain 1e-05 # {trace_id=\"abc\"} 0.5\n\
                spaced { a = \"1\" , b=\"2\" }   7\r\n\
                # EOF\n\
                after_eof 1\n";
    let e = parse(text);
    assert_eq!(e.bad_lines, 0, "{:?}", e.first_bad);
    assert_eq!(e.samples.len(), 5);
    let odd = &e.samples[0];
    assert!(odd.value.is_nan());
    assert_eq!(odd.label("path"), Some(r"C:\dir"));
    assert_eq!(odd.label("quote"), Some(r#"say "hi""#));
    assert_eq!(odd.label("nl"), Some("a\nb"));
    assert_eq!(odd.label("brace"), Some("}{,="));
    // The key escapes again, so it reads back as the same series.
    let key = odd.key(None);
    assert_eq!(parse(&format!("{key} 1")).samples[0].labels.len(), 4, "{key}");
    assert_eq!(e.role(odd).1, Role::Gauge, "#TYPE without a space is a TYPE line too");
    assert_eq!(e.samples[1].value, f64::INFINITY);
    assert_eq!(e.samples[2].value, f64::NEG_INFINITY);
    assert_eq!(e.samples[3].value, 1e-5, "an exemplar after the value is ignored");
    assert_eq!(e.samples[4].labels, vec![("a".into(), "1".into()), ("b".into(), "2".into())]);
}

#[test]
fn bad_lines_are_counted_and_skipped() {
    let text = "good 1\n9bad 1\nnovalue\nbadval{a=\"1\"} abc\nunterminated{a=\"1} 2\nnoquote{a=1} 2\n\
                hex 0x10\ncolon_label{a:b=\"1\"} 1\nalso_good{a=\"\"} 2\n";
    let e = parse(text);
    assert_eq!(e.samples.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["good", "also_good"]);
    assert_eq!(e.bad_lines, 7);
    assert!(e.first_bad.as_deref().unwrap().contains("9bad"), "{:?}", e.first_bad);
}

#[test]
fn untyped_names_read_by_their_suffix() {
    let e = parse("reqs_total 5\nlatency_bucket{le=\"1\"} 2\ntemp 3\n");
    assert_eq!(e.role(&e.samples[0]), ("reqs_total".to_string(), Role::Counter));
    assert_eq!(e.role(&e.samples[1]).1, Role::Gauge, "a _bucket without a histogram TYPE");
    assert_eq!(e.role(&e.samples[2]).1, Role::Gauge);
}

#[test]
fn reads_the_mocks_own_metrics() {
    let m = crate::mock::metrics::Metrics::new(1);
    let e = parse(&m.render());
    assert_eq!(e.bad_lines, 0, "{:?}", e.first_bad);
    let lag = e.samples.iter().find(|s| s.name == "llmload_mock_pacing_lag_seconds_bucket").unwrap();
    assert_eq!(e.role(lag), ("llmload_mock_pacing_lag_seconds".to_string(), Role::Bucket));
    let tokens = e.samples.iter().find(|s| s.name == "llmload_mock_tokens_emitted_total").unwrap();
    assert_eq!(e.role(tokens).1, Role::Counter);
}

#[test]
fn any_input_parses_without_panicking() {
    // Every prefix of real text, and bytes that are not UTF-8 read lossily: never a panic.
    for text in [VLLM, "a{b=\"\\", "a{", "{}", "a{b=\"c\"", "\u{00e9}{\u{00e9}=\"x\"} 1"] {
        for cut in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
            let _ = parse(&text[..cut]);
        }
    }
}
