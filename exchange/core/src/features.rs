//! What the auction needs to know about a request, extracted once per request:
//! normalised keys for each targeting dimension, blocks, seats, and per imp the floor,
//! allowed sizes and formats.

use crate::campaign::normalise_os;
use crate::index::{Size, Snapshot};
use crate::native::NativeSpec;
use crate::url_host::site_host;
use bidder_sdk::openrtb::{BidRequest, Imp};

/// Most page keywords read from one request.
pub const MAX_KEYWORDS: usize = 64;
/// Longest keyword kept, in bytes.
pub const MAX_KEYWORD_BYTES: usize = 64;
/// Most page categories read from one request.
pub const MAX_PAGE_CATEGORIES: usize = 32;

/// Request-level features.
#[derive(Debug, Default)]
pub struct RequestFeatures<'r> {
    /// Country, upper-case alpha-3.
    pub country: Option<String>,
    /// Region, upper-case.
    pub region: Option<String>,
    /// OpenRTB device type, if known.
    pub device_type: Option<i32>,
    /// Normalised OS.
    pub os: Option<String>,
    /// Languages of the device and the content, lower-case ISO-639-1.
    pub languages: Vec<String>,
    /// Page keywords, lower-case.
    pub keywords: Vec<String>,
    /// Page categories.
    pub page_categories: Vec<&'r str>,
    /// Site domain, lower-case, without `www.`.
    pub site_domain: Option<String>,
    /// App bundle, lower-case.
    pub app_bundle: Option<String>,
    /// Publisher id, lower-case.
    pub publisher_id: Option<String>,
    /// Blocked ad categories.
    pub bcat: &'r [String],
    /// Blocked advertiser domains, lower-case.
    pub badv: Vec<String>,
    /// Blocked app bundles, lower-case.
    pub bapp: Vec<String>,
    /// Allowed buyer seats.
    pub wseat: &'r [String],
    /// Blocked buyer seats.
    pub bseat: &'r [String],
    /// Allowed creative languages, lower-case.
    pub wlang: Vec<String>,
    /// Wall-clock time of the auction, unix seconds.
    pub now_unix: i64,
}

/// Features of one imp.
#[derive(Debug)]
pub struct ImpFeatures<'r> {
    /// The imp.
    pub imp: &'r Imp,
    /// Effective floor in the exchange currency (imp floor and exchange floor).
    pub floor: f64,
    /// The imp's floor currency has no known rate: nothing can be compared to it.
    pub floor_currency_unknown: bool,
    /// Banner sizes allowed, in preference order (empty with `banner_any_size`).
    pub banner_sizes: Vec<Size>,
    /// A banner of any size is allowed (banner without sizes, or a full-screen interstitial).
    pub banner_any_size: bool,
    /// The native slot, if the imp has a usable one.
    pub native: Option<NativeSpec>,
    /// Blocked creative attributes.
    pub battr: Vec<i32>,
    /// Only https creatives.
    pub secure: bool,
    /// Only deals may bid (internal campaigns hold none).
    pub private_auction: bool,
}

impl ImpFeatures<'_> {
    /// Whether the imp offers a format internal campaigns can fill at all.
    pub fn has_servable_format(&self) -> bool {
        self.banner_any_size || !self.banner_sizes.is_empty() || self.native.is_some()
    }
}

/// Extracts request-level features.
pub fn request_features(request: &BidRequest, now_unix: i64) -> RequestFeatures<'_> {
    let device = request.device.as_ref();
    let geo = device.and_then(|d| d.geo.as_ref());
    let site = request.site.as_ref();
    let app = request.app.as_ref();
    let content = site
        .and_then(|s| s.content.as_ref())
        .or_else(|| app.and_then(|a| a.content.as_ref()));
    let device_type = device.and_then(|d| d.devicetype).or_else(|| {
        request
            .dooh
            .as_ref()
            .map(|_| bidder_sdk::openrtb::enums::device_type::OOH)
    });

    let mut languages = Vec::new();
    for lang in [
        device.and_then(|d| d.language.as_deref()),
        content.and_then(|c| c.language.as_deref()),
    ]
    .into_iter()
    .flatten()
    {
        let code = language_code(lang);
        if !code.is_empty() && !languages.contains(&code) {
            languages.push(code);
        }
    }

    let mut keywords = Vec::new();
    let csv_sources = [
        site.and_then(|s| s.keywords.as_deref()),
        app.and_then(|a| a.keywords.as_deref()),
        content.and_then(|c| c.keywords.as_deref()),
        request.dooh.as_ref().and_then(|d| d.keywords.as_deref()),
    ];
    let arrays = [
        site.map(|s| &s.kwarray),
        app.map(|a| &a.kwarray),
        content.map(|c| &c.kwarray),
    ];
    let words = csv_sources
        .into_iter()
        .flatten()
        .flat_map(|csv| csv.split(','))
        .chain(arrays.into_iter().flatten().flatten().map(String::as_str));
    for word in words {
        if keywords.len() >= MAX_KEYWORDS {
            break;
        }
        let word = word.trim();
        if !word.is_empty() && word.len() <= MAX_KEYWORD_BYTES {
            let lower = word.to_lowercase();
            if !keywords.contains(&lower) {
                keywords.push(lower);
            }
        }
    }

    let category_lists = [
        site.map(|s| &s.cat),
        site.map(|s| &s.pagecat),
        site.map(|s| &s.sectioncat),
        app.map(|a| &a.cat),
        app.map(|a| &a.pagecat),
        app.map(|a| &a.sectioncat),
        content.map(|c| &c.cat),
    ];
    let page_categories = category_lists
        .into_iter()
        .flatten()
        .flatten()
        .map(String::as_str)
        .take(MAX_PAGE_CATEGORIES)
        .collect();

    let site_domain = site
        .and_then(|s| site_host(s.domain.as_deref(), s.page.as_deref()))
        .map(|host| match host.strip_prefix("www.") {
            Some(bare) => bare.to_owned(),
            None => host,
        });
    let publisher = site
        .and_then(|s| s.publisher.as_ref())
        .or_else(|| app.and_then(|a| a.publisher.as_ref()))
        .or_else(|| request.dooh.as_ref().and_then(|d| d.publisher.as_ref()));

    RequestFeatures {
        country: geo
            .and_then(|g| g.country.as_ref())
            .map(|c| c.trim().to_ascii_uppercase()),
        region: geo
            .and_then(|g| g.region.as_ref())
            .map(|r| r.trim().to_ascii_uppercase()),
        device_type,
        os: device.and_then(|d| d.os.as_deref()).map(normalise_os),
        languages,
        keywords,
        page_categories,
        site_domain,
        app_bundle: app
            .and_then(|a| a.bundle.as_ref())
            .map(|b| b.to_lowercase()),
        publisher_id: publisher
            .and_then(|p| p.id.as_ref())
            .map(|id| id.to_lowercase()),
        bcat: &request.bcat,
        badv: request
            .badv
            .iter()
            .map(|d| d.trim().to_lowercase())
            .collect(),
        bapp: request
            .bapp
            .iter()
            .map(|b| b.trim().to_lowercase())
            .collect(),
        wseat: &request.wseat,
        bseat: &request.bseat,
        wlang: request.wlang.iter().map(|l| language_code(l)).collect(),
        now_unix,
    }
}

/// Extracts the features of one imp; `floor` is already in the exchange currency.
pub fn imp_features<'r>(imp: &'r Imp, floor: Option<f64>, snapshot: &Snapshot) -> ImpFeatures<'r> {
    let mut banner_sizes = Vec::new();
    let mut banner_any_size = false;
    let mut battr = Vec::new();
    if let Some(banner) = &imp.banner {
        battr.extend_from_slice(&banner.battr);
        for format in &banner.format {
            match (format.w, format.h, format.wratio, format.hratio) {
                (Some(w), Some(h), _, _) if w > 0 && h > 0 => push_size(&mut banner_sizes, w, h),
                (_, _, Some(wr), Some(hr)) if wr > 0 && hr > 0 => {
                    let wmin = format.wmin.unwrap_or(0).max(0) as u64;
                    for &(w, h) in &snapshot.banner_sizes {
                        if u64::from(w) * hr as u64 == u64::from(h) * wr as u64
                            && u64::from(w) >= wmin
                        {
                            push_size(&mut banner_sizes, i64::from(w), i64::from(h));
                        }
                    }
                }
                _ => {}
            }
        }
        match (banner.w, banner.h) {
            (Some(w), Some(h)) if w > 0 && h > 0 => push_size(&mut banner_sizes, w, h),
            _ => {}
        }
        // No usable size (or a 0x0 interstitial): any banner size may serve.
        banner_any_size =
            banner_sizes.is_empty() && banner.format.iter().all(|f| f.wratio.is_none());
    }
    let native = imp.native.as_ref().and_then(|native| {
        battr.extend_from_slice(&native.battr);
        NativeSpec::parse(&native.request)
    });
    ImpFeatures {
        imp,
        floor: floor.unwrap_or(0.0),
        floor_currency_unknown: floor.is_none(),
        banner_sizes,
        banner_any_size,
        native,
        battr,
        secure: imp.secure == Some(1),
        private_auction: imp
            .pmp
            .as_ref()
            .is_some_and(|p| p.private_auction == Some(1)),
    }
}

fn push_size(sizes: &mut Vec<Size>, w: i64, h: i64) {
    let size = (
        w.clamp(0, u32::MAX as i64) as u32,
        h.clamp(0, u32::MAX as i64) as u32,
    );
    if !sizes.contains(&size) {
        sizes.push(size);
    }
}

/// `zh-CN` → `zh`.
fn language_code(lang: &str) -> String {
    lang.split(['-', '_'])
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_bounded_and_deduplicated() {
        let many: Vec<String> = (0..500).map(|i| format!("k{i}")).collect();
        let request: BidRequest = serde_json::from_value(serde_json::json!({
            "id": "r", "imp": [], "site": {"keywords": "Diapers, diapers ,婴儿", "kwarray": many}
        }))
        .expect("valid");
        let features = request_features(&request, 0);
        assert_eq!(features.keywords.len(), MAX_KEYWORDS);
        assert_eq!(&features.keywords[..2], ["diapers", "婴儿"]);
    }
}
