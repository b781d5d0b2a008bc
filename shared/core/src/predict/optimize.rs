//! Nelder–Mead minimization, enough for likelihoods of a few parameters.

/// Minimizes `f` from `start`, with initial steps `step`; stops when the
/// simplex's values agree within `tol` or after `max_iter` iterations.
/// Returns the best point and its value.
pub fn nelder_mead(
    f: &dyn Fn(&[f64]) -> f64,
    start: &[f64],
    step: f64,
    tol: f64,
    max_iter: usize,
) -> (Vec<f64>, f64) {
    let n = start.len();
    let mut pts: Vec<Vec<f64>> = vec![start.to_vec()];
    for i in 0..n {
        let mut p = start.to_vec();
        p[i] += step;
        pts.push(p);
    }
    let mut vals: Vec<f64> = pts.iter().map(|p| f(p)).collect();
    for _ in 0..max_iter {
        // Order best to worst.
        let mut idx: Vec<usize> = (0..=n).collect();
        idx.sort_by(|&i, &j| vals[i].total_cmp(&vals[j]));
        pts = idx.iter().map(|&i| pts[i].clone()).collect();
        vals = idx.iter().map(|&i| vals[i]).collect();
        if (vals[n] - vals[0]).abs() <= tol * (1.0 + vals[0].abs()) {
            break;
        }
        let centroid: Vec<f64> = (0..n)
            .map(|k| pts[..n].iter().map(|p| p[k]).sum::<f64>() / n as f64)
            .collect();
        let along = |t: f64| -> Vec<f64> {
            (0..n)
                .map(|k| centroid[k] + t * (pts[n][k] - centroid[k]))
                .collect()
        };
        let xr = along(-1.0);
        let fr = f(&xr);
        if fr < vals[0] {
            let xe = along(-2.0);
            let fe = f(&xe);
            if fe < fr {
                pts[n] = xe;
                vals[n] = fe;
            } else {
                pts[n] = xr;
                vals[n] = fr;
            }
        } else if fr < vals[n - 1] {
            pts[n] = xr;
            vals[n] = fr;
        } else {
            let (xc, fc) = if fr < vals[n] {
                let x = along(-0.5);
                let v = f(&x);
                (x, v)
            } else {
                let x = along(0.5);
                let v = f(&x);
                (x, v)
            };
            if fc < vals[n].min(fr) {
                pts[n] = xc;
                vals[n] = fc;
            } else {
                // Shrink toward the best point.
                let best = pts[0].clone();
                for i in 1..=n {
                    for (x, b) in pts[i].iter_mut().zip(&best) {
                        *x = b + 0.5 * (*x - b);
                    }
                    vals[i] = f(&pts[i]);
                }
            }
        }
    }
    let best = (0..=n)
        .min_by(|&i, &j| vals[i].total_cmp(&vals[j]))
        .expect("a simplex has points");
    (pts[best].clone(), vals[best])
}

/// The largest |ln θ| a positive parameter may take (θ within about
/// 3·10⁻⁷ and 3·10⁶).
pub const LOG_BOUND: f64 = 15.0;

/// Iterations per round of [`minimize_positive`].
pub const MAX_ITER: usize = 2_000;

/// Minimizes `f` over `n` positive parameters: the search runs on their
/// logarithms from 1 each, in two rounds (a restart from the first
/// round's answer frees a simplex that collapsed early). `f` sees the
/// parameters themselves; it returns infinity where it is undefined.
///
/// The search stays within e^±[`LOG_BOUND`]: on data no dropout explains
/// (every customer still buying) BG/NBD's `a` and `b` grow without end
/// along a ridge where the likelihood barely changes, and an unbounded
/// search crawled it for all its iterations (minutes for 100,000
/// customers). At the bound the simplex collapses and the search ends.
pub fn minimize_positive(n: usize, f: &dyn Fn(&[f64]) -> f64) -> Vec<f64> {
    let on_logs = |v: &[f64]| {
        if v.iter().any(|x| x.abs() > LOG_BOUND) {
            return f64::INFINITY;
        }
        let p: Vec<f64> = v.iter().map(|x| x.exp()).collect();
        f(&p)
    };
    let (v, _) = nelder_mead(&on_logs, &vec![0.0; n], 0.5, 1e-12, MAX_ITER);
    let (v, _) = nelder_mead(&on_logs, &v, 0.1, 1e-14, MAX_ITER);
    v.iter().map(|x| x.exp()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_rosenbrock() {
        let f = |p: &[f64]| (1.0 - p[0]).powi(2) + 100.0 * (p[1] - p[0] * p[0]).powi(2);
        let (x, v) = nelder_mead(&f, &[-1.2, 1.0], 0.5, 1e-14, 10_000);
        assert!(v < 1e-10, "{v}");
        assert!(
            (x[0] - 1.0).abs() < 1e-4 && (x[1] - 1.0).abs() < 1e-4,
            "{x:?}"
        );
    }
}
