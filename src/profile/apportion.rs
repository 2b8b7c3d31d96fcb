//! Splitting users and arrivals between weighted scenarios. It lives beside the profile (the
//! workload uses it) so validation can tell which scenarios a stage leaves without a user.

/// Largest-remainder apportionment of `total` among `weights` (ties go to the earlier
/// scenario): 1000 users at 70/20/10 → 700/200/100; the parts always sum to `total`.
pub(crate) fn largest_remainder(total: u32, weights: &[u32]) -> Vec<u32> {
    let sum: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    if sum == 0 || weights.is_empty() {
        return vec![0; weights.len()];
    }
    let mut parts: Vec<u32> =
        weights.iter().map(|&w| (u64::from(total) * u64::from(w) / sum) as u32).collect();
    let mut rest = total - parts.iter().sum::<u32>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    // Largest fractional remainder first; stable sort keeps earlier scenarios ahead on ties.
    order.sort_by_key(|&i| std::cmp::Reverse(u64::from(total) * u64::from(weights[i]) % sum));
    for i in order {
        if rest == 0 {
            break;
        }
        parts[i] += 1;
        rest -= 1;
    }
    parts
}

/// The scenario of user `user` (0-based) when `parts` users go to each scenario in order.
pub(crate) fn index_of(user: u32, parts: &[u32]) -> usize {
    let mut acc = 0;
    for (i, &p) in parts.iter().enumerate() {
        acc += p;
        if user < acc {
            return i;
        }
    }
    parts.len().saturating_sub(1)
}

/// The scenario for a uniform `draw` in [0, 1), in proportion to `weights`.
pub(crate) fn by_draw(draw: f64, weights: &[u32]) -> usize {
    let sum: f64 = weights.iter().map(|&w| f64::from(w)).sum();
    let mut acc = 0.0;
    for (i, &w) in weights.iter().enumerate() {
        acc += f64::from(w) / sum;
        if draw < acc {
            return i;
        }
    }
    weights.len().saturating_sub(1)
}

/// `n` arrivals split in proportion to `weights`: each scenario's whole share, then the few
/// left over (fewer than the number of scenarios) drawn one by one with `draw()` (uniform in
/// [0, 1)), so a backlog of any size is split in one step with the right expectation.
pub(crate) fn split(n: u64, weights: &[u32], mut draw: impl FnMut() -> f64) -> Vec<u64> {
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let mut parts: Vec<u64> = weights.iter().map(|&w| (u128::from(n) * u128::from(w) / sum) as u64).collect();
    for _ in 0..n - parts.iter().sum::<u64>() {
        parts[by_draw(draw(), weights)] += 1;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nexus_example_and_sums() {
        assert_eq!(largest_remainder(1000, &[70, 20, 10]), vec![700, 200, 100]);
        assert_eq!(largest_remainder(10, &[55, 30, 15]), vec![6, 3, 1]);
        assert_eq!(largest_remainder(3, &[1, 1, 1, 1]), vec![1, 1, 1, 0]);
        for total in 0..50 {
            assert_eq!(largest_remainder(total, &[3, 5, 7]).iter().sum::<u32>(), total);
        }
        let parts = largest_remainder(10, &[55, 30, 15]);
        let who: Vec<usize> = (0..10).map(|u| index_of(u, &parts)).collect();
        assert_eq!(who, vec![0, 0, 0, 0, 0, 0, 1, 1, 1, 2]);
    }

    #[test]
    fn splits_add_up_in_proportion() {
        let mut x = 0.0;
        let mut draw = || {
            x = (x + 0.37) % 1.0;
            x
        };
        assert_eq!(split(1000, &[70, 20, 10], &mut draw), vec![700, 200, 100]);
        for n in [0u64, 1, 2, 7, 999, 1 << 40] {
            let parts = split(n, &[3, 5, 7], &mut draw);
            assert_eq!(parts.iter().sum::<u64>(), n);
            assert!(
                parts.iter().zip([3u64, 5, 7]).all(|(p, w)| p.abs_diff(n * w / 15) <= 3),
                "{n}: {parts:?}"
            );
        }
    }

    #[test]
    fn draws_follow_weights() {
        let w = [70, 20, 10];
        let n = 10_000;
        let mut counts = [0; 3];
        for i in 0..n {
            counts[by_draw((i as f64 + 0.5) / n as f64, &w)] += 1;
        }
        assert_eq!(counts, [7000, 2000, 1000]);
    }
}
