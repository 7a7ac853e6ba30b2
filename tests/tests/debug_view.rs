//! The debug view is a by-product of the real decision: for every request of the shared
//! corpus and the README's examples, what `?debug=1` says won (campaign, creative, price)
//! is what the same request without debug is answered.

use tests::{corpus, repo_root, Client, TestExchange};

/// The requests: the shared conformance corpus and `configs/examples`.
fn requests() -> Vec<(String, Vec<u8>)> {
    let mut all = corpus("requests");
    for name in [
        "banner-request.json",
        "contextual-request.json",
        "native-request.json",
    ] {
        let path = repo_root().join("configs/examples").join(name);
        all.push((name.to_owned(), std::fs::read(path).expect("example")));
    }
    all
}

/// (imp id, crid, price, currency) of every bid in an answer (none for a 204).
fn bids(reply: &tests::Reply) -> Vec<(String, String, f64, String)> {
    if reply.status == 204 {
        return Vec::new();
    }
    let json = reply.json();
    let cur = json["cur"].as_str().unwrap_or("USD").to_owned();
    let mut out = Vec::new();
    for seat in json["seatbid"].as_array().into_iter().flatten() {
        for bid in seat["bid"].as_array().into_iter().flatten() {
            out.push((
                bid["impid"].as_str().unwrap_or_default().to_owned(),
                bid["crid"].as_str().unwrap_or_default().to_owned(),
                bid["price"].as_f64().unwrap_or_default(),
                cur.clone(),
            ));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_debug_views_winners_and_prices_are_the_answers() {
    let exchange = TestExchange::builder().debug(true).start().await;
    let client = Client::new();
    let mut filled = 0;
    for (name, body) in requests() {
        let plain = client
            .post(&exchange.url("/openrtb2/auction"), body.clone())
            .await;
        let debug = client
            .post(&exchange.url("/openrtb2/auction?debug=1"), body.clone())
            .await;
        assert_eq!(
            debug.status, 200,
            "{name}: the debug answer is always a document"
        );
        let answered = bids(&plain);
        let view = &debug.json()["ext"]["debug"];
        let mut won: Vec<(String, String, f64)> = Vec::new();
        for imp in view["imps"].as_array().expect("imps") {
            for row in imp["candidates"].as_array().expect("rows") {
                if row["status"] == "won" {
                    won.push((
                        imp["impid"].as_str().expect("impid").to_owned(),
                        format!(
                            "{}.{}",
                            row["campaign"].as_str().expect("campaign"),
                            row["creative"].as_str().expect("creative")
                        ),
                        row["price"].as_f64().expect("price"),
                    ));
                }
            }
        }
        won.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            won.iter().map(|w| (&w.0, &w.1)).collect::<Vec<_>>(),
            answered.iter().map(|a| (&a.0, &a.1)).collect::<Vec<_>>(),
            "{name}: the debug view's winners are the answer's"
        );
        for ((_, _, debug_price), (imp, _, price, cur)) in won.iter().zip(&answered) {
            // The view prices in the exchange currency (USD here), the answer in `cur`.
            if cur == "USD" {
                assert!(
                    (debug_price - price).abs() < 1e-6,
                    "{name} imp {imp}: debug {debug_price} vs answer {price}"
                );
            }
        }
        filled += usize::from(!answered.is_empty());
    }
    assert!(filled >= 3, "too few fills to compare: {filled}");
    exchange.shutdown().await;
}
