//! CORS for the public endpoints, so a publisher page on another origin (Prebid.js's
//! `s2sConfig`) can read the auction's answer and fire notices: an allowed `Origin` is
//! echoed with credentials allowed and `Vary: Origin`; `OPTIONS` preflights are answered.
//! Never on `/metrics` or `/admin/*`.

use super::reply::Body;
use crate::config::{is_serialized_origin, CorsConfig};
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};

/// Longest `Origin` echoed (a serialized origin is `scheme://host[:port]`).
pub const MAX_ORIGIN_BYTES: usize = 256;

/// Longest `Access-Control-Request-Headers` echoed in a preflight.
const MAX_REQUEST_HEADERS_BYTES: usize = 512;

/// The public endpoints' CORS answers.
#[derive(Debug, Clone)]
pub struct Cors {
    any: bool,
    allowed: Vec<String>,
    max_age: HeaderValue,
}

impl Cors {
    /// From `[cors]` (validated: origins are `*` or serialized origins).
    pub fn new(config: &CorsConfig) -> Self {
        Self {
            any: config.allow_origins.iter().any(|o| o == "*"),
            allowed: config
                .allow_origins
                .iter()
                .filter(|o| *o != "*")
                .map(|o| o.to_ascii_lowercase())
                .collect(),
            max_age: HeaderValue::from(config.max_age_secs),
        }
    }

    /// The request's `Origin`, when it is a well-formed origin this exchange allows.
    pub fn allowed_origin(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let origin = headers.get(header::ORIGIN)?;
        let text = origin.to_str().ok()?;
        if text.len() > MAX_ORIGIN_BYTES || !is_serialized_origin(text) {
            return None;
        }
        (self.any || self.allowed.iter().any(|a| a.eq_ignore_ascii_case(text)))
            .then(|| origin.clone())
    }

    /// Adds the CORS headers of an actual (non-preflight) answer.
    pub fn decorate(&self, origin: Option<HeaderValue>, response: &mut Response<Body>) {
        let headers = response.headers_mut();
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) = origin {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }

    /// The answer to an `OPTIONS` preflight: 204, with the allow headers when the origin
    /// is allowed (without them the browser refuses the call, as it should).
    pub fn preflight(&self, request_headers: &HeaderMap) -> Response<Body> {
        let mut response = Response::new(Body::default());
        *response.status_mut() = StatusCode::NO_CONTENT;
        let origin = self.allowed_origin(request_headers);
        let allowed = origin.is_some();
        self.decorate(origin, &mut response);
        if allowed {
            let headers = response.headers_mut();
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, OPTIONS"),
            );
            let asked = request_headers
                .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                .filter(|v| v.len() <= MAX_REQUEST_HEADERS_BYTES)
                .filter(|v| v.to_str().is_ok_and(is_header_list))
                .cloned()
                .unwrap_or(HeaderValue::from_static("content-type"));
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked);
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, self.max_age.clone());
        }
        response
    }
}

/// A comma-separated list of header names (tokens).
fn is_header_list(text: &str) -> bool {
    text.split(',').all(|name| {
        let name = name.trim();
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn only_well_formed_allowed_origins_are_echoed() {
        let listed = Cors::new(&CorsConfig {
            allow_origins: vec!["https://pub.example".into()],
            max_age_secs: 600,
        });
        let any = Cors::new(&CorsConfig::default());
        let from = |origin: &'static str| headers(&[("origin", origin)]);
        assert!(listed
            .allowed_origin(&from("https://pub.example"))
            .is_some());
        assert!(listed
            .allowed_origin(&from("https://evil.example"))
            .is_none());
        assert!(any.allowed_origin(&from("https://evil.example")).is_some());
        for bad in [
            "null",
            "https://a.example/path",
            "javascript://x",
            "https://a b",
        ] {
            assert!(any.allowed_origin(&from(bad)).is_none(), "{bad}");
        }
        assert!(any.allowed_origin(&HeaderMap::new()).is_none());
    }

    #[test]
    fn a_preflight_allows_the_method_and_the_asked_headers() {
        let cors = Cors::new(&CorsConfig::default());
        let response = cors.preflight(&headers(&[
            ("origin", "https://pub.example"),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "content-type, x-requested-with",
            ),
        ]));
        assert_eq!(response.status(), 204);
        let h = response.headers();
        assert_eq!(h["access-control-allow-origin"], "https://pub.example");
        assert_eq!(h["access-control-allow-credentials"], "true");
        assert_eq!(
            h["access-control-allow-headers"],
            "content-type, x-requested-with"
        );
        assert_eq!(h["vary"], "Origin");
        let refused = cors.preflight(&headers(&[("origin", "null")]));
        assert!(refused
            .headers()
            .get("access-control-allow-origin")
            .is_none());
    }
}
