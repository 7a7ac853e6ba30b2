use super::*;
use crate::campaign::{compile, parse};
use crate::index::build;
use crate::scoring::{score, Neutral, SignalSource, Signals};
use crate::targeting::{explain, FilterReason};
use bidder_sdk::openrtb::decode_request;
use proptest::prelude::*;
use serde_json::json;

/// 2026-11-28 12:00 UTC, a Saturday.
const NOON: i64 = 1_795_867_200;

fn campaign(id: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut c = json!({
        "id": id, "name": id, "advertiser": format!("adv-{id}"), "adomain": [format!("{id}.example")],
        "cat": ["IAB6-1"], "pricing": {"model": "cpm", "bid": 2.0},
        "creatives": [
            {"id": "b", "format": "banner", "w": 300, "h": 250, "image_url": "https://i.example/a.jpg", "landing_url": "https://l.example/a"},
            {"id": "n", "format": "native", "w": 1200, "h": 627, "image_url": "https://i.example/n.jpg", "landing_url": "https://l.example/n", "title": "T"}
        ]
    });
    for (key, value) in extra.as_object().expect("object") {
        c[key] = value.clone();
    }
    c
}

fn snapshot(campaigns: Vec<serde_json::Value>) -> Snapshot {
    let text = json!({ "campaigns": campaigns }).to_string();
    let file = parse(&text, "t.json", false).expect("parses");
    build(
        compile(&file, "t.json").expect("compiles"),
        1,
        "t.json".into(),
    )
}

fn config() -> AuctionConfig {
    AuctionConfig {
        fx_rates: [("CNY".to_owned(), 7.0)].into(),
        ..AuctionConfig::default()
    }
}

fn request(value: serde_json::Value) -> BidRequest {
    decode_request(value.to_string().as_bytes()).expect("request")
}

fn winner(snapshot: &Snapshot, request: &BidRequest) -> Option<String> {
    let decision = decide(request, snapshot, &config(), &Neutral, NOON);
    decision.clearings[0]
        .and_then(|c| c.winner.source.campaign())
        .map(|id| snapshot.campaigns[id as usize].id.clone())
}

fn banner_request(extra: serde_json::Value) -> BidRequest {
    let mut r = json!({"id": "r1", "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}]});
    for (key, value) in extra.as_object().expect("object") {
        r[key] = value.clone();
    }
    request(r)
}

#[test]
fn the_highest_ecpm_wins_and_blocks_apply() {
    let snap = snapshot(vec![
        campaign("low", json!({"pricing": {"model": "cpm", "bid": 1.0}})),
        campaign(
            "high",
            json!({"pricing": {"model": "cpm", "bid": 3.0}, "cat": ["IAB7-1"]}),
        ),
    ]);
    assert_eq!(
        winner(&snap, &banner_request(json!({}))).as_deref(),
        Some("high")
    );
    assert_eq!(
        winner(&snap, &banner_request(json!({"bcat": ["IAB7"]}))).as_deref(),
        Some("low")
    );
    assert_eq!(
        winner(&snap, &banner_request(json!({"badv": ["high.example"]}))).as_deref(),
        Some("low")
    );
    assert_eq!(
        winner(&snap, &banner_request(json!({"wseat": ["adv-low"]}))).as_deref(),
        Some("low")
    );
    assert_eq!(
        winner(
            &snap,
            &banner_request(json!({"bseat": ["adv-high", "adv-low"]}))
        ),
        None
    );
}

#[test]
fn targeting_dimensions_select_campaigns() {
    let snap = snapshot(vec![
        campaign(
            "cn-phone",
            json!({"pricing": {"model": "cpm", "bid": 5.0}, "targeting": {"countries": ["CHN"], "device_types": ["phone"]}}),
        ),
        campaign("any", json!({})),
    ]);
    let cn_phone = json!({"device": {"devicetype": 4, "geo": {"country": "CHN"}}});
    assert_eq!(
        winner(&snap, &banner_request(cn_phone)).as_deref(),
        Some("cn-phone")
    );
    let us_phone = json!({"device": {"devicetype": 4, "geo": {"country": "USA"}}});
    assert_eq!(
        winner(&snap, &banner_request(us_phone)).as_deref(),
        Some("any")
    );
    let cn_pc = json!({"device": {"devicetype": 2, "geo": {"country": "CHN"}}});
    assert_eq!(
        winner(&snap, &banner_request(cn_pc)).as_deref(),
        Some("any")
    );
    assert_eq!(
        winner(&snap, &banner_request(json!({}))).as_deref(),
        Some("any"),
        "unknown country fails country targeting"
    );
}

#[test]
fn flights_and_dayparts_follow_the_campaign_clock() {
    let snap = snapshot(vec![
        campaign(
            "ended",
            json!({"pricing": {"model": "cpm", "bid": 9.0}, "flight": {"start": "2026-01-01", "end": "2026-11-27"}}),
        ),
        // 12:00 UTC is 20:00 at +08:00: inside 18-24, outside 6-18.
        campaign(
            "evening",
            json!({"pricing": {"model": "cpm", "bid": 8.0}, "timezone": "+08:00", "targeting": {"dayparts": [{"days": ["sat"], "start_hour": 18, "end_hour": 24}]}}),
        ),
        campaign(
            "daytime",
            json!({"pricing": {"model": "cpm", "bid": 10.0}, "timezone": "+08:00", "targeting": {"dayparts": [{"start_hour": 6, "end_hour": 18}]}}),
        ),
    ]);
    assert_eq!(
        winner(&snap, &banner_request(json!({}))).as_deref(),
        Some("evening")
    );
}

#[test]
fn floors_convert_currency_and_unknown_currencies_do_not_bid() {
    let snap = snapshot(vec![campaign(
        "c",
        json!({"pricing": {"model": "cpm", "bid": 2.0}}),
    )]);
    // 14 CNY = 2 USD: the campaign clears exactly at its bid; 14.07 CNY is above it.
    let at = |floor: f64, cur: &str| {
        let r = request(
            json!({"id": "r", "imp": [{"id": "1", "banner": {"w": 300, "h": 250}, "bidfloor": floor, "bidfloorcur": cur}]}),
        );
        let decision = decide(&r, &snap, &config(), &Neutral, NOON);
        (decision.clearings[0].map(|c| c.price), decision.no_bids[0])
    };
    assert_eq!(at(14.0, "CNY"), (Some(2.0), None));
    assert_eq!(at(14.07, "CNY"), (None, Some(ImpNoBid::BelowFloor)));
    assert_eq!(at(1.0, "XYZ"), (None, Some(ImpNoBid::FloorCurrencyUnknown)));
    let cny_only = request(
        json!({"id": "r", "cur": ["CNY"], "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}]}),
    );
    let decision = decide(&cny_only, &snap, &config(), &Neutral, NOON);
    assert_eq!(
        decision.currency,
        Some(PriceCurrency {
            code: "CNY".into(),
            rate: 7.0
        })
    );
    let unknown = request(
        json!({"id": "r", "cur": ["XYZ"], "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}]}),
    );
    assert_eq!(
        decide(&unknown, &snap, &config(), &Neutral, NOON).no_bids[0],
        Some(ImpNoBid::CurrencyUnsupported)
    );
}

#[test]
fn formats_secure_and_private_auctions() {
    let snap = snapshot(vec![campaign("c", json!({}))]);
    let decide_imp = |imp: serde_json::Value| {
        let r = request(json!({"id": "r", "imp": [imp]}));
        decide(&r, &snap, &config(), &Neutral, NOON).no_bids[0]
    };
    assert_eq!(
        decide_imp(json!({"id": "1", "banner": {"w": 728, "h": 90}})),
        Some(ImpNoBid::NoEligibleCampaign)
    );
    assert_eq!(
        decide_imp(
            json!({"id": "1", "banner": {"format": [{"w": 728, "h": 90}, {"w": 300, "h": 250}]}})
        ),
        None
    );
    assert_eq!(
        decide_imp(
            json!({"id": "1", "banner": {"format": [{"wratio": 6, "hratio": 5, "wmin": 300}]}})
        ),
        None,
        "flex 6:5 matches 300x250"
    );
    assert_eq!(
        decide_imp(json!({"id": "1", "video": {"mimes": ["video/mp4"]}})),
        Some(ImpNoBid::UnservableFormat)
    );
    assert_eq!(
        decide_imp(
            json!({"id": "1", "banner": {"w": 300, "h": 250}, "pmp": {"private_auction": 1, "deals": [{"id": "d"}]}})
        ),
        Some(ImpNoBid::NoEligibleCampaign)
    );
    assert_eq!(
        decide_imp(
            json!({"id": "1", "native": {"request": "{\"assets\":[{\"id\":1,\"required\":1,\"title\":{\"len\":20}}]}"}})
        ),
        None
    );
    let http_only = snapshot(vec![campaign(
        "c",
        json!({"creatives": [{"id": "b", "format": "banner", "w": 300, "h": 250, "image_url": "http://i.example/a.jpg", "landing_url": "https://l.example/a"}]}),
    )]);
    let r = request(
        json!({"id": "r", "imp": [{"id": "1", "secure": 1, "banner": {"w": 300, "h": 250}}]}),
    );
    let decision = decide(&r, &http_only, &config(), &Neutral, NOON);
    assert_eq!(
        explain(&http_only, 0, &decision.request, &decision.imps[0]),
        Err(FilterReason::Secure)
    );
}

#[test]
fn one_campaign_wins_one_imp_per_request() {
    let snap = snapshot(vec![
        campaign("a", json!({"pricing": {"model": "cpm", "bid": 3.0}})),
        campaign("b", json!({"pricing": {"model": "cpm", "bid": 2.0}})),
    ]);
    let r = request(
        json!({"id": "r", "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}, {"id": "2", "banner": {"w": 300, "h": 250}}, {"id": "3", "banner": {"w": 300, "h": 250}}]}),
    );
    let decision = decide(&r, &snap, &config(), &Neutral, NOON);
    let winners: Vec<Option<u32>> = decision
        .clearings
        .iter()
        .map(|c| c.and_then(|c| c.winner.source.campaign()))
        .collect();
    assert_eq!(winners, vec![Some(0), Some(1), None]);
    assert_eq!(decision.no_bids[2], Some(ImpNoBid::CampaignCapped));
}

fn arbitrary_campaign(i: usize) -> impl Strategy<Value = serde_json::Value> {
    let countries = proptest::sample::subsequence(vec!["CHN", "USA", "SGP"], 0..=2);
    let devices = proptest::sample::subsequence(vec!["phone", "tablet", "desktop"], 0..=2);
    let os = proptest::sample::subsequence(vec!["ios", "android"], 0..=1);
    let keywords = proptest::sample::subsequence(vec!["diapers", "婴儿", "shoes"], 0..=2);
    let langs = proptest::sample::subsequence(vec!["zh", "en"], 0..=1);
    let sizes = proptest::sample::subsequence(vec![(300, 250), (728, 90), (320, 50)], 1..=2);
    (countries, devices, os, keywords, langs, sizes, 0.1f64..5.0, any::<bool>(), proptest::sample::subsequence(vec!["IAB6", "IAB7"], 0..=1))
        .prop_map(move |(countries, devices, os, keywords, langs, sizes, bid, paused, page_cats)| {
            let creatives: Vec<_> = sizes.iter().map(|(w, h)| json!({"id": format!("b{w}x{h}"), "format": "banner", "w": w, "h": h, "image_url": "https://i.example/a.jpg", "landing_url": "https://l.example/a"})).collect();
            campaign(&format!("c{i}"), json!({
                "pricing": {"model": "cpm", "bid": bid}, "status": if paused { "paused" } else { "active" },
                "targeting": {"countries": countries, "device_types": devices, "os": os, "keywords": keywords, "languages": langs, "page_categories": page_cats},
                "creatives": creatives,
            }))
        })
}

fn arbitrary_request() -> impl Strategy<Value = serde_json::Value> {
    (
        proptest::option::of(proptest::sample::select(vec!["CHN", "USA", "FRA"])),
        proptest::option::of(0i32..9),
        proptest::option::of(proptest::sample::select(vec!["iOS", "Android", "Windows"])),
        proptest::sample::subsequence(vec!["diapers", "婴儿", "shoes", "tents"], 0..=3),
        proptest::option::of(proptest::sample::select(vec!["zh-CN", "en", "fr"])),
        proptest::sample::subsequence(vec![(300, 250), (728, 90), (160, 600)], 0..=2),
        proptest::sample::subsequence(vec!["IAB6-1", "IAB7", "IAB1"], 0..=2),
    )
        .prop_map(|(country, devicetype, os, keywords, lang, sizes, cats)| {
            let formats: Vec<_> = sizes.iter().map(|(w, h)| json!({"w": w, "h": h})).collect();
            json!({
                "id": "r", "imp": [{"id": "1", "banner": {"format": formats}}],
                "site": {"keywords": keywords.join(","), "cat": cats},
                "device": {"geo": {"country": country}, "devicetype": devicetype, "os": os, "language": lang},
            })
        })
}

/// No adjustment but, drawn per campaign from the seed, a quality weight in (0, 1] and a
/// bid multiplier in [0.25, 2] (learned rates that demote or promote it), with their exact
/// bounds (none: neutral).
struct RandomRanking(Option<u64>);

/// Largest multiplier [`RandomRanking`] draws.
const MAX_MULTIPLIER: f64 = 2.0;

impl RandomRanking {
    /// A uniform draw in [0, 1) for campaign `id` and stream `stream`.
    fn draw(seed: u64, id: usize, stream: u64) -> f64 {
        let bits = auction::mix(seed ^ id as u64 ^ stream) >> 11;
        bits as f64 / (1u64 << 53) as f64
    }

    fn multiplier(&self, id: usize) -> f64 {
        self.0
            .map_or(1.0, |seed| 0.25 + 1.75 * Self::draw(seed, id, 0x6d75_6c74))
    }
}

impl SignalSource for RandomRanking {
    fn signals(&self, id: usize, _campaign: &Campaign) -> Signals {
        let quality = self
            .0
            .map_or(1.0, |seed| 0.01 + 0.99 * Self::draw(seed, id, 0));
        Signals {
            quality,
            bid_multiplier: self.multiplier(id),
            ..Signals::NEUTRAL
        }
    }

    fn quality_bound(&self, id: usize) -> f64 {
        let any = crate::testing::campaign(crate::campaign::Pricing::Cpm { bid: 1.0 });
        self.signals(id, &any).quality
    }

    fn boost_share(&self, id: usize) -> f64 {
        self.multiplier(id) / self.max_boost()
    }

    fn max_boost(&self) -> f64 {
        if self.0.is_some() {
            MAX_MULTIPLIER
        } else {
            1.0
        }
    }
}

/// `body` as a request with its imp at `floor`, twice (ids "1" and "2").
fn two_imps(body: serde_json::Value, floor: f64) -> BidRequest {
    let mut r = request(body);
    r.imp[0].bidfloor = Some(floor);
    let mut second = r.imp[0].clone();
    second.id = "2".into();
    r.imp.push(second);
    r
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// The bitset path with early stopping clears every imp exactly as a full evaluation
    /// of every campaign (one by one, through `explain`) would.
    #[test]
    fn fast_selection_clears_like_a_full_evaluation(
        campaigns in (0..30usize).prop_flat_map(|n| (0..n).map(arbitrary_campaign).collect::<Vec<_>>()),
        body in arbitrary_request(),
        floor in 0.0f64..3.0,
        quality_seed in proptest::option::of(any::<u64>()),
    ) {
        let snap = snapshot(campaigns);
        let r = two_imps(body, floor);
        // Neutral, or per campaign a quality weight in (0, 1] (the contextual ranking) and
        // a multiplier (learned rates).
        let source = RandomRanking(quality_seed);
        let decision = decide(&r, &snap, &config(), &source, NOON);
        let mut reference: Vec<ImpAuction> = decision.imps.iter().zip(&decision.seeds).map(|(imp, &seed)| ImpAuction {
            floor: imp.floor,
            candidates: (0..snap.len() as u32)
                .filter_map(|id| explain(&snap, id, &decision.request, imp).ok().map(|creative| Candidate {
                    source: auction::Source::Campaign { id, creative },
                    ecpm: score(&snap.campaigns[id as usize], source.signals(id as usize, &snap.campaigns[id as usize])).ecpm,
                    quality: source.signals(id as usize, &snap.campaigns[id as usize]).quality,
                    tiebreak: auction::mix(seed ^ u64::from(id)),
                    event_rate: score(&snap.campaigns[id as usize], source.signals(id as usize, &snap.campaigns[id as usize]))
                        .event_rate(&snap.campaigns[id as usize]),
                }))
                .collect(),
        }).collect();
        let rules = auction::Rules { auction_type: 2, min_increment: 0.01, max_wins_per_campaign: 1 };
        prop_assert_eq!(decision.clearings, auction::run(&mut reference, &rules));
    }

    /// A traced decision (the debug view's) looks at every campaign, yet answers exactly
    /// as the production one: same clearings, same no-bid reasons; every campaign has one
    /// fate per imp, and the winners are among the scored.
    #[test]
    fn a_traced_decision_answers_like_an_untraced_one(
        campaigns in (0..30usize).prop_flat_map(|n| (0..n).map(arbitrary_campaign).collect::<Vec<_>>()),
        body in arbitrary_request(),
        floor in 0.0f64..3.0,
    ) {
        let snap = snapshot(campaigns);
        let r = two_imps(body, floor);
        let config = config();
        let floors = imp_floors(&r, &config);
        let inputs = Inputs { snapshot: &snap, config: &config, signals: &Neutral, now_unix: NOON, gate: &Open };
        let mut plain = prepare_observed(&r, &floors, inputs, &mut Unobserved);
        plain.clear();
        let mut trace = Trace::default();
        let mut traced = prepare_observed(&r, &floors, inputs, &mut trace);
        traced.clear();
        prop_assert_eq!(&plain.clearings, &traced.clearings);
        prop_assert_eq!(&plain.no_bids, &traced.no_bids);
        for (imp, clearing) in traced.clearings.iter().enumerate() {
            let fates = trace.imps.get(imp).cloned().unwrap_or_default();
            let mut ids: Vec<u32> = fates.iter().map(|(id, _)| *id).collect();
            ids.sort_unstable();
            prop_assert_eq!(ids, (0..snap.len() as u32).collect::<Vec<_>>());
            if let Some(id) = clearing.and_then(|c| c.winner.source.campaign()) {
                let scored = fates.iter().any(|(i, f)| *i == id && matches!(f, Fate::Scored { .. }));
                prop_assert!(scored, "the winner {} was scored", id);
            }
        }
    }
}
