//! One HTTP call to a bidder over the shared keep-alive pool: send the encoded request
//! (gzip if configured), read the answer under a size cap, gunzip, decode. No deadline
//! here: the caller races the call against it and drops it when late.

use bidder_sdk::gzip::{gunzip, names_gzip};
use bidder_sdk::openrtb::{decode_response, BidResponse};
use bytes::Bytes;
use http::{header, HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::time::Duration;

/// The pooled HTTP/1.1 client shared by every bidder call.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest TCP connect; a deadline usually cuts a call sooner.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A client with keep-alive pooling and `TCP_NODELAY`.
pub fn new_client(idle_per_host: usize) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    connector.enforce_http(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_max_idle_per_host(idle_per_host)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(connector)
}

/// Why a call failed (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallError {
    /// Could not connect, or the connection broke.
    Connect,
    /// An HTTP status other than 200 and 204.
    HttpStatus,
    /// The body exceeded the size cap.
    TooLarge,
    /// The body is not a BidResponse (not JSON, wrong types, bad gzip).
    Undecodable,
}

impl CallError {
    /// Every value.
    pub const ALL: [CallError; 4] = [
        Self::Connect,
        Self::HttpStatus,
        Self::TooLarge,
        Self::Undecodable,
    ];

    /// Stable label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::HttpStatus => "http_status",
            Self::TooLarge => "too_large",
            Self::Undecodable => "undecodable",
        }
    }
}

/// How a call ended.
#[derive(Debug)]
pub enum CallOutcome {
    /// A decoded answer with at least one seat.
    Bids(BidResponse),
    /// 204, an empty 200, or an answer without seats.
    NoBid,
    /// The deadline passed first.
    Timeout,
    /// It failed.
    Failed(CallError),
}

/// What to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Bid endpoint.
    pub uri: Uri,
    /// Encoded (possibly gzip-compressed) body.
    pub body: Bytes,
    /// Whether `body` is gzip.
    pub gzip: bool,
    /// `x-exchange-name` value.
    pub exchange_name: HeaderValue,
}

/// Sends one request and reads the answer (at most `max_bytes`, after gunzip).
pub async fn call(client: &HttpClient, outgoing: Outgoing, max_bytes: usize) -> CallOutcome {
    let mut builder = Request::post(outgoing.uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-openrtb-version", "2.6")
        .header(bidder_sdk::EXCHANGE_HEADER, outgoing.exchange_name);
    if outgoing.gzip {
        builder = builder
            .header(header::CONTENT_ENCODING, "gzip")
            .header(header::ACCEPT_ENCODING, "gzip");
    }
    let Ok(request) = builder.body(Full::new(outgoing.body)) else {
        return CallOutcome::Failed(CallError::Connect);
    };
    let response = match client.request(request).await {
        Ok(response) => response,
        Err(_) => return CallOutcome::Failed(CallError::Connect),
    };
    let status = response.status();
    if status == StatusCode::NO_CONTENT {
        return CallOutcome::NoBid;
    }
    if status != StatusCode::OK {
        return CallOutcome::Failed(CallError::HttpStatus);
    }
    let gzipped = response
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(names_gzip);
    let bytes = match Limited::new(response.into_body(), max_bytes)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            return CallOutcome::Failed(CallError::TooLarge)
        }
        Err(_) => return CallOutcome::Failed(CallError::Connect),
    };
    let body = if gzipped {
        match gunzip(&bytes, max_bytes) {
            Ok(body) => Bytes::from(body),
            Err(bidder_sdk::gzip::GunzipError::TooLarge) => {
                return CallOutcome::Failed(CallError::TooLarge)
            }
            Err(bidder_sdk::gzip::GunzipError::Corrupt) => {
                return CallOutcome::Failed(CallError::Undecodable)
            }
        }
    } else {
        bytes
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return CallOutcome::NoBid;
    }
    match decode_response(&body) {
        Ok(response) if response.seatbid.is_empty() => CallOutcome::NoBid,
        Ok(response) => CallOutcome::Bids(response),
        Err(_) => CallOutcome::Failed(CallError::Undecodable),
    }
}
