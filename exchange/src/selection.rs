//! Trends and product selection (选品) for publishers, authenticated as their statements
//! are (`X-Publisher` + `Authorization: Bearer`, `affiliate::auth::authenticate_publisher`):
//!
//! - `GET /publisher/trends[?limit=N]`: the page topics rising over the exchange's traffic,
//!   with the numbers behind each (recent and baseline share, ratio, the lift it gives).
//! - `GET /publisher/products?topic=T[&limit=N]`: the products to promote on pages about
//!   `T`, ranked as the auction ranks them on such a page, times relevance. Each is read
//!   as the auction reads a page about `T` (the same lexicon, vectors, learned rates and
//!   trend lifts): relevance, pCTR, pCVR, commission, `epm` = what an impression of it
//!   earns on such a page, `quality` = the auction's quality weight there
//!   (`context.quality_weight`; 1 without one), and `score` = `epm × quality × relevance`,
//!   counting only the readers it is about (a product must reach `MIN_RELEVANCE`).
//! - `GET /publisher/products?placement=P[&limit=N]`: the products to promote at one of the
//!   publisher's placements, ranked by expected earnings per thousand impressions there:
//!   its CTR and CVR observed at that placement over 30 days (affiliate database),
//!   Beta-smoothed toward the campaign's learned rates on the placement's usual page
//!   category, with the counts that justify them.
//!
//! Earnings are the gross expected commission (or CPC, or CPM) in the exchange currency,
//! before the network's fee.

use crate::affiliate::auth::authenticate_publisher;
use crate::campaign::{Campaign, Pricing};
use crate::context::index::TermId;
use crate::learning::posterior_mean;
use crate::receive::reply::{json, Body};
use crate::scoring::{score, SignalSource, Signals};
use crate::serving::Serving;
use crate::signals::{AuctionSignals, UserInputs};
use crate::state::AppState;
use crate::trends::Trend;
use http::{Request, Response, StatusCode};
use std::sync::Arc;

/// Least relevance to a topic for a product to be listed for it.
pub const MIN_RELEVANCE: f32 = 0.1;
/// Most rows an answer lists.
pub const MAX_LIMIT: usize = 100;
/// Longest topic, bytes.
pub const MAX_TOPIC_BYTES: usize = 64;
/// The history a placement's products are judged on, ms (30 days).
pub const PLACEMENT_WINDOW_MS: i64 = 30 * 86_400_000;

fn bad(status: StatusCode, field: &str, message: &str) -> Response<Body> {
    json(
        status,
        &serde_json::json!({ "error": message, "field": field }),
    )
}

/// A refused call: status, the field at fault, why.
struct Problem(StatusCode, String, String);

impl Problem {
    fn new(status: StatusCode, field: &str, message: &str) -> Self {
        Self(status, field.to_owned(), message.to_owned())
    }

    fn answer(&self) -> Response<Body> {
        bad(self.0, &self.1, &self.2)
    }
}

/// The query's parameters, each at most once; `Err` answers the first problem.
struct Query {
    limit: usize,
    topic: Option<String>,
    placement: Option<String>,
}

fn read_query(query: &str, allowed: &[&str]) -> Result<Query, Problem> {
    let mut out = Query {
        limit: 20,
        topic: None,
        placement: None,
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, raw) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(&raw.replace('+', " "))
            .decode_utf8()
            .map(|v| v.trim().to_owned())
            .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, name, "not UTF-8"))?;
        if !allowed.contains(&name) {
            let message = format!("unknown parameter (allowed: {})", allowed.join(", "));
            return Err(Problem::new(StatusCode::BAD_REQUEST, name, &message));
        }
        match name {
            "limit" => {
                out.limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        Problem::new(StatusCode::BAD_REQUEST, "limit", "must be in 1..=100")
                    })?;
            }
            "topic" => {
                let fine = !value.is_empty()
                    && value.len() <= MAX_TOPIC_BYTES
                    && !value.chars().any(char::is_control);
                if !fine || out.topic.is_some() {
                    return Err(Problem::new(
                        StatusCode::BAD_REQUEST,
                        "topic",
                        "one topic of 1 to 64 bytes, no control characters",
                    ));
                }
                out.topic = Some(value);
            }
            _ => {
                if value.is_empty() || value.len() > 64 || out.placement.is_some() {
                    return Err(Problem::new(
                        StatusCode::BAD_REQUEST,
                        name,
                        "one placement id",
                    ));
                }
                out.placement = Some(value);
            }
        }
    }
    Ok(out)
}

/// The calling publisher, or the 401.
fn caller<B>(serving: &Serving, request: &Request<B>) -> Result<String, Problem> {
    authenticate_publisher(request.headers(), &serving.snapshot.publishers)
        .map_err(|e| Problem::new(StatusCode::UNAUTHORIZED, e.field, e.message))
}

/// How many campaigns of `snapshot` have each of `terms` in their keyword document (one
/// pass over the documents).
fn products_about(
    snapshot: &crate::index::Snapshot,
    terms: &[Option<TermId>],
) -> std::collections::HashMap<TermId, usize> {
    let mut counts: std::collections::HashMap<TermId, usize> =
        terms.iter().flatten().map(|&t| (t, 0)).collect();
    for id in 0..snapshot.len() {
        for (term, _) in snapshot.context.document(id) {
            if let Some(n) = counts.get_mut(term) {
                *n += 1;
            }
        }
    }
    counts
}

/// `GET /publisher/trends`.
pub fn trends<B>(state: &AppState, request: &Request<B>) -> Response<Body> {
    let serving = state.serving();
    if let Err(refusal) = caller(&serving, request) {
        return refusal.answer();
    }
    let query = match read_query(request.uri().query().unwrap_or(""), &["limit"]) {
        Ok(query) => query,
        Err(refusal) => return refusal.answer(),
    };
    let settings = state.trending.settings();
    let (recent, baseline, topics) = state.trending.volume();
    let trending: Vec<Trend> = state
        .trending
        .trends()
        .into_iter()
        .take(query.limit)
        .collect();
    let terms: Vec<Option<TermId>> = trending
        .iter()
        .map(|t| serving.snapshot.context.term(&t.topic))
        .collect();
    let about = products_about(&serving.snapshot, &terms);
    let list: Vec<serde_json::Value> = trending
        .iter()
        .zip(&terms)
        .map(|(trend, term)| {
            let products = term.and_then(|t| about.get(&t).copied()).unwrap_or(0);
            let lift = 1.0 + (settings.max_lift - 1.0) * trend.strength;
            let mut row = serde_json::to_value(trend).unwrap_or_default();
            row["max_product_lift"] = serde_json::json!(lift);
            row["products"] = serde_json::json!(products);
            row
        })
        .collect();
    json(
        StatusCode::OK,
        &serde_json::json!({
            "as_of_ms": state.clock.now_millis(),
            "recent_half_life_hours": settings.recent_half_life_hours,
            "baseline_half_life_hours": settings.baseline_half_life_hours,
            "min_ratio": settings.min_ratio,
            "pages": { "recent": recent, "baseline": baseline },
            "topics_tracked": topics,
            "trending": list,
        }),
    )
}

/// `GET /publisher/products`.
pub async fn products<B>(state: Arc<AppState>, request: Request<B>) -> Response<Body> {
    let serving = state.serving();
    let publisher = match caller(&serving, &request) {
        Ok(publisher) => publisher,
        Err(refusal) => return refusal.answer(),
    };
    let allowed = ["topic", "placement", "limit"];
    let query = match read_query(request.uri().query().unwrap_or(""), &allowed) {
        Ok(query) => query,
        Err(refusal) => return refusal.answer(),
    };
    match (&query.topic, &query.placement) {
        (Some(topic), None) => for_topic(&state, &serving, &publisher, topic, query.limit),
        (None, Some(placement)) => {
            let registered = serving
                .snapshot
                .publishers
                .get(&publisher)
                .is_some_and(|p| p.placements.contains_key(placement));
            if !registered {
                return bad(
                    StatusCode::NOT_FOUND,
                    "placement",
                    "not one of this publisher's registered placements",
                );
            }
            for_placement(&state, serving, publisher, placement.clone(), query.limit).await
        }
        _ => bad(
            StatusCode::BAD_REQUEST,
            "topic",
            "give either topic= or placement=",
        ),
    }
}

/// What a campaign earns per order (CPS: commission rate × average order value), per
/// click (CPC) or per thousand impressions (CPM).
fn payout(campaign: &Campaign) -> serde_json::Value {
    match campaign.pricing {
        Pricing::Cpm { bid } => serde_json::json!({ "model": "cpm", "cpm": bid }),
        Pricing::Cpc { bid } => serde_json::json!({ "model": "cpc", "per_click": bid }),
        Pricing::Cps {
            commission_rate,
            avg_order_value,
        } => serde_json::json!({
            "model": "cps", "commission_rate": commission_rate,
            "avg_order_value": avg_order_value,
            "per_order": commission_rate * avg_order_value,
        }),
    }
}

/// A product row: who and what it pays, then `numbers`.
fn product(campaign: &Campaign, numbers: serde_json::Value) -> serde_json::Value {
    let mut row = serde_json::json!({
        "campaign": campaign.id, "name": campaign.name,
        "advertiser": campaign.advertiser, "vertical": campaign.vertical,
        "payout": payout(campaign),
    });
    if let (Some(row), serde_json::Value::Object(numbers)) = (row.as_object_mut(), numbers) {
        row.extend(numbers);
    }
    row
}

/// Whether `campaign` may serve `publisher` at all.
fn serves(campaign: &Campaign, publisher: &str) -> bool {
    campaign.active && campaign.publishers.permits(Some(publisher))
}

fn for_topic(
    state: &AppState,
    serving: &Serving,
    publisher: &str,
    topic: &str,
    limit: usize,
) -> Response<Body> {
    let page = serde_json::json!({
        "id": "selection", "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}],
        "site": {"keywords": topic, "content": {"title": topic}},
    });
    let Ok(request) = bidder_sdk::openrtb::decode_request(page.to_string().as_bytes()) else {
        return bad(StatusCode::BAD_REQUEST, "topic", "cannot be read as a page");
    };
    // The posterior means, not an exploration draw: a ranking to act on.
    let mut config = state.auction.clone();
    config.learning.explore = 0.0;
    let snapshot = &serving.snapshot;
    let signals = AuctionSignals::new(&request, snapshot, &config, UserInputs::default())
        .with_learning(&request, &serving.learned, &config, 0)
        .with_trends(&serving.trends);
    let mut rows: Vec<(f64, serde_json::Value)> = Vec::new();
    for (id, campaign) in snapshot.campaigns.iter().enumerate() {
        if !serves(campaign, publisher) {
            continue;
        }
        let report = signals.report(id, campaign);
        let relevance = report.relevance.map_or(0.0, |r| r.total);
        if relevance < MIN_RELEVANCE {
            continue;
        }
        let adjustments = signals.signals(id, campaign);
        let scored = score(campaign, adjustments);
        // What the auction ranks by on such a page (eCPM × the quality weight), counting
        // only the readers the product is about.
        let value = scored.ecpm * adjustments.quality * f64::from(relevance);
        rows.push((
            value,
            product(
                campaign,
                serde_json::json!({
                    "relevance": relevance,
                    "pctr": scored.pctr, "pcvr": scored.pcvr,
                    "learned": report.learned,
                    "trend_lift": report.trend_lift,
                    "epm": scored.ecpm,
                    "quality": adjustments.quality,
                    "score": value,
                }),
            ),
        ));
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    // The topic as the page reading spells it (a stem, a synonym group's name), else as
    // given.
    let trend = signals
        .context()
        .page
        .terms
        .iter()
        .find_map(|(term, _)| state.trending.topic(term))
        .or_else(|| state.trending.topic(topic));
    json(
        StatusCode::OK,
        &serde_json::json!({
            "publisher": publisher, "topic": topic,
            "currency": state.config.currency,
            "trend": trend,
            "terms": signals.context().page.terms.iter().map(|(t, _)| t).collect::<Vec<_>>(),
            "products": rows.into_iter().take(limit).map(|r| r.1).collect::<Vec<_>>(),
        }),
    )
}

async fn for_placement(
    state: &Arc<AppState>,
    serving: Arc<Serving>,
    publisher: String,
    placement: String,
    limit: usize,
) -> Response<Body> {
    let Some(database) = state.affiliate.database.clone() else {
        return bad(
            StatusCode::SERVICE_UNAVAILABLE,
            "store",
            "no affiliate database: placements have no history",
        );
    };
    let since = state.clock.now_millis() - PLACEMENT_WINDOW_MS;
    let (who, at) = (publisher.clone(), placement.clone());
    let history =
        tokio::task::spawn_blocking(move || database.placement_outcomes(&who, &at, since)).await;
    let Ok(Ok(history)) = history else {
        return bad(
            StatusCode::SERVICE_UNAVAILABLE,
            "store",
            "affiliate database unavailable",
        );
    };
    let learning = &state.config.learning;
    let snapshot = &serving.snapshot;
    let mut rows: Vec<(f64, serde_json::Value)> = Vec::new();
    for (id, campaign) in snapshot.campaigns.iter().enumerate() {
        if !serves(campaign, &publisher) {
            continue;
        }
        let seen = history
            .campaigns
            .iter()
            .find(|c| c.campaign == campaign.id)
            .cloned()
            .unwrap_or_default();
        // The campaign's learned rates on the placement's usual page category are the
        // prior; what it did here moves them.
        let (ctr_lift, cvr_lift) = serving.learned.lifts(id, history.page_category);
        let prior_ctr = (campaign.base_ctr * ctr_lift).clamp(1e-6, 1.0);
        let prior_cvr = (campaign.base_cvr * cvr_lift).clamp(1e-6, 1.0);
        let ctr = posterior_mean(
            seen.clicks as f64,
            seen.impressions as f64,
            prior_ctr,
            learning.category_prior,
        );
        let cvr = posterior_mean(
            seen.orders as f64,
            seen.clicks as f64,
            prior_cvr,
            learning.cvr_prior,
        );
        let signals = Signals {
            ctr_lift: ctr / campaign.base_ctr.max(1e-9),
            cvr_lift: cvr / campaign.base_cvr.max(1e-9),
            ..Signals::NEUTRAL
        };
        let epm = score(campaign, signals).ecpm;
        rows.push((
            epm,
            product(campaign, serde_json::json!({
                "here": { "impressions": seen.impressions, "clicks": seen.clicks, "orders": seen.orders },
                "prior_ctr": prior_ctr, "prior_cvr": prior_cvr,
                "ctr": ctr, "cvr": cvr,
                "epm": epm,
            })),
        ));
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    json(
        StatusCode::OK,
        &serde_json::json!({
            "publisher": publisher, "placement": placement,
            "currency": state.config.currency,
            "window_days": PLACEMENT_WINDOW_MS / 86_400_000,
            "page_category": history.page_category.map(crate::learning::category_label),
            "impressions": history.campaigns.iter().map(|c| c.impressions).sum::<i64>(),
            "products": rows.into_iter().take(limit).map(|r| r.1).collect::<Vec<_>>(),
        }),
    )
}
