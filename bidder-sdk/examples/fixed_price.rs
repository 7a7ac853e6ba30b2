//! A DSP that bids one fixed price on every banner imp, with a creative that fits.
//!
//! ```text
//! cargo run -p bidder-sdk --example fixed_price -- --listen 127.0.0.1:9001 --price 1.5
//! ```

use bidder_sdk::openrtb::{Bid, BidRequest, BidResponse, Imp, SeatBid};
use bidder_sdk::{serve_with, Answer, BidContext, Bidder, Notice, ServeOptions};
use std::sync::atomic::{AtomicU64, Ordering};

/// Bids `price` on every banner imp.
struct FixedPrice {
    price: f64,
    wins: AtomicU64,
}

impl Bidder for FixedPrice {
    async fn bid(&self, request: &BidRequest, _context: &BidContext) -> Answer {
        let bids: Vec<Bid> = request
            .imp
            .iter()
            .filter_map(|imp| self.bid_on(imp))
            .collect();
        if bids.is_empty() {
            return Answer::NoBid;
        }
        Answer::Bid(BidResponse {
            id: request.id.clone(),
            seatbid: vec![SeatBid {
                bid: bids,
                seat: Some("fixed-price".into()),
                ..SeatBid::default()
            }],
            cur: request.cur.first().cloned(),
            ..BidResponse::default()
        })
    }

    fn on_win(&self, notice: &Notice) {
        let wins = self.wins.fetch_add(1, Ordering::Relaxed) + 1;
        println!(
            "win #{wins}: auction {} imp {} cleared at {:?} {}",
            notice.auction_id, notice.imp_id, notice.price, notice.currency
        );
    }

    fn on_loss(&self, notice: &Notice) {
        println!(
            "loss: auction {} reason {:?}",
            notice.auction_id, notice.loss_reason
        );
    }
}

impl FixedPrice {
    fn bid_on(&self, imp: &Imp) -> Option<Bid> {
        let banner = imp.banner.as_ref()?;
        let (w, h) = banner
            .format
            .iter()
            .find_map(|f| Some((f.w?, f.h?)))
            .or(banner.w.zip(banner.h))?;
        if self.price < imp.bidfloor.unwrap_or(0.0) {
            return None;
        }
        Some(Bid {
            id: format!("fp-{}", imp.id),
            impid: imp.id.clone(),
            price: self.price,
            adm: Some(format!(
                "<a href=\"https://shop.example/deal\"><img src=\"https://cdn.shop.example/{w}x{h}.png\" width=\"{w}\" height=\"{h}\"></a>"
            )),
            adomain: vec!["shop.example".into()],
            crid: Some(format!("fp-{w}x{h}")),
            w: Some(w),
            h: Some(h),
            mtype: Some(1),
            ..Bid::default()
        })
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut listen = "127.0.0.1:9001".to_owned();
    let mut price = 1.5;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--listen", Some(value)) => listen = value,
            ("--price", Some(value)) => price = value.parse().unwrap_or(price),
            _ => {
                eprintln!("usage: fixed_price [--listen ADDR] [--price CPM]");
                std::process::exit(2);
            }
        }
    }
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let address = listener.local_addr()?;
    println!("fixed_price bidding {price} on http://{address}/openrtb2/bid");
    let options = ServeOptions {
        public_url: Some(format!("http://{address}")),
        ..ServeOptions::default()
    };
    let bidder = FixedPrice {
        price,
        wins: AtomicU64::new(0),
    };
    serve_with(bidder, listener, options, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
