//! A mock DSP built on the bidder SDK: answers after a latency drawn from a
//! distribution, bids on a share of imps at prices drawn from a distribution, and can
//! fail (HTTP 500), send garbage, never answer, or replay a canned response. Its
//! behaviour can be swapped while it runs (tests flip a healthy bidder to failing and
//! back), and it counts what it did and the notices it received.

pub mod spec;

use arc_swap::ArcSwap;
use bidder_sdk::openrtb::enums::markup_type;
use bidder_sdk::openrtb::{Bid, BidRequest, BidResponse, Imp, SeatBid};
use bidder_sdk::{serve_with, Answer, BidContext, Bidder, Notice, ServeOptions};
use rand::Rng;
use spec::{Latency, Price};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// Notices kept for inspection; older ones are dropped.
const MAX_KEPT_NOTICES: usize = 10_000;

/// How the mock behaves.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Time to answer.
    pub latency: Latency,
    /// Share of imps bid on (0..=1).
    pub bid_rate: f64,
    /// Bid prices (CPM, in `currency` or the request's first `cur`).
    pub price: Price,
    /// Share of requests answered with HTTP 500.
    pub error_rate: f64,
    /// Share of requests answered 200 with a body that is not JSON.
    pub garbage_rate: f64,
    /// Never answer at all (holds the connection open).
    pub never_answer: bool,
    /// Let the SDK answer 204 at the request's deadline (a well-behaved DSP); off, the
    /// mock is late when its latency says so.
    pub honour_tmax: bool,
    /// Response currency; the request's first `cur` when `None`.
    pub currency: Option<String>,
    /// Seat name.
    pub seat: String,
    /// `adomain` of every bid.
    pub adomain: String,
    /// `cat` of every bid.
    pub cat: Vec<String>,
    /// Skip imps whose floor is above the drawn price (as real DSPs do).
    pub respect_floor: bool,
    /// Answer with this body instead (sent unvalidated, as a broken DSP would).
    pub canned: Option<Vec<u8>>,
    /// Rewrite the canned body's `id` to the request's (off: replay it exactly).
    pub echo_id: bool,
    /// Pad every generated response with this many bytes in `ext` (huge-body tests).
    pub pad_bytes: usize,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            latency: Latency::Fixed(Duration::from_millis(5)),
            bid_rate: 1.0,
            price: Price::Fixed(1.0),
            error_rate: 0.0,
            garbage_rate: 0.0,
            never_answer: false,
            honour_tmax: false,
            currency: None,
            seat: "mock".to_owned(),
            adomain: "mock-advertiser.example".to_owned(),
            cat: Vec::new(),
            respect_floor: true,
            canned: None,
            echo_id: true,
            pad_bytes: 0,
        }
    }
}

/// What the mock did and heard.
#[derive(Debug, Default)]
pub struct MockStats {
    /// Requests received.
    pub requests: AtomicU64,
    /// Answers with bids.
    pub bid_answers: AtomicU64,
    /// Bids sent.
    pub bids: AtomicU64,
    /// Win notices received.
    pub wins: AtomicU64,
    /// Billing notices received.
    pub bills: AtomicU64,
    /// Loss notices received.
    pub losses: AtomicU64,
    notices: Mutex<Vec<(bidder_sdk::NoticeKind, Notice)>>,
    requests_seen: Mutex<Vec<BidRequest>>,
}

impl MockStats {
    /// Notices received so far, oldest first.
    pub fn notices(&self) -> Vec<(bidder_sdk::NoticeKind, Notice)> {
        self.notices.lock().map(|n| n.clone()).unwrap_or_default()
    }

    /// The last requests received (up to 100), oldest first.
    pub fn requests_seen(&self) -> Vec<BidRequest> {
        self.requests_seen
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    fn keep_notice(&self, kind: bidder_sdk::NoticeKind, notice: &Notice) {
        if let Ok(mut notices) = self.notices.lock() {
            if notices.len() >= MAX_KEPT_NOTICES {
                notices.remove(0);
            }
            notices.push((kind, notice.clone()));
        }
    }
}

/// The running mock: its address, its live config and its counters.
#[derive(Debug, Clone)]
pub struct MockHandle {
    /// Where it listens.
    pub addr: SocketAddr,
    config: Arc<ArcSwap<MockConfig>>,
    /// Counters and notices.
    pub stats: Arc<MockStats>,
}

impl MockHandle {
    /// The bid endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://{}/openrtb2/bid", self.addr)
    }

    /// Swaps the behaviour; requests already in progress keep the old one.
    pub fn set_config(&self, config: MockConfig) {
        self.config.store(Arc::new(config));
    }

    /// The current behaviour.
    pub fn config(&self) -> MockConfig {
        self.config.load().as_ref().clone()
    }
}

struct MockBidder {
    config: Arc<ArcSwap<MockConfig>>,
    stats: Arc<MockStats>,
}

/// What one request will get, drawn before any waiting.
enum Plan {
    Hang,
    Fail,
    Garbage,
    Canned(Vec<u8>),
    Bids(Vec<(usize, f64)>),
}

impl Bidder for MockBidder {
    fn bid(
        &self,
        request: &BidRequest,
        _context: &BidContext,
    ) -> impl Future<Output = Answer> + Send {
        let config = self.config.load_full();
        self.stats.requests.fetch_add(1, Relaxed);
        if let Ok(mut seen) = self.stats.requests_seen.lock() {
            if seen.len() >= 100 {
                seen.remove(0);
            }
            seen.push(request.clone());
        }
        let (delay, plan) = {
            let mut rng = rand::thread_rng();
            let delay = config.latency.sample(&mut rng);
            let plan = if config.never_answer {
                Plan::Hang
            } else if rng.gen_bool(config.error_rate.clamp(0.0, 1.0)) {
                Plan::Fail
            } else if rng.gen_bool(config.garbage_rate.clamp(0.0, 1.0)) {
                Plan::Garbage
            } else if let Some(canned) = &config.canned {
                Plan::Canned(canned_body(canned, &request.id, config.echo_id))
            } else {
                let mut bids = Vec::with_capacity(request.imp.len());
                for index in 0..request.imp.len() {
                    if rng.gen_bool(config.bid_rate.clamp(0.0, 1.0)) {
                        bids.push((index, config.price.sample(&mut rng)));
                    }
                }
                Plan::Bids(bids)
            };
            (delay, plan)
        };
        let answer = match plan {
            Plan::Bids(bids) => self.answer_with_bids(request, &config, &bids),
            Plan::Hang => Answer::NoBid,
            Plan::Fail => Answer::Failed("mock failure".into()),
            Plan::Garbage => Answer::Raw {
                status: 200,
                body: b"<html>oops, not json".to_vec(),
            },
            Plan::Canned(body) => Answer::Raw { status: 200, body },
        };
        let hang = config.never_answer;
        async move {
            if hang {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(delay).await;
            answer
        }
    }

    fn on_win(&self, notice: &Notice) {
        self.stats.wins.fetch_add(1, Relaxed);
        self.stats.keep_notice(bidder_sdk::NoticeKind::Win, notice);
    }

    fn on_billing(&self, notice: &Notice) {
        self.stats.bills.fetch_add(1, Relaxed);
        self.stats
            .keep_notice(bidder_sdk::NoticeKind::Billing, notice);
    }

    fn on_loss(&self, notice: &Notice) {
        self.stats.losses.fetch_add(1, Relaxed);
        self.stats.keep_notice(bidder_sdk::NoticeKind::Loss, notice);
    }
}

impl MockBidder {
    fn answer_with_bids(
        &self,
        request: &BidRequest,
        config: &MockConfig,
        bids: &[(usize, f64)],
    ) -> Answer {
        let bids: Vec<Bid> = bids
            .iter()
            .filter_map(|&(index, price)| {
                let imp = &request.imp[index];
                if config.respect_floor && price < imp.bidfloor.unwrap_or(0.0) {
                    return None;
                }
                Some(make_bid(imp, price, config))
            })
            .collect();
        if bids.is_empty() {
            return Answer::NoBid;
        }
        self.stats.bid_answers.fetch_add(1, Relaxed);
        self.stats.bids.fetch_add(bids.len() as u64, Relaxed);
        Answer::Bid(BidResponse {
            id: request.id.clone(),
            seatbid: vec![SeatBid {
                bid: bids,
                seat: Some(config.seat.clone()),
                ..SeatBid::default()
            }],
            cur: config
                .currency
                .clone()
                .or_else(|| request.cur.first().cloned()),
            ext: (config.pad_bytes > 0)
                .then(|| serde_json::json!({ "pad": "x".repeat(config.pad_bytes) })),
            ..BidResponse::default()
        })
    }
}

/// A bid on `imp` with a creative of a media type it offers.
fn make_bid(imp: &Imp, price: f64, config: &MockConfig) -> Bid {
    let (mtype, w, h, adm) = if let Some(banner) = &imp.banner {
        let (w, h) = banner
            .format
            .iter()
            .find_map(|f| f.w.zip(f.h))
            .or(banner.w.zip(banner.h))
            .unwrap_or((300, 250));
        let adm = format!(
            "<a href=\"https://{0}/landing\"><img src=\"https://{0}/{w}x{h}.png\" width=\"{w}\" height=\"{h}\"></a><img src=\"https://{0}/px?p=${{AUCTION_PRICE}}\" width=\"1\" height=\"1\">",
            config.adomain
        );
        (markup_type::BANNER, Some(w), Some(h), adm)
    } else if imp.video.is_some() || imp.audio.is_some() {
        let adm = format!(
            "<VAST version=\"4.0\"><Ad id=\"mock\"><InLine><AdSystem>mock</AdSystem><Impression><![CDATA[https://{}/imp?p=${{AUCTION_PRICE}}]]></Impression></InLine></Ad></VAST>",
            config.adomain
        );
        let mtype = if imp.video.is_some() {
            markup_type::VIDEO
        } else {
            markup_type::AUDIO
        };
        (mtype, None, None, adm)
    } else {
        let adm = format!(
            r#"{{"native":{{"ver":"1.2","assets":[{{"id":1,"title":{{"text":"Mock product"}}}}],"link":{{"url":"https://{}/landing"}}}}}}"#,
            config.adomain
        );
        (markup_type::NATIVE, None, None, adm)
    };
    Bid {
        id: format!("{}-{}", config.seat, imp.id),
        impid: imp.id.clone(),
        price: (price * 1e4).round() / 1e4,
        adm: Some(adm),
        adid: Some(format!("{}-ad", config.seat)),
        adomain: vec![config.adomain.clone()],
        crid: Some(format!("{}-crid-{}", config.seat, mtype)),
        cat: config.cat.clone(),
        w,
        h,
        mtype: Some(mtype),
        ..Bid::default()
    }
}

/// The canned body with its `id` set to `request_id` (when asked and it is a JSON object).
fn canned_body(canned: &[u8], request_id: &str, echo_id: bool) -> Vec<u8> {
    if !echo_id {
        return canned.to_vec();
    }
    match serde_json::from_slice::<serde_json::Value>(canned) {
        Ok(serde_json::Value::Object(mut object)) => {
            object.insert("id".into(), request_id.into());
            serde_json::Value::Object(object).to_string().into_bytes()
        }
        _ => canned.to_vec(),
    }
}

/// Starts a mock on `listener` and returns its handle; it serves until `shutdown`.
pub fn spawn(
    listener: TcpListener,
    config: MockConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<MockHandle> {
    let addr = listener.local_addr()?;
    let live = Arc::new(ArcSwap::from_pointee(config.clone()));
    let stats = Arc::new(MockStats::default());
    let bidder = MockBidder {
        config: Arc::clone(&live),
        stats: Arc::clone(&stats),
    };
    let options = ServeOptions {
        public_url: Some(format!("http://{addr}")),
        enforce_deadline: config.honour_tmax,
        max_body_bytes: 4 * 1024 * 1024,
        ..ServeOptions::default()
    };
    tokio::spawn(async move {
        if let Err(error) = serve_with(bidder, listener, options, shutdown).await {
            tracing::error!(%error, "mock bidder stopped");
        }
    });
    Ok(MockHandle {
        addr,
        config: live,
        stats,
    })
}

/// Starts a mock on a free loopback port; it serves until the runtime ends.
pub async fn spawn_local(config: MockConfig) -> std::io::Result<MockHandle> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    spawn(listener, config, std::future::pending())
}
