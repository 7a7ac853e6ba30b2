//! `exchange train-ltv`: fit both models on a calibration period of an order file, write
//! the model file, and with a holdout period judge the predictions (predicted vs actual
//! repeat transactions in total and by decile of predicted value, normalised Gini).

use super::fit::{fit_bgnbd, fit_gamma_gamma};
use super::model::{BgNbd, Customer, GammaGamma};
use super::orders::{read_orders, summarise};
use serde::{Deserialize, Serialize};
use std::fmt;
use time::Date;

/// The model file (`configs/models/*.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LtvModel {
    /// Purchase-frequency and drop-out model.
    pub bgnbd: BgNbd,
    /// Order-value model.
    pub gamma_gamma: GammaGamma,
    /// Log-likelihoods of the fits.
    pub log_likelihood: LogLikelihoods,
    /// Time unit of every rate and age: `weeks`.
    pub time_unit: String,
    /// Last day of the calibration period the fit used.
    pub calibration_end: String,
    /// Customers in the BG/NBD fit.
    pub customers: usize,
}

/// Log-likelihoods of the two fits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogLikelihoods {
    /// BG/NBD, over every customer.
    pub bgnbd: f64,
    /// Gamma-Gamma, over the repeat customers.
    pub gamma_gamma: f64,
}

impl LtvModel {
    /// Parses and validates a model file's text.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let model: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        model.validate()?;
        Ok(model)
    }

    /// Checks that the parameters can serve: finite and positive, weeks, Gamma-Gamma
    /// `q` > 1 (a finite mean order value).
    pub fn validate(&self) -> Result<(), String> {
        if !self.bgnbd.is_valid() {
            return Err("bgnbd: r, alpha, a and b must be finite and positive".into());
        }
        if !self.gamma_gamma.is_valid() || self.gamma_gamma.q <= 1.0 {
            return Err("gamma_gamma: p, gamma must be positive and q > 1".into());
        }
        if self.time_unit != "weeks" {
            return Err("time_unit must be \"weeks\"".into());
        }
        Ok(())
    }
}

/// One decile of customers by predicted repeat transactions (highest first).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Decile {
    /// Customers in it.
    pub customers: usize,
    /// Predicted transactions, summed.
    pub predicted: f64,
    /// Actual transactions, summed.
    pub actual: f64,
}

/// How the model predicted the holdout period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HoldoutReport {
    /// Holdout length, weeks.
    pub weeks: f64,
    /// Predicted repeat transactions, all customers.
    pub predicted: f64,
    /// Actual repeat transactions, all customers.
    pub actual: f64,
    /// By decile of predicted value, highest first.
    pub deciles: Vec<Decile>,
    /// Normalised Gini of actual transactions ordered by prediction (1: perfect order).
    pub normalised_gini: f64,
}

impl fmt::Display for HoldoutReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "holdout {:.1} weeks: predicted {:.1} repeat transactions, actual {:.0} ({:+.1}%)",
            self.weeks,
            self.predicted,
            self.actual,
            (self.predicted / self.actual.max(1e-9) - 1.0) * 100.0
        )?;
        writeln!(f, "decile  customers  predicted     actual")?;
        for (i, d) in self.deciles.iter().enumerate() {
            writeln!(
                f,
                "{:>6}  {:>9}  {:>9.1}  {:>9.0}",
                i + 1,
                d.customers,
                d.predicted,
                d.actual
            )?;
        }
        writeln!(f, "normalised Gini {:.3}", self.normalised_gini)
    }
}

/// Gini of `actual` ordered by `score` (descending; ties keep their order).
fn gini(actual: &[f64], score: &[f64]) -> f64 {
    let n = actual.len();
    let total: f64 = actual.iter().sum();
    if n == 0 || total <= 0.0 {
        return 0.0;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| score[j].total_cmp(&score[i]));
    let mut cumulative = 0.0;
    let mut sum = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        cumulative += actual[i];
        sum += cumulative / total - (rank + 1) as f64 / n as f64;
    }
    sum / n as f64
}

/// Judges `model` on the holdout: customers with their actual holdout transactions.
pub fn holdout_report(model: &BgNbd, customers: &[(Customer, f64)], weeks: f64) -> HoldoutReport {
    let predicted: Vec<f64> = customers
        .iter()
        .map(|(c, _)| model.expected_purchases(c, weeks).unwrap_or(0.0))
        .collect();
    let actual: Vec<f64> = customers.iter().map(|(_, a)| *a).collect();
    let mut order: Vec<usize> = (0..customers.len()).collect();
    order.sort_by(|&i, &j| predicted[j].total_cmp(&predicted[i]));
    let deciles = (0..10)
        .map(|d| {
            let from = order.len() * d / 10;
            let to = order.len() * (d + 1) / 10;
            let slice = &order[from..to];
            Decile {
                customers: slice.len(),
                predicted: slice.iter().map(|&i| predicted[i]).sum(),
                actual: slice.iter().map(|&i| actual[i]).sum(),
            }
        })
        .collect();
    let best = gini(&actual, &actual);
    HoldoutReport {
        weeks,
        predicted: predicted.iter().sum(),
        actual: actual.iter().sum(),
        deciles,
        normalised_gini: if best > 0.0 {
            gini(&actual, &predicted) / best
        } else {
            0.0
        },
    }
}

/// Fits both models on the orders up to `calibration_end`; with `holdout_end`, also
/// judges the prediction of the transactions after it.
pub fn train(
    orders_csv: &str,
    calibration_end: Date,
    holdout_end: Option<Date>,
) -> Result<(LtvModel, Option<HoldoutReport>), String> {
    if holdout_end.is_some_and(|end| end <= calibration_end) {
        return Err("the holdout must end after the calibration period".into());
    }
    let histories = read_orders(orders_csv).map_err(|e| e.to_string())?;
    let summaries = summarise(&histories, calibration_end, holdout_end);
    let customers: Vec<Customer> = summaries.iter().map(|s| s.customer).collect();
    let bgnbd = fit_bgnbd(&customers).map_err(|e| e.to_string())?;
    let gamma_gamma = fit_gamma_gamma(&customers).map_err(|e| e.to_string())?;
    let model = LtvModel {
        bgnbd: bgnbd.model,
        gamma_gamma: gamma_gamma.model,
        log_likelihood: LogLikelihoods {
            bgnbd: bgnbd.log_likelihood,
            gamma_gamma: gamma_gamma.log_likelihood,
        },
        time_unit: "weeks".into(),
        calibration_end: calibration_end.to_string(),
        customers: customers.len(),
    };
    let report = holdout_end.map(|end| {
        let weeks = (end - calibration_end).whole_days() as f64 / 7.0;
        let judged: Vec<(Customer, f64)> = summaries
            .iter()
            .map(|s| (s.customer, s.holdout_transactions))
            .collect();
        holdout_report(&model.bgnbd, &judged, weeks)
    });
    Ok((model, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gini_is_one_for_a_perfect_order_and_near_zero_for_a_reversed_flat_one() {
        let actual = [0.0, 0.0, 1.0, 5.0];
        assert!((gini(&actual, &actual) / gini(&actual, &actual) - 1.0).abs() < 1e-12);
        let reversed = [4.0, 3.0, 2.0, 1.0];
        assert!(gini(&actual, &reversed) < 0.0, "worst order is negative");
    }
}
