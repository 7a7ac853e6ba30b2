//! Admin endpoints behind a bearer token: `POST /admin/reload`,
//! `GET /admin/campaigns/{id}/pacing`, `POST /admin/users/history`.

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
