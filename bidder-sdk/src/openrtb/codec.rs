//! The simd-json codec: bounded, typed decoding with errors that name the field.
//!
//! Decoding first scans nesting depth (no recursion, so hostile input cannot overflow
//! the stack) and `\u` escapes (simd-json reads a lone UTF-16 surrogate as U+0000, so
//! `"\ud800"` and `"A\ud800B"` would become other ids than were sent), then parses with
//! simd-json. Only when that fails is the document parsed again with `serde_json` +
//! `serde_path_to_error`, to name the offending field: the error path pays for the
//! diagnosis, the happy path does not.

use super::{BidRequest, BidResponse};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;

/// Deepest `[`/`{` nesting accepted. Real OpenRTB documents stay under 12; the margin is
/// for `ext` objects. Deeper input is rejected before any recursive parsing starts.
pub const MAX_NESTING_DEPTH: usize = 64;

/// What kind of decoding failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// Nesting deeper than [`MAX_NESTING_DEPTH`].
    TooDeep,
    /// Not JSON at all (truncated, comments, trailing commas, NaN...).
    Syntax,
    /// JSON, but a field has the wrong type or a required one is missing.
    Schema,
}

impl DecodeErrorKind {
    /// Stable label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooDeep => "too_deep",
            Self::Syntax => "syntax",
            Self::Schema => "schema",
        }
    }
}

/// A decoding failure, naming the field (a path like `imp[0].banner.w`, `$` for the root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// What kind of failure.
    pub kind: DecodeErrorKind,
    /// Path of the offending field.
    pub field: String,
    /// Human-readable message.
    pub message: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at {})", self.message, self.field)
    }
}

impl std::error::Error for DecodeError {}

/// Decodes a BidRequest. Does not validate OpenRTB semantics beyond types.
pub fn decode_request(body: &[u8]) -> Result<BidRequest, DecodeError> {
    decode(body)
}

/// Decodes a BidResponse. `{}` is the empty no-bid; any response carrying bids must
/// have an `id`.
pub fn decode_response(body: &[u8]) -> Result<BidResponse, DecodeError> {
    let response: BidResponse = decode(body)?;
    if response.id.is_empty() && !response.seatbid.is_empty() {
        return Err(DecodeError {
            kind: DecodeErrorKind::Schema,
            field: "id".to_owned(),
            message: "missing field `id` in a response with bids".to_owned(),
        });
    }
    Ok(response)
}

/// Encodes a BidRequest as JSON.
pub fn encode_request(request: &BidRequest) -> Vec<u8> {
    encode(request)
}

/// Encodes a BidResponse as JSON.
pub fn encode_response(response: &BidResponse) -> Vec<u8> {
    encode(response)
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising plain structs into a Vec cannot fail: no map has non-string keys and
    // no IO is involved. serde_json is the fallback should simd-json ever refuse.
    simd_json::serde::to_vec(value)
        .or_else(|_| serde_json::to_vec(value))
        .unwrap_or_default()
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, DecodeError> {
    check_depth(body)?;
    if let Some(offset) = lone_surrogate(body) {
        let message = format!("invalid \\u escape at byte {offset}: a lone UTF-16 surrogate");
        return Err(diagnose::<T>(body, &message));
    }
    let mut scratch = body.to_vec();
    match simd_json::serde::from_slice::<T>(&mut scratch) {
        Ok(value) => Ok(value),
        Err(fast_error) => Err(diagnose::<T>(body, &fast_error.to_string())),
    }
}

/// Re-parses a rejected document with a path-tracking parser to name the field.
fn diagnose<T: DeserializeOwned>(body: &[u8], fast_message: &str) -> DecodeError {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Ok(_) => DecodeError {
            kind: DecodeErrorKind::Syntax,
            field: "$".to_owned(),
            message: fast_message.to_owned(),
        },
        Err(error) => {
            let path = error.path().to_string();
            let inner = error.into_inner();
            let kind = if inner.is_data() {
                DecodeErrorKind::Schema
            } else {
                DecodeErrorKind::Syntax
            };
            DecodeError {
                kind,
                field: if path == "." { "$".to_owned() } else { path },
                message: inner.to_string(),
            }
        }
    }
}

/// The offset of the first `\u` escape that is a lone UTF-16 surrogate (a high one not
/// followed by a `\u` low one, or a low one on its own), if any. Backslashes are rare in
/// requests (URLs escaped as `\/` at most), so the scan is one `memchr`-like pass when
/// there are none.
fn lone_surrogate(body: &[u8]) -> Option<usize> {
    // Jump from backslash to backslash (memchr scans a vector at a time).
    lone_surrogate_with(body, |rest| memchr::memchr(b'\\', rest))
}

/// [`lone_surrogate`], finding the next backslash of a slice with `next_backslash`.
fn lone_surrogate_with(
    body: &[u8],
    next_backslash: impl Fn(&[u8]) -> Option<usize>,
) -> Option<usize> {
    let hex4 = |at: usize| -> Option<u16> {
        let digits = body.get(at..at + 4)?;
        let text = std::str::from_utf8(digits).ok()?;
        u16::from_str_radix(text, 16).ok()
    };
    let mut i = 0;
    while let Some(found) = body.get(i..).and_then(&next_backslash) {
        i += found;
        // Outside a string a backslash is a syntax error the parser reports; inside, it
        // starts an escape: skip it whole, so `\\u…` is a backslash then text.
        if body.get(i + 1) != Some(&b'u') {
            i += 2;
            continue;
        }
        let unit = hex4(i + 2);
        match unit {
            Some(0xD800..=0xDBFF) => {
                let low = (body.get(i + 6..i + 8) == Some(b"\\u"))
                    .then(|| hex4(i + 8))
                    .flatten();
                if !matches!(low, Some(0xDC00..=0xDFFF)) {
                    return Some(i);
                }
                i += 12;
            }
            Some(0xDC00..=0xDFFF) => return Some(i),
            _ => i += 6,
        }
    }
    None
}

/// Rejects documents nested deeper than [`MAX_NESTING_DEPTH`], in one pass, no recursion.
fn check_depth(body: &[u8]) -> Result<(), DecodeError> {
    // Depth cannot exceed the number of opening brackets (those inside strings only make
    // this an over-count). Finding them is a vectorised search (memchr) that stops at one
    // past the limit; the string-aware scan below runs only for the rare document with
    // more brackets than the limit.
    if memchr::memchr2_iter(b'[', b'{', body)
        .nth(MAX_NESTING_DEPTH)
        .is_none()
    {
        return Ok(());
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, &byte) in body.iter().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING_DEPTH {
                    return Err(DecodeError {
                        kind: DecodeErrorKind::TooDeep,
                        field: "$".to_owned(),
                        message: format!(
                            "nesting deeper than {MAX_NESTING_DEPTH} levels at byte {offset}"
                        ),
                    });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
