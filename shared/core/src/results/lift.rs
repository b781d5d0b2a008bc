//! Holdout and A/B results a small store can trust: the difference between
//! two arms with a 95% interval, and, while the interval still spans zero,
//! how many more entries would show a difference of the size seen — never
//! a winner the data cannot support.
//!
//! Methods:
//! - conversion rate: each arm's Wilson score interval, combined by
//!   Newcombe's hybrid score method ("method 10" of Newcombe 1998), which
//!   keeps its coverage for small counts and rates near 0 or 1;
//! - revenue per recipient: the difference of means with a normal interval
//!   on Welch's standard error (each arm's own variance);
//! - entries needed: the normal-approximation sample size for two
//!   proportions (two-sided α = 0.05, power 80%), at the arms' present
//!   ratio, with the rates seen as the effect to detect.

/// z for a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;
/// z for 80% power.
const Z80: f64 = 0.841_621_233_572_914_3;

/// An estimate and its interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

/// The Wilson score interval of `x` successes in `n` trials (`n` > 0).
pub fn wilson(x: u64, n: u64, z: f64) -> (f64, f64) {
    let (x, n) = (x as f64, n as f64);
    let p = x / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The difference of two rates, `x1/n1 − x2/n2`, with Newcombe's hybrid
/// score interval. `None` when an arm is empty.
pub fn rate_difference(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<Interval> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (p1, p2) = (x1 as f64 / n1 as f64, x2 as f64 / n2 as f64);
    let (l1, u1) = wilson(x1, n1, Z95);
    let (l2, u2) = wilson(x2, n2, Z95);
    let d = p1 - p2;
    Some(Interval {
        estimate: d,
        low: d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt(),
        high: d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt(),
    })
}

/// One arm's per-recipient values, summed: how many, Σ value, Σ value².
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sums {
    pub n: u64,
    pub sum: f64,
    pub sum_sq: f64,
}

impl Sums {
    pub fn add(&mut self, v: f64) {
        self.n += 1;
        self.sum += v;
        self.sum_sq += v * v;
    }

    fn mean(&self) -> f64 {
        self.sum / self.n as f64
    }

    /// The sample variance (n − 1).
    fn variance(&self) -> f64 {
        let n = self.n as f64;
        ((self.sum_sq - self.sum * self.sum / n) / (n - 1.0)).max(0.0)
    }
}

/// The difference of two arms' mean values (revenue per recipient), with
/// a normal interval on Welch's standard error. `None` below two
/// recipients in an arm.
pub fn mean_difference(a: &Sums, b: &Sums) -> Option<Interval> {
    if a.n < 2 || b.n < 2 {
        return None;
    }
    let d = a.mean() - b.mean();
    let se = (a.variance() / a.n as f64 + b.variance() / b.n as f64).sqrt();
    Some(Interval {
        estimate: d,
        low: d - Z95 * se,
        high: d + Z95 * se,
    })
}

/// Entries the first arm needs to show a difference between rates `p1`
/// and `p2` (two-sided α = 0.05, power 80%), when the second arm gets
/// `ratio` entries for each of the first's. `None` when the rates are
/// equal (no difference to show).
pub fn entries_needed(p1: f64, p2: f64, ratio: f64) -> Option<f64> {
    let delta = (p1 - p2).abs();
    if delta == 0.0 || ratio <= 0.0 {
        return None;
    }
    let p_bar = (p1 + ratio * p2) / (1.0 + ratio);
    let a = Z95 * (p_bar * (1.0 - p_bar) * (1.0 + 1.0 / ratio)).sqrt();
    let b = Z80 * (p1 * (1.0 - p1) + p2 * (1.0 - p2) / ratio).sqrt();
    Some(((a + b) / delta).powi(2))
}

/// What the data says about an arm against the other.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// The interval lies above zero.
    Higher,
    /// The interval lies below zero.
    Lower,
    /// The interval spans zero: no difference shown yet. `more` is how
    /// many more entries (both arms, at their present ratio) would show
    /// a difference of the size seen; `None` when none is seen.
    NotYet { more: Option<u64> },
}

/// The verdict on conversion: `x1` of `n1` (the treated arm) against `x2`
/// of `n2` (the holdout).
pub fn conversion_verdict(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<(Interval, Verdict)> {
    let i = rate_difference(x1, n1, x2, n2)?;
    let v = if i.low > 0.0 {
        Verdict::Higher
    } else if i.high < 0.0 {
        Verdict::Lower
    } else {
        let ratio = n2 as f64 / n1 as f64;
        let need = entries_needed(x1 as f64 / n1 as f64, x2 as f64 / n2 as f64, ratio);
        Verdict::NotYet {
            more: need.map(|n1_needed| {
                let total = n1_needed.ceil() * (1.0 + ratio);
                (total.ceil() as u64).saturating_sub(n1 + n2)
            }),
        }
    };
    Some((i, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64) {
        assert!((got - want).abs() < 5e-5, "{got} (want {want})");
    }

    #[test]
    fn newcombes_published_examples() {
        // Newcombe (1998), Table II, method 10, to four decimals.
        for (x1, n1, x2, n2, lo, hi) in [
            (56, 70, 48, 80, 0.0524, 0.3339),
            (9, 10, 3, 10, 0.1705, 0.8090),
            (5, 56, 0, 29, -0.0381, 0.1926),
            (0, 10, 0, 20, -0.1611, 0.2775),
            (10, 10, 0, 20, 0.6791, 1.0000),
        ] {
            let i = rate_difference(x1, n1, x2, n2).unwrap();
            close((i.low * 1e4).round() / 1e4, lo);
            close((i.high * 1e4).round() / 1e4, hi);
        }
    }

    #[test]
    fn a_small_store_is_told_how_many_more_entries_not_a_winner() {
        // 6 of 40 converted against 3 of 40 held out: 15% vs 7.5%.
        let (i, v) = conversion_verdict(6, 40, 3, 40).unwrap();
        assert!(i.low < 0.0 && i.high > 0.0, "{i:?}");
        let Verdict::NotYet { more: Some(more) } = v else {
            panic!("{v:?}");
        };
        // 15% vs 7.5% at 1:1 needs about 278 per arm by the formula.
        let per_arm = entries_needed(0.15, 0.075, 1.0).unwrap();
        assert!((277.0..279.0).contains(&per_arm), "{per_arm}");
        assert_eq!(more, 2 * per_arm.ceil() as u64 - 80);
        // The same rates over many entries show the difference.
        let (_, v) = conversion_verdict(600, 4000, 300, 4000).unwrap();
        assert_eq!(v, Verdict::Higher);
        // Equal rates: no difference seen, no number of entries promised.
        let (_, v) = conversion_verdict(4, 40, 4, 40).unwrap();
        assert_eq!(v, Verdict::NotYet { more: None });
    }

    #[test]
    fn revenue_per_recipient_difference_uses_each_arms_variance() {
        let mut a = Sums::default();
        let mut b = Sums::default();
        for v in [0.0, 0.0, 50.0, 100.0] {
            a.add(v);
        }
        for v in [0.0, 0.0, 0.0, 20.0] {
            b.add(v);
        }
        let i = mean_difference(&a, &b).unwrap();
        // Means 37.5 and 5; variances 2291.67 and 100; se = √(572.92 + 25).
        close(i.estimate, 32.5);
        let se = (2_291.666_666_666_667_f64 / 4.0 + 100.0 / 4.0).sqrt();
        close(i.high - i.estimate, Z95 * se);
        assert!(mean_difference(&Sums::default(), &b).is_none());
    }
}
