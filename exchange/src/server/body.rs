//! Reading a request body: capped in size and time, checked before parsing.

use crate::metrics::Outcome;
use bytes::Bytes;
use http::{header, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
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

/// Reads the whole body of `request` within `max_bytes` and `timeout`.
pub async fn read(
    request: http::Request<Incoming>,
    max_bytes: usize,
    timeout: Duration,
) -> Result<Bytes, BodyError> {
    let headers = request.headers();
    if let Some(encoding) = headers.get(header::CONTENT_ENCODING) {
        if !encoding.as_bytes().eq_ignore_ascii_case(b"identity") {
            return Err(BodyError {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                outcome: Outcome::UnsupportedEncoding,
                message: "content-encoding is not supported; send plain JSON",
            });
        }
    }
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
        return Err(too_large);
    }
    let collect = Limited::new(request.into_body(), max_bytes).collect();
    match tokio::time::timeout(timeout, collect).await {
        Err(_) => Err(BodyError {
            status: StatusCode::REQUEST_TIMEOUT,
            outcome: Outcome::BodyTimeout,
            message: "request body not received in time",
        }),
        Ok(Err(error))
            if error
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large)
        }
        Ok(Err(_)) => Err(BodyError {
            status: StatusCode::BAD_REQUEST,
            outcome: Outcome::BadRequest,
            message: "request body could not be read",
        }),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}
