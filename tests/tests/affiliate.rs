//! The affiliate loop on real sockets: auction → signed click URL in the markup → `GET
//! /c/ad` → 302 to the creative's own landing page with a click id → the advertiser's
//! order report → an attributed line with its commission, in the admin views and the
//! budget. Forged, altered, replayed and unauthenticated inputs change nothing.

use exchange::affiliate::auth::sign;
use exchange::shared::PacingStore;
use std::time::Duration;
use tests::affiliate::{click, click_id_of, click_url, report_signed, JD_KEY, REGISTRY};
use tests::{Client, Reply, TestExchange};

/// Request headers as name, value pairs.
type Headers<'a> = Vec<(&'a str, &'a str)>;

const TB_TOKEN: &str = "tb-test-bearer-token-0123456789abcdef";

/// A CPS campaign of advertiser `jd` (10% of the order; the click id under `jdclk`).
fn cps_campaign() -> String {
    r#"{"id":"stroller","name":"Stroller","advertiser":"jd","adomain":["jd.example"],
        "pricing":{"model":"cps","commission_rate":0.1,"avg_order_value":100},
        "base_ctr":0.05,"base_cvr":0.05,
        "attribution":{"click_id_param":"jdclk","window_hours":24},
        "creatives":[{"id":"b1","format":"banner","w":300,"h":250,
          "image_url":"https://img.example/s.jpg","landing_url":"https://jd.example/item/1?ref=x#buy"}]}"#
        .to_owned()
}

/// A CPC campaign of advertiser `tb` paying 2.0 a click, with a daily budget.
fn cpc_campaign() -> String {
    r#"{"id":"tea","name":"Tea","advertiser":"tb","adomain":["tb.example"],
        "pricing":{"model":"cpc","bid":2.0},"base_ctr":0.01,
        "budget":{"daily":1000},
        "creatives":[{"id":"n1","format":"banner","w":300,"h":250,
          "image_url":"https://img.example/t.jpg","landing_url":"https://tb.example/tea"}]}"#
        .to_owned()
}

const ADVERTISERS: &str = r#"
[[advertisers]]
id = "jd"
hmac_secret = "jd-test-hmac-key-0123456789abcdefghij"

[[advertisers]]
id = "tb"
bearer_token = "tb-test-bearer-token-0123456789abcdef"
"#;

/// Where the exchange keeps clicks and orders.
#[derive(Debug, Clone)]
enum Backend {
    /// Its own SQLite file.
    Sqlite,
    /// A database on a PostgreSQL server (its URL).
    Postgres(String),
}

async fn start(campaigns: &[String]) -> TestExchange {
    start_on(campaigns, &Backend::Sqlite, None).await
}

/// An exchange on SQLite with these `[affiliate.fraud]` settings.
async fn start_with_rules(campaigns: &[String], fraud: &str) -> TestExchange {
    start_configured(campaigns, &Backend::Sqlite, None, fraud).await
}

/// An exchange keeping clicks and orders in `backend`, with Redis at `redis` (URL, key
/// prefix) when given (the embedded store otherwise).
async fn start_on(
    campaigns: &[String],
    backend: &Backend,
    redis: Option<(&str, &str)>,
) -> TestExchange {
    start_configured(campaigns, backend, redis, "").await
}

async fn start_configured(
    campaigns: &[String],
    backend: &Backend,
    redis: Option<(&str, &str)>,
    fraud: &str,
) -> TestExchange {
    let database = match backend {
        Backend::Sqlite => "database = \"affiliate.db\"".to_owned(),
        Backend::Postgres(url) => format!("database_url = \"{url}\""),
    };
    let mut builder = TestExchange::builder()
        .campaigns(&tests::campaign_file(campaigns))
        .publishers(REGISTRY)
        // Nodes of one database sign its ledger with one key.
        .file("ledger.key", &"ab".repeat(32))
        .config(&format!(
            "[affiliate]\n{database}\nclick_flush_ms = 5\n[affiliate.fraud]\n{fraud}\n{ADVERTISERS}"
        ))
        // Clicks are judged by the time since the serve: the real clock.
        .clock(exchange::clock::Clock::System);
    if let Some((url, prefix)) = redis {
        builder = builder.redis(url, prefix);
    }
    builder.start().await
}

fn request(id: &str) -> String {
    request_from(id, "wechat-group-7")
}

fn request_from(id: &str, sub_id: &str) -> String {
    format!(
        r#"{{"id":"{id}","imp":[{{"id":"1","tagid":"home-top","banner":{{"w":300,"h":250}},
            "ext":{{"sub_id":"{sub_id}"}}}}],
          "site":{{"domain":"mama.example","page":"https://mama.example/a","publisher":{{"id":"p1"}}}},
          "user":{{"id":"reader-{id}"}}}}"#
    )
}

/// An auction whose ad then renders (its win notice fires, as a page's would).
async fn auction(exchange: &TestExchange, client: &Client, id: &str) -> serde_json::Value {
    shown(exchange, client, &request(id)).await
}

/// The answer to `request`, after its win notice fired.
async fn shown(exchange: &TestExchange, client: &Client, request: &str) -> serde_json::Value {
    let reply = client
        .post(&exchange.url("/openrtb2/auction"), request.to_owned())
        .await;
    let (_, win, _) = reply.first_bid_notices();
    assert_eq!(client.get(&win).await.status, 204, "the ad renders");
    reply.json_if(200)
}

/// What `campaign` has committed over its life, micros.
async fn spent(exchange: &TestExchange, campaign: &str) -> i64 {
    exchange
        .state
        .shared
        .spend(campaign, now().div_euclid(86_400))
        .await
        .expect("spend")
        .spent_total
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

async fn admin_get(exchange: &TestExchange, client: &Client, path: &str) -> Reply {
    client
        .send(
            http::Method::GET,
            &exchange.url(path),
            &[("authorization", "Bearer test-token")],
            bytes::Bytes::new(),
        )
        .await
}

fn order(order_id: &str, click_id: &str, status: &str, extra_line: &str) -> String {
    format!(
        r#"{{"order_id":"{order_id}","currency":"USD","order_time":{},"click_id":"{click_id}","status":"{status}",
            "lines":[{{"line_id":"1","sku":"STROLLER-X","quantity":2,"price":150.0,"category":"baby"{extra_line}}},
                     {{"line_id":"2","sku":"RAIN-COVER","quantity":1,"price":20.0}}]}}"#,
        // Two seconds after the click (any sooner is held as too fast).
        now() + 2
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_lands_on_the_creatives_page_and_the_order_is_attributed_on_sqlite() {
    click_to_attributed_order(&Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_lands_on_the_creatives_page_and_the_order_is_attributed_on_postgres() {
    let server = tests::postgres_server::PostgresServer::shared_or_own();
    click_to_attributed_order(&Backend::Postgres(server.database())).await;
}

async fn click_to_attributed_order(backend: &Backend) {
    let exchange = start_on(&[cps_campaign()], backend, None).await;
    let client = Client::new();
    let answer = auction(&exchange, &client, "a1").await;
    let url = click_url(&answer);
    assert!(url.starts_with(&exchange.url("/c/ad?")), "{url}");
    for field in [
        "campaign=stroller",
        "&pub=p1&",
        "&plc=home-top&",
        "&sub=wechat-group-7&",
        "&cr=0.1&",
    ] {
        assert!(url.contains(field), "{field} in {url}");
    }

    let landed = click(&client, &url).await;
    assert_eq!(
        landed.status,
        302,
        "{}",
        String::from_utf8_lossy(&landed.body)
    );
    let location = landed.headers["location"].to_str().expect("location");
    assert!(
        location.starts_with("https://jd.example/item/1?ref=x&jdclk="),
        "{location}"
    );
    assert!(
        location.ends_with("#buy"),
        "the fragment stays last: {location}"
    );
    assert_eq!(landed.headers["cache-control"], "no-store");
    let click_id = click_id_of(location, "jdclk");
    assert_eq!(click_id.len(), 22, "128 random bits");

    // The shop reports the order with the click id it kept.
    let reply = report_signed(&exchange, &client, &order("JD-1", &click_id, "paid", "")).await;
    let outcome = reply.json_if(200);
    assert_eq!(outcome["attributed"], true, "{outcome}");
    assert_eq!(outcome["publisher"], "p1");
    // 10% of (2 × 150 + 20).
    assert_eq!(outcome["lines"][0]["commission_micros"], 30_000_000);
    assert_eq!(outcome["lines"][1]["commission_micros"], 2_000_000);

    let view = admin_get(
        &exchange,
        &client,
        "/admin/orders?advertiser=jd&order_id=JD-1",
    )
    .await
    .json_if(200);
    assert_eq!(view["placement"], "home-top");
    assert_eq!(view["sub_id"], "wechat-group-7");
    assert_eq!(view["campaign"], "stroller");
    assert_eq!(view["auction"], answer["bidid"]);
    assert_eq!(view["lines"][0]["state"], "pending");

    let report = admin_get(&exchange, &client, "/admin/affiliate/report?publisher=p1")
        .await
        .json_if(200);
    let row = &report["rows"][0];
    assert_eq!(row["clicks"], 1, "{report}");
    assert_eq!(row["orders"], 1);
    assert_eq!(row["commission_micros"]["USD"], 32_000_000);
    assert_eq!(row["order_value_micros"]["USD"], 320_000_000);

    // The campaign's budget counts the actual commission, not the serve.
    assert_eq!(spent(&exchange, "stroller").await, 32_000_000);
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_updates_are_idempotent_and_may_come_out_of_order_on_sqlite() {
    order_updates(&Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_updates_are_idempotent_and_may_come_out_of_order_on_postgres() {
    let server = tests::postgres_server::PostgresServer::shared_or_own();
    order_updates(&Backend::Postgres(server.database())).await;
}

async fn order_updates(backend: &Backend) {
    let exchange = start_on(&[cps_campaign()], backend, None).await;
    let client = Client::new();
    let answer = auction(&exchange, &client, "a2").await;
    let landed = click(&client, &click_url(&answer)).await;
    let click_id = click_id_of(
        landed.headers["location"].to_str().expect("location"),
        "jdclk",
    );
    let line = |reply: &Reply, i: usize| reply.json_if(200)["lines"][i].clone();

    // A partial refund of line 1 (one stroller) arrives before anything else.
    let refund = order(
        "JD-2",
        &click_id,
        "paid",
        r#","status":"refunded","refunded_quantity":1"#,
    );
    let first = report_signed(&exchange, &client, &refund).await;
    assert_eq!(line(&first, 0)["state"], "pending");
    assert_eq!(line(&first, 0)["commission_micros"], 15_000_000);
    // The same report again changes nothing.
    let again = report_signed(&exchange, &client, &refund).await;
    assert_eq!(line(&again, 0)["changed"], false);
    assert_eq!(line(&again, 0)["unchanged"], "same");
    // Confirmed later: the refund stays.
    let confirmed = report_signed(
        &exchange,
        &client,
        &order("JD-2", &click_id, "confirmed", ""),
    )
    .await;
    assert_eq!(line(&confirmed, 0)["state"], "confirmed");
    assert_eq!(line(&confirmed, 0)["commission_micros"], 15_000_000);
    // Line 2 cancelled: it earns nothing from now on, and stays cancelled.
    let body = order("JD-2", &click_id, "confirmed", "").replace(
        r#"{"line_id":"2","sku":"RAIN-COVER","quantity":1,"price":20.0}"#,
        r#"{"line_id":"2","sku":"RAIN-COVER","quantity":1,"price":20.0,"status":"cancelled"}"#,
    );
    let cancelled = report_signed(&exchange, &client, &body).await;
    assert_eq!(line(&cancelled, 1)["state"], "cancelled");
    assert_eq!(line(&cancelled, 1)["commission_micros"], 0);
    let late_confirm = report_signed(
        &exchange,
        &client,
        &order("JD-2", &click_id, "confirmed", ""),
    )
    .await;
    assert_eq!(line(&late_confirm, 1)["unchanged"], "final");
    // The rest of line 1 refunded: nothing is left to earn.
    let whole = order(
        "JD-2",
        &click_id,
        "confirmed",
        r#","status":"refunded","refunded_amount":300"#,
    );
    let refunded = report_signed(&exchange, &client, &whole).await;
    assert_eq!(line(&refunded, 0)["state"], "refunded");

    let view = admin_get(
        &exchange,
        &client,
        "/admin/orders?advertiser=jd&order_id=JD-2",
    )
    .await
    .json_if(200);
    let transitions: Vec<&str> = view["lines"][0]["transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .map(|t| t["state"].as_str().expect("state"))
        .collect();
    assert_eq!(transitions, ["pending", "confirmed", "refunded"], "{view}");
    // Budget: +15 (partial) +2 (line 2) −2 (cancelled) −15 (refunded) = 0.
    assert_eq!(spent(&exchange, "stroller").await, 0);
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_altered_and_foreign_clicks_are_refused_and_record_nothing() {
    let exchange = start(&[cps_campaign()]).await;
    let client = Client::new();
    let answer = auction(&exchange, &client, "a3").await;
    let url = click_url(&answer);
    let cases = [
        (url.replace("campaign=stroller", "campaign=strollex"), 403),
        (
            url.replace("&sub=wechat-group-7&", "&sub=wechat-group-8&"),
            403,
        ),
        (format!("{url}&to=https%3A%2F%2Fevil.example"), 400),
        (url.split("&sig=").next().expect("signed").to_owned(), 403),
        // A win notice is not a click, even with the same fields.
        (
            answer["seatbid"][0]["bid"][0]["nurl"]
                .as_str()
                .expect("nurl")
                .replace("/notice/win", "/c/ad"),
            400,
        ),
    ];
    for (forged, status) in cases {
        let reply = click(&client, &forged).await;
        assert_eq!(
            reply.status,
            status,
            "{forged}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        assert!(
            reply.headers.get("location").is_none(),
            "no redirect for {forged}"
        );
    }
    let report = admin_get(&exchange, &client, "/admin/affiliate/report")
        .await
        .json_if(200);
    assert_eq!(
        report["rows"],
        serde_json::json!([]),
        "nothing recorded: {report}"
    );
    let metrics =
        String::from_utf8_lossy(&client.get(&exchange.url("/metrics")).await.body).into_owned();
    assert!(
        metrics.contains(r#"exchange_clicks_total{outcome="refused",reason="bad_signature"} 2"#),
        "{metrics}"
    );
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpc_pays_once_per_impression_on_a_valid_click_not_at_serve() {
    let exchange = start(&[cpc_campaign()]).await;
    let client = Client::new();
    let answer = auction(&exchange, &client, "c1").await;
    // The win notice counts the impression but charges nothing.
    let (_, win, _) = client
        .post(&exchange.url("/openrtb2/auction"), request("c1-again"))
        .await
        .first_bid_notices();
    assert_eq!(client.get(&win).await.status, 204);
    assert_eq!(spent(&exchange, "tea").await, 0, "nothing at serve");

    let url = click_url(&answer);
    let cpc: i64 = url
        .split('&')
        .find_map(|p| p.strip_prefix("cpc="))
        .expect("the click price is signed")
        .parse()
        .expect("micros");
    assert!(cpc > 0 && cpc <= 2_000_000, "at most the bid: {cpc}");
    assert_eq!(click(&client, &url).await.status, 302);
    // The same click again (a double click, or a replay): redirected, earns nothing.
    assert_eq!(click(&client, &url).await.status, 302);
    let report = admin_get(&exchange, &client, "/admin/affiliate/report")
        .await
        .json_if(200);
    assert_eq!(report["rows"][0]["clicks"], 1, "{report}");
    assert_eq!(
        report["rows"][0]["invalid_clicks"]["duplicate"], 1,
        "{report}"
    );
    exchange.writes_landed().await;
    // The charge leaves after the click's batch is written: wait for it to land.
    let mut charged = 0;
    for _ in 0..100 {
        charged = spent(&exchange, "tea").await;
        if charged != 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(charged, cpc, "one click charged, at the signed price");

    // A click within moments of the serve is nobody's, and a crawler's earns nothing.
    let fast = auction(&exchange, &client, "c2").await;
    let reply = client.get(&click_url(&fast)).await;
    assert_eq!(reply.status, 302);
    let bot = auction(&exchange, &client, "c3").await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    let reply = client
        .send(
            http::Method::GET,
            &click_url(&bot),
            &[(
                "user-agent",
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            )],
            bytes::Bytes::new(),
        )
        .await;
    assert_eq!(reply.status, 302);
    let report = admin_get(&exchange, &client, "/admin/affiliate/report")
        .await
        .json_if(200);
    let invalid = &report["rows"][0]["invalid_clicks"];
    assert_eq!(invalid["too_fast"], 1, "{report}");
    assert_eq!(invalid["bot_agent"], 1, "{report}");
    exchange.writes_landed().await;
    assert_eq!(
        spent(&exchange, "tea").await,
        cpc,
        "flagged clicks are not charged"
    );
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_are_authenticated_and_a_refused_one_changes_nothing() {
    let exchange = start(&[cps_campaign(), cpc_campaign()]).await;
    let client = Client::new();
    let answer = auction(&exchange, &client, "o1").await;
    let landed = click(&client, &click_url(&answer)).await;
    let click_id = click_id_of(
        landed.headers["location"].to_str().expect("location"),
        "jdclk",
    );
    let body = order("JD-9", &click_id, "paid", "");
    let url = exchange.url("/orders");
    let at = now().to_string();
    let good = sign(JD_KEY.as_bytes(), now(), body.as_bytes());
    let stale = sign(JD_KEY.as_bytes(), now() - 3600, body.as_bytes());
    let tb_token = format!("Bearer {TB_TOKEN}");
    let stale_at = (now() - 3600).to_string();
    let cases: Vec<(Headers, &str, &str)> = vec![
        (vec![], "X-Advertiser", "no credentials"),
        (
            vec![("x-advertiser", "jd")],
            "Authorization",
            "nothing proves it",
        ),
        (
            vec![
                ("x-advertiser", "jd"),
                ("x-timestamp", &at),
                ("x-signature", "sha256=00"),
            ],
            "X-Signature",
            "garbage",
        ),
        (
            vec![
                ("x-advertiser", "jd"),
                ("x-timestamp", &stale_at),
                ("x-signature", &stale),
            ],
            "X-Timestamp",
            "an old capture",
        ),
        (
            vec![("x-advertiser", "jd"), ("authorization", &tb_token)],
            "Authorization",
            "another advertiser's token",
        ),
        (
            vec![
                ("x-advertiser", "tb"),
                ("x-timestamp", &at),
                ("x-signature", &good),
            ],
            "X-Signature",
            "jd's signature as tb",
        ),
    ];
    for (headers, field, why) in cases {
        let reply = client
            .send(http::Method::POST, &url, &headers, body.clone())
            .await;
        let error = reply.json_if(401);
        assert_eq!(error["field"], field, "{why}: {error}");
    }
    // The body altered after signing.
    let altered = body.replace("\"quantity\":2", "\"quantity\":20");
    let reply = client
        .send(
            http::Method::POST,
            &url,
            &[
                ("x-advertiser", "jd"),
                ("x-timestamp", &at),
                ("x-signature", &good),
            ],
            altered,
        )
        .await;
    assert_eq!(reply.json_if(401)["field"], "X-Signature");
    let view = admin_get(
        &exchange,
        &client,
        "/admin/orders?advertiser=jd&order_id=JD-9",
    )
    .await;
    assert_eq!(view.status, 404, "nothing was recorded");

    // tb reports an order with jd's click: recorded, never attributed to it.
    let reply = client
        .send(
            http::Method::POST,
            &url,
            &[("x-advertiser", "tb"), ("authorization", &tb_token)],
            body.clone(),
        )
        .await;
    let outcome = reply.json_if(200);
    assert_eq!(outcome["attributed"], false);
    assert_eq!(outcome["unattributed"], "other_advertiser");
    assert_eq!(outcome["lines"][0]["commission_micros"], 0);
    // An order without a click, and one with a made-up click id, say why.
    let none = body
        .replace(&format!(r#""click_id":"{click_id}","#), "")
        .replace("JD-9", "JD-10");
    let outcome = report_signed(&exchange, &client, &none).await.json_if(200);
    assert_eq!(outcome["unattributed"], "no_click");
    let made_up = body
        .replace(&click_id, "AAAAAAAAAAAAAAAAAAAAAA")
        .replace("JD-9", "JD-11");
    let outcome = report_signed(&exchange, &client, &made_up)
        .await
        .json_if(200);
    assert_eq!(outcome["unattributed"], "unknown_click");
    // A field out of bounds is named.
    let bad = body.replace("\"price\":150.0", "\"price\":-1");
    let error = report_signed(&exchange, &client, &bad).await.json_if(400);
    assert_eq!(error["field"], "lines[0].price");
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_postgres_and_redis_click_on_one_order_on_the_other() {
    let postgres = tests::postgres_server::PostgresServer::shared_or_own();
    let redis = tests::redis_server::RedisServer::shared_or_own();
    let prefix = tests::redis_server::unique_prefix();
    let backend = Backend::Postgres(postgres.database());
    let campaigns = [cps_campaign(), cpc_campaign()];
    let a = start_on(&campaigns, &backend, Some((redis.url(), &prefix))).await;
    let b = start_on(&campaigns, &backend, Some((redis.url(), &prefix))).await;
    let client = Client::new();

    // A served and clicked on node A; the same click URL replayed on node B.
    let answer = auction(&a, &client, "n1").await;
    let url = click_url(&answer);
    let landed = click(&client, &url).await;
    assert_eq!(landed.status, 302);
    let click_id = click_id_of(
        landed.headers["location"].to_str().expect("location"),
        "jdclk",
    );
    let replayed = click(&client, &url.replace(&a.url(""), &b.url(""))).await;
    assert_eq!(replayed.status, 302, "B verifies A's URL (shared keys)");
    // Node A's batch is written within its flush window; the shop reports later anyway.
    assert!(a.state.affiliate.clicks.flush(Duration::from_secs(2)).await);
    assert!(b.state.affiliate.clicks.flush(Duration::from_secs(2)).await);

    // The order reaches node B.
    let body = order("JD-2N", &click_id, "paid", "");
    let at = now();
    let signature = sign(JD_KEY.as_bytes(), at, body.as_bytes());
    let outcome = client
        .send(
            http::Method::POST,
            &b.url("/orders"),
            &[
                ("x-advertiser", "jd"),
                ("x-timestamp", &at.to_string()),
                ("x-signature", &signature),
            ],
            body.clone(),
        )
        .await
        .json_if(200);
    assert_eq!(outcome["attributed"], true, "{outcome}");
    assert_eq!(outcome["publisher"], "p1");
    // Node A sees the same order, and one valid click of the impression across both nodes.
    let view = admin_get(&a, &client, "/admin/orders?advertiser=jd&order_id=JD-2N")
        .await
        .json_if(200);
    assert_eq!(view["lines"][0]["commission_micros"], 30_000_000, "{view}");
    let report = admin_get(&a, &client, "/admin/affiliate/report?publisher=p1")
        .await
        .json_if(200);
    assert_eq!(report["rows"][0]["clicks"], 1, "{report}");
    assert_eq!(
        report["rows"][0]["invalid_clicks"]["duplicate"], 1,
        "{report}"
    );
    // The commission is in the shared budget once, whichever node took the order.
    assert_eq!(spent(&a, "stroller").await, 32_000_000);
    a.shutdown().await;
    b.shutdown().await;
}

async fn admin_post(exchange: &TestExchange, client: &Client, path: &str, body: &str) -> Reply {
    client
        .send(
            http::Method::POST,
            &exchange.url(path),
            &[
                ("authorization", "Bearer test-token"),
                ("content-type", "application/json"),
            ],
            body.to_owned(),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_link_and_its_short_code_are_clicks_credited_to_the_live_room() {
    let exchange = start(&[cps_campaign()]).await;
    let client = Client::new();
    let made = admin_post(
        &exchange,
        &client,
        "/admin/links",
        r#"{"campaign":"stroller","publisher":"p1","placement":"friday-live","sub_id":"koc-lily","valid_hours":48}"#,
    )
    .await
    .json_if(201);
    let url = made["url"].as_str().expect("url");
    let short = made["short_url"].as_str().expect("short url");
    assert!(url.starts_with(&exchange.url("/c/p?")), "{made}");
    assert!(short.starts_with(&exchange.url("/s/")), "{made}");
    assert_eq!(
        made["expires"].as_i64().expect("expiry") - now(),
        48 * 3600,
        "{made}"
    );

    // Both the long link and the short code land on the creative's page with a click id;
    // each click is its own (no impression to be the duplicate of).
    let mut click_ids = Vec::new();
    for link in [url, short, short] {
        let landed = click(&client, link).await;
        assert_eq!(
            landed.status,
            302,
            "{link}: {}",
            String::from_utf8_lossy(&landed.body)
        );
        let location = landed.headers["location"].to_str().expect("location");
        assert!(
            location.starts_with("https://jd.example/item/1?ref=x&jdclk="),
            "{location}"
        );
        click_ids.push(click_id_of(location, "jdclk"));
    }
    let outcome = report_signed(
        &exchange,
        &client,
        &order("JD-LIVE", &click_ids[1], "paid", ""),
    )
    .await
    .json_if(200);
    assert_eq!(outcome["attributed"], true, "{outcome}");
    let view = admin_get(
        &exchange,
        &client,
        "/admin/orders?advertiser=jd&order_id=JD-LIVE",
    )
    .await
    .json_if(200);
    assert_eq!(view["placement"], "friday-live", "{view}");
    assert_eq!(view["sub_id"], "koc-lily", "{view}");
    assert_eq!(
        view["lines"][0]["commission_micros"], 30_000_000,
        "the campaign's rate"
    );
    let report = admin_get(&exchange, &client, "/admin/affiliate/report?publisher=p1")
        .await
        .json_if(200);
    let row = report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["placement"] == "friday-live")
        .expect("the live room's row");
    assert_eq!(row["clicks"], 3, "{report}");

    // Its QR codes.
    let png = client.get(made["qr_png"].as_str().expect("png")).await;
    assert_eq!(png.status, 200);
    assert_eq!(png.headers["content-type"], "image/png");
    assert!(png.body.starts_with(b"\x89PNG\r\n\x1a\n"));
    let svg = client.get(made["qr_svg"].as_str().expect("svg")).await;
    assert_eq!(svg.headers["content-type"], "image/svg+xml");
    assert!(String::from_utf8_lossy(&svg.body).contains("<svg"));

    // Forged, unknown and badly asked-for links.
    let moved = url.replace("sub=koc-lily", "sub=koc-mia");
    assert_eq!(click(&client, &moved).await.status, 403);
    assert_eq!(client.get(&exchange.url("/s/ZZZZZZZZ")).await.status, 410);
    for (body, field) in [
        (r#"{"campaign":"nope","publisher":"p1"}"#, "campaign"),
        (r#"{"campaign":"stroller","publisher":"p9"}"#, "publisher"),
        (
            r#"{"campaign":"stroller","publisher":"p1","placement":"home-bottom"}"#,
            "placement",
        ),
        (
            r#"{"campaign":"stroller","publisher":"p1","valid_hours":0}"#,
            "valid_hours",
        ),
        (
            r#"{"campaign":"stroller","publisher":"p1","sub_id":"a b"}"#,
            "sub_id",
        ),
    ] {
        let error = admin_post(&exchange, &client, "/admin/links", body)
            .await
            .json_if(400);
        assert_eq!(error["field"], field, "{body}: {error}");
    }
    let anonymous = client
        .send(
            http::Method::POST,
            &exchange.url("/admin/links"),
            &[],
            r#"{}"#,
        )
        .await;
    assert_eq!(anonymous.status, 401);
    exchange.shutdown().await;
}

/// The counter `name{labels}` in the exchange's `/metrics`.
async fn metric(exchange: &TestExchange, client: &Client, sample: &str) -> u64 {
    let text =
        String::from_utf8_lossy(&client.get(&exchange.url("/metrics")).await.body).into_owned();
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicks_without_their_impression_and_click_floods_earn_nothing() {
    let exchange = start_with_rules(&[cpc_campaign()], "clicks_per_ip_per_minute = 2").await;
    let client = Client::new();
    // A click URL lifted from a bid whose ad never rendered.
    let unseen = client
        .post(&exchange.url("/openrtb2/auction"), request("f0"))
        .await
        .json_if(200);
    assert_eq!(click(&client, &click_url(&unseen)).await.status, 302);
    // Rendered ads clicked from one address: the third within a minute is a flood.
    for id in ["f1", "f2", "f3"] {
        let answer = auction(&exchange, &client, id).await;
        assert_eq!(click(&client, &click_url(&answer)).await.status, 302);
    }
    let report = admin_get(&exchange, &client, "/admin/affiliate/report")
        .await
        .json_if(200);
    let row = &report["rows"][0];
    assert_eq!(row["clicks"], 2, "{report}");
    assert_eq!(row["invalid_clicks"]["before_impression"], 1, "{report}");
    assert_eq!(row["invalid_clicks"]["flood_ip"], 1, "{report}");
    assert_eq!(
        metric(
            &exchange,
            &client,
            r#"exchange_clicks_total{outcome="invalid",reason="flood_ip"}"#
        )
        .await,
        1
    );
    exchange.shutdown().await;
}

/// A signed report of `order_id` with the click `click_id`, placed at `order_time`, by
/// `buyer` (JSON object).
fn order_by(order_id: &str, click_id: &str, order_time: i64, buyer: &str) -> String {
    format!(
        r#"{{"order_id":"{order_id}","currency":"USD","order_time":{order_time},"click_id":"{click_id}",
            "buyer":{buyer},"lines":[{{"line_id":"1","sku":"STROLLER-X","quantity":1,"price":100.0}}]}}"#
    )
}

/// A fresh valid click on the CPS campaign: its click id.
async fn fresh_click(exchange: &TestExchange, client: &Client, id: &str) -> String {
    let answer = auction(exchange, client, id).await;
    let landed = click(client, &click_url(&answer)).await;
    click_id_of(
        landed.headers["location"].to_str().expect("location"),
        "jdclk",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspicious_orders_are_held_until_an_operator_clears_or_confirms_them() {
    let exchange = start_with_rules(&[cps_campaign()], "orders_per_buyer_per_hour = 2").await;
    let client = Client::new();

    // Within a second of its click.
    let fast = fresh_click(&exchange, &client, "h1").await;
    let outcome = report_signed(
        &exchange,
        &client,
        &order_by("FAST", &fast, now() - 1, "{}"),
    )
    .await
    .json_if(200);
    assert_eq!(
        outcome["held"],
        serde_json::json!(["fast_conversion"]),
        "{outcome}"
    );
    assert_eq!(
        outcome["lines"][0]["commission_micros"], 0,
        "held: earns nothing"
    );

    // A third order from one buyer within the hour.
    for (i, expected) in [(2, None), (3, None), (4, Some("burst"))] {
        let click_id = fresh_click(&exchange, &client, &format!("h{i}")).await;
        let body = order_by(
            &format!("B{i}"),
            &click_id,
            now() + 2,
            r#"{"account":"acc-9"}"#,
        );
        let outcome = report_signed(&exchange, &client, &body).await.json_if(200);
        match expected {
            None => assert!(outcome.get("held").is_none(), "{outcome}"),
            Some(reason) => assert_eq!(outcome["held"], serde_json::json!([reason]), "{outcome}"),
        }
    }
    assert_eq!(
        spent(&exchange, "stroller").await,
        20_000_000,
        "two earning orders"
    );

    // The operator's queue, with reasons.
    let held = admin_get(&exchange, &client, "/admin/fraud/orders?advertiser=jd")
        .await
        .json_if(200);
    let ids: Vec<&str> = held["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .map(|o| o["order_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["FAST", "B4"], "{held}");
    assert_eq!(held["orders"][1]["reasons"], serde_json::json!(["burst"]));
    assert_eq!(held["orders"][1]["buyer"]["account"], "acc-9");

    // Cleared: it earns from now on, and its commission reaches the budget.
    let cleared = admin_post(
        &exchange,
        &client,
        "/admin/fraud/orders",
        r#"{"advertiser":"jd","order_id":"B4","decision":"clear","note":"a real family"}"#,
    )
    .await
    .json_if(200);
    assert_eq!(
        cleared["lines"][0]["commission_micros"], 10_000_000,
        "{cleared}"
    );
    assert_eq!(spent(&exchange, "stroller").await, 30_000_000);
    // Confirmed as fraud: it never earns, even when reported again.
    admin_post(
        &exchange,
        &client,
        "/admin/fraud/orders",
        r#"{"advertiser":"jd","order_id":"FAST","decision":"confirm"}"#,
    )
    .await
    .json_if(200);
    let again = report_signed(
        &exchange,
        &client,
        &order_by("FAST", &fast, now() - 1, "{}")
            .replace(r#""line_id":"1""#, r#""status":"confirmed","line_id":"1""#),
    )
    .await
    .json_if(200);
    assert_eq!(again["lines"][0]["commission_micros"], 0, "{again}");
    // A decision on an order that is not held is refused.
    let twice = admin_post(
        &exchange,
        &client,
        "/admin/fraud/orders",
        r#"{"advertiser":"jd","order_id":"B4","decision":"confirm"}"#,
    )
    .await;
    assert_eq!(twice.status, 409);
    assert_eq!(spent(&exchange, "stroller").await, 30_000_000);
    for (sample, expected) in [
        (r#"exchange_order_holds_total{reason="fast_conversion"}"#, 1),
        (r#"exchange_order_holds_total{reason="burst"}"#, 1),
        (
            r#"exchange_order_hold_decisions_total{decision="cleared"}"#,
            1,
        ),
        (
            r#"exchange_order_hold_decisions_total{decision="confirmed"}"#,
            1,
        ),
    ] {
        assert_eq!(
            metric(&exchange, &client, sample).await,
            expected,
            "{sample}"
        );
    }
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_purchases_and_sub_ids_converting_far_above_their_peers_are_held() {
    let exchange = TestExchange::builder()
        .campaigns(&tests::campaign_file(&[cps_campaign()]))
        .publishers(&REGISTRY.replace(
            "domains = [\"mama.example\"]",
            "domains = [\"mama.example\"]\nbuyer_accounts = [\"mama-own-account\"]",
        ))
        .config(&format!(
            "[affiliate]\ndatabase = \"affiliate.db\"\nclick_flush_ms = 5\n\
             [affiliate.fraud]\noutlier_min_clicks = 2\noutlier_factor = 2.0\n{ADVERTISERS}"
        ))
        .clock(exchange::clock::Clock::System)
        .start()
        .await;
    let client = Client::new();
    // The publisher buys through its own link.
    let own = fresh_click(&exchange, &client, "s1").await;
    let body = order_by("OWN", &own, now() + 2, r#"{"account":"mama-own-account"}"#);
    let outcome = report_signed(&exchange, &client, &body).await.json_if(200);
    assert_eq!(
        outcome["held"],
        serde_json::json!(["self_purchase"]),
        "{outcome}"
    );

    // Another sub-id brings four clicks and no order; this one converts its second click.
    for i in 0..4 {
        let answer = shown(
            &exchange,
            &client,
            &request_from(&format!("q{i}"), "koc-quiet"),
        )
        .await;
        assert_eq!(click(&client, &click_url(&answer)).await.status, 302);
    }
    let click_id = fresh_click(&exchange, &client, "s2").await;
    let outcome = report_signed(
        &exchange,
        &client,
        &order_by("HOT", &click_id, now() + 2, "{}"),
    )
    .await
    .json_if(200);
    // wechat-group-7: 2 orders of 2 clicks against the network's 2 of 6.
    assert_eq!(
        outcome["held"],
        serde_json::json!(["sub_id_outlier"]),
        "{outcome}"
    );
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_files_in_csv_and_json_lines_are_imported_order_by_order() {
    use exchange::affiliate::import::{import, Credential};
    let exchange = start(&[cps_campaign()]).await;
    let client = Client::new();
    let first = fresh_click(&exchange, &client, "i1").await;
    let second = fresh_click(&exchange, &client, "i2").await;
    let at = now() + 2;
    let csv = format!(
        "order_id,currency,order_time,click_id,line_id,sku,quantity,price,category,status,refunded_quantity\n\
         CSV-1,USD,{at},{first},1,STROLLER-X,2,150,baby,,\n\
         CSV-1,USD,{at},{first},2,RAIN-COVER,1,20,,refunded,1\n\
         CSV-2,USD,{at},{second},1,STROLLER-X,one,150,,,\n\
         CSV-3,USD,{at},,1,STROLLER-X,1,150,,,\n"
    );
    let key = Credential::Key(JD_KEY.to_owned());
    let summary = import(&exchange.url(""), "jd", &key, &csv, true)
        .await
        .expect("import");
    assert_eq!(summary.applied, 2, "{summary:?}");
    assert_eq!(summary.refused.len(), 1, "{summary:?}");
    let (line, status, field, _) = &summary.refused[0];
    assert_eq!((*line, *status, field.as_str()), (4, 400, "quantity"));
    let view = admin_get(
        &exchange,
        &client,
        "/admin/orders?advertiser=jd&order_id=CSV-1",
    )
    .await
    .json_if(200);
    assert_eq!(view["attributed"], true, "{view}");
    assert_eq!(view["lines"][0]["commission_micros"], 30_000_000);
    assert_eq!(view["lines"][1]["state"], "refunded");
    let unattributed = admin_get(
        &exchange,
        &client,
        "/admin/orders?advertiser=jd&order_id=CSV-3",
    )
    .await
    .json_if(200);
    assert_eq!(unattributed["unattributed"], "no_click");

    // JSON lines: the same order again (nothing changes) and a confirmation.
    let one_line = |json: String| -> String {
        serde_json::from_str::<serde_json::Value>(&json)
            .expect("json")
            .to_string()
    };
    let jsonl = format!(
        "{}\n{}\n",
        one_line(order_by("CSV-2", &second, at, "{}")),
        one_line(
            order_by("CSV-1", &first, at, "{}")
                .replace(r#""line_id":"1""#, r#""status":"confirmed","line_id":"1""#)
        )
    );
    let summary = import(&exchange.url(""), "jd", &key, &jsonl, false)
        .await
        .expect("import");
    assert_eq!(
        (summary.applied, summary.refused.len()),
        (2, 0),
        "{summary:?}"
    );
    let view = admin_get(
        &exchange,
        &client,
        "/admin/orders?advertiser=jd&order_id=CSV-1",
    )
    .await
    .json_if(200);
    assert_eq!(view["lines"][0]["state"], "confirmed");
    // A file signed with the wrong key is refused whole.
    let wrong = Credential::Key("not-the-key-of-jd-0123456789abcdefgh".to_owned());
    let error = import(&exchange.url(""), "jd", &wrong, &jsonl, false)
        .await
        .expect_err("refused");
    assert!(error.to_string().contains("401"), "{error}");
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn view_through_credits_the_impression_a_buyer_saw_where_the_campaign_allows_it() {
    let viewable = cps_campaign().replace(
        r#""window_hours":24}"#,
        r#""window_hours":24,"view_through_hours":24}"#,
    );
    assert!(viewable.contains("view_through_hours"));
    let exchange = start(&[viewable]).await;
    let client = Client::new();
    // The reader of this page saw the ad (rendered) and never clicked.
    auction(&exchange, &client, "v1").await;
    exchange
        .state
        .affiliate
        .clicks
        .flush(Duration::from_secs(2))
        .await;
    let body = format!(
        r#"{{"order_id":"VIEW-1","currency":"USD","order_time":{},"user_key":"reader-v1",
            "lines":[{{"line_id":"1","sku":"STROLLER-X","quantity":1,"price":100.0}}]}}"#,
        now() + 2
    );
    let outcome = report_signed(&exchange, &client, &body).await.json_if(200);
    assert_eq!(outcome["attributed"], true, "{outcome}");
    assert_eq!(
        outcome["lines"][0]["commission_micros"], 10_000_000,
        "the campaign's rate"
    );
    let view = admin_get(
        &exchange,
        &client,
        "/admin/orders?advertiser=jd&order_id=VIEW-1",
    )
    .await
    .json_if(200);
    assert_eq!(view["attributed_by"], "view", "{view}");
    assert_eq!(view["placement"], "home-top");
    // A buyer who saw nothing: no click, no view.
    let stranger = body
        .replace("VIEW-1", "VIEW-2")
        .replace("reader-v1", "reader-zz");
    let outcome = report_signed(&exchange, &client, &stranger)
        .await
        .json_if(200);
    assert_eq!(outcome["unattributed"], "no_click", "{outcome}");
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_view_through_a_seen_ad_credits_nothing() {
    let exchange = start(&[cps_campaign()]).await;
    let client = Client::new();
    auction(&exchange, &client, "v2").await;
    exchange
        .state
        .affiliate
        .clicks
        .flush(Duration::from_secs(2))
        .await;
    let body = format!(
        r#"{{"order_id":"VIEW-3","currency":"USD","order_time":{},"user_key":"reader-v2",
            "lines":[{{"line_id":"1","sku":"STROLLER-X","quantity":1,"price":100.0}}]}}"#,
        now() + 2
    );
    let outcome = report_signed(&exchange, &client, &body).await.json_if(200);
    assert_eq!(outcome["unattributed"], "no_click", "{outcome}");
    exchange.shutdown().await;
}

/// A request of `sub_id` read by `user`.
fn request_by(id: &str, sub_id: &str, user: &str) -> String {
    request_from(id, sub_id).replace(&format!("reader-{id}"), user)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_or_one_sub_id_clicking_past_its_minute_earns_nothing() {
    let rules = "clicks_per_ip_per_minute = 100\nclicks_per_user_per_minute = 2\nclicks_per_sub_id_per_minute = 3";
    // View-through makes the impressions (and clicks) carry the user key the rule counts.
    let keyed = cps_campaign().replace(
        r#""window_hours":24}"#,
        r#""window_hours":24,"view_through_hours":1}"#,
    );
    let exchange = start_with_rules(&[keyed], rules).await;
    let client = Client::new();
    // One reader clicks three ads in a minute: the third is a flood.
    for id in ["u1", "u2", "u3"] {
        let answer = shown(
            &exchange,
            &client,
            &request_by(id, "wechat-group-7", "same-reader"),
        )
        .await;
        assert_eq!(click(&client, &click_url(&answer)).await.status, 302);
    }
    // Other readers of the same sub-id: its third valid click in the minute is the last.
    for id in ["s1", "s2"] {
        let answer = shown(
            &exchange,
            &client,
            &request_by(id, "wechat-group-7", &format!("r-{id}")),
        )
        .await;
        assert_eq!(click(&client, &click_url(&answer)).await.status, 302);
    }
    let report = admin_get(&exchange, &client, "/admin/affiliate/report")
        .await
        .json_if(200);
    let row = &report["rows"][0];
    assert_eq!(row["clicks"], 3, "{report}");
    assert_eq!(row["invalid_clicks"]["flood_user"], 1, "{report}");
    assert_eq!(row["invalid_clicks"]["flood_sub_id"], 1, "{report}");
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_ads_link_goes_through_its_click_url_to_the_creatives_page() {
    let exchange = TestExchange::builder()
        .config("[affiliate]\ndatabase = \"affiliate.db\"\n")
        .clock(exchange::clock::Clock::System)
        .start()
        .await;
    let client = Client::new();
    let request =
        std::fs::read_to_string(tests::repo_root().join("configs/examples/native-request.json"))
            .expect("the sample native request");
    let answer = client
        .post(&exchange.url("/openrtb2/auction"), request)
        .await
        .json_if(200);
    let bid = &answer["seatbid"][0]["bid"][0];
    let adm: serde_json::Value =
        serde_json::from_str(bid["adm"].as_str().expect("adm")).expect("native markup");
    let native = adm.get("native").unwrap_or(&adm);
    let link = native["link"]["url"].as_str().expect("link");
    assert!(link.starts_with(&exchange.url("/c/ad?")), "{link}");
    let landed = click(&client, link).await;
    assert_eq!(landed.status, 302);
    let location = landed.headers["location"].to_str().expect("location");
    assert!(location.starts_with("https://"), "{location}");
    assert!(location.contains("click_id="), "{location}");
    exchange.shutdown().await;
}
