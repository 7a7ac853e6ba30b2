//! Admin endpoints behind a bearer token: `POST /admin/reload`,
//! `GET /admin/campaigns/{id}/pacing`, `POST /admin/users/history`, `GET /admin/learning`.

pub mod history;
pub mod scrape;

use crate::receive::reply::{json, Body};
use crate::serving::reload::{reload_model, reload_now};
use crate::state::AppState;
use http::{header, Request, Response, StatusCode};
use std::sync::Arc;

/// Whether the request carries the configured bearer token (constant-time compare).
fn authorised<B>(state: &AppState, request: &Request<B>) -> bool {
    let expected = state.config.admin.token.as_bytes();
    let Some(given) = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
    else {
        return false;
    };
    crate::config::same_secret(given, expected)
}

/// `POST /admin/reload`: rebuild the snapshot and re-read the LTV model now, and say
/// how it went (422 when either file was rejected; what was serving keeps serving).
pub async fn reload<B>(state: Arc<AppState>, request: Request<B>) -> Response<Body> {
    if let Some(refusal) = refuse(&state, &request) {
        return refusal;
    }
    let model = match reload_model(&state, "admin") {
        Ok(version) => Ok(
            serde_json::json!({ "status": if version.is_some() { "reloaded" } else { "none" }, "version": state.model_file.version() }),
        ),
        Err(error) => Err(
            serde_json::json!({ "status": "rejected", "serving_version": state.model_file.version(), "error": error }),
        ),
    };
    match reload_now(&state, "admin").await {
        Ok(summary) => match model {
            Ok(model) => json(
                StatusCode::OK,
                &serde_json::json!({
                    "status": "reloaded", "snapshot_version": summary.version,
                    "campaigns": summary.campaigns, "creatives": summary.creatives,
                    "ltv_model": model,
                }),
            ),
            Err(model) => json(
                StatusCode::UNPROCESSABLE_ENTITY,
                &serde_json::json!({
                    "error": "LTV model file rejected; the previous model keeps serving",
                    "field": "ltv.model",
                    "snapshot_version": summary.version,
                    "ltv_model": model,
                }),
            ),
        },
        Err(error) => {
            let errors: Vec<_> = error.errors.iter().map(|e| serde_json::json!({ "file": e.file, "field": e.field, "message": e.message })).collect();
            json(
                StatusCode::UNPROCESSABLE_ENTITY,
                &serde_json::json!({
                    "error": "campaign file rejected; the previous snapshot keeps serving",
                    "field": errors.first().map(|e| e["field"].clone()).unwrap_or_default(),
                    "serving_version": state.snapshots.load().version,
                    "errors": errors,
                }),
            )
        }
    }
}

/// Refusal of an admin call: the API is off, or the token is wrong.
pub(crate) fn refuse<B>(state: &AppState, request: &Request<B>) -> Option<Response<Body>> {
    if state.config.admin.token.is_empty() {
        return Some(json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({ "error": "the admin API is disabled (no admin.token configured)", "field": "admin.token" }),
        ));
    }
    (!authorised(state, request)).then(|| {
        json(
            StatusCode::UNAUTHORIZED,
            &serde_json::json!({ "error": "missing or wrong bearer token", "field": "authorization" }),
        )
    })
}

/// `GET /admin/campaigns/{id}/pacing`: this node's pacing state of a campaign (target
/// vs actual spend, throttle, lease).
pub fn pacing<B>(state: &AppState, request: &Request<B>, id: &str) -> Response<Body> {
    if let Some(refusal) = refuse(state, request) {
        return refusal;
    }
    match state.budgets.view(id, state.clock.now_millis()) {
        Some(mut view) => {
            view["store"] = serde_json::json!(state.shared.kind());
            json(StatusCode::OK, &view)
        }
        None => {
            let known = state.serving().snapshot.campaign(id).is_some();
            let message = if known {
                "campaign has no budget, so no pacing"
            } else {
                "no such campaign"
            };
            json(
                StatusCode::NOT_FOUND,
                &serde_json::json!({ "error": message, "field": "id" }),
            )
        }
    }
}

/// `POST /admin/users/history`: seed a user's purchase history (see `server::history`).
pub async fn seed_history(
    state: Arc<AppState>,
    request: Request<hyper::body::Incoming>,
) -> Response<Body> {
    if let Some(refusal) = refuse(&state, &request) {
        return refusal;
    }
    let timeout = std::time::Duration::from_millis(state.config.limits.body_read_timeout_ms);
    match crate::receive::body::read(request, history::MAX_SEED_BYTES, timeout).await {
        Ok(bytes) => history::seed(&state, &bytes).await,
        Err(error) => json(
            error.status,
            &serde_json::json!({ "error": error.message, "field": "body" }),
        ),
    }
}

/// Most campaigns `GET /admin/learning` lists.
const MAX_LEARNING_ROWS: usize = 1_000;

/// `GET /admin/memory`: the resident set now, and what each start-up stage added to it.
pub fn memory<B>(state: &AppState, request: &Request<B>) -> Response<Body> {
    if let Some(refusal) = refuse(state, request) {
        return refusal;
    }
    json(
        StatusCode::OK,
        &serde_json::json!({
            "resident": crate::memory::Resident::now(),
            "startup": state.startup_memory.stages,
        }),
    )
}

/// `GET /admin/learning[?campaign=ID][&limit=N]`: what outcomes taught, per campaign with
/// evidence (most impressions first, at most `limit`, default 100): declared and learned
/// rates, the decayed counts behind them, and the same per page category.
pub fn learning<B>(state: &AppState, request: &Request<B>) -> Response<Body> {
    if let Some(refusal) = refuse(state, request) {
        return refusal;
    }
    let query = request.uri().query().unwrap_or("");
    let mut only = None;
    let mut limit = 100;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, raw) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
        match name {
            "campaign" if value.len() <= 256 => only = Some(value.into_owned()),
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=MAX_LEARNING_ROWS).contains(&n) => limit = n,
                _ => {
                    return json(
                        StatusCode::BAD_REQUEST,
                        &serde_json::json!({ "error": format!("limit must be in 1..={MAX_LEARNING_ROWS}"), "field": "limit" }),
                    )
                }
            },
            _ => {
                return json(
                    StatusCode::BAD_REQUEST,
                    &serde_json::json!({ "error": "unknown or oversized parameter (campaign, limit)", "field": name }),
                )
            }
        }
    }
    let serving = state.serving();
    let snapshot = &serving.snapshot;
    let row = |learned: &crate::learning::Learned, campaign: &crate::campaign::Campaign| {
        serde_json::json!({
            "ctr": campaign.base_ctr * learned.ctr_lift,
            "cvr": campaign.base_cvr * learned.cvr_lift,
            "ctr_lift": learned.ctr_lift, "cvr_lift": learned.cvr_lift,
            "impressions": learned.impressions, "clicks": learned.clicks, "orders": learned.orders,
        })
    };
    let mut rows: Vec<(f64, serde_json::Value)> = Vec::new();
    for (id, campaign) in snapshot.campaigns.iter().enumerate() {
        if only.as_deref().is_some_and(|o| o != campaign.id) {
            continue;
        }
        let Some((overall, categories)) = serving.learned.of_campaign(id) else {
            continue;
        };
        if overall.impressions + overall.clicks + overall.orders <= 0.0 {
            continue;
        }
        let mut entry = row(&overall, campaign);
        entry["campaign"] = serde_json::json!(campaign.id);
        entry["declared_ctr"] = serde_json::json!(campaign.base_ctr);
        entry["declared_cvr"] = serde_json::json!(campaign.base_cvr);
        entry["categories"] = categories
            .iter()
            .map(|(key, learned)| {
                let mut cell = row(learned, campaign);
                cell["category"] = serde_json::json!(crate::learning::category_label(*key));
                cell
            })
            .collect();
        rows.push((overall.impressions, entry));
    }
    if let Some(id) = &only {
        if snapshot.campaign(id).is_none() {
            return json(
                StatusCode::NOT_FOUND,
                &serde_json::json!({ "error": "no such campaign", "field": "campaign" }),
            );
        }
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    let learning = &state.config.learning;
    json(
        StatusCode::OK,
        &serde_json::json!({
            "enabled": learning.enabled,
            "half_life_hours": learning.half_life_hours,
            "explore": learning.explore,
            "counts": state.learner.refreshes.load(std::sync::atomic::Ordering::Relaxed),
            "cells": state.learner.cells(),
            "max_boost": serving.learned.max_boost(),
            "campaigns": rows.into_iter().take(limit).map(|r| r.1).collect::<Vec<_>>(),
        }),
    )
}
