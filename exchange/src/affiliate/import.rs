//! `exchange import-orders`: an advertiser's order file sent to a running exchange's
//! `POST /orders/batch`, in chunks of whole orders (≤ [`CHUNK_ORDERS`] each), signed with
//! the advertiser's HMAC key or carrying its bearer token; every order's outcome counted,
//! refusals printed with their line and field.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

/// Orders per request.
pub const CHUNK_ORDERS: usize = 1000;

/// How the advertiser proves who it is.
#[derive(Debug, Clone)]
pub enum Credential {
    /// HMAC-SHA256 key: each chunk is signed.
    Key(String),
    /// Bearer token.
    Token(String),
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// Orders applied (200).
    pub applied: usize,
    /// Orders refused, with (line in the chunk's file order, status, field, message).
    pub refused: Vec<(usize, u64, String, String)>,
}

/// The file cut into chunks of whole orders: JSON lines by line; CSV rows (after the
/// header, repeated in every chunk) by consecutive `order_id`.
pub fn chunks(text: &str, csv: bool, per_chunk: usize) -> Vec<String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = if csv { lines.next() } else { None };
    let mut out = Vec::new();
    let mut current = String::new();
    let mut orders = 0usize;
    let mut last_order: Option<String> = None;
    for line in lines {
        let order_key = if csv {
            line.split(',').next().unwrap_or_default().to_owned()
        } else {
            String::new()
        };
        let new_order = !csv || last_order.as_deref() != Some(order_key.as_str());
        if new_order && orders == per_chunk {
            out.push(std::mem::take(&mut current));
            orders = 0;
        }
        if current.is_empty() {
            if let Some(header) = header {
                current.push_str(header);
                current.push('\n');
            }
        }
        if new_order {
            orders += 1;
        }
        current.push_str(line);
        current.push('\n');
        last_order = Some(order_key);
    }
    if orders > 0 {
        out.push(current);
    }
    out
}

/// Sends `file` (CSV when `csv`) to `base` (`http://host:port`) as `advertiser`.
pub async fn import(
    base: &str,
    advertiser: &str,
    credential: &Credential,
    file: &str,
    csv: bool,
) -> anyhow::Result<ImportSummary> {
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let mut summary = ImportSummary::default();
    for chunk in chunks(file, csv, CHUNK_ORDERS) {
        let mut request =
            http::Request::post(format!("{}/orders/batch", base.trim_end_matches('/')))
                .header("x-advertiser", advertiser)
                .header(
                    http::header::CONTENT_TYPE,
                    if csv {
                        "text/csv"
                    } else {
                        "application/x-ndjson"
                    },
                );
        match credential {
            Credential::Token(token) => {
                request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
            }
            Credential::Key(key) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)?
                    .as_secs() as i64;
                request = request.header("x-timestamp", now.to_string()).header(
                    "x-signature",
                    super::auth::sign(key.as_bytes(), now, chunk.as_bytes()),
                );
            }
        }
        let response = client
            .request(request.body(Full::new(Bytes::from(chunk)))?)
            .await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        anyhow::ensure!(
            status == http::StatusCode::OK,
            "{status}: {}",
            String::from_utf8_lossy(&body)
        );
        summary.applied += answer["applied"].as_u64().unwrap_or(0) as usize;
        for result in answer["results"].as_array().into_iter().flatten() {
            let code = result["status"].as_u64().unwrap_or(0);
            if code != 200 {
                summary.refused.push((
                    result["line"].as_u64().unwrap_or(0) as usize,
                    code,
                    result["field"].as_str().unwrap_or_default().to_owned(),
                    result["error"].as_str().unwrap_or_default().to_owned(),
                ));
            }
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_file_is_cut_between_orders_with_its_header_in_every_chunk() {
        let file = "order_id,currency\nA,CNY\nA,CNY\nB,CNY\nC,CNY\nC,CNY\n";
        let chunks = chunks(file, true, 2);
        assert_eq!(
            chunks,
            [
                "order_id,currency\nA,CNY\nA,CNY\nB,CNY\n",
                "order_id,currency\nC,CNY\nC,CNY\n",
            ]
        );
        let lines = super::chunks("{\"a\":1}\n\n{\"b\":2}\n{\"c\":3}\n", false, 2);
        assert_eq!(lines, ["{\"a\":1}\n{\"b\":2}\n", "{\"c\":3}\n"]);
    }
}
