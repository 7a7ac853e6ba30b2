//! `[enrichment]` and `[first_party_id]`: what the exchange adds to a request that a
//! browser cannot send (place from the IP, device from the user agent, a user id from the
//! exchange's own cookie).

use serde::Deserialize;
use std::path::PathBuf;

/// Filling in what a browser's request lacks.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnrichmentConfig {
    /// A MaxMind-format (`.mmdb`) country or city database, relative to the config file's
    /// folder: fills `device.geo` (country, region, city) from the device's IP when the
    /// request has no country. Empty: no IP geolocation.
    pub geo_database: PathBuf,
    /// Fill `device.ua`, `os`, `osv`, `devicetype` and `sua` from the `User-Agent` header
    /// when the request lacks them.
    pub user_agent: bool,
    /// Fill `device.ip`/`ipv6` from the caller's address when the request has neither.
    pub caller_ip: bool,
    /// How many proxies of the operator's own stand in front of the exchange: the caller's
    /// address is the one that many hops back in `X-Forwarded-For` (0: the TCP peer; the
    /// header is then ignored, as anyone can write it).
    pub forwarded_for_hops: u8,
}

impl Default for EnrichmentConfig {
    fn default() -> Self {
        Self {
            geo_database: PathBuf::new(),
            user_agent: true,
            caller_ip: true,
            forwarded_for_hops: 0,
        }
    }
}

impl EnrichmentConfig {
    /// Checks the bounds.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.forwarded_for_hops > 8 {
            return Err((
                "enrichment.forwarded_for_hops".to_owned(),
                "at most 8 proxies".to_owned(),
            ));
        }
        Ok(())
    }
}

/// The exchange's own user-id cookie, set on its answers to browsers.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FirstPartyIdConfig {
    /// Cookie name; empty: no cookie is read or set.
    pub cookie: String,
    /// Cookie lifetime, days (renewed on each auction that reads it).
    pub max_age_days: u32,
    /// `Domain` attribute (e.g. `ads.example` to share it across subdomains); empty: the
    /// host that answered.
    pub domain: String,
    /// `Secure` attribute (needed with `same_site = "None"`; browsers treat loopback as
    /// secure, so it also works in local tests).
    pub secure: bool,
    /// `SameSite` attribute: `Lax`, `Strict` or `None` (`None` lets pages on other sites
    /// send it, as Prebid.js's `withCredentials` calls from a publisher's page do).
    pub same_site: String,
}

impl Default for FirstPartyIdConfig {
    fn default() -> Self {
        Self {
            cookie: "exchange_uid".to_owned(),
            max_age_days: 365,
            domain: String::new(),
            secure: true,
            same_site: "None".to_owned(),
        }
    }
}

impl FirstPartyIdConfig {
    /// Checks the cookie's name and attributes.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let field = |name: &str| format!("first_party_id.{name}");
        if self.cookie.len() > 64
            || !self
                .cookie
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err((
                field("cookie"),
                "at most 64 letters, digits, '_' or '-'".to_owned(),
            ));
        }
        if !(1..=400).contains(&self.max_age_days) {
            return Err((
                field("max_age_days"),
                "1 to 400 days (browsers cap cookies at 400)".to_owned(),
            ));
        }
        if !self
            .domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        {
            return Err((field("domain"), "a host name".to_owned()));
        }
        match self.same_site.as_str() {
            "Lax" | "Strict" => Ok(()),
            "None" if self.secure => Ok(()),
            "None" => Err((
                field("same_site"),
                "\"None\" needs secure = true (browsers drop it otherwise)".to_owned(),
            )),
            _ => Err((field("same_site"), "Lax, Strict or None".to_owned())),
        }
    }

    /// Whether the cookie is on.
    pub fn enabled(&self) -> bool {
        !self.cookie.is_empty()
    }
}
