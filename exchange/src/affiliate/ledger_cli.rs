//! What `exchange settle` and `exchange ledger …` do: ask a running exchange to settle or
//! export (its admin API), check an export offline, and check one statement line against
//! its signed root with its inclusion proof.

use bytes::Bytes;
use exchange_core::ledger::{
    canonical, leaf_hash, signature_holds, statement_message, unhex, verify_inclusion, Hash,
};
use http_body_util::{BodyExt, Full};

/// Calls a running exchange's admin API: the status and body.
pub async fn admin_call(
    base: &str,
    token: Option<&str>,
    method: http::Method,
    path_and_query: &str,
) -> anyhow::Result<(http::StatusCode, Bytes)> {
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("{}{path_and_query}", base.trim_end_matches('/')));
    if let Some(token) = token {
        request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = client
        .request(request.body(Full::new(Bytes::new()))?)
        .await?;
    let status = response.status();
    Ok((status, response.into_body().collect().await?.to_bytes()))
}

/// Fetches the whole ledger from a running exchange, page by page, as export text.
pub async fn export(base: &str, token: Option<&str>) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut from = 1u64;
    loop {
        let path = format!(
            "/admin/ledger?from={from}&limit={}",
            super::settlement_in::MAX_EXPORT
        );
        let (status, body) = admin_call(base, token, http::Method::GET, &path).await?;
        anyhow::ensure!(
            status.is_success(),
            "{status}: {}",
            String::from_utf8_lossy(&body)
        );
        let page = String::from_utf8(body.to_vec())?;
        let count = page.lines().count() as u64;
        out.push_str(&page);
        if count < super::settlement_in::MAX_EXPORT {
            return Ok(out);
        }
        from += count;
    }
}

/// Checks line `index` of `statement` (the JSON `GET /admin/statements` or `GET
/// /orders/statement` answers): its canonical bytes, its inclusion proof against the
/// statement's root, and the exchange's signature of that root under `key` (hex; the
/// statement's own `key` when `None`). The line on success.
pub fn check_line(
    statement: &serde_json::Value,
    index: usize,
    key: Option<&str>,
) -> Result<serde_json::Value, String> {
    let entry = statement["lines"]
        .as_array()
        .and_then(|lines| lines.get(index))
        .ok_or_else(|| format!("the statement has no line {index}"))?;
    let text = entry["canonical"]
        .as_str()
        .ok_or("the line has no canonical form")?;
    let line: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("line: {e}"))?;
    if canonical(&line).ok().as_deref() != Some(text) {
        return Err("the line is not in canonical form".into());
    }
    if entry["line"] != line {
        return Err("the line shown differs from the line proven".into());
    }
    let proof: Vec<Hash> = entry["proof"]
        .as_array()
        .ok_or("no proof")?
        .iter()
        .map(|h| h.as_str().and_then(unhex::<32>))
        .collect::<Option<_>>()
        .ok_or("the proof is not a list of hashes")?;
    let root = statement["root"]
        .as_str()
        .and_then(unhex::<32>)
        .ok_or("no root")?;
    let size = statement["size"].as_u64().ok_or("no size")?;
    if !verify_inclusion(
        &leaf_hash(text.as_bytes()),
        index as u64,
        size,
        &proof,
        &root,
    ) {
        return Err("the proof does not lead to the statement's root".into());
    }
    let key = key.or(statement["key"].as_str()).ok_or("no key")?;
    let period = statement["period"].as_str().unwrap_or_default();
    let party = statement["party"].as_str().unwrap_or_default();
    let message = statement_message(period, party, &root);
    if !signature_holds(key, &message, statement["sig"].as_str().unwrap_or_default()) {
        return Err("the root is not signed by the key".into());
    }
    Ok(line)
}
