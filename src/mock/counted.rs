//! Prompt tokens by a tokenizer (`llmload mock --tokenizer`), on every route: the estimate's
//! recipe (`text::prompt_of_contents`: each message's content + 3, + 3 for the reply; the
//! system prompt or `instructions` is a message) with each content counted by the tokenizer,
//! so `prompt_tokens − 3 × messages − 3` is the contents' tokens. Completions and embeddings
//! prompts have no overhead (each text at least 1, as estimated). A part without text (an
//! image) is charged 1,000 tokens, as estimated;
//! tool_result and tool_use blocks count their content and input JSON.
//!
//! The chat and Anthropic request types sum the estimate of `messages` while reading them and
//! keep no list, so with a tokenizer those bodies are read again for their messages (the
//! counting costs far more than the reading).

use serde::Deserialize;

use super::request::{
    Content, Message, PartText, Prompt, ResponseInput, ResponsesRequest, System, NON_TEXT_PART_CHARS,
};
use super::text::prompt_of_contents;
use crate::tokens::Tokenizer;

/// What a chat or Anthropic body is read again for.
#[derive(Deserialize)]
struct Conversation<'a> {
    #[serde(borrow)]
    messages: Vec<Message<'a>>,
    #[serde(borrow, default)]
    system: Option<System<'a>>,
}

fn content(t: Tokenizer, c: &Content<'_>) -> u64 {
    match c {
        Content::Text(s) => u64::from(t.count(s)),
        Content::Parts(parts) => parts
            .iter()
            .map(|p| match p.counted() {
                PartText::Text(s) => u64::from(t.count(s)),
                PartText::Nested(c) => content(t, c),
                PartText::Json(j) => u64::from(t.count(&j)),
                PartText::None => NON_TEXT_PART_CHARS as u64 / 4,
            })
            .sum(),
    }
}

fn message(t: Tokenizer, m: &Message<'_>) -> u64 {
    m.content.as_ref().map_or(0, |c| content(t, c))
}

/// `POST /chat/completions`: the messages (a system prompt is one of them). `None` if the
/// body does not read again (it was admitted, so it does).
pub(crate) fn chat(t: Tokenizer, body: &[u8]) -> Option<u64> {
    let c: Conversation = serde_json::from_slice(body).ok()?;
    Some(prompt_of_contents(c.messages.iter().map(|m| message(t, m))))
}

/// `POST /messages` and `/messages/count_tokens`: `system` (a message when given) and the
/// messages.
pub(crate) fn anthropic(t: Tokenizer, body: &[u8]) -> Option<u64> {
    let c: Conversation = serde_json::from_slice(body).ok()?;
    let system = c.system.as_ref().map(|s| match s {
        System::Text(text) => u64::from(t.count(text)),
        System::Blocks(blocks) => {
            blocks.iter().filter_map(|b| b.text.as_ref()).map(|s| u64::from(t.count(s))).sum()
        }
    });
    Some(prompt_of_contents(system.into_iter().chain(c.messages.iter().map(|m| message(t, m)))))
}

/// `POST /responses`: `instructions` (a message when given) and the input.
pub(crate) fn responses(t: Tokenizer, req: &ResponsesRequest<'_>) -> u64 {
    let instructions = req.instructions.as_ref().map(|i| u64::from(t.count(i)));
    match &req.input {
        ResponseInput::Text(text) => {
            prompt_of_contents(instructions.into_iter().chain([u64::from(t.count(text))]))
        }
        ResponseInput::Items(items) => prompt_of_contents(
            instructions
                .into_iter()
                .chain(items.iter().map(|i| i.content.as_ref().map_or(0, |c| content(t, c)))),
        ),
    }
}

/// `POST /completions` and `/embeddings`: each text, at least 1; token ids as given.
pub(crate) fn prompt(t: Tokenizer, p: &Prompt<'_>) -> u64 {
    match p {
        Prompt::Text(text) => u64::from(t.count(text)).max(1),
        Prompt::Texts(texts) => texts.iter().map(|text| u64::from(t.count(text)).max(1)).sum(),
        Prompt::Tokens(_) | Prompt::TokenLists(_) => p.tokens(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::request::{parse, ChatRequest, CompletionRequest, MessagesRequest};

    const T: Tokenizer = Tokenizer::O200k;

    #[test]
    fn contents_are_counted_and_the_overhead_is_the_estimates() {
        // "hello world" is 2 tokens, "be brief" 2: (3 + 2) + (3 + 2) + 3.
        let body = br#"{"model":"m","messages":[{"role":"system","content":"be brief"},
            {"role":"user","content":"hello world"}],"max_tokens":5}"#;
        assert_eq!(chat(T, body), Some(13));
        // The estimate of the same body keeps its own numbers: ⌈8/4⌉ and ⌈11/4⌉.
        assert_eq!(parse::<ChatRequest>(body).unwrap().prompt_tokens(), 3 + 2 + 3 + 3 + 3);
        // Parts: text parts counted, an image charged 1,000.
        let parts =
            br#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hello world"},
            {"type":"image_url"}]}]}"#;
        assert_eq!(chat(T, parts), Some(3 + 2 + 1000 + 3));
    }

    #[test]
    fn anthropic_counts_the_system_prompt_as_a_message_and_count_tokens_agrees() {
        let body = br#"{"model":"c","system":[{"type":"text","text":"be brief"}],
            "messages":[{"role":"user","content":"hello world"},{"role":"assistant","content":"ok"}],"max_tokens":9}"#;
        // (3 + 2) + (3 + 2) + (3 + 1) + 3.
        assert_eq!(anthropic(T, body), Some(17));
        let without = br#"{"model":"c","messages":[{"role":"user","content":"hello world"}]}"#;
        assert_eq!(anthropic(T, without), Some(3 + 2 + 3));
        assert!(parse::<MessagesRequest>(body).is_ok());
    }

    #[test]
    fn responses_and_completions() {
        let r: ResponsesRequest =
            parse(br#"{"model":"m","instructions":"be brief","input":"hello world"}"#).unwrap();
        assert_eq!(responses(T, &r), 3 + 2 + 3 + 2 + 3);
        let r: ResponsesRequest =
            parse(br#"{"model":"m","input":[{"role":"user","content":"hello world"}]}"#).unwrap();
        assert_eq!(responses(T, &r), 3 + 2 + 3);
        let c: CompletionRequest = parse(br#"{"model":"m","prompt":"hello world"}"#).unwrap();
        assert_eq!(prompt(T, &c.prompt), 2);
        let c: CompletionRequest = parse(br#"{"model":"m","prompt":["", "hello world"]}"#).unwrap();
        assert_eq!(prompt(T, &c.prompt), 1 + 2);
        let c: CompletionRequest = parse(br#"{"model":"m","prompt":[1,2,3]}"#).unwrap();
        assert_eq!(prompt(Tokenizer::Cl100k, &c.prompt), 3);
    }
}
