//! Why an auction request was refused before any auction ran, and the one place such a
//! refusal becomes an HTTP status, a JSON error naming the field, and a metric outcome.

use super::Reply;
use crate::enrich::uid::CookieAction;
use crate::metrics::Outcome;
use crate::receive::body::BodyError;
use http::StatusCode;

/// A refused auction request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The body could not be read (too large, too slow, an unsupported encoding).
    Body(BodyError),
    /// The body is not an OpenRTB request (JSON or types).
    Malformed {
        /// What is wrong.
        message: String,
        /// Where (a JSON path).
        field: String,
    },
    /// An OpenRTB rule beyond the types is broken.
    Invalid {
        /// What is wrong.
        message: String,
        /// Where (a JSON path).
        field: String,
    },
}

impl Refusal {
    /// The answer to a refused request.
    pub fn reply(&self) -> Reply {
        let (status, outcome, message, field) = match self {
            Self::Body(error) => (error.status, error.outcome, error.message, "body"),
            Self::Malformed { message, field } | Self::Invalid { message, field } => (
                StatusCode::BAD_REQUEST,
                Outcome::BadRequest,
                message.as_str(),
                field.as_str(),
            ),
        };
        let body = serde_json::json!({ "error": message, "field": field });
        Reply {
            status,
            body: body.to_string().into_bytes(),
            outcome,
            cookie: CookieAction::Leave,
        }
    }
}
