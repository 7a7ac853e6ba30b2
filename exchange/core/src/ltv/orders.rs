//! Order history in, model inputs out: reads `customer_id,date,amount` CSV (bounded,
//! every bad line named), merges a customer's same-day orders into one transaction, and
//! summarises each customer at the end of a calibration period (weeks of 7 days), with
//! the repeat transactions of an optional holdout period after it.

use super::model::Customer;
use std::collections::BTreeMap;
use time::macros::format_description;
use time::Date;

/// Most order lines read.
pub const MAX_ORDERS: usize = 50_000_000;
/// Longest customer id.
const MAX_CUSTOMER_ID: usize = 128;

/// One customer's transactions (same-day orders merged), sorted by day.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// (day, amount) per transaction.
    pub transactions: Vec<(Date, f64)>,
}

/// A bad order file: the line and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct OrderError {
    /// 1-based line number (0: the file as a whole).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Option<Date> {
    Date::parse(text.trim(), format_description!("[year]-[month]-[day]")).ok()
}

/// Reads order CSV text (header `customer_id,date,amount`) into histories by customer.
pub fn read_orders(text: &str) -> Result<BTreeMap<String, History>, OrderError> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, header)) if header.trim() == "customer_id,date,amount" => {}
        _ => {
            return Err(OrderError {
                line: 1,
                message: "the header must be customer_id,date,amount".into(),
            })
        }
    }
    let mut by_day: BTreeMap<String, BTreeMap<Date, f64>> = BTreeMap::new();
    let mut count = 0usize;
    for (index, line) in lines {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        count += 1;
        if count > MAX_ORDERS {
            return Err(OrderError {
                line: number,
                message: format!("more than {MAX_ORDERS} orders"),
            });
        }
        let bad = |message: &str| OrderError {
            line: number,
            message: message.to_owned(),
        };
        let mut fields = line.split(',');
        let (Some(id), Some(date), Some(amount), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(bad("need exactly customer_id,date,amount"));
        };
        let id = id.trim();
        if id.is_empty() || id.len() > MAX_CUSTOMER_ID {
            return Err(bad("customer_id must be 1-128 characters"));
        }
        let date = parse_date(date).ok_or_else(|| bad("date must be YYYY-MM-DD"))?;
        let amount: f64 = amount
            .trim()
            .parse()
            .ok()
            .filter(|a: &f64| a.is_finite() && *a >= 0.0 && *a <= 1e9)
            .ok_or_else(|| bad("amount must be a number between 0 and 1e9"))?;
        *by_day
            .entry(id.to_owned())
            .or_default()
            .entry(date)
            .or_default() += amount;
    }
    if by_day.is_empty() {
        return Err(OrderError {
            line: 0,
            message: "no orders".into(),
        });
    }
    Ok(by_day
        .into_iter()
        .map(|(id, days)| {
            (
                id,
                History {
                    transactions: days.into_iter().collect(),
                },
            )
        })
        .collect())
}

/// Weeks between two days.
fn weeks(from: Date, to: Date) -> f64 {
    (to - from).whole_days() as f64 / 7.0
}

/// A customer summarised at the end of calibration, with the holdout's repeat count.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Customer id.
    pub id: String,
    /// The model inputs at the end of calibration.
    pub customer: Customer,
    /// Transactions in the holdout period (after calibration, up to its end).
    pub holdout_transactions: f64,
}

/// Every customer whose first transaction is on or before `calibration_end`, summarised
/// then; holdout transactions counted up to `holdout_end` when given.
pub fn summarise(
    histories: &BTreeMap<String, History>,
    calibration_end: Date,
    holdout_end: Option<Date>,
) -> Vec<Summary> {
    histories
        .iter()
        .filter_map(|(id, history)| {
            let &(first, _) = history.transactions.first()?;
            if first > calibration_end {
                return None;
            }
            let repeats: Vec<&(Date, f64)> = history
                .transactions
                .iter()
                .skip(1)
                .filter(|(day, _)| *day <= calibration_end)
                .collect();
            let x = repeats.len() as f64;
            let last = repeats.last().map_or(first, |(day, _)| *day);
            let mean_value = if repeats.is_empty() {
                0.0
            } else {
                repeats.iter().map(|(_, amount)| amount).sum::<f64>() / x
            };
            let holdout_transactions = holdout_end.map_or(0.0, |end| {
                history
                    .transactions
                    .iter()
                    .filter(|(day, _)| *day > calibration_end && *day <= end)
                    .count() as f64
            });
            Some(Summary {
                id: id.clone(),
                customer: Customer {
                    x,
                    t_x: weeks(first, last),
                    age: weeks(first, calibration_end),
                    mean_value,
                },
                holdout_transactions,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_day_orders_merge_and_bad_lines_are_named() {
        let text = "customer_id,date,amount\na,2026-01-01,10\na,2026-01-01,5\na,2026-01-15,20\nb,2026-02-01,7\n";
        let histories = read_orders(text).expect("valid");
        assert_eq!(histories["a"].transactions.len(), 2);
        assert_eq!(histories["a"].transactions[0].1, 15.0);
        let end = parse_date("2026-01-29").expect("date");
        let summaries = summarise(&histories, end, None);
        assert_eq!(summaries.len(), 1, "b starts after calibration");
        let a = &summaries[0].customer;
        assert_eq!((a.x, a.t_x, a.age, a.mean_value), (1.0, 2.0, 4.0, 20.0));
        for (bad, line) in [
            ("customer_id,date,amount\na,2026-13-01,1\n", 2),
            ("customer_id,date,amount\na,2026-01-01,-1\n", 2),
            ("customer_id,date,amount\na,2026-01-01,1\na,2026-01-02\n", 3),
            ("customer_id,date,amount\n,2026-01-01,1\n", 2),
            ("id,when,value\n", 1),
        ] {
            assert_eq!(read_orders(bad).expect_err(bad).line, line, "{bad}");
        }
        assert!(read_orders("customer_id,date,amount\n").is_err());
    }
}
