//! Learning from outcomes on real sockets: impressions (win notices), clicks (`/c/ad`) and
//! an attributed order land in the affiliate database; one count of the learner
//! republishes the serving set, and the next auctions rank by what was learned — per page
//! category — as the debug view and `GET /admin/learning` show.

use std::time::Duration;
use tests::affiliate::{click, click_id_of, click_url, report_signed};
use tests::debug_row as row;
use tests::{Client, TestExchange};

/// A CPS pot (eCPM 0.02 × 0.05 × 100 × 0.1 × 1000 = 10) and a CPC kettle (eCPM 0.2 ×
/// 0.02 × 1000 = 4): the pot wins until outcomes say otherwise.
fn campaigns() -> String {
    tests::campaign_file(&[
        r#"{"id":"pot","name":"Pot","advertiser":"jd","adomain":["jd.example"],
            "pricing":{"model":"cps","commission_rate":0.1,"avg_order_value":100},
            "base_ctr":0.02,"base_cvr":0.05,
            "attribution":{"click_id_param":"jdclk","window_hours":24},
            "creatives":[{"id":"b1","format":"banner","w":300,"h":250,
              "image_url":"https://img.example/p.jpg","landing_url":"https://jd.example/pot"}]}"#
            .to_owned(),
        r#"{"id":"kettle","name":"Kettle","advertiser":"tb","adomain":["tb.example"],
            "pricing":{"model":"cpc","bid":0.2},"base_ctr":0.02,
            "creatives":[{"id":"b1","format":"banner","w":300,"h":250,
              "image_url":"https://img.example/k.jpg","landing_url":"https://tb.example/kettle"}]}"#
            .to_owned(),
    ])
}

/// Weak priors (20 pseudo-impressions, 5 pseudo-clicks) so a test's handful of outcomes
/// moves the rates; counting is triggered by the test, with no settle lag.
const CONFIG: &str = r#"
[affiliate]
database = "affiliate.db"
click_flush_ms = 5
[affiliate.fraud]
clicks_per_ip_per_minute = 1000
clicks_per_user_per_minute = 1000
clicks_per_sub_id_per_minute = 1000
[learning]
refresh_secs = 3600
settle_ms = 0
ctr_prior = 20
cvr_prior = 5
category_prior = 20

[[advertisers]]
id = "jd"
hmac_secret = "jd-test-hmac-key-0123456789abcdefghij"
"#;

/// A page of IAB category `cat`.
fn request(id: &str, cat: &str) -> String {
    format!(
        r#"{{"id":"{id}","imp":[{{"id":"1","banner":{{"w":300,"h":250}}}}],
            "site":{{"domain":"cook.example","page":"https://cook.example/{id}","cat":["{cat}"]}},
            "user":{{"id":"reader-{id}"}}}}"#
    )
}

/// The debug answer to `request`, its win notice fired (the ad rendered): the winner and
/// the candidate rows.
async fn serve(
    exchange: &TestExchange,
    client: &Client,
    request: String,
) -> (serde_json::Value, Vec<serde_json::Value>) {
    let reply = client
        .post(&exchange.url("/openrtb2/auction?debug=1"), request)
        .await;
    let (_, win, _) = reply.first_bid_notices();
    assert_eq!(client.get(&win).await.status, 204, "the ad renders");
    let answer = reply.json_if(200);
    let rows = answer["ext"]["debug"]["imps"][0]["candidates"]
        .as_array()
        .expect("rows")
        .clone();
    (answer, rows)
}

fn winner(answer: &serde_json::Value) -> &str {
    answer["seatbid"][0]["bid"][0]["cid"]
        .as_str()
        .expect("a campaign won")
}

/// One count of new outcomes, after the queued records reached the database.
async fn learn(exchange: &TestExchange) {
    let clicks = &exchange.state.affiliate.clicks;
    assert!(
        clicks.flush(Duration::from_secs(5)).await,
        "records written"
    );
    // A count takes [last count, now): a notice of this very millisecond would wait for
    // the next one. Let the clock pass the last notice first.
    tokio::time::sleep(Duration::from_millis(2)).await;
    exchange::serving::refresh::count_outcomes(&exchange.state)
        .await
        .expect("outcomes counted");
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_move_the_ranking_per_page_category_and_the_admin_view_shows_why() {
    let exchange = TestExchange::builder()
        .campaigns(&campaigns())
        .file("ledger.key", &"ab".repeat(32))
        .config(CONFIG)
        .clock(exchange::clock::Clock::System)
        .start()
        .await;
    let client = Client::new();

    // Before any outcome: every learned lift is 1 and the pot wins on eCPM.
    let (answer, rows) = serve(&exchange, &client, request("a0", "IAB8-5")).await;
    assert_eq!(winner(&answer), "pot");
    assert_eq!(row(&rows, "pot")["learned"]["ctr_lift"], 1.0, "{rows:?}");
    let notice = answer["seatbid"][0]["bid"][0]["nurl"]
        .as_str()
        .expect("nurl");
    assert!(
        notice.contains("&pc=8&"),
        "the page's category is signed: {notice}"
    );

    // Twenty more food pages show the pot and nobody clicks.
    for i in 1..20 {
        let (answer, _) = serve(&exchange, &client, request(&format!("a{i}"), "IAB8")).await;
        assert_eq!(winner(&answer), "pot");
    }
    learn(&exchange).await;

    // On food pages its CTR fell: (0 + 20 × 0.01) / (20 + 20) = 0.005 around the
    // campaign's (0 + 20 × 0.02) / (20 + 20) = 0.01: eCPM 2.5 < the kettle's 4.
    let (answer, rows) = serve(&exchange, &client, request("b0", "IAB8")).await;
    assert_eq!(winner(&answer), "kettle", "{rows:?}");
    let pot = &row(&rows, "pot")["learned"];
    assert_eq!(pot["page_category"], 8);
    assert!(
        (pot["ctr_lift"].as_f64().expect("lift") - 0.25).abs() < 0.01,
        "{pot}"
    );
    assert!(
        (pot["impressions"].as_f64().expect("n") - 20.0).abs() < 0.1,
        "{pot}"
    );
    // On a travel page only the campaign-wide evidence applies: 0.01, eCPM 5 > 4.
    let (answer, rows) = serve(&exchange, &client, request("c0", "IAB20")).await;
    assert_eq!(winner(&answer), "pot", "{rows:?}");
    let pot = &row(&rows, "pot")["learned"];
    assert!(
        (pot["ctr_lift"].as_f64().expect("lift") - 0.5).abs() < 0.01,
        "{pot}"
    );

    // The travel reader clicks the pot and buys one.
    let landed = click(&client, &click_url(&answer)).await;
    assert_eq!(landed.status, 302);
    let location = landed.headers["location"].to_str().expect("location");
    let click_id = click_id_of(location, "jdclk");
    assert!(
        exchange
            .state
            .affiliate
            .clicks
            .flush(Duration::from_secs(5))
            .await
    );
    let body = format!(
        r#"{{"order_id":"JD-1","currency":"USD","order_time":{},"click_id":"{click_id}",
            "status":"paid","lines":[{{"line_id":"1","sku":"POT","quantity":1,"price":100.0}}]}}"#,
        now() + 2
    );
    let reply = report_signed(&exchange, &client, &body).await;
    assert_eq!(reply.json_if(200)["attributed"], true);
    learn(&exchange).await;

    let view = exchange
        .admin_get(&client, "/admin/learning")
        .await
        .json_if(200);
    let campaigns = view["campaigns"].as_array().expect("campaigns");
    let pot = campaigns
        .iter()
        .find(|c| c["campaign"] == "pot")
        .unwrap_or_else(|| panic!("{view}"));
    assert!(
        (pot["impressions"].as_f64().expect("n") - 21.0).abs() < 0.1,
        "{pot}"
    );
    assert!(
        (pot["clicks"].as_f64().expect("n") - 1.0).abs() < 0.01,
        "{pot}"
    );
    assert!(
        (pot["orders"].as_f64().expect("n") - 1.0).abs() < 0.01,
        "{pot}"
    );
    assert_eq!(pot["declared_ctr"], 0.02);
    let travel = pot["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .find(|c| c["category"] == "IAB20")
        .unwrap_or_else(|| panic!("{pot}"));
    assert!(
        (travel["orders"].as_f64().expect("n") - 1.0).abs() < 0.01,
        "{travel}"
    );
    assert!(
        travel["cvr_lift"].as_f64().expect("lift") > 1.0,
        "an order from one click raises the CVR there: {travel}"
    );
    // The kettle served once and was not clicked: it is listed, the other campaigns'
    // evidence is theirs alone.
    let kettle = campaigns
        .iter()
        .find(|c| c["campaign"] == "kettle")
        .unwrap_or_else(|| panic!("{view}"));
    assert!((kettle["impressions"].as_f64().expect("n") - 1.0).abs() < 0.01);
    // One count at start (the boot's history), two by this test.
    assert_eq!(view["counts"], 3);
    let one = exchange
        .admin_get(&client, "/admin/learning?campaign=kettle&limit=5")
        .await
        .json_if(200);
    assert_eq!(one["campaigns"].as_array().expect("list").len(), 1);
    for bad in ["limit=0", "limit=x", "campaing=pot"] {
        let reply = exchange
            .admin_get(&client, &format!("/admin/learning?{bad}"))
            .await;
        assert_eq!(reply.status, 400, "{bad}");
    }
    let unknown = exchange
        .admin_get(&client, "/admin/learning?campaign=nope")
        .await;
    assert_eq!(unknown.status, 404);
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_page_category_in_a_notice_changes_nothing() {
    let exchange = TestExchange::builder()
        .campaigns(&campaigns())
        .file("ledger.key", &"ab".repeat(32))
        .config(CONFIG)
        .start()
        .await;
    let client = Client::new();
    let reply = client
        .post(&exchange.url("/openrtb2/auction"), request("f0", "IAB8"))
        .await;
    let (_, win, _) = reply.first_bid_notices();
    // The page category is signed: moving the impression to another category breaks the
    // signature, and nothing is recorded.
    let forged = win.replace("&pc=8&", "&pc=20&");
    assert_ne!(forged, win);
    assert_eq!(client.get(&forged).await.status, 403);
    learn(&exchange).await;
    let view = exchange
        .admin_get(&client, "/admin/learning")
        .await
        .json_if(200);
    assert_eq!(view["campaigns"], serde_json::json!([]), "{view}");
    exchange.shutdown().await;
}
