//! Tool calls of one response, as the decoders see them: each call keyed by where its protocol
//! places it (OpenAI's `index`, Anthropic's content block, Responses' `output_index`), its
//! argument fragments accumulated per key, so the whole arguments can be checked as JSON once
//! the response is in — a gateway that drops or reorders fragments shows up as invalid calls.
//! The first `MAX_KEPT` calls also keep their id and function name (capped at `MAX_ID`
//! bytes), which a tool-result turn sends back. The buffers are kept across requests (no
//! allocation per request once warm, none at all for a reply without calls).

use serde::de::IgnoredAny;

use super::ToolTally;

/// Calls whose arguments are kept and checked; later ones (a runaway stream) are counted,
/// their argument bytes too, but not checked, and a later call is told from the one before
/// only by its key changing (real streams send one call's fragments together).
pub(crate) const MAX_CALLS: usize = 256;

/// Calls whose id and name are kept, for the tool-result turn; later ones are counted only.
pub(crate) const MAX_KEPT: usize = 16;

/// Longest id or name kept, in bytes (a longer one is cut at a character boundary): real ids
/// are about 30 bytes and names at most 64, so only a hostile server reaches it.
pub(crate) const MAX_ID: usize = 256;

/// One call of a response as a tool-result turn needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeptCall<'a> {
    /// OpenAI `id`, Anthropic `tool_use.id`, Responses `call_id` (empty if the server sent none).
    pub id: &'a str,
    /// The function's name (empty if the server sent none).
    pub name: &'a str,
    /// The arguments as received (JSON text, possibly invalid or empty).
    pub arguments: &'a str,
}

#[derive(Default)]
struct Call {
    key: u64,
    args: String,
    id: String,
    name: String,
}

/// The tool calls of the response being decoded.
#[derive(Default)]
pub(crate) struct ToolCalls {
    /// Per call, in order of appearance; `used` are live (the rest are spare buffers).
    calls: Vec<Call>,
    used: usize,
    /// The call last touched (fragments come in runs for one call: looked at first).
    last: usize,
    /// Calls past `MAX_CALLS`, and the key of the last of them.
    overflow: u32,
    overflow_key: Option<u64>,
    arg_bytes: u64,
}

/// Sets `field` to `value` (cut at `MAX_ID` bytes on a character boundary) unless it is set.
fn set_once(field: &mut String, value: Option<&str>) {
    let Some(v) = value.filter(|v| !v.is_empty() && field.is_empty()) else { return };
    let mut end = v.len().min(MAX_ID);
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    field.push_str(&v[..end]);
}

impl ToolCalls {
    /// Forgets the previous response (keeping the buffers).
    pub(crate) fn reset(&mut self) {
        for c in &mut self.calls[..self.used] {
            c.args.clear();
            c.id.clear();
            c.name.clear();
        }
        self.used = 0;
        self.last = 0;
        self.overflow = 0;
        self.overflow_key = None;
        self.arg_bytes = 0;
    }

    /// The index of call `key`, started if new; None for a call past `MAX_CALLS`.
    fn slot(&mut self, key: u64) -> Option<usize> {
        if self.last < self.used && self.calls[self.last].key == key {
            return Some(self.last);
        }
        let i = match self.calls[..self.used].iter().position(|c| c.key == key) {
            Some(i) => i,
            None if self.used == MAX_CALLS => {
                if self.overflow_key != Some(key) {
                    self.overflow_key = Some(key);
                    self.overflow += 1;
                }
                return None;
            }
            None => {
                if self.used == self.calls.len() {
                    self.calls.push(Call::default());
                }
                self.calls[self.used].key = key;
                self.used += 1;
                self.used - 1
            }
        };
        self.last = i;
        Some(i)
    }

    /// Notes call `key` (a no-op when it is known), with its id and name when this fragment
    /// carries them (the first ones given are kept).
    pub(crate) fn start(&mut self, key: u64, id: Option<&str>, name: Option<&str>) {
        if let Some(i) = self.slot(key).filter(|&i| i < MAX_KEPT) {
            let c = &mut self.calls[i];
            set_once(&mut c.id, id);
            set_once(&mut c.name, name);
        }
    }

    /// Appends an argument fragment to call `key` (started if new).
    pub(crate) fn append(&mut self, key: u64, fragment: &str) {
        if let Some(i) = self.slot(key) {
            self.calls[i].args.push_str(fragment);
        }
        self.arg_bytes += fragment.len() as u64;
    }

    /// Calls so far.
    pub(crate) fn len(&self) -> usize {
        self.used + self.overflow as usize
    }

    /// The calls so far; checks each kept one's arguments as JSON (only when there are calls).
    pub(crate) fn tally(&self) -> ToolTally {
        let invalid = self.calls[..self.used]
            .iter()
            .filter(|c| !c.args.trim().is_empty() && serde_json::from_str::<IgnoredAny>(&c.args).is_err())
            .count();
        ToolTally { calls: self.len() as u32, arg_bytes: self.arg_bytes, invalid: invalid as u32 }
    }

    /// Call `i` in order of appearance, among the first `MAX_KEPT`.
    pub(crate) fn kept(&self, i: usize) -> Option<KeptCall<'_>> {
        let c = self.calls[..self.used.min(MAX_KEPT)].get(i)?;
        Some(KeptCall { id: &c.id, name: &c.name, arguments: &c.args })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_accumulate_per_key_and_are_checked_whole() {
        let mut t = ToolCalls::default();
        t.start(0, Some("c0"), Some("f"));
        t.append(0, "{\"city\":");
        t.append(1, "{\"q\":1");
        t.append(0, "\"Paris\"}");
        t.start(0, Some("late"), Some("g"));
        t.start(7, None, None);
        assert_eq!(t.tally(), ToolTally { calls: 3, arg_bytes: 22, invalid: 1 });
        let first = KeptCall { id: "c0", name: "f", arguments: "{\"city\":\"Paris\"}" };
        assert_eq!(t.kept(0), Some(first), "the first id and name given are kept");
        assert_eq!(t.kept(1), Some(KeptCall { id: "", name: "", arguments: "{\"q\":1" }));
        assert_eq!(t.kept(3), None);
        t.reset();
        assert_eq!((t.tally(), t.kept(0)), (ToolTally::default(), None));
        t.append(3, "[]");
        assert_eq!(t.tally(), ToolTally { calls: 1, arg_bytes: 2, invalid: 0 });
        assert_eq!(t.kept(0).unwrap().id, "", "a reused buffer is emptied");
    }

    #[test]
    fn ids_and_names_are_bounded_and_a_runaway_stream_is_counted() {
        let mut t = ToolCalls::default();
        let long = "é".repeat(MAX_ID);
        t.start(0, Some(&long), Some(&long));
        let kept = t.kept(0).unwrap();
        assert_eq!((kept.id.len(), kept.name.len()), (MAX_ID, MAX_ID));
        // 1,000 calls of two fragments each: all counted, the first 256 checked, 16 kept.
        for k in 1..1000u64 {
            let id = format!("call_{k}");
            t.start(k, Some(&id), Some("f"));
            t.append(k, "{\"a\"");
            t.append(k, ":1}");
        }
        assert_eq!(t.tally(), ToolTally { calls: 1000, arg_bytes: 999 * 7, invalid: 0 });
        assert_eq!(t.kept(15).unwrap().id, "call_15");
        assert_eq!(t.kept(MAX_KEPT), None);
        assert!(t.calls.len() == MAX_CALLS && t.calls[MAX_KEPT].id.is_empty(), "bounded memory");
    }
}
