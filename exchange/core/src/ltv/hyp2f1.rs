//! The Gauss hypergeometric function ₂F₁(a, b; c; z) for |z| < 1, by its power series
//! Σ (a)ₙ(b)ₙ / ((c)ₙ n!) zⁿ, summed until a term no longer changes the sum. BG/NBD only
//! needs 0 ≤ z < 1 (z = t / (α + T + t)).

/// Most series terms summed (the series converges geometrically for |z| < 1; this bounds
/// the work for z very close to 1).
pub const MAX_TERMS: usize = 100_000;

/// ₂F₁(a, b; c; z); `None` for |z| ≥ 1, c a non-positive integer, or no convergence.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> Option<f64> {
    if z.is_nan() || z.abs() >= 1.0 || (c <= 0.0 && c.fract() == 0.0) {
        return None;
    }
    let mut term = 1.0;
    let mut sum = 1.0;
    for n in 0..MAX_TERMS {
        let n = n as f64;
        term *= (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
        let next = sum + term;
        if next == sum || term == 0.0 {
            return next.is_finite().then_some(next);
        }
        sum = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64) {
        assert!(
            (got - want).abs() <= 1e-12 * want.abs().max(1.0),
            "{got} vs {want}"
        );
    }

    #[test]
    fn matches_closed_forms_and_reference_values() {
        // ₂F₁(1, 1; 2; z) = −ln(1 − z) / z.
        for z in [0.1, 0.5, 0.9] {
            close(
                hyp2f1(1.0, 1.0, 2.0, z).expect("converges"),
                -(1.0 - z).ln() / z,
            );
        }
        // ₂F₁(½, ½; 3/2; z²) = arcsin(z) / z.
        close(
            hyp2f1(0.5, 0.5, 1.5, 0.25).expect("converges"),
            0.5f64.asin() / 0.5,
        );
        // ₂F₁(a, b; b; z) = (1 − z)^−a.
        close(
            hyp2f1(2.5, 3.0, 3.0, 0.3).expect("converges"),
            0.7f64.powf(-2.5),
        );
        // ₂F₁(1, 1; 1; z) = 1 / (1 − z); and z = 0 gives 1.
        close(hyp2f1(1.0, 1.0, 1.0, -0.5).expect("converges"), 1.0 / 1.5);
        close(hyp2f1(3.0, 4.0, 5.0, 0.0).expect("converges"), 1.0);
        // Reference values from mpmath (30 digits), one of the shape BG/NBD uses
        // (r + x, b + x; a + b + x − 1; t / (α + T + t)) and one close to z = 1.
        close(
            hyp2f1(2.2426, 4.4258, 4.6187, 0.3).expect("converges"),
            2.146_974_648_958_66,
        );
        close(
            hyp2f1(0.5, 1.5, 2.5, 0.95).expect("converges"),
            1.826_248_983_978_927,
        );
    }

    #[test]
    fn refuses_where_the_series_does_not_converge() {
        assert_eq!(hyp2f1(1.0, 1.0, 2.0, 1.0), None);
        assert_eq!(hyp2f1(1.0, 1.0, 2.0, -1.5), None);
        assert_eq!(hyp2f1(1.0, 1.0, -2.0, 0.5), None);
        assert_eq!(hyp2f1(1.0, 1.0, 2.0, f64::NAN), None);
    }
}
