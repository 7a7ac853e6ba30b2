//! A contextual DSP: bids by the page's IAB categories and keywords, with no user data.
//! Each line of its table says "pages about this → this product, at this price".
//!
//! ```text
//! cargo run -p bidder-sdk --example contextual -- --listen 127.0.0.1:9002
//! ```

use bidder_sdk::openrtb::{Bid, BidRequest, BidResponse, SeatBid};
use bidder_sdk::{serve_with, Answer, BidContext, Bidder, ServeOptions};

/// One line of the bidding table.
struct Line {
    /// IAB categories (prefix match: `IAB17` covers `IAB17-12`).
    categories: &'static [&'static str],
    /// Words looked for in keywords, page URL and title (lower case; Chinese as is).
    keywords: &'static [&'static str],
    /// Product shown.
    product: &'static str,
    /// Landing domain.
    domain: &'static str,
    /// Bid CPM when the category matches; keywords add 50%.
    cpm: f64,
}

const TABLE: &[Line] = &[
    Line {
        categories: &["IAB17"],
        keywords: &["running", "跑步", "marathon", "shoes", "跑鞋"],
        product: "Trail running shoes",
        domain: "sports.example",
        cpm: 2.0,
    },
    Line {
        categories: &["IAB8"],
        keywords: &["recipe", "菜谱", "cooking", "wok", "锅"],
        product: "Cast-iron wok",
        domain: "kitchen.example",
        cpm: 1.4,
    },
    Line {
        categories: &["IAB6"],
        keywords: &["baby", "母婴", "diaper", "纸尿裤"],
        product: "Diapers value pack",
        domain: "baby.example",
        cpm: 1.8,
    },
    Line {
        categories: &["IAB19"],
        keywords: &["phone", "手机", "laptop", "数码"],
        product: "Noise-cancelling earbuds",
        domain: "gadgets.example",
        cpm: 2.4,
    },
];

struct Contextual;

impl Bidder for Contextual {
    async fn bid(&self, request: &BidRequest, _context: &BidContext) -> Answer {
        let (categories, text) = page_context(request);
        let Some((line, cpm)) = TABLE
            .iter()
            .filter_map(|line| {
                let category = categories
                    .iter()
                    .any(|c| line.categories.iter().any(|p| c.starts_with(p)));
                let keyword = line.keywords.iter().any(|k| text.contains(k));
                let cpm = match (category, keyword) {
                    (true, true) => line.cpm * 1.5,
                    (true, false) | (false, true) => line.cpm,
                    (false, false) => return None,
                };
                Some((line, cpm))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
        else {
            return Answer::NoBid;
        };
        let bids: Vec<Bid> = request
            .imp
            .iter()
            .filter(|imp| cpm >= imp.bidfloor.unwrap_or(0.0))
            .filter_map(|imp| {
                let banner = imp.banner.as_ref()?;
                let (w, h) = banner
                    .format
                    .iter()
                    .find_map(|f| Some((f.w?, f.h?)))
                    .or(banner.w.zip(banner.h))?;
                Some(Bid {
                    id: format!("ctx-{}", imp.id),
                    impid: imp.id.clone(),
                    price: cpm,
                    adm: Some(format!(
                        "<a href=\"https://{}/p\">{}</a>",
                        line.domain, line.product
                    )),
                    adomain: vec![line.domain.into()],
                    crid: Some(format!("ctx-{}-{w}x{h}", line.domain)),
                    cat: line.categories.iter().map(|c| (*c).to_owned()).collect(),
                    w: Some(w),
                    h: Some(h),
                    mtype: Some(1),
                    ..Bid::default()
                })
            })
            .collect();
        if bids.is_empty() {
            return Answer::NoBid;
        }
        Answer::Bid(BidResponse {
            id: request.id.clone(),
            seatbid: vec![SeatBid {
                bid: bids,
                seat: Some("contextual".into()),
                ..SeatBid::default()
            }],
            cur: request.cur.first().cloned(),
            ..BidResponse::default()
        })
    }
}

/// The page's categories and its lower-cased text (keywords, URL, title).
fn page_context(request: &BidRequest) -> (Vec<String>, String) {
    let mut categories = Vec::new();
    let mut text = String::new();
    if let Some(site) = &request.site {
        categories.extend(
            site.cat
                .iter()
                .chain(&site.pagecat)
                .chain(&site.sectioncat)
                .cloned(),
        );
        for part in [&site.keywords, &site.page, &site.name]
            .into_iter()
            .flatten()
        {
            text.push_str(part);
            text.push(' ');
        }
        text.push_str(&site.kwarray.join(" "));
    }
    if let Some(app) = &request.app {
        categories.extend(app.cat.iter().cloned());
        for part in [&app.keywords, &app.name].into_iter().flatten() {
            text.push_str(part);
            text.push(' ');
        }
    }
    (categories, text.to_lowercase())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut listen = "127.0.0.1:9002".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--listen", Some(value)) => listen = value,
            _ => {
                eprintln!("usage: contextual [--listen ADDR]");
                std::process::exit(2);
            }
        }
    }
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let address = listener.local_addr()?;
    println!("contextual bidder on http://{address}/openrtb2/bid");
    let options = ServeOptions {
        public_url: Some(format!("http://{address}")),
        ..ServeOptions::default()
    };
    serve_with(Contextual, listener, options, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
