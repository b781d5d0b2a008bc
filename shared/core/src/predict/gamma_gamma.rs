//! Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV"; Fader & Hardie
//! 2013, "The Gamma-Gamma Model of Monetary Value"): the value of a
//! customer's transactions varies around their own mean, ν; ν varies
//! across customers. Fitted on customers with at least one repeat
//! purchase, from the number of repeats `x` and their mean value `m`.

use super::optimize::minimize_positive;
use super::special::ln_gamma;

/// One customer's repeat purchases: how many, and their mean value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spend {
    pub x: f64,
    pub m: f64,
}

/// The three parameters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Params {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

/// One customer's log-likelihood.
pub fn log_likelihood(p: &Params, s: &Spend) -> f64 {
    let Params { p, q, gamma } = *p;
    let px = p * s.x;
    ln_gamma(px + q) - ln_gamma(px) - ln_gamma(q)
        + q * gamma.ln()
        + (px - 1.0) * s.m.ln()
        + px * s.x.ln()
        - (px + q) * (gamma + s.m * s.x).ln()
}

/// The expected mean value of this customer's future transactions: a mix
/// of the population's mean and their own, weighted by how many they made.
pub fn expected_value(p: &Params, s: &Spend) -> f64 {
    let Params { p, q, gamma } = *p;
    (gamma + s.m * s.x) * p / (p * s.x + q - 1.0)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    pub params: Params,
    pub log_likelihood: f64,
}

/// Fits by maximum likelihood on the customers with a repeat purchase and
/// a positive mean (others carry no information on spend), with an
/// optional penalty `penalty × Σ θ²`.
pub fn fit(data: &[Spend], penalty: f64) -> Fit {
    let data: Vec<Spend> = data
        .iter()
        .copied()
        .filter(|s| s.x > 0.0 && s.m > 0.0)
        .collect();
    let params = |v: &[f64]| Params {
        p: v[0],
        q: v[1],
        gamma: v[2],
    };
    let prepared = Prepared::of(&data);
    let total = |p: &Params| prepared.log_likelihood(p);
    let v = minimize_positive(3, &|v| {
        let ll = total(&params(v));
        if !ll.is_finite() {
            return f64::INFINITY;
        }
        -ll + penalty * v.iter().map(|x| x * x).sum::<f64>()
    });
    let p = params(&v);
    Fit {
        params: p,
        log_likelihood: total(&p),
    }
}

/// The data of [`fit`] arranged for many customers: the terms that do not
/// depend on the parameters summed once, the log-gammas once per distinct
/// `x`; only ln(γ + m x) is left per customer and evaluation.
struct Prepared {
    /// (x, customers with it).
    xs: Vec<(f64, f64)>,
    /// Per customer: (x, m x).
    rows: Vec<(f64, f64)>,
    n: f64,
    /// Σ x ln m, Σ ln m, Σ x ln x.
    x_ln_m: f64,
    ln_m: f64,
    x_ln_x: f64,
}

impl Prepared {
    fn of(data: &[Spend]) -> Prepared {
        let mut by_x: std::collections::BTreeMap<u64, f64> = Default::default();
        for s in data {
            *by_x.entry(s.x.to_bits()).or_default() += 1.0;
        }
        Prepared {
            xs: by_x
                .into_iter()
                .map(|(x, n)| (f64::from_bits(x), n))
                .collect(),
            rows: data.iter().map(|s| (s.x, s.m * s.x)).collect(),
            n: data.len() as f64,
            x_ln_m: data.iter().map(|s| s.x * s.m.ln()).sum(),
            ln_m: data.iter().map(|s| s.m.ln()).sum(),
            x_ln_x: data.iter().map(|s| s.x * s.x.ln()).sum(),
        }
    }

    /// Σ [`log_likelihood`] over the customers.
    fn log_likelihood(&self, p: &Params) -> f64 {
        let Params { p, q, gamma } = *p;
        let gammas: f64 = self
            .xs
            .iter()
            .map(|&(x, n)| n * (ln_gamma(p * x + q) - ln_gamma(p * x)))
            .sum();
        let tails: f64 = self
            .rows
            .iter()
            .map(|&(x, mx)| (p * x + q) * (gamma + mx).ln())
            .sum();
        gammas - self.n * ln_gamma(q) + self.n * q * gamma.ln() + p * self.x_ln_m - self.ln_m
            + p * self.x_ln_x
            - tails
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prepared_sum_is_the_sum_of_each_customers_likelihood() {
        let data: Vec<Spend> = (1..200)
            .map(|i| Spend {
                x: (i % 7 + 1) as f64,
                m: 10.0 + (i * 37 % 91) as f64,
            })
            .collect();
        let p = Params {
            p: 6.25,
            q: 3.74,
            gamma: 15.44,
        };
        let each: f64 = data.iter().map(|s| log_likelihood(&p, s)).sum();
        let prepared = Prepared::of(&data).log_likelihood(&p);
        assert!(
            (each - prepared).abs() < 1e-9 * each.abs(),
            "{each} {prepared}"
        );
    }

    #[test]
    fn more_purchases_pull_the_expectation_toward_the_customers_own_mean() {
        let p = Params {
            p: 6.25,
            q: 3.74,
            gamma: 15.44,
        };
        let population = p.p * p.gamma / (p.q - 1.0);
        let few = expected_value(&p, &Spend { x: 1.0, m: 100.0 });
        let many = expected_value(&p, &Spend { x: 50.0, m: 100.0 });
        assert!(
            population < few && few < many && many < 100.0,
            "{population} {few} {many}"
        );
    }
}
