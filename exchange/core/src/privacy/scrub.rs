//! What leaves the exchange for one bidder, cut to its [`Permissions`]: user first-party
//! data and device ids removed, extended ids removed, precise geolocation rounded (two
//! decimals, about a kilometre) and IP addresses truncated (IPv4 to /24, IPv6 to /48).
//! Returns the fields it changed, for the debug view.

use super::activities::{Activity, Permissions};
use bidder_sdk::openrtb::{BidRequest, Extra, Json};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Device id fields OpenRTB 2.5 had (kept in `extra` when a caller sends them).
const DEVICE_ID_FIELDS: [&str; 6] = [
    "dpidsha1", "dpidmd5", "macsha1", "macmd5", "didsha1", "didmd5",
];
/// User fields that describe the person, beyond ids (in `extra`).
const USER_DATA_FIELDS: [&str; 4] = ["yob", "gender", "kwarray", "customdata"];

/// Cuts `request` to `permissions`; the names of the fields removed or coarsened.
pub fn scrub(request: &mut BidRequest, permissions: &Permissions) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if !permissions.allows(Activity::TransmitUfpd) {
        if let Some(user) = &mut request.user {
            take(&mut user.id, "user.id", &mut changed);
            take(&mut user.buyeruid, "user.buyeruid", &mut changed);
            take(&mut user.keywords, "user.keywords", &mut changed);
            if !user.data.is_empty() {
                user.data.clear();
                changed.push("user.data");
            }
            remove_keys(
                &mut user.extra,
                &USER_DATA_FIELDS,
                "user.yob/gender/kwarray/customdata",
                &mut changed,
            );
            // `ext.consent` stays: a bidder must know what it was given.
            if let Some(Json::Object(ext)) = &mut user.ext {
                let before = ext.len();
                ext.retain(|key, _| key == "consent" || key == "eids");
                if ext.len() != before {
                    changed.push("user.ext");
                }
            }
        }
        if let Some(device) = &mut request.device {
            take(&mut device.ifa, "device.ifa", &mut changed);
            remove_keys(
                &mut device.extra,
                &DEVICE_ID_FIELDS,
                "device.dpid/mac/did",
                &mut changed,
            );
        }
    }
    if !permissions.allows(Activity::TransmitEids) {
        if let Some(user) = &mut request.user {
            if !user.eids.is_empty() {
                user.eids.clear();
                changed.push("user.eids");
            }
            if let Some(Json::Object(ext)) = &mut user.ext {
                if ext.remove("eids").is_some() {
                    changed.push("user.ext.eids");
                }
            }
        }
    }
    if !permissions.allows(Activity::TransmitPreciseGeo) {
        if let Some(device) = &mut request.device {
            if let Some(geo) = &mut device.geo {
                if round(&mut geo.lat) | round(&mut geo.lon) {
                    changed.push("device.geo.lat/lon");
                }
            }
            coarsen(&mut device.ip, truncate_v4, "device.ip", &mut changed);
            coarsen(&mut device.ipv6, truncate_v6, "device.ipv6", &mut changed);
        }
        if let Some(Json::Object(geo)) = request.user.as_mut().and_then(|u| u.extra.get_mut("geo"))
        {
            let mut any = false;
            for key in ["lat", "lon"] {
                if let Some(value) = geo.get(key).and_then(Json::as_f64) {
                    let rounded = (value * 100.0).round() / 100.0;
                    if rounded != value {
                        geo.insert(key.to_owned(), Json::from(rounded));
                        any = true;
                    }
                }
            }
            if any {
                changed.push("user.geo.lat/lon");
            }
        }
    }
    changed
}

/// The address cut to its network, or removed when it is not an address at all.
fn coarsen(
    field: &mut Option<String>,
    truncate: fn(&str) -> Option<String>,
    name: &'static str,
    changed: &mut Vec<&'static str>,
) {
    let Some(ip) = field.as_deref() else {
        return;
    };
    let coarse = truncate(ip.trim());
    if coarse.as_deref() != Some(ip) {
        *field = coarse;
        changed.push(name);
    }
}

fn take(field: &mut Option<String>, name: &'static str, changed: &mut Vec<&'static str>) {
    if field.take().is_some() {
        changed.push(name);
    }
}

fn remove_keys(
    extra: &mut Extra,
    keys: &[&str],
    name: &'static str,
    changed: &mut Vec<&'static str>,
) {
    let mut any = false;
    for key in keys {
        any |= extra.remove(*key).is_some();
    }
    if any {
        changed.push(name);
    }
}

/// Two decimals (about 1.1 km); true when it changed the value.
fn round(value: &mut Option<f64>) -> bool {
    match value {
        Some(v) if v.is_finite() => {
            let rounded = (*v * 100.0).round() / 100.0;
            let changed = rounded != *v;
            *v = rounded;
            changed
        }
        Some(_) => {
            *value = None;
            true
        }
        None => false,
    }
}

/// The /24 network of an IPv4 address (`203.0.113.7` → `203.0.113.0`); `None` when it is
/// not one.
pub fn truncate_v4(ip: &str) -> Option<String> {
    let addr: Ipv4Addr = ip.parse().ok()?;
    let [a, b, c, _] = addr.octets();
    Some(Ipv4Addr::new(a, b, c, 0).to_string())
}

/// The /48 network of an IPv6 address (`2001:db8:1:2::5` → `2001:db8:1::`).
pub fn truncate_v6(ip: &str) -> Option<String> {
    let addr: Ipv6Addr = ip.parse().ok()?;
    let s = addr.segments();
    Some(Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0).to_string())
}
