//! Who reports an order: the advertiser named by `X-Advertiser`, proven by either
//!
//! - **HMAC**: `X-Timestamp: <unix seconds>` and `X-Signature: sha256=<hex>`, the
//!   HMAC-SHA256 under the advertiser's key of `<timestamp>.<body>` (the exact bytes
//!   sent); the timestamp must be within `affiliate.signature_skew_secs` of the exchange's
//!   clock, so a captured request cannot be replayed later (and a replay within the window
//!   changes nothing: order updates are idempotent); or
//! - **bearer token**: `Authorization: Bearer <token>`.
//!
//! Both compare in constant time. Every failure is a 401 naming the header at fault.

use crate::config::AdvertiserCredentials;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;

/// Why a report was not authenticated (the header at fault, and a sentence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthError {
    /// The header.
    pub field: &'static str,
    /// What is wrong.
    pub message: &'static str,
}

const fn fail(field: &'static str, message: &'static str) -> AuthError {
    AuthError { field, message }
}

/// The publisher a call is from: `X-Publisher: <id>` and `Authorization: Bearer <token>`
/// where `registry` holds the token's SHA-256 (`statement_token_sha256`), compared in
/// constant time. Their statements, trends and product selection use it.
pub fn authenticate_publisher(
    headers: &HeaderMap,
    registry: &crate::publishers::Registry,
) -> Result<String, AuthError> {
    let publisher = header(headers, "x-publisher")
        .filter(|p| !p.is_empty() && p.len() <= 64)
        .ok_or(fail("X-Publisher", "name the publisher"))?;
    let token = header(headers, "authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let expected = registry
        .get(publisher)
        .and_then(|p| p.statement_token_sha256);
    let given: [u8; 32] = sha2::Digest::finalize(sha2::Digest::chain_update(
        <Sha256 as sha2::Digest>::new(),
        token.as_bytes(),
    ))
    .into();
    let allowed = expected.is_some_and(|hash| crate::config::same_secret(&given, &hash));
    if token.is_empty() || !allowed {
        return Err(fail("Authorization", "unknown publisher or wrong token"));
    }
    Ok(publisher.to_owned())
}

/// The advertiser that sent `body` with `headers`, among `advertisers`, at `now_unix`.
pub fn authenticate<'a>(
    advertisers: &'a [AdvertiserCredentials],
    headers: &HeaderMap,
    body: &[u8],
    now_unix: i64,
    skew_secs: i64,
) -> Result<&'a AdvertiserCredentials, AuthError> {
    let named =
        header(headers, "x-advertiser").ok_or(fail("X-Advertiser", "name the advertiser"))?;
    let advertiser = advertisers
        .iter()
        .find(|a| a.id == named)
        .ok_or(fail("X-Advertiser", "unknown advertiser"))?;
    if let Some(signature) = header(headers, "x-signature") {
        let key = advertiser.hmac_secret.as_deref().ok_or(fail(
            "X-Signature",
            "this advertiser has no HMAC key; use its bearer token",
        ))?;
        let timestamp = header(headers, "x-timestamp")
            .ok_or(fail("X-Timestamp", "a signed report needs its timestamp"))?;
        let at: i64 = timestamp
            .parse()
            .map_err(|_| fail("X-Timestamp", "must be unix seconds"))?;
        if (now_unix - at).abs() > skew_secs {
            return Err(fail("X-Timestamp", "too far from the exchange's clock"));
        }
        let hex = signature
            .strip_prefix("sha256=")
            .ok_or(fail("X-Signature", "must be sha256=<hex>"))?;
        let tag = decode_hex(hex).ok_or(fail("X-Signature", "must be sha256=<64 hex digits>"))?;
        let mut mac =
            Hmac::<Sha256>::new_from_slice(key).map_err(|_| fail("X-Signature", "unusable key"))?;
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        return mac
            .verify_slice(&tag)
            .map(|()| advertiser)
            .map_err(|_| fail("X-Signature", "signature does not match the body"));
    }
    if let Some(given) = header(headers, "authorization").and_then(|v| v.strip_prefix("Bearer ")) {
        let expected = advertiser.bearer_token.as_deref().ok_or(fail(
            "Authorization",
            "this advertiser has no bearer token; sign with its key",
        ))?;
        return if crate::config::same_secret(given.as_bytes(), expected) {
            Ok(advertiser)
        } else {
            Err(fail("Authorization", "wrong token"))
        };
    }
    Err(fail(
        "Authorization",
        "sign the body (X-Timestamp, X-Signature) or send the bearer token",
    ))
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn decode_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in text.as_bytes().chunks(2).enumerate() {
        let digit = |b: u8| (b as char).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

/// `sha256=<hex>` of `<timestamp>.<body>` under `key`: what an advertiser sends (tests,
/// the README's example, the batch import CLI).
pub fn sign(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for byte in tag {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn advertisers() -> Vec<AdvertiserCredentials> {
        vec![
            AdvertiserCredentials {
                id: "jd".into(),
                hmac_secret: Some(b"k".repeat(32)),
                bearer_token: None,
            },
            AdvertiserCredentials {
                id: "tb".into(),
                hmac_secret: None,
                bearer_token: Some(b"t".repeat(32)),
            },
        ]
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().expect("header value"));
        }
        map
    }

    const NOW: i64 = 1_780_000_000;

    #[test]
    fn a_signed_body_authenticates_and_any_change_does_not() {
        let list = advertisers();
        let body = br#"{"order_id":"1"}"#;
        let signature = sign(&b"k".repeat(32), NOW, body);
        let good = headers(&[
            ("x-advertiser", "jd"),
            ("x-timestamp", &NOW.to_string()),
            ("x-signature", &signature),
        ]);
        assert_eq!(
            authenticate(&list, &good, body, NOW, 300).map(|a| a.id.as_str()),
            Ok("jd")
        );
        let altered = authenticate(&list, &good, br#"{"order_id":"2"}"#, NOW, 300);
        assert_eq!(altered.expect_err("refused").field, "X-Signature");
        let stale = authenticate(&list, &good, body, NOW + 301, 300);
        assert_eq!(stale.expect_err("refused").field, "X-Timestamp");
        let other = headers(&[
            ("x-advertiser", "tb"),
            ("x-timestamp", &NOW.to_string()),
            ("x-signature", &signature),
        ]);
        assert_eq!(
            authenticate(&list, &other, body, NOW, 300)
                .expect_err("refused")
                .field,
            "X-Signature"
        );
        let moved = headers(&[
            ("x-advertiser", "jd"),
            ("x-timestamp", &(NOW + 1).to_string()),
            ("x-signature", &signature),
        ]);
        assert_eq!(
            authenticate(&list, &moved, body, NOW, 300)
                .expect_err("refused")
                .field,
            "X-Signature"
        );
    }

    #[test]
    fn a_bearer_token_authenticates_only_its_advertiser() {
        let list = advertisers();
        let token = format!("Bearer {}", "t".repeat(32));
        let good = headers(&[("x-advertiser", "tb"), ("authorization", &token)]);
        assert_eq!(
            authenticate(&list, &good, b"{}", NOW, 300).map(|a| a.id.as_str()),
            Ok("tb")
        );
        let wrong = headers(&[("x-advertiser", "tb"), ("authorization", "Bearer nope")]);
        assert_eq!(
            authenticate(&list, &wrong, b"{}", NOW, 300)
                .expect_err("refused")
                .field,
            "Authorization"
        );
        let borrowed = headers(&[("x-advertiser", "jd"), ("authorization", &token)]);
        assert_eq!(
            authenticate(&list, &borrowed, b"{}", NOW, 300)
                .expect_err("refused")
                .field,
            "Authorization"
        );
        let nobody = headers(&[("authorization", &token)]);
        assert_eq!(
            authenticate(&list, &nobody, b"{}", NOW, 300)
                .expect_err("refused")
                .field,
            "X-Advertiser"
        );
        let unknown = headers(&[("x-advertiser", "zz"), ("authorization", &token)]);
        assert_eq!(
            authenticate(&list, &unknown, b"{}", NOW, 300)
                .expect_err("refused")
                .field,
            "X-Advertiser"
        );
        let bare = headers(&[("x-advertiser", "tb")]);
        assert_eq!(
            authenticate(&list, &bare, b"{}", NOW, 300)
                .expect_err("refused")
                .field,
            "Authorization"
        );
    }
}
