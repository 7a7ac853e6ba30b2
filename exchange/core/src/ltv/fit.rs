//! Maximum-likelihood fits of BG/NBD and Gamma-Gamma with `argmin`'s Nelder-Mead over the
//! logarithms of the parameters (so they stay positive), restarted from the best point
//! until the log-likelihood stops improving.

use super::model::{BgNbd, Customer, GammaGamma};
use argmin::core::{CostFunction, Error, Executor, State};
use argmin::solver::neldermead::NelderMead;

/// Iterations of one Nelder-Mead run.
const MAX_ITERS: u64 = 4_000;
/// Restarts from the best point (a fresh simplex escapes a collapsed one).
const RESTARTS: usize = 6;

/// A fitted model and its total log-likelihood.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fitted<M> {
    /// The parameters.
    pub model: M,
    /// Sum of the customers' log-likelihoods at them.
    pub log_likelihood: f64,
}

/// Why a fit failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FitError {
    /// Nothing to fit (no customers, or no repeat customers for Gamma-Gamma).
    #[error("no data to fit: {0}")]
    NoData(&'static str),
    /// The optimiser failed or ended on parameters that are not usable.
    #[error("the fit did not converge: {0}")]
    NoConvergence(String),
}

/// Negative log-likelihood of a model built from log-parameters.
struct Objective<'a, M> {
    customers: &'a [Customer],
    build: fn(&[f64]) -> M,
    log_likelihood: fn(&M, &Customer) -> f64,
}

impl<M> CostFunction for Objective<'_, M> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, log_params: &Self::Param) -> Result<f64, Error> {
        if log_params.iter().any(|v| !v.is_finite() || v.abs() > 30.0) {
            return Ok(f64::MAX);
        }
        let model = (self.build)(log_params);
        let total: f64 = self
            .customers
            .iter()
            .map(|c| (self.log_likelihood)(&model, c))
            .sum();
        Ok(if total.is_finite() { -total } else { f64::MAX })
    }
}

fn minimise<M>(objective: Objective<'_, M>, start: Vec<f64>) -> Result<(Vec<f64>, f64), FitError> {
    let mut best = start;
    let mut best_cost = objective
        .cost(&best)
        .map_err(|e| FitError::NoConvergence(e.to_string()))?;
    for restart in 0..RESTARTS {
        let step = if restart == 0 { 0.5 } else { 0.1 };
        let mut simplex = vec![best.clone()];
        for i in 0..best.len() {
            let mut vertex = best.clone();
            vertex[i] += step;
            simplex.push(vertex);
        }
        let solver = NelderMead::new(simplex)
            .with_sd_tolerance(1e-12)
            .map_err(|e| FitError::NoConvergence(e.to_string()))?;
        let result = Executor::new(
            Objective {
                customers: objective.customers,
                build: objective.build,
                log_likelihood: objective.log_likelihood,
            },
            solver,
        )
        .configure(|state| state.max_iters(MAX_ITERS))
        .run()
        .map_err(|e| FitError::NoConvergence(e.to_string()))?;
        let state = result.state();
        let cost = state.get_best_cost();
        let Some(param) = state.get_best_param().cloned() else {
            break;
        };
        let improved = best_cost - cost;
        if cost < best_cost {
            best = param;
            best_cost = cost;
        }
        if restart > 0 && improved < 1e-9 {
            break;
        }
    }
    if best_cost >= f64::MAX {
        return Err(FitError::NoConvergence("no finite likelihood".into()));
    }
    Ok((best, best_cost))
}

fn bgnbd_from_logs(p: &[f64]) -> BgNbd {
    BgNbd {
        r: p[0].exp(),
        alpha: p[1].exp(),
        a: p[2].exp(),
        b: p[3].exp(),
    }
}

fn gamma_gamma_from_logs(p: &[f64]) -> GammaGamma {
    GammaGamma {
        p: p[0].exp(),
        q: p[1].exp(),
        gamma: p[2].exp(),
    }
}

/// Minimises the negative log-likelihood from log-parameters `[0; dims]` and checks
/// the result can serve.
fn fit<M: Copy + std::fmt::Debug>(
    customers: &[Customer],
    build: fn(&[f64]) -> M,
    log_likelihood: fn(&M, &Customer) -> f64,
    dims: usize,
    is_valid: fn(&M) -> bool,
) -> Result<Fitted<M>, FitError> {
    let objective = Objective {
        customers,
        build,
        log_likelihood,
    };
    let (logs, cost) = minimise(objective, vec![0.0; dims])?;
    let model = build(&logs);
    if !is_valid(&model) {
        return Err(FitError::NoConvergence(format!("{model:?}")));
    }
    Ok(Fitted {
        model,
        log_likelihood: -cost,
    })
}

/// Fits BG/NBD to every customer.
pub fn fit_bgnbd(customers: &[Customer]) -> Result<Fitted<BgNbd>, FitError> {
    if customers.is_empty() {
        return Err(FitError::NoData("no customers"));
    }
    fit(
        customers,
        bgnbd_from_logs,
        BgNbd::log_likelihood,
        4,
        BgNbd::is_valid,
    )
}

/// Fits Gamma-Gamma to the customers with at least one repeat transaction.
pub fn fit_gamma_gamma(customers: &[Customer]) -> Result<Fitted<GammaGamma>, FitError> {
    let repeat: Vec<Customer> = customers
        .iter()
        .filter(|c| c.x > 0.0 && c.mean_value > 0.0)
        .copied()
        .collect();
    if repeat.is_empty() {
        return Err(FitError::NoData(
            "no repeat customers with a positive order value",
        ));
    }
    fit(
        &repeat,
        gamma_gamma_from_logs,
        GammaGamma::log_likelihood,
        3,
        GammaGamma::is_valid,
    )
}
