//! OpenRTB rules the types alone do not enforce, shared by the exchange (publisher
//! requests) and the SDK host (the requests a DSP receives). A request either fails with
//! an [`Invalid`] naming the field (→ 400), or is sanitised in place (out-of-range
//! coordinates dropped) and served.

use super::{BidRequest, Geo, Imp, Json};
use std::collections::HashSet;

/// Most imps in one request; more is a 400 (real pages carry a handful).
pub const MAX_IMPS: usize = 64;
/// Most banner formats per imp.
pub const MAX_FORMATS: usize = 32;
/// Longest accepted request or imp id.
pub const MAX_ID_BYTES: usize = 256;
/// Most entries in a block or seat list (`bcat`, `badv`, `bapp`, `wseat`, `bseat`, `cur`).
pub const MAX_LIST_ENTRIES: usize = 1_000;

/// A request that breaks an OpenRTB rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Path of the offending field.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Three ASCII upper-case letters (the shape of an ISO-4217 code).
pub fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// Checks `request` and sanitises what can be sanitised.
pub fn validate_request(request: &mut BidRequest) -> Result<(), Invalid> {
    if request.id.is_empty() || request.id.len() > MAX_ID_BYTES {
        return Err(invalid("id", format!("must be 1..={MAX_ID_BYTES} bytes")));
    }
    if request.imp.is_empty() {
        return Err(invalid("imp", "at least one imp is required"));
    }
    if request.imp.len() > MAX_IMPS {
        return Err(invalid("imp", format!("at most {MAX_IMPS} imps")));
    }
    let placements = [
        request.site.is_some(),
        request.app.is_some(),
        request.dooh.is_some(),
    ];
    if placements.iter().filter(|p| **p).count() > 1 {
        return Err(invalid(
            "site",
            "only one of site, app and dooh may be present",
        ));
    }
    let lists = [
        ("bcat", request.bcat.len()),
        ("badv", request.badv.len()),
        ("bapp", request.bapp.len()),
        ("wseat", request.wseat.len()),
        ("bseat", request.bseat.len()),
        ("cur", request.cur.len()),
    ];
    if let Some((name, _)) = lists.iter().find(|(_, len)| *len > MAX_LIST_ENTRIES) {
        return Err(invalid(
            *name,
            format!("at most {MAX_LIST_ENTRIES} entries"),
        ));
    }
    if let Some(i) = request.cur.iter().position(|c| !is_currency_code(c)) {
        return Err(invalid(format!("cur[{i}]"), "must be an ISO-4217 code"));
    }
    let mut ids = HashSet::with_capacity(request.imp.len());
    for (i, imp) in request.imp.iter().enumerate() {
        if !ids.insert(imp.id.as_str()) {
            return Err(invalid(
                format!("imp[{i}].id"),
                format!("duplicate imp id {:?}", imp.id),
            ));
        }
        validate_imp(imp, &format!("imp[{i}]"))?;
    }
    if let Some(regs) = &request.regs {
        flag(regs.gdpr, "regs.gdpr")?;
        flag(regs.coppa, "regs.coppa")?;
        if let Some(ext) = &regs.ext {
            match ext.get("gdpr") {
                None | Some(Json::Null) => {}
                Some(value) if value.as_i64().is_some_and(|v| v == 0 || v == 1) => {}
                Some(_) => return Err(invalid("regs.ext.gdpr", "must be 0 or 1")),
            }
        }
    }
    if let Some(ext) = request.user.as_ref().and_then(|u| u.ext.as_ref()) {
        if ext
            .get("consent")
            .is_some_and(|c| !c.is_string() && !c.is_null())
        {
            return Err(invalid("user.ext.consent", "must be a string"));
        }
    }
    if let Some(geo) = request.device.as_mut().and_then(|d| d.geo.as_mut()) {
        sanitise_geo(geo);
    }
    Ok(())
}

fn validate_imp(imp: &Imp, path: &str) -> Result<(), Invalid> {
    if imp.id.is_empty() || imp.id.len() > MAX_ID_BYTES {
        return Err(invalid(
            format!("{path}.id"),
            format!("must be 1..={MAX_ID_BYTES} bytes"),
        ));
    }
    if imp.banner.is_none() && imp.video.is_none() && imp.audio.is_none() && imp.native.is_none() {
        return Err(invalid(path, "needs one of banner, video, audio or native"));
    }
    if let Some(floor) = imp.bidfloor {
        if !floor.is_finite() || floor < 0.0 {
            return Err(invalid(
                format!("{path}.bidfloor"),
                "must be a finite number >= 0",
            ));
        }
    }
    if let Some(cur) = &imp.bidfloorcur {
        if !is_currency_code(cur) {
            return Err(invalid(
                format!("{path}.bidfloorcur"),
                "must be an ISO-4217 code",
            ));
        }
    }
    if let Some(banner) = &imp.banner {
        if banner.format.len() > MAX_FORMATS {
            return Err(invalid(
                format!("{path}.banner.format"),
                format!("at most {MAX_FORMATS} formats"),
            ));
        }
        if banner.w.is_some_and(|w| w < 0) || banner.h.is_some_and(|h| h < 0) {
            return Err(invalid(format!("{path}.banner.w"), "sizes must be >= 0"));
        }
        for (j, format) in banner.format.iter().enumerate() {
            let values = [
                format.w,
                format.h,
                format.wratio,
                format.hratio,
                format.wmin,
            ];
            if values.iter().flatten().any(|v| *v < 0) {
                return Err(invalid(
                    format!("{path}.banner.format[{j}]"),
                    "sizes must be >= 0",
                ));
            }
        }
    }
    if imp.video.as_ref().is_some_and(|v| v.mimes.is_empty()) {
        return Err(invalid(
            format!("{path}.video.mimes"),
            "must list at least one MIME type",
        ));
    }
    if imp.audio.as_ref().is_some_and(|a| a.mimes.is_empty()) {
        return Err(invalid(
            format!("{path}.audio.mimes"),
            "must list at least one MIME type",
        ));
    }
    if imp.native.as_ref().is_some_and(|n| n.request.is_empty()) {
        return Err(invalid(
            format!("{path}.native.request"),
            "must not be empty",
        ));
    }
    if let Some(pmp) = &imp.pmp {
        for (j, deal) in pmp.deals.iter().enumerate() {
            if deal.id.is_empty() {
                return Err(invalid(
                    format!("{path}.pmp.deals[{j}].id"),
                    "must not be empty",
                ));
            }
            if deal.bidfloor.is_some_and(|f| !f.is_finite() || f < 0.0) {
                return Err(invalid(
                    format!("{path}.pmp.deals[{j}].bidfloor"),
                    "must be a finite number >= 0",
                ));
            }
        }
    }
    Ok(())
}

fn flag(value: Option<i32>, field: &str) -> Result<(), Invalid> {
    match value {
        None | Some(0) | Some(1) => Ok(()),
        Some(_) => Err(invalid(field, "must be 0 or 1")),
    }
}

/// Drops coordinates outside the globe rather than rejecting the request.
fn sanitise_geo(geo: &mut Geo) {
    let valid = matches!((geo.lat, geo.lon), (Some(lat), Some(lon)) if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon));
    if !valid {
        geo.lat = None;
        geo.lon = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openrtb::decode_request;

    fn check(body: &str) -> Result<BidRequest, Invalid> {
        let mut request = decode_request(body.as_bytes()).expect("decodes");
        validate_request(&mut request).map(|()| request)
    }

    #[test]
    fn rule_breaks_name_their_field() {
        let cases = [
            (r#"{"id":"","imp":[{"id":"1","banner":{}}]}"#, "id"),
            (r#"{"id":"r","imp":[]}"#, "imp"),
            (
                r#"{"id":"r","imp":[{"id":"1","banner":{}},{"id":"1","banner":{}}]}"#,
                "imp[1].id",
            ),
            (r#"{"id":"r","imp":[{"id":"1"}]}"#, "imp[0]"),
            (
                r#"{"id":"r","imp":[{"id":"1","banner":{},"bidfloor":-1}]}"#,
                "imp[0].bidfloor",
            ),
            (
                r#"{"id":"r","imp":[{"id":"1","video":{"mimes":[]}}]}"#,
                "imp[0].video.mimes",
            ),
            (
                r#"{"id":"r","imp":[{"id":"1","banner":{}}],"site":{},"app":{}}"#,
                "site",
            ),
            (
                r#"{"id":"r","imp":[{"id":"1","banner":{}}],"regs":{"gdpr":2}}"#,
                "regs.gdpr",
            ),
            (
                r#"{"id":"r","imp":[{"id":"1","banner":{}}],"user":{"ext":{"consent":1}}}"#,
                "user.ext.consent",
            ),
            (
                r#"{"id":"r","imp":[{"id":"1","banner":{},"pmp":{"deals":[{"id":""}]}}]}"#,
                "imp[0].pmp.deals[0].id",
            ),
            (
                r#"{"id":"r","imp":[{"id":"1","banner":{}}],"cur":["usd"]}"#,
                "cur[0]",
            ),
        ];
        for (body, field) in cases {
            assert_eq!(check(body).expect_err(body).field, field, "{body}");
        }
    }

    #[test]
    fn impossible_coordinates_are_dropped_not_rejected() {
        let request = check(r#"{"id":"r","imp":[{"id":"1","banner":{}}],"device":{"geo":{"lat":123.456,"lon":10,"country":"USA"}}}"#)
            .expect("sanitised");
        let geo = request.device.and_then(|d| d.geo).expect("geo");
        assert_eq!((geo.lat, geo.lon), (None, None));
        assert_eq!(geo.country.as_deref(), Some("USA"));
    }
}
