//! Hand-written JSON for the mock's hot replies (non-streaming bodies and stream chunks): fixed
//! text is copied as literals and only ids, counts and the reply text are spliced in, byte for
//! byte what serde_json wrote before (the tests pin that), at a fraction of its cost.

/// Appends `s` escaped as the inside of a JSON string (no quotes), exactly as serde_json
/// escapes it: `"`, `\` and control characters; everything else, UTF-8 included, verbatim.
pub(crate) fn escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                let hex = b"0123456789abcdef";
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    hex[(b >> 4) as usize],
                    hex[(b & 15) as usize],
                ]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends `s` as a JSON string literal.
pub(crate) fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    escaped(out, s);
    out.push(b'"');
}

/// Appends `n` in decimal.
pub(crate) fn uint(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_match_serde_json() {
        for s in [
            "",
            "plain words",
            "q\"uote\\back",
            "ctl\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}",
            "é ü 日本 🚀",
            "</script>",
        ] {
            let mut out = Vec::new();
            string(&mut out, s);
            assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(s).unwrap(), "{s:?}");
        }
        let mut out = Vec::new();
        uint(&mut out, 18_446_744_073_709_551_615);
        assert_eq!(out, b"18446744073709551615");
    }
}
