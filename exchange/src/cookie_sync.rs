//! `POST /cookie_sync`, as Prebid.js calls it (`s2sConfig.syncEndpoint`) to learn which
//! bidders want a user sync. The exchange has no sync partners yet, so the answer is
//! Prebid Server's documented empty one — `{"status": …, "bidder_status": []}` — with
//! `status` `ok` when the browser already carries the exchange's user cookie and
//! `no_cookie` otherwise. The request is still read and checked (bounded, JSON, the known
//! fields typed), so a malformed one is a clear 400, not a silent 200.

use crate::config::FirstPartyIdConfig;
use crate::enrich::uid::read_cookie;
use crate::receive::body;
use crate::receive::reply::{json, Body};
use http::{header, Request, Response, StatusCode};
use hyper::body::Incoming;
use std::time::Duration;

/// Largest `/cookie_sync` body read (a list of bidder codes and consent strings).
pub const MAX_SYNC_BYTES: usize = 16 * 1024;

/// Most bidder codes read from one request.
pub const MAX_SYNC_BIDDERS: usize = 64;

/// Answers one `/cookie_sync` call; `status` is `ok` when the browser carries a well-formed
/// user-id cookie (`config.cookie`).
pub async fn answer(
    request: Request<Incoming>,
    config: &FirstPartyIdConfig,
    timeout: Duration,
) -> Response<Body> {
    let cookies = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let has_uid = config.enabled() && read_cookie(cookies, &config.cookie).is_some();
    let bytes = match body::read(request, MAX_SYNC_BYTES, timeout).await {
        Ok(bytes) => bytes,
        Err(error) => {
            return json(
                error.status,
                &serde_json::json!({ "error": error.message, "field": "body" }),
            )
        }
    };
    if let Err((field, message)) = check(&bytes) {
        return json(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({ "error": message, "field": field }),
        );
    }
    let status = if has_uid { "ok" } else { "no_cookie" };
    json(
        StatusCode::OK,
        &serde_json::json!({ "status": status, "bidder_status": [] }),
    )
}

/// An empty body, or a JSON object whose known fields have their types.
fn check(bytes: &[u8]) -> Result<(), (&'static str, String)> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ("body", format!("not JSON: {e}")))?;
    let object = value
        .as_object()
        .ok_or(("body", "a JSON object".to_owned()))?;
    if let Some(bidders) = object.get("bidders") {
        let list = bidders
            .as_array()
            .ok_or(("bidders", "a list of bidder codes".to_owned()))?;
        if list.len() > MAX_SYNC_BIDDERS
            || !list
                .iter()
                .all(|b| b.as_str().is_some_and(|s| s.len() <= 64))
        {
            return Err((
                "bidders",
                format!("at most {MAX_SYNC_BIDDERS} codes of at most 64 bytes"),
            ));
        }
    }
    for field in ["gdpr_consent", "us_privacy", "gpp", "gpp_sid"] {
        if object.get(field).is_some_and(|v| !v.is_string()) {
            return Err((field, "a string".to_owned()));
        }
    }
    if object
        .get("gdpr")
        .is_some_and(|v| !matches!(v.as_i64(), Some(0 | 1)))
    {
        return Err(("gdpr", "0 or 1".to_owned()));
    }
    Ok(())
}
