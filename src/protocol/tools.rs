//! Tool calls of one response, as the decoders see them: each call keyed by where its protocol
//! places it (OpenAI's `index`, Anthropic's content block, Responses' `output_index`), its
//! argument fragments accumulated per key, so the whole arguments can be checked as JSON once
//! the response is in — a gateway that drops or reorders fragments shows up as invalid calls.
//! The buffers are kept across requests (no allocation per request once warm).

use serde::de::IgnoredAny;

use super::ToolTally;

/// More calls than this in one response is a protocol error (a runaway stream).
pub(crate) const MAX_CALLS: usize = 256;

/// The tool calls of the response being decoded.
#[derive(Default)]
pub(crate) struct ToolCalls {
    /// (key, accumulated arguments) per call, in order of appearance; `used` are live.
    calls: Vec<(u64, String)>,
    used: usize,
    arg_bytes: u64,
}

impl ToolCalls {
    /// Forgets the previous response (keeping the buffers).
    pub(crate) fn reset(&mut self) {
        for (_, args) in &mut self.calls[..self.used] {
            args.clear();
        }
        self.used = 0;
        self.arg_bytes = 0;
    }

    /// The slot of call `key`, started if new; None past `MAX_CALLS`.
    fn slot(&mut self, key: u64) -> Option<&mut String> {
        let i = match self.calls[..self.used].iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                if self.used == MAX_CALLS {
                    return None;
                }
                if self.used == self.calls.len() {
                    self.calls.push((key, String::new()));
                } else {
                    self.calls[self.used].0 = key;
                }
                self.used += 1;
                self.used - 1
            }
        };
        Some(&mut self.calls[i].1)
    }

    /// Notes call `key` (a no-op when it is known); Err past `MAX_CALLS`.
    pub(crate) fn start(&mut self, key: u64) -> Result<(), ()> {
        self.slot(key).map(|_| ()).ok_or(())
    }

    /// Appends an argument fragment to call `key` (started if new); Err past `MAX_CALLS`.
    pub(crate) fn append(&mut self, key: u64, fragment: &str) -> Result<(), ()> {
        self.slot(key).ok_or(())?.push_str(fragment);
        self.arg_bytes += fragment.len() as u64;
        Ok(())
    }

    /// Calls so far.
    pub(crate) fn len(&self) -> usize {
        self.used
    }

    /// The calls so far; checks each one's arguments as JSON (only when there are calls).
    pub(crate) fn tally(&self) -> ToolTally {
        let invalid = self.calls[..self.used]
            .iter()
            .filter(|(_, args)| !args.trim().is_empty() && serde_json::from_str::<IgnoredAny>(args).is_err())
            .count();
        ToolTally { calls: self.used as u32, arg_bytes: self.arg_bytes, invalid: invalid as u32 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_accumulate_per_key_and_are_checked_whole() {
        let mut t = ToolCalls::default();
        t.start(0).unwrap();
        t.append(0, "{\"city\":").unwrap();
        t.append(1, "{\"q\":1").unwrap();
        t.append(0, "\"Paris\"}").unwrap();
        t.start(0).unwrap();
        t.start(7).unwrap();
        assert_eq!(t.tally(), ToolTally { calls: 3, arg_bytes: 22, invalid: 1 });
        t.reset();
        assert_eq!(t.tally(), ToolTally::default());
        t.append(3, "[]").unwrap();
        assert_eq!(t.tally(), ToolTally { calls: 1, arg_bytes: 2, invalid: 0 });
        for k in 0..MAX_CALLS as u64 - 1 {
            t.start(100 + k).unwrap();
        }
        assert_eq!(t.start(1), Err(()), "a runaway stream of calls is refused");
    }
}
