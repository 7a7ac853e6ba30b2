//! Signed click URLs: what an internal campaign's markup links through, and the check a
//! click passes before it is recorded or charged.
//!
//! A click URL is `{public_url}/c/ad?{signed}&sig={tag}` where `signed` is `auction=&imp=
//! &campaign=&creative=`, then `user=` (the hashed user key, if any), `pub=`, `plc=`,
//! `sub=`, `mm=1`, `pc=` (the provenance, as in notices), `cpc=` (CPC campaigns: micros of the
//! exchange currency one click costs, the clearing price per click) or `cr=` (CPS
//! campaigns: the commission rate stamped at auction time, LTV tier included), `at=` (the
//! serving time, unix ms), `exp=` and `kid=`. The tag is the same HMAC-SHA256 as a
//! notice's under its own version tag ([`SIGNATURE_DOMAIN`]), so a notice URL never
//! verifies as a click nor a click as a notice. Nothing follows the tag: the landing URL is
//! not in the URL at all but the creative's own, looked up by the exchange, so a click URL
//! cannot be made to redirect anywhere else.
//!
//! A promotion link (`{public_url}/c/p?link=&campaign=&creative=&pub=&plc=&sub=&cr=&exp=&kid=&sig=`,
//! under its own version tag) is the same for a placement that is not an ad slot: no
//! auction, no impression; its clicks are clicks like any other.

use crate::notice::{split_fields, tag_matches, Rejection, Signer};
use crate::publishers::Provenance;

/// Version tag fed to the MAC before a click URL's signed fields.
const SIGNATURE_DOMAIN: &[u8] = b"exchange-click-v1\n";

/// The path of an ad click on the public listener.
pub const AD_CLICK_PATH: &str = "/c/ad";

/// The names of the signed fields, in the order they are written.
const FIELDS: [&str; 15] = [
    "auction", "imp", "campaign", "creative", "user", "pub", "plc", "sub", "mm", "pc", "cpc", "cr",
    "at", "exp", "kid",
];

/// What a click URL states about the impression it was served with.
#[derive(Debug, Clone, Copy)]
pub struct ClickFacts<'a> {
    /// The exchange's auction id.
    pub auction: &'a str,
    /// The imp id.
    pub imp: &'a str,
    /// The campaign.
    pub campaign: &'a str,
    /// Its creative.
    pub creative: &'a str,
    /// The user key (hex), if the request had one.
    pub user: Option<&'a str>,
    /// Who sold the imp.
    pub provenance: Option<&'a Provenance<'a>>,
    /// CPC: what one click costs, micros of the exchange currency.
    pub cpc_micros: Option<i64>,
    /// CPS: the commission rate the auction priced with.
    pub commission_rate: Option<f64>,
    /// When the ad was served, unix ms.
    pub served_ms: i64,
}

/// `{public_url}/c/ad?{signed query}`: the click URL of a served ad.
pub fn url(signer: &Signer<'_>, public_url: &str, facts: &ClickFacts<'_>) -> String {
    let cpc = facts.cpc_micros.map(|m| m.to_string());
    let rate = facts.commission_rate.map(|r| r.to_string());
    let served = facts.served_ms.to_string();
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(12);
    pairs.extend([
        ("auction", facts.auction),
        ("imp", facts.imp),
        ("campaign", facts.campaign),
        ("creative", facts.creative),
    ]);
    if let Some(user) = facts.user {
        pairs.push(("user", user));
    }
    if let Some(provenance) = facts.provenance {
        crate::publishers::push_signed(&mut pairs, Some(provenance));
    }
    if let Some(cpc) = &cpc {
        pairs.push(("cpc", cpc));
    }
    if let Some(rate) = &rate {
        pairs.push(("cr", rate));
    }
    pairs.push(("at", &served));
    let query = signer.seal(SIGNATURE_DOMAIN, crate::notice::encode_pairs(&pairs));
    let mut out = String::with_capacity(public_url.len() + AD_CLICK_PATH.len() + 1 + query.len());
    out.push_str(public_url);
    out.push_str(AD_CLICK_PATH);
    out.push('?');
    out.push_str(&query);
    out
}

/// A click URL that verified: the impression it was served with.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedClick {
    /// The exchange's auction id.
    pub auction: String,
    /// The imp id.
    pub imp: String,
    /// The campaign.
    pub campaign: String,
    /// Its creative.
    pub creative: String,
    /// The user key (hex), if the request had one.
    pub user: Option<String>,
    /// Who sold the imp.
    pub provenance: Provenance<'static>,
    /// CPC: micros of the exchange currency one click costs.
    pub cpc_micros: Option<i64>,
    /// CPS: the commission rate stamped at auction time.
    pub commission_rate: Option<f64>,
    /// When the ad was served, unix ms.
    pub served_ms: i64,
    /// Expiry, unix seconds.
    pub expires: i64,
}

/// Checks a click query against `keys` at `now_unix`: the impression's facts when it is a
/// click URL this exchange signed and it has not expired.
pub fn verify(
    keys: &crate::notice::KeyRing,
    query: &str,
    now_unix: i64,
) -> Result<VerifiedClick, Rejection> {
    let (signed, tag) = split_signature(query)?;
    let values = split_fields(signed, &FIELDS)?;
    let [auction, imp, campaign, creative, user, publisher, placement, sub_id, mm, pc, cpc, cr, served, exp, kid] =
        values;
    let (Some(auction), Some(imp), Some(campaign), Some(creative), Some(kid)) =
        (auction, imp, campaign, creative, kid)
    else {
        return Err(Rejection::Malformed);
    };
    let key = keys.get(&kid).ok_or(Rejection::UnknownKey)?;
    if !tag_matches(key, SIGNATURE_DOMAIN, signed, tag) {
        return Err(Rejection::BadSignature);
    }
    let number = |v: Option<String>| v.and_then(|v| v.parse::<i64>().ok());
    let expires = number(exp).ok_or(Rejection::Malformed)?;
    let served_ms = number(served).ok_or(Rejection::Malformed)?;
    if expires < now_unix {
        return Err(Rejection::Expired);
    }
    let cpc_micros = match cpc {
        None => None,
        Some(c) => Some(
            c.parse::<i64>()
                .ok()
                .filter(|c| *c >= 0)
                .ok_or(Rejection::Malformed)?,
        ),
    };
    let commission_rate = parse_rate(cr)?;
    let source_mismatch = match mm.as_deref() {
        None => false,
        Some("1") => true,
        Some(_) => return Err(Rejection::Malformed),
    };
    Ok(VerifiedClick {
        auction,
        imp,
        campaign,
        creative,
        user,
        provenance: Provenance {
            publisher: publisher.map(Into::into),
            placement: placement.map(Into::into),
            sub_id: sub_id.map(Into::into),
            source_mismatch,
            page_category: crate::notice::read_page_category(pc)?,
        },
        cpc_micros,
        commission_rate,
        served_ms,
        expires,
    })
}

/// Version tag fed to the MAC before a promotion link's signed fields.
const LINK_DOMAIN: &[u8] = b"exchange-link-v1\n";

/// The path of a promotion link's click on the public listener.
pub const LINK_CLICK_PATH: &str = "/c/p";

/// The names of a promotion link's signed fields, in the order they are written.
const LINK_FIELDS: [&str; 9] = [
    "link", "campaign", "creative", "pub", "plc", "sub", "cr", "exp", "kid",
];

/// What a promotion link states: a campaign promoted by a placement that is not an ad slot
/// (a live room, a group post, a creator's note).
#[derive(Debug, Clone, Copy)]
pub struct LinkFacts<'a> {
    /// The link's id (its short code).
    pub link: &'a str,
    /// The campaign.
    pub campaign: &'a str,
    /// Its creative (whose landing URL the link goes to).
    pub creative: &'a str,
    /// Who promotes it: publisher, placement, sub-id.
    pub provenance: &'a Provenance<'a>,
    /// CPS: the commission rate the link earns.
    pub commission_rate: Option<f64>,
}

/// `{public_url}/c/p?{signed query}`: a promotion link, valid until the signer's expiry.
pub fn link_url(signer: &Signer<'_>, public_url: &str, facts: &LinkFacts<'_>) -> String {
    let rate = facts.commission_rate.map(|r| r.to_string());
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(8);
    pairs.extend([
        ("link", facts.link),
        ("campaign", facts.campaign),
        ("creative", facts.creative),
    ]);
    crate::publishers::push_signed(&mut pairs, Some(facts.provenance));
    if let Some(rate) = &rate {
        pairs.push(("cr", rate));
    }
    let query = signer.seal(LINK_DOMAIN, crate::notice::encode_pairs(&pairs));
    format!("{public_url}{LINK_CLICK_PATH}?{query}")
}

/// Checks a promotion link's query: the link's facts, as a click of no impression (its
/// `auction` is `link:<id>`, its `imp` empty, served when it was made).
pub fn verify_link(
    keys: &crate::notice::KeyRing,
    query: &str,
    now_unix: i64,
) -> Result<VerifiedClick, Rejection> {
    let (signed, tag) = split_signature(query)?;
    let [link, campaign, creative, publisher, placement, sub_id, cr, exp, kid] =
        split_fields(signed, &LINK_FIELDS)?;
    let (Some(link), Some(campaign), Some(creative), Some(kid)) = (link, campaign, creative, kid)
    else {
        return Err(Rejection::Malformed);
    };
    let key = keys.get(&kid).ok_or(Rejection::UnknownKey)?;
    if !tag_matches(key, LINK_DOMAIN, signed, tag) {
        return Err(Rejection::BadSignature);
    }
    let expires = exp
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or(Rejection::Malformed)?;
    if expires < now_unix {
        return Err(Rejection::Expired);
    }
    Ok(VerifiedClick {
        auction: format!("link:{link}"),
        imp: String::new(),
        campaign,
        creative,
        user: None,
        provenance: Provenance {
            publisher: publisher.map(Into::into),
            placement: placement.map(Into::into),
            sub_id: sub_id.map(Into::into),
            source_mismatch: false,
            page_category: None,
        },
        cpc_micros: None,
        commission_rate: parse_rate(cr)?,
        served_ms: 0,
        expires,
    })
}

fn parse_rate(value: Option<String>) -> Result<Option<f64>, Rejection> {
    match value {
        None => Ok(None),
        Some(r) => r
            .parse::<f64>()
            .ok()
            .filter(|r| r.is_finite() && (0.0..=1.0).contains(r))
            .map(Some)
            .ok_or(Rejection::Malformed),
    }
}

/// The signed part of a click or link query and its tag; nothing may follow the tag.
fn split_signature(query: &str) -> Result<(&str, &str), Rejection> {
    let at = query.find("&sig=").ok_or(Rejection::Unsigned)?;
    let (signed, tag) = (&query[..at], &query[at + "&sig=".len()..]);
    if tag.contains('&') {
        return Err(Rejection::Malformed);
    }
    Ok((signed, tag))
}

/// `landing` with `param=click_id` added to its query (before any fragment): where a click
/// is redirected. The landing URL is the campaign's own, validated at load.
pub fn landing_with_click_id(landing: &str, param: &str, click_id: &str) -> String {
    let (base, fragment) = match landing.find('#') {
        Some(at) => landing.split_at(at),
        None => (landing, ""),
    };
    let separator = if !base.contains('?') {
        "?"
    } else if base.ends_with('?') || base.ends_with('&') {
        ""
    } else {
        "&"
    };
    let mut out = String::with_capacity(landing.len() + param.len() + click_id.len() + 2);
    out.push_str(base);
    out.push_str(separator);
    out.push_str(param);
    out.push('=');
    out.extend(percent_encoding::utf8_percent_encode(
        click_id,
        crate::notice::QUERY_VALUE,
    ));
    out.push_str(fragment);
    out
}

#[cfg(test)]
mod tests;
