//! The SDK's HTTP host (feature `server`): serves a [`Bidder`] over HTTP/1.1 keep-alive
//! and h2c. Every POST outside `/notice/` is a bid request; `GET /notice/{win,bill,loss}`
//! are the notice URLs the host fills into bids.
//!
//! Per request: read the body under a cap (gunzip when `Content-Encoding: gzip`), decode
//! with the SDK codec and check the OpenRTB rules (400 naming the field on failure), call the bidder under the
//! deadline (`tmax` from arrival, minus a margin; 204 rather than late), check its bids
//! (invalid ones are dropped and logged for the DSP), answer 200 or 204 with
//! `x-openrtb-version: 2.6`, gzip when the caller accepts it.

use crate::bid_check::{check_bids, check_response, remove_bids};
use crate::bidder::{Answer, BidContext, Bidder, NoticeKind, EXCHANGE_HEADER};
use crate::gzip::{gunzip, gzip, names_gzip};
use crate::macros::{substitute_present, MacroValues};
use crate::notice::{notice_kind, parse_notice, NoticeUrls};
use crate::openrtb::{decode_request, encode_response, validate_request, BidRequest, BidResponse};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::net::TcpListener;

/// Longest wait for requests in progress once shutdown starts.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// How the host behaves.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Base URL at which the exchange reaches this host; when set, bids without
    /// `nurl`/`burl`/`lurl` get the host's notice URLs.
    pub public_url: Option<String>,
    /// Largest request body accepted, after gunzip; larger gets 413.
    pub max_body_bytes: usize,
    /// Deadline when a request gives no `tmax`.
    pub default_tmax: Duration,
    /// Time kept back from `tmax` to encode and send the answer.
    pub answer_margin: Duration,
    /// Answer 204 at the deadline instead of waiting for the bidder. Turn off only for
    /// test doubles that must be late on purpose.
    pub enforce_deadline: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            public_url: None,
            max_body_bytes: 512 * 1024,
            default_tmax: Duration::from_millis(100),
            answer_margin: Duration::from_millis(1),
            enforce_deadline: true,
        }
    }
}

/// Serves `bidder` on `listener` with default options, until the process ends.
pub async fn serve<B: Bidder>(bidder: B, listener: TcpListener) -> std::io::Result<()> {
    serve_with(
        bidder,
        listener,
        ServeOptions::default(),
        std::future::pending(),
    )
    .await
}

/// Serves `bidder` on `listener` until `shutdown` completes, then drains requests in
/// progress (at most [`DRAIN_TIMEOUT`]).
pub async fn serve_with<B: Bidder>(
    bidder: B,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let host = Arc::new(Host {
        bidder,
        notice_urls: options.public_url.as_deref().map(NoticeUrls::new),
        options,
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let host = Arc::clone(&host);
                let service = service_fn(move |request| {
                    let host = Arc::clone(&host);
                    async move { Ok::<_, std::convert::Infallible>(host.handle(request).await) }
                });
                let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    // Stop accepting, let requests in progress finish (bounded), then return.
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
    Ok(())
}

struct Host<B> {
    bidder: B,
    notice_urls: Option<NoticeUrls>,
    options: ServeOptions,
}

type Body = Full<Bytes>;

impl<B: Bidder> Host<B> {
    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        let received_at = Instant::now();
        if let Some(kind) = notice_kind(request.uri().path()) {
            if request.method() != Method::GET {
                return reply(
                    StatusCode::METHOD_NOT_ALLOWED,
                    error_body("use GET", "method"),
                );
            }
            return self.notice(kind, request.uri().query().unwrap_or(""));
        }
        if request.method() != Method::POST {
            return reply(
                StatusCode::METHOD_NOT_ALLOWED,
                error_body("use POST", "method"),
            );
        }
        let accepts_gzip = header_has_gzip(request.headers(), header::ACCEPT_ENCODING);
        let exchange = request
            .headers()
            .get(EXCHANGE_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(64)
            .collect::<String>();
        let body = match self.read_body(request).await {
            Ok(body) => body,
            Err(response) => return response,
        };
        let mut bid_request = match decode_request(&body) {
            Ok(bid_request) => bid_request,
            Err(error) => {
                tracing::info!(field = %error.field, "bid request rejected: {}", error.message);
                return reply(
                    StatusCode::BAD_REQUEST,
                    error_body(&error.message, &error.field),
                );
            }
        };
        if let Err(invalid) = validate_request(&mut bid_request) {
            tracing::info!(field = %invalid.field, "bid request rejected: {}", invalid.message);
            return reply(
                StatusCode::BAD_REQUEST,
                error_body(&invalid.message, &invalid.field),
            );
        }
        let tmax = bid_request
            .tmax
            .filter(|t| *t > 0)
            .map_or(self.options.default_tmax, |t| {
                Duration::from_millis(t as u64)
            });
        let deadline = received_at + tmax.saturating_sub(self.options.answer_margin);
        let context = BidContext {
            deadline,
            received_at,
            received_wall: SystemTime::now(),
            exchange,
            notice_urls: self.notice_urls.clone(),
        };
        let answer = if self.options.enforce_deadline {
            match tokio::time::timeout_at(deadline.into(), self.bidder.bid(&bid_request, &context))
                .await
            {
                Ok(answer) => answer,
                Err(_) => {
                    tracing::warn!(id = %bid_request.id, tmax_ms = tmax.as_millis() as u64, "bidder missed the deadline; answered 204");
                    Answer::NoBid
                }
            }
        } else {
            self.bidder.bid(&bid_request, &context).await
        };
        match answer {
            Answer::NoBid => no_content(),
            Answer::Failed(message) => {
                tracing::error!(id = %bid_request.id, "bidder failed: {message}");
                reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    error_body("bidder failed", "bidder"),
                )
            }
            Answer::Raw { status, body } => {
                let mut response = Response::new(Full::new(Bytes::from(body)));
                *response.status_mut() =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                response
            }
            Answer::Bid(response) => match self.finish(&bid_request, response) {
                None => no_content(),
                Some(body) if accepts_gzip => {
                    let mut response = reply(StatusCode::OK, gzip(&body));
                    response
                        .headers_mut()
                        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                    response
                }
                Some(body) => reply(StatusCode::OK, body),
            },
        }
    }

    /// Reads the body under the cap, gunzipping when asked; errors are ready replies.
    async fn read_body(&self, request: Request<Incoming>) -> Result<Vec<u8>, Response<Body>> {
        let max = self.options.max_body_bytes;
        let gzipped = header_has_gzip(request.headers(), header::CONTENT_ENCODING);
        let too_large = || {
            reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                error_body("body too large", "body"),
            )
        };
        let collected = Limited::new(request.into_body(), max)
            .collect()
            .await
            .map_err(|_| too_large())?
            .to_bytes();
        if !gzipped {
            return Ok(collected.to_vec());
        }
        gunzip(&collected, max).map_err(|error| match error {
            crate::gzip::GunzipError::TooLarge => too_large(),
            crate::gzip::GunzipError::Corrupt => reply(
                StatusCode::BAD_REQUEST,
                error_body("body is not valid gzip", "body"),
            ),
        })
    }

    /// Checks the bidder's response and encodes what survives; `None` → 204.
    fn finish(&self, request: &BidRequest, mut response: BidResponse) -> Option<Vec<u8>> {
        if response.id.is_empty() {
            response.id.clone_from(&request.id);
        }
        if response.cur.is_none() && request.cur.len() == 1 {
            response.cur = request.cur.first().cloned();
        }
        if let Err(problem) = check_response(request, &response) {
            tracing::warn!(id = %request.id, problem = problem.as_str(), "bid response dropped before sending");
            return None;
        }
        let bad = check_bids(request, &response);
        for bad_bid in &bad {
            let bid = &response.seatbid[bad_bid.seat].bid[bad_bid.bid];
            tracing::warn!(
                id = %request.id, bid = %bid.id, impid = %bid.impid,
                problem = bad_bid.problem.as_str(), "invalid bid dropped before sending"
            );
        }
        remove_bids(&mut response, &bad);
        if response.seatbid.is_empty() {
            return None;
        }
        if let Some(urls) = &self.notice_urls {
            fill_notice_urls(&mut response, urls);
        }
        Some(encode_response(&response))
    }

    fn notice(&self, kind: NoticeKind, query: &str) -> Response<Body> {
        let Some(notice) = parse_notice(query) else {
            return reply(
                StatusCode::BAD_REQUEST,
                error_body("notice needs auction and bid ids", "query"),
            );
        };
        match kind {
            NoticeKind::Win => self.bidder.on_win(&notice),
            NoticeKind::Billing => self.bidder.on_billing(&notice),
            NoticeKind::Loss => self.bidder.on_loss(&notice),
        }
        no_content()
    }
}

/// Gives bids without notice URLs the host's own, with the ids this host knows filled
/// in now and the price, currency and loss macros left for the exchange.
fn fill_notice_urls(response: &mut BidResponse, urls: &NoticeUrls) {
    let auction_id = response.id.clone();
    for seat in &mut response.seatbid {
        for bid in &mut seat.bid {
            let known = |template: &str| {
                let values = MacroValues {
                    auction_id: Some(&auction_id),
                    imp_id: Some(&bid.impid),
                    bid_id: Some(&bid.id),
                    seat_id: seat.seat.as_deref(),
                    ..MacroValues::default()
                };
                substitute_present(template, &values)
            };
            let empty = |url: &Option<String>| url.as_deref().is_none_or(str::is_empty);
            if empty(&bid.nurl) {
                bid.nurl = Some(known(&urls.win));
            }
            if empty(&bid.burl) {
                bid.burl = Some(known(&urls.bill));
            }
            if empty(&bid.lurl) {
                bid.lurl = Some(known(&urls.loss));
            }
        }
    }
}

fn header_has_gzip(headers: &HeaderMap, name: header::HeaderName) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(names_gzip)
}

fn error_body(message: &str, field: &str) -> Vec<u8> {
    serde_json::json!({ "error": message, "field": field })
        .to_string()
        .into_bytes()
}

fn reply(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("x-openrtb-version", HeaderValue::from_static("2.6"));
    response
}

fn no_content() -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
        .headers_mut()
        .insert("x-openrtb-version", HeaderValue::from_static("2.6"));
    response
}

#[cfg(test)]
mod tests;
