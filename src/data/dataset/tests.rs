use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use rand::SeedableRng;

use super::replay::Replay;
use super::*;
use crate::protocol::Role;

const LIMITS: Limits = Limits { max_prompt_tokens: None, max_output_tokens: 1_000_000 };

/// Writes `bytes` to a fresh file named `name`.
fn file(name: &str, bytes: &[u8]) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "llmload-dataset-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn load(name: &str, text: &str, format: Format, limits: Limits) -> Result<Dataset, Vec<String>> {
    Dataset::load(&file(name, text.as_bytes()), format, limits, Counter::Estimate)
}

fn ok(name: &str, text: &str, format: Format) -> Dataset {
    load(name, text, format, LIMITS).unwrap_or_else(|e| panic!("{e:#?}"))
}

/// The errors with the file's directory left out (`d.jsonl:3: …`).
fn errors(name: &str, text: &str, format: Format) -> Vec<String> {
    let e = load(name, text, format, LIMITS).expect_err("accepted");
    e.into_iter().map(|m| m[m.find(name).expect("names the file")..].to_string()).collect()
}

/// A turn's messages as (role, decoded content).
fn texts(turn: &Turn) -> Vec<(Role, String)> {
    turn.messages.iter().map(|m| (m.role, serde_json::from_str(&m.content_json).unwrap())).collect()
}

#[test]
fn jsonl_prompts_and_messages_are_kept_verbatim() {
    let d = ok(
        "p.jsonl",
        concat!(
            "{\"prompt\": \"Say \\\"hi\\\"\\n\\tin é and 😀\", \"max_tokens\": 7}\n",
            "\n",
            "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"a\"},",
            " {\"role\": \"assistant\", \"content\": \"b\"}, {\"role\": \"user\", \"content\": \"c\"}], \"output_tokens\": 3}\r\n",
            "   \n",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"only\"}]}",
        ),
        Format::Jsonl,
    );
    assert_eq!(d.conversations.len(), 3);
    let [a, b, c] = &d.conversations[..] else { unreachable!() };
    assert_eq!(texts(&a.turns[0]), [(Role::User, "Say \"hi\"\n\tin é and 😀".to_string())]);
    assert_eq!((a.turns[0].max_tokens, a.system_json.as_deref()), (Some(7), None));
    assert_eq!(b.system_json.as_deref(), Some("\"Be brief.\""));
    let want =
        [(Role::User, "a"), (Role::Assistant, "b"), (Role::User, "c")].map(|(r, t)| (r, t.to_string()));
    assert_eq!(texts(&b.turns[0]), want);
    assert_eq!(b.turns[0].max_tokens, Some(3));
    assert_eq!((c.turns.len(), c.turns[0].max_tokens), (1, None));
    assert_eq!(d.turn_range(), (1, 1));
    assert!(d.warnings.is_empty());
}

#[test]
fn jsonl_errors_name_the_line_and_the_field() {
    let text = [
        r#"{"prompt": "fine"}"#,
        r#"{"promt": "x"}"#,
        r#"{"prompt": "x", "messages": []}"#,
        r#"{"max_tokens": 3}"#,
        r#"{"prompt": "x", "max_tokens": 3, "output_tokens": 3}"#,
        r#"{"messages": [{"role": "tool", "content": "x"}]}"#,
        r#"{"messages": [{"role": "user", "content": "x"}, {"role": "system", "content": "s"}]}"#,
        r#"{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]}"#,
        r#"{"prompt": "x", "max_tokens": 0}"#,
        r#"{"prompt": 5}"#,
        r#"{"prompt": "x"} {"prompt": "y"}"#,
        r#"[1]"#,
    ]
    .join("\n");
    let e = errors("e.jsonl", &text, Format::Jsonl);
    assert_eq!(
        e,
        [
            r#"e.jsonl:2: promt: unknown field (known: prompt, messages, max_tokens, output_tokens); did you mean "prompt"?"#,
            "e.jsonl:3: prompt and messages both given (give one)",
            "e.jsonl:4: no prompt or messages (e.g. {\"prompt\": \"Hello\"})",
            "e.jsonl:5: max_tokens and output_tokens both given (output_tokens is another name for \
             max_tokens; give one)",
            r#"e.jsonl:6: messages[0].role: "tool" is not one of system, user, assistant"#,
            "e.jsonl:7: messages[1]: a system message may only come first",
            "e.jsonl:8: messages[1]: the last message must be the user's (a request asks for the next reply)",
            "e.jsonl:9: max_tokens: 0 must be at least 1",
            "e.jsonl:10: prompt: invalid type: integer `5`, expected a string",
            "e.jsonl:11: text after the JSON object (one object per line)",
            "e.jsonl: … and 1 more",
        ]
    );
    let e = errors("u.jsonl", "{\"prompt\": \"a\"}\n\u{0}\u{0}\n{oops\n", Format::Jsonl);
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(e[0].starts_with("u.jsonl:2: expected value"), "{e:#?}");
    assert!(e[1].starts_with("u.jsonl:3: key must be a string"), "{e:#?}");
    let mut bad = b"{\"prompt\": \"a\"}\n{\"prompt\": \"".to_vec();
    bad.extend_from_slice(&[0xff, b'"', b'}']);
    let e = Dataset::load(&file("b.jsonl", &bad), Format::Jsonl, LIMITS, Counter::Estimate).unwrap_err();
    assert!(e[0].ends_with("b.jsonl:2: not valid UTF-8"), "{e:#?}");
}

const SHAREGPT: &str = r#"[
  {"id": "a_0", "conversations": [
    {"from": "system", "value": "You are terse."},
    {"from": "human", "value": "first question"},
    {"from": "gpt", "value": "an answer of twenty-eight ch"},
    {"from": "human", "value": "second"},
    {"from": "gpt", "value": "part one"},
    {"from": "chatgpt", "value": "part two"},
    {"from": "user", "value": "third, never answered"}
  ]},
  {"id": "b_1", "lang": "en", "conversations": [{"from": "gpt", "value": "a tail"}]},
  {"id": "c_0", "conversations": [
    {"from": "bard", "value": "dropped: before the first human turn"},
    {"from": "human", "value": "x", "markdown": null},
    {"from": "assistant", "value": ""}
  ]},
  {"id": "d_0", "conversations": []}
]"#;

#[test]
fn sharegpt_turns_replies_and_recorded_lengths() {
    let d = ok("s.json", SHAREGPT, Format::ShareGpt);
    assert_eq!(d.conversations.len(), 2);
    assert_eq!(d.warnings.len(), 1);
    assert!(d.warnings[0].ends_with("s.json: skipped 2 of 4 entries with no human turn"), "{:?}", d.warnings);
    let a = &d.conversations[0];
    assert_eq!(a.system_json.as_deref(), Some("\"You are terse.\""));
    let users: Vec<String> = a.turns.iter().map(|t| texts(t)[0].1.clone()).collect();
    assert_eq!(users, ["first question", "second", "third, never answered"]);
    // Recorded lengths (chars / 4, rounded up) are the turns' max_tokens.
    let lengths: Vec<Option<u32>> = a.turns.iter().map(|t| t.max_tokens).collect();
    assert_eq!(lengths, [Some(7), Some(5), None]);
    let replies: Vec<Option<&str>> = a.turns.iter().map(|t| t.reply_json.as_deref()).collect();
    assert_eq!(replies, [Some("\"an answer of twenty-eight ch\""), Some("\"part one\\npart two\""), None]);
    let c = &d.conversations[1];
    assert_eq!((c.turns.len(), c.turns[0].max_tokens, c.system_json.as_deref()), (1, Some(1), None));
    assert_eq!(d.turn_range(), (1, 3));
}

#[test]
fn sharegpt_errors_name_the_entry_and_line() {
    let text = "[\n  {\"conversations\": [{\"from\": \"human\", \"value\": \"ok\"}]},\n  {\"conversations\": [\n    \
                {\"from\": \"humna\", \"value\": \"x\"}]},\n  {\"id\": 3},\n  {\"conversations\": [{\"from\": \
                \"human\", \"value\": \"a\"}, {\"from\": \"system\", \"value\": \"late\"}]},\n  7\n]";
    let e = errors("e.json", text, Format::ShareGpt);
    assert_eq!(
        e,
        [
            r#"e.json: entry 1 (line 4): conversations[0].from: "humna" is not one of human, user, gpt, chatgpt, bing, bard, assistant, system; did you mean "human"?"#,
            "e.json: entry 2 (line 5): missing field `conversations`",
            "e.json: entry 3 (line 6): conversations[1]: a system turn after the first human turn (only a \
             leading system prompt is replayed)",
            "e.json: entry 4 (line 7): invalid type: integer `7`, expected a conversation like {\"id\": \"…\", \
             \"conversations\": [{\"from\": \"human\", \"value\": \"…\"}]}",
        ]
    );
    let syntax =
        errors("s.json", "[\n {\"conversations\": []},\n {\"conversations\": [}\n]", Format::ShareGpt);
    assert_eq!(syntax.len(), 1);
    assert!(syntax[0].starts_with("s.json:3: expected value"), "{syntax:?}");
    let e = errors("o.json", "\n{\"conversations\": []}", Format::ShareGpt);
    assert!(e[0].starts_with("o.json:2: expected ShareGPT's array"), "{e:?}");
    let e = errors(
        "t.json",
        "[{\"conversations\": [{\"from\": \"human\", \"value\": \"a\"}]}]\n]",
        Format::ShareGpt,
    );
    assert_eq!(e, ["t.json:2: text after the array"]);
    let e = errors("u.json", "[{\"conversations\": []}", Format::ShareGpt);
    assert_eq!(e, ["u.json:1: the array is not closed (expected , or ])"]);
    let e = errors("z.json", " [ ] ", Format::ShareGpt);
    assert_eq!(e, ["z.json: no entries (an empty dataset)"]);
    let e =
        errors("n.json", "[{\"conversations\": [{\"from\": \"gpt\", \"value\": \"a\"}]}]", Format::ShareGpt);
    assert_eq!(e, ["n.json: no entry left to send (skipped 1 of 1 entries with no human turn)"]);
}

#[test]
fn text_is_one_prompt_per_line() {
    let d = ok("t.txt", "first line\r\n\n  \nsecond \"quoted\" \\ line  \nlast", Format::Text);
    let lines: Vec<String> = d.conversations.iter().map(|c| texts(&c.turns[0])[0].1.clone()).collect();
    assert_eq!(lines, ["first line", "second \"quoted\" \\ line  ", "last"]);
    assert_eq!(errors("e.txt", "\n \n", Format::Text), ["e.txt: no entries (an empty dataset)"]);
    let e =
        Dataset::load(&file("u.txt", b"ok\n\xc3(\n"), Format::Text, LIMITS, Counter::Estimate).unwrap_err();
    assert!(e[0].ends_with("u.txt:2: not valid UTF-8"), "{e:?}");
}

#[test]
fn long_first_prompts_are_skipped_and_counted() {
    let limits = Limits { max_prompt_tokens: Some(3), ..LIMITS };
    // 12 characters are 3 estimated tokens, 13 are 4.
    let text = "twelve chars\nthirteen char\n123456789012\n";
    let d = load("l.txt", text, Format::Text, limits).unwrap();
    assert_eq!(d.conversations.len(), 2);
    assert!(
        d.warnings[0].ends_with("l.txt: skipped 1 of 3 entries longer than 3 tokens (counted with estimate)"),
        "{:?}",
        d.warnings
    );
    // jsonl: everything before the first reply counts (here the system and first user message).
    let msgs = r#"{"messages": [{"role": "system", "content": "abcd"}, {"role": "user", "content": "abcdefgh"}, {"role": "assistant", "content": "a long reply that does not count"}, {"role": "user", "content": "x"}]}"#;
    assert_eq!(load("m.jsonl", msgs, Format::Jsonl, limits).unwrap().conversations.len(), 1);
    let e =
        load("m.jsonl", msgs, Format::Jsonl, Limits { max_prompt_tokens: Some(2), ..LIMITS }).unwrap_err();
    assert!(
        e[0].ends_with(
            "no entry left to send (skipped 1 of 1 entries longer than 2 tokens (counted with estimate))"
        ),
        "{e:?}"
    );
    // sharegpt: the first human turn.
    let s = r#"[{"conversations": [{"from": "human", "value": "abcdefghijkl"}, {"from": "human", "value": "a much longer second turn"}]}]"#;
    assert_eq!(load("s.json", s, Format::ShareGpt, limits).unwrap().conversations.len(), 1);
}

#[test]
fn a_missing_file_is_named() {
    let missing = std::env::temp_dir().join("llmload-no-such-dataset.jsonl");
    let e = Dataset::load(&missing, Format::Jsonl, LIMITS, Counter::Estimate).unwrap_err();
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with(&format!("cannot read {}: ", missing.display())), "{e:?}");
}

#[test]
fn formats_come_from_names_and_extensions() {
    for n in Format::NAMES {
        assert_eq!(Format::parse(n).map(Format::name), Some(n));
    }
    let ext = |p: &str| Format::from_extension(std::path::Path::new(p));
    assert_eq!(
        (ext("a/b.jsonl"), ext("b.JSON"), ext("c.txt")),
        (Some(Format::Jsonl), Some(Format::ShareGpt), Some(Format::Text))
    );
    assert_eq!((ext("d.csv"), ext("noext")), (None, None));
}

#[test]
fn replay_walks_in_order_and_prefixes_the_first_user_message() {
    let data = Arc::new(ok("s.json", SHAREGPT, Format::ShareGpt));
    let seq = Replay::new(data.clone(), Order::Sequential, History::Live);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
    let picks: Vec<usize> = (0..5).map(|_| seq.pick(&mut rng)).collect();
    assert_eq!(picks, [0, 1, 0, 1, 0]);
    let random = Replay::new(data.clone(), Order::Random, History::Recorded);
    let drawn: std::collections::HashSet<usize> = (0..64).map(|_| random.pick(&mut rng)).collect();
    assert_eq!(drawn.len(), 2);

    let conv = seq.conversation(0);
    let mut history = Vec::new();
    conv.push_turn(1, "[conversation u] ", &mut history);
    conv.push_turn(2, "[conversation u] ", &mut history);
    let got: Vec<String> = history.iter().map(|m| serde_json::from_str(&m.content_json).unwrap()).collect();
    assert_eq!(got, ["[conversation u] first question", "second"]);
    assert_eq!((conv.max_tokens(1), conv.max_tokens(3)), (Some(7), None));
    // Live history needs the server's reply; recorded uses the dataset's, except after a turn
    // that has none.
    assert_eq!(seq.recorded_reply(0, 1), None);
    assert_eq!(random.recorded_reply(0, 2), Some("\"part one\\npart two\""));
    assert!(seq.needs_reply(0) && !random.needs_reply(0) && !seq.needs_reply(1));

    let jsonl = r#"{"messages": [{"role": "system", "content": "s"}, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "q"}]}"#;
    let d = ok("m.jsonl", jsonl, Format::Jsonl);
    let mut history = Vec::new();
    d.conversations[0].push_turn(1, "P\\n", &mut history);
    let got: Vec<String> = history.iter().map(|m| serde_json::from_str(&m.content_json).unwrap()).collect();
    assert_eq!(got, ["hello", "P\nq"]);
}
