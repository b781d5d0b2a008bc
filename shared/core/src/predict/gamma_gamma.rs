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
    let total = |p: &Params| data.iter().map(|s| log_likelihood(p, s)).sum::<f64>();
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

#[cfg(test)]
mod tests {
    use super::*;

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
