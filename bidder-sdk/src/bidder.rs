//! The contract a DSP implements: [`Bidder`], what it is told ([`BidContext`]), what it
//! answers ([`Answer`]), and the notices it hears about afterwards ([`Notice`]).

use crate::notice::NoticeUrls;
pub use crate::notice::{Notice, NoticeKind};
use crate::openrtb::{BidRequest, BidResponse};
use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

/// Header in which an exchange names itself to a bidder.
pub const EXCHANGE_HEADER: &str = "x-exchange-name";

/// A DSP's bidding logic. The SDK host ([`crate::serve`]) parses requests, enforces the
/// deadline, validates the answer and serves the notice URLs; the bidder only decides.
///
/// ```
/// use bidder_sdk::openrtb::{Bid, BidRequest, BidResponse, SeatBid};
/// use bidder_sdk::{Answer, BidContext, Bidder};
///
/// /// Bids 1.20 on every banner imp.
/// struct FlatRate;
///
/// impl Bidder for FlatRate {
///     async fn bid(&self, request: &BidRequest, _context: &BidContext) -> Answer {
///         let bids: Vec<Bid> = request
///             .imp
///             .iter()
///             .filter(|imp| imp.banner.is_some())
///             .map(|imp| Bid {
///                 id: format!("flat-{}", imp.id),
///                 impid: imp.id.clone(),
///                 price: 1.20,
///                 crid: Some("creative-1".into()),
///                 adm: Some("<a href=\"https://shop.example\">Shop</a>".into()),
///                 adomain: vec!["shop.example".into()],
///                 ..Bid::default()
///             })
///             .collect();
///         if bids.is_empty() {
///             return Answer::NoBid;
///         }
///         Answer::Bid(BidResponse {
///             id: request.id.clone(),
///             seatbid: vec![SeatBid { bid: bids, seat: Some("flat".into()), ..SeatBid::default() }],
///             ..BidResponse::default()
///         })
///     }
/// }
///
/// # let request = bidder_sdk::openrtb::decode_request(
/// #     br#"{"id":"r","imp":[{"id":"1","banner":{"w":300,"h":250}}]}"#).unwrap();
/// # let context = BidContext::for_test(std::time::Duration::from_millis(100));
/// # let answer = futures_lite_block_on(FlatRate.bid(&request, &context));
/// # assert!(matches!(answer, Answer::Bid(r) if r.seatbid[0].bid[0].price == 1.20));
/// # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
pub trait Bidder: Send + Sync + 'static {
    /// Decides what to bid on `request`. Answer before `context.deadline`: the host
    /// answers 204 for you at the deadline and drops a late answer.
    fn bid(
        &self,
        request: &BidRequest,
        context: &BidContext,
    ) -> impl Future<Output = Answer> + Send;

    /// A bid of yours won (the exchange fired its `nurl`).
    fn on_win(&self, notice: &Notice) {
        let _ = notice;
    }

    /// A bid of yours was billed (the impression rendered; the exchange fired `burl`).
    fn on_billing(&self, notice: &Notice) {
        let _ = notice;
    }

    /// A bid of yours lost (the exchange fired `lurl`), with the reason if given.
    fn on_loss(&self, notice: &Notice) {
        let _ = notice;
    }
}

/// What a bidder knows about one request besides the request itself.
#[derive(Debug, Clone)]
pub struct BidContext {
    /// Answer before this instant; later answers are dropped (`tmax` from arrival,
    /// minus the host's answer margin).
    pub deadline: Instant,
    /// When the request arrived at the host.
    pub received_at: Instant,
    /// Wall-clock arrival time, for logs and daily budgets.
    pub received_wall: SystemTime,
    /// The exchange that sent it (`x-exchange-name` header; empty when absent).
    pub exchange: String,
    /// Notice URLs served by this host, when it knows its public URL; the host fills
    /// them into bids that leave `nurl`/`burl`/`lurl` empty.
    pub notice_urls: Option<NoticeUrls>,
}

impl BidContext {
    /// Time left before the deadline (zero when past).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// A context with `budget` left and no exchange name, for unit tests of a bidder.
    pub fn for_test(budget: Duration) -> Self {
        let now = Instant::now();
        Self {
            deadline: now + budget,
            received_at: now,
            received_wall: SystemTime::now(),
            exchange: String::new(),
            notice_urls: None,
        }
    }
}

/// A bidder's answer to one request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// No bid: the host answers `204 No Content`.
    NoBid,
    /// Bids: the host validates them, drops (and logs) the invalid ones, and answers 200
    /// with the rest, or 204 when none is left.
    Bid(BidResponse),
    /// The bidder failed: the host logs the message and answers 500.
    Failed(String),
    /// Bytes sent exactly as given, with this status, unvalidated. Only for test doubles
    /// that must behave like a broken DSP (garbage bodies, odd statuses).
    Raw {
        /// HTTP status.
        status: u16,
        /// Body.
        body: Vec<u8>,
    },
}

impl From<Option<BidResponse>> for Answer {
    fn from(response: Option<BidResponse>) -> Self {
        response.map_or(Answer::NoBid, Answer::Bid)
    }
}
