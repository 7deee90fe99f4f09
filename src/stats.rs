//! Rank statistics and the resampling that says how far to trust them: Kendall's tau-b (over all
//! pairs, or only the pairs a filter keeps, as within groups of similar cost), Spearman's rho,
//! bootstrap confidence intervals, and the noise model of a table measured with a few seeds.
//! Pure functions of numbers; every random draw comes from a seed.

use crate::util::SplitMix64;

/// Kendall's tau-b of `x` against `y` (ties in either allowed); `None` when either is constant.
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> Option<f64> {
    kendall_tau_b_within(x, y, |_, _| true)
}

/// Kendall's tau-b over the pairs `(i, j)` that `keep` accepts: with `keep` = "same group", the
/// agreement of two rankings inside groups, pooled (each group's pairs counted once).
pub fn kendall_tau_b_within(x: &[f64], y: &[f64], keep: impl Fn(usize, usize) -> bool) -> Option<f64> {
    let n = x.len().min(y.len());
    let (mut concordant, mut discordant, mut ties_x, mut ties_y) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            if !keep(i, j) {
                continue;
            }
            let dx = (x[i] - x[j]).signum() * f64::from(x[i] != x[j]);
            let dy = (y[i] - y[j]).signum() * f64::from(y[i] != y[j]);
            match (dx == 0.0, dy == 0.0) {
                (true, true) => {}
                (true, false) => ties_x += 1,
                (false, true) => ties_y += 1,
                (false, false) if dx == dy => concordant += 1,
                (false, false) => discordant += 1,
            }
        }
    }
    // Pairs not tied in y, and not tied in x.
    let n0 = (concordant + discordant + ties_x) as f64;
    let n1 = (concordant + discordant + ties_y) as f64;
    (n0 > 0.0 && n1 > 0.0).then(|| (concordant - discordant) as f64 / (n0 * n1).sqrt())
}

/// Ranks from 1, ties sharing their average rank.
fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

/// Spearman's rho: Pearson's correlation of the (tie-averaged) ranks.
pub fn spearman_rho(x: &[f64], y: &[f64]) -> Option<f64> {
    let (rx, ry) = (ranks(x), ranks(y));
    let (mx, my) = (mean(&rx), mean(&ry));
    let cov: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = rx.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = ry.iter().map(|b| (b - my).powi(2)).sum();
    (vx > 0.0 && vy > 0.0).then(|| cov / (vx * vy).sqrt())
}

pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// The median of timings as every benchmark here reports it: the upper middle value (no
/// interpolation, so it is one of the times measured). `NaN` for none.
pub fn median_time(mut times: Vec<f64>) -> f64 {
    if times.is_empty() {
        return f64::NAN;
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// The `q` quantile (0..=1) of `v`, linear between order statistics; `v` need not be sorted.
pub fn quantile(v: &[f64], q: f64) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(f64::total_cmp);
    let at = q.clamp(0.0, 1.0) * (s.len() - 1) as f64;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    s[lo] + (s[hi] - s[lo]) * (at - lo as f64)
}

/// A value with its 95% interval.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Interval {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

/// `stat` on the rows, with a 95% percentile-bootstrap interval from `resamples` resamples of the
/// rows (with replacement), drawn from `seed`. `None` when `stat` is undefined on the rows.
pub fn bootstrap(rows: usize, resamples: usize, seed: u64, stat: impl Fn(&[usize]) -> Option<f64>) -> Option<Interval> {
    let all: Vec<usize> = (0..rows).collect();
    let value = stat(&all)?;
    let mut rng = SplitMix64(seed);
    let draws: Vec<f64> = (0..resamples)
        .filter_map(|_| {
            let pick: Vec<usize> = (0..rows).map(|_| (rng.next_u64() % rows as u64) as usize).collect();
            stat(&pick)
        })
        .collect();
    Some(Interval { value, low: quantile(&draws, 0.025), high: quantile(&draws, 0.975) })
}

/// A standard normal draw (Box-Muller), so simulations are the same on every platform.
pub fn normal(rng: &mut SplitMix64) -> f64 {
    let u1 = rng.next_f64().max(f64::MIN_POSITIVE);
    let u2 = rng.next_f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The noise of a table measured with `k` seeds per row: the pooled per-run standard deviation
/// (from each row's seeds), and the standard deviation of the real differences between rows
/// once that noise is taken out of the spread of the row means.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Noise {
    pub per_run_sd: f64,
    pub seeds: usize,
    pub between_rows_sd: f64,
}

/// The noise model of `by_seed` (one list of per-seed values per row, every row the same
/// length, at least 2); `None` otherwise.
pub fn noise(by_seed: &[Vec<f64>]) -> Option<Noise> {
    let k = by_seed.first()?.len();
    if k < 2 || by_seed.len() < 2 || by_seed.iter().any(|r| r.len() != k) {
        return None;
    }
    let within: f64 = by_seed
        .iter()
        .map(|r| {
            let m = mean(r);
            r.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (k - 1) as f64
        })
        .sum::<f64>()
        / by_seed.len() as f64;
    let means: Vec<f64> = by_seed.iter().map(|r| mean(r)).collect();
    let m = mean(&means);
    let spread = means.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (means.len() - 1) as f64;
    Some(Noise { per_run_sd: within.sqrt(), seeds: k, between_rows_sd: (spread - within / k as f64).max(0.0).sqrt() })
}

/// The tau-b a perfect scorer can expect against a table with this noise: the true values are
/// the row means shrunk towards their mean by the noise (so their spread is `between_rows_sd`),
/// the table re-measured `sims` times as the mean of `seeds` noisy runs. Mean and 5%/95%
/// quantiles; `keep` restricts the pairs as in [`kendall_tau_b_within`].
pub fn perfect_scorer_tau(
    means: &[f64],
    noise: &Noise,
    sims: usize,
    seed: u64,
    keep: impl Fn(usize, usize) -> bool + Copy,
) -> Option<Interval> {
    let m = mean(means);
    let sd = (means.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (means.len().max(2) - 1) as f64).sqrt();
    let shrink = if sd > 0.0 { noise.between_rows_sd / sd } else { 0.0 };
    let truth: Vec<f64> = means.iter().map(|v| m + (v - m) * shrink).collect();
    let table_sd = noise.per_run_sd / (noise.seeds as f64).sqrt();
    let mut rng = SplitMix64(seed);
    let taus: Vec<f64> = (0..sims)
        .filter_map(|_| {
            let measured: Vec<f64> = truth.iter().map(|t| t + table_sd * normal(&mut rng)).collect();
            kendall_tau_b_within(&truth, &measured, keep)
        })
        .collect();
    (!taus.is_empty()).then(|| Interval { value: mean(&taus), low: quantile(&taus, 0.05), high: quantile(&taus, 0.95) })
}

/// Groups of `size` consecutive positions in the order of `cost` (cheapest first; the last
/// group takes the remainder): the group index of each position.
pub fn cost_groups(cost: &[f64], size: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cost.len()).collect();
    order.sort_by(|&a, &b| cost[a].total_cmp(&cost[b]).then(a.cmp(&b)));
    let groups = (cost.len() / size.max(1)).max(1);
    let mut g = vec![0; cost.len()];
    for (rank, &i) in order.iter().enumerate() {
        g[i] = (rank / size.max(1)).min(groups - 1);
    }
    g
}

/// A paired comparison over seeds: the differences' mean and standard deviation, the two-sided
/// p of a paired t test and of a sign test (ties dropped).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Paired {
    pub n: usize,
    pub mean: f64,
    pub sd: f64,
    pub wins: usize,
    pub losses: usize,
    pub t: f64,
    pub p_t: f64,
    pub p_sign: f64,
}

/// The paired comparison of `diffs` (one difference per seed); `None` below two seeds.
pub fn paired(diffs: &[f64]) -> Option<Paired> {
    let n = diffs.len();
    if n < 2 {
        return None;
    }
    let m = mean(diffs);
    let sd = (diffs.iter().map(|d| (d - m).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    // Equal differences: certain where they are not 0, no evidence where they are.
    let t = match (sd > 0.0, m == 0.0) {
        (true, _) => m / (sd / (n as f64).sqrt()),
        (false, true) => 0.0,
        (false, false) => f64::INFINITY * m.signum(),
    };
    let (wins, losses) = (diffs.iter().filter(|&&d| d > 0.0).count(), diffs.iter().filter(|&&d| d < 0.0).count());
    Some(Paired {
        n,
        mean: m,
        sd,
        wins,
        losses,
        t,
        p_t: t_two_sided(t, (n - 1) as f64),
        p_sign: sign_test(wins, losses),
    })
}

/// The 95% confidence interval of the mean of `v` (Student's t); `None` below two values.
pub fn t_interval(v: &[f64]) -> Option<Interval> {
    let n = v.len();
    if n < 2 {
        return None;
    }
    let m = mean(v);
    let se = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt() / (n as f64).sqrt();
    let q = t_quantile_975((n - 1) as f64);
    Some(Interval { value: m, low: m - q * se, high: m + q * se })
}

/// The t with two-sided p 0.05 at `df` degrees of freedom, by bisection on `t_two_sided`.
fn t_quantile_975(df: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, 1000.0);
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if t_two_sided(mid, df) > 0.05 { lo = mid } else { hi = mid }
    }
    (lo + hi) / 2.0
}

/// Two-sided p of the sign test: `wins` of `wins + losses` under a fair coin.
pub fn sign_test(wins: usize, losses: usize) -> f64 {
    let n = wins + losses;
    let k = wins.min(losses);
    let choose = |n: usize, k: usize| (0..k).fold(1.0, |c, i| c * (n - i) as f64 / (i + 1) as f64);
    let tail: f64 = (0..=k).map(|i| choose(n, i)).sum::<f64>() / 2f64.powi(n as i32);
    (2.0 * tail).min(1.0)
}

/// Two-sided p of Student's t with `df` degrees of freedom: 1 - 2 * (integral of the density
/// from 0 to |t|), by Simpson's rule on 4,000 intervals.
pub fn t_two_sided(t: f64, df: f64) -> f64 {
    if !t.is_finite() {
        return if t.is_nan() { 1.0 } else { 0.0 };
    }
    let c = (ln_gamma((df + 1.0) / 2.0) - ln_gamma(df / 2.0)).exp() / (df * std::f64::consts::PI).sqrt();
    let f = |x: f64| c * (1.0 + x * x / df).powf(-(df + 1.0) / 2.0);
    let (a, steps) = (t.abs(), 4000);
    let h = a / steps as f64;
    let inner: f64 = (1..steps).map(|i| f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 }).sum();
    (1.0 - 2.0 * h / 3.0 * (f(0.0) + inner + f(a))).clamp(0.0, 1.0)
}

/// ln Gamma(x) for x > 0 (Lanczos, g = 7, 9 terms: about 15 digits).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let sum = C[1..].iter().enumerate().fold(C[0], |s, (i, c)| s + c / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The upper middle of the sorted times: 2 of (3, 1, 2), 3 of (4, 1, 3, 2); none is NaN.
    #[test]
    fn median_time_is_the_upper_middle_time() {
        assert_eq!(median_time(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_time(vec![4.0, 1.0, 3.0, 2.0]), 3.0);
        assert!(median_time(vec![]).is_nan());
    }

    #[test]
    fn t_interval_by_hand() {
        // Student's t tables: t(0.975; 7) = 2.3646, t(0.975; 1) = 12.706.
        assert!((t_quantile_975(7.0) - 2.3646).abs() < 1e-3, "{}", t_quantile_975(7.0));
        assert!((t_quantile_975(1.0) - 12.706).abs() < 1e-2, "{}", t_quantile_975(1.0));
        // 1..8: mean 4.5, sd sqrt(6), se sqrt(6/8).
        let v: Vec<f64> = (1..=8).map(f64::from).collect();
        let i = t_interval(&v).unwrap();
        let half = 2.3646 * (6.0f64 / 8.0).sqrt();
        assert!(
            (i.value - 4.5).abs() < 1e-12 && (i.high - 4.5 - half).abs() < 2e-3 && (4.5 - i.low - half).abs() < 2e-3
        );
        assert!(t_interval(&[1.0]).is_none());
    }

    #[test]
    fn spearman_by_hand() {
        // d = (0, 1, -1, 0): rho = 1 - 6 * 2 / (4 * 15) = 0.8.
        assert!((spearman_rho(&[1.0, 2.0, 3.0, 4.0], &[10.0, 30.0, 20.0, 40.0]).unwrap() - 0.8).abs() < 1e-12);
        assert!((spearman_rho(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]).unwrap() + 1.0).abs() < 1e-12);
        // Ties take average ranks: x ranks (1.5, 1.5, 3), y (1, 2, 3); Pearson of those = sqrt(3)/2.
        assert!((spearman_rho(&[5.0, 5.0, 7.0], &[1.0, 2.0, 3.0]).unwrap() - 3f64.sqrt() / 2.0).abs() < 1e-12);
        assert_eq!(spearman_rho(&[1.0, 1.0], &[1.0, 2.0]), None);
    }

    #[test]
    fn tau_within_groups_by_hand() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let y = [2.0, 1.0, 3.0, 4.0];
        // Groups {0, 1} and {2, 3}: pairs (0,1) discordant, (2,3) concordant: 0.
        let g = [0, 0, 1, 1];
        assert_eq!(kendall_tau_b_within(&x, &y, |i, j| g[i] == g[j]), Some(0.0));
        // Only the first group: -1.
        assert_eq!(kendall_tau_b_within(&x, &y, |i, j| g[i] == 0 && g[j] == 0), Some(-1.0));
    }

    #[test]
    fn kendall_tau_b_by_hand() {
        // Identical and reversed rankings.
        assert_eq!(kendall_tau_b(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]), Some(1.0));
        assert_eq!(kendall_tau_b(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), Some(-1.0));
        // x = 1 2 3 4, y = 1 3 2 4: pairs 6, one discordant (2,3): (5 - 1) / 6.
        assert!((kendall_tau_b(&[1.0, 2.0, 3.0, 4.0], &[1.0, 3.0, 2.0, 4.0]).unwrap() - 4.0 / 6.0).abs() < 1e-12);
        // A tie in y: x = 1 2 3, y = 1 1 2: C = 2, D = 0, ties_y = 1 -> 2 / sqrt(3 * 2).
        assert!((kendall_tau_b(&[1.0, 2.0, 3.0], &[1.0, 1.0, 2.0]).unwrap() - 2.0 / 6f64.sqrt()).abs() < 1e-12);
        assert_eq!(kendall_tau_b(&[1.0], &[1.0]), None);
        assert_eq!(kendall_tau_b(&[1.0, 1.0], &[1.0, 2.0]), None);
    }

    #[test]
    fn quantiles_and_groups_by_hand() {
        assert_eq!(quantile(&[3.0, 1.0, 2.0, 4.0], 0.5), 2.5);
        assert_eq!(quantile(&[3.0, 1.0, 2.0, 4.0], 1.0), 4.0);
        // Sorted by cost: 1 (0.1), 3 (0.2), 0 (0.5), 2 (0.9), 4 (1.0); size 2 -> groups 0,0,1,1,1.
        assert_eq!(cost_groups(&[0.5, 0.1, 0.9, 0.2, 1.0], 2), vec![1, 0, 1, 0, 1]);
    }

    #[test]
    fn noise_by_hand() {
        // Rows (0.70, 0.72) and (0.80, 0.78): within variances 0.0002 each, sd 0.01414.
        // Means 0.71 and 0.79: spread 0.0032; minus 0.0002 / 2 -> 0.0031.
        let n = noise(&[vec![0.70, 0.72], vec![0.80, 0.78]]).unwrap();
        assert!((n.per_run_sd - 0.0002f64.sqrt()).abs() < 1e-12);
        assert!((n.between_rows_sd - 0.0031f64.sqrt()).abs() < 1e-12);
        assert_eq!(noise(&[vec![0.7], vec![0.8]]), None);
    }

    #[test]
    fn a_noiseless_table_lets_a_perfect_scorer_reach_one_and_noise_pulls_it_down() {
        let means: Vec<f64> = (0..20).map(|i| 0.6 + i as f64 * 0.01).collect();
        let quiet = Noise { per_run_sd: 0.0, seeds: 2, between_rows_sd: 0.059 };
        assert_eq!(perfect_scorer_tau(&means, &quiet, 50, 1, |_, _| true).unwrap().value, 1.0);
        // Table sd 0.014 / sqrt(2) = 0.0099 against steps of 0.01: a pair d steps apart swaps
        // with probability Phi(-d * 0.01 / 0.014) = 0.238, 0.077, 0.016 for d = 1, 2, 3 (less
        // beyond), over 19, 18, 17 pairs: E[discordant] = 6.2 of 190, tau = 1 - 2 * 6.2 / 190.
        let loud = Noise { per_run_sd: 0.014, seeds: 2, between_rows_sd: 0.059 };
        let t = perfect_scorer_tau(&means, &loud, 400, 1, |_, _| true).unwrap();
        assert!((t.value - 0.935).abs() < 0.01, "{t:?}");
        assert!(t.low < t.value && t.value < t.high);
    }

    #[test]
    fn the_bootstrap_interval_holds_the_value_and_narrows_with_more_rows() {
        let mut rng = SplitMix64(3);
        let make = |n: usize, rng: &mut SplitMix64| -> (Vec<f64>, Vec<f64>) {
            let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
            let y: Vec<f64> = x.iter().map(|v| v + 10.0 * normal(rng)).collect();
            (x, y)
        };
        let width = |x: &[f64], y: &[f64]| {
            let ci = bootstrap(x.len(), 300, 7, |p| {
                let (a, b): (Vec<f64>, Vec<f64>) = p.iter().map(|&i| (x[i], y[i])).unzip();
                kendall_tau_b(&a, &b)
            })
            .unwrap();
            assert!(ci.low <= ci.value && ci.value <= ci.high, "{ci:?}");
            ci.high - ci.low
        };
        let (x1, y1) = make(20, &mut rng);
        let (x2, y2) = make(200, &mut rng);
        assert!(width(&x2, &y2) < width(&x1, &y1));
    }

    #[test]
    fn paired_tests_by_hand() {
        // Tables: t = 2.262 with 9 df is the two-sided 5% point; t = 1.0 with 1 df is p = 0.5
        // (Cauchy); ln Gamma(5) = ln 24.
        assert!((t_two_sided(2.262, 9.0) - 0.05).abs() < 2e-4, "{}", t_two_sided(2.262, 9.0));
        assert!((t_two_sided(1.0, 1.0) - 0.5).abs() < 1e-6);
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        // 7 wins of 8: 2 * (1 + 8) / 256.
        assert!((sign_test(7, 1) - 18.0 / 256.0).abs() < 1e-12);
        assert_eq!(sign_test(4, 4), 1.0);
        // Differences 1, 2, 3: mean 2, sd 1, t = 2 / (1 / sqrt 3) = 3.464 with 2 df; p = 0.0742.
        let p = paired(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!((p.wins, p.losses), (3, 0));
        assert!((p.t - 12f64.sqrt()).abs() < 1e-12);
        assert!((p.p_t - 0.0742).abs() < 5e-4, "{p:?}");
        assert_eq!(paired(&[1.0]), None);
        // Equal differences: certain unless they are all 0.
        assert_eq!(paired(&[0.5, 0.5]).unwrap().p_t, 0.0);
        assert_eq!(paired(&[0.0, 0.0]).unwrap().p_t, 1.0);
    }
}
