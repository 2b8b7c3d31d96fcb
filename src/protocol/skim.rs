//! A strict, allocation-free JSON reader for the fast paths of the decoders: it walks a body
//! once, hands the caller the members it asks for and skips the rest. It accepts only what
//! serde_json accepts (the JSON grammar, no control characters in strings, valid escapes) and
//! gives up (`None`) on anything it does not read exactly the way serde would — a key with an
//! escape or invalid UTF-8, deep nesting — so a decoder that falls back to serde on `None`
//! gives the same result either way, only cheaper for the usual reply.

/// Nesting deeper than this is left to serde (whose own limit is 128).
const MAX_DEPTH: u32 = 64;

const ONES: u64 = u64::MAX / 255;
const HIGH: u64 = ONES << 7;

/// A string literal as it appears between its quotes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Str<'a> {
    pub raw: &'a [u8],
    /// Backslash escapes in it (each two bytes, one character, unless `unicode`).
    pub escapes: u32,
    /// A `\u` escape is among them.
    pub unicode: bool,
    /// Every byte is ASCII.
    pub ascii: bool,
}

impl Str<'_> {
    /// Characters of the decoded text, when it is valid UTF-8 without `\u` escapes (else
    /// the caller leaves it to serde).
    pub(crate) fn chars(&self) -> Option<u64> {
        if self.unicode {
            return None;
        }
        let bytes = if self.ascii {
            self.raw.len() as u64
        } else {
            let text = std::str::from_utf8(self.raw).ok()?;
            text.bytes().filter(|b| b & 0xc0 != 0x80).count() as u64
        };
        Some(bytes - u64::from(self.escapes))
    }

    /// Appends the decoded text (only after `chars` said it can be decoded here).
    pub(crate) fn push_to(&self, out: &mut String) {
        // `chars` checked the bytes are UTF-8; escapes replace ASCII with ASCII.
        let text = std::str::from_utf8(self.raw).unwrap_or_default();
        if self.escapes == 0 {
            out.push_str(text);
            return;
        }
        let mut rest = text;
        while let Some(i) = rest.find('\\') {
            out.push_str(&rest[..i]);
            let esc = rest.as_bytes().get(i + 1).copied().unwrap_or(b'\\');
            out.push(match esc {
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                other => char::from(other),
            });
            rest = rest.get(i + 2..).unwrap_or_default();
        }
        out.push_str(rest);
    }
}

/// A cursor over one JSON text.
pub(crate) struct Skim<'a> {
    b: &'a [u8],
    i: usize,
    depth: u32,
    /// The text has a non-ASCII byte somewhere: strings and keys are then checked for them.
    high: bool,
}

impl<'a> Skim<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Skim<'a> {
        // Most replies are ASCII: their strings and keys need no UTF-8 checks.
        Skim { b, i: 0, depth: 0, high: !b.is_ascii() }
    }

    #[inline]
    fn ws(&mut self) {
        // A byte above the space is never a blank: one compare for compact JSON.
        while let Some(&c) = self.b.get(self.i) {
            if c > b' ' || !matches!(c, b' ' | b'\n' | b'\t' | b'\r') {
                break;
            }
            self.i += 1;
        }
    }

    /// The next non-blank byte, not consumed.
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i.checked_add(word.len())?;
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// Only blanks are left.
    pub(crate) fn end(mut self) -> Option<()> {
        self.ws();
        (self.i == self.b.len()).then_some(())
    }

    /// Moves to the next byte of a string that is not plain text — a quote, a backslash or a
    /// control byte — and returns it without consuming it (None at the end of the input).
    #[inline(always)]
    fn run(&mut self) -> Option<u8> {
        let b = self.b;
        let rest = &b[self.i..];
        // 8 bytes at a time, as serde does.
        for chunk in rest.chunks_exact(8) {
            let v = u64::from_le_bytes(chunk.try_into().ok()?);
            let ctrl = v.wrapping_sub(ONES * 0x20) & !v;
            let q = v ^ (ONES * u64::from(b'"'));
            let bs = v ^ (ONES * u64::from(b'\\'));
            let stop = (ctrl | (q.wrapping_sub(ONES) & !q) | (bs.wrapping_sub(ONES) & !bs)) & HIGH;
            if stop != 0 {
                self.i += (stop.trailing_zeros() / 8) as usize;
                return Some(b[self.i]);
            }
            self.i += 8;
        }
        while let Some(&c) = self.b.get(self.i) {
            if c == b'"' || c == b'\\' || c < 0x20 {
                return Some(c);
            }
            self.i += 1;
        }
        None
    }

    /// Consumes the escape at the cursor (a backslash); true for a `\u` escape.
    fn escape(&mut self) -> Option<bool> {
        match *self.b.get(self.i + 1)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                self.i += 2;
                Some(false)
            }
            b'u' => {
                let hex = self.b.get(self.i + 2..self.i + 6)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                self.i += 6;
                Some(true)
            }
            _ => None,
        }
    }

    /// A string value.
    pub(crate) fn string(&mut self) -> Option<Str<'a>> {
        self.eat(b'"')?;
        let start = self.i;
        let (mut escapes, mut unicode, mut ascii) = (0u32, false, true);
        loop {
            let from = self.i;
            let c = self.run()?;
            ascii &= !self.high || self.b[from..self.i].is_ascii();
            match c {
                b'"' => {
                    self.i += 1;
                    return Some(Str { raw: &self.b[start..self.i - 1], escapes, unicode, ascii });
                }
                b'\\' => {
                    escapes += 1;
                    unicode |= self.escape()?;
                }
                _ => return None,
            }
        }
    }

    /// Skips a string value (its bytes need not be UTF-8: serde does not check what it
    /// ignores either).
    fn skip_string(&mut self) -> Option<()> {
        self.i += 1;
        loop {
            match self.run()? {
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                b'\\' => drop(self.escape()?),
                _ => return None,
            }
        }
    }

    /// An object key, when it is plain ASCII (the others are left to serde).
    #[inline]
    fn key(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.i;
        if self.run()? != b'"' {
            return None;
        }
        let key = &self.b[start..self.i];
        self.i += 1;
        (!self.high || key.is_ascii()).then_some(key)
    }

    /// `null` (true) or not (false, nothing consumed).
    pub(crate) fn null(&mut self) -> Option<bool> {
        if self.peek()? != b'n' {
            return Some(false);
        }
        self.literal(b"null").map(|()| true)
    }

    /// A token count: a plain non-negative integer that fits u64, or null. Anything else
    /// (a sign, a fraction, an exponent) is left to serde.
    pub(crate) fn count_or_null(&mut self) -> Option<Option<u64>> {
        if self.null()? {
            return Some(None);
        }
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(&d @ b'0'..=b'9') = self.b.get(self.i) {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.i += 1;
        }
        let len = self.i - start;
        let leading_zero = len > 1 && self.b[start] == b'0';
        if len == 0 || leading_zero || matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        Some(Some(n))
    }

    fn number(&mut self) -> Option<()> {
        let digits = |s: &mut Self| {
            let from = s.i;
            while let Some(b'0'..=b'9') = s.b.get(s.i) {
                s.i += 1;
            }
            s.i - from
        };
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.b.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => drop(digits(self)),
            _ => return None,
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return None;
            }
        }
        Some(())
    }

    /// Skips any value.
    pub(crate) fn skip(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' => self.object(|s, _| s.skip()),
            b'[' => self.array(|s| s.skip()),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }

    fn enter(&mut self, open: u8) -> Option<()> {
        self.eat(open)?;
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// An object: `member` is called at each value with its key (ASCII and escape-free:
    /// others are left to serde) and must consume the value.
    pub(crate) fn object(&mut self, mut member: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.enter(b'{')?;
        if self.eat(b'}').is_none() {
            loop {
                let key = self.key()?;
                self.eat(b':')?;
                member(self, key)?;
                match self.peek()? {
                    b',' => self.i += 1,
                    b'}' => {
                        self.i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    /// An array: `item` is called at each element and must consume it.
    pub(crate) fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.enter(b'[')?;
        if self.eat(b']').is_none() {
            loop {
                item(self)?;
                match self.peek()? {
                    b',' => self.i += 1,
                    b']' => {
                        self.i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(())
    }
}

/// Marks a member seen; None when it was already (serde refuses a duplicate field).
pub(crate) fn once(seen: &mut bool) -> Option<()> {
    (!std::mem::replace(seen, true)).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the skimmer reads `text` as one valid JSON value (it must agree with serde
    /// whenever it does not give up).
    fn valid(text: &[u8]) -> Option<()> {
        let mut s = Skim::new(text);
        s.skip()?;
        s.end()
    }

    #[test]
    fn agrees_with_serde_on_what_is_json() {
        let cases: &[&[u8]] = &[
            br#"{"a":[1,-2.5e+3,0,true,false,null,"x\n\u00e9"],"b":{}}"#,
            b" [ ] ",
            b"{\"a\":1,}",
            b"[1,]",
            b"01",
            b"1.",
            b"1e",
            b"-",
            b"\"a\x01\"",
            b"\"\\x\"",
            b"\"\\u12g4\"",
            b"\"caf\xc3\xa9\"",
            b"\"\xff\"",
            b"{\"a\" 1}",
            b"[1 2]",
            b"tru",
            b"nul",
            b"{}x",
            b"\"unterminated",
            b"\"exactly8\"",
            b"\"0123456789abcdef\\\"\"",
        ];
        for case in cases {
            let serde = serde_json::from_slice::<serde::de::IgnoredAny>(case).is_ok();
            if let Some(()) = valid(case) {
                assert!(serde, "skim accepted what serde refuses: {:?}", String::from_utf8_lossy(case));
            }
        }
        assert!(valid(cases[0]).is_some() && valid(cases[1]).is_some());
        assert!(valid(b"\"caf\xc3\xa9\"").is_some());
        assert!(valid(&[b'['; 100]).is_none(), "deep nesting is left to serde");
    }

    #[test]
    fn strings_count_and_decode() {
        let mut s = Skim::new(br#""h\u00e9" "a\"b\\c\nd/\/""#);
        assert!(s.string().unwrap().chars().is_none(), "\\u is left to serde");
        let esc = s.string().unwrap();
        assert_eq!(esc.chars(), Some(9));
        let mut out = String::new();
        esc.push_to(&mut out);
        assert_eq!(out, "a\"b\\c\nd//");
        let raw = "\"café, 0123456789\"";
        let mut s = Skim::new(raw.as_bytes());
        let t = s.string().unwrap();
        assert!(!t.ascii);
        assert_eq!(t.chars(), Some(16));
        let mut s = Skim::new(b"12 01 1.5 18446744073709551616 null");
        assert_eq!(s.count_or_null(), Some(Some(12)));
        assert_eq!(s.count_or_null(), None);
    }
}
