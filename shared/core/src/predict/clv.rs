//! Predicted customer lifetime value over a horizon: the purchases BG/NBD
//! expects in each period after calibration, valued at what Gamma-Gamma
//! expects a purchase of this customer to be worth, and discounted per
//! period.

use super::bgnbd::{self, Summary};
use super::gamma_gamma::{self, Spend};

/// The value of the next `periods` periods of `period` time units each
/// (the unit of the BG/NBD fit), each discounted by `discount` per period
/// (0.01: 1% a period). A customer without repeat purchases is valued at
/// the population's mean spend (`Spend { x: 0, .. }` gives it).
pub fn predicted_clv(
    purchases: &bgnbd::Params,
    history: &Summary,
    spend: &gamma_gamma::Params,
    value: &Spend,
    period: f64,
    periods: u32,
    discount: f64,
) -> f64 {
    let per_purchase = if value.x > 0.0 {
        gamma_gamma::expected_value(spend, value)
    } else {
        spend.p * spend.gamma / (spend.q - 1.0)
    };
    let mut total = 0.0;
    let mut before = 0.0;
    for k in 1..=periods {
        let upto = bgnbd::expected_purchases(purchases, history, period * k as f64);
        total += (upto - before) * per_purchase / (1.0 + discount).powi(k as i32);
        before = upto;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undiscounted_value_is_expected_purchases_times_expected_spend() {
        let bg = bgnbd::Params {
            r: 0.2426,
            alpha: 4.4136,
            a: 0.7929,
            b: 2.4259,
        };
        let gg = gamma_gamma::Params {
            p: 6.25,
            q: 3.74,
            gamma: 15.44,
        };
        let h = Summary {
            x: 4.0,
            t_x: 30.0,
            t: 38.0,
        };
        let v = Spend { x: 4.0, m: 40.0 };
        let plain = predicted_clv(&bg, &h, &gg, &v, 4.0, 13, 0.0);
        let want = bgnbd::expected_purchases(&bg, &h, 52.0) * gamma_gamma::expected_value(&gg, &v);
        assert!((plain - want).abs() < 1e-9, "{plain} {want}");
        let discounted = predicted_clv(&bg, &h, &gg, &v, 4.0, 13, 0.01);
        assert!(
            discounted < plain && discounted > 0.85 * plain,
            "{discounted} {plain}"
        );
        // A customer who has not bought again is valued at the mean spend.
        let none = Spend { x: 0.0, m: 0.0 };
        let first = Summary {
            x: 0.0,
            t_x: 0.0,
            t: 10.0,
        };
        let mean = gg.p * gg.gamma / (gg.q - 1.0);
        let c = predicted_clv(&bg, &first, &gg, &none, 4.0, 13, 0.0);
        assert!((c - bgnbd::expected_purchases(&bg, &first, 52.0) * mean).abs() < 1e-9);
    }
}
