use super::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn mechanism(epsilon: f64) -> Mechanism {
    Mechanism {
        epsilon,
        bounds: Bounds {
            max_cells: 4,
            max_per_cell: 5,
        },
        threshold: 0.0,
    }
}

/// The Laplace CDF at `x` for scale `b`.
fn cdf(x: f64, b: f64) -> f64 {
    if x < 0.0 {
        0.5 * (x / b).exp()
    } else {
        1.0 - 0.5 * (-x / b).exp()
    }
}

#[test]
fn the_noise_is_laplace_of_the_stated_scale() {
    // ε = 0.5 over a sensitivity of 4 × 5 × 3 = 60: scale 120.
    let m = mechanism(0.5);
    assert_eq!(m.sensitivity(), 60.0);
    let b = m.scale();
    assert_eq!(b, 120.0);
    let noise = Laplace::new(b);
    let mut rng = StdRng::seed_from_u64(7);
    let n = 200_000;
    let mut draws: Vec<f64> = (0..n).map(|_| noise.sample(&mut rng)).collect();
    let mean = draws.iter().sum::<f64>() / n as f64;
    let variance = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    // Mean 0 (standard error sqrt(2)·b/sqrt(n) ≈ 0.38), variance 2b² (±3%).
    assert!(
        mean.abs() < 4.0 * (2.0f64).sqrt() * b / (n as f64).sqrt(),
        "mean {mean}"
    );
    let expected = 2.0 * b * b;
    assert!(
        (variance / expected - 1.0).abs() < 0.03,
        "variance {variance} vs {expected}"
    );
    // Mean absolute deviation b.
    let mad = draws.iter().map(|d| d.abs()).sum::<f64>() / n as f64;
    assert!((mad / b - 1.0).abs() < 0.02, "mean |noise| {mad} vs {b}");
    // Kolmogorov-Smirnov against the Laplace CDF: D < 1.63 / sqrt(n) at α = 0.01.
    draws.sort_by(f64::total_cmp);
    let d = draws
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = cdf(x, b);
            (f - i as f64 / n as f64)
                .abs()
                .max(((i + 1) as f64 / n as f64 - f).abs())
        })
        .fold(0.0, f64::max);
    assert!(d < 1.63 / (n as f64).sqrt(), "KS statistic {d}");
    // And a wrong scale is rejected by the same test: the test can fail.
    let wrong = draws
        .iter()
        .enumerate()
        .map(|(i, &x)| (cdf(x, b * 1.1) - i as f64 / n as f64).abs())
        .fold(0.0, f64::max);
    assert!(
        wrong > 1.63 / (n as f64).sqrt(),
        "KS against 1.1 b: {wrong}"
    );
}

#[test]
fn released_counts_are_the_truth_plus_that_noise_rounded() {
    let m = Mechanism {
        threshold: f64::NEG_INFINITY,
        ..mechanism(1.0)
    };
    let mut rng = StdRng::seed_from_u64(11);
    let truth = 1_000u64;
    let runs = 20_000;
    let mut errors = Vec::with_capacity(runs);
    for _ in 0..runs {
        let cells: BTreeMap<u32, [u64; 3]> = [(1, [truth, truth, truth])].into();
        let released = m.release(cells, &mut rng);
        for value in released[0].counts {
            assert_eq!(value, value.round(), "whole numbers");
            errors.push(value - truth as f64);
        }
    }
    let n = errors.len() as f64;
    let mean = errors.iter().sum::<f64>() / n;
    let mad = errors.iter().map(|e| e.abs()).sum::<f64>() / n;
    assert!(
        mean.abs() < 4.0 * 1.5 * m.scale() / n.sqrt(),
        "unbiased: {mean}"
    );
    assert!(
        (mad / m.scale() - 1.0).abs() < 0.03,
        "scale: {mad} vs {}",
        m.scale()
    );
}

#[test]
fn small_cells_are_withheld_and_delta_says_how_often_one_slips_through() {
    let m = Mechanism {
        threshold: 1_000.0,
        ..mechanism(1.0)
    };
    // δ = 4 × ½ × exp(−(1000 − 5) / 60).
    let delta = 2.0 * (-(995.0f64) / 60.0).exp();
    assert!((m.delta() - delta).abs() < 1e-15, "{}", m.delta());
    let mut rng = StdRng::seed_from_u64(3);
    let cells: BTreeMap<u32, [u64; 3]> = [(1, [5, 0, 0]), (2, [100_000, 10, 1])].into();
    let mut shown_small = 0;
    for _ in 0..2_000 {
        let released = m.release(cells.clone(), &mut rng);
        shown_small += released.iter().filter(|r| r.cell == 1).count();
        assert!(released.iter().any(|r| r.cell == 2), "a large cell shows");
    }
    assert_eq!(shown_small, 0, "a one-user cell never shows");
    // With no threshold to speak of the guarantee is void, and says so.
    let loose = Mechanism {
        threshold: 0.0,
        ..mechanism(1.0)
    };
    assert_eq!(loose.delta(), 1.0);
}

#[test]
fn bounding_caps_each_user_whatever_they_did() {
    let row = |user: Option<&str>, cell: u32, counts: [u64; 3]| Contribution {
        user: user.map(str::to_owned),
        cell,
        counts,
    };
    let bounds = Bounds {
        max_cells: 2,
        max_per_cell: 5,
    };
    let rows = vec![
        // A flooder: 1,000 impressions in each of 4 cells; keeps its 2 largest, 5 each.
        row(Some("flooder"), 1, [1_000, 50, 3]),
        row(Some("flooder"), 2, [900, 0, 0]),
        row(Some("flooder"), 3, [2_000, 9, 9]),
        row(Some("flooder"), 4, [10, 0, 0]),
        row(Some("quiet"), 1, [2, 1, 0]),
        row(None, 4, [7, 1, 1]),
        row(None, 4, [1, 0, 0]),
    ];
    let cells = bound(rows, bounds);
    assert_eq!(cells[&1], [5 + 2, 5 + 1, 3]);
    assert_eq!(cells[&3], [5, 5, 5]);
    assert!(
        !cells.contains_key(&2),
        "the flooder's third cell is dropped"
    );
    assert_eq!(
        cells[&4],
        [7 + 1, 1, 1],
        "keyless events, each its own user"
    );
    // Removing the flooder entirely moves the totals by at most the sensitivity.
    let without = bound(
        vec![
            row(Some("quiet"), 1, [2, 1, 0]),
            row(None, 4, [7, 1, 1]),
            row(None, 4, [1, 0, 0]),
        ],
        bounds,
    );
    let moved: u64 = cells
        .iter()
        .map(|(k, v)| {
            let w = without.get(k).copied().unwrap_or_default();
            (0..3).map(|i| v[i].abs_diff(w[i])).sum::<u64>()
        })
        .sum();
    let m = Mechanism {
        epsilon: 1.0,
        bounds,
        threshold: 0.0,
    };
    assert!(
        moved as f64 <= m.sensitivity(),
        "{moved} > {}",
        m.sensitivity()
    );
}

#[test]
fn budgets_refuse_what_would_exceed_them() {
    assert!(fits(0.0, 1.0, 3.0));
    assert!(fits(2.0, 1.0, 3.0));
    assert!(!fits(2.5, 1.0, 3.0));
    assert!(!fits(0.0, 0.0, 3.0), "a report spends something");
    assert!(!fits(f64::NAN, 0.1, 3.0));
}
