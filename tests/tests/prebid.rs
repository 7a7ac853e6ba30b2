//! The exchange as a publisher's Prebid Server, on real sockets: CORS for a page on
//! another origin, Prebid Server request conventions (bidder codes, first price, typed
//! bids, per-bidder figures, 200 on no fill), and a billing notice Prebid fires unfilled.

use http::Method;
use tests::{Client, Reply, TestExchange};

/// `high` bids 20 CPM, `low` 10: a first-price winner pays 20, a second-price one 10.01.
fn campaigns() -> String {
    tests::campaign_file(&[
        tests::banner_campaign("high", 20.0, ""),
        tests::banner_campaign("low", 10.0, ""),
    ])
}

/// A request as Prebid.js's `prebidServerBidAdapter` sends it: no `at`, `ext.prebid`, and
/// the bidder codes per imp; `size` is the banner's.
fn prebid_request(codes: &str, size: (u32, u32)) -> String {
    format!(
        r#"{{"id":"pbjs-1","tmax":500,
        "imp":[{{"id":"div-1","banner":{{"format":[{{"w":{},"h":{}}}]}},"ext":{{"prebid":{{"bidder":{{{codes}}}}}}}}}],
        "site":{{"page":"https://pub.example/a","domain":"pub.example","publisher":{{"id":"p1"}}}},
        "device":{{"ua":"Mozilla/5.0"}},
        "ext":{{"prebid":{{"channel":{{"name":"pbjs","version":"11.0.0"}},"targeting":{{}}}}}}}}"#,
        size.0, size.1
    )
}

async fn post(
    client: &Client,
    exchange: &TestExchange,
    body: String,
    origin: Option<&str>,
) -> Reply {
    let mut headers = vec![("content-type", "text/plain")];
    if let Some(origin) = origin {
        headers.push(("origin", origin));
    }
    client
        .send(
            Method::POST,
            &exchange.url("/openrtb2/auction"),
            &headers,
            body,
        )
        .await
}

async fn start(config: &str) -> TestExchange {
    TestExchange::builder()
        .campaigns(&campaigns())
        .config(config)
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_origin_may_call_and_read_the_answer() {
    let exchange = start("[cors]\nallow_origins = [\"https://pub.example\"]").await;
    let client = Client::new();
    let preflight = client
        .send(
            Method::OPTIONS,
            &exchange.url("/openrtb2/auction"),
            &[
                ("origin", "https://pub.example"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ],
            "",
        )
        .await;
    assert_eq!(preflight.status, 204);
    let header = |reply: &Reply, name: &str| {
        reply
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
    };
    assert_eq!(
        header(&preflight, "access-control-allow-origin").as_deref(),
        Some("https://pub.example")
    );
    assert!(header(&preflight, "access-control-allow-methods").is_some_and(|m| m.contains("POST")));
    let reply = post(
        &client,
        &exchange,
        prebid_request(r#""exchange":{}"#, (300, 250)),
        Some("https://pub.example"),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        header(&reply, "access-control-allow-origin").as_deref(),
        Some("https://pub.example")
    );
    assert_eq!(
        header(&reply, "access-control-allow-credentials").as_deref(),
        Some("true")
    );
    assert_eq!(header(&reply, "vary").as_deref(), Some("Origin"));
    // Another origin gets its answer (the auction ran) but no permission to read it.
    let other = post(
        &client,
        &exchange,
        prebid_request(r#""exchange":{}"#, (300, 250)),
        Some("https://evil.example"),
    )
    .await;
    assert!(header(&other, "access-control-allow-origin").is_none());
    // Never on the operator's endpoints.
    let metrics = client
        .send(
            Method::GET,
            &exchange.url("/metrics"),
            &[("origin", "https://pub.example")],
            "",
        )
        .await;
    assert!(header(&metrics, "access-control-allow-origin").is_none());
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prebid_calls_get_first_price_bids_under_the_asked_code() {
    let exchange = start("[prebid]\nbidder_code = \"affex\"\naliases = [\"affex_cn\"]").await;
    let client = Client::new();
    for code in ["affex", "affex_cn"] {
        let reply = post(
            &client,
            &exchange,
            prebid_request(&format!(r#""{code}":{{}}"#), (300, 250)),
            None,
        )
        .await;
        assert_eq!(reply.status, 200);
        let json = reply.json();
        assert_eq!(json["seatbid"][0]["seat"], code, "{json}");
        let bid = &json["seatbid"][0]["bid"][0];
        assert_eq!(bid["ext"]["prebid"]["type"], "banner");
        assert_eq!(bid["price"], 20.0, "first price without `at`: {json}");
        assert!(
            json["ext"]["responsetimemillis"]["affex"].is_u64(),
            "{json}"
        );
    }
    // The same request with `at: 2` is a second-price auction.
    let second =
        prebid_request(r#""affex":{}"#, (300, 250)).replacen("\"tmax\"", "\"at\":2,\"tmax\"", 1);
    let json = post(&client, &exchange, second, None).await.json();
    assert_eq!(json["seatbid"][0]["bid"][0]["price"], 10.01, "{json}");
    // A plain OpenRTB caller keeps its seats (advertisers) and its 204s.
    let plain = r#"{"id":"r","imp":[{"id":"1","banner":{"w":300,"h":250}}],"site":{"page":"https://pub.example/a"}}"#;
    let json = post(&client, &exchange, plain.to_owned(), None)
        .await
        .json();
    assert_eq!(json["seatbid"][0]["seat"], "adv-high");
    let unfillable = r#"{"id":"r","imp":[{"id":"1","banner":{"w":1,"h":1}}]}"#;
    assert_eq!(
        post(&client, &exchange, unfillable.to_owned(), None)
            .await
            .status,
        204
    );
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prebid_no_fill_is_200_with_an_empty_seatbid() {
    let exchange = start("").await;
    let client = Client::new();
    // Nothing fits a 1x1 slot.
    let reply = post(
        &client,
        &exchange,
        prebid_request(r#""exchange":{}"#, (1, 1)),
        None,
    )
    .await;
    assert_eq!(reply.status, 200);
    let json = reply.json();
    assert_eq!(json["id"], "pbjs-1");
    assert_eq!(json["seatbid"], serde_json::json!([]), "{json}");
    // An imp that names only a bidder the exchange does not know: nothing to answer.
    let reply = post(
        &client,
        &exchange,
        prebid_request(r#""appnexus":{"placementId":1}"#, (300, 250)),
        None,
    )
    .await;
    assert_eq!(reply.status, 200);
    let json = reply.json();
    assert_eq!(json["seatbid"], serde_json::json!([]), "{json}");
    assert!(json["ext"]["warnings"]["exchange"].is_array(), "{json}");
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_sync_gives_the_documented_empty_answer() {
    let exchange = start("").await;
    let client = Client::new();
    let sync = |body: &'static str, cookie: Option<&'static str>| {
        let client = &client;
        let url = exchange.url("/cookie_sync");
        async move {
            let mut headers = vec![("origin", "https://pub.example")];
            if let Some(cookie) = cookie {
                headers.push(("cookie", cookie));
            }
            client.send(Method::POST, &url, &headers, body).await
        }
    };
    let body = r#"{"bidders":["exchange","appnexus"],"gdpr":0,"us_privacy":"1---"}"#;
    let reply = sync(body, None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json(),
        serde_json::json!({ "status": "no_cookie", "bidder_status": [] })
    );
    assert!(reply.headers.get("access-control-allow-origin").is_some());
    let known = sync(body, Some("other=1; exchange_uid=abc")).await;
    assert_eq!(known.json()["status"], "ok");
    assert_eq!(sync("", None).await.status, 200, "an empty body is allowed");
    for (bad, field) in [
        (r#"{"bidders":"exchange"}"#, "bidders"),
        (r#"{"gdpr":2}"#, "gdpr"),
        (r#"[1]"#, "body"),
        ("{", "body"),
    ] {
        let reply = sync(bad, None).await;
        assert_eq!(reply.status, 400, "{bad}");
        assert_eq!(reply.json()["field"], field, "{bad}");
    }
    let get = client.get(&exchange.url("/cookie_sync")).await;
    assert_eq!(get.status, 405);
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targeting_keys_bucket_the_price_by_the_requested_granularity() {
    let exchange = start("").await;
    let client = Client::new();
    let with_targeting = |targeting: &str| {
        prebid_request(r#""exchange":{}"#, (300, 250))
            .replace(r#""targeting":{}"#, &format!(r#""targeting":{targeting}"#))
    };
    // First price: `high` wins at 20.
    let answer = post(
        &client,
        &exchange,
        with_targeting(r#"{"pricegranularity":{"precision":2,"ranges":[{"max":30,"increment":3}]},"includeformat":true}"#),
        None,
    )
    .await
    .json_if(200);
    let keys = &answer["seatbid"][0]["bid"][0]["ext"]["prebid"]["targeting"];
    assert_eq!(keys["hb_pb"], "18.00", "20 in buckets of 3: {answer}");
    assert_eq!(keys["hb_bidder"], "exchange");
    assert_eq!(keys["hb_size"], "300x250");
    assert_eq!(keys["hb_format"], "banner");
    assert_eq!(keys["hb_pb_exchange"], "18.00", "bidder keys by default");
    let low = post(
        &client,
        &exchange,
        with_targeting(r#"{"pricegranularity":"low","includebidderkeys":false}"#),
        None,
    )
    .await
    .json_if(200);
    let keys = &low["seatbid"][0]["bid"][0]["ext"]["prebid"]["targeting"];
    assert_eq!(keys["hb_pb"], "5.00", "low caps at 5: {low}");
    assert!(keys.get("hb_pb_exchange").is_none(), "{low}");
    // Without `targeting` no keys are set; a granularity that is not one is refused.
    let plain = post(
        &client,
        &exchange,
        prebid_request(r#""exchange":{}"#, (300, 250)).replace(r#","targeting":{}"#, ""),
        None,
    )
    .await
    .json_if(200);
    assert!(plain["seatbid"][0]["bid"][0]["ext"]["prebid"]
        .get("targeting")
        .is_none());
    let refused = post(
        &client,
        &exchange,
        with_targeting(r#"{"pricegranularity":"fine"}"#),
        None,
    )
    .await;
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.json()["field"],
        "ext.prebid.targeting.pricegranularity"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prebid_debug_and_channel_are_read() {
    let exchange = start("").await;
    let client = Client::new();
    let debug = prebid_request(r#""exchange":{}"#, (300, 250))
        .replace(r#""targeting":{}"#, r#""targeting":{},"debug":true"#);
    let answer = post(&client, &exchange, debug, None).await.json_if(200);
    assert!(
        answer["ext"]["debug"]["imps"].is_array(),
        "ext.prebid.debug asks for the debug view: {answer}"
    );
    let amp = prebid_request(r#""exchange":{}"#, (300, 250)).replace("pbjs", "amp");
    post(&client, &exchange, amp, None).await;
    let metrics =
        String::from_utf8_lossy(&client.get(&exchange.url("/metrics")).await.body).into_owned();
    for series in [
        "exchange_prebid_requests_total{channel=\"pbjs\"} 1",
        "exchange_prebid_requests_total{channel=\"amp\"} 1",
    ] {
        assert!(metrics.contains(series), "{series} in {metrics}");
    }
}
