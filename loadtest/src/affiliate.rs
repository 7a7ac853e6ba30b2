//! The affiliate scenarios: clicks on served ads (`GET /c/ad`) and advertisers' order
//! reports (`POST /orders`) against a running exchange, prepared before the timed run
//! (auctions whose ads render, then their click URLs; order bodies with real click ids),
//! and the exchange's own server-side figures read from its `/metrics` afterwards.

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn call(
    client: &HttpClient,
    request: Request<Full<Bytes>>,
) -> anyhow::Result<(u16, String, http::HeaderMap)> {
    let response = client.request(request).await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned(), headers))
}

/// The path and query of `url` (an absolute URL the exchange issued).
fn path_of(url: &str) -> Option<String> {
    let uri: Uri = url.parse().ok()?;
    uri.path_and_query().map(|p| p.as_str().to_owned())
}

/// Runs auctions of `request` (its `"id"` and user made unique) on `base` until `count`
/// were won by `advertiser` (by seat; any when `None`; at most 20 × `count` auctions),
/// fires each winner's win notice (the ad renders), and returns the click URLs' paths and
/// queries. Waits out the exchange's too-fast window before returning.
pub async fn prepare_clicks(
    base: &str,
    request: &str,
    count: usize,
    advertiser: Option<&str>,
) -> anyhow::Result<Vec<Bytes>> {
    let client = client();
    let template: serde_json::Value = serde_json::from_str(request)?;
    let mut clicks = Vec::with_capacity(count);
    for i in 0..count.saturating_mul(20) {
        if clicks.len() == count {
            break;
        }
        let mut body = template.clone();
        let id = format!("loadtest-click-{}-{i}", std::process::id());
        body["id"] = serde_json::json!(id);
        if body.get("user").is_some() {
            // A reader of their own each: frequency caps do not empty the sample.
            body["user"]["id"] = serde_json::json!(id);
        }
        let request = Request::post(format!("{base}/openrtb2/auction"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))?;
        let (status, answer, _) = call(&client, request).await?;
        if status == 204 {
            continue;
        }
        anyhow::ensure!(status == 200, "auction {i}: {status} {answer}");
        let answer: serde_json::Value = serde_json::from_str(&answer)?;
        if advertiser.is_some_and(|a| answer["seatbid"][0]["seat"] != a) {
            continue;
        }
        let bid = &answer["seatbid"][0]["bid"][0];
        let price = bid["price"].as_f64().unwrap_or_default().to_string();
        let nurl = bid["nurl"]
            .as_str()
            .unwrap_or_default()
            .replace("${AUCTION_PRICE}", &price);
        let adm = bid["adm"].as_str().unwrap_or_default();
        let click = adm
            .split("href=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(|url| url.replace("&amp;", "&"))
            .ok_or_else(|| anyhow::anyhow!("auction {i}: the winning ad has no click URL"))?;
        if let Some(path) = path_of(&nurl) {
            let request = Request::get(format!("{base}{path}")).body(Full::new(Bytes::new()))?;
            call(&client, request).await?;
        }
        let path = path_of(&click).ok_or_else(|| anyhow::anyhow!("bad click URL {click}"))?;
        clicks.push(Bytes::from(path));
    }
    anyhow::ensure!(!clicks.is_empty(), "no auction of the request filled");
    tokio::time::sleep(Duration::from_millis(400)).await;
    Ok(clicks)
}

/// Clicks each of `clicks` once (a person's click) and returns the click ids the landing
/// URLs carry (under `param`).
pub async fn click_ids(base: &str, clicks: &[Bytes], param: &str) -> anyhow::Result<Vec<String>> {
    let client = client();
    let mut ids = Vec::with_capacity(clicks.len());
    for click in clicks {
        let path = std::str::from_utf8(click)?;
        let request = Request::get(format!("{base}{path}")).body(Full::new(Bytes::new()))?;
        let (status, body, headers) = call(&client, request).await?;
        anyhow::ensure!(status == 302, "click: {status} {body}");
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let id = location
            .split(&format!("{param}="))
            .nth(1)
            .and_then(|rest| rest.split(['&', '#']).next())
            .ok_or_else(|| anyhow::anyhow!("no {param} in {location}"))?;
        ids.push(id.to_owned());
    }
    Ok(ids)
}

/// `count` distinct order reports (one line each, two seconds after their click), crediting
/// `click_ids` round robin.
pub fn order_bodies(count: usize, click_ids: &[String], currency: &str) -> Vec<Bytes> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let run = std::process::id();
    (0..count)
        .map(|i| {
            let click = click_ids
                .get(i % click_ids.len().max(1))
                .map(|id| format!(r#","click_id":"{id}""#))
                .unwrap_or_default();
            Bytes::from(format!(
                r#"{{"order_id":"lt-{run}-{i}","currency":"{currency}","order_time":{}{click},
                    "lines":[{{"line_id":"1","sku":"SKU-{}","quantity":1,"price":{}.9}}]}}"#,
                now + 2,
                i % 97,
                20 + i % 300
            ))
        })
        .collect()
}

/// The cumulative buckets (upper bound in seconds, count) of histogram `name` in the
/// exchange's `/metrics`.
pub async fn histogram(base: &str, name: &str) -> anyhow::Result<Vec<(f64, u64)>> {
    let request = Request::get(format!("{base}/metrics")).body(Full::new(Bytes::new()))?;
    let (_, text, _) = call(&client(), request).await?;
    let prefix = format!("{name}_bucket{{le=\"");
    Ok(text
        .lines()
        .filter_map(|line| {
            let (bound, count) = line.strip_prefix(&prefix)?.split_once("\"} ")?;
            let bound = if bound == "+Inf" {
                f64::INFINITY
            } else {
                bound.parse().ok()?
            };
            Some((bound, count.trim().parse().ok()?))
        })
        .collect())
}

/// The `q` quantile, µs, of what was recorded between two reads of one histogram
/// (`before`, `after`), interpolated within its bucket as `histogram_quantile` does.
pub fn quantile_between(before: &[(f64, u64)], after: &[(f64, u64)], q: f64) -> Option<f64> {
    let buckets: Vec<(f64, u64)> = after
        .iter()
        .map(|&(bound, count)| {
            let earlier = before
                .iter()
                .find(|(b, _)| *b == bound)
                .map_or(0, |(_, c)| *c);
            (bound, count.saturating_sub(earlier))
        })
        .collect();
    let total = buckets.last()?.1;
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut previous = (0.0, 0u64);
    for &(bound, cumulative) in &buckets {
        if cumulative as f64 >= rank {
            let (low, below) = previous;
            if !bound.is_finite() {
                return Some(low * 1e6);
            }
            let within = (cumulative - below).max(1) as f64;
            return Some((low + (bound - low) * (rank - below as f64) / within) * 1e6);
        }
        previous = (bound, cumulative);
    }
    Some(previous.0 * 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_read_from_the_difference_of_two_reads() {
        let before = [(0.000025, 10), (0.00005, 10), (f64::INFINITY, 10)];
        let after = [(0.000025, 10), (0.00005, 110), (f64::INFINITY, 110)];
        // 100 new observations, all in (25, 50] µs.
        let p50 = quantile_between(&before, &after, 0.5).expect("p50");
        assert!((p50 - 37.5).abs() < 1e-9, "{p50}");
        let p99 = quantile_between(&before, &after, 0.99).expect("p99");
        assert!((p99 - 49.75).abs() < 1e-9, "{p99}");
        assert_eq!(quantile_between(&after, &after, 0.5), None);
    }

    #[test]
    fn order_bodies_are_distinct_and_credit_the_clicks() {
        let bodies = order_bodies(5, &["c1".into(), "c2".into()], "CNY");
        let ids: std::collections::HashSet<_> = bodies.iter().collect();
        assert_eq!(ids.len(), 5);
        let first: serde_json::Value = serde_json::from_slice(&bodies[0]).expect("json");
        assert_eq!(first["click_id"], "c1");
        assert_eq!(first["currency"], "CNY");
    }
}
