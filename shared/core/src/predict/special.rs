//! Special functions the likelihoods need.

/// ln Γ(x) for x > 0, by the Lanczos approximation (g = 7, nine terms:
/// about 15 significant digits), with the reflection formula below 0.5.
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
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
        // Γ(x) Γ(1 − x) = π / sin(πx)
        let s = (std::f64::consts::PI * x).sin();
        return (std::f64::consts::PI / s.abs()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a + b).
pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// The Gauss hypergeometric function ₂F₁(a, b; c; z) for 0 ≤ z < 1, by
/// its series (summed until a term no longer changes the sum).
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let (mut term, mut sum) = (1.0f64, 1.0f64);
    for j in 0..100_000 {
        let j = j as f64;
        term *= (a + j) * (b + j) / ((c + j) * (j + 1.0)) * z;
        sum += term;
        if term.abs() <= 1e-15 * sum.abs() {
            break;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_gamma_matches_factorials_and_half_integers() {
        // Γ(n) = (n − 1)!
        let mut fact = 1.0f64;
        for n in 1..30 {
            assert!((ln_gamma(n as f64) - fact.ln()).abs() < 1e-10, "{n}");
            fact *= n as f64;
        }
        // Γ(1/2) = √π
        let half = std::f64::consts::PI.sqrt().ln();
        assert!((ln_gamma(0.5) - half).abs() < 1e-12);
        // Γ(0.1) = 9.513507698668731836…
        assert!((ln_gamma(0.1) - 9.513_507_698_668_732_f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn hyp2f1_matches_closed_forms() {
        // ₂F₁(1, 1; 2; z) = −ln(1 − z) / z
        for z in [0.1, 0.5, 0.9] {
            let want = -(1.0f64 - z).ln() / z;
            assert!((hyp2f1(1.0, 1.0, 2.0, z) - want).abs() < 1e-12, "{z}");
        }
        // ₂F₁(a, b; b; z) = (1 − z)^−a
        assert!((hyp2f1(2.5, 3.0, 3.0, 0.4) - 0.6f64.powf(-2.5)).abs() < 1e-12);
    }
}
