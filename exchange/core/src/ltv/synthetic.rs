//! Synthetic e-commerce orders drawn from the BG/NBD and Gamma-Gamma processes
//! themselves, so `train-ltv` runs out of the box and a fit can be checked against the
//! parameters that generated the data.
//!
//! Each customer: first order on a uniform day of the acquisition window; purchase rate
//! λ ~ Gamma(r, 1/α) per week; after every repeat order they leave with probability
//! p ~ Beta(a, b); gaps between orders ~ Exponential(λ); order value ~ Gamma(p, 1/ν)
//! with ν ~ Gamma(q, 1/γ).

use super::model::{BgNbd, GammaGamma};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution, Exp, Gamma};
use std::fmt::Write;
use time::{Date, Duration};

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Population {
    /// Customers.
    pub customers: usize,
    /// First day of the acquisition window (and of the data).
    pub start: Date,
    /// Days over which first orders are spread.
    pub acquisition_days: i64,
    /// Days of history from `start`.
    pub days: i64,
    /// Purchase process.
    pub bgnbd: BgNbd,
    /// Order values.
    pub gamma_gamma: GammaGamma,
    /// Seed of every draw.
    pub seed: u64,
}

impl Population {
    /// An e-commerce-like default: 5,000 customers acquired over 12 weeks, 78 weeks of
    /// history, about one order every 6 weeks while active, order values around 100.
    pub fn ecommerce(start: Date, seed: u64) -> Self {
        Self {
            customers: 5_000,
            start,
            acquisition_days: 84,
            days: 546,
            bgnbd: BgNbd {
                r: 0.6,
                alpha: 4.0,
                a: 0.9,
                b: 4.0,
            },
            gamma_gamma: GammaGamma {
                p: 5.0,
                q: 4.0,
                gamma: 60.0,
            },
            seed,
        }
    }
}

/// Most customers generated.
pub const MAX_CUSTOMERS: usize = 10_000_000;

/// The order CSV (`customer_id,date,amount`), or why the parameters cannot generate.
pub fn generate(population: &Population) -> Result<String, String> {
    let Population {
        customers,
        start,
        acquisition_days,
        days,
        bgnbd,
        gamma_gamma,
        seed,
    } = *population;
    if customers == 0 || customers > MAX_CUSTOMERS {
        return Err(format!("customers must be 1..={MAX_CUSTOMERS}"));
    }
    if !(1..=days).contains(&acquisition_days) || days > 36_600 {
        return Err("need 1 <= acquisition days <= days <= 36600".into());
    }
    let bad = |e: rand_distr::GammaError| e.to_string();
    let rate = Gamma::new(bgnbd.r, 1.0 / bgnbd.alpha).map_err(bad)?;
    let dropout = Beta::new(bgnbd.a, bgnbd.b).map_err(|e| e.to_string())?;
    let spend_rate = Gamma::new(gamma_gamma.q, 1.0 / gamma_gamma.gamma).map_err(bad)?;
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut out = String::from("customer_id,date,amount\n");
    for id in 1..=customers {
        let lambda: f64 = rate.sample(&mut rng).max(1e-9);
        let leave: f64 = dropout.sample(&mut rng);
        let nu: f64 = spend_rate.sample(&mut rng).max(1e-9);
        let value = Gamma::new(gamma_gamma.p, 1.0 / nu).map_err(bad)?;
        let gaps = Exp::new(lambda).map_err(|e| e.to_string())?;
        let mut day = rng.gen_range(0..acquisition_days) as f64;
        let mut first = true;
        loop {
            let date = start + Duration::days(day as i64);
            let amount: f64 = value.sample(&mut rng);
            let _ = writeln!(out, "c{id},{date},{amount:.2}");
            // BG/NBD: a customer can leave after a repeat order, not after the first.
            if !first && rng.gen::<f64>() < leave {
                break;
            }
            first = false;
            day += gaps.sample(&mut rng) * 7.0;
            if day >= days as f64 {
                break;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ltv::fit::{fit_bgnbd, fit_gamma_gamma};
    use crate::ltv::orders::{parse_date, read_orders, summarise};

    #[test]
    fn a_fit_recovers_the_parameters_that_generated_the_orders() {
        let start = parse_date("2026-01-05").expect("date");
        let population = Population::ecommerce(start, 11);
        let csv = generate(&population).expect("generates");
        assert_eq!(
            csv,
            generate(&population).expect("again"),
            "seeded: reproducible"
        );
        let histories = read_orders(&csv).expect("valid orders");
        assert_eq!(histories.len(), population.customers);
        let end = start + Duration::days(population.days - 1);
        let customers: Vec<_> = summarise(&histories, end, None)
            .into_iter()
            .map(|s| s.customer)
            .collect();
        let bgnbd = fit_bgnbd(&customers).expect("fits").model;
        let gg = fit_gamma_gamma(&customers).expect("fits").model;
        let near = |name: &str, got: f64, truth: f64, tolerance: f64| {
            assert!(
                (got / truth - 1.0).abs() < tolerance,
                "{name}: fitted {got}, generated with {truth}"
            );
        };
        let truth = population.bgnbd;
        near("r", bgnbd.r, truth.r, 0.15);
        near("alpha", bgnbd.alpha, truth.alpha, 0.2);
        near("a", bgnbd.a, truth.a, 0.3);
        near("b", bgnbd.b, truth.b, 0.3);
        // Gamma-Gamma's parameters trade off; its implied mean order value is what matters.
        let mean = |g: &GammaGamma| g.p * g.gamma / (g.q - 1.0);
        near(
            "mean order value",
            mean(&gg),
            mean(&population.gamma_gamma),
            0.1,
        );
    }

    #[test]
    fn refuses_parameters_it_cannot_draw_from() {
        let start = parse_date("2026-01-05").expect("date");
        let mut population = Population::ecommerce(start, 1);
        population.bgnbd.r = -1.0;
        assert!(generate(&population).is_err());
        population = Population::ecommerce(start, 1);
        population.customers = 0;
        assert!(generate(&population).is_err());
    }
}
