//! Signed notice URLs: what the exchange puts in its bids' `nurl` and `burl`, and the
//! check every notice passes before it may move money.
//!
//! A notice URL is `{public_url}/notice/{win|bill}?{signed}&sig={tag}&price=${AUCTION_PRICE}`
//! where `signed` is `auction=&imp=&bid=` then `campaign=&creative=` (an internal
//! campaign) or `bidder=` (an external bidder), then `cur=`, `user=` (if any), `res=`
//! (micros the win took from a budgeted campaign's lease, if any), `pub=`, `plc=`, `sub=`,
//! `mm=1`, `pc=` (the provenance: who sold the imp, on a page of which category), `max=` (the
//! bid price as sent, in `cur`), `exp=` (expiry, unix seconds) and `kid=` (the key id),
//! values percent-encoded; `tag` is the unpadded base64url HMAC-SHA256, under key `kid`,
//! of a version tag and `signed` exactly as written. Only the price (the macro the
//! publisher fills) is outside the signature, and it is accepted only up to `max`.
//! Nothing may follow the price, and every field comes from the signed part: a notice
//! that was not issued by this exchange, or was altered, verifies as nothing.

mod keys;

pub use keys::{KeyRing, NoticeKey, EPHEMERAL_KEY_ID, MAX_KEYS, MIN_SECRET_BYTES, STORED_KEY_ID};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::Mac;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Version tag fed to the MAC before the signed fields (a new format changes it, so no
/// old signature can verify a new layout).
const SIGNATURE_DOMAIN: &[u8] = b"exchange-notice-v1\n";
/// Bytes of an HMAC-SHA256 tag.
const TAG_BYTES: usize = 32;
/// Longest decoded field value a notice may carry (ids, currency, user key).
pub const MAX_FIELD_BYTES: usize = 128;
/// Largest price above the signed `max` still accepted: rounding in the publisher's ad
/// server (one micro-unit).
const PRICE_TOLERANCE: f64 = 1e-6;

/// Characters left as they are in a query-string value.
pub(crate) const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Why a notice was refused (a metric label; nothing is written for any of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// No signature: not a URL this exchange issued.
    Unsigned,
    /// Not of the signed layout (unknown or repeated field, text after the price, ...).
    Malformed,
    /// Signed with a key id that is not active (never was, or rotated out).
    UnknownKey,
    /// The signature does not match the fields: forged or altered.
    BadSignature,
    /// Past the URL's expiry.
    Expired,
    /// The price is missing, unsubstituted, negative or not a number.
    BadPrice,
    /// The price is above the bid price the URL was signed with.
    PriceAboveBid,
    /// A campaign the serving snapshot does not know.
    UnknownCampaign,
    /// A currency the exchange has no rate for (any more).
    UnknownCurrency,
}

impl Rejection {
    /// Every value.
    pub const ALL: [Rejection; 9] = [
        Self::Unsigned,
        Self::Malformed,
        Self::UnknownKey,
        Self::BadSignature,
        Self::Expired,
        Self::BadPrice,
        Self::PriceAboveBid,
        Self::UnknownCampaign,
        Self::UnknownCurrency,
    ];

    /// Stable label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unsigned => "unsigned",
            Self::Malformed => "malformed",
            Self::UnknownKey => "unknown_key",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::BadPrice => "bad_price",
            Self::PriceAboveBid => "price_above_bid",
            Self::UnknownCampaign => "unknown_campaign",
            Self::UnknownCurrency => "unknown_currency",
        }
    }

    /// The query field at fault.
    pub fn field(self) -> &'static str {
        match self {
            Self::Unsigned | Self::BadSignature => "sig",
            Self::Malformed => "query",
            Self::UnknownKey => "kid",
            Self::Expired => "exp",
            Self::BadPrice | Self::PriceAboveBid => "price",
            Self::UnknownCampaign => "campaign",
            Self::UnknownCurrency => "cur",
        }
    }

    /// A sentence for the error body.
    pub fn message(self) -> &'static str {
        match self {
            Self::Unsigned => "notice URL is not signed by this exchange",
            Self::Malformed => "notice URL is not of the signed layout",
            Self::UnknownKey => "notice URL is signed with a key that is not active",
            Self::BadSignature => "notice URL signature does not match",
            Self::Expired => "notice URL has expired",
            Self::BadPrice => "price must be the cleared CPM (or ${AUCTION_PRICE} unfilled)",
            Self::PriceAboveBid => "price is above the bid price",
            Self::UnknownCampaign => "campaign is not serving",
            Self::UnknownCurrency => "unknown currency",
        }
    }
}

/// Signs notice queries on the request path: the signing key and the expiry of URLs
/// issued now.
#[derive(Debug, Clone, Copy)]
pub struct Signer<'a> {
    /// The active keys (the first signs).
    pub keys: &'a KeyRing,
    /// Expiry written into every URL, unix seconds.
    pub expires: i64,
}

impl Signer<'_> {
    /// `{pairs}&max=&exp=&kid=&sig=`: the signed part of a notice query for a bid of
    /// `max_price` (in the currency among `pairs`).
    pub fn query(&self, pairs: &[(&str, &str)], max_price: f64) -> String {
        let mut out = encode_pairs(pairs);
        use std::fmt::Write;
        let _ = write!(out, "&max={max_price}");
        self.seal(SIGNATURE_DOMAIN, out)
    }

    /// Appends `&exp=&kid=` and `&sig=` (the MAC of `domain` and everything before it)
    /// to `out`: the signing shared by every kind of signed URL, each with its own
    /// `domain` so that no URL of one kind verifies as another.
    pub(crate) fn seal(&self, domain: &[u8], mut out: String) -> String {
        let key = self.keys.signing();
        use std::fmt::Write;
        let _ = write!(out, "&exp={}&kid={}", self.expires, key.id());
        let tag = key
            .mac()
            .chain_update(domain)
            .chain_update(out.as_bytes())
            .finalize()
            .into_bytes();
        out.push_str("&sig=");
        URL_SAFE_NO_PAD.encode_string(tag, &mut out);
        out
    }
}

/// `name=value&...` with the values percent-encoded.
pub(crate) fn encode_pairs(pairs: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(256);
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.extend(utf8_percent_encode(value, QUERY_VALUE));
    }
    out
}

/// Whether `tag` (unpadded base64url) is the MAC, under `key`, of `domain` and `signed`;
/// compared in constant time.
pub(crate) fn tag_matches(key: &NoticeKey, domain: &[u8], signed: &str, tag: &str) -> bool {
    let mut tag_bytes = [0u8; TAG_BYTES + 3];
    let tag_ok = URL_SAFE_NO_PAD
        .decode_slice(tag, &mut tag_bytes)
        .is_ok_and(|n| n == TAG_BYTES);
    let mac = key
        .mac()
        .chain_update(domain)
        .chain_update(signed.as_bytes());
    tag_ok && mac.verify_slice(&tag_bytes[..TAG_BYTES]).is_ok()
}

/// A notice that verified: its signed fields and the price it reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VerifiedNotice {
    /// The exchange's auction id.
    pub auction: String,
    /// The imp id.
    pub imp: String,
    /// The exchange's bid id.
    pub bid: String,
    /// The internal campaign that won, if it was one.
    pub campaign: Option<String>,
    /// Its creative.
    pub creative: Option<String>,
    /// The external bidder that won, if it was one.
    pub bidder: Option<String>,
    /// Currency of `max_price` and `price`.
    pub cur: String,
    /// The user key (hex) frequency counters count against, if the request had one.
    pub user: Option<String>,
    /// Micros the win took from its campaign's budget lease (budgeted campaigns): the
    /// reservation its spend releases.
    pub reserved: Option<i64>,
    /// The bid price as sent (CPM, `cur`).
    pub max_price: f64,
    /// Expiry, unix seconds.
    pub expires: i64,
    /// The price the notice reports (CPM, `cur`), at most `max_price`; `max_price` when the
    /// sender left the macro unfilled.
    pub price: f64,
    /// The sender fired the URL with `${AUCTION_PRICE}` unfilled (Prebid.js does for
    /// `burl`): billed at the signed bid price, which is what the exchange cleared.
    pub price_unfilled: bool,
    /// Who sold the imp: publisher, placement, sub-id, and whether its source was
    /// unregistered (see `publishers`); `pub`, `plc`, `sub`, `mm` in the URL.
    pub provenance: crate::publishers::Provenance<'static>,
}

/// Checks a notice query against `keys` at `now_unix`; the notice's fields when it is a
/// URL this exchange signed, unexpired, with a price within the bid.
pub fn verify(keys: &KeyRing, query: &str, now_unix: i64) -> Result<VerifiedNotice, Rejection> {
    let Some(at) = query.find("&sig=") else {
        return Err(Rejection::Unsigned);
    };
    let (signed, tail) = (&query[..at], &query[at + "&sig=".len()..]);
    let (tag, price) = tail.split_once("&price=").ok_or(Rejection::Malformed)?;
    if price.contains('&') {
        return Err(Rejection::Malformed);
    }
    let (mut notice, key_id) = parse_signed(signed)?;
    let key = keys.get(&key_id).ok_or(Rejection::UnknownKey)?;
    if !tag_matches(key, SIGNATURE_DOMAIN, signed, tag) {
        return Err(Rejection::BadSignature);
    }
    if notice.expires < now_unix {
        return Err(Rejection::Expired);
    }
    let decoded = percent_decode_str(price).decode_utf8().ok();
    if decoded.as_deref() == Some(PRICE_MACRO) {
        notice.price = notice.max_price;
        notice.price_unfilled = true;
        return Ok(notice);
    }
    let price = decoded
        .and_then(|p| p.parse::<f64>().ok())
        .filter(|p| p.is_finite() && *p >= 0.0)
        .ok_or(Rejection::BadPrice)?;
    if price > notice.max_price + PRICE_TOLERANCE {
        return Err(Rejection::PriceAboveBid);
    }
    notice.price = price;
    Ok(notice)
}

/// Reads a signed `pc` (the page's category) back: absent is none, anything but a
/// tier-1 number is malformed.
pub(crate) fn read_page_category(value: Option<String>) -> Result<Option<u16>, Rejection> {
    match value {
        None => Ok(None),
        Some(text) => crate::context::category::category_from_text(&text)
            .map(Some)
            .ok_or(Rejection::Malformed),
    }
}

/// The clearing-price macro as written at the end of a notice URL, before substitution.
pub const PRICE_MACRO: &str = "${AUCTION_PRICE}";

/// The names of the signed fields, in the order they are written.
const FIELDS: [&str; 17] = [
    "auction", "imp", "bid", "campaign", "creative", "bidder", "cur", "user", "res", "pub", "plc",
    "sub", "mm", "pc", "max", "exp", "kid",
];

/// The decoded values of a signed query's `fields` (by position): each known field at most
/// once, non-empty, at most [`MAX_FIELD_BYTES`]; any other name is malformed.
pub(crate) fn split_fields<const N: usize>(
    signed: &str,
    fields: &[&str; N],
) -> Result<[Option<String>; N], Rejection> {
    let mut values: [Option<String>; N] = std::array::from_fn(|_| None);
    for pair in signed.split('&') {
        let (name, value) = pair.split_once('=').ok_or(Rejection::Malformed)?;
        let slot = fields
            .iter()
            .position(|field| *field == name)
            .ok_or(Rejection::Malformed)?;
        let value = percent_decode_str(value)
            .decode_utf8()
            .map_err(|_| Rejection::Malformed)?;
        if value.is_empty() || value.len() > MAX_FIELD_BYTES || values[slot].is_some() {
            return Err(Rejection::Malformed);
        }
        values[slot] = Some(value.into_owned());
    }
    Ok(values)
}

/// The fields of the signed part, and its key id; each known field at most once.
fn parse_signed(signed: &str) -> Result<(VerifiedNotice, String), Rejection> {
    let values = split_fields(signed, &FIELDS)?;
    let [auction, imp, bid, campaign, creative, bidder, cur, user, res, publisher, placement, sub_id, mm, pc, max, exp, kid] =
        values;
    let (Some(auction), Some(imp), Some(bid), Some(cur), Some(kid)) = (auction, imp, bid, cur, kid)
    else {
        return Err(Rejection::Malformed);
    };
    if campaign.is_some() == bidder.is_some() {
        return Err(Rejection::Malformed);
    }
    let max_price = max
        .and_then(|m| m.parse::<f64>().ok())
        .filter(|m| m.is_finite() && *m >= 0.0)
        .ok_or(Rejection::Malformed)?;
    let expires = exp
        .and_then(|e| e.parse::<i64>().ok())
        .ok_or(Rejection::Malformed)?;
    let source_mismatch = match mm.as_deref() {
        None => false,
        Some("1") => true,
        Some(_) => return Err(Rejection::Malformed),
    };
    let reserved = match res {
        None => None,
        Some(r) => Some(
            r.parse::<i64>()
                .ok()
                .filter(|r| *r >= 0)
                .ok_or(Rejection::Malformed)?,
        ),
    };
    let notice = VerifiedNotice {
        auction,
        imp,
        bid,
        campaign,
        creative,
        bidder,
        cur,
        user,
        reserved,
        max_price,
        expires,
        price: 0.0,
        price_unfilled: false,
        provenance: crate::publishers::Provenance {
            publisher: publisher.map(Into::into),
            placement: placement.map(Into::into),
            sub_id: sub_id.map(Into::into),
            source_mismatch,
            page_category: read_page_category(pc)?,
        },
    };
    Ok((notice, kid))
}

#[cfg(test)]
mod tests;
