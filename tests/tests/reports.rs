//! Privacy-preserving reports on real sockets: impressions recorded by win notices,
//! reported to the publisher by placement × category × day and to the advertiser by
//! campaign, with noise, a one-user cell withheld, each consumer's budget spent per report
//! and a report past it refused; refusals of bad requests spend nothing.

use http::Method;
use serde_json::Value;
use std::time::Duration;
use tests::affiliate::{P1_TOKEN, REGISTRY};
use tests::{Client, TestExchange, TEST_NOW};

const ADVERTISER_TOKEN: &str = "jd-report-bearer-token-0123456789abcdef";

/// One user adds at most one impression, click, order, in one cell: sensitivity 3, noise
/// scale 3/ε; δ = 10⁻⁶ puts the threshold at 1 + 3/ε × ln(0.5 × 10⁶) (≈ 40 at ε = 1).
fn config(database: &str) -> String {
    format!(
        r#"
[affiliate]
{database}
click_flush_ms = 5
[reports]
budget_epsilon = 2.0
max_epsilon = 1.0
max_cells_per_user = 1
max_per_cell = 1
delta = 0.000001

[[advertisers]]
id = "adv-stroller"
bearer_token = "{ADVERTISER_TOKEN}"
"#
    )
}

fn request(user: &str, tagid: &str) -> String {
    format!(
        r#"{{"id":"r-{user}","imp":[{{"id":"1","tagid":"{tagid}","banner":{{"w":300,"h":250}}}}],
            "site":{{"domain":"mama.example","page":"https://mama.example/a","cat":["IAB6"],
                    "publisher":{{"id":"p1"}}}},
            "user":{{"id":"{user}"}}}}"#
    )
}

async fn report(client: &Client, exchange: &TestExchange, path: &str, query: &str) -> tests::Reply {
    let url = exchange.url(&format!("{path}?{query}"));
    let headers: Vec<(&str, String)> = if path.starts_with("/publisher") {
        vec![
            ("x-publisher", "p1".to_owned()),
            ("authorization", format!("Bearer {P1_TOKEN}")),
        ]
    } else {
        vec![
            ("x-advertiser", "adv-stroller".to_owned()),
            ("authorization", format!("Bearer {ADVERTISER_TOKEN}")),
        ]
    };
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    client.send(Method::GET, &url, &headers, "").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_are_noisy_thresholded_and_paid_from_a_budget_on_sqlite() {
    reports_are_noisy_thresholded_and_paid_from_a_budget("database = \"affiliate.db\"").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_are_noisy_thresholded_and_paid_from_a_budget_on_postgres() {
    let server = tests::postgres_server::PostgresServer::shared_or_own();
    let url = server.database();
    reports_are_noisy_thresholded_and_paid_from_a_budget(&format!("database_url = \"{url}\""))
        .await;
}

async fn reports_are_noisy_thresholded_and_paid_from_a_budget(database: &str) {
    let exchange = TestExchange::builder()
        .config(&config(database))
        .publishers(REGISTRY)
        .campaigns(&tests::campaign_file(&[tests::banner_campaign(
            "stroller", 5.0, "",
        )]))
        .start()
        .await;
    let client = Client::new();
    // 120 users see the ad at placement home-top, one at friday-live.
    for (user, tagid) in (0..120)
        .map(|i| (format!("reader-{i}"), "home-top"))
        .chain([("loner".to_owned(), "friday-live")])
    {
        let reply = client
            .post(&exchange.url("/openrtb2/auction"), request(&user, tagid))
            .await;
        let (_, win, _) = reply.first_bid_notices();
        assert_eq!(client.get(&win).await.status, 204, "the ad renders");
    }
    assert!(
        exchange
            .state
            .affiliate
            .clicks
            .flush(Duration::from_secs(5))
            .await,
        "impressions written"
    );
    let day = time::OffsetDateTime::from_unix_timestamp(TEST_NOW)
        .expect("day")
        .date()
        .to_string();
    let query = |epsilon: &str| format!("from={day}&to={day}&epsilon={epsilon}");

    // Refused asks spend nothing.
    for bad in [
        format!("from={day}&to={day}&epsilon=0"),
        format!("from={day}&to={day}&epsilon=1.5"),
        format!("from={day}&to=2020-01-01&epsilon=1"),
        format!("from={day}&to={day}&epsilon=1&user=reader-1"),
        "from=yesterday&to=today&epsilon=1".to_owned(),
    ] {
        let reply = report(&client, &exchange, "/publisher/report", &bad).await;
        assert_eq!(reply.status, 400, "{bad}");
    }
    let anonymous = client
        .get(&exchange.url(&format!("/publisher/report?{}", query("1"))))
        .await;
    assert_eq!(anonymous.status, 401);

    let first = report(&client, &exchange, "/publisher/report", &query("1"))
        .await
        .json_if(200);
    assert_eq!(
        first["by"],
        serde_json::json!(["placement", "category", "day"])
    );
    assert_eq!(first["sensitivity"], 3.0);
    assert_eq!(first["noise_scale"], 3.0);
    let threshold = first["threshold"].as_f64().expect("threshold");
    assert!(
        (threshold - (1.0 + 3.0 * (0.5e6f64).ln())).abs() < 1e-9,
        "{threshold}"
    );
    assert!(first["delta"].as_f64().expect("delta") <= 1.000_001e-6);
    assert_eq!(first["budget"]["spent"], 1.0, "the 400s spent nothing");
    assert_eq!(first["budget"]["remaining"], 1.0);
    let cells = first["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 1, "the one-user cell is withheld: {cells:?}");
    let cell = &cells[0];
    assert_eq!(
        (&cell["placement"], &cell["category"], &cell["day"]),
        (
            &Value::from("home-top"),
            &Value::from("IAB6"),
            &Value::from(day.clone())
        )
    );
    let impressions = cell["impressions"].as_u64().expect("impressions");
    // Laplace(3): |noise| > 36 has probability e^-12.
    assert!(impressions.abs_diff(120) <= 36, "{impressions}");
    for metric in ["clicks", "orders"] {
        assert!(cell[metric].as_u64().is_some_and(|v| v <= 36), "{cell}");
    }

    // The advertiser's view of the same traffic, by campaign, from its own budget.
    let own = report(&client, &exchange, "/orders/report", &query("0.5"))
        .await
        .json_if(200);
    assert_eq!(own["cells"][0]["campaign"], "stroller");
    assert_eq!(own["budget"]["spent"], 0.5);

    // The publisher's second report spends the rest; a third is refused with what is left.
    let second = report(&client, &exchange, "/publisher/report", &query("1"))
        .await
        .json_if(200);
    assert_eq!(second["budget"]["remaining"], 0.0);
    let refused = report(&client, &exchange, "/publisher/report", &query("0.1")).await;
    assert_eq!(refused.status, 429);
    let refused = refused.json();
    assert_eq!(refused["budget"]["spent"], 2.0);
    assert_eq!(refused["budget"]["remaining"], 0.0);
    exchange.shutdown().await;
}
