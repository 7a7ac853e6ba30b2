//! Invalid traffic at the request: what a request says about its device that no person's
//! browser or app would. Three checks, each cheap and each counted by reason:
//!
//! - **crawler**: `device.ua` matches a known bot, crawler or headless browser, by the
//!   patterns of the `isbot` crate (MIT; the omrilotan/isbot list, ~350 patterns compiled
//!   into one regular expression once at start);
//! - **datacenter**: `device.ip` / `ipv6` lies in a configured list of data-center or
//!   anonymising ranges (`[ivt] datacenter_ranges`, CIDR lines), searched by binary search;
//! - **device_mismatch**: the device contradicts itself: a mobile OS on a PC, a desktop
//!   agent on a phone or tablet, an agent of one platform with another `os`, a screen no
//!   device has.
//!
//! The server decides per reason whether such a request is refused (no bid) or answered
//! with a flag (`[ivt]`).

use bidder_sdk::openrtb::{BidRequest, Device};
use std::net::IpAddr;

/// User agents whose verdict is remembered per thread: the bot regex costs ~25k
/// instructions per agent, a repeat a hash and a lookup. Past this many the memo starts
/// over, so a flood of distinct agents costs matching, never memory.
const AGENT_MEMO: usize = 1024;

thread_local! {
    static AGENTS: crate::memo::Memo<Box<str>, bool> = crate::memo::Memo::default();
}

/// Why a request looks invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IvtReason {
    /// A known bot's user agent.
    Crawler,
    /// An address in a data-center or anonymising range.
    Datacenter,
    /// A device that contradicts itself.
    DeviceMismatch,
}

impl IvtReason {
    /// Every reason, in label order.
    pub const ALL: [IvtReason; 3] = [Self::Crawler, Self::Datacenter, Self::DeviceMismatch];

    /// Stable label (metrics, `bid.ext.ivt`, config keys).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crawler => "crawler",
            Self::Datacenter => "datacenter",
            Self::DeviceMismatch => "device_mismatch",
        }
    }
}

/// What a request's checks found: each reason at most once, with a detail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// (reason, what exactly), in [`IvtReason::ALL`] order.
    pub found: Vec<(IvtReason, &'static str)>,
}

impl Findings {
    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// Whether `reason` was found.
    pub fn has(&self, reason: IvtReason) -> bool {
        self.found.iter().any(|(r, _)| *r == reason)
    }
}

/// Sorted, merged address ranges (inclusive), IPv4 and IPv6 apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpRanges {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

/// Most ranges read from a file.
pub const MAX_RANGES: usize = 1_000_000;

impl IpRanges {
    /// Parses CIDR lines (`203.0.113.0/24`, `2001:db8::/32`, or a single address);
    /// `#` starts a comment. The error names the first bad line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut ranges = Self::default();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            if ranges.len() >= MAX_RANGES {
                return Err(format!("more than {MAX_RANGES} ranges"));
            }
            let net: ipnet::IpNet = match line.parse() {
                Ok(net) => net,
                Err(_) => match line.parse::<IpAddr>() {
                    Ok(addr) => addr.into(),
                    Err(_) => {
                        return Err(format!("line {}: {line:?} is not a CIDR range", index + 1))
                    }
                },
            };
            match net {
                ipnet::IpNet::V4(net) => ranges
                    .v4
                    .push((u32::from(net.network()), u32::from(net.broadcast()))),
                ipnet::IpNet::V6(net) => ranges
                    .v6
                    .push((u128::from(net.network()), u128::from(net.broadcast()))),
            }
        }
        ranges.v4 = merged(std::mem::take(&mut ranges.v4), |v| v.saturating_add(1));
        ranges.v6 = merged(std::mem::take(&mut ranges.v6), |v| v.saturating_add(1));
        Ok(ranges)
    }

    /// Ranges held (after merging).
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `addr` lies in a range (an IPv4-mapped IPv6 address as its IPv4).
    pub fn contains(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(v4) => within(&self.v4, u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => within(&self.v4, u32::from(v4)),
                None => within(&self.v6, u128::from(v6)),
            },
        }
    }
}

/// Sorted and merged: overlapping or touching ranges (`next` of one's end is the other's
/// start) become one.
fn merged<T: Ord + Copy>(mut ranges: Vec<(T, T)>, next: impl Fn(T) -> T) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match out.last_mut() {
            Some(last) if start <= next(last.1) => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

fn within<T: Ord + Copy>(ranges: &[(T, T)], value: T) -> bool {
    let at = ranges.partition_point(|(start, _)| *start <= value);
    at > 0 && value <= ranges[at - 1].1
}

/// The checks, built once at start.
#[derive(Debug)]
pub struct Detector {
    bots: isbot::Bots,
    datacenter: IpRanges,
}

impl Detector {
    /// The bot list of the `isbot` crate, and `datacenter` ranges.
    pub fn new(datacenter: IpRanges) -> Self {
        Self {
            bots: isbot::Bots::default(),
            datacenter,
        }
    }

    /// What it holds, for the start-up memory ledger.
    pub fn describe(&self) -> String {
        format!(
            "bot agent patterns, {} data-center ranges",
            self.datacenter.len()
        )
    }

    /// Whether `ua` is a known bot's, remembered per thread.
    fn is_bot(&self, ua: &str) -> bool {
        crate::memo::remembered(
            &AGENTS,
            AGENT_MEMO,
            ua,
            || Box::from(ua),
            || self.bots.is_bot(ua),
        )
    }

    /// Data-center ranges held.
    pub fn datacenter_ranges(&self) -> usize {
        self.datacenter.len()
    }

    /// Every reason `request` gives (empty for an ordinary one).
    pub fn check(&self, request: &BidRequest) -> Findings {
        let mut findings = Findings::default();
        let Some(device) = &request.device else {
            return findings;
        };
        if let Some(ua) = device.ua.as_deref().filter(|ua| !ua.is_empty()) {
            if ua.len() > 4096 || self.is_bot(ua) {
                findings
                    .found
                    .push((IvtReason::Crawler, "user agent of a known bot"));
            }
        }
        if !self.datacenter.is_empty() {
            let addresses = [device.ip.as_deref(), device.ipv6.as_deref()];
            let inside = addresses
                .into_iter()
                .flatten()
                .filter_map(|ip| ip.parse::<IpAddr>().ok())
                .any(|ip| self.datacenter.contains(ip));
            if inside {
                findings
                    .found
                    .push((IvtReason::Datacenter, "address in a data-center range"));
            }
        }
        if let Some(detail) = device_mismatch(device) {
            findings.found.push((IvtReason::DeviceMismatch, detail));
        }
        findings
    }
}

/// A platform as an agent or `device.os` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Platform {
    Ios,
    Android,
    Windows,
    MacOs,
    Linux,
}

impl Platform {
    fn mobile(self) -> bool {
        matches!(self, Self::Ios | Self::Android)
    }
}

fn platform_of_agent(ua: &str) -> Option<Platform> {
    if ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iPod") {
        Some(Platform::Ios)
    } else if ua.contains("Android") {
        Some(Platform::Android)
    } else if ua.contains("Windows NT") {
        Some(Platform::Windows)
    } else if ua.contains("Macintosh") {
        Some(Platform::MacOs)
    } else if ua.contains("X11; Linux") || ua.contains("X11; Ubuntu") {
        Some(Platform::Linux)
    } else {
        None
    }
}

fn platform_of_os(os: &str) -> Option<Platform> {
    match os.to_ascii_lowercase().as_str() {
        "ios" | "ipados" => Some(Platform::Ios),
        "android" => Some(Platform::Android),
        "windows" => Some(Platform::Windows),
        "macos" | "mac os" | "os x" | "mac os x" => Some(Platform::MacOs),
        "linux" | "ubuntu" => Some(Platform::Linux),
        _ => None,
    }
}

/// OpenRTB device types: 1 mobile/tablet, 2 PC, 4 phone, 5 tablet.
const PERSONAL_COMPUTER: i32 = 2;
const PHONE_OR_TABLET: [i32; 3] = [1, 4, 5];
/// No screen is larger in pixels on either side.
const MAX_SCREEN_PX: i64 = 16_384;

/// What makes `device` impossible, if anything.
pub fn device_mismatch(device: &Device) -> Option<&'static str> {
    let os = device.os.as_deref().and_then(platform_of_os);
    let agent = device.ua.as_deref().and_then(platform_of_agent);
    if let (Some(os), Some(agent)) = (os, agent) {
        // iPadOS asks for desktop sites with a Macintosh agent: not a contradiction.
        let ipad_desktop_mode = os == Platform::Ios && agent == Platform::MacOs;
        if os != agent && !ipad_desktop_mode {
            return Some("os contradicts the user agent's platform");
        }
    }
    let kind = device.devicetype;
    if kind == Some(PERSONAL_COMPUTER) && os.is_some_and(Platform::mobile) {
        return Some("a mobile os on a personal computer");
    }
    let desktop_agent = agent.is_some_and(|p| !p.mobile());
    if kind.is_some_and(|k| PHONE_OR_TABLET.contains(&k))
        && desktop_agent
        && agent != Some(Platform::MacOs)
    {
        return Some("a desktop user agent on a phone or tablet");
    }
    let impossible = |side: Option<i64>| side.is_some_and(|px| px <= 0 || px > MAX_SCREEN_PX);
    if impossible(device.w) || impossible(device.h) {
        return Some("a screen size no device has");
    }
    None
}

#[cfg(test)]
mod tests;
