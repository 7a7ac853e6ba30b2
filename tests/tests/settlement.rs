//! The affiliate loop's second half on real sockets: commission rules (LTV tier,
//! repurchase, volume tier, platform fee) applied to attributed orders, advertiser review,
//! fraud holds kept out of commission, settlement of a period after the lock (idempotent),
//! statements per publisher and advertiser with Merkle proofs, refunds after settlement as
//! deltas, and a ledger that verifies — here and with the independent Python verifier.
//! Time passes by a shifted clock: the exchange's "now" is moved weeks ahead.

use exchange::affiliate::auth::sign;
use exchange::cycle::{Cycle, Period};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tests::affiliate::{click, click_id_of, click_now, click_url, P1_TOKEN_SHA256, REGISTRY};
use tests::{Client, Reply, TestExchange};

const GLOW_KEY: &str = "glow-test-hmac-key-0123456789abcdefgh";
const CYCLE: Cycle = Cycle {
    close_day: 15,
    pay_day: 20,
    utc_offset_secs: 8 * 3600,
};
const DAY_MS: i64 = 86_400_000;
/// The publisher's statement token, and its SHA-256 as the registry holds it.
const MAMA_TOKEN: &str = "mama-statement-token-0123456789abcdef";
const MAMA_TOKEN_SHA256: &str = "01dce8c3a9b22b7574103e2f99afc8b7b4e15f71ca77b1cfe55257e534dcb360";

/// The published CDNOW fit (weeks), for the LTV tier.
const MODEL: &str = r#"{"bgnbd":{"r":0.24259,"alpha":4.4135,"a":0.79289,"b":2.42576},
  "gamma_gamma":{"p":6.2488,"q":3.7446,"gamma":15.4477},
  "log_likelihood":{"bgnbd":-9582.43,"gamma_gamma":-4055.92},
  "time_unit":"weeks","calibration_end":"1997-09-30","customers":2357}"#;

/// A beauty brand paying 10% of the order, 20% for predicted high-LTV customers and on a
/// repurchase within 90 days, a 2% bonus on every order of a period with ≥ 1,000 orders; the
/// exchange keeps 10% of the commission; lines lock 15 days after confirmation.
fn glow() -> String {
    r#"{"id":"glow","name":"Glow serum","advertiser":"glow","adomain":["glow.example"],
        "vertical":"beauty",
        "pricing":{"model":"cps","commission_rate":0.1,"avg_order_value":100},
        "base_ctr":0.05,"base_cvr":0.05,
        "ltv_tiers":[{"name":"high","min_ltv":300,"commission_rate":0.2}],
        "attribution":{"click_id_param":"gclk"},
        "commission":{"repurchase":{"within_days":90,"rate":0.2},"platform_fee":0.1,"lock_days":15,
          "volume_tiers":[{"orders":1000,"bonus":0.02,"applies":"whole_period"}]},
        "creatives":[{"id":"b1","format":"banner","w":300,"h":250,
          "image_url":"https://img.example/g.jpg","landing_url":"https://glow.example/serum"}]}"#
        .to_owned()
}

/// An exchange whose clock can be moved ahead, with `glow`, the registry and an LTV model.
struct Network {
    exchange: TestExchange,
    client: Client,
    shift: &'static AtomicI64,
}

/// How a test network is set up.
#[derive(Default)]
struct Setup<'a> {
    /// `[affiliate.fraud]` lines.
    fraud: &'a str,
    /// PostgreSQL (its URL) instead of SQLite.
    postgres: Option<String>,
    /// The ledger key's seed (hex), instead of a fresh one.
    key: Option<&'a str>,
    /// `[affiliate.settlement]` lines beyond the cycle (default: no schedule).
    settlement: Option<&'a str>,
}

impl Network {
    async fn start(fraud: &str) -> Self {
        Self::with(Setup {
            fraud,
            ..Setup::default()
        })
        .await
    }

    async fn with(setup: Setup<'_>) -> Self {
        let shift: &'static AtomicI64 = Box::leak(Box::new(AtomicI64::new(0)));
        let database = match &setup.postgres {
            Some(url) => format!("database_url = \"{url}\""),
            None => "database = \"affiliate.db\"".to_owned(),
        };
        let fraud = setup.fraud;
        let settlement = setup.settlement.unwrap_or("schedule = false");
        let mut builder = TestExchange::builder()
            .campaigns(&tests::campaign_file(&[glow()]))
            .publishers(&REGISTRY.replace(P1_TOKEN_SHA256, MAMA_TOKEN_SHA256))
            .file("ltv.json", MODEL);
        if let Some(seed) = setup.key {
            builder = builder.file("ledger.key", seed);
        }
        let exchange = builder
            .config(&format!(
                r#"[ltv]
model = "ltv.json"
[affiliate]
{database}
click_flush_ms = 5
checkpoint_every = 50
[affiliate.settlement]
close_day = 15
pay_day = 20
utc_offset = "+08:00"
{settlement}
[affiliate.fraud]
clicks_per_ip_per_minute = 1000000
clicks_per_user_per_minute = 1000000
clicks_per_sub_id_per_minute = 1000000
outlier_factor = 1000.0
{fraud}
[[advertisers]]
id = "glow"
hmac_secret = "{GLOW_KEY}"
"#
            ))
            .clock(exchange::clock::Clock::Shifted(shift))
            .start()
            .await;
        Self {
            exchange,
            client: Client::new(),
            shift,
        }
    }

    fn now_ms(&self) -> i64 {
        self.exchange.state.clock.now_millis()
    }

    /// Moves the exchange's clock so that it reads `at_ms` now.
    fn jump_to(&self, at_ms: i64) {
        let real = self.now_ms() - self.shift.load(Ordering::Relaxed);
        self.shift.store(at_ms - real, Ordering::Relaxed);
    }

    /// An auction for `user` whose ad renders: its click URL.
    async fn serve(&self, id: &str, user: &str) -> String {
        let request = format!(
            r#"{{"id":"{id}","imp":[{{"id":"1","tagid":"home-top","banner":{{"w":300,"h":250}},
                "ext":{{"sub_id":"wechat-group-7"}}}}],
              "site":{{"domain":"mama.example","page":"https://mama.example/a","publisher":{{"id":"p1"}}}},
              "user":{{"id":"{user}"}}}}"#
        );
        let reply = self
            .client
            .post(&self.exchange.url("/openrtb2/auction"), request)
            .await;
        let (_, win, _) = reply.first_bid_notices();
        assert_eq!(self.client.get(&win).await.status, 204, "the ad renders");
        click_url(&reply.json_if(200))
    }

    /// A person's click on `url` (after the serve): the click id.
    async fn click(&self, url: &str) -> String {
        let landed = click(&self.client, url).await;
        assert_eq!(landed.status, 302);
        click_id_of(
            landed.headers["location"].to_str().expect("location"),
            "gclk",
        )
    }

    /// `method` `path` as advertiser `glow`, the body signed at the exchange's "now".
    async fn as_glow(&self, method: http::Method, path: &str, body: &str) -> Reply {
        let at = self.now_ms().div_euclid(1000);
        let signature = sign(GLOW_KEY.as_bytes(), at, body.as_bytes());
        self.client
            .send(
                method,
                &self.exchange.url(path),
                &[
                    ("content-type", "application/json"),
                    ("x-advertiser", "glow"),
                    ("x-timestamp", &at.to_string()),
                    ("x-signature", &signature),
                ],
                body.to_owned(),
            )
            .await
    }

    async fn report(&self, body: &str) -> serde_json::Value {
        self.as_glow(http::Method::POST, "/orders", body)
            .await
            .json_if(200)
    }

    async fn admin(&self, method: http::Method, path: &str) -> Reply {
        self.client
            .send(
                method,
                &self.exchange.url(path),
                &[("authorization", "Bearer test-token")],
                bytes::Bytes::new(),
            )
            .await
    }

    async fn settle(&self, period: Period) -> serde_json::Value {
        self.admin(
            http::Method::POST,
            &format!("/admin/settle?period={period}"),
        )
        .await
        .json_if(200)
    }

    async fn statement(&self, period: Period, party: &str) -> serde_json::Value {
        self.admin(
            http::Method::GET,
            &format!("/admin/statements?period={period}&{party}"),
        )
        .await
        .json_if(200)
    }

    /// The whole ledger export, and the exchange's public key.
    async fn ledger(&self) -> (String, String) {
        let export = self.admin(http::Method::GET, "/admin/ledger").await;
        assert_eq!(export.status, 200);
        let key = self
            .client
            .get(&self.exchange.url("/ledger/key"))
            .await
            .json_if(200)["key"]
            .as_str()
            .expect("key")
            .to_owned();
        (String::from_utf8(export.body.to_vec()).expect("utf-8"), key)
    }
}

/// An order of `lines` (line id, SKU, quantity, price) by `account`.
fn order(
    order_id: &str,
    click_id: &str,
    order_time: i64,
    account: &str,
    status: &str,
    lines: &[(&str, &str, u32, f64)],
) -> String {
    let lines: Vec<String> = lines
        .iter()
        .map(|(id, sku, quantity, price)| {
            format!(r#"{{"line_id":"{id}","sku":"{sku}","quantity":{quantity},"price":{price}}}"#)
        })
        .collect();
    format!(
        r#"{{"order_id":"{order_id}","currency":"USD","order_time":{order_time},"click_id":"{click_id}",
            "status":"{status}","buyer":{{"account":"{account}"}},"lines":[{}]}}"#,
        lines.join(",")
    )
}

/// The statement's lines by order id.
fn lines_of(statement: &serde_json::Value) -> Vec<&serde_json::Value> {
    statement["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| &l["line"])
        .collect()
}

fn line<'a>(
    statement: &'a serde_json::Value,
    order_id: &str,
    line_id: &str,
) -> &'a serde_json::Value {
    lines_of(statement)
        .into_iter()
        .find(|l| l["order_id"] == order_id && l["line_id"] == line_id)
        .unwrap_or_else(|| panic!("{order_id}/{line_id} not in {statement}"))
}

/// Runs the independent verifier: its exit status and output.
fn python(args: &[&str]) -> (bool, String) {
    let script = tests::repo_root().join("tests/ledger_verify.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_pay_by_tier_and_repurchase_reviews_and_holds_show_and_a_settled_month_verifies() {
    let net = Network::start("orders_per_buyer_per_hour = 2").await;
    // A customer the model predicts will keep buying: the auction stamps the 20% tier.
    let seeded = net
        .client
        .send(
            http::Method::POST,
            &net.exchange.url("/admin/users/history"),
            &[("authorization", "Bearer test-token")],
            format!(
                r#"{{"user":{{"id":"vip"}},"orders":[{}]}}"#,
                tests::loyal_orders(net.now_ms())
            ),
        )
        .await
        .json_if(200);
    assert!(
        seeded["prediction"]["ltv"].as_f64().expect("ltv") > 300.0,
        "{seeded}"
    );
    let vip_url = net.serve("a-vip", "vip").await;
    assert!(vip_url.contains("cr=0.2"), "{vip_url}");
    let plain_url = net.serve("a-ann-1", "ann-1").await;
    assert!(plain_url.contains("cr=0.1"), "{plain_url}");
    let vip = net.click(&vip_url).await;
    let ann_1 = net.click(&plain_url).await;
    let ann_2 = net.click(&net.serve("a-ann-2", "ann-2").await).await;
    let review = net.click(&net.serve("a-rev", "rev").await).await;
    let mut farm = Vec::new();
    for i in 0..3 {
        farm.push(
            net.click(
                &net.serve(&format!("a-farm-{i}"), &format!("farm-{i}"))
                    .await,
            )
            .await,
        );
    }
    let t = net.now_ms().div_euclid(1000) + 2;
    let bought = [
        order(
            "V1",
            &vip,
            t,
            "vip-acc",
            "paid",
            &[("1", "SERUM", 1, 200.0)],
        ),
        order(
            "A1",
            &ann_1,
            t + 1,
            "ann",
            "paid",
            &[("1", "SERUM", 1, 100.0)],
        ),
        order(
            "A2",
            &ann_2,
            t + 2,
            "ann",
            "paid",
            &[("1", "SERUM", 1, 100.0)],
        ),
        order(
            "R1",
            &review,
            t + 3,
            "rev-acc",
            "paid",
            &[("1", "SERUM", 1, 100.0), ("2", "MASK", 1, 50.0)],
        ),
        order(
            "F1",
            &farm[0],
            t + 4,
            "farm",
            "paid",
            &[("1", "SERUM", 1, 100.0)],
        ),
        order(
            "F2",
            &farm[1],
            t + 5,
            "farm",
            "paid",
            &[("1", "SERUM", 1, 100.0)],
        ),
        order(
            "F3",
            &farm[2],
            t + 6,
            "farm",
            "paid",
            &[("1", "SERUM", 1, 100.0)],
        ),
    ];
    let mut estimates = Vec::new();
    for body in &bought {
        estimates.push(net.report(body).await);
    }
    // Estimates: the tier, the repurchase, the burst held.
    assert_eq!(
        estimates[0]["lines"][0]["commission_micros"], 40_000_000,
        "{}",
        estimates[0]
    );
    assert_eq!(estimates[1]["lines"][0]["commission_micros"], 10_000_000);
    assert_eq!(
        estimates[2]["lines"][0]["commission_micros"], 20_000_000,
        "{}",
        estimates[2]
    );
    assert_eq!(
        estimates[6]["held"],
        serde_json::json!(["burst"]),
        "{}",
        estimates[6]
    );
    assert_eq!(estimates[6]["lines"][0]["commission_micros"], 0);
    // The advertiser reviews order R1 before it locks.
    let reviewed = net
        .as_glow(
            http::Method::POST,
            "/orders/review",
            r#"{"lines":[{"order_id":"R1","line_id":"1","action":"amend","value":60,"reason":"partial return"},
                        {"order_id":"R1","line_id":"2","action":"decline","reason":"damaged in transit"},
                        {"order_id":"NOPE","line_id":"1","action":"approve","reason":"?"}]}"#,
        )
        .await
        .json_if(200);
    assert_eq!(
        reviewed["lines"][0]["commission_micros"], 6_000_000,
        "{reviewed}"
    );
    assert_eq!(reviewed["lines"][1]["commission_micros"], 0);
    assert_eq!(reviewed["lines"][2]["refused"], "no_such_line");
    let bad = net
        .as_glow(
            http::Method::POST,
            "/orders/review",
            r#"{"lines":[{"order_id":"R1","line_id":"1","action":"amend","reason":"x"}]}"#,
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["field"], "lines[0].value");
    // Everything is received.
    for body in &bought {
        net.report(&body.replace("\"paid\"", "\"confirmed\"")).await;
    }

    // The period that closes after the lock: settled once it closed, not before.
    let confirmed_at = net.now_ms();
    let period = CYCLE.period_of(confirmed_at + 15 * DAY_MS + 1000);
    let early = net
        .admin(
            http::Method::POST,
            &format!("/admin/settle?period={period}"),
        )
        .await;
    assert_eq!(early.status, 409, "not closed yet");
    let (_, end) = CYCLE.bounds_ms(period);
    net.jump_to(end + 3_600_000);
    let summary = net.settle(period).await;
    assert_eq!(summary["lines"], 7, "V1, A1, A2, R1×2, F1, F2: {summary}");
    assert_eq!(summary["already_settled"], false);

    let publisher = net.statement(period, "publisher=p1").await;
    let rules = |o: &str, l: &str| line(&publisher, o, l)["rules"].clone();
    assert_eq!(rules("V1", "1"), serde_json::json!(["ltv_tier", "fee"]));
    assert_eq!(rules("A1", "1"), serde_json::json!(["base", "fee"]));
    assert_eq!(
        rules("A2", "1"),
        serde_json::json!(["base", "repurchase", "fee"])
    );
    assert_eq!(
        rules("F2", "1"),
        serde_json::json!(["base", "repurchase", "fee"])
    );
    let v1 = line(&publisher, "V1", "1");
    assert_eq!(
        [
            &v1["commission_micros"],
            &v1["fee_micros"],
            &v1["payout_micros"],
            &v1["estimate_micros"]
        ],
        [40_000_000, 4_000_000, 36_000_000, 40_000_000]
    );
    assert_eq!(v1["placement"], "home-top");
    assert_eq!(v1["sub_id"], "wechat-group-7");
    let r1 = line(&publisher, "R1", "1");
    assert_eq!(
        (&r1["value_micros"], &r1["commission_micros"]),
        (&60_000_000.into(), &6_000_000.into())
    );
    assert_eq!(
        (&r1["review"], &r1["review_reason"]),
        (&"amended".into(), &"partial return".into())
    );
    let r2 = line(&publisher, "R1", "2");
    assert_eq!(
        (&r2["review"], &r2["commission_micros"]),
        (&"declined".into(), &0.into())
    );
    // The burst's third order: listed as held with its reason, absent from the lines.
    assert!(lines_of(&publisher).iter().all(|l| l["order_id"] != "F3"));
    assert_eq!(publisher["held"][0]["order_id"], "F3", "{publisher}");
    assert_eq!(
        publisher["held"][0]["reasons"],
        serde_json::json!(["burst"])
    );
    // 40 + 10 + 20 + 6 + 0 + 10 + 20 = 106, the fee 10.6, the payout 95.4.
    assert_eq!(
        publisher["totals"],
        serde_json::json!({"commission_micros":106_000_000,"fee_micros":10_600_000,"payout_micros":95_400_000})
    );
    // Subtotals by placement and sub-id.
    assert_eq!(publisher["subtotals"][0]["placement"], "home-top");
    assert_eq!(publisher["subtotals"][0]["sub_id"], "wechat-group-7");
    assert_eq!(publisher["subtotals"][0]["commission_micros"], 106_000_000);
    // The publisher downloads its own with its token; a wrong token or another
    // publisher's name gets nothing.
    let mine = |publisher: &str, token: &str| {
        let path = format!("/publisher/statement?period={period}");
        let headers = [
            ("x-publisher", publisher.to_owned()),
            ("authorization", format!("Bearer {token}")),
        ];
        let url = net.exchange.url(&path);
        let client = &net.client;
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            client
                .send(http::Method::GET, &url, &headers, bytes::Bytes::new())
                .await
        }
    };
    let downloaded = mine("p1", MAMA_TOKEN).await.json_if(200);
    assert_eq!(downloaded["root"], publisher["root"]);
    assert_eq!(mine("p1", "wrong-token").await.status, 401);
    assert_eq!(mine("p2", MAMA_TOKEN).await.status, 401);
    // The order view says which rules produced each line.
    let view = net
        .admin(
            http::Method::GET,
            "/admin/orders?advertiser=glow&order_id=A2",
        )
        .await
        .json_if(200);
    assert_eq!(
        view["lines"][0]["rules"],
        serde_json::json!(["base", "repurchase", "fee"]),
        "{view}"
    );
    assert_eq!(view["lines"][0]["fee_micros"], 2_000_000);
    assert_eq!(view["lines"][0]["settled_period"], period.to_string());
    // The advertiser's own statement, in CSV too.
    let own = net
        .as_glow(
            http::Method::GET,
            &format!("/orders/statement?period={period}"),
            "",
        )
        .await
        .json_if(200);
    assert_eq!(own["totals"], publisher["totals"]);
    assert_eq!(own["party"], "advertiser:glow");
    let csv = net
        .as_glow(
            http::Method::GET,
            &format!("/orders/statement?period={period}&format=csv"),
            "",
        )
        .await;
    assert_eq!(csv.status, 200);
    let text = String::from_utf8(csv.body.to_vec()).expect("csv");
    assert_eq!(
        text.lines().count(),
        1 + 7 + 1,
        "header, lines, the held order: {text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("held") && l.contains("burst")),
        "{text}"
    );
    // Refused after the lock.
    let late = net
        .as_glow(
            http::Method::POST,
            "/orders/review",
            r#"{"lines":[{"order_id":"V1","line_id":"1","action":"decline","reason":"too late"}]}"#,
        )
        .await
        .json_if(200);
    assert_eq!(late["lines"][0]["refused"], "locked");

    // Settling again changes nothing.
    let (before, key) = net.ledger().await;
    let again = net.settle(period).await;
    assert_eq!(again["already_settled"], true);
    assert_eq!(again["statements"], summary["statements"]);
    assert_eq!(net.ledger().await.0, before);

    // The ledger verifies, here and independently; one line checks against its root.
    let verified = exchange::ledger::verify_export(&before, Some(&key)).expect("sound");
    assert_eq!(
        verified.statements, 2,
        "the publisher's and the advertiser's"
    );
    assert_eq!(
        verified.unsigned_tail, 0,
        "a checkpoint closes the settlement"
    );
    let dir = tempfile::tempdir().expect("dir");
    let export = dir.path().join("ledger.jsonl");
    std::fs::write(&export, &before).expect("write");
    let (ok, out) = python(&[export.to_str().expect("path"), "--key", &key]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("{} entries", verified.entries)),
        "{out}"
    );
    let statement_file = dir.path().join("statement.json");
    std::fs::write(&statement_file, publisher.to_string()).expect("write");
    for index in 0..7 {
        exchange::affiliate::ledger_cli::check_line(&publisher, index, Some(&key))
            .expect("line proves");
        let (ok, out) = python(&[
            "--statement",
            statement_file.to_str().expect("path"),
            "--index",
            &index.to_string(),
            "--key",
            &key,
        ]);
        assert!(ok, "{out}");
    }
    let mut forged = publisher.clone();
    forged["lines"][0]["canonical"] = forged["lines"][0]["canonical"]
        .as_str()
        .expect("text")
        .replace("\"payout_micros\":", "\"payout_micros\":1")
        .into();
    forged["lines"][0]["line"] =
        serde_json::from_str(forged["lines"][0]["canonical"].as_str().expect("text"))
            .expect("json");
    assert!(exchange::affiliate::ledger_cli::check_line(&forged, 0, Some(&key)).is_err());
    std::fs::write(&statement_file, forged.to_string()).expect("write");
    let (ok, _) = python(&[
        "--statement",
        statement_file.to_str().expect("path"),
        "--index",
        "0",
    ]);
    assert!(!ok, "the forged line does not prove");

    // A refund after settlement: a delta in the next period.
    let refund = net
        .report(&bought[2].replace("\"paid\"", "\"refunded\""))
        .await;
    assert_eq!(refund["lines"][0]["state"], "refunded", "{refund}");
    let next = period.next();
    let (_, next_end) = CYCLE.bounds_ms(next);
    net.jump_to(next_end + 3_600_000);
    let settled_next = net.settle(next).await;
    assert_eq!(
        (&settled_next["lines"], &settled_next["deltas"]),
        (&0.into(), &1.into()),
        "{settled_next}"
    );
    let delta_statement = net.statement(next, "publisher=p1").await;
    let delta = line(&delta_statement, "A2", "1");
    assert_eq!(delta["kind"], "delta");
    assert_eq!(
        [
            &delta["commission_micros"],
            &delta["fee_micros"],
            &delta["payout_micros"]
        ],
        [-20_000_000, -2_000_000, -18_000_000]
    );
    let (after, _) = net.ledger().await;
    assert!(after.starts_with(&before), "append-only");
    let verified = exchange::ledger::verify_export(&after, Some(&key)).expect("sound");
    assert_eq!(verified.statements, 4);
    let kinds: std::collections::BTreeSet<String> = after
        .lines()
        .map(|l| {
            let entry: serde_json::Value = serde_json::from_str(l).expect("entry");
            let body: serde_json::Value =
                serde_json::from_str(entry["body"].as_str().expect("body")).expect("body");
            body["kind"].as_str().expect("kind").to_owned()
        })
        .collect();
    for kind in [
        "commission",
        "hold",
        "review",
        "statement_line",
        "statement",
        "checkpoint",
    ] {
        assert!(kinds.contains(kind), "{kind} in {kinds:?}");
    }
    std::fs::write(&export, &after).expect("write");
    let (ok, out) = python(&[export.to_str().expect("path"), "--key", &key]);
    assert!(ok, "{out}");
    net.exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_orders_in_a_period_reach_the_volume_tier_for_every_order() {
    let net = Network::start("").await;
    let clicks = clicked(&net, "v", 1000).await;
    // One order file, every order received.
    let t = net.now_ms().div_euclid(1000) + 2;
    let mut csv =
        String::from("order_id,currency,order_time,click_id,status,line_id,sku,quantity,price\n");
    for (i, click_id) in clicks.iter().enumerate() {
        csv.push_str(&format!(
            "O{i:04},USD,{t},{click_id},confirmed,1,SERUM,1,10.00\n"
        ));
    }
    let at = net.now_ms().div_euclid(1000);
    let imported = net
        .client
        .send(
            http::Method::POST,
            &net.exchange.url("/orders/batch"),
            &[
                ("content-type", "text/csv"),
                ("x-advertiser", "glow"),
                ("x-timestamp", &at.to_string()),
                (
                    "x-signature",
                    &sign(GLOW_KEY.as_bytes(), at, csv.as_bytes()),
                ),
            ],
            csv.clone(),
        )
        .await
        .json_if(200);
    assert_eq!(imported["applied"], 1000, "{}", imported["results"][0]);
    let period = CYCLE.period_of(net.now_ms() + 15 * DAY_MS + 1000);
    net.jump_to(CYCLE.bounds_ms(period).1 + 3_600_000);
    let summary = net.settle(period).await;
    assert_eq!(summary["lines"], 1000);
    let statement = net.statement(period, "publisher=p1").await;
    for line in lines_of(&statement) {
        assert_eq!(
            line["commission_micros"], 1_200_000,
            "10% + 2% of 10.00: {line}"
        );
        assert_eq!(
            line["rules"],
            serde_json::json!(["base", "volume:1000:whole_period", "fee"])
        );
    }
    // The estimate counted the orders so far: only the 1,000th had reached the tier.
    let estimated: i64 = lines_of(&statement)
        .iter()
        .map(|l| l["estimate_micros"].as_i64().expect("estimate"))
        .sum();
    assert_eq!(estimated, 999 * 1_000_000 + 1_200_000);
    assert_eq!(
        statement["totals"],
        serde_json::json!({"commission_micros":1_200_000_000,"fee_micros":120_000_000,"payout_micros":1_080_000_000})
    );
    let (ledger, key) = net.ledger().await;
    let verified = exchange::ledger::verify_export(&ledger, Some(&key)).expect("sound");
    assert!(
        verified.checkpoints >= 40,
        "one every 50 entries: {verified:?}"
    );
    let statement_entry = ledger
        .lines()
        .find(|l| l.contains(r#"\"kind\":\"statement\""#) && l.contains("publisher:p1"))
        .expect("the statement in the ledger");
    assert!(
        statement_entry.contains(r#"\"commission_micros\":1200000000"#),
        "{statement_entry}"
    );
    net.exchange.shutdown().await;
}

/// A deterministic generator (SplitMix64) for the simulated month.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// How a simulated order ends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    Confirmed,
    PartlyRefunded,
    Refunded,
    Cancelled,
    Pending,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_month_settles_to_what_an_independent_recomputation_says() {
    let net = Network::start("orders_per_buyer_per_hour = 3").await;
    let mut draw = Draw(20_261_205);
    const ORDERS: usize = 80;
    // Clicks first (a person's pause after the serve), then the orders.
    let clicks = clicked(&net, "s", ORDERS).await;
    let t0 = net.now_ms().div_euclid(1000) + 2;
    // Buyers: 25 shoppers, and one farm account that orders again and again.
    let mut expected = [0i64; 3];
    let mut expected_lines = 0;
    let mut orders_by_buyer: std::collections::BTreeMap<String, usize> = Default::default();
    let mut finals = Vec::new();
    for (i, click_id) in clicks.iter().enumerate() {
        let buyer = if draw.below(8) == 0 {
            "farm".to_owned()
        } else {
            format!("b{}", draw.below(25))
        };
        let earlier = orders_by_buyer.entry(buyer.clone()).or_default();
        let held = *earlier >= 3;
        let rate_ppm: i64 = if *earlier > 0 { 200_000 } else { 100_000 };
        *earlier += 1;
        let attributed = draw.below(10) != 0;
        let fate = match draw.below(20) {
            0..=10 => Fate::Confirmed,
            11..=13 => Fate::PartlyRefunded,
            14 | 15 => Fate::Refunded,
            16 | 17 => Fate::Cancelled,
            _ => Fate::Pending,
        };
        let lines: Vec<(String, String, u32, i64)> = (0..=draw.below(3))
            .map(|l| {
                let cents = 500 + draw.below(29_500) as i64;
                (
                    format!("{}", l + 1),
                    format!("SKU-{}", draw.below(6)),
                    1 + draw.below(3) as u32,
                    cents,
                )
            })
            .collect();
        let order_time = t0 + i as i64;
        let id = format!("M{i:03}");
        let body = |status: &str, refunds: bool| {
            let lines: Vec<String> = lines
                .iter()
                .map(|(line, sku, quantity, cents)| {
                    let refund = if refunds {
                        format!(r#","refunded_amount":{}"#, *cents as f64 / 100.0)
                    } else {
                        String::new()
                    };
                    format!(
                        r#"{{"line_id":"{line}","sku":"{sku}","quantity":{quantity},"price":{}{refund}}}"#,
                        *cents as f64 / 100.0
                    )
                })
                .collect();
            let click = if attributed {
                format!(r#""click_id":"{click_id}","#)
            } else {
                String::new()
            };
            format!(
                r#"{{"order_id":"{id}","currency":"USD","order_time":{order_time},{click}"status":"{status}",
                    "buyer":{{"account":"{buyer}"}},"lines":[{}]}}"#,
                lines.join(",")
            )
        };
        net.report(&body("paid", false)).await;
        let last = match fate {
            Fate::Confirmed => vec![body("confirmed", false), body("paid", false)],
            Fate::PartlyRefunded => vec![body("confirmed", false), body("confirmed", true)],
            Fate::Refunded => vec![body("confirmed", false), body("refunded", false)],
            Fate::Cancelled => vec![body("cancelled", false), body("confirmed", false)],
            Fate::Pending => vec![body("paid", false)],
        };
        finals.push(last);
        // The independent recomputation: confirmed lines of attributed, unheld orders.
        if attributed && !held && matches!(fate, Fate::Confirmed | Fate::PartlyRefunded) {
            for (_, _, quantity, cents) in &lines {
                if fate == Fate::PartlyRefunded && *quantity == 1 {
                    continue; // one unit's refund is the whole line: refunded, not settled
                }
                let gross = cents * 10_000 * i64::from(*quantity);
                // A partial refund of one unit's price.
                let value = if fate == Fate::PartlyRefunded {
                    gross - cents * 10_000
                } else {
                    gross
                };
                let commission = (value * rate_ppm + 500_000) / 1_000_000;
                let fee = (commission * 100_000 + 500_000) / 1_000_000;
                expected[0] += commission;
                expected[1] += fee;
                expected[2] += commission - fee;
                expected_lines += 1;
            }
        }
    }
    // Late updates, some out of order.
    for updates in &finals {
        for body in updates {
            net.report(body).await;
        }
    }
    let period = CYCLE.period_of(net.now_ms() + 15 * DAY_MS + 1000);
    net.jump_to(CYCLE.bounds_ms(period).1 + 3_600_000);
    let summary = net.settle(period).await;
    assert!(
        expected_lines > 40,
        "a month worth checking: {expected_lines} lines"
    );
    assert_eq!(summary["lines"], expected_lines, "{summary}");
    let statement = net.statement(period, "publisher=p1").await;
    assert_eq!(
        statement["totals"],
        serde_json::json!({"commission_micros":expected[0],"fee_micros":expected[1],"payout_micros":expected[2]}),
        "the statement equals the recomputation"
    );
    let advertiser = net.statement(period, "advertiser=glow").await;
    assert_eq!(advertiser["totals"], statement["totals"]);
    let held = statement["held"].as_array().expect("held").len();
    assert!(held > 0, "the farm's orders past the third are held");
    let (ledger, key) = net.ledger().await;
    exchange::ledger::verify_export(&ledger, Some(&key)).expect("sound");
    net.exchange.shutdown().await;
}

/// One order of one unit of SERUM at 100.00, received, by its own buyer.
fn received(order_id: &str, click_id: &str, order_time: i64) -> String {
    order(
        order_id,
        click_id,
        order_time,
        &format!("buyer-{order_id}"),
        "confirmed",
        &[("1", "SERUM", 1, 100.0)],
    )
}

/// `n` served and clicked ads on `net`, for users `{prefix}-0..n`: their click ids.
async fn clicked(net: &Network, prefix: &str, n: usize) -> Vec<String> {
    let mut urls = Vec::new();
    for i in 0..n {
        urls.push(
            net.serve(&format!("{prefix}-a{i}"), &format!("{prefix}-{i}"))
                .await,
        );
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut ids = Vec::new();
    for url in &urls {
        let landed = click_now(&net.client, url).await;
        ids.push(click_id_of(
            landed.headers["location"].to_str().expect("location"),
            "gclk",
        ));
    }
    ids
}

const SHARED_SEED: &str = "5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_postgres_append_to_one_chain_and_settle_a_period_once() {
    let postgres = tests::postgres_server::PostgresServer::shared_or_own();
    let url = postgres.database();
    let node = |url: String| {
        Network::with(Setup {
            postgres: Some(url),
            key: Some(SHARED_SEED),
            ..Setup::default()
        })
    };
    let a = node(url.clone()).await;
    let b = node(url.clone()).await;
    let on_a = clicked(&a, "na", 12).await;
    let on_b = clicked(&b, "nb", 12).await;
    let t = a.now_ms().div_euclid(1000) + 2;
    // Both nodes take orders at once: their ledger entries interleave on one chain.
    tokio::join!(
        async {
            for (i, click_id) in on_a.iter().enumerate() {
                a.report(&received(&format!("A{i}"), click_id, t)).await;
            }
        },
        async {
            for (i, click_id) in on_b.iter().enumerate() {
                b.report(&received(&format!("B{i}"), click_id, t)).await;
            }
        }
    );
    let period = CYCLE.period_of(a.now_ms() + 15 * DAY_MS + 1000);
    let after = CYCLE.bounds_ms(period).1 + 3_600_000;
    a.jump_to(after);
    b.jump_to(after);
    // Both settle at once: one does, the other finds it done; the same statements.
    let (on_a, on_b) = tokio::join!(a.settle(period), b.settle(period));
    let fresh = [&on_a, &on_b]
        .iter()
        .filter(|s| s["already_settled"] == false)
        .count();
    assert_eq!(fresh, 1, "{on_a} / {on_b}");
    assert_eq!(on_a["statements"], on_b["statements"]);
    let statement = b.statement(period, "publisher=p1").await;
    assert_eq!(statement["size"], 24);
    assert_eq!(statement["totals"]["commission_micros"], 240_000_000);
    let (ledger, key) = a.ledger().await;
    assert_eq!(
        key,
        exchange::ledger::LedgerKey::from_seed(exchange::ledger::unhex(SHARED_SEED).expect("hex"))
            .public_hex()
    );
    let verified = exchange::ledger::verify_export(&ledger, Some(&key)).expect("one sound chain");
    assert!(verified.entries > 24 + 2 * 24, "{verified:?}");
    assert_eq!(b.ledger().await.0, ledger);
    // A node with another key is refused: it would sign what no verifier accepts.
    let other = exchange::affiliate::database::ledger::LedgerSettings {
        key: exchange::ledger::LedgerKey::from_seed([9; 32]),
        checkpoint_every: 10,
    };
    let refused = tokio::task::spawn_blocking(move || {
        exchange::affiliate::database::AffiliateDb::connect(&url, 1, other).map(drop)
    })
    .await
    .expect("joined");
    let error = refused.expect_err("another key");
    assert!(error.to_string().contains("same key file"), "{error}");
    a.exchange.shutdown().await;
    b.exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_settles_a_period_once_its_pay_day_has_come() {
    let net = Network::with(Setup {
        settlement: Some("schedule = true\ncheck_secs = 1"),
        ..Setup::default()
    })
    .await;
    let ids = clicked(&net, "sch", 3).await;
    let t = net.now_ms().div_euclid(1000) + 2;
    for (i, click_id) in ids.iter().enumerate() {
        net.report(&received(&format!("S{i}"), click_id, t)).await;
    }
    let period = CYCLE.period_of(net.now_ms() + 15 * DAY_MS + 1000);
    // Closed but not yet paid: nothing happens.
    net.jump_to(CYCLE.bounds_ms(period).1 + 3_600_000);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let path = format!("/admin/statements?period={period}&publisher=p1");
    assert_eq!(net.admin(http::Method::GET, &path).await.status, 404);
    // Pay day: the schedule settles it.
    net.jump_to(CYCLE.pay_ms(period) + 60_000);
    let mut statement = None;
    for _ in 0..100 {
        let reply = net.admin(http::Method::GET, &path).await;
        if reply.status == 200 {
            statement = Some(reply.json());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let statement = statement.expect("settled by the schedule within 10 s");
    assert_eq!(statement["size"], 3);
    assert_eq!(statement["totals"]["commission_micros"], 30_000_000);
    net.exchange.shutdown().await;
}
