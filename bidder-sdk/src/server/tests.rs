//! The host over real loopback sockets.

use super::*;
use crate::openrtb::{decode_response, Bid, SeatBid};
use std::sync::Mutex;
use tokio::sync::oneshot;

/// How the test bidder behaves.
#[derive(Clone, Copy)]
enum Mode {
    /// One good bid on imp 1 and one on an imp that does not exist.
    GoodAndBad,
    /// Sleeps past any deadline.
    Slow,
    /// Never bids.
    Nothing,
    /// Fails.
    Fails,
}

struct TestBidder {
    mode: Mode,
    notices: Mutex<Vec<(NoticeKind, crate::Notice)>>,
}

impl Bidder for TestBidder {
    async fn bid(&self, _request: &BidRequest, _context: &BidContext) -> Answer {
        let bid = |id: &str, impid: &str| Bid {
            id: id.into(),
            impid: impid.into(),
            price: 2.5,
            crid: Some("c1".into()),
            adm: Some("<b>ad</b>".into()),
            ..Bid::default()
        };
        match self.mode {
            Mode::GoodAndBad => Answer::Bid(BidResponse {
                id: String::new(),
                seatbid: vec![SeatBid {
                    bid: vec![bid("b1", "1"), bid("b2", "nope")],
                    seat: Some("seat-1".into()),
                    ..SeatBid::default()
                }],
                ..BidResponse::default()
            }),
            Mode::Slow => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Answer::Bid(BidResponse::default())
            }
            Mode::Nothing => Answer::NoBid,
            Mode::Fails => Answer::Failed("model not loaded".into()),
        }
    }

    fn on_win(&self, notice: &crate::Notice) {
        self.record(NoticeKind::Win, notice);
    }

    fn on_loss(&self, notice: &crate::Notice) {
        self.record(NoticeKind::Loss, notice);
    }
}

impl TestBidder {
    fn record(&self, kind: NoticeKind, notice: &crate::Notice) {
        if let Ok(mut notices) = self.notices.lock() {
            notices.push((kind, notice.clone()));
        }
    }
}

struct Running {
    base: String,
    bidder: Arc<TestBidder>,
    _stop: oneshot::Sender<()>,
}

/// Shares the bidder with the test through an `Arc`.
struct Shared(Arc<TestBidder>);

impl Bidder for Shared {
    async fn bid(&self, request: &BidRequest, context: &BidContext) -> Answer {
        self.0.bid(request, context).await
    }
    fn on_win(&self, notice: &crate::Notice) {
        self.0.on_win(notice);
    }
    fn on_loss(&self, notice: &crate::Notice) {
        self.0.on_loss(notice);
    }
}

async fn start(mode: Mode, public_url: bool) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let base = format!("http://{address}");
    let bidder = Arc::new(TestBidder {
        mode,
        notices: Mutex::new(Vec::new()),
    });
    let options = ServeOptions {
        public_url: public_url.then(|| base.clone()),
        ..ServeOptions::default()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve_with(
        Shared(Arc::clone(&bidder)),
        listener,
        options,
        async {
            let _ = stopped.await;
        },
    ));
    Running {
        base,
        bidder,
        _stop: stop,
    }
}

struct Answered {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    elapsed: Duration,
}

async fn send(method: Method, url: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Answered {
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http();
    let mut builder = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let started = Instant::now();
    let response = client
        .request(builder.body(Full::new(Bytes::from(body))).expect("request"))
        .await
        .expect("answer");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes().to_vec();
    Answered {
        status: parts.status,
        headers: parts.headers,
        body,
        elapsed: started.elapsed(),
    }
}

/// POSTs [`REQUEST`] to the host's bid endpoint.
async fn post_request(host: &Running) -> Answered {
    send(
        Method::POST,
        &format!("{}/bid", host.base),
        REQUEST.into(),
        &[],
    )
    .await
}

const REQUEST: &str = r#"{"id":"req-1","tmax":80,"imp":[{"id":"1","banner":{"w":300,"h":250}}]}"#;

#[tokio::test]
async fn valid_bids_go_out_and_invalid_ones_are_dropped() {
    let host = start(Mode::GoodAndBad, false).await;
    let answer = post_request(&host).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["x-openrtb-version"], "2.6");
    let response = decode_response(&answer.body).expect("decodes");
    assert_eq!(response.id, "req-1", "the host fills the id");
    let bids: Vec<&str> = response
        .seatbid
        .iter()
        .flat_map(|s| &s.bid)
        .map(|b| b.id.as_str())
        .collect();
    assert_eq!(bids, ["b1"]);
    assert_eq!(
        response.seatbid[0].bid[0].nurl, None,
        "no public url, no notice urls"
    );
}

#[tokio::test]
async fn a_late_bidder_gets_204_at_the_deadline() {
    let host = start(Mode::Slow, false).await;
    let answer = post_request(&host).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(
        answer.elapsed < Duration::from_secs(2),
        "answered at the deadline, not after the bidder"
    );
}

#[tokio::test]
async fn no_bid_is_204_and_failure_is_500() {
    let host = start(Mode::Nothing, false).await;
    let answer = post_request(&host).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(answer.body.is_empty());
    let host = start(Mode::Fails, false).await;
    let answer = post_request(&host).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn gzip_both_ways() {
    let host = start(Mode::GoodAndBad, false).await;
    let answer = send(
        Method::POST,
        &format!("{}/bid", host.base),
        gzip(REQUEST.as_bytes()),
        &[("content-encoding", "gzip"), ("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-encoding"], "gzip");
    let body = gunzip(&answer.body, 1 << 20).expect("gzip body");
    assert_eq!(
        decode_response(&body).expect("decodes").seatbid[0]
            .bid
            .len(),
        1
    );
}

#[tokio::test]
async fn bad_input_is_rejected_with_the_field() {
    let host = start(Mode::GoodAndBad, false).await;
    let url = format!("{}/bid", host.base);
    let answer = send(
        Method::POST,
        &url,
        br#"{"id":"x","imp":[{"id":1}]}"#.to_vec(),
        &[],
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let error: serde_json::Value = serde_json::from_slice(&answer.body).expect("json error");
    assert_eq!(error["field"], "imp[0].id");
    let answer = send(
        Method::POST,
        &url,
        b"not gzip".to_vec(),
        &[("content-encoding", "gzip")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let huge = vec![b' '; 600 * 1024];
    let answer = send(Method::POST, &url, huge, &[]).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    let answer = send(Method::GET, &url, Vec::new(), &[]).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn generated_notice_urls_reach_the_hooks() {
    let host = start(Mode::GoodAndBad, true).await;
    let answer = post_request(&host).await;
    let response = decode_response(&answer.body).expect("decodes");
    let bid = &response.seatbid[0].bid[0];
    let nurl = bid.nurl.as_deref().expect("nurl filled");
    assert!(
        nurl.contains("bid=b1") && nurl.contains("price=${AUCTION_PRICE}"),
        "{nurl}"
    );
    let values = MacroValues {
        price: Some(1.75),
        currency: Some("USD"),
        loss: Some(102),
        ..MacroValues::default()
    };
    let win = crate::macros::substitute(nurl, &values);
    assert_eq!(
        send(Method::GET, &win, Vec::new(), &[]).await.status,
        StatusCode::NO_CONTENT
    );
    let lurl = crate::macros::substitute(bid.lurl.as_deref().expect("lurl filled"), &values);
    assert_eq!(
        send(Method::GET, &lurl, Vec::new(), &[]).await.status,
        StatusCode::NO_CONTENT
    );
    let bad = format!("{}/notice/win?price=1", host.base);
    assert_eq!(
        send(Method::GET, &bad, Vec::new(), &[]).await.status,
        StatusCode::BAD_REQUEST
    );
    let notices = host.bidder.notices.lock().expect("lock").clone();
    assert_eq!(notices.len(), 2);
    assert_eq!(notices[0].0, NoticeKind::Win);
    assert_eq!(
        (notices[0].1.bid_id.as_str(), notices[0].1.price),
        ("b1", Some(1.75))
    );
    assert_eq!(notices[0].1.auction_id, "req-1");
    assert_eq!(
        (notices[1].0, notices[1].1.loss_reason),
        (NoticeKind::Loss, Some(102))
    );
}
