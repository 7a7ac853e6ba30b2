//! What each bidder is sent: the imps it accepts (capabilities, sizes, geo), and the
//! publisher's request rewritten for it: our auction id, `source.tid`, its `tmax` and
//! currency, floors in its currency, test flag, the supply chain. What it may get of the
//! user is cut afterwards by `privacy::scrub`, to its own permissions.

use crate::config::{BidderConfig, MediaType};
use bidder_sdk::openrtb::{BidRequest, Imp, Json, Source};

/// Indices of the imps `bidder` accepts (`sizes` is its parsed size list); empty when
/// it should not be called.
pub fn accepted_imps(
    bidder: &BidderConfig,
    sizes: &[(i64, i64)],
    request: &BidRequest,
) -> Vec<usize> {
    if !bidder.countries.is_empty() {
        let country = request
            .device
            .as_ref()
            .and_then(|d| d.geo.as_ref())
            .and_then(|g| g.country.as_deref());
        let Some(country) = country else {
            return Vec::new();
        };
        if !bidder
            .countries
            .iter()
            .any(|c| c.eq_ignore_ascii_case(country))
        {
            return Vec::new();
        }
    }
    request
        .imp
        .iter()
        .enumerate()
        .filter(|(_, imp)| offered_media(bidder, sizes, imp).any(|m| m))
        .map(|(i, _)| i)
        .collect()
}

/// Per media type of the imp, in the order banner, native, video, audio: whether the
/// bidder may see it.
fn offered_media<'a>(
    bidder: &'a BidderConfig,
    sizes: &'a [(i64, i64)],
    imp: &'a Imp,
) -> impl Iterator<Item = bool> + 'a {
    let banner = imp.banner.as_ref().is_some_and(|banner| {
        bidder.accepts(MediaType::Banner)
            && (sizes.is_empty()
                || banner
                    .format
                    .iter()
                    .filter_map(|f| f.w.zip(f.h))
                    .chain(banner.w.zip(banner.h))
                    .any(|size| sizes.contains(&size)))
    });
    [
        banner,
        imp.native.is_some() && bidder.accepts(MediaType::Native),
        imp.video.is_some() && bidder.accepts(MediaType::Video),
        imp.audio.is_some() && bidder.accepts(MediaType::Audio),
    ]
    .into_iter()
}

/// Everything about one call that is not in the publisher's request.
#[derive(Debug, Clone, Copy)]
pub struct CallTerms<'a> {
    /// Our auction id: the outgoing `id` and `source.tid`.
    pub auction_id: &'a str,
    /// `tmax` the bidder is told, ms.
    pub tmax_ms: u64,
    /// Units of the bidder's currency per unit of the exchange currency.
    pub rate: f64,
    /// The bidder's bid adjustment: the floor it is told is the price it must bid for
    /// its adjusted eCPM to reach the floor.
    pub adjustment: f64,
    /// The supply chain it gets in `source.schain` (the request's `source.ext.schain` is
    /// then removed); `None`: the request's source as given.
    pub schain: Option<&'a Json>,
}

/// The request `bidder` gets: only the imps in `imps` (with media it does not take
/// removed), `floors[i]` (exchange currency) restated in its currency and divided by its
/// bid adjustment.
pub fn build_request(
    request: &BidRequest,
    bidder: &BidderConfig,
    sizes: &[(i64, i64)],
    imps: &[usize],
    floors: &[f64],
    terms: CallTerms<'_>,
) -> BidRequest {
    let mut out = BidRequest {
        id: terms.auction_id.to_owned(),
        imp: Vec::with_capacity(imps.len()),
        site: request.site.clone(),
        app: request.app.clone(),
        dooh: request.dooh.clone(),
        device: request.device.clone(),
        user: request.user.clone(),
        test: if bidder.test { Some(1) } else { request.test },
        at: request.at,
        tmax: Some(terms.tmax_ms as i64),
        wseat: request.wseat.clone(),
        bseat: request.bseat.clone(),
        allimps: request.allimps,
        cur: vec![bidder.currency.clone()],
        wlang: request.wlang.clone(),
        wlangb: request.wlangb.clone(),
        bcat: request.bcat.clone(),
        cattax: request.cattax,
        badv: request.badv.clone(),
        bapp: request.bapp.clone(),
        source: Some(outgoing_source(request, &terms)),
        regs: request.regs.clone(),
        ext: None,
        extra: request.extra.clone(),
    };
    for &index in imps {
        let original = &request.imp[index];
        let offered: Vec<bool> = offered_media(bidder, sizes, original).collect();
        let mut imp = original.clone();
        if !offered[0] {
            imp.banner = None;
        }
        if !offered[1] {
            imp.native = None;
        }
        if !offered[2] {
            imp.video = None;
        }
        if !offered[3] {
            imp.audio = None;
        }
        let floor = floors.get(index).copied().unwrap_or(0.0);
        if floor > 0.0 {
            imp.bidfloor = Some((floor * terms.rate / terms.adjustment * 1e6).ceil() / 1e6);
            imp.bidfloorcur = Some(bidder.currency.clone());
        } else {
            imp.bidfloor = None;
            imp.bidfloorcur = None;
        }
        out.imp.push(imp);
    }
    out
}

/// The publisher's `source` with our transaction id and, when the exchange builds one, its
/// supply chain in the 2.6 place (never a second one in `ext`).
fn outgoing_source(request: &BidRequest, terms: &CallTerms<'_>) -> Source {
    let mut source = Source {
        tid: Some(terms.auction_id.to_owned()),
        ..request.source.clone().unwrap_or_default()
    };
    if let Some(chain) = terms.schain {
        source.schain = Some(chain.clone());
        if let Some(Json::Object(ext)) = &mut source.ext {
            ext.remove("schain");
            if ext.is_empty() {
                source.ext = None;
            }
        }
    }
    source
}

#[cfg(test)]
mod tests {
    use super::*;
    use bidder_sdk::openrtb::decode_request;

    fn request() -> BidRequest {
        decode_request(
            br#"{"id":"pub-1","tmax":300,"cur":["EUR"],"ext":{"debug":1},
                "imp":[{"id":"1","banner":{"format":[{"w":300,"h":250}]},"video":{"mimes":["video/mp4"]},"bidfloor":1.0,"bidfloorcur":"EUR"},
                       {"id":"2","native":{"request":"{}"}},
                       {"id":"3","banner":{"w":728,"h":90}}],
                "device":{"geo":{"country":"CHN"},"ifa":"ifa-1"},"user":{"id":"u1"},
                "regs":{"coppa":1},"source":{"fd":1}}"#,
        )
        .expect("valid")
    }

    fn bidder(toml: &str) -> BidderConfig {
        let text = format!("[fx_rates]\nCNY = 7.0\nEUR = 0.9\n[[bidders]]\nname = \"d\"\nendpoint = \"http://a/b\"\n{toml}");
        crate::config::ExchangeConfig::from_toml(&text, "t")
            .expect("valid")
            .bidders
            .remove(0)
    }

    #[test]
    fn capabilities_choose_the_imps() {
        let request = request();
        let all = bidder("");
        assert_eq!(accepted_imps(&all, &[], &request), [0, 1, 2]);
        let video = bidder("media_types = [\"video\"]");
        assert_eq!(accepted_imps(&video, &[], &request), [0]);
        let sized = bidder("sizes = [\"728x90\"]");
        assert_eq!(
            accepted_imps(&sized, &sized.parsed_sizes(), &request),
            [0, 1, 2],
            "imp 1 by its video"
        );
        let sized_banner = bidder("sizes = [\"728x90\"]\nmedia_types = [\"banner\"]");
        assert_eq!(
            accepted_imps(&sized_banner, &sized_banner.parsed_sizes(), &request),
            [2]
        );
        let elsewhere = bidder("countries = [\"USA\"]");
        assert!(accepted_imps(&elsewhere, &[], &request).is_empty());
        let here = bidder("countries = [\"CHN\"]");
        assert_eq!(accepted_imps(&here, &[], &request).len(), 3);
    }

    #[test]
    fn the_outgoing_request_is_ours_and_fits_the_bidder() {
        let request = request();
        let video = bidder("media_types = [\"video\"]\ncurrency = \"CNY\"\ntest = true");
        let terms = CallTerms {
            auction_id: "auc-9",
            tmax_ms: 87,
            rate: 7.0,
            adjustment: 0.5,
            schain: None,
        };
        let floors = [1.0 / 0.9, 0.0, 0.0];
        let out = build_request(&request, &video, &[], &[0], &floors, terms);
        assert_eq!(out.id, "auc-9");
        assert_eq!(
            out.source.as_ref().and_then(|s| s.tid.as_deref()),
            Some("auc-9")
        );
        assert_eq!(
            out.source.as_ref().and_then(|s| s.fd),
            Some(1),
            "publisher's source kept"
        );
        assert_eq!((out.tmax, out.test), (Some(87), Some(1)));
        assert_eq!(out.cur, ["CNY"]);
        assert_eq!(out.imp.len(), 1);
        assert!(out.imp[0].banner.is_none() && out.imp[0].video.is_some());
        assert_eq!(out.imp[0].bidfloorcur.as_deref(), Some("CNY"));
        let floor = out.imp[0].bidfloor.expect("floor");
        assert!(
            (floor - 15.555556).abs() < 1e-6,
            "1 EUR = 1.11 USD = 7.78 CNY, ÷ 0.5: {floor}"
        );
        assert!(
            out.ext.is_none(),
            "the publisher's debug switch is not forwarded"
        );
        assert!(
            out.user.as_ref().and_then(|u| u.id.as_deref()).is_some(),
            "privacy is the caller's (privacy::scrub), not the rewrite's"
        );
    }

    #[test]
    fn the_exchange_chain_goes_in_the_2_6_place_and_nowhere_else() {
        let request = decode_request(
            br#"{"id":"r","imp":[{"id":"1","banner":{"w":300,"h":250}}],"site":{"id":"s"},
                "source":{"fd":1,"ext":{"schain":{"complete":1,"ver":"1.0","nodes":[]}}}}"#,
        )
        .expect("valid");
        let chain = serde_json::json!({"complete": 0, "ver": "1.0", "nodes": [
            {"asi": "exchange.example", "sid": "p", "rid": "auc-1", "hp": 1}
        ]});
        let terms = CallTerms {
            auction_id: "auc-1",
            tmax_ms: 100,
            rate: 1.0,
            adjustment: 1.0,
            schain: Some(&chain),
        };
        let out = build_request(&request, &bidder(""), &[], &[0], &[0.0], terms);
        let source = out.source.expect("source");
        assert_eq!(source.schain.as_ref(), Some(&chain));
        assert_eq!(source.ext, None, "the 2.5 copy is gone, and its empty ext");
        assert_eq!(source.fd, Some(1));
        let kept = CallTerms {
            schain: None,
            ..terms
        };
        let out = build_request(&request, &bidder(""), &[], &[0], &[0.0], kept);
        let source = out.source.expect("source");
        assert!(source.schain.is_none());
        assert!(
            source.ext.is_some(),
            "without an asi, the source passes as given"
        );
    }
}
