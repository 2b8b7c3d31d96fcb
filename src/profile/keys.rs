//! Key pools: `api_keys` (profile-wide or per scenario) and `--vk-file`, checked. A key is a
//! secret: no error, warning or debug print here contains one, only its place (`api_keys[3]`,
//! `FILE:7`).

use std::fmt;

use super::limits;
use super::schema::RawKey;
use super::suggest::not_one_of;

/// Most keys in one pool (a key's index is a `u16` in the figures).
pub(crate) const MAX_KEYS: usize = 10_000;
/// Largest weight of one key, and of all of a pool's weights together (the weighted
/// rotation is a table of that many entries).
pub(crate) const MAX_KEY_WEIGHT: u64 = 1_000;
pub(crate) const MAX_POOL_WEIGHT: u64 = 100_000;

/// How a pool's keys are taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum KeyPick {
    /// Each request the next key, in turn.
    #[default]
    RoundRobin,
    /// In turn, each key as often as its weight, spread evenly (smooth weighted round-robin).
    Weighted,
}

impl KeyPick {
    pub(crate) const NAMES: [&'static str; 2] = ["round-robin", "weighted"];

    fn parse(name: &str) -> Option<KeyPick> {
        match name {
            "round-robin" => Some(KeyPick::RoundRobin),
            "weighted" => Some(KeyPick::Weighted),
            _ => None,
        }
    }
}

/// A checked key pool: distinct keys with their weights (1 unless weighted).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct KeyPool {
    pub keys: Vec<(String, u32)>,
    pub pick: KeyPick,
}

impl fmt::Debug for KeyPool {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let weights: Vec<u32> = self.keys.iter().map(|(_, w)| *w).collect();
        write!(f, "KeyPool({} keys <redacted>, {:?}, weights {weights:?})", self.keys.len(), self.pick)
    }
}

/// Why a key cannot be sent (never quoting it).
fn key_error(key: &str) -> Option<String> {
    if key.is_empty() {
        return Some("an empty key".into());
    }
    // A header value's rule (RFC 9110 field-value): no control characters but tab.
    key.bytes()
        .any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
        .then(|| "the key has characters not allowed in a header".into())
}

/// `api_keys` and `key_pick` at `path` (`api_keys` or `scenarios[i].api_keys`); None when
/// `api_keys` is absent.
pub(super) fn resolve(
    errs: &mut Vec<String>,
    path: &str,
    raw: Option<&[RawKey]>,
    pick: Option<&str>,
) -> Option<KeyPool> {
    let pick_path = path.replace("api_keys", "key_pick");
    let Some(raw) = raw else {
        if pick.is_some() {
            errs.push(format!("{pick_path}: set without api_keys"));
        }
        return None;
    };
    let before = errs.len();
    let pick = match pick {
        None => KeyPick::default(),
        Some(name) => KeyPick::parse(name).unwrap_or_else(|| {
            errs.push(not_one_of(&pick_path, name, &KeyPick::NAMES));
            KeyPick::default()
        }),
    };
    if raw.is_empty() {
        errs.push(format!("{path}: empty (list at least one key, or leave it out)"));
    }
    if raw.len() > MAX_KEYS {
        errs.push(format!("{path}: {} keys, above the limit {MAX_KEYS}", raw.len()));
        return None;
    }
    let mut keys: Vec<(String, u32)> = Vec::with_capacity(raw.len());
    for (i, k) in raw.iter().enumerate() {
        let (key, weight) = match k {
            RawKey::Key(key) => (key, None),
            RawKey::Weighted(w) => (&w.key, w.weight),
        };
        if let Some(e) = key_error(key) {
            errs.push(format!("{path}[{i}]: {e}"));
            continue;
        }
        if let Some(first) = keys.iter().position(|(k, _)| k == key) {
            errs.push(format!("{path}[{i}]: the same key as {path}[{first}] (list each key once)"));
            continue;
        }
        let weight = match (weight, pick) {
            (None, _) => 1,
            (Some(_), KeyPick::RoundRobin) => {
                errs.push(format!("{path}[{i}].weight: weights need \"{pick_path}\": \"weighted\""));
                1
            }
            (Some(w), KeyPick::Weighted) => {
                limits::count(errs, &format!("{path}[{i}].weight"), Some(w), 1, MAX_KEY_WEIGHT).unwrap_or(1)
                    as u32
            }
        };
        keys.push((key.clone(), weight));
    }
    let total: u64 = keys.iter().map(|(_, w)| u64::from(*w)).sum();
    if total > MAX_POOL_WEIGHT {
        errs.push(format!("{path}: the weights add up to {total}, above the limit {MAX_POOL_WEIGHT}"));
    }
    (errs.len() == before).then_some(KeyPool { keys, pick })
}

/// The keys of a `--vk-file`: one a line, surrounding blanks trimmed, blank lines and lines
/// starting with `#` skipped. Errors are `FILE:LINE: why`.
pub(crate) fn read_file(path: &std::path::Path) -> Result<KeyPool, Vec<String>> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("--vk-file {shown}: {e}")])?;
    let mut errs = Vec::new();
    let mut keys: Vec<(String, u32, usize)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let key = line.trim();
        if key.is_empty() || key.starts_with('#') {
            continue;
        }
        let at = format!("--vk-file {shown}:{}", n + 1);
        if let Some(e) = key_error(key) {
            errs.push(format!("{at}: {e}"));
        } else if let Some((_, _, first)) = keys.iter().find(|(k, _, _)| k == key) {
            errs.push(format!("{at}: the same key as line {first} (list each key once)"));
        } else {
            keys.push((key.to_string(), 1, n + 1));
        }
    }
    if keys.is_empty() && errs.is_empty() {
        errs.push(format!("--vk-file {shown}: no keys (one a line; blank and # lines are skipped)"));
    }
    if keys.len() > MAX_KEYS {
        errs.push(format!("--vk-file {shown}: {} keys, above the limit {MAX_KEYS}", keys.len()));
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(KeyPool { keys: keys.into_iter().map(|(k, w, _)| (k, w)).collect(), pick: KeyPick::RoundRobin })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::schema::RawWeightedKey;

    fn key(k: &str) -> RawKey {
        RawKey::Key(k.into())
    }

    #[test]
    fn pools_are_checked_without_quoting_a_key() {
        let mut errs = Vec::new();
        let pool = resolve(&mut errs, "api_keys", Some(&[key("sk-a"), key("sk-b")]), None).unwrap();
        assert_eq!((pool.keys.len(), pool.pick), (2, KeyPick::RoundRobin));
        assert!(!format!("{pool:?}").contains("sk-a"), "debug prints no key");
        let bad = [
            key("sk-secret-1"),
            key("sk-secret-1"),
            key(""),
            key("sk-\nsecret"),
            RawKey::Weighted(RawWeightedKey { key: "sk-secret-2".into(), weight: Some(3) }),
        ];
        assert!(resolve(&mut errs, "scenarios[1].api_keys", Some(&bad), None).is_none());
        assert_eq!(
            errs,
            [
                "scenarios[1].api_keys[1]: the same key as scenarios[1].api_keys[0] (list each key once)",
                "scenarios[1].api_keys[2]: an empty key",
                "scenarios[1].api_keys[3]: the key has characters not allowed in a header",
                "scenarios[1].api_keys[4].weight: weights need \"scenarios[1].key_pick\": \"weighted\"",
            ]
        );
        let mut errs = Vec::new();
        let heavy = [RawKey::Weighted(RawWeightedKey { key: "k".into(), weight: Some(0) })];
        assert!(resolve(&mut errs, "api_keys", Some(&heavy), Some("weighted")).is_none());
        assert!(resolve(&mut errs, "api_keys", None, Some("weighted")).is_none());
        assert!(resolve(&mut errs, "api_keys", Some(&[key("k")]), Some("random")).is_none());
        assert_eq!(errs[0], "api_keys[0].weight: 0 must be at least 1");
        assert_eq!(errs[1], "key_pick: set without api_keys");
        assert!(errs[2].starts_with("key_pick: \"random\""), "{}", errs[2]);
        assert!(errs.iter().all(|e| !e.contains("sk-secret")));
    }

    #[test]
    fn a_key_file_skips_blanks_and_comments_and_names_lines() {
        let dir = std::env::temp_dir().join(format!("llmload-vkfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good");
        std::fs::write(&good, "# team keys\nsk-one\n\n  sk-two  \n#sk-off\n").unwrap();
        let pool = read_file(&good).unwrap();
        let keys: Vec<&str> = pool.keys.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["sk-one", "sk-two"]);
        let bad = dir.join("bad");
        std::fs::write(&bad, "sk-one\nsk-\u{7f}x\nsk-one\n").unwrap();
        let errs = read_file(&bad).unwrap_err();
        let at = bad.display();
        assert_eq!(
            errs,
            [
                format!("--vk-file {at}:2: the key has characters not allowed in a header"),
                format!("--vk-file {at}:3: the same key as line 1 (list each key once)"),
            ]
        );
        let empty = dir.join("empty");
        std::fs::write(&empty, "# nothing\n\n").unwrap();
        assert!(read_file(&empty).unwrap_err()[0]
            .ends_with(": no keys (one a line; blank and # lines are skipped)"));
        assert!(read_file(&dir.join("missing")).unwrap_err()[0].starts_with("--vk-file "));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
