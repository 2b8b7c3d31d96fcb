//! The hand-written chat bodies and chunks against the serde types they replaced: same bytes.

use std::time::Duration;

use serde::Serialize;

use super::{finish_reason, write_chat_completion, ChatStream};
use crate::mock::dist::Dist;
use crate::mock::kit::{Generation, JsonAnswer, Render};
use crate::mock::text::Words;

#[derive(Serialize)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: PromptDetails,
    completion_tokens_details: CompletionDetails,
}

#[derive(Serialize)]
struct PromptDetails {
    cached_tokens: u64,
    audio_tokens: u64,
}

#[derive(Serialize)]
struct CompletionDetails {
    reasoning_tokens: u64,
    audio_tokens: u64,
    accepted_prediction_tokens: u64,
    rejected_prediction_tokens: u64,
}

fn usage(gen: &Generation) -> Usage {
    Usage {
        prompt_tokens: gen.prompt_tokens,
        completion_tokens: gen.tokens,
        total_tokens: gen.prompt_tokens + gen.tokens,
        prompt_tokens_details: PromptDetails { cached_tokens: 0, audio_tokens: 0 },
        completion_tokens_details: CompletionDetails {
            reasoning_tokens: 0,
            audio_tokens: 0,
            accepted_prediction_tokens: 0,
            rejected_prediction_tokens: 0,
        },
    }
}

#[derive(Serialize)]
struct ChatCompletion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [CompletionChoice<'a>; 1],
    usage: Usage,
    service_tier: &'static str,
    system_fingerprint: &'static str,
}

#[derive(Serialize)]
struct CompletionChoice<'a> {
    index: u32,
    message: AssistantMessage<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct AssistantMessage<'a> {
    role: &'static str,
    content: &'a str,
    refusal: Option<()>,
    annotations: [(); 0],
}

#[derive(Serialize)]
struct ChatChunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: &'a [ChunkChoice<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<Usage>>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
}

fn generation(words: Words, tokens: u64, hit_cap: bool) -> Generation {
    Generation {
        tokens,
        reasoning: 0,
        calls: Vec::new(),
        cached_tokens: 0,
        cache_written_tokens: 0,
        hit_cap,
        prompt_tokens: 7,
        ttft: Duration::ZERO,
        itl: Dist::Fixed(0.0),
        tokens_per_event: 1,
        words,
        json: None,
    }
}

/// The SSE chunk framing of one `data:` event.
fn event(json: &str) -> Vec<u8> {
    let mut out = Vec::new();
    crate::wire::encode::chunk(&mut out, format!("data: {json}\n\n").as_bytes());
    out
}

fn cases() -> Vec<(Generation, &'static str)> {
    vec![
        (generation(Words::Filler(3), 16, true), "mock-gpt"),
        (generation(Words::Filler(0), 1, false), "weird \"model\"\\ é"),
        (generation(Words::echo("say \"hi\"\n\tthere \\ ü", 0), 9, false), "m"),
        (json(generation(Words::echo("say \"hi\"\n\tthere \\ ü", 0), 9, false), JsonAnswer::Valid), "m"),
        (json(generation(Words::Filler(0), 1, false), JsonAnswer::Broken), "m"),
    ]
}

fn json(gen: Generation, shape: JsonAnswer) -> Generation {
    Generation { json: Some(shape), ..gen }
}

#[test]
fn json_answers_are_json_unless_broken_or_cut() {
    for words in [Words::Filler(5), Words::echo("a \"quoted\" \\ word\n", 0)] {
        for (shape, tokens, hit_cap) in [
            (JsonAnswer::Valid, 1, false),
            (JsonAnswer::Valid, 12, false),
            (JsonAnswer::Valid, 12, true),
            (JsonAnswer::Broken, 12, false),
            (JsonAnswer::Broken, 1, false),
        ] {
            let gen = json(generation(words.clone(), tokens, hit_cap), shape);
            let text = gen.text();
            let parsed = serde_json::from_str::<serde_json::Value>(&text);
            assert_eq!(gen.json_valid(), Some(parsed.is_ok()), "{text}");
            assert_eq!(parsed.is_ok(), shape == JsonAnswer::Valid && !hit_cap, "{text}");
            if let Ok(v) = parsed {
                assert_eq!(v["answer"], gen.words.text(0, tokens), "the words, unescaped");
            }
            // Streamed token by token, the answer is the same text.
            let mut streamed = String::new();
            (0..tokens).for_each(|k| gen.push_answer(k, &mut streamed));
            assert_eq!(streamed, text);
        }
    }
    assert_eq!(generation(Words::Filler(0), 3, false).json_valid(), None, "not asked for JSON");
}

#[test]
fn completion_matches_serde() {
    for (gen, model) in cases() {
        let text = gen.text();
        let old = ChatCompletion {
            id: "chatcmpl-0123abcd",
            object: "chat.completion",
            created: 1_796_181_286,
            model,
            choices: [CompletionChoice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant",
                    content: &text,
                    refusal: None,
                    annotations: [],
                },
                logprobs: None,
                finish_reason: finish_reason(&gen),
            }],
            usage: usage(&gen),
            service_tier: "default",
            system_fingerprint: "fp_llmload_mock",
        };
        let mut new = Vec::new();
        write_chat_completion(&mut new, "0123abcd", 1_796_181_286, model, &gen);
        assert_eq!(String::from_utf8(new).unwrap(), serde_json::to_string(&old).unwrap());
    }
}

#[test]
fn chunks_match_serde() {
    for (gen, model) in cases() {
        for include_usage in [false, true] {
            let chunk = |delta: Delta<'_>, finish: Option<&'static str>| {
                let choices = [ChunkChoice { index: 0, delta, logprobs: None, finish_reason: finish }];
                let c = ChatChunk {
                    id: "chatcmpl-ff00",
                    object: "chat.completion.chunk",
                    created: 42,
                    model,
                    system_fingerprint: "fp_llmload_mock",
                    choices: &choices,
                    usage: include_usage.then_some(None),
                };
                event(&serde_json::to_string(&c).unwrap())
            };
            let mut stream = ChatStream::new("ff00", model, 42, include_usage);
            let mut out = Vec::new();
            stream.prelude(&gen, &mut out);
            assert_eq!(out, chunk(Delta { role: Some("assistant"), content: Some("") }, None));
            let text = gen.words.text(0, gen.tokens);
            out.clear();
            stream.content(&text, &mut out);
            assert_eq!(out, chunk(Delta { role: None, content: Some(&text) }, None));
            out.clear();
            stream.finish(&gen, &mut out);
            let mut want = chunk(Delta { role: None, content: None }, Some(finish_reason(&gen)));
            if include_usage {
                let last = ChatChunk {
                    id: "chatcmpl-ff00",
                    object: "chat.completion.chunk",
                    created: 42,
                    model,
                    system_fingerprint: "fp_llmload_mock",
                    choices: &[],
                    usage: Some(Some(usage(&gen))),
                };
                want.extend(event(&serde_json::to_string(&last).unwrap()));
            }
            want.extend(event("[DONE]"));
            assert_eq!(String::from_utf8(out).unwrap(), String::from_utf8(want).unwrap());
        }
    }
}
