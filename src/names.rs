//! "Did you mean": the known name nearest a mistyped one, for every vocabulary that rejects
//! unknown names (profile fields, limit measures). At the bottom: it imports nothing.

/// The known name closest to `given`, if it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(given: &str, known: &[&'a str]) -> Option<&'a str> {
    let g = given.to_ascii_lowercase();
    let (best, dist) =
        known.iter().map(|k| (*k, edit_distance(&g, &k.to_ascii_lowercase()))).min_by_key(|&(_, d)| d)?;
    let limit = (g.chars().count().max(best.len()) / 3).max(1);
    (dist <= limit && dist < g.chars().count().max(1)).then_some(best)
}

/// Optimal string alignment distance: Levenshtein plus adjacent transpositions.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev2 = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(prev2[j - 2] + 1);
            }
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("max_token", "max_tokens"), 1);
        assert_eq!(edit_distance("promtps", "prompts"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggestions_only_when_close() {
        let known = ["max_tokens", "model", "turns", "name"];
        assert_eq!(did_you_mean("max_token", &known), Some("max_tokens"));
        assert_eq!(did_you_mean("Model", &known), Some("model"));
        assert_eq!(did_you_mean("trns", &known), Some("turns"));
        assert_eq!(did_you_mean("banana_split", &known), None);
        assert_eq!(did_you_mean("x", &known), None);
    }
}
