//! Filling in what a browser's request cannot say: where the device is (from its IP, with
//! an IP-geolocation database), what it is (from its user agent) and who the user is (the
//! exchange's own cookie, in [`uid`]). Only fields the request lacks are filled; what a
//! caller sent is never overwritten. The caller's own address and agent stand for the
//! device only when the call came from a browser (it carries an `Origin` header): a
//! server calling for many users has its own address and agent, not theirs.

pub mod agent;
pub mod geo;
#[cfg(test)]
pub(crate) mod sample_geo;
pub mod uid;

use crate::config::EnrichmentConfig;
use bidder_sdk::openrtb::enums::location_type;
use bidder_sdk::openrtb::{BidRequest, Device, Geo};
pub use geo::{GeoDatabase, GeoError, Place};
use std::net::IpAddr;

/// What the HTTP layer knows of the caller, beyond the body.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The call came from a browser (it carries an `Origin` header).
    pub from_browser: bool,
    /// The caller's address: the TCP peer, or the configured hop of `X-Forwarded-For`.
    pub ip: Option<IpAddr>,
    /// The `User-Agent` header (when valid UTF-8 and at most
    /// [`agent::MAX_USER_AGENT_BYTES`]).
    pub user_agent: Option<String>,
    /// The exchange's user-id cookie, when well formed.
    pub uid_cookie: Option<String>,
}

/// What enrichment filled in one request (counted in metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Filled {
    /// `device.ip`/`ipv6` from the caller.
    pub ip: bool,
    /// `device.ua` from the header.
    pub user_agent: bool,
    /// `device.geo` country (and region, city) from the IP.
    pub geo: bool,
    /// `device.os`/`devicetype`/`sua` from the agent.
    pub device: bool,
    /// The agent is a known crawler.
    pub crawler: bool,
}

/// The enrichment settings and the open geolocation database.
#[derive(Debug)]
pub struct Enricher {
    config: EnrichmentConfig,
    geo: Option<GeoDatabase>,
}

impl Enricher {
    /// Opens the configured database (a failure stops the start, naming the file).
    pub fn open(config: &EnrichmentConfig) -> Result<Self, GeoError> {
        let geo = if config.geo_database.as_os_str().is_empty() {
            None
        } else {
            Some(GeoDatabase::open(&config.geo_database)?)
        };
        Ok(Self {
            config: config.clone(),
            geo,
        })
    }

    /// Enrichment with this database (tests and benches).
    pub fn with_database(config: &EnrichmentConfig, geo: Option<GeoDatabase>) -> Self {
        Self {
            config: config.clone(),
            geo,
        }
    }

    /// The open database, if any.
    pub fn geo(&self) -> Option<&GeoDatabase> {
        self.geo.as_ref()
    }

    /// Fills what `request` lacks from `caller`, the database and the user agent.
    pub fn enrich(&self, request: &mut BidRequest, caller: &Caller) -> Filled {
        let mut filled = Filled::default();
        let browser = caller.from_browser;
        let wanted = (browser && (caller.ip.is_some() || caller.user_agent.is_some()))
            || request.device.is_some();
        if !wanted {
            return filled;
        }
        let device = request.device.get_or_insert_with(Device::default);
        if browser && self.config.caller_ip {
            filled.ip = fill_ip(device, caller.ip);
        }
        if browser && self.config.user_agent && device.ua.is_none() {
            if let Some(ua) = &caller.user_agent {
                device.ua = Some(ua.clone());
                filled.user_agent = true;
            }
        }
        if self.config.user_agent {
            let (device_filled, crawler) = fill_from_agent(device, browser);
            filled.device = device_filled;
            filled.crawler = crawler;
        }
        if let Some(geo) = &self.geo {
            filled.geo = fill_place(device, geo);
        }
        filled
    }
}

/// `device.ip` or `ipv6` from the caller, when the request has neither.
fn fill_ip(device: &mut Device, caller: Option<IpAddr>) -> bool {
    if device.ip.is_some() || device.ipv6.is_some() {
        return false;
    }
    match caller.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V4(v4)) => device.ip = Some(v4.to_string()),
        Some(IpAddr::V6(v6)) => device.ipv6 = Some(v6.to_string()),
        None => return false,
    }
    true
}

/// `os`, `osv`, `devicetype` and the structured agent (`sua`, source 3: parsed from the
/// string) from `device.ua`, where missing. The agent is parsed only when `os` or
/// `devicetype` is missing, or `sua` is for a browser's call: a server that already said
/// what the device is costs nothing here. Whether anything was filled, and whether the
/// agent is a crawler.
fn fill_from_agent(device: &mut Device, from_browser: bool) -> (bool, bool) {
    let sua_missing = from_browser && !device.extra.contains_key("sua");
    if device.os.is_some() && device.devicetype.is_some() && !sua_missing {
        return (false, false);
    }
    let Some(agent) = device.ua.as_deref().and_then(agent::parse_memoised) else {
        return (false, false);
    };
    let mut filled = false;
    if device.os.is_none() {
        if let Some(os) = agent.os {
            device.os = Some(os.to_owned());
            device.osv = device.osv.take().or_else(|| agent.osv.clone());
            filled = true;
        }
    }
    if device.devicetype.is_none() && agent.devicetype.is_some() {
        device.devicetype = agent.devicetype;
        filled = true;
    }
    if sua_missing {
        if let Some(sua) = structured_agent(&agent) {
            device.extra.insert("sua".to_owned(), sua);
            filled = true;
        }
    }
    (filled, agent.crawler)
}

/// OpenRTB 2.6 `UserAgent` (`device.sua`) from a parsed agent, when it names a browser.
fn structured_agent(agent: &agent::Agent) -> Option<serde_json::Value> {
    let browser = agent.browser?;
    let version = |text: Option<&str>| {
        text.map(|t| t.split('.').map(str::to_owned).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let mut sua = serde_json::json!({
        "browsers": [{ "brand": browser, "version": version(agent.browser_version.as_deref()) }],
        "source": 3,
    });
    if let Some(os) = agent.os {
        sua["platform"] =
            serde_json::json!({ "brand": os, "version": version(agent.osv.as_deref()) });
    }
    if let Some(kind) = agent.devicetype {
        use bidder_sdk::openrtb::enums::device_type::{PHONE, TABLET};
        sua["mobile"] = serde_json::json!(i32::from(kind == PHONE || kind == TABLET));
    }
    Some(sua)
}

/// Country, region and city from the device's IP, when the request has no country.
fn fill_place(device: &mut Device, database: &GeoDatabase) -> bool {
    if device
        .geo
        .as_ref()
        .is_some_and(|g| g.country.as_deref().is_some_and(|c| !c.is_empty()))
    {
        return false;
    }
    let ip = device
        .ip
        .as_deref()
        .or(device.ipv6.as_deref())
        .and_then(|ip| ip.parse::<IpAddr>().ok());
    let Some(place) = ip.and_then(|ip| database.locate(ip)) else {
        return false;
    };
    let geo = device.geo.get_or_insert_with(Geo::default);
    geo.country = Some(place.country.to_owned());
    if geo.region.is_none() {
        geo.region = place.region;
    }
    if geo.city.is_none() {
        geo.city = place.city;
    }
    if geo.kind.is_none() {
        geo.kind = Some(location_type::IP_ADDRESS);
        // ipservice 3: MaxMind (the database format; the data may be another vendor's).
        geo.extra
            .insert("ipservice".to_owned(), serde_json::json!(3));
    }
    true
}
