//! The public OpenRTB corpus in `../shared/conformance/openrtb` against the running
//! exchange and the SDK codec.

use bidder_sdk::openrtb::{decode_request, decode_response, encode_request};
use tests::{corpus, schema_errors, Client, TestExchange};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_valid_request_is_served_and_answers_conform_to_the_schema() {
    let exchange = TestExchange::builder().start().await;
    let client = Client::new();
    let requests = corpus("requests");
    assert!(requests.len() >= 30, "corpus too small: {}", requests.len());
    let mut filled = 0;
    for (name, body) in &requests {
        let reply = client
            .post(&exchange.url("/openrtb2/auction"), body.clone())
            .await;
        assert_eq!(
            reply.headers.get("x-openrtb-version").map(|v| v.as_bytes()),
            Some(&b"2.6"[..]),
            "{name}"
        );
        match reply.status.as_u16() {
            204 => assert!(reply.body.is_empty(), "{name}: 204 with a body"),
            200 => {
                filled += 1;
                let response = reply.json();
                let request: serde_json::Value = serde_json::from_slice(body).expect("corpus json");
                assert_eq!(
                    response["id"], request["id"],
                    "{name}: response id must echo the request"
                );
                // Notice URLs carry the literal `${AUCTION_PRICE}` macro, which is not a URI
                // character; validate them as they will be fetched, after substitution.
                let substituted: serde_json::Value =
                    serde_json::from_str(&reply_text(&reply).replace("${AUCTION_PRICE}", "1.23"))
                        .expect("json");
                let errors = schema_errors("BidResponse", &substituted);
                assert!(
                    errors.is_empty(),
                    "{name}: response breaks the schema: {errors:?}"
                );
                let imp_ids: Vec<&serde_json::Value> = request["imp"]
                    .as_array()
                    .expect("imps")
                    .iter()
                    .map(|i| &i["id"])
                    .collect();
                for bid in response["seatbid"]
                    .as_array()
                    .expect("seatbid")
                    .iter()
                    .flat_map(|s| s["bid"].as_array().expect("bids"))
                {
                    assert!(
                        imp_ids.contains(&&bid["impid"]),
                        "{name}: bid for unknown imp {}",
                        bid["impid"]
                    );
                    assert!(
                        bid["price"].as_f64().is_some_and(|p| p > 0.0),
                        "{name}: price"
                    );
                    for url in ["nurl", "burl"] {
                        let u = bid[url].as_str().expect("notice url");
                        assert!(
                            u.starts_with(&exchange.url("/notice/"))
                                && u.ends_with("price=${AUCTION_PRICE}"),
                            "{name}: {u}"
                        );
                    }
                    assert!(
                        bid["adm"].as_str().is_some_and(|a| !a.is_empty()),
                        "{name}: adm"
                    );
                }
            }
            other => panic!(
                "{name}: valid request answered {other}: {}",
                String::from_utf8_lossy(&reply.body)
            ),
        }
    }
    // Banner and native requests exist in the corpus, and the sample campaigns fill them.
    assert!(filled >= 10, "only {filled} corpus requests filled");
    exchange.shutdown().await;
}

/// Invalid requests (the corpus's `invalid/*request*` files) get a 400 with a JSON error
/// naming the field, never a panic or a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_invalid_request_is_rejected_with_a_named_field() {
    let exchange = TestExchange::builder().start().await;
    let client = Client::new();
    let invalid: Vec<_> = corpus("invalid")
        .into_iter()
        .filter(|(name, _)| name.contains("-request-"))
        .collect();
    assert!(
        invalid.len() >= 17,
        "corpus has {} invalid requests",
        invalid.len()
    );
    for (name, body) in &invalid {
        let reply = client
            .post(&exchange.url("/openrtb2/auction"), body.clone())
            .await;
        assert_eq!(
            reply.status,
            400,
            "{name}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        let error = reply.json();
        assert!(
            error["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{name}: {error}"
        );
        assert!(error["field"].is_string(), "{name}: {error}");
    }
    // The server is still healthy after all of that.
    assert_eq!(client.get(&exchange.url("/healthz")).await.status, 200);
    exchange.shutdown().await;
}

#[tokio::test]
async fn specific_invalid_requests_name_the_right_field() {
    let expected = [
        ("pbs-request-duplicate-imp-ids.json", "imp[1].id"),
        ("pbs-request-imp-empty-array.json", "imp"),
        ("pbs-request-imp-without-media.json", "imp[0]"),
        ("pbs-request-site-and-app.json", "site"),
        ("pbs-request-regs-gdpr-2.json", "regs.gdpr"),
        ("pbs-request-video-empty-mimes.json", "imp[0].video.mimes"),
        ("pbs-request-deal-empty-id.json", "imp[0].pmp.deals[0].id"),
        ("pbs-request-user-ext-consent-int.json", "user.ext.consent"),
        ("pbs-request-native-missing-request.json", "imp[0].native"),
        ("handmade-request-second-imp-no-media.json", "imp[1]"),
        ("handmade-request-wrong-types.json", "id"),
        ("handmade-request-nan-bidfloor.json", "imp[0].bidfloor"),
    ];
    let state = std::sync::Arc::new(exchange::AppState::new(
        exchange::config::ExchangeConfig::default(),
        exchange::SnapshotStore::with_campaigns(std::path::Path::new("none.json"), Vec::new()),
    ));
    let files = corpus("invalid");
    for (file, field) in expected {
        let (_, body) = files
            .iter()
            .find(|(name, _)| name == file)
            .unwrap_or_else(|| panic!("{file} missing"));
        let reply = exchange::endpoint::auction(
            &state,
            body,
            &exchange::enrich::Caller::default(),
            false,
            std::time::Instant::now(),
        )
        .await;
        assert_eq!(reply.status, 400, "{file}");
        let error: serde_json::Value = serde_json::from_slice(&reply.body).expect("json");
        assert_eq!(error["field"], field, "{file}: {error}");
    }
}

#[test]
fn the_codec_round_trips_every_valid_request_without_losing_fields() {
    for (name, body) in corpus("requests") {
        let request = decode_request(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        let original: serde_json::Value = serde_json::from_slice(&body).expect("json");
        let round_tripped: serde_json::Value =
            serde_json::from_slice(&encode_request(&request)).expect("json");
        assert_eq!(
            strip_empty_arrays(original),
            strip_empty_arrays(round_tripped),
            "{name}"
        );
    }
}

#[test]
fn the_codec_reads_every_valid_response_and_refuses_non_json_ones() {
    for (name, body) in corpus("responses") {
        decode_response(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for name in [
        "pbs-response-html-body.json",
        "pbs-response-truncated-unquoted.json",
        "handmade-response-truncated.json",
        "iab-2.6-dooh-video-response-unescaped-adm.json",
        "pbs-response-seatbid-string.json",
        "handmade-response-missing-id.json",
    ] {
        let (_, body) = corpus("invalid")
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert!(decode_response(&body).is_err(), "{name} must not decode");
    }
}

fn reply_text(reply: &tests::Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

/// Known array fields are written only when non-empty (absent and `[]` mean the same in
/// OpenRTB), so compare documents with empty arrays removed and numbers as floats.
fn strip_empty_arrays(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.into_iter()
                .filter(|(_, v)| !matches!(v, serde_json::Value::Array(a) if a.is_empty()))
                .map(|(k, v)| (k, strip_empty_arrays(v)))
                .collect(),
        ),
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(strip_empty_arrays).collect())
        }
        // `2` and `2.0` are the same OpenRTB value.
        serde_json::Value::Number(n) => serde_json::json!(n.as_f64()),
        other => other,
    }
}
