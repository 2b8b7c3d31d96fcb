//! Request bodies of every route, deserialized borrowing from the request buffer.
//! Unknown fields are ignored as real providers do; wrong types and missing required fields
//! become a 400 naming the JSON path.

use std::borrow::Cow;

use serde::Deserialize;

use super::text::{message_tokens, prompt_tokens, REPLY_PRIMING};

/// Parses `body` as `T`; the error names the JSON path (`messages[0].content: invalid type …`).
pub(crate) fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, String> {
    // Fast path without path tracking; only a failure is parsed again to name the path.
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        }
    })?;
    Ok(value)
}

/// A request body that names a model (what `kit::Call::admit` looks up).
pub(crate) trait Requested<'b>: Deserialize<'b> {
    fn model(&self) -> &str;
    /// A fast reading of a plain body; `None` leaves it to `parse`.
    fn scan(_body: &'b [u8]) -> Option<Self> {
        None
    }
}

macro_rules! requested {
    ($($t:ident),*) => {$(
        impl<'a> Requested<'a> for $t<'a> {
            fn model(&self) -> &str {
                &self.model
            }
        }
    )*};
}
requested!(CompletionRequest, EmbeddingRequest, ResponsesRequest, MessagesRequest);

// ChatRequest's impl, with its fast path, is in `scan`.

/// Message content: a string, or a list of typed parts / blocks.
#[derive(Deserialize, Debug)]
#[serde(untagged)]
pub(crate) enum Content<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Parts(#[serde(borrow)] Vec<Part<'a>>),
}

/// One part of structured content; only text counts toward the estimate, parts without text
/// (images, documents) are charged a fixed amount.
#[derive(Deserialize, Debug)]
pub(crate) struct Part<'a> {
    /// `text`, `image`, `tool_result`, …
    #[serde(rename = "type", borrow, default)]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub text: Option<Cow<'a, str>>,
    /// A `tool_result` block's content.
    #[serde(borrow, default)]
    pub content: Option<Box<Content<'a>>>,
    /// A `tool_use` block's input.
    #[serde(default)]
    pub input: Option<serde_json::Value>,
}

/// Characters charged for a non-text part (an image is ~1k tokens at real providers).
pub(crate) const NON_TEXT_PART_CHARS: usize = 4000;

/// What a part counts as: its text, a tool result's content, a tool call's input JSON; `None`
/// for a part without text (an image), which is charged a fixed amount.
pub(crate) enum PartText<'p, 'a> {
    Text(&'p str),
    Nested(&'p Content<'a>),
    Json(String),
    None,
}

impl<'a> Part<'a> {
    pub(crate) fn counted(&self) -> PartText<'_, 'a> {
        match (&self.text, self.kind.as_deref(), &self.content, &self.input) {
            (Some(t), _, _, _) => PartText::Text(t),
            (None, Some("tool_result"), Some(c), _) => PartText::Nested(c),
            (None, Some("tool_result"), None, _) => PartText::Text(""),
            (None, Some("tool_use"), _, Some(input)) => PartText::Json(input.to_string()),
            _ => PartText::None,
        }
    }

    fn chars(&self) -> usize {
        match self.counted() {
            PartText::Text(t) => t.chars().count(),
            PartText::Nested(c) => c.chars(),
            PartText::Json(j) => j.chars().count(),
            PartText::None => NON_TEXT_PART_CHARS,
        }
    }
}

impl Content<'_> {
    /// Character count used by the token estimate.
    pub(crate) fn chars(&self) -> usize {
        match self {
            Content::Text(t) => t.chars().count(),
            Content::Parts(parts) => parts.iter().map(Part::chars).sum(),
        }
    }

    /// The text, parts joined by newlines.
    pub(crate) fn text(&self) -> Cow<'_, str> {
        match self {
            Content::Text(t) => Cow::Borrowed(t.as_ref()),
            Content::Parts(parts) => {
                Cow::Owned(parts.iter().filter_map(|p| p.text.as_deref()).collect::<Vec<_>>().join("\n"))
            }
        }
    }
}

/// A chat message (OpenAI or Anthropic).
#[derive(Deserialize, Debug)]
pub(crate) struct Message<'a> {
    #[serde(borrow)]
    pub role: Cow<'a, str>,
    #[serde(borrow, default)]
    pub content: Option<Content<'a>>,
}

fn chars_of(content: &Option<Content<'_>>) -> usize {
    content.as_ref().map_or(0, Content::chars)
}

/// Who spoke last, which decides whether a request offering tools gets a tool call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum LastTurn {
    /// A user message (not a tool result).
    User,
    /// An OpenAI `tool` message, or an Anthropic user message with a `tool_result` block.
    ToolResult,
    /// Anything else (assistant, system, no messages).
    #[default]
    Other,
}

/// A `messages` array as the mock uses it, summarised while it is read (no list is kept):
/// the token estimate of every message, the last user message's content, the last turn.
#[derive(Debug, Default)]
pub(crate) struct Messages<'a> {
    /// Σ `text::message_tokens` over the messages.
    pub tokens: u64,
    /// The content of the last message whose role is `user` (`None` when it has none).
    pub last_user: Option<Content<'a>>,
    pub last: LastTurn,
}

impl<'a> Messages<'a> {
    /// Counts one message in.
    pub(crate) fn push(&mut self, role: &[u8], content: Option<Content<'a>>) {
        self.tokens += message_tokens(chars_of(&content));
        let tool_result = |c: &Option<Content<'_>>| matches!(c, Some(Content::Parts(ps)) if ps.iter().any(|p| p.kind.as_deref() == Some("tool_result")));
        self.last = match role {
            b"tool" => LastTurn::ToolResult,
            b"user" if tool_result(&content) => LastTurn::ToolResult,
            b"user" => LastTurn::User,
            _ => LastTurn::Other,
        };
        if role == b"user" {
            self.last_user = content;
        }
    }

    /// The last user message's text (for echo mode).
    pub(crate) fn last_user_text(&self) -> Cow<'_, str> {
        self.last_user.as_ref().map_or(Cow::Borrowed(""), Content::text)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Messages<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<Messages<'a>>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Messages<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Messages<'a>, A::Error> {
                let mut messages = Messages::default();
                while let Some(m) = seq.next_element::<Message<'a>>()? {
                    messages.push(m.role.as_bytes(), m.content);
                }
                Ok(messages)
            }
        }
        d.deserialize_seq(Visit(std::marker::PhantomData))
    }
}

/// `stream_options`.
#[derive(Deserialize, Debug, Default)]
pub(crate) struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

/// OpenAI `POST /chat/completions`.
#[derive(Deserialize, Debug)]
pub(crate) struct ChatRequest<'a> {
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    #[serde(borrow)]
    pub messages: Messages<'a>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(default)]
    pub max_completion_tokens: Option<u64>,
    #[serde(default)]
    pub min_tokens: Option<u64>,
    #[serde(default)]
    pub ignore_eos: Option<bool>,
    #[serde(default)]
    pub n: Option<u64>,
    /// Tool definitions (`{type: function, function: {name, parameters}}`).
    #[serde(default)]
    pub tools: Option<Vec<serde_json::Value>>,
    /// `{type: json_object | json_schema | text, …}`: a JSON type makes the answer JSON.
    #[serde(borrow, default)]
    pub response_format: Option<Format<'a>>,
}

/// A `response_format` (Responses: `text.format`); only its type matters to the mock.
#[derive(Deserialize, Debug, Default)]
pub(crate) struct Format<'a> {
    #[serde(rename = "type", borrow, default)]
    pub kind: Option<Cow<'a, str>>,
}

impl Format<'_> {
    /// Whether it asks for a JSON answer.
    pub(crate) fn wants_json(&self) -> bool {
        matches!(self.kind.as_deref(), Some("json_object" | "json_schema"))
    }
}

/// Responses `text`: its `format`.
#[derive(Deserialize, Debug, Default)]
pub(crate) struct TextOptions<'a> {
    #[serde(borrow, default)]
    pub format: Option<Format<'a>>,
}

impl ChatRequest<'_> {
    pub(crate) fn prompt_tokens(&self) -> u64 {
        self.messages.tokens + REPLY_PRIMING
    }
}

/// A prompt: a string, strings, or token ids.
#[derive(Deserialize, Debug)]
#[serde(untagged)]
pub(crate) enum Prompt<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Texts(#[serde(borrow)] Vec<Cow<'a, str>>),
    Tokens(Vec<u64>),
    TokenLists(Vec<Vec<u64>>),
}

impl Prompt<'_> {
    /// Prompt tokens: chars / 4 for text, the count for token ids.
    pub(crate) fn tokens(&self) -> u64 {
        use super::text::tokens_for_chars;
        match self {
            Prompt::Text(t) => tokens_for_chars(t.chars().count()).max(1),
            Prompt::Texts(ts) => ts.iter().map(|t| tokens_for_chars(t.chars().count()).max(1)).sum(),
            Prompt::Tokens(ids) => ids.len() as u64,
            Prompt::TokenLists(ls) => ls.iter().map(|l| l.len() as u64).sum(),
        }
    }

    /// The inputs one by one as text (token ids rendered as numbers), for embeddings.
    pub(crate) fn items(&self) -> Vec<Cow<'_, str>> {
        match self {
            Prompt::Text(t) => vec![Cow::Borrowed(t.as_ref())],
            Prompt::Texts(ts) => ts.iter().map(|t| Cow::Borrowed(t.as_ref())).collect(),
            Prompt::Tokens(ids) => vec![Cow::Owned(format!("{ids:?}"))],
            Prompt::TokenLists(ls) => ls.iter().map(|l| Cow::Owned(format!("{l:?}"))).collect(),
        }
    }

    /// The last text item (echo mode).
    pub(crate) fn last_text(&self) -> &str {
        match self {
            Prompt::Text(t) => t,
            Prompt::Texts(ts) => ts.last().map_or("", |t| t.as_ref()),
            _ => "",
        }
    }
}

/// OpenAI `POST /completions`.
#[derive(Deserialize, Debug)]
pub(crate) struct CompletionRequest<'a> {
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    #[serde(borrow)]
    pub prompt: Prompt<'a>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(default)]
    pub min_tokens: Option<u64>,
    #[serde(default)]
    pub ignore_eos: Option<bool>,
    #[serde(default)]
    pub n: Option<u64>,
}

/// OpenAI `POST /embeddings`.
#[derive(Deserialize, Debug)]
pub(crate) struct EmbeddingRequest<'a> {
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    #[serde(borrow)]
    pub input: Prompt<'a>,
    #[serde(default, borrow)]
    pub encoding_format: Option<Cow<'a, str>>,
    #[serde(default)]
    pub dimensions: Option<u32>,
}

/// Responses `input`: a string or a list of items.
#[derive(Deserialize, Debug)]
#[serde(untagged)]
pub(crate) enum ResponseInput<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Items(#[serde(borrow)] Vec<ResponseItem<'a>>),
}

/// One input item; messages carry `role` and `content`.
#[derive(Deserialize, Debug)]
pub(crate) struct ResponseItem<'a> {
    /// `message`, `function_call`, `function_call_output`, … (messages may omit it).
    #[serde(rename = "type", borrow, default)]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub role: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub content: Option<Content<'a>>,
}

/// OpenAI `POST /responses`.
#[derive(Deserialize, Debug)]
pub(crate) struct ResponsesRequest<'a> {
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    #[serde(borrow)]
    pub input: ResponseInput<'a>,
    #[serde(default, borrow)]
    pub instructions: Option<Cow<'a, str>>,
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    #[serde(default)]
    pub stream: Option<bool>,
    /// Tool definitions (`{type: function, name, parameters}`).
    #[serde(default)]
    pub tools: Option<Vec<serde_json::Value>>,
    #[serde(borrow, default)]
    pub text: Option<TextOptions<'a>>,
}

impl ResponsesRequest<'_> {
    /// Who spoke last: a `function_call_output` item is a tool result.
    pub(crate) fn last_turn(&self) -> LastTurn {
        match &self.input {
            ResponseInput::Text(_) => LastTurn::User,
            ResponseInput::Items(items) => match items.last() {
                Some(i) if i.kind.as_deref() == Some("function_call_output") => LastTurn::ToolResult,
                Some(i) if i.role.as_deref() == Some("user") => LastTurn::User,
                _ => LastTurn::Other,
            },
        }
    }

    pub(crate) fn prompt_tokens(&self) -> u64 {
        let instr = self.instructions.as_ref().map(|i| i.chars().count());
        match &self.input {
            ResponseInput::Text(t) => prompt_tokens(instr.into_iter().chain([t.chars().count()])),
            ResponseInput::Items(items) => {
                prompt_tokens(instr.into_iter().chain(items.iter().map(|i| chars_of(&i.content))))
            }
        }
    }

    pub(crate) fn last_user_text(&self) -> Cow<'_, str> {
        match &self.input {
            ResponseInput::Text(t) => Cow::Borrowed(t.as_ref()),
            ResponseInput::Items(items) => items
                .iter()
                .rev()
                .find(|i| i.role.as_deref() == Some("user"))
                .and_then(|i| i.content.as_ref())
                .map_or(Cow::Borrowed(""), Content::text),
        }
    }
}

/// Anthropic `system`: a string or text blocks.
#[derive(Deserialize, Debug)]
#[serde(untagged)]
pub(crate) enum System<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Blocks(#[serde(borrow)] Vec<Part<'a>>),
}

impl System<'_> {
    fn chars(&self) -> usize {
        match self {
            System::Text(t) => t.chars().count(),
            System::Blocks(b) => b.iter().map(|p| p.text.as_ref().map_or(0, |t| t.chars().count())).sum(),
        }
    }
}

/// Anthropic `POST /messages` and `/messages/count_tokens` (which has no `max_tokens`).
#[derive(Deserialize, Debug)]
pub(crate) struct MessagesRequest<'a> {
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    #[serde(borrow)]
    pub messages: Messages<'a>,
    #[serde(default, borrow)]
    pub system: Option<System<'a>>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(default)]
    pub stream: Option<bool>,
    /// Tool definitions (`{name, description, input_schema}`).
    #[serde(default)]
    pub tools: Option<Vec<serde_json::Value>>,
    /// Extended thinking: `{type: enabled, budget_tokens}` turns thinking blocks on.
    #[serde(default)]
    pub thinking: Option<Thinking>,
}

/// Anthropic `thinking`.
#[derive(Deserialize, Debug)]
pub(crate) struct Thinking {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub budget_tokens: Option<u64>,
}

impl Thinking {
    /// The thinking budget when enabled (no budget: unbounded).
    pub(crate) fn budget(&self) -> Option<u64> {
        (self.kind == "enabled").then(|| self.budget_tokens.unwrap_or(u64::MAX))
    }
}

impl MessagesRequest<'_> {
    /// Input tokens; `count_tokens` returns exactly this for the same body.
    pub(crate) fn input_tokens(&self) -> u64 {
        let system = self.system.as_ref().map_or(0, |s| message_tokens(s.chars()));
        system + self.messages.tokens + REPLY_PRIMING
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_parses_both_content_forms() {
        let body = br#"{"model":"m","messages":[{"role":"system","content":"be brief"},
            {"role":"user","content":[{"type":"text","text":"hello there"},{"type":"image_url"}]}],
            "stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":5,"extra":1}"#;
        let r: ChatRequest = parse(body).unwrap();
        assert_eq!(r.model, "m");
        assert_eq!(r.stream, Some(true));
        assert_eq!(r.messages.last_user_text(), "hello there");
        assert_eq!(r.prompt_tokens(), 3 + 2 + 3 + (11 + 4000usize).div_ceil(4) as u64 + 3);
    }

    #[test]
    fn errors_name_the_path() {
        let e = parse::<ChatRequest>(br#"{"model":"m","messages":"hi"}"#).unwrap_err();
        assert!(e.starts_with("messages:"), "{e}");
        let e = parse::<ChatRequest>(br#"{"messages":[]}"#).unwrap_err();
        assert!(e.contains("missing field `model`"), "{e}");
        let e = parse::<ChatRequest>(b"{not json").unwrap_err();
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn anthropic_counts_system_and_is_stable() {
        let body = br#"{"model":"c","system":[{"type":"text","text":"abcd"}],"messages":[{"role":"user","content":"abcdefgh"}],"max_tokens":9}"#;
        let r: MessagesRequest = parse(body).unwrap();
        assert_eq!(r.input_tokens(), 3 + 1 + 3 + 2 + 3);
        assert_eq!(r.max_tokens, Some(9));
        assert_eq!(r.messages.last, LastTurn::User);
    }

    #[test]
    fn the_last_turn_tells_a_tool_result() {
        let r: ChatRequest = parse(
            br#"{"model":"m","messages":[{"role":"user","content":"hi"},
            {"role":"assistant","content":null},{"role":"tool","tool_call_id":"c","content":"42"}],
            "tools":[{"type":"function","function":{"name":"f"}}]}"#,
        )
        .unwrap();
        assert_eq!(r.messages.last, LastTurn::ToolResult);
        assert_eq!(r.tools.map(|t| t.len()), Some(1));
        let r: MessagesRequest = parse(br#"{"model":"c","max_tokens":9,"thinking":{"type":"enabled","budget_tokens":1024},
            "messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"42"}]}]}"#)
        .unwrap();
        assert_eq!(r.messages.last, LastTurn::ToolResult);
        assert_eq!(r.thinking.and_then(|t| t.budget()), Some(1024));
        let r: ChatRequest = parse(
            br#"{"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}"#,
        )
        .unwrap();
        assert_eq!(r.messages.last, LastTurn::Other);
    }

    #[test]
    fn tool_blocks_count_their_contents_not_an_image() {
        let r: MessagesRequest = parse(br#"{"model":"c","max_tokens":9,"messages":[
            {"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{"q":"ab"}}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"12345678"},
                                      {"type":"tool_result","tool_use_id":"u","content":[{"type":"text","text":"abcd"}]}]}]}"#)
        .unwrap();
        // {"q":"ab"} is 10 characters (3 tokens); 8 + 4 characters (3 tokens).
        assert_eq!(r.input_tokens(), (3 + 3) + (3 + 3) + 3);
    }

    #[test]
    fn prompts_of_every_shape() {
        let r: CompletionRequest = parse(br#"{"model":"m","prompt":[1,2,3]}"#).unwrap();
        assert_eq!(r.prompt.tokens(), 3);
        let r: EmbeddingRequest = parse(br#"{"model":"m","input":["a","bb"]}"#).unwrap();
        assert_eq!(r.input.items().len(), 2);
        let r: ResponsesRequest =
            parse(br#"{"model":"m","input":[{"role":"user","content":"hi you"}]}"#).unwrap();
        assert_eq!(r.last_user_text(), "hi you");
    }
}
