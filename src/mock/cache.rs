//! A prefix cache, as vLLM's automatic prefix caching works: the prompt text is cut into
//! blocks of `block_tokens` tokens (× 4 characters, the estimate's unit), each block keyed by
//! a hash of the whole prefix up to its end, and an LRU of `capacity` blocks kept for the
//! whole mock process (one lock shared by every core, so a conversation hits whichever core
//! its connection lands on). A request's cached tokens are its leading blocks found in the
//! cache; every full block is then stored. With a `prefill:BASE+PER_TOKEN` TTFT the cached
//! part's prefill time is skipped, as a real server's is.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hasher};

use serde_json::Value;

use super::config::Model;
use super::dist::Dist;
use super::kit::{Call, Generation};
use super::routes::Route;

/// Runs `body`'s prompt through the process's prefix cache (when on): sets the generation's
/// cached and written tokens and, with a `prefill:` TTFT not overridden by a header, takes the
/// cached part's prefill time off. Anthropic caches only what the request marks with
/// `cache_control`, so its requests without one skip the cache.
pub(crate) fn apply(ctx: &Call<'_>, model: &Model, gen: &mut Generation, body: &[u8]) {
    let Some(cache) = &ctx.core.cache else { return };
    let route = ctx.head.route;
    if route == Route::Messages && !body.windows(13).any(|w| w == b"cache_control") {
        return;
    }
    let text = prompt_text(route, body);
    let found = cache.lock().expect("prefix cache lock").lookup(&text, gen.prompt_tokens);
    gen.cached_tokens = found.read_tokens;
    gen.cache_written_tokens = found.written_tokens;
    if let (Dist::Prefill { base, per_token }, None) = (&model.ttft, ctx.head.ttft_ms) {
        let uncached = gen.prompt_tokens - found.read_tokens;
        gen.ttft = std::time::Duration::from_nanos(((base + per_token * uncached as f64) * 1e3) as u64);
    }
}

/// What one request found and stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Lookup {
    /// Leading tokens served from the cache.
    pub read_tokens: u64,
    /// Tokens of blocks stored by this request (Anthropic's cache writes).
    pub written_tokens: u64,
}

/// The LRU of prompt blocks.
pub(crate) struct PrefixCache {
    block_tokens: u64,
    capacity: usize,
    /// Block hash → the tick it was last used.
    used: HashMap<u64, u64>,
    /// Tick → block hash, oldest first (the eviction order).
    order: BTreeMap<u64, u64>,
    tick: u64,
}

impl PrefixCache {
    pub(crate) fn new(capacity: usize, block_tokens: u64) -> PrefixCache {
        PrefixCache {
            block_tokens: block_tokens.max(1),
            capacity: capacity.max(1),
            used: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
        }
    }

    /// Looks `text`'s blocks up and stores them; `prompt_tokens` bounds what is reported.
    pub(crate) fn lookup(&mut self, text: &str, prompt_tokens: u64) -> Lookup {
        let hashes = block_hashes(text, (self.block_tokens * 4) as usize);
        let hits = hashes.iter().take_while(|h| self.used.contains_key(h)).count() as u64;
        let mut written = 0;
        for h in &hashes {
            self.tick += 1;
            match self.used.insert(*h, self.tick) {
                Some(old) => {
                    self.order.remove(&old);
                }
                None => written += 1,
            }
            self.order.insert(self.tick, *h);
        }
        while self.used.len() > self.capacity {
            let (_, h) = self.order.pop_first().expect("order mirrors used");
            self.used.remove(&h);
        }
        let read_tokens = (hits * self.block_tokens).min(prompt_tokens);
        let written_tokens = (written * self.block_tokens).min(prompt_tokens - read_tokens);
        Lookup { read_tokens, written_tokens }
    }
}

/// The chained hash of every full block of `block_chars` characters.
fn block_hashes(text: &str, block_chars: usize) -> Vec<u64> {
    let mut out = Vec::new();
    let (mut prev, mut start, mut count) = (0u64, 0, 0);
    for (i, _) in text.char_indices() {
        if count == block_chars {
            prev = chain(prev, &text.as_bytes()[start..i]);
            out.push(prev);
            (start, count) = (i, 0);
        }
        count += 1;
    }
    if count == block_chars {
        out.push(chain(prev, &text.as_bytes()[start..]));
    }
    out
}

fn chain(prev: u64, block: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    h.write_u64(prev);
    h.write(block);
    h.finish()
}

/// The prompt as one text, in the order a chat template lays it out: tools, system,
/// then each message's role and content (Responses: instructions, then the input items).
pub(crate) fn prompt_text(route: Route, body: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<Value>(body) else { return String::new() };
    let mut out = String::new();
    if let Some(tools) = v.get("tools") {
        out.push_str(&tools.to_string());
    }
    let push = |out: &mut String, v: &Value| match v {
        Value::String(s) => out.push_str(s),
        Value::Null => {}
        other => out.push_str(&other.to_string()),
    };
    for key in ["system", "instructions"] {
        if let Some(s) = v.get(key) {
            push(&mut out, s);
        }
    }
    let list = if route == Route::Responses { v.get("input") } else { v.get("messages") };
    match list {
        Some(Value::Array(items)) => {
            for m in items {
                out.push_str("\n<|");
                push(&mut out, m.get("role").unwrap_or(&Value::Null));
                out.push_str("|>");
                push(&mut out, m.get("content").unwrap_or(m));
            }
        }
        Some(other) => push(&mut out, other),
        None => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_prefixes_hit_whole_blocks_only() {
        let mut c = PrefixCache::new(100, 2); // 8-character blocks
        let a = "abcdefgh12345678xyz";
        assert_eq!(c.lookup(a, 50), Lookup { read_tokens: 0, written_tokens: 4 });
        assert_eq!(c.lookup(a, 50), Lookup { read_tokens: 4, written_tokens: 0 });
        // Same first block, different second: one block read, one written.
        assert_eq!(c.lookup("abcdefgh87654321", 50), Lookup { read_tokens: 2, written_tokens: 2 });
        // A different start misses everything, even where later bytes match.
        assert_eq!(c.lookup("Xbcdefgh12345678", 50).read_tokens, 0);
        // Reported tokens never exceed the prompt's.
        assert_eq!(c.lookup(a, 3).read_tokens, 3);
    }

    #[test]
    fn the_least_recently_used_block_goes_first() {
        let mut c = PrefixCache::new(2, 1); // 4-character blocks, 2 kept
        c.lookup("aaaa", 10);
        c.lookup("bbbb", 10);
        c.lookup("aaaa", 10); // touches a: b is now the oldest
        c.lookup("cccc", 10); // evicts b
        assert_eq!(c.lookup("aaaa", 10).read_tokens, 1);
        assert_eq!(c.lookup("bbbb", 10).read_tokens, 0);
        assert_eq!(c.used.len(), 2);
        assert_eq!(c.order.len(), 2);
    }

    #[test]
    fn blocks_are_whole_characters() {
        assert_eq!(block_hashes("ééééé", 2).len(), 2);
        assert_eq!(block_hashes("éééé", 2).len(), 2);
        assert_eq!(block_hashes("", 2).len(), 0);
        assert_eq!(block_hashes("abc", 4).len(), 0);
    }

    #[test]
    fn prompt_text_follows_the_conversation() {
        let a = prompt_text(Route::ChatCompletions, br#"{"model":"m","max_tokens":5,"messages":[{"role":"system","content":"S"},{"role":"user","content":"U"}]}"#);
        let b = prompt_text(Route::ChatCompletions, br#"{"max_tokens":9,"model":"m","messages":[{"role":"system","content":"S"},{"role":"user","content":"U"},{"role":"assistant","content":"A"}]}"#);
        assert_eq!(a, "\n<|system|>S\n<|user|>U");
        assert!(b.starts_with(&a));
        let r = prompt_text(Route::Responses, br#"{"model":"m","instructions":"I","input":"hi"}"#);
        assert_eq!(r, "Ihi");
    }
}
