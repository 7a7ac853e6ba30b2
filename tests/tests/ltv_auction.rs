//! LTV-weighted auctions end to end: a user the model predicts will come back and buy
//! again switches the winner to the campaign whose LTV tier pays more (history seeded by
//! the admin call, in process and on a real Redis, or shared by the publisher); without
//! user signals or without consent the default tiers apply; a model swapped under load
//! drops nothing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tests::redis_server::{unique_prefix, RedisServer};
use tests::{Client, TestExchange, TEST_NOW};

/// The published CDNOW fit (weeks).
const MODEL: &str = r#"{"bgnbd":{"r":0.24259,"alpha":4.4135,"a":0.79289,"b":2.42576},
  "gamma_gamma":{"p":6.2488,"q":3.7446,"gamma":15.4477},
  "log_likelihood":{"bgnbd":-9582.43,"gamma_gamma":-4055.92},
  "time_unit":"weeks","calibration_end":"1997-09-30","customers":2357}"#;

fn creative(id: &str) -> String {
    format!(
        r#"[{{"id":"b1","format":"banner","w":300,"h":250,
          "image_url":"https://img.example/{id}.jpg","landing_url":"https://{id}.example/p"}}]"#
    )
}

/// Two CPS campaigns in one vertical: `tiered` pays 10% (25% for LTV ≥ 300), `flat`
/// pays 12% to everyone; two CPM campaigns: `boosted` bids 2.0 (×1.6 for LTV ≥ 300),
/// `plain` bids 2.5. Everything else equal.
fn campaigns() -> String {
    let cps = |id: &str, rate: f64, tiers: &str| {
        format!(
            r#"{{"id":"{id}","name":"{id}","advertiser":"adv-{id}","adomain":["{id}.example"],"vertical":"beauty",
            "pricing":{{"model":"cps","commission_rate":{rate},"avg_order_value":100}},"base_ctr":0.01,"base_cvr":0.05,
            "ltv_tiers":{tiers},"creatives":{c}}}"#,
            c = creative(id)
        )
    };
    let cpm = |id: &str, bid: f64, tiers: &str| {
        format!(
            r#"{{"id":"{id}","name":"{id}","advertiser":"adv-{id}","adomain":["{id}.example"],"vertical":"home",
            "pricing":{{"model":"cpm","bid":{bid}}},"ltv_tiers":{tiers},
            "creatives":[{{"id":"n1","format":"banner","w":728,"h":90,
              "image_url":"https://img.example/{id}.jpg","landing_url":"https://{id}.example/p"}}]}}"#
        )
    };
    let list = [
        cps(
            "tiered",
            0.10,
            r#"[{"name":"high","min_ltv":300,"commission_rate":0.25},{"name":"repeat","min_ltv":100,"commission_rate":0.11}]"#,
        ),
        cps("flat", 0.12, "[]"),
        cpm(
            "boosted",
            2.0,
            r#"[{"name":"high","min_ltv":300,"bid_multiplier":1.6}]"#,
        ),
        cpm("plain", 2.5, "[]"),
    ];
    format!(r#"{{"campaigns":[{}]}}"#, list.join(","))
}

async fn start(redis: Option<(&str, &str)>) -> TestExchange {
    start_with(redis, "").await
}

async fn start_with(redis: Option<(&str, &str)>, config: &str) -> TestExchange {
    let mut builder = TestExchange::builder()
        .campaigns(&campaigns())
        .file("ltv.json", MODEL)
        .config(&format!("[ltv]\nmodel = \"ltv.json\"\n{config}"));
    if let Some((url, prefix)) = redis {
        builder = builder.redis(url, prefix);
    }
    builder.start().await
}

async fn seed(client: &Client, exchange: &TestExchange, user: &str, orders: &str) {
    let reply = client
        .send(
            http::Method::POST,
            &exchange.url("/admin/users/history"),
            &[("authorization", "Bearer test-token")],
            format!(r#"{{"user":{{"id":"{user}"}},"orders":[{orders}]}}"#),
        )
        .await;
    let json = reply.json_if(200);
    assert!(
        json["prediction"]["ltv"].as_f64().expect("ltv") > 300.0,
        "{json}"
    );
}

/// A request for one 300×250 and one 728×90 slot from `user` (JSON object text).
fn request(user: &str, regs: &str) -> String {
    format!(
        r#"{{"id":"r","tmax":500,"imp":[{{"id":"1","banner":{{"w":300,"h":250}}}},{{"id":"2","banner":{{"w":728,"h":90}}}}],
        "site":{{"id":"s","domain":"shop.example"}},"user":{user}{regs}}}"#
    )
}

/// Winners of imp 1 (CPS pair) and imp 2 (CPM pair).
async fn winners(client: &Client, exchange: &TestExchange, body: String) -> (String, String) {
    let json = client
        .post(&exchange.url("/openrtb2/auction"), body)
        .await
        .json_if(200);
    let bids = json["seatbid"]
        .as_array()
        .expect("seats")
        .iter()
        .flat_map(|s| s["bid"].as_array().expect("bids").clone())
        .collect::<Vec<_>>();
    let of = |imp: &str| {
        bids.iter()
            .find(|b| b["impid"] == imp)
            .and_then(|b| b["cid"].as_str())
            .expect("a winner")
            .to_owned()
    };
    (of("1"), of("2"))
}

async fn high_value_users_switch_the_winner(exchange: TestExchange) {
    let client = Client::new();
    seed(
        &client,
        &exchange,
        "loyal",
        &tests::loyal_orders(TEST_NOW * 1000),
    )
    .await;
    let default = ("flat".to_owned(), "plain".to_owned());
    let high = ("tiered".to_owned(), "boosted".to_owned());
    // No user, an unknown user, a user with history: defaults, defaults, tiers.
    assert_eq!(
        winners(&client, &exchange, request("{}", "")).await,
        default
    );
    assert_eq!(
        winners(&client, &exchange, request(r#"{"id":"stranger"}"#, "")).await,
        default
    );
    assert_eq!(
        winners(&client, &exchange, request(r#"{"id":"loyal"}"#, "")).await,
        high
    );
    // GDPR without consent: contextual only, the history is not used.
    let gdpr = r#","regs":{"gdpr":1}"#;
    assert_eq!(
        winners(&client, &exchange, request(r#"{"id":"loyal"}"#, gdpr)).await,
        default
    );
    // A TC string decides: this public sample consents to no purpose (defaults); one
    // with purposes 1-10 (built by the IAB's encoder, tests/consent) lets the history in.
    assert_eq!(
        winners(
            &client,
            &exchange,
            request(
                r#"{"id":"loyal","consent":"CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA"}"#,
                gdpr
            )
        )
        .await,
        default
    );
    let fixtures: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tests::repo_root().join("tests/consent/fixtures.json"))
            .expect("fixtures"),
    )
    .expect("json");
    let consented = format!(r#"{{"id":"loyal","consent":{}}}"#, fixtures["tcf"]["all"]);
    assert_eq!(
        winners(&client, &exchange, request(&consented, gdpr)).await,
        high
    );
    // The debug view shows the prediction and the tier.
    let reply = client
        .post(
            &exchange.url("/openrtb2/auction?debug=1"),
            request(r#"{"id":"loyal"}"#, ""),
        )
        .await;
    let rows = reply.json()["ext"]["debug"]["imps"][0]["candidates"].clone();
    let tiered = rows
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["campaign"] == "tiered")
        .expect("tiered row")
        .clone();
    assert_eq!(tiered["tier"], "high");
    assert_eq!(tiered["commission_rate"], 0.25);
    assert_eq!(tiered["ltv"]["source"], "store");
    let p_alive = tiered["ltv"]["p_alive"].as_f64().expect("p_alive");
    let purchases = tiered["ltv"]["expected_purchases"]
        .as_f64()
        .expect("purchases");
    let value = tiered["ltv"]["order_value"].as_f64().expect("value");
    assert!(p_alive > 0.9 && purchases > 3.0, "{tiered}");
    assert!((tiered["ltv"]["ltv"].as_f64().expect("ltv") - purchases * value).abs() < 1e-6);
    // eCPM = pCTR × pCVR × order value × tier commission × 1000.
    let ecpm = tiered["ecpm"].as_f64().expect("ecpm");
    assert!(
        (ecpm - 0.01 * 0.05 * 100.0 * 0.25 * 1000.0).abs() < 1e-9,
        "{ecpm}"
    );
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_value_users_switch_the_winner_in_process() {
    high_value_users_switch_the_winner(start(None).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_value_users_switch_the_winner_on_redis() {
    let redis = RedisServer::shared_or_own();
    let prefix = unique_prefix();
    // The test is about the history, not the read deadline: a loaded host may take
    // longer than the default 5 ms to answer.
    let exchange = start_with(
        Some((redis.url(), &prefix)),
        "[store]\nread_timeout_ms = 500",
    )
    .await;
    high_value_users_switch_the_winner(exchange).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contextual_only_mode_never_uses_user_data() {
    let exchange = start_with(None, "[context]\ncontextual_only = true").await;
    let client = Client::new();
    seed(
        &client,
        &exchange,
        "loyal",
        &tests::loyal_orders(TEST_NOW * 1000),
    )
    .await;
    let shared = r#"{"id":"x","ext":{"purchase_history":{"transactions":12,"first_days_ago":360,"last_days_ago":3,"avg_order_value":150}}}"#;
    for user in [r#"{"id":"loyal"}"#, shared] {
        assert_eq!(
            winners(&client, &exchange, request(user, "")).await,
            ("flat".to_owned(), "plain".to_owned()),
            "{user}"
        );
    }
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_signals_price_users_the_exchange_has_never_seen() {
    let exchange = start(None).await;
    let client = Client::new();
    let shared = |transactions: u32, last: u32| {
        format!(
            r#"{{"id":"new-to-us","ext":{{"purchase_history":{{"transactions":{transactions},"first_days_ago":360,"last_days_ago":{last},"avg_order_value":150}}}}}}"#
        )
    };
    assert_eq!(
        winners(&client, &exchange, request(&shared(12, 3), "")).await,
        ("tiered".to_owned(), "boosted".to_owned())
    );
    // Bought twice long ago: probably gone, the default tier applies.
    assert_eq!(
        winners(&client, &exchange, request(&shared(2, 350), "")).await,
        ("flat".to_owned(), "plain".to_owned())
    );
    // Nonsense is ignored, not trusted.
    assert_eq!(
        winners(&client, &exchange, request(&shared(0, 3), "")).await,
        ("flat".to_owned(), "plain".to_owned())
    );
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_seeding_calls_are_refused_naming_the_field() {
    let exchange = start(None).await;
    let client = Client::new();
    let url = exchange.url("/admin/users/history");
    for (body, field) in [
        (
            r#"{"user":{},"orders":[{"date":"2026-01-01","amount":1}]}"#,
            "user",
        ),
        (
            r#"{"user":{"id":"a","ifa":"b"},"orders":[{"date":"2026-01-01","amount":1}]}"#,
            "user",
        ),
        (r#"{"user":{"id":"a"},"orders":[]}"#, "orders"),
        (
            r#"{"user":{"id":"a"},"orders":[{"date":"2026-02-30","amount":1}]}"#,
            "orders[0].date",
        ),
        (
            r#"{"user":{"id":"a"},"orders":[{"date":"2026-01-01","amount":-1}]}"#,
            "orders[0].amount",
        ),
        (
            r#"{"user":{"id":"a"},"vertical":"a b","orders":[{"date":"2026-01-01","amount":1}]}"#,
            "vertical",
        ),
        (
            r#"{"user":{"id":"a"},"orders":[{"date":"2026-01-01","amount":"x"}]}"#,
            "orders[0].amount",
        ),
        (r#"{"user":{"id":"a"},"orders":[],"extra":1}"#, "extra"),
    ] {
        let reply = client
            .send(
                http::Method::POST,
                &url,
                &[("authorization", "Bearer test-token")],
                body,
            )
            .await;
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(reply.json()["field"], field, "{body}");
    }
    let reply = client
        .post(&url, r#"{"user":{"id":"a"},"orders":[]}"#)
        .await;
    assert_eq!(reply.status, 401);
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_swapped_under_load_drops_nothing() {
    let exchange = Arc::new(start(None).await);
    let client = Client::new();
    seed(
        &client,
        &exchange,
        "loyal",
        &tests::loyal_orders(TEST_NOW * 1000),
    )
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for worker in 0..4 {
        let (exchange, stop, answered) = (exchange.clone(), stop.clone(), answered.clone());
        load.push(tokio::spawn(async move {
            let client = Client::new();
            let user = if worker % 2 == 0 {
                r#"{"id":"loyal"}"#
            } else {
                "{}"
            };
            while !stop.load(Ordering::Relaxed) {
                let (cps, cpm) = winners(&client, &exchange, request(user, "")).await;
                assert!(["tiered", "flat"].contains(&cps.as_str()), "{cps}");
                assert!(["boosted", "plain"].contains(&cpm.as_str()), "{cpm}");
                answered.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let path = exchange.campaigns_path.with_file_name("ltv.json");
    for round in 0..20 {
        // Alternate a good model and a broken one: the broken one must be refused.
        let text = if round % 2 == 0 {
            MODEL.replace("0.24259", &format!("0.2{round:02}"))
        } else {
            "{broken".to_owned()
        };
        std::fs::write(&path, text).expect("write model");
        let reply = exchange.admin_reload(&client).await;
        assert_eq!(reply.status, if round % 2 == 0 { 200 } else { 422 });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.expect("a load worker failed");
    }
    assert!(
        answered.load(Ordering::Relaxed) > 40,
        "too little load to say anything"
    );
    // Ten good models went in (version 1 at start + 10), the broken ones never did.
    assert_eq!(exchange.state.model_file.version(), 11);
    match Arc::try_unwrap(exchange) {
        Ok(exchange) => exchange.shutdown().await,
        Err(_) => panic!("workers still hold the exchange"),
    }
}
