//! `loadtest seed-history`: gives the users a scenario sends (`u-1` … `u-N`, Zipf rank
//! order, so the busiest users come first) purchase histories drawn from the BG/NBD and
//! Gamma-Gamma processes (`exchange::ltv::synthetic`), through the exchange's
//! `POST /admin/users/history`. A run after it prices those users by their predicted LTV.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::collections::BTreeMap;
use time::{Date, Duration};

/// Most users seeded in one call of [`seed`].
pub const MAX_USERS: usize = 1_000_000;

/// What seeding did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedSummary {
    /// Users whose history was stored.
    pub stored: usize,
    /// Users the exchange refused (with the first refusal).
    pub refused: usize,
    /// The first refusal, if any.
    pub first_error: Option<String>,
}

/// Each user's orders (`date`, `amount`) up to `today`, drawn for `users` users.
pub fn histories(users: usize, today: Date, seed: u64) -> anyhow::Result<Vec<Vec<(Date, f64)>>> {
    anyhow::ensure!(
        (1..=MAX_USERS).contains(&users),
        "users must be 1..={MAX_USERS}"
    );
    let mut population =
        exchange::ltv::synthetic::Population::ecommerce(today - Duration::days(546), seed);
    population.customers = users;
    let csv = exchange::ltv::synthetic::generate(&population).map_err(anyhow::Error::msg)?;
    let mut by_user: BTreeMap<usize, Vec<(Date, f64)>> = BTreeMap::new();
    for line in csv.lines().skip(1) {
        let mut fields = line.split(',');
        let (Some(id), Some(date), Some(amount)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let id: usize = id.trim_start_matches('c').parse()?;
        let date = exchange::ltv::orders::parse_date(date)
            .ok_or_else(|| anyhow::anyhow!("generated an unreadable date {date:?}"))?;
        if date <= today {
            by_user.entry(id).or_default().push((date, amount.parse()?));
        }
    }
    Ok((1..=users)
        .map(|id| by_user.remove(&id).unwrap_or_default())
        .collect())
}

/// Seeds `users` users at `target` (`http://host:port`) with `token`.
pub async fn seed(
    target: &str,
    token: &str,
    users: usize,
    today: Date,
    seed: u64,
) -> anyhow::Result<SeedSummary> {
    let url: http::Uri = format!("{}/admin/users/history", target.trim_end_matches('/')).parse()?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut summary = SeedSummary::default();
    for (index, orders) in histories(users, today, seed)?.into_iter().enumerate() {
        if orders.is_empty() {
            continue;
        }
        let orders: Vec<serde_json::Value> = orders
            .iter()
            .map(|(date, amount)| serde_json::json!({"date": date.to_string(), "amount": amount}))
            .collect();
        let body =
            serde_json::json!({"user": {"id": format!("u-{}", index + 1)}, "orders": orders});
        let request = http::Request::post(url.clone())
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))?;
        let response = client.request(request).await?;
        let status = response.status();
        let answer = response.into_body().collect().await?.to_bytes();
        if status.is_success() {
            summary.stored += 1;
        } else {
            summary.refused += 1;
            summary
                .first_error
                .get_or_insert_with(|| format!("{status}: {}", String::from_utf8_lossy(&answer)));
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histories_are_seeded_deterministic_and_never_in_the_future() {
        let today = time::macros::date!(2026 - 11 - 28);
        let a = histories(200, today, 7).expect("histories");
        assert_eq!(a, histories(200, today, 7).expect("again"));
        assert_eq!(a.len(), 200);
        let buyers = a.iter().filter(|h| !h.is_empty()).count();
        let repeat = a.iter().filter(|h| h.len() > 1).count();
        assert!(
            buyers > 150 && repeat > 30,
            "{buyers} buyers, {repeat} repeat"
        );
        assert!(a.iter().flatten().all(|(d, v)| *d <= today && *v > 0.0));
        assert!(histories(0, today, 7).is_err());
    }
}
