//! Reading a request body: capped in size and time, checked before parsing. A body that
//! is refused (too large, an unsupported encoding) is drained in the background up to a
//! bound, like nginx's lingering close: a client that writes its whole body before it reads
//! then gets the error answer, not a connection reset.

use crate::metrics::Outcome;
use bytes::{Bytes, BytesMut};
use http::{header, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use std::time::Duration;

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyError {
    /// HTTP status to answer.
    pub status: StatusCode,
    /// Outcome label.
    pub outcome: Outcome,
    /// Message.
    pub message: &'static str,
}

/// Reads the whole body of `request` within `max_bytes` and `timeout`; a gzip body is read
/// compressed within `max_bytes` and decompressed within `max_bytes` too (a "zip bomb"
/// stops at the cap). A body is gzip when `Content-Encoding` says so, or when the query
/// has `gzip=1`: Prebid Server's convention, which Prebid.js's `endpointCompression` uses
/// because a browser's simple cross-origin request cannot set `Content-Encoding`.
pub async fn read(
    request: http::Request<Incoming>,
    max_bytes: usize,
    timeout: Duration,
) -> Result<Bytes, BodyError> {
    let headers = request.headers();
    let mut gzipped = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|pair| pair == "gzip=1"));
    if let Some(encoding) = headers.get(header::CONTENT_ENCODING) {
        let encoding = encoding.as_bytes().trim_ascii();
        let gzip =
            encoding.eq_ignore_ascii_case(b"gzip") || encoding.eq_ignore_ascii_case(b"x-gzip");
        gzipped |= gzip;
        if !gzip && !encoding.eq_ignore_ascii_case(b"identity") {
            linger(request.into_body());
            return Err(BodyError {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                outcome: Outcome::UnsupportedEncoding,
                message: "content-encoding is not supported; send plain JSON or gzip",
            });
        }
    }
    let raw = read_raw(request, max_bytes, timeout).await?;
    if !gzipped {
        return Ok(raw);
    }
    match bidder_sdk::gzip::gunzip(&raw, max_bytes) {
        Ok(plain) => Ok(Bytes::from(plain)),
        Err(bidder_sdk::gzip::GunzipError::TooLarge) => Err(BodyError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            outcome: Outcome::PayloadTooLarge,
            message: "request body exceeds the configured limit once decompressed",
        }),
        Err(bidder_sdk::gzip::GunzipError::Corrupt) => Err(BodyError {
            status: StatusCode::BAD_REQUEST,
            outcome: Outcome::BadRequest,
            message: "request body is not valid gzip",
        }),
    }
}

/// The body's bytes as they arrived, within `max_bytes` and `timeout`.
async fn read_raw(
    request: http::Request<Incoming>,
    max_bytes: usize,
    timeout: Duration,
) -> Result<Bytes, BodyError> {
    let headers = request.headers();
    let too_large = BodyError {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        outcome: Outcome::PayloadTooLarge,
        message: "request body exceeds the configured limit",
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max_bytes as u64) {
        linger(request.into_body());
        return Err(too_large);
    }
    let mut body = request.into_body();
    let mut collected = BytesMut::new();
    let read = async {
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame.map(Frame::into_data) else {
                return Err(BodyError {
                    status: StatusCode::BAD_REQUEST,
                    outcome: Outcome::BadRequest,
                    message: "request body could not be read",
                });
            };
            let Ok(data) = data else { continue };
            if collected.len() + data.len() > max_bytes {
                return Err(too_large);
            }
            collected.extend_from_slice(&data);
        }
        Ok(())
    };
    match tokio::time::timeout(timeout, read).await {
        Err(_) => Err(BodyError {
            status: StatusCode::REQUEST_TIMEOUT,
            outcome: Outcome::BodyTimeout,
            message: "request body not received in time",
        }),
        Ok(Err(error)) => {
            if error.status == StatusCode::PAYLOAD_TOO_LARGE {
                linger(body);
            }
            Err(error)
        }
        Ok(Ok(())) => Ok(collected.freeze()),
    }
}

/// Most bytes of a refused body read and thrown away before the connection is let go.
const LINGER_MAX_BYTES: usize = 64 * 1024 * 1024;

/// Longest time spent throwing a refused body away.
const LINGER_MAX_TIME: Duration = Duration::from_secs(5);

/// Reads and discards the rest of a refused `body` in the background (bounded by
/// [`LINGER_MAX_BYTES`] and [`LINGER_MAX_TIME`]), so that the answer reaches a client that
/// is still writing: closing a socket with unread data resets the connection, and the
/// client would see the reset instead of the answer. A body read to its end even leaves
/// the connection usable for the next request.
fn linger(mut body: Incoming) {
    tokio::spawn(async move {
        let mut left = LINGER_MAX_BYTES;
        let drain = async {
            while let Some(Ok(frame)) = body.frame().await {
                let len = frame.data_ref().map_or(0, Bytes::len);
                if len >= left {
                    break;
                }
                left -= len;
            }
        };
        let _ = tokio::time::timeout(LINGER_MAX_TIME, drain).await;
    });
}
