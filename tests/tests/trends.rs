//! Trends and product selection on real sockets: pages are served hour after hour (the
//! clock shifted, the topics folded each hour), camping pages become three times as common,
//! and the publisher's `GET /publisher/trends` names the topic with its numbers, the
//! camping product gets its bounded lift in the auction, and `GET /publisher/products`
//! ranks products for a topic and for a placement with the numbers that justify the rank.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tests::affiliate::{click, click_url, P1_TOKEN as TOKEN, REGISTRY};
use tests::{debug_row as row, debug_rows};
use tests::{Client, Reply, TestExchange};

/// A tent (CPS: 0.01 × 0.05 × 400 × 0.1 × 1000 = 20) and a tea kettle (CPC: 1.0 × 0.02 ×
/// 1000 = 20), each about its own topic.
fn campaigns() -> String {
    tests::campaign_file(&[
        r#"{"id":"tent","name":"Family tent","advertiser":"jd","adomain":["jd.example"],
            "keywords":["露营","帐篷"],"vertical":"outdoor",
            "pricing":{"model":"cps","commission_rate":0.1,"avg_order_value":400},
            "base_ctr":0.01,"base_cvr":0.05,
            "creatives":[{"id":"b1","format":"banner","w":300,"h":250,
              "image_url":"https://img.example/t.jpg","landing_url":"https://jd.example/tent"}]}"#
            .to_owned(),
        r#"{"id":"kettle","name":"Tea kettle","advertiser":"tb","adomain":["tb.example"],
            "keywords":["茶叶","茶壶"],"vertical":"kitchen",
            "pricing":{"model":"cpc","bid":1.0},"base_ctr":0.02,
            "creatives":[{"id":"b1","format":"banner","w":300,"h":250,
              "image_url":"https://img.example/k.jpg","landing_url":"https://tb.example/kettle"}]}"#
            .to_owned(),
    ])
}

/// Short windows so a test's hours of pages make a trend; folds triggered by the test.
const CONFIG: &str = r#"
[affiliate]
database = "affiliate.db"
click_flush_ms = 5
[trends]
window_secs = 3600
recent_half_life_hours = 1.0
baseline_half_life_hours = 48.0
min_pages = 5.0
prior_pages = 5.0
[learning]
refresh_secs = 3600
"#;

/// A page about `text` at `p1`'s placement `tagid`.
fn page(id: &str, text: &str, tagid: &str) -> String {
    format!(
        r#"{{"id":"{id}","imp":[{{"id":"1","tagid":"{tagid}","banner":{{"w":300,"h":250}}}}],
            "site":{{"domain":"mama.example","page":"https://mama.example/{id}",
              "keywords":"{text}","publisher":{{"id":"p1"}}}}}}"#
    )
}

struct Hours {
    shift: &'static AtomicI64,
    served: usize,
}

impl Hours {
    /// Serves `camping` camping pages and `tea` tea pages, then lets an hour pass and folds.
    async fn hour(&mut self, exchange: &TestExchange, client: &Client, camping: usize, tea: usize) {
        for i in 0..camping + tea {
            let text = if i < camping {
                "周末带娃去露营"
            } else {
                "今天喝什么茶叶"
            };
            self.served += 1;
            let reply = client
                .post(
                    &exchange.url("/openrtb2/auction"),
                    page(&format!("p{}", self.served), text, "home-top"),
                )
                .await;
            assert!(
                matches!(reply.status.as_u16(), 200 | 204),
                "{}",
                reply.status
            );
        }
        self.shift.fetch_add(3_600_000, Ordering::Relaxed);
        exchange::serving::refresh::fold_trends(&exchange.state).await;
    }
}

async fn publisher_get(exchange: &TestExchange, client: &Client, path: &str) -> Reply {
    client
        .send(
            http::Method::GET,
            &exchange.url(path),
            &[
                ("x-publisher", "p1"),
                ("authorization", &format!("Bearer {TOKEN}")),
            ],
            bytes::Bytes::new(),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rising_topic_trends_lifts_its_products_and_selection_ranks_them_with_numbers() {
    let shift: &'static AtomicI64 = Box::leak(Box::new(AtomicI64::new(0)));
    let exchange = TestExchange::builder()
        .campaigns(&campaigns())
        .publishers(REGISTRY)
        .file("ledger.key", &"ab".repeat(32))
        .config(CONFIG)
        .clock(exchange::clock::Clock::Shifted(shift))
        .start()
        .await;
    let client = Client::new();
    let mut hours = Hours { shift, served: 0 };

    // A day of steady traffic: camping is a quarter of the pages.
    for _ in 0..24 {
        hours.hour(&exchange, &client, 5, 15).await;
    }
    let steady = publisher_get(&exchange, &client, "/publisher/trends")
        .await
        .json_if(200);
    assert_eq!(steady["trending"], serde_json::json!([]), "{steady}");

    // Spring: camping becomes three quarters of the pages for three hours.
    for _ in 0..3 {
        hours.hour(&exchange, &client, 15, 5).await;
    }
    let trends = publisher_get(&exchange, &client, "/publisher/trends?limit=5")
        .await
        .json_if(200);
    let trending = trends["trending"].as_array().expect("list");
    let camping = trending
        .iter()
        .find(|t| t["topic"] == "露营")
        .unwrap_or_else(|| panic!("camping trends: {trends}"));
    assert!(
        camping["ratio"].as_f64().expect("ratio") >= 1.8,
        "{camping}"
    );
    assert!(camping["recent_share"].as_f64() > camping["baseline_share"].as_f64());
    assert_eq!(camping["products"], 1, "the tent is about it");
    let lift = camping["max_product_lift"].as_f64().expect("lift");
    assert!(lift > 1.0 && lift <= 1.2, "{camping}");
    assert!(
        trending.iter().all(|t| t["topic"] != "茶叶"),
        "tea fell: {trends}"
    );

    // In the auction, the tent's pCTR carries the trend's lift, the kettle's does not.
    let (_, rows) = debug_rows(&client, &exchange, page("d1", "今天喝什么茶叶", "home-top")).await;
    let tent_lift = row(&rows, "tent")["trend_lift"].as_f64().expect("lift");
    assert!(tent_lift > 1.0 && tent_lift <= 1.2, "{rows:?}");
    assert_eq!(row(&rows, "kettle")["trend_lift"], 1.0);

    // Products for a topic: the tent for camping, with the numbers behind its rank.
    let products = publisher_get(
        &exchange,
        &client,
        "/publisher/products?topic=%E9%9C%B2%E8%90%A5",
    )
    .await
    .json_if(200);
    let list = products["products"].as_array().expect("products");
    assert_eq!(list.len(), 1, "only the tent is about camping: {products}");
    let tent = &list[0];
    assert_eq!(tent["campaign"], "tent");
    let (epm, relevance) = (
        tent["epm"].as_f64().expect("epm"),
        tent["relevance"].as_f64().expect("relevance"),
    );
    assert!(relevance >= 0.1 && epm > 0.0, "{tent}");
    let quality = tent["quality"].as_f64().expect("quality");
    assert_eq!(quality, 1.0, "no quality weight in this config");
    assert!((tent["score"].as_f64().expect("score") - epm * quality * relevance).abs() < 1e-6);
    assert_eq!(tent["payout"]["per_order"], 40.0);
    assert!(tent["trend_lift"].as_f64().expect("lift") > 1.0);
    assert!(
        products["trend"]["ratio"].as_f64().expect("trend") >= 1.8,
        "{products}"
    );
    let tea = publisher_get(
        &exchange,
        &client,
        "/publisher/products?topic=%E8%8C%B6%E5%8F%B6",
    )
    .await
    .json_if(200);
    assert_eq!(tea["products"][0]["campaign"], "kettle", "{tea}");

    // Products for a placement: what served there, with its counts. The kettle's ad at
    // friday-live is shown and clicked twice.
    for i in 0..2 {
        let reply = client
            .post(
                &exchange.url("/openrtb2/auction"),
                page(&format!("f{i}"), "今天喝什么茶叶", "friday-live"),
            )
            .await;
        let (_, win, _) = reply.first_bid_notices();
        assert_eq!(client.get(&win).await.status, 204);
        let answer = reply.json_if(200);
        assert_eq!(answer["seatbid"][0]["bid"][0]["cid"], "kettle");
        assert_eq!(click(&client, &click_url(&answer)).await.status, 302);
    }
    let clicks = &exchange.state.affiliate.clicks;
    assert!(clicks.flush(Duration::from_secs(5)).await);
    let placement = publisher_get(
        &exchange,
        &client,
        "/publisher/products?placement=friday-live",
    )
    .await
    .json_if(200);
    let list = placement["products"].as_array().expect("products");
    let kettle = row(list, "kettle");
    assert_eq!(kettle["here"]["impressions"], 2, "{placement}");
    assert_eq!(kettle["here"]["clicks"], 2, "{placement}");
    assert!(
        kettle["ctr"].as_f64() > kettle["prior_ctr"].as_f64(),
        "two clicks in two impressions raise its CTR there: {kettle}"
    );
    assert_eq!(
        list[0]["campaign"], "kettle",
        "it earns the most there: {placement}"
    );
    assert_eq!(row(list, "tent")["here"]["impressions"], 0);

    // Refusals: no token, another publisher's placement, bad parameters.
    let anonymous = client
        .get(&exchange.url("/publisher/products?topic=%E9%9C%B2%E8%90%A5"))
        .await;
    assert_eq!(anonymous.status, 401);
    let wrong = client
        .send(
            http::Method::GET,
            &exchange.url("/publisher/trends"),
            &[("x-publisher", "p1"), ("authorization", "Bearer nope")],
            bytes::Bytes::new(),
        )
        .await;
    assert_eq!(wrong.status, 401);
    for (path, status) in [
        ("/publisher/products?placement=guide-top", 404),
        ("/publisher/products", 400),
        ("/publisher/products?topic=a&placement=home-top", 400),
        ("/publisher/products?topic=", 400),
        ("/publisher/products?topic=a&limit=0", 400),
        ("/publisher/trends?limit=101", 400),
        ("/publisher/trends?since=1", 400),
    ] {
        let reply = publisher_get(&exchange, &client, path).await;
        assert_eq!(
            reply.status,
            status,
            "{path}: {}",
            String::from_utf8_lossy(&reply.body)
        );
    }
    exchange.shutdown().await;
}
