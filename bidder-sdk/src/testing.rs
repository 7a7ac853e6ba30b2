//! The conformance kit: checks any bidder endpoint, in any language, over HTTP.
//!
//! It sends valid requests (built in, plus a corpus folder such as
//! `shared/conformance/openrtb` when given) and hostile ones (truncated, deeply nested,
//! wrong types, not JSON, oversized), and checks the answers: status, timing against
//! `tmax`, `x-openrtb-version`, a decodable response whose id echoes the request, bids
//! on known imps with a positive price, unique ids, a `crid`, and an offered currency.
//! Hostile input must get a 4xx, never a 5xx, a bid or silence. The `bidder-check`
//! command prints the same [`Report`].

use crate::bid_check::{check_bids, check_response};
use crate::bidder::Bidder;
use crate::gzip::{gunzip, gzip, names_gzip};
use crate::openrtb::{decode_request, decode_response, BidRequest};
use crate::server::{serve_with, ServeOptions};
use bytes::Bytes;
use http::{header, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Largest response body the kit reads; a bigger answer is itself a finding.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// What to check and how.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The bid endpoint, e.g. `http://127.0.0.1:9001/openrtb2/bid`.
    pub endpoint: String,
    /// A corpus folder with `requests/` (valid) and `invalid/` (hostile `*request*` files).
    pub corpus: Option<PathBuf>,
    /// `tmax` written into the built-in requests, and used for corpus requests without one.
    pub tmax: Duration,
}

impl CheckOptions {
    /// Built-in cases only, `tmax` 100 ms.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            corpus: None,
            tmax: Duration::from_millis(100),
        }
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Breaks the contract: an exchange will drop the answer or the bidder.
    Error,
    /// Allowed, but worth fixing.
    Warning,
}

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, in words.
    pub message: String,
}

/// The result of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    /// Case name (`builtin/banner-site`, `corpus/requests/x.json`, `hostile/truncated`).
    pub name: String,
    /// HTTP status, when an answer came.
    pub status: Option<u16>,
    /// Round trip, ms.
    pub elapsed_ms: f64,
    /// Bids in the answer.
    pub bids: usize,
    /// What was found wrong.
    pub findings: Vec<Finding>,
}

impl CaseReport {
    fn error(&mut self, message: impl Into<String>) {
        self.findings.push(Finding {
            severity: Severity::Error,
            message: message.into(),
        });
    }

    fn warning(&mut self, message: impl Into<String>) {
        self.findings.push(Finding {
            severity: Severity::Warning,
            message: message.into(),
        });
    }
}

/// Every case's result.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The endpoint checked.
    pub endpoint: String,
    /// One entry per case, in the order run.
    pub cases: Vec<CaseReport>,
}

impl Report {
    /// Number of error findings.
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    /// Number of warning findings.
    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }

    /// True when no case has an error.
    pub fn passed(&self) -> bool {
        self.errors() == 0
    }

    fn count(&self, severity: Severity) -> usize {
        self.cases
            .iter()
            .flat_map(|c| &c.findings)
            .filter(|f| f.severity == severity)
            .count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "bidder-check {}", self.endpoint)?;
        for case in &self.cases {
            let verdict = if case.findings.iter().any(|x| x.severity == Severity::Error) {
                "FAIL"
            } else if case.findings.is_empty() {
                "ok"
            } else {
                "warn"
            };
            let status = case.status.map_or("-".to_owned(), |s| s.to_string());
            writeln!(
                f,
                "{verdict:>4}  {:<58} status {status:>3}  {:>7.1} ms  {} bids",
                case.name, case.elapsed_ms, case.bids
            )?;
            for finding in &case.findings {
                let label = match finding.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                };
                writeln!(f, "        {label}: {}", finding.message)?;
            }
        }
        writeln!(
            f,
            "{} cases, {} errors, {} warnings: {}",
            self.cases.len(),
            self.errors(),
            self.warnings(),
            if self.passed() { "PASS" } else { "FAIL" }
        )
    }
}

/// A request to send.
struct Case {
    name: String,
    body: Vec<u8>,
    gzip: bool,
    /// The decoded request for valid cases; `None` for hostile ones.
    request: Option<BidRequest>,
}

/// Runs every case against `options.endpoint`.
pub async fn check_endpoint(options: &CheckOptions) -> Report {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut cases = builtin_cases(options.tmax);
    if let Some(corpus) = &options.corpus {
        cases.extend(corpus_cases(corpus, options.tmax));
    }
    cases.extend(hostile_cases());
    let mut reports = Vec::with_capacity(cases.len());
    for case in cases {
        reports.push(run_case(&client, &options.endpoint, options.tmax, case).await);
    }
    Report {
        endpoint: options.endpoint.clone(),
        cases: reports,
    }
}

/// Serves `bidder` on a loopback port with the default host options and checks it.
pub async fn check_bidder<B: Bidder>(bidder: B, options: &CheckOptions) -> std::io::Result<Report> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with(
        bidder,
        listener,
        ServeOptions::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let options = CheckOptions {
        endpoint: format!("http://{address}/openrtb2/bid"),
        ..options.clone()
    };
    let report = check_endpoint(&options).await;
    let _ = stop.send(());
    let _ = server.await;
    Ok(report)
}

async fn run_case<C>(
    client: &Client<C, Full<Bytes>>,
    endpoint: &str,
    default_tmax: Duration,
    case: Case,
) -> CaseReport
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let mut report = CaseReport {
        name: case.name,
        status: None,
        elapsed_ms: 0.0,
        bids: 0,
        findings: Vec::new(),
    };
    let tmax = case
        .request
        .as_ref()
        .and_then(|r| r.tmax)
        .filter(|t| *t > 0)
        .map_or(default_tmax, |t| Duration::from_millis(t as u64));
    let body = if case.gzip {
        gzip(&case.body)
    } else {
        case.body
    };
    let mut builder = Request::post(endpoint)
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-openrtb-version", "2.6")
        .header(header::ACCEPT_ENCODING, "gzip");
    if case.gzip {
        builder = builder.header(header::CONTENT_ENCODING, "gzip");
    }
    let Ok(request) = builder.body(Full::new(Bytes::from(body))) else {
        report.error(format!("cannot build a request for endpoint {endpoint:?}"));
        return report;
    };
    let hostile = case.request.is_none();
    // A silent endpoint is a finding, not a hang: give up well after tmax.
    let give_up = tmax + Duration::from_secs(2);
    let started = Instant::now();
    let answered = tokio::time::timeout(give_up, async {
        let response = client.request(request).await?;
        let (parts, body) = response.into_parts();
        let bytes = Limited::new(body, MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map(|b| b.to_bytes())?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>((parts, bytes))
    })
    .await;
    report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    let (parts, bytes) = match answered {
        Err(_) => {
            report.error(format!("no answer within {} ms", give_up.as_millis()));
            return report;
        }
        Ok(Err(error)) if hostile => {
            report.warning(format!("connection failed instead of a 4xx: {error}"));
            return report;
        }
        Ok(Err(error)) => {
            report.error(format!("request failed: {error}"));
            return report;
        }
        Ok(Ok(answer)) => answer,
    };
    let status = parts.status;
    report.status = Some(status.as_u16());
    if !parts.headers.contains_key("x-openrtb-version") {
        report.warning("no x-openrtb-version header");
    }
    let Some(request) = case.request else {
        if status.is_client_error() {
            return report;
        }
        if status == StatusCode::NO_CONTENT {
            report.warning("answered 204 to invalid input; 400 tells the sender what is wrong");
        } else {
            report.error(format!("answered {status} to invalid input; expected 4xx"));
        }
        return report;
    };
    if report.elapsed_ms > tmax.as_secs_f64() * 1e3 {
        report.error(format!(
            "answered after tmax ({:.1} ms > {} ms); an exchange drops it",
            report.elapsed_ms,
            tmax.as_millis()
        ));
    }
    match status {
        StatusCode::NO_CONTENT => {
            if !bytes.is_empty() {
                report.warning("204 with a body");
            }
            report
        }
        StatusCode::OK => {
            let gzipped = parts
                .headers
                .get(header::CONTENT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .is_some_and(names_gzip);
            let body = if gzipped {
                match gunzip(&bytes, MAX_RESPONSE_BYTES) {
                    Ok(body) => body,
                    Err(error) => {
                        report.error(format!("gzip body unreadable: {error}"));
                        return report;
                    }
                }
            } else {
                bytes.to_vec()
            };
            check_answer(&request, &body, &mut report);
            report
        }
        other => {
            report.error(format!(
                "status {other} to a valid request; expected 200 or 204"
            ));
            report
        }
    }
}

/// Checks a 200 body against the request it answers.
fn check_answer(request: &BidRequest, body: &[u8], report: &mut CaseReport) {
    let response = match decode_response(body) {
        Ok(response) => response,
        Err(error) => {
            report.error(format!(
                "response does not decode ({} at {}): {}",
                error.kind.as_str(),
                error.field,
                error.message
            ));
            return;
        }
    };
    report.bids = response.seatbid.iter().map(|s| s.bid.len()).sum();
    if report.bids == 0 {
        report.warning("200 without bids; answer 204 for no bid");
    }
    if let Err(problem) = check_response(request, &response) {
        report.error(format!("response rejected: {}", problem.as_str()));
    }
    for bad in check_bids(request, &response) {
        let bid = &response.seatbid[bad.seat].bid[bad.bid];
        report.error(format!(
            "bid {:?} on imp {:?}: {}",
            bid.id,
            bid.impid,
            bad.problem.as_str()
        ));
    }
}

fn builtin_cases(tmax: Duration) -> Vec<Case> {
    let tmax = tmax.as_millis() as u64;
    let native = r#"{"ver":"1.2","assets":[{"id":1,"required":1,"title":{"len":90}},{"id":2,"required":1,"img":{"type":3,"w":300,"h":300}}]}"#;
    let documents = [
        (
            "builtin/banner-site",
            serde_json::json!({
                "id": "check-banner", "at": 1, "tmax": tmax, "cur": ["USD"],
                "imp": [{"id": "1", "banner": {"w": 300, "h": 250, "format": [{"w": 300, "h": 250}, {"w": 320, "h": 50}]}, "bidfloor": 0.1, "bidfloorcur": "USD"}],
                "site": {"id": "s1", "domain": "news.example", "page": "https://news.example/running-shoes", "cat": ["IAB17"], "publisher": {"id": "p1"}},
                "device": {"ua": "Mozilla/5.0", "ip": "203.0.113.7", "devicetype": 2, "geo": {"country": "USA"}},
                "user": {"id": "u1"}
            }),
            false,
        ),
        (
            "builtin/native-app",
            serde_json::json!({
                "id": "check-native", "tmax": tmax,
                "imp": [{"id": "n1", "native": {"request": native, "ver": "1.2"}}],
                "app": {"id": "a1", "bundle": "com.example.shop", "cat": ["IAB22"]},
                "device": {"os": "Android", "devicetype": 4, "ifa": "ifa-1"}
            }),
            false,
        ),
        (
            "builtin/video-instream",
            serde_json::json!({
                "id": "check-video", "tmax": tmax,
                "imp": [{"id": "v1", "video": {"mimes": ["video/mp4"], "w": 640, "h": 360, "minduration": 5, "maxduration": 30, "protocols": [2, 3, 7], "plcmt": 1}}],
                "site": {"page": "https://video.example/watch"}
            }),
            false,
        ),
        (
            "builtin/two-imps",
            serde_json::json!({
                "id": "check-two", "tmax": tmax,
                "imp": [{"id": "1", "banner": {"w": 728, "h": 90}}, {"id": "2", "native": {"request": native}}],
                "site": {"page": "https://blog.example/post"}
            }),
            false,
        ),
        (
            "builtin/gzip-banner",
            serde_json::json!({
                "id": "check-gzip", "tmax": tmax,
                "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}],
                "site": {"page": "https://news.example/"}
            }),
            true,
        ),
        (
            "builtin/tight-tmax",
            serde_json::json!({
                "id": "check-tight", "tmax": 15,
                "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}],
                "site": {"page": "https://news.example/"}
            }),
            false,
        ),
    ];
    documents
        .into_iter()
        .filter_map(|(name, document, gzip)| {
            let body = document.to_string().into_bytes();
            let request = decode_request(&body).ok()?;
            Some(Case {
                name: name.into(),
                body,
                gzip,
                request: Some(request),
            })
        })
        .collect()
}

fn corpus_cases(corpus: &std::path::Path, tmax: Duration) -> Vec<Case> {
    let mut cases = Vec::new();
    for (folder, valid) in [("requests", true), ("invalid", false)] {
        let Ok(entries) = std::fs::read_dir(corpus.join(folder)) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
        paths.sort();
        for path in paths {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_owned();
            if !name.ends_with(".json") || (!valid && !name.contains("request")) {
                continue;
            }
            let Ok(body) = std::fs::read(&path) else {
                continue;
            };
            let request = if valid {
                match decode_request(&body) {
                    Ok(mut request) => {
                        request.tmax = request.tmax.or(Some(tmax.as_millis() as i64));
                        Some(request)
                    }
                    Err(_) => continue,
                }
            } else {
                None
            };
            // Send the tmax the case is judged by.
            let body = match &request {
                Some(request) => crate::openrtb::encode_request(request),
                None => body,
            };
            cases.push(Case {
                name: format!("corpus/{folder}/{name}"),
                body,
                gzip: false,
                request,
            });
        }
    }
    cases
}

fn hostile_cases() -> Vec<Case> {
    let deep = format!(
        r#"{{"id":"deep","imp":[{{"id":"1","banner":{{"w":1,"h":1}},"ext":{{"x":{}{}}}}}]}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let oversized = format!(
        r#"{{"id":"big","imp":[{{"id":"1","banner":{{"w":1,"h":1}}}}],"site":{{"page":"{}"}}}}"#,
        "a".repeat(8 * 1024 * 1024)
    );
    let documents: [(&str, Vec<u8>); 8] = [
        (
            "hostile/truncated",
            br#"{"id":"t","imp":[{"id":"1","banner":{"w":30"#.to_vec(),
        ),
        (
            "hostile/not-json",
            b"<html><body>hello</body></html>".to_vec(),
        ),
        ("hostile/empty-body", Vec::new()),
        (
            "hostile/wrong-types",
            br#"{"id":5,"imp":{"id":1},"tmax":"fast"}"#.to_vec(),
        ),
        ("hostile/missing-imp", br#"{"id":"no-imps"}"#.to_vec()),
        (
            "hostile/nan-floor",
            br#"{"id":"n","imp":[{"id":"1","banner":{"w":1,"h":1},"bidfloor":NaN}]}"#.to_vec(),
        ),
        ("hostile/deep-nesting", deep.into_bytes()),
        ("hostile/oversized-8MiB", oversized.into_bytes()),
    ];
    documents
        .into_iter()
        .map(|(name, body)| Case {
            name: name.into(),
            body,
            gzip: false,
            request: None,
        })
        .collect()
}

#[cfg(test)]
mod tests;
