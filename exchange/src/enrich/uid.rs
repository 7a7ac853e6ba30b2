//! The exchange's first-party user id: read from its cookie, minted when a browser has
//! none, and given to the auction as `user.id` (so frequency caps and LTV tiers see the
//! same shopper across pages). Only where the request's privacy lets the exchange keep a
//! stable id (`privacy`'s `stableId`: not COPPA, not Do-Not-Track, TCF purposes 1 and 7
//! under GDPR, not contextual-only); where it does not, the cookie is neither read nor set,
//! and one the browser still carries is expired.

use crate::config::FirstPartyIdConfig;
use bidder_sdk::openrtb::{BidRequest, User};
use std::fmt::Write as _;

/// Longest id read from the cookie.
pub const MAX_UID_BYTES: usize = 64;

/// What the answer does with the cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieAction {
    /// Nothing (no browser cookie involved, or the feature is off).
    Leave,
    /// Set (or renew) it to this id.
    Set(String),
    /// Expire it: the request does not allow identifying the user.
    Expire,
}

/// The id in the cookie header values, if one is well formed (1–64 letters, digits, `-`
/// or `_`).
pub fn read_cookie<'a>(
    cookie_headers: impl Iterator<Item = &'a str>,
    name: &str,
) -> Option<&'a str> {
    cookie_headers
        .flat_map(|header| header.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then_some(value.trim())
        })
        .filter(|value| is_uid(value))
}

/// 1–64 letters, digits, `-` or `_`.
pub fn is_uid(value: &str) -> bool {
    (1..=MAX_UID_BYTES).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A new id: 128 random bits as 32 hex digits.
pub fn mint() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Gives the request its user id from the cookie (or a new one) when it may, and says what
/// the answer does with the cookie. A `user.id` the publisher sent is kept.
pub fn assign(
    request: &mut BidRequest,
    cookie: Option<&str>,
    from_browser: bool,
    may_identify: bool,
) -> CookieAction {
    if !from_browser {
        return CookieAction::Leave;
    }
    if !may_identify {
        return match cookie {
            Some(_) => CookieAction::Expire,
            None => CookieAction::Leave,
        };
    }
    let uid = cookie.map_or_else(mint, str::to_owned);
    let user = request.user.get_or_insert_with(User::default);
    if user.id.as_deref().is_none_or(|id| id.trim().is_empty()) {
        user.id = Some(uid.clone());
    }
    CookieAction::Set(uid)
}

/// The `Set-Cookie` header value for `action` (`None` for [`CookieAction::Leave`]).
pub fn set_cookie_header(config: &FirstPartyIdConfig, action: &CookieAction) -> Option<String> {
    let (value, max_age) = match action {
        CookieAction::Leave => return None,
        CookieAction::Set(uid) => (uid.as_str(), u64::from(config.max_age_days) * 86_400),
        CookieAction::Expire => ("", 0),
    };
    let mut header = format!(
        "{}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite={}",
        config.cookie, config.same_site
    );
    if config.secure {
        header.push_str("; Secure");
    }
    if !config.domain.is_empty() {
        let _ = write!(header, "; Domain={}", config.domain);
    }
    Some(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bidder_sdk::openrtb::{Device, Regs};

    #[test]
    fn the_cookie_is_found_among_others_and_checked() {
        let headers = ["a=1; exchange_uid=abc-123_X", "other=2"];
        assert_eq!(
            read_cookie(headers.iter().copied(), "exchange_uid"),
            Some("abc-123_X")
        );
        assert_eq!(
            read_cookie(["exchange_uidx=1"].into_iter(), "exchange_uid"),
            None
        );
        assert_eq!(
            read_cookie(["exchange_uid=a b"].into_iter(), "exchange_uid"),
            None
        );
        let long = format!("exchange_uid={}", "a".repeat(MAX_UID_BYTES + 1));
        assert_eq!(
            read_cookie([long.as_str()].into_iter(), "exchange_uid"),
            None
        );
        assert_eq!(
            read_cookie(["exchange_uid="].into_iter(), "exchange_uid"),
            None
        );
    }

    /// `assign` with the exchange's own `stableId` permission, read as the endpoint reads it.
    fn assign_checked(
        request: &mut BidRequest,
        cookie: Option<&str>,
        from_browser: bool,
        contextual_only: bool,
    ) -> CookieAction {
        let settings = crate::privacy::PrivacySettings {
            contextual_only,
            ..Default::default()
        };
        let privacy = crate::privacy::Privacy::read(request, &settings);
        let may = privacy.own.allows(crate::privacy::Activity::StableId);
        assign(request, cookie, from_browser, may)
    }

    #[test]
    fn an_id_is_minted_kept_or_withheld_by_consent() {
        let mut request = BidRequest::default();
        let CookieAction::Set(minted) = assign_checked(&mut request, None, true, false) else {
            panic!("a browser without a cookie gets one");
        };
        assert_eq!(minted.len(), 32);
        assert_eq!(
            request.user.as_ref().and_then(|u| u.id.clone()),
            Some(minted)
        );

        let mut request = BidRequest::default();
        assert_eq!(
            assign_checked(&mut request, Some("known"), true, false),
            CookieAction::Set("known".to_owned())
        );
        assert_eq!(request.user.and_then(|u| u.id).as_deref(), Some("known"));

        let mut publisher = BidRequest {
            user: Some(User {
                id: Some("publisher-id".to_owned()),
                ..User::default()
            }),
            ..BidRequest::default()
        };
        assign_checked(&mut publisher, Some("known"), true, false);
        assert_eq!(
            publisher.user.and_then(|u| u.id).as_deref(),
            Some("publisher-id")
        );

        let mut gdpr = BidRequest {
            regs: Some(Regs {
                gdpr: Some(1),
                ..Regs::default()
            }),
            ..BidRequest::default()
        };
        assert_eq!(
            assign_checked(&mut gdpr, Some("known"), true, false),
            CookieAction::Expire
        );
        assert_eq!(
            assign_checked(&mut gdpr, None, true, false),
            CookieAction::Leave
        );
        assert!(gdpr.user.is_none(), "no id without consent");

        let mut dnt = BidRequest {
            device: Some(Device {
                dnt: Some(1),
                ..Device::default()
            }),
            ..BidRequest::default()
        };
        assert_eq!(
            assign_checked(&mut dnt, None, true, false),
            CookieAction::Leave
        );
        let mut contextual = BidRequest::default();
        assert_eq!(
            assign_checked(&mut contextual, Some("k"), true, true),
            CookieAction::Expire
        );
        let mut server = BidRequest::default();
        assert_eq!(
            assign_checked(&mut server, None, false, false),
            CookieAction::Leave
        );
        assert!(server.user.is_none());
    }

    #[test]
    fn the_header_carries_the_configured_attributes() {
        let config = FirstPartyIdConfig {
            domain: "ads.example".to_owned(),
            ..FirstPartyIdConfig::default()
        };
        let set = set_cookie_header(&config, &CookieAction::Set("u1".to_owned())).expect("set");
        assert_eq!(
            set,
            "exchange_uid=u1; Max-Age=31536000; Path=/; HttpOnly; SameSite=None; Secure; Domain=ads.example"
        );
        let expire = set_cookie_header(&config, &CookieAction::Expire).expect("expire");
        assert!(expire.starts_with("exchange_uid=; Max-Age=0;"), "{expire}");
        assert_eq!(set_cookie_header(&config, &CookieAction::Leave), None);
    }
}
