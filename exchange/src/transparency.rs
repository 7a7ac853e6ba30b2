//! What the exchange publishes about who sells through it: `GET /sellers.json` (IAB Tech
//! Lab sellers.json 1.0), built from the serving set's publisher registry and the
//! `[supply_chain]` contact fields, so it always agrees with the `sid` the exchange writes
//! into supply chains; and the report `exchange ads-txt` prints.

use crate::ads_txt::{Report, Severity};
use crate::publishers::sellers;
use crate::receive::reply::{json, Body};
use crate::state::AppState;
use http::{Response, StatusCode};
use std::path::Path;

/// `GET /sellers.json`: 404 when no publisher registry is configured (there is no one
/// the exchange could list).
pub fn sellers_json(state: &AppState) -> Response<Body> {
    if state.config.publishers.is_none() {
        return json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({
                "error": "no publisher registry is configured (exchange.toml: publishers)",
                "field": "path",
            }),
        );
    }
    let serving = state.serving();
    let document = sellers::document(
        &serving.snapshot.publishers,
        &state.config.supply_chain.contact(),
    );
    json(StatusCode::OK, &document)
}

/// The domain an ads.txt file belongs to by its name: `news.example.ads.txt`,
/// `news.example.app-ads.txt`, `news.example.txt`, or `news.example/ads.txt`.
pub fn ads_txt_domain(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let domain = if name == "ads.txt" || name == "app-ads.txt" {
        path.parent()?.file_name()?.to_str()?
    } else {
        [".app-ads.txt", ".ads.txt", ".txt"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))?
    };
    crate::supply_chain::is_domain(&domain.to_ascii_lowercase())
        .then(|| domain.to_ascii_lowercase())
}

/// The reports of `exchange ads-txt` as text (or JSON), and whether any has an error.
pub fn render(reports: &[(String, Report)], asi: &str, as_json: bool) -> (String, bool) {
    let errors = reports.iter().any(|(_, r)| r.has_errors());
    if as_json {
        let list: Vec<serde_json::Value> = reports
            .iter()
            .map(|(file, r)| {
                let findings: Vec<serde_json::Value> = r
                    .findings
                    .iter()
                    .map(|f| {
                        serde_json::json!({
                            "line": f.line,
                            "severity": severity(f.severity),
                            "message": f.message,
                        })
                    })
                    .collect();
                serde_json::json!({
                    "file": file,
                    "domain": r.domain,
                    "lines_for_exchange": r.lines_for_exchange,
                    "authorised": r.authorised,
                    "unauthorised_owners": r.unauthorised_owners,
                    "findings": findings,
                })
            })
            .collect();
        return (format!("{}\n", serde_json::Value::Array(list)), errors);
    }
    let mut out = String::new();
    for (file, r) in reports {
        let authorised = if r.authorised.is_empty() {
            "none".to_owned()
        } else {
            r.authorised.join(", ")
        };
        out.push_str(&format!(
            "{} ({file}): {} line(s) for {asi}; authorises: {authorised}\n",
            r.domain, r.lines_for_exchange
        ));
        for f in &r.findings {
            let at = if f.line == 0 {
                String::new()
            } else {
                format!("line {} ", f.line)
            };
            out.push_str(&format!("  {at}{}: {}\n", severity(f.severity), f.message));
        }
    }
    (out, errors)
}

fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}
