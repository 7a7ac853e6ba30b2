//! Invalid traffic at the request, on real sockets: a known bot's agent (sent in the
//! request, or by a browser's `User-Agent` header), an address in the configured
//! data-center ranges, a device that contradicts itself; each refused or flagged as
//! configured and counted by reason.

use http::Method;
use serde_json::Value;
use tests::{metric, metrics, Client, TestExchange};

const RANGES: &str = "# sample data-center ranges\n192.0.2.192/26\n2001:db8:dc::/48\n";
const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

fn request(id: &str, device: &str) -> String {
    format!(
        r#"{{"id":"{id}","imp":[{{"id":"1","banner":{{"w":300,"h":250}}}}],
            "site":{{"domain":"news.example","page":"https://news.example/a"}},
            "device":{device}}}"#
    )
}

async fn start(policy: &str) -> TestExchange {
    TestExchange::builder()
        .config(&format!(
            "[ivt]\ndatacenter_ranges = \"datacenter.txt\"\n{policy}"
        ))
        .file("datacenter.txt", RANGES)
        .campaigns(&tests::campaign_file(&[tests::banner_campaign(
            "stroller", 5.0, "",
        )]))
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_data_centers_and_impossible_devices_are_refused_or_flagged() {
    let exchange =
        start("crawler = \"refuse\"\ndatacenter = \"flag\"\ndevice_mismatch = \"refuse\"\n").await;
    let client = Client::new();
    let url = exchange.url("/openrtb2/auction");
    let device = |fields: &str| format!("{{\"devicetype\":2{fields}}}");

    // An ordinary desktop: a clean bid.
    let clean = client
        .post(
            &url,
            request(
                "a",
                &device(&format!(
                    r#","ua":"{CHROME}","os":"Windows","ip":"192.0.2.7""#
                )),
            ),
        )
        .await
        .json_if(200);
    assert!(clean["seatbid"][0]["bid"][0]["ext"].is_null(), "{clean}");

    // A bot's agent in the request: no bid.
    let bot = client
        .post(
            &url,
            request("b", &device(&format!(r#","ua":"{GOOGLEBOT}""#))),
        )
        .await;
    assert_eq!(bot.status, 204);
    // The same agent as a browser's header, filled in by the exchange: no bid either.
    let from_browser = client
        .send(
            Method::POST,
            &url,
            &[
                ("origin", "https://news.example"),
                ("user-agent", GOOGLEBOT),
            ],
            request("c", r#"{"devicetype":2}"#),
        )
        .await;
    assert_eq!(from_browser.status, 204);

    // A data-center address: answered, flagged, and the debug view says why.
    let flagged = client
        .post(
            &exchange.url("/openrtb2/auction?debug=1"),
            request(
                "d",
                &device(&format!(r#","ua":"{CHROME}","ip":"192.0.2.200""#)),
            ),
        )
        .await
        .json_if(200);
    assert_eq!(
        flagged["seatbid"][0]["bid"][0]["ext"]["ivt"],
        serde_json::json!(["datacenter"]),
        "{flagged}"
    );
    assert_eq!(flagged["ext"]["ivt"][0]["reason"], "datacenter");
    assert!(flagged["ext"]["ivt"][0]["detail"]
        .as_str()
        .is_some_and(|d| d.contains("data-center")));

    // Impossible devices: a mobile OS on a PC, a desktop agent with iOS.
    for (id, fields) in [
        ("e", r#","os":"Android""#.to_owned()),
        ("f", format!(r#","ua":"{CHROME}","os":"iOS""#)),
    ] {
        let reply = client.post(&url, request(id, &device(&fields))).await;
        assert_eq!(reply.status, 204, "{fields}");
    }

    let text = metrics(&client, &exchange).await;
    for (reason, found, refused) in [
        ("crawler", 2.0, Some(2.0)),
        ("datacenter", 1.0, None),
        ("device_mismatch", 2.0, Some(2.0)),
    ] {
        let series = format!("exchange_ivt_requests_total{{reason=\"{reason}\"}}");
        assert_eq!(metric(&text, &series), found, "{series}");
        if let Some(refused) = refused {
            let series = format!("exchange_requests_refused_total{{reason=\"ivt_{reason}\"}}");
            assert_eq!(metric(&text, &series), refused, "{series}");
        }
    }
    assert_eq!(
        metric(
            &text,
            "exchange_requests_refused_total{reason=\"ivt_datacenter\"}"
        ),
        0.0
    );
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_reasons_are_not_even_counted_and_flags_list_every_reason() {
    let exchange =
        start("crawler = \"flag\"\ndatacenter = \"flag\"\ndevice_mismatch = \"allow\"\n").await;
    let client = Client::new();
    let answer: Value = client
        .post(
            &exchange.url("/openrtb2/auction"),
            request(
                "a",
                &format!(r#"{{"ua":"{GOOGLEBOT}","ipv6":"2001:db8:dc::9","os":"Android","devicetype":2}}"#),
            ),
        )
        .await
        .json_if(200);
    assert_eq!(
        answer["seatbid"][0]["bid"][0]["ext"]["ivt"],
        serde_json::json!(["crawler", "datacenter"]),
        "{answer}"
    );
    let text = metrics(&client, &exchange).await;
    assert_eq!(
        metric(
            &text,
            "exchange_ivt_requests_total{reason=\"device_mismatch\"}"
        ),
        0.0
    );
    exchange.shutdown().await;
}

#[test]
fn a_bad_ranges_file_is_named_with_its_line() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("ranges.txt");
    std::fs::write(&path, "10.0.0.0/8\nnot-a-range\n").expect("write");
    let config = exchange::config::IvtConfig {
        datacenter_ranges: path,
        ..Default::default()
    };
    let error = config.detector().expect_err("bad line");
    assert!(
        error.contains("line 2") && error.contains("not-a-range"),
        "{error}"
    );
}
