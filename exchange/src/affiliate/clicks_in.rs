//! `GET /c/ad?{signed}`: the click URL of a served ad, and `GET /c/p?{signed}` (or its
//! short code): a promotion link's. Verified first ([`crate::click::verify`],
//! [`crate::click::verify_link`]: signed by an active key, of the layout, unexpired); a
//! refused click is answered with its reason (no redirect), counted, and records nothing.
//! A verified one gets a fresh click id, is queued for the database (off the request path)
//! and is answered `302` to the creative's own landing URL — looked up in the serving
//! snapshot, never taken from the request — with the click id under the campaign's
//! parameter. Clicks the path can already judge are flagged (`too_fast`: within
//! [`TOO_FAST_MS`] of serving; `bot_agent`: a crawler's user agent) and still sent on;
//! whether a click is the first of its impression is decided by the database.

use super::database::ClickRecord;
use crate::click::{self, VerifiedClick};
use crate::notice::Rejection;
use crate::receive::reply::{json, Body};
use crate::state::AppState;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bidder_sdk::notice::MAX_NOTICE_QUERY;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;

/// A click this soon after its ad was served is no person's (ms).
pub const TOO_FAST_MS: i64 = 300;

fn refuse(state: &AppState, reason: Rejection) -> Response<Body> {
    if let Some(at) = Rejection::ALL.iter().position(|r| *r == reason) {
        state.affiliate.refused.0[at].fetch_add(1, Relaxed);
    }
    let status = match reason {
        Rejection::Unsigned | Rejection::UnknownKey | Rejection::BadSignature => {
            StatusCode::FORBIDDEN
        }
        Rejection::Expired | Rejection::UnknownCampaign => StatusCode::GONE,
        _ => StatusCode::BAD_REQUEST,
    };
    json(
        status,
        &serde_json::json!({
            "error": reason.message().replace("notice", "click"),
            "field": reason.field(),
            "reason": reason.as_str(),
        }),
    )
}

/// Answers an ad click (`/c/ad`): 302 to the landing URL with the click id, or the refusal.
pub fn receive(
    state: &AppState,
    query: &str,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> Response<Body> {
    land(state, query, headers, peer, click::verify)
}

/// Answers a promotion link's click (`/c/p`, or `/s/{code}` resolved to it).
pub fn receive_link(
    state: &AppState,
    query: &str,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> Response<Body> {
    land(state, query, headers, peer, click::verify_link)
}

/// Verifies a click with `verify`, queues its record and sends the user on.
fn land(
    state: &AppState,
    query: &str,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    verify: fn(&crate::notice::KeyRing, &str, i64) -> Result<VerifiedClick, Rejection>,
) -> Response<Body> {
    if query.len() > MAX_NOTICE_QUERY {
        return refuse(state, Rejection::Malformed);
    }
    let now_ms = state.clock.now_millis();
    let click = match verify(&state.notice_keys, query, now_ms.div_euclid(1000)) {
        Ok(click) => click,
        Err(reason) => return refuse(state, reason),
    };
    let serving = state.serving();
    let Some(campaign) = serving.snapshot.campaign(&click.campaign) else {
        return refuse(state, Rejection::UnknownCampaign);
    };
    let Some(creative) = campaign.creatives.iter().find(|c| c.id == click.creative) else {
        return refuse(state, Rejection::UnknownCampaign);
    };
    let click_id = new_click_id();
    let location = click::landing_with_click_id(
        &creative.landing_url,
        &campaign.attribution.click_id_param,
        &click_id,
    );
    let caller = crate::receive::caller::navigation(headers, peer, &state.config);
    // A promotion link has no serving time (`served_ms` 0): never too fast.
    let flag = if click.served_ms > 0 && now_ms - click.served_ms < TOO_FAST_MS {
        Some("too_fast")
    } else if caller
        .user_agent
        .as_deref()
        .and_then(crate::enrich::agent::parse)
        .is_some_and(|agent| agent.crawler)
    {
        Some("bot_agent")
    } else {
        None
    };
    let mut click = click;
    if click.imp.is_empty() {
        // A link's clicks are not of one impression: each is its own.
        click.imp.clone_from(&click_id);
    }
    state.affiliate.clicks.push(record(
        click,
        click_id,
        campaign.advertiser.clone(),
        now_ms,
        caller,
        flag,
    ));
    let Ok(location) = HeaderValue::from_str(&location) else {
        // The landing URL was validated at load (no spaces or controls).
        return refuse(state, Rejection::UnknownCampaign);
    };
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::FOUND;
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// 128 random bits, base64url: unguessable, so a click id cannot be made up for an order.
fn new_click_id() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

fn record(
    click: VerifiedClick,
    click_id: String,
    advertiser: String,
    now_ms: i64,
    caller: crate::enrich::Caller,
    flag: Option<&'static str>,
) -> ClickRecord {
    let provenance = click.provenance;
    ClickRecord {
        click_id,
        at_ms: now_ms,
        auction: click.auction,
        imp: click.imp,
        campaign: click.campaign,
        creative: click.creative,
        advertiser,
        user: click.user,
        publisher: provenance.publisher.map(Into::into),
        placement: provenance.placement.map(Into::into),
        sub_id: provenance.sub_id.map(Into::into),
        source_mismatch: provenance.source_mismatch,
        page_category: provenance.page_category,
        cpc_micros: click.cpc_micros,
        commission_rate: click.commission_rate,
        served_ms: click.served_ms,
        ip: caller.ip.map(|ip| ip.to_string()),
        user_agent: caller.user_agent,
        flag,
    }
}
