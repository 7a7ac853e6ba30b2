//! Helpers of the affiliate tests: the click URL in a bid's markup, a person's click on it,
//! the click id on the landing page.

use crate::{Client, Reply};
use std::time::Duration;

/// The bearer token `p1` reads its statements, trends and product selection with.
pub const P1_TOKEN: &str = "p1-selection-token-0123456789abcdef";
/// Its SHA-256, as [`REGISTRY`] holds it.
pub const P1_TOKEN_SHA256: &str =
    "061c3ee50e795019f4aa19a6409791edba239ec9bbcce4c5ec8fcbce0b5f451a";

/// A publisher registry: `p1` on `mama.example` (with the SHA-256 of [`P1_TOKEN`]), its
/// placements `home-top` and `friday-live`, its sub-id `wechat-group-7`.
pub const REGISTRY: &str = r#"
[[publishers]]
id = "p1"
name = "Mama Reviews"
domains = ["mama.example"]
statement_token_sha256 = "061c3ee50e795019f4aa19a6409791edba239ec9bbcce4c5ec8fcbce0b5f451a"

[[publishers.placements]]
id = "home-top"
kind = "site_slot"

[[publishers.placements]]
id = "friday-live"
kind = "live_room"

[[publishers.sub_ids]]
id = "wechat-group-7"
kind = "channel"
"#;

/// The click URL the first bid's banner links through.
pub fn click_url(answer: &serde_json::Value) -> String {
    let adm = answer["seatbid"][0]["bid"][0]["adm"].as_str().expect("adm");
    let start = adm.find("href=\"").expect("a link") + "href=\"".len();
    let end = adm[start..].find('"').expect("closed") + start;
    adm[start..end].replace("&amp;", "&")
}

/// Clicks `url` like a person would: a moment after the ad was served.
pub async fn click(client: &Client, url: &str) -> Reply {
    tokio::time::sleep(Duration::from_millis(350)).await;
    click_now(client, url).await
}

/// Clicks `url` from a phone's browser, at once (the caller waited since the serve).
pub async fn click_now(client: &Client, url: &str) -> Reply {
    client
        .send(
            http::Method::GET,
            url,
            &[("user-agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148")],
            bytes::Bytes::new(),
        )
        .await
}

/// The click id under `param` in a landing URL.
pub fn click_id_of(location: &str, param: &str) -> String {
    let at = location.find(&format!("{param}=")).expect("click id") + param.len() + 1;
    location[at..]
        .split(['&', '#'])
        .next()
        .expect("value")
        .to_owned()
}

/// The test HMAC key of advertiser `jd` (the affiliate tests' `[[advertisers]]`).
pub const JD_KEY: &str = "jd-test-hmac-key-0123456789abcdefghij";

/// POSTs the order report `body` to `/orders` as advertiser `jd`, signed with its key now.
pub async fn report_signed(exchange: &crate::TestExchange, client: &Client, body: &str) -> Reply {
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let signature = exchange::affiliate::auth::sign(JD_KEY.as_bytes(), at, body.as_bytes());
    client
        .send(
            http::Method::POST,
            &exchange.url("/orders"),
            &[
                ("content-type", "application/json"),
                ("x-advertiser", "jd"),
                ("x-timestamp", &at.to_string()),
                ("x-signature", &signature),
            ],
            body.to_owned(),
        )
        .await
}
