//! Privacy-preserving aggregate reports (`privacy::dp`): `GET /publisher/report` (the
//! publisher's statement token: cells by placement) and `GET /orders/report` (the
//! advertiser's credentials: cells by campaign), each cell a page category and a day, with
//! noisy impressions, valid clicks and attributed orders. `from`, `to` (days, inclusive,
//! at most `reports.max_days` apart) and `epsilon` (at most `reports.max_epsilon`) are
//! asked; every report spends its ε from the consumer's budget over a rolling window,
//! checked and spent in the database transaction that reads the data; a report that would
//! exceed it is refused (429) with what is left.

use crate::affiliate::auth::authenticate_publisher;
use crate::affiliate::database::{Ask, Scope, Spend};
use crate::config::ReportsConfig;
use crate::privacy::dp::{bound, Bounds, Mechanism, METRICS};
use crate::receive::reply::{json, Body};
use crate::state::AppState;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use std::sync::Arc;

const DAY_MS: i64 = 86_400_000;

/// What the guarantee means, sent with every report.
pub const GUARANTEE: &str = "Whether or not any one user's data is in this report, every \
     possible report is at most e^epsilon times as likely, except with probability delta. \
     Each user counts in at most max_cells cells and at most max_per_cell of each metric \
     per cell; every count has Laplace noise of the stated scale and is rounded; cells \
     whose noisy impressions are under the threshold are withheld. Reports add up: each \
     one spends its epsilon from your budget over the window.";

fn problem(status: StatusCode, field: &str, message: &str) -> Response<Body> {
    json(
        status,
        &serde_json::json!({ "error": message, "field": field }),
    )
}

/// `GET /publisher/report?from=YYYY-MM-DD&to=YYYY-MM-DD&epsilon=`.
pub async fn publisher(state: Arc<AppState>, request: Request<Incoming>) -> Response<Body> {
    let registry = &state.serving().snapshot.publishers;
    let publisher = match authenticate_publisher(request.headers(), registry) {
        Ok(publisher) => publisher,
        Err(error) => return problem(StatusCode::UNAUTHORIZED, error.field, error.message),
    };
    let query = request.uri().query().unwrap_or("").to_owned();
    report(state, Scope::Publisher(publisher), &query).await
}

/// `GET /orders/report?from=&to=&epsilon=`, authenticated as `POST /orders` is.
pub async fn advertiser(state: Arc<AppState>, request: Request<Incoming>) -> Response<Body> {
    let query = request.uri().query().unwrap_or("").to_owned();
    let (advertiser, _, _) =
        match crate::affiliate::orders_in::authenticated_call(&state, request, 1024).await {
            Ok(call) => call,
            Err(response) => return response,
        };
    report(state, Scope::Advertiser(advertiser), &query).await
}

/// A refused ask: the field and why.
type Refusal = (String, String);

fn refuse(field: &str, message: &str) -> Refusal {
    (field.to_owned(), message.to_owned())
}

/// The asked range and ε, checked.
fn read_query(query: &str, config: &ReportsConfig) -> Result<(i64, i64, f64), Refusal> {
    let mut from = None;
    let mut to = None;
    let mut epsilon = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(value)
            .decode_utf8_lossy()
            .into_owned();
        match key {
            "from" => from = Some(value),
            "to" => to = Some(value),
            "epsilon" => epsilon = Some(value),
            other => {
                return Err(refuse(
                    other,
                    "unknown parameter: from, to and epsilon are read",
                ))
            }
        }
    }
    let day = |value: Option<String>, field: &str| {
        value
            .as_deref()
            .and_then(crate::ltv::orders::parse_date)
            .map(|d| d.midnight().assume_utc().unix_timestamp() * 1000)
            .ok_or_else(|| refuse(field, "a day, YYYY-MM-DD (UTC)"))
    };
    let from_ms = day(from, "from")?;
    let to_ms = day(to, "to")? + DAY_MS;
    let days = (to_ms - from_ms) / DAY_MS;
    if days < 1 || days > i64::from(config.max_days) {
        return Err(refuse(
            "to",
            &format!("from ≤ to, at most {} days", config.max_days),
        ));
    }
    let epsilon: f64 = epsilon
        .as_deref()
        .and_then(|e| e.parse().ok())
        .filter(|e: &f64| e.is_finite() && *e > 0.0 && *e <= config.max_epsilon)
        .ok_or_else(|| {
            refuse(
                "epsilon",
                &format!("a number in (0, {}]", config.max_epsilon),
            )
        })?;
    Ok((from_ms, to_ms, epsilon))
}

async fn report(state: Arc<AppState>, scope: Scope, query: &str) -> Response<Body> {
    let config = state.config.reports.clone();
    let (from_ms, to_ms, epsilon) = match read_query(query, &config) {
        Ok(asked) => asked,
        Err((field, message)) => return problem(StatusCode::BAD_REQUEST, &field, &message),
    };
    let Some(database) = state.affiliate.database.clone() else {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "database",
            "no affiliate database: nothing to report",
        );
    };
    let now_ms = state.clock.now_millis();
    let ask = Ask {
        scope: scope.clone(),
        from_ms,
        to_ms,
        epsilon,
        budget: config.budget_epsilon,
        window_from_ms: now_ms - i64::from(config.window_days) * DAY_MS,
        now_ms,
        max_rows: config.max_rows,
    };
    let read = tokio::task::spawn_blocking(move || database.dp_report(&ask)).await;
    let spend = match read {
        Ok(Ok(spend)) => spend,
        _ => {
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "database",
                "affiliate database unavailable (nothing was spent)",
            )
        }
    };
    let budget = |spent: f64| {
        serde_json::json!({
            "epsilon": config.budget_epsilon,
            "window_days": config.window_days,
            "spent": spent,
            "remaining": (config.budget_epsilon - spent).max(0.0),
        })
    };
    let (spent_before, rows) = match spend {
        Spend::Granted { spent_before, rows } => (spent_before, rows),
        Spend::Refused { spent } => {
            return json(
                StatusCode::TOO_MANY_REQUESTS,
                &serde_json::json!({
                    "error": "privacy budget exhausted: this report would exceed it",
                    "field": "epsilon",
                    "budget": budget(spent),
                }),
            )
        }
        Spend::TooLarge => {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "to",
                "too much data for one report: ask for fewer days (nothing was spent)",
            )
        }
    };
    let mechanism = config.mechanism(epsilon);
    let cells = bound(rows, mechanism.bounds);
    let released = mechanism.release(cells, &mut rand::thread_rng());
    let dimension = match scope {
        Scope::Publisher(_) => "placement",
        Scope::Advertiser(_) => "campaign",
    };
    let cells: Vec<serde_json::Value> = released
        .into_iter()
        .map(|r| {
            let (key, category, day) = r.cell;
            let mut cell = serde_json::Map::new();
            cell.insert(dimension.to_owned(), key.into());
            cell.insert(
                "category".to_owned(),
                category.map(crate::learning::category_label).into(),
            );
            let date = time::OffsetDateTime::from_unix_timestamp(day * 86_400)
                .ok()
                .map(|d| d.date().to_string());
            cell.insert("day".to_owned(), date.into());
            for (name, value) in METRICS.iter().zip(r.counts) {
                cell.insert((*name).to_owned(), (value as u64).into());
            }
            serde_json::Value::Object(cell)
        })
        .collect();
    json(
        StatusCode::OK,
        &serde_json::json!({
            "by": [dimension, "category", "day"],
            "epsilon": epsilon,
            "delta": mechanism.delta(),
            "sensitivity": mechanism.sensitivity(),
            "noise_scale": mechanism.scale(),
            "threshold": mechanism.threshold,
            "bounds": {
                "max_cells": mechanism.bounds.max_cells,
                "max_per_cell": mechanism.bounds.max_per_cell,
            },
            "budget": budget(spent_before + epsilon),
            "guarantee": GUARANTEE,
            "cells": cells,
        }),
    )
}

impl ReportsConfig {
    /// The mechanism for a report spending `epsilon`: the threshold set so that δ is at
    /// most `delta`.
    pub fn mechanism(&self, epsilon: f64) -> Mechanism {
        let bounds = Bounds {
            max_cells: self.max_cells_per_user,
            max_per_cell: self.max_per_cell,
        };
        let mut mechanism = Mechanism {
            epsilon,
            bounds,
            threshold: 0.0,
        };
        // δ = max_cells × ½ × exp(−(threshold − max_per_cell) / scale).
        let half_cells = bounds.max_cells as f64 * 0.5;
        mechanism.threshold = bounds.max_per_cell as f64
            + mechanism.scale() * (half_cells / self.delta).ln().max(0.0);
        mechanism
    }
}
