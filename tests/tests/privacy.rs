//! Consent on real sockets, with strings built by the IAB's own encoder
//! (`tests/consent/fixtures.json`, checked against a fresh encoding by
//! `tests/consent/run.mjs`): what each mock DSP receives under TCF v2.2, GPP (US national,
//! California, US Privacy sections), US Privacy and COPPA, per its TCF vendor id; what the
//! exchange's own campaigns may use (a stable id for frequency caps); the operator's
//! activity rules; and the debug view naming what was removed and why.

use bidder_sdk::openrtb::BidRequest;
use loadtest::mock_bidder::spec::{Latency, Price};
use loadtest::mock_bidder::{spawn_local, MockConfig, MockHandle};
use serde_json::Value;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tests::{Client, TestExchange};

fn fixtures() -> Value {
    let path = tests::repo_root().join("tests/consent/fixtures.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixtures")).expect("json")
}

fn tc(name: &str) -> String {
    fixtures()["tcf"][name].as_str().expect(name).to_owned()
}

fn gpp(name: &str) -> String {
    let f = &fixtures()["gpp"][name];
    format!(
        r#""gpp":"{}","gpp_sid":{}"#,
        f["gpp"].as_str().expect("gpp"),
        f["sid"]
    )
}

/// A request with everything a bidder might be denied: ids, eids, segments, precise geo.
fn request(id: &str, regs: &str, consent: &str) -> String {
    format!(
        r#"{{"id":"{id}","tmax":300,"cur":["USD"],
            "imp":[{{"id":"1","banner":{{"format":[{{"w":300,"h":250}}]}},"bidfloor":0.1}}],
            "site":{{"domain":"news.example","page":"https://news.example/a","publisher":{{"id":"pub-eu"}}}},
            "device":{{"ip":"192.0.2.77","ifa":"ifa-1","devicetype":2,
                       "geo":{{"lat":48.137154,"lon":11.576124,"country":"DEU"}}}},
            "user":{{"id":"user-1","buyeruid":"buyer-1","keywords":"tents",{consent}
                     "data":[{{"id":"seg","segment":[{{"id":"s1"}}]}}],
                     "eids":[{{"source":"id5-sync.com","uids":[{{"id":"ID5-1"}}]}}]}},
            "regs":{regs}}}"#
    )
}

fn consent(text: &str) -> String {
    format!(r#""consent":"{text}","#)
}

async fn dsp() -> MockHandle {
    spawn_local(MockConfig {
        latency: Latency::Fixed(Duration::from_millis(1)),
        price: Price::Fixed(0.5),
        ..MockConfig::default()
    })
    .await
    .expect("mock")
}

/// Four DSPs: TCF vendors 755, 32 and 44, and one without a vendor id.
struct Dsps {
    v755: MockHandle,
    v32: MockHandle,
    v44: MockHandle,
    none: MockHandle,
}

impl Dsps {
    async fn start() -> Self {
        Self {
            v755: dsp().await,
            v32: dsp().await,
            v44: dsp().await,
            none: dsp().await,
        }
    }

    fn config(&self) -> String {
        [
            ("v755", &self.v755, "tcf_vendor_id = 755"),
            ("v32", &self.v32, "tcf_vendor_id = 32"),
            ("v44", &self.v44, "tcf_vendor_id = 44"),
            ("none", &self.none, ""),
        ]
        .iter()
        .map(|(name, mock, extra)| {
            format!(
                "[[bidders]]\nname = \"{name}\"\nendpoint = \"{}\"\ntimeout_ms = 250\n{extra}\n",
                mock.endpoint()
            )
        })
        .collect()
    }
}

/// What `mock` received for the last call, if it was called since `before` calls.
fn seen(mock: &MockHandle, before: u64) -> Option<BidRequest> {
    (mock.stats.requests.load(Relaxed) > before)
        .then(|| mock.stats.requests_seen().last().cloned())
        .flatten()
}

fn calls(mock: &MockHandle) -> u64 {
    mock.stats.requests.load(Relaxed)
}

/// Whether the user data a bidder got is whole (ids, eids, segments) or gone.
fn user_data(sent: &BidRequest) -> (bool, bool) {
    let user = sent.user.as_ref();
    let ids = user.is_some_and(|u| u.id.is_some() && u.buyeruid.is_some() && !u.data.is_empty())
        && sent.device.as_ref().is_some_and(|d| d.ifa.is_some());
    let none = user.is_none_or(|u| {
        u.id.is_none() && u.buyeruid.is_none() && u.data.is_empty() && u.keywords.is_none()
    }) && sent.device.as_ref().is_none_or(|d| d.ifa.is_none());
    assert!(ids || none, "all or nothing: {:?}", sent.user);
    (ids, user.is_some_and(|u| !u.eids.is_empty()))
}

/// Precise geo and the full IP, or their coarse forms.
fn precise(sent: &BidRequest) -> bool {
    let device = sent.device.as_ref().expect("device");
    let geo = device.geo.as_ref().expect("geo");
    match (device.ip.as_deref(), geo.lat, geo.lon) {
        (Some("192.0.2.77"), Some(lat), Some(lon)) if lat == 48.137154 && lon == 11.576124 => true,
        (Some("192.0.2.0"), Some(lat), Some(lon)) if lat == 48.14 && lon == 11.58 => false,
        other => panic!("neither precise nor coarse: {other:?}"),
    }
}

async fn start(dsps: &Dsps, extra: &str) -> TestExchange {
    TestExchange::builder()
        .config(&format!("{}{extra}", dsps.config()))
        .campaigns(r#"{"campaigns": []}"#)
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bidder_gets_what_its_tcf_vendor_consent_allows() {
    let dsps = Dsps::start().await;
    let exchange = start(&dsps, "").await;
    let client = Client::new();
    let url = exchange.url("/openrtb2/auction");
    let gdpr = r#"{"gdpr":1}"#;
    let all = |d: &Dsps| [calls(&d.v755), calls(&d.v32), calls(&d.v44), calls(&d.none)];

    // Everything for 755, 32 and 1000: they get it all; 44 and the vendor-less are not called.
    let before = all(&dsps);
    client
        .post(&url, request("a", gdpr, &consent(&tc("all"))))
        .await;
    for mock in [&dsps.v755, &dsps.v32] {
        let sent = seen(mock, before[0].min(before[1])).expect("called");
        assert_eq!(user_data(&sent), (true, true));
        assert!(precise(&sent));
        assert_eq!(
            sent.user.as_ref().and_then(|u| u.consent.clone()),
            Some(tc("all"))
        );
    }
    assert_eq!(calls(&dsps.v44), before[2], "vendor 44 has no purpose 2");
    assert_eq!(
        calls(&dsps.none),
        before[3],
        "no vendor id: not called under GDPR"
    );

    // Basic ads only: called, but no user data and no precise geo.
    let before = all(&dsps);
    client
        .post(&url, request("b", gdpr, &consent(&tc("basic"))))
        .await;
    let sent = seen(&dsps.v755, before[0]).expect("called");
    assert_eq!(user_data(&sent), (false, false));
    assert!(!precise(&sent));

    // Legitimate interest for 755 only: 755 called for basic ads, 32 not at all.
    let before = all(&dsps);
    client
        .post(&url, request("c", gdpr, &consent(&tc("interestOnly"))))
        .await;
    assert_eq!(
        user_data(&seen(&dsps.v755, before[0]).expect("called")),
        (false, false)
    );
    assert_eq!(calls(&dsps.v32), before[1]);

    // The publisher forbids purpose 2 to 755: 755 is not called, 32 is, with its data.
    let before = all(&dsps);
    client
        .post(&url, request("d", gdpr, &consent(&tc("restricted"))))
        .await;
    assert_eq!(calls(&dsps.v755), before[0], "publisher restriction");
    assert_eq!(
        user_data(&seen(&dsps.v32, before[1]).expect("called")),
        (true, true)
    );

    // No TC string under GDPR: nobody is called.
    let before = all(&dsps);
    client.post(&url, request("e", gdpr, "")).await;
    assert_eq!(all(&dsps), before);

    // The same string the OpenRTB 2.5 way (regs.ext.gdpr, user.ext.consent).
    let before = all(&dsps);
    let body = request(
        "f",
        r#"{"ext":{"gdpr":1}}"#,
        &format!(r#""ext":{{"consent":"{}"}},"#, tc("onlyVendor32")),
    );
    client.post(&url, body).await;
    assert_eq!(calls(&dsps.v755), before[0], "no consent for 755");
    assert_eq!(
        user_data(&seen(&dsps.v32, before[1]).expect("called")),
        (true, true)
    );

    // Outside GDPR everyone is called with everything.
    let before = all(&dsps);
    client.post(&url, request("g", "{}", "")).await;
    for (mock, n) in [(&dsps.v755, before[0]), (&dsps.none, before[3])] {
        let sent = seen(mock, n).expect("called");
        assert_eq!(user_data(&sent), (true, true));
        assert!(precise(&sent));
    }
    let metrics = tests::metrics(&client, &exchange).await;
    let skipped = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("exchange_bidder_skipped_total{bidder=\"none\",reason=\"privacy\"} ")
        })
        .expect("privacy skips counted");
    assert_eq!(skipped.trim(), "6", "{skipped}");
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn us_opt_outs_and_coppa_strip_user_data_but_keep_the_auction() {
    let dsps = Dsps::start().await;
    let exchange = start(&dsps, "").await;
    let client = Client::new();
    let url = exchange.url("/openrtb2/auction");
    for (regs, stripped) in [
        (format!("{{{}}}", gpp("usnatOptedOut")), true),
        (format!("{{{}}}", gpp("usnatTargetedOptOut")), true),
        (format!("{{{}}}", gpp("uscaGpc")), true),
        (format!("{{{}}}", gpp("uspOptedOut")), true),
        (r#"{"us_privacy":"1YYN"}"#.to_owned(), true),
        (r#"{"ext":{"us_privacy":"1YYN"}}"#.to_owned(), true),
        (r#"{"coppa":1}"#.to_owned(), true),
        (format!("{{{}}}", gpp("usnatNoOptOut")), false),
        (format!("{{{}}}", gpp("usnatNotInForce")), false),
        (r#"{"us_privacy":"1YNN"}"#.to_owned(), false),
    ] {
        let before = calls(&dsps.none);
        client.post(&url, request("u", &regs, "")).await;
        let sent = seen(&dsps.none, before).expect("every bidder is called outside GDPR");
        assert_eq!(user_data(&sent), (!stripped, !stripped), "{regs}");
        assert_eq!(precise(&sent), !stripped, "{regs}");
    }
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_rules_take_activities_away_per_bidder_and_publisher() {
    let dsps = Dsps::start().await;
    let rules = r#"
[[privacy.rules]]
activity = "transmitEids"
parties = ["v755"]
allow = false

[[privacy.rules]]
activity = "fetchBids"
parties = ["v32"]
publishers = ["pub-eu"]
allow = false
"#;
    let exchange = start(&dsps, rules).await;
    let client = Client::new();
    let before = [calls(&dsps.v755), calls(&dsps.v32)];
    let reply = client
        .post(
            &exchange.url("/openrtb2/auction?debug=1"),
            request("r", "{}", ""),
        )
        .await;
    let sent = seen(&dsps.v755, before[0]).expect("called");
    assert_eq!(user_data(&sent), (true, false), "ids kept, eids removed");
    assert_eq!(calls(&dsps.v32), before[1], "not for this publisher");
    let view = reply.json_if(200);
    let bidders = view["ext"]["privacy"]["bidders"]
        .as_array()
        .expect("bidders")
        .clone();
    let row = |name: &str| {
        bidders
            .iter()
            .find(|b| b["bidder"] == name)
            .unwrap_or_else(|| panic!("{name} in {bidders:?}"))
            .clone()
    };
    assert_eq!(row("v755")["denied"]["transmitEids"], "privacy.rules[0]");
    assert_eq!(row("v755")["removed"], serde_json::json!(["user.eids"]));
    assert_eq!(row("v32")["called"], false);
    assert_eq!(row("v32")["denied"]["fetchBids"], "privacy.rules[1]");
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_debug_view_names_what_was_removed_and_why() {
    let dsps = Dsps::start().await;
    let exchange = start(&dsps, "").await;
    let client = Client::new();
    let view = client
        .post(
            &exchange.url("/openrtb2/auction?debug=1"),
            request("d", r#"{"gdpr":1}"#, &consent(&tc("basic"))),
        )
        .await
        .json_if(200);
    let privacy = &view["ext"]["privacy"];
    assert_eq!(privacy["gdpr"], true);
    assert_eq!(
        privacy["tcf"]["purpose_consents"],
        serde_json::json!([1, 2, 7])
    );
    assert_eq!(
        privacy["exchange"]["denied"]["useUserData"],
        "tcf: purposes 3 and 4 (personalised ads) not allowed"
    );
    let v755 = privacy["bidders"]
        .as_array()
        .expect("bidders")
        .iter()
        .find(|b| b["bidder"] == "v755")
        .expect("v755")
        .clone();
    assert_eq!(v755["called"], true);
    assert_eq!(
        v755["denied"]["transmitPreciseGeo"],
        "tcf: special feature 1 (precise geolocation) not opted in"
    );
    let removed: Vec<&str> = v755["removed"]
        .as_array()
        .expect("removed")
        .iter()
        .map(|r| r.as_str().expect("str"))
        .collect();
    for field in [
        "user.id",
        "user.buyeruid",
        "user.data",
        "user.eids",
        "device.ifa",
        "device.ip",
        "device.geo.lat/lon",
    ] {
        assert!(removed.contains(&field), "{field} in {removed:?}");
    }
    let none = privacy["bidders"]
        .as_array()
        .expect("bidders")
        .iter()
        .find(|b| b["bidder"] == "none")
        .expect("none")
        .clone();
    assert_eq!(
        none["denied"]["fetchBids"],
        "gdpr: the bidder has no tcf_vendor_id"
    );
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_consent_frequency_caps_use_no_stable_id() {
    let capped = tests::banner_campaign(
        "capped",
        9.0,
        r#","frequency_cap":{"count":5,"window":"1d","allow_anonymous":false}"#,
    );
    let exchange = TestExchange::builder()
        .campaigns(&tests::campaign_file(&[
            capped,
            tests::banner_campaign("open", 1.0, ""),
        ]))
        .start()
        .await;
    let client = Client::new();
    let url = exchange.url("/openrtb2/auction");
    let winner = |answer: Value| answer["seatbid"][0]["bid"][0]["cid"].clone();
    // With consent the user key is used: the capped campaign serves.
    let with = client
        .post(&url, request("w", r#"{"gdpr":1}"#, &consent(&tc("all"))))
        .await
        .json_if(200);
    assert_eq!(winner(with), "capped");
    // Without purpose 1: the same user id is not used; an anonymous request does not get
    // a campaign that refuses anonymous traffic.
    for consent_text in [consent(&tc("interestOnly")), String::new()] {
        let without = client
            .post(&url, request("n", r#"{"gdpr":1}"#, &consent_text))
            .await
            .json_if(200);
        assert_eq!(winner(without), "open", "{consent_text}");
    }
    // Under COPPA as well.
    let coppa = client
        .post(&url, request("c", r#"{"coppa":1}"#, ""))
        .await
        .json_if(200);
    assert_eq!(winner(coppa), "open");
    exchange.shutdown().await;
}
