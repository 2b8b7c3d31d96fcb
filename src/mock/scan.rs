//! A fast path for the hottest request body (chat completions): one pass over the bytes that
//! reads only the fields the mock uses and skips the rest. It accepts only plain input — string
//! values without escapes, integers without sign, fraction or exponent, string message content
//! — and gives up (`None`) on anything else, duplicates and errors included; the serde parser
//! then reads the body as before, so values and error messages never depend on this path.

use std::borrow::Cow;

use super::request::{ChatRequest, Content, Messages, Requested, StreamOptions};

impl<'a> Requested<'a> for ChatRequest<'a> {
    fn model(&self) -> &str {
        &self.model
    }
    fn scan(body: &'a [u8]) -> Option<Self> {
        chat(body)
    }
}

/// Reads `body` as a chat request if it is plain enough (see the module docs).
pub(crate) fn chat(body: &[u8]) -> Option<ChatRequest<'_>> {
    let mut s = Scan { b: body, i: 0 };
    let mut model = None;
    let mut messages = None;
    let (mut stream, mut stream_options, mut ignore_eos) = (None, None, None);
    let (mut max_tokens, mut max_completion_tokens, mut min_tokens, mut n) = (None, None, None, None);
    let mut tools = None;
    s.object(|s, key| match key {
        b"model" => once(&mut model, s.string()?),
        b"messages" => once(&mut messages, s.messages()?),
        b"stream" => once(&mut stream, s.opt(Scan::boolean)?),
        b"stream_options" => once(&mut stream_options, s.opt(Scan::stream_options)?),
        b"max_tokens" => once(&mut max_tokens, s.opt(Scan::uint)?),
        b"max_completion_tokens" => once(&mut max_completion_tokens, s.opt(Scan::uint)?),
        b"min_tokens" => once(&mut min_tokens, s.opt(Scan::uint)?),
        b"ignore_eos" => once(&mut ignore_eos, s.opt(Scan::boolean)?),
        b"n" => once(&mut n, s.opt(Scan::uint)?),
        // Tool definitions are left to serde (read whole); only none (`[]`, `null`) is plain.
        b"tools" => once(&mut tools, s.no_tools()?),
        // A JSON answer is rare: serde reads the format.
        b"response_format" => None,
        key => s.unknown(key),
    })?;
    s.ws();
    if s.i != s.b.len() {
        return None;
    }
    Some(ChatRequest {
        model: Cow::Borrowed(model?),
        messages: messages?,
        stream: stream.flatten(),
        stream_options: stream_options.flatten(),
        max_tokens: max_tokens.flatten(),
        max_completion_tokens: max_completion_tokens.flatten(),
        min_tokens: min_tokens.flatten(),
        ignore_eos: ignore_eos.flatten(),
        n: n.flatten(),
        tools: None,
        response_format: None,
    })
}

/// Sets a field seen for the first time (a duplicate field is serde's error to report).
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

/// Nesting depth beyond which skipping gives up (serde_json's own limit is 128).
const MAX_DEPTH: usize = 64;

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// The next byte after whitespace, consumed.
    fn next(&mut self) -> Option<u8> {
        self.ws();
        let c = *self.b.get(self.i)?;
        self.i += 1;
        Some(c)
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.ws();
        self.b[self.i..].starts_with(word).then(|| self.i += word.len())
    }

    /// An object: `field(self, key)` reads each value.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        (self.next()? == b'{').then_some(())?;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            let key = self.raw()?;
            (self.next()? == b':').then_some(())?;
            field(self, key)?;
            match self.next()? {
                b',' => {}
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// A string without escapes or control characters.
    fn string(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.raw()?).ok()
    }

    /// The bytes of a string without escapes or control characters, not yet checked to be
    /// UTF-8 (keys are compared as bytes; an unknown key is checked by `unknown`).
    fn raw(&mut self) -> Option<&'a [u8]> {
        (self.next()? == b'"').then_some(())?;
        let rest = &self.b[self.i..];
        // A plain loop: for short strings it beats memchr's set-up.
        let len = rest.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if rest[len] != b'"' {
            return None;
        }
        self.i += len + 1;
        Some(&rest[..len])
    }

    /// Skips the value of a field the mock does not use (its key must still be UTF-8).
    fn unknown(&mut self, key: &[u8]) -> Option<()> {
        std::str::from_utf8(key).ok()?;
        self.skip(0)
    }

    /// `null` as `None`, else `value`.
    fn opt<T>(&mut self, value: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(None);
        }
        value(self).map(Some)
    }

    fn boolean(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.literal(b"true").map(|_| true),
            b'f' => self.literal(b"false").map(|_| false),
            _ => None,
        }
    }

    /// An unsigned integer (no leading zero, sign, fraction or exponent) that fits a u64.
    fn uint(&mut self) -> Option<u64> {
        self.ws();
        let digits = self.b[self.i..].iter().take_while(|c| c.is_ascii_digit()).count();
        let text = &self.b[self.i..self.i + digits];
        if digits == 0 || (digits > 1 && text[0] == b'0') {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.b.get(self.i + digits) {
            return None;
        }
        let n = text.iter().try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))?;
        self.i += digits;
        Some(n)
    }

    fn stream_options(&mut self) -> Option<StreamOptions> {
        let mut include_usage = None;
        self.object(|s, key| match key {
            b"include_usage" => once(&mut include_usage, s.opt(Scan::boolean)?),
            key => s.unknown(key),
        })?;
        Some(StreamOptions { include_usage: include_usage.flatten() })
    }

    /// `messages`: objects with a `role` string and string (or null) `content`.
    fn messages(&mut self) -> Option<Messages<'a>> {
        let mut messages = Messages::default();
        (self.next()? == b'[').then_some(())?;
        if self.peek()? == b']' {
            self.i += 1;
            return Some(messages);
        }
        loop {
            let (mut role, mut content) = (None, None);
            self.object(|s, key| match key {
                b"role" => once(&mut role, s.raw()?),
                b"content" => once(&mut content, s.opt(Scan::string)?),
                key => s.unknown(key),
            })?;
            let content = content.flatten().map(|t| Content::Text(Cow::Borrowed(t)));
            let role = role?;
            // The common roles are ASCII; any other must still be UTF-8.
            if !matches!(role, b"user" | b"assistant" | b"system") {
                std::str::from_utf8(role).ok()?;
            }
            messages.push(role, content);
            match self.next()? {
                b',' => {}
                b']' => return Some(messages),
                _ => return None,
            }
        }
    }

    /// `[]` or `null`, else give up.
    fn no_tools(&mut self) -> Option<()> {
        if self.literal(b"null").is_some() {
            return Some(());
        }
        (self.next()? == b'[' && self.next()? == b']').then_some(())
    }

    /// Skips any plain value.
    fn skip(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' => self.object(|s, key| {
                std::str::from_utf8(key).ok()?;
                s.skip(depth + 1)
            }),
            b'[' => {
                self.i += 1;
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.skip(depth + 1)?;
                    match self.next()? {
                        b',' => {}
                        b']' => return Some(()),
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }

    /// Any JSON number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        let b = self.b;
        let digits = |i: usize| b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        let mut i = self.i;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        let int = digits(i);
        if int == 0 || (int > 1 && b[i] == b'0') {
            return None;
        }
        i += int;
        if b.get(i) == Some(&b'.') {
            let frac = digits(i + 1);
            if frac == 0 {
                return None;
            }
            i += 1 + frac;
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            let exp = digits(i);
            if exp == 0 {
                return None;
            }
            i += exp;
        }
        self.i = i;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::request::parse;

    /// What both parsers saw, for comparison.
    fn summary(r: &ChatRequest<'_>) -> String {
        format!(
            "{:?} {} {} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            r.messages.last,
            r.model,
            r.messages.tokens,
            r.messages.last_user_text(),
            r.stream,
            r.stream_options.as_ref().map(|o| o.include_usage),
            r.max_tokens,
            r.max_completion_tokens,
            r.min_tokens,
            r.ignore_eos,
            r.n,
            r.prompt_tokens(),
        )
    }

    #[test]
    fn plain_bodies_read_as_serde_reads_them() {
        let bodies: &[&str] = &[
            r#"{"model":"mock-gpt","messages":[{"role":"user","content":"hi"}],"max_tokens":16}"#,
            r#" { "model" : "m" , "messages" : [ { "content" : "sys" , "role" : "system" } ,
               {"role":"user","content":null,"name":"x"}, {"role":"user","content":"é ü 日本"},
               {"role":"assistant","content":"later"} ] , "stream" : true,
               "stream_options": {"include_usage": true, "x": [1, -2.5e3, {"a": [null]}]},
               "max_completion_tokens": 0, "min_tokens": null, "ignore_eos": false, "n": 1,
               "temperature": 0.7, "tools": [], "metadata": {}, "user": "u" } "#,
            r#"{"messages":[],"model":"m","stream":null,"stream_options":null,"max_tokens":18446744073709551615}"#,
        ];
        for body in bodies {
            let fast = chat(body.as_bytes()).expect("plain body");
            let slow: ChatRequest = parse(body.as_bytes()).unwrap();
            assert_eq!(summary(&fast), summary(&slow), "{body}");
        }
    }

    #[test]
    fn anything_else_is_left_to_serde() {
        let bodies: &[&str] = &[
            r#"{"model":"m\u0041","messages":[]}"#,
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}"#,
            r#"{"model":"m","model":"n","messages":[]}"#,
            r#"{"model":"m","messages":[{"content":"no role"}]}"#,
            r#"{"model":"m","messages":[],"max_tokens":-1}"#,
            r#"{"model":"m","messages":[],"max_tokens":1.0}"#,
            r#"{"model":"m","messages":[],"max_tokens":01}"#,
            r#"{"model":"m","messages":[],"max_tokens":18446744073709551616}"#,
            r#"{"model":"m","messages":[],"stream":"yes"}"#,
            r#"{"model":"m","messages":[],"x":01}"#,
            r#"{"model":"m","messages":[],"x":1.}"#,
            r#"{"model":"m","messages":[],"x":tru}"#,
            r#"{"model":"m","messages":[]} x"#,
            r#"{"model":"m","messages":[],}"#,
            r#"{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f"}}]}"#,
            r#"{"model":"m","messages":[],"tools":[],"tools":[]}"#,
            "{\"model\":\"a\tb\",\"messages\":[]}",
            r#"{"messages":[]}"#,
            r#"{"model":"m","messages":[]"#,
            "",
        ];
        for body in bodies {
            assert!(chat(body.as_bytes()).is_none(), "{body}");
        }
        // Invalid UTF-8 in a value, a key, a role, a nested key.
        assert!(chat(b"{\"model\":\"\xff\",\"messages\":[]}").is_none());
        assert!(chat(b"{\"model\":\"m\",\"\xff\":1,\"messages\":[]}").is_none());
        assert!(chat(b"{\"model\":\"m\",\"messages\":[{\"role\":\"\xff\"}]}").is_none());
        assert!(chat(b"{\"model\":\"m\",\"x\":{\"\xff\":1},\"messages\":[]}").is_none());
    }
}
