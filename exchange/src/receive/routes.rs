//! Routing: which handler answers which method and path, and the HTTP form of every
//! reply (status, headers, JSON errors).

use super::body;
use crate::endpoint;
use crate::enrich::uid;
use crate::state::AppState;
use crate::{admin, notices_in};
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::reply::{json, text, Body};

/// Which endpoints a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything (no separate admin listener).
    All,
    /// Auctions and notices; not `/metrics` or `/admin/*` (those have their own listener).
    Public,
    /// `/metrics`, `/admin/*` and the probes only.
    Admin,
}

impl Role {
    /// Whether this listener serves `path`.
    pub fn serves(self, path: &str) -> bool {
        let operator = is_operator(path);
        match self {
            Self::All => true,
            Self::Public => !operator,
            Self::Admin => operator || path == "/healthz" || path == "/readyz",
        }
    }
}

/// The operator's endpoints: no CORS, and on the admin listener when there is one.
fn is_operator(path: &str) -> bool {
    path == "/metrics" || path.starts_with("/admin/")
}

/// The public endpoints a page on another origin may call (CORS preflights answered).
const CROSS_ORIGIN_PATHS: [&str; 6] = [
    "/openrtb2/auction",
    "/cookie_sync",
    "/notice/win",
    "/notice/bill",
    "/healthz",
    "/readyz",
];

/// Answers one request that arrived on a listener of `role` from `peer`.
pub async fn route(
    state: Arc<AppState>,
    request: Request<Incoming>,
    role: Role,
    peer: Option<IpAddr>,
) -> Response<Body> {
    let path = request.uri().path();
    if !role.serves(path) {
        return no_such_endpoint();
    }
    if !CROSS_ORIGIN_PATHS.contains(&path) {
        return dispatch(state, request, peer).await;
    }
    if request.method() == Method::OPTIONS {
        return state.cors.preflight(request.headers());
    }
    let origin = state.cors.allowed_origin(request.headers());
    let cors_state = Arc::clone(&state);
    let mut response = dispatch(state, request, peer).await;
    cors_state.cors.decorate(origin, &mut response);
    response
}

/// Answers one request by its method and path.
async fn dispatch(
    state: Arc<AppState>,
    request: Request<Incoming>,
    peer: Option<IpAddr>,
) -> Response<Body> {
    let arrival = Instant::now();
    let path = request.uri().path();
    match (request.method(), path) {
        (&Method::POST, "/openrtb2/auction") => auction(state, request, peer, arrival).await,
        (&Method::GET, "/notice/win" | "/notice/bill") => {
            let billing = path == "/notice/bill";
            notices_in::receive(&state, billing, request.uri().query().unwrap_or("")).await
        }
        (
            &Method::GET,
            exchange_core::click::AD_CLICK_PATH | exchange_core::click::LINK_CLICK_PATH,
        ) => {
            let query = request.uri().query().unwrap_or("");
            let receive = if path == exchange_core::click::AD_CLICK_PATH {
                crate::affiliate::clicks_in::receive
            } else {
                crate::affiliate::clicks_in::receive_link
            };
            let response = receive(&state, query, request.headers(), peer);
            state
                .affiliate
                .click_latency
                .record_us(micros_since(arrival));
            response
        }
        (&Method::GET, path) if crate::affiliate::links::short_path(path).is_some() => {
            let (code, kind) = crate::affiliate::links::short_path(path).unwrap_or_default();
            let code = code.to_owned();
            let headers = request.headers().clone();
            crate::affiliate::links::short(state, code, kind, headers, peer).await
        }
        (&Method::POST, "/orders/batch") => {
            crate::affiliate::orders_in::receive_batch(state, request).await
        }
        (&Method::POST, "/orders") => {
            let stats = Arc::clone(&state);
            let response = crate::affiliate::orders_in::receive(state, request).await;
            stats
                .affiliate
                .order_latency
                .record_us(micros_since(arrival));
            response
        }
        (&Method::POST, "/orders/review") => {
            crate::affiliate::settlement_in::review(state, request).await
        }
        (&Method::GET, "/orders/statement") => {
            crate::affiliate::settlement_in::own_statement(state, request).await
        }
        (&Method::GET, "/ledger/key") => crate::affiliate::settlement_in::key(&state),
        (&Method::GET, "/sellers.json") => crate::transparency::sellers_json(&state),
        (&Method::GET, "/publisher/report") => crate::reports::publisher(state, request).await,
        (&Method::GET, "/orders/report") => crate::reports::advertiser(state, request).await,
        (&Method::GET, "/publisher/trends") => crate::selection::trends(&state, &request),
        (&Method::GET, "/publisher/products") => {
            crate::selection::products(Arc::clone(&state), request).await
        }
        (&Method::GET, "/publisher/statement") => {
            crate::affiliate::settlement_in::publisher_statement(state, request).await
        }
        (&Method::POST, "/admin/settle")
        | (&Method::GET, "/admin/statements" | "/admin/ledger") => {
            if let Some(refusal) = admin::refuse(&state, &request) {
                return refusal;
            }
            let query = request.uri().query().unwrap_or("").to_owned();
            match path {
                "/admin/settle" => crate::affiliate::settlement_in::settle(state, &query).await,
                "/admin/statements" => {
                    crate::affiliate::settlement_in::statement(state, &query).await
                }
                _ => crate::affiliate::settlement_in::ledger(state, &query).await,
            }
        }
        (&Method::POST, "/admin/links") => {
            if let Some(refusal) = admin::refuse(&state, &request) {
                return refusal;
            }
            let timeout = Duration::from_millis(state.config.limits.body_read_timeout_ms);
            match body::read(request, 64 * 1024, timeout).await {
                Ok(body) => crate::affiliate::links::create(state, body).await,
                Err(error) => json(
                    error.status,
                    &serde_json::json!({ "error": error.message, "field": "body" }),
                ),
            }
        }
        (&Method::GET, "/admin/orders" | "/admin/affiliate/report" | "/admin/fraud/orders") => {
            if let Some(refusal) = admin::refuse(&state, &request) {
                return refusal;
            }
            let query = request.uri().query().unwrap_or("").to_owned();
            match path {
                "/admin/orders" => crate::affiliate::views::order_view(state, &query).await,
                "/admin/fraud/orders" => crate::affiliate::views::held_orders(state, &query).await,
                _ => crate::affiliate::views::summary(state, &query).await,
            }
        }
        (&Method::POST, "/admin/fraud/orders") => {
            if let Some(refusal) = admin::refuse(&state, &request) {
                return refusal;
            }
            let timeout = Duration::from_millis(state.config.limits.body_read_timeout_ms);
            match body::read(request, 64 * 1024, timeout).await {
                Ok(body) => crate::affiliate::views::decide_hold(state, body).await,
                Err(error) => json(
                    error.status,
                    &serde_json::json!({ "error": error.message, "field": "body" }),
                ),
            }
        }
        (&Method::POST, "/cookie_sync") => {
            let timeout = Duration::from_millis(state.config.limits.body_read_timeout_ms);
            crate::cookie_sync::answer(request, &state.config.first_party_id, timeout).await
        }
        (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n"),
        (&Method::GET, "/readyz") => ready(&state),
        (&Method::GET, "/metrics") => {
            let mut response = text(StatusCode::OK, crate::admin::scrape::render(&state));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(crate::metrics::exposition::CONTENT_TYPE),
            );
            response
        }
        (&Method::POST, "/admin/reload") => admin::reload(state, request).await,
        (&Method::POST, "/admin/users/history") => admin::seed_history(state, request).await,
        (&Method::GET, "/admin/learning") => admin::learning(&state, &request),
        (&Method::GET, "/admin/memory") => admin::memory(&state, &request),
        (method, path) if pacing_path(path).is_some() => {
            if method == Method::GET {
                let id = pacing_path(path).unwrap_or_default();
                admin::pacing(&state, &request, &id)
            } else {
                method_not_allowed("GET")
            }
        }
        (
            _,
            "/openrtb2/auction"
            | "/cookie_sync"
            | "/admin/reload"
            | "/admin/users/history"
            | "/orders"
            | "/orders/batch"
            | "/admin/links",
        ) => method_not_allowed("POST"),
        (_, "/admin/fraud/orders") => method_not_allowed("GET, POST"),
        (
            _,
            "/healthz"
            | "/readyz"
            | "/metrics"
            | "/notice/win"
            | "/notice/bill"
            | "/c/ad"
            | "/c/p"
            | "/admin/orders"
            | "/admin/affiliate/report"
            | "/admin/learning"
            | "/admin/memory"
            | "/sellers.json"
            | "/publisher/report"
            | "/orders/report",
        ) => method_not_allowed("GET"),
        _ => no_such_endpoint(),
    }
}

/// Microseconds since `arrival`.
fn micros_since(arrival: Instant) -> u64 {
    u64::try_from(arrival.elapsed().as_micros()).unwrap_or(u64::MAX)
}

fn no_such_endpoint() -> Response<Body> {
    json(
        StatusCode::NOT_FOUND,
        &serde_json::json!({ "error": "no such endpoint", "field": "path" }),
    )
}

async fn auction(
    state: Arc<AppState>,
    request: Request<Incoming>,
    peer: Option<IpAddr>,
    arrival: Instant,
) -> Response<Body> {
    let debug_query = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|pair| pair == "debug=1"));
    let caller = super::caller::of(request.headers(), peer, &state.config);
    let limits = &state.config.limits;
    let reply = match body::read(
        request,
        limits.max_body_bytes,
        Duration::from_millis(limits.body_read_timeout_ms),
    )
    .await
    {
        Ok(bytes) => endpoint::auction(&state, &bytes, &caller, debug_query, arrival).await,
        Err(error) => {
            let reply = endpoint::Refusal::Body(error).reply();
            state.metrics.outcome(reply.outcome);
            reply
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    headers.insert("x-openrtb-version", HeaderValue::from_static("2.6"));
    if reply.status != StatusCode::NO_CONTENT {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    let set_cookie = uid::set_cookie_header(&state.config.first_party_id, &reply.cookie)
        .and_then(|value| HeaderValue::try_from(value).ok());
    if let Some(value) = set_cookie {
        headers.insert(header::SET_COOKIE, value);
    }
    response
}

/// The campaign id of `/admin/campaigns/{id}/pacing` (percent-decoded).
fn pacing_path(path: &str) -> Option<String> {
    let id = path
        .strip_prefix("/admin/campaigns/")?
        .strip_suffix("/pacing")?;
    (!id.is_empty() && !id.contains('/')).then(|| {
        percent_encoding::percent_decode_str(id)
            .decode_utf8_lossy()
            .into_owned()
    })
}

fn ready(state: &AppState) -> Response<Body> {
    let serving = state.serving();
    let snapshot = &serving.snapshot;
    if state.draining.load(Ordering::Relaxed) {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({ "status": "draining" }),
        );
    }
    json(
        StatusCode::OK,
        &serde_json::json!({
            "status": "ready", "snapshot_version": snapshot.version, "campaigns": snapshot.len(),
        }),
    )
}

fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = json(
        StatusCode::METHOD_NOT_ALLOWED,
        &serde_json::json!({ "error": format!("use {allow}"), "field": "method" }),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}
