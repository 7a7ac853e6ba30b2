//! What the exchange fills into a browser's request, on real sockets: place from the IP
//! (the sample MaxMind database maps loopback), device from the `User-Agent`, and the
//! exchange's own user-id cookie, consent-aware.

use bidder_sdk::openrtb::BidRequest;
use http::Method;
use loadtest::mock_bidder::spec::{Latency, Price};
use loadtest::mock_bidder::{spawn_local, MockConfig};
use std::time::Duration;
use tests::{Client, Reply, TestExchange};

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";

/// A request as Prebid.js sends it from a page: no device, no user; `regs` spliced in.
fn page_request(regs: &str) -> String {
    format!(
        r#"{{"id":"pbjs-geo","tmax":400,{regs}
        "imp":[{{"id":"div-1","banner":{{"format":[{{"w":300,"h":250}}]}},
                 "ext":{{"prebid":{{"bidder":{{"exchange":{{}},"dsp":{{}}}}}}}}}}],
        "site":{{"page":"https://pub.example/baby/strollers","domain":"pub.example","publisher":{{"id":"p1"}}}},
        "ext":{{"prebid":{{"channel":{{"name":"pbjs","version":"11.36.0"}}}}}}}}"#
    )
}

fn sample_geo() -> String {
    tests::repo_root()
        .join("configs/geo/sample.mmdb")
        .display()
        .to_string()
}

async fn from_page(
    client: &Client,
    exchange: &TestExchange,
    body: String,
    cookie: Option<&str>,
) -> Reply {
    let mut headers = vec![
        ("content-type", "text/plain"),
        ("origin", "http://127.0.0.1:9"),
        ("user-agent", IPHONE),
    ];
    if let Some(cookie) = cookie {
        headers.push(("cookie", cookie));
    }
    client
        .send(
            Method::POST,
            &exchange.url("/openrtb2/auction?debug=1"),
            &headers,
            body,
        )
        .await
}

/// Campaigns filtered out for lack of a country match on the first imp.
fn filtered_for_country(answer: &serde_json::Value) -> u64 {
    answer["ext"]["debug"]["imps"][0]["filtered"]["country"]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_without_geo_fills_from_the_sample_campaigns_by_its_loopback_address() {
    let dsp = spawn_local(MockConfig {
        latency: Latency::Fixed(Duration::from_millis(1)),
        price: Price::Fixed(0.01),
        ..MockConfig::default()
    })
    .await
    .expect("mock DSP");
    let bidder = format!(
        "[[bidders]]\nname = \"dsp\"\nendpoint = \"{}\"\ntimeout_ms = 200\n",
        dsp.endpoint()
    );
    let with_geo = TestExchange::builder()
        .config(&format!(
            "{bidder}[enrichment]\ngeo_database = {:?}\n",
            sample_geo()
        ))
        .start()
        .await;
    let without_geo = TestExchange::builder().config(&bidder).start().await;
    let client = Client::new();

    let located = from_page(&client, &with_geo, page_request(""), None).await;
    let answer = located.json_if(200);
    let bids = answer["seatbid"]
        .as_array()
        .expect("seatbid")
        .iter()
        .flat_map(|s| s["bid"].as_array().cloned().unwrap_or_default())
        .count();
    assert!(bids >= 1, "the page fills: {answer}");
    assert_eq!(filtered_for_country(&answer), 0, "{answer}");

    let unlocated = from_page(&client, &without_geo, page_request(""), None).await;
    let unlocated = unlocated.json_if(200);
    assert!(
        filtered_for_country(&unlocated) >= 40,
        "without the database most sample campaigns need a country: {unlocated}"
    );

    // What the DSP was sent: the device the exchange filled in.
    let seen: Vec<BidRequest> = dsp.stats.requests_seen();
    let device = seen[0].device.as_ref().expect("device filled");
    assert_eq!(device.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(device.ua.as_deref(), Some(IPHONE));
    assert_eq!(device.os.as_deref(), Some("iOS"));
    assert_eq!(device.osv.as_deref(), Some("17.4"));
    assert_eq!(device.devicetype, Some(4), "phone");
    assert_eq!(device.extra["sua"]["browsers"][0]["brand"], "Safari");
    assert_eq!(device.extra["sua"]["source"], 3);
    let geo = device.geo.as_ref().expect("geo filled");
    assert_eq!(
        (
            geo.country.as_deref(),
            geo.region.as_deref(),
            geo.city.as_deref()
        ),
        (Some("CHN"), Some("SH"), Some("Shanghai"))
    );
    assert_eq!(geo.kind, Some(2), "located by IP");

    let metrics = with_geo.state.metrics.enriched_count("geo");
    assert_eq!(metrics, 1);
    assert_eq!(with_geo.state.metrics.enriched_count("ip"), 1);
    assert_eq!(without_geo.state.metrics.enriched_count("geo"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_caller_sent_is_kept_and_servers_are_not_taken_for_devices() {
    let exchange = TestExchange::builder()
        .config(&format!(
            "[enrichment]\ngeo_database = {:?}\n",
            sample_geo()
        ))
        .start()
        .await;
    let client = Client::new();
    // A server-to-server caller (no Origin): its own address is not the device's.
    let server = r#"{"id":"s2s","imp":[{"id":"1","banner":{"format":[{"w":300,"h":250}]}}],
        "site":{"page":"https://pub.example/a"},"device":{"ua":"Mozilla/5.0"}}"#;
    client
        .post(&exchange.url("/openrtb2/auction"), server)
        .await;
    assert_eq!(exchange.state.metrics.enriched_count("ip"), 0);
    assert_eq!(exchange.state.metrics.enriched_count("geo"), 0);
    // A caller that gave the device's IP is located by it (a documentation range → USA);
    // one that gave a country keeps it.
    let with_ip = r#"{"id":"s2s-ip","imp":[{"id":"1","banner":{"format":[{"w":300,"h":250}]}}],
        "site":{"page":"https://pub.example/a"},"device":{"ip":"192.0.2.44"}}"#;
    let reply = client
        .post(&exchange.url("/openrtb2/auction?debug=1"), with_ip)
        .await;
    assert!(
        reply.status == 200 || reply.status == 204,
        "{}",
        reply.status
    );
    assert_eq!(exchange.state.metrics.enriched_count("geo"), 1);
    let with_country = r#"{"id":"s2s-c","imp":[{"id":"1","banner":{"format":[{"w":300,"h":250}]}}],
        "site":{"page":"https://pub.example/a"},"device":{"ip":"192.0.2.44","geo":{"country":"SGP"}}}"#;
    client
        .post(&exchange.url("/openrtb2/auction"), with_country)
        .await;
    assert_eq!(
        exchange.state.metrics.enriched_count("geo"),
        1,
        "a country the caller sent is not looked up again"
    );
}

fn set_cookie(reply: &Reply) -> Option<String> {
    reply
        .headers
        .get(http::header::SET_COOKIE)
        .map(|v| v.to_str().expect("ascii").to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_id_cookie_is_set_kept_and_withheld_without_consent() {
    // One campaign capped at one impression per user: the cookie's id is what it counts.
    let campaigns = tests::campaign_file(&[tests::banner_campaign(
        "capped",
        5.0,
        r#","frequency_cap":{"count":1,"window":"1d"}"#,
    )]);
    let exchange = TestExchange::builder().campaigns(&campaigns).start().await;
    let client = Client::new();

    let first = from_page(&client, &exchange, page_request(""), None).await;
    assert_eq!(first.status, 200);
    let cookie = set_cookie(&first).expect("a new browser gets the cookie");
    assert!(
        cookie.contains("Max-Age=31536000")
            && cookie.contains("SameSite=None")
            && cookie.contains("Secure")
            && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().expect("pair").to_owned();
    let uid = pair.strip_prefix("exchange_uid=").expect("name").to_owned();
    assert_eq!(uid.len(), 32);
    let (_, nurl, _) = first.first_bid_notices();
    let win = client.get(&nurl).await;
    assert_eq!(win.status, 204, "the win lands");
    exchange.writes_landed().await;

    // The same browser again: capped (the cookie's id was counted), the cookie renewed.
    let again = from_page(&client, &exchange, page_request(""), Some(&pair)).await;
    assert_eq!(again.status, 200);
    assert!(
        again.json()["seatbid"].as_array().is_none_or(Vec::is_empty),
        "the cap counted this browser: {}",
        again.json()
    );
    assert_eq!(set_cookie(&again).as_deref(), Some(cookie.as_str()));

    // A new browser is someone else: it fills.
    let other = from_page(&client, &exchange, page_request(""), None).await;
    assert!(!other.json()["seatbid"].as_array().expect("bids").is_empty());

    // GDPR without consent: the id is neither used nor kept; the browser's cookie expires.
    let gdpr = page_request(r#""regs":{"gdpr":1},"#);
    let withheld = from_page(&client, &exchange, gdpr.clone(), Some(&pair)).await;
    let expired = set_cookie(&withheld).expect("expired");
    assert!(expired.starts_with("exchange_uid=; Max-Age=0"), "{expired}");
    let fresh = from_page(&client, &exchange, gdpr, None).await;
    assert_eq!(set_cookie(&fresh), None, "no cookie without consent");

    // /cookie_sync sees it.
    let sync = client
        .send(
            Method::POST,
            &exchange.url("/cookie_sync"),
            &[("cookie", pair.as_str())],
            "{}",
        )
        .await;
    assert_eq!(sync.json_if(200)["status"], "ok");
}
