//! Notice URLs the SDK host generates for a DSP's bids and parses back when the exchange
//! fires them: `{base}/notice/{win,bill,loss}?auction=${AUCTION_ID}&...`.

use percent_encoding::percent_decode_str;

/// What kind of notice arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// Win (`nurl`).
    Win,
    /// Billing (`burl`).
    Billing,
    /// Loss (`lurl`).
    Loss,
}

impl NoticeKind {
    /// The path segment of this kind's URL (`win`, `bill`, `loss`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Win => "win",
            Self::Billing => "bill",
            Self::Loss => "loss",
        }
    }
}

/// A win, billing or loss notice as the exchange filled it in.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Notice {
    /// The auction (BidRequest) id.
    pub auction_id: String,
    /// The imp id.
    pub imp_id: String,
    /// The bid id.
    pub bid_id: String,
    /// The seat.
    pub seat: String,
    /// Clearing price (win, billing), in `currency`.
    pub price: Option<f64>,
    /// Currency of `price`.
    pub currency: String,
    /// Loss reason code (loss notices).
    pub loss_reason: Option<i32>,
    /// Lowest price that would have won (loss notices, when the exchange shares it).
    pub min_to_win: Option<f64>,
}

/// Longest notice query string accepted; longer is refused (400).
pub const MAX_NOTICE_QUERY: usize = 4096;

/// The three notice URL templates of one host, macros unfilled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeUrls {
    /// Win notice (`nurl`).
    pub win: String,
    /// Billing notice (`burl`).
    pub bill: String,
    /// Loss notice (`lurl`).
    pub loss: String,
}

impl NoticeUrls {
    /// Templates under `base` (e.g. `http://dsp.example:9001`).
    ///
    /// ```
    /// let urls = bidder_sdk::NoticeUrls::new("http://dsp.example/");
    /// assert!(urls.win.starts_with("http://dsp.example/notice/win?auction=${AUCTION_ID}"));
    /// assert!(urls.loss.contains("reason=${AUCTION_LOSS}"));
    /// ```
    pub fn new(base: &str) -> Self {
        let base = base.trim_end_matches('/');
        let common = "auction=${AUCTION_ID}&imp=${AUCTION_IMP_ID}&bid=${AUCTION_BID_ID}\
                      &seat=${AUCTION_SEAT_ID}&cur=${AUCTION_CURRENCY}";
        Self {
            win: format!("{base}/notice/win?{common}&price=${{AUCTION_PRICE}}"),
            bill: format!("{base}/notice/bill?{common}&price=${{AUCTION_PRICE}}"),
            loss: format!(
                "{base}/notice/loss?{common}&reason=${{AUCTION_LOSS}}&min_to_win=${{AUCTION_MIN_TO_WIN}}"
            ),
        }
    }
}

/// The kind of notice a path names (`/notice/win` ...), if any.
pub fn notice_kind(path: &str) -> Option<NoticeKind> {
    match path {
        "/notice/win" => Some(NoticeKind::Win),
        "/notice/bill" => Some(NoticeKind::Billing),
        "/notice/loss" => Some(NoticeKind::Loss),
        _ => None,
    }
}

/// Reads a notice from a query string; `None` when it is too long or lacks the ids.
pub fn parse_notice(query: &str) -> Option<Notice> {
    if query.len() > MAX_NOTICE_QUERY {
        return None;
    }
    let mut notice = Notice::default();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode_str(value).decode_utf8_lossy().into_owned();
        match key {
            "auction" => notice.auction_id = value,
            "imp" => notice.imp_id = value,
            "bid" => notice.bid_id = value,
            "seat" => notice.seat = value,
            "cur" => notice.currency = value,
            "price" => notice.price = value.parse().ok().filter(|p: &f64| p.is_finite()),
            "reason" => notice.loss_reason = value.parse().ok(),
            "min_to_win" => notice.min_to_win = value.parse().ok().filter(|p: &f64| p.is_finite()),
            _ => {}
        }
    }
    (!notice.auction_id.is_empty() && !notice.bid_id.is_empty()).then_some(notice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::macros::{substitute, MacroValues};

    #[test]
    fn a_filled_template_parses_back() {
        let urls = NoticeUrls::new("http://127.0.0.1:9");
        let values = MacroValues {
            auction_id: Some("auc 1"),
            imp_id: Some("2"),
            bid_id: Some("b&3"),
            seat_id: Some("seat"),
            currency: Some("CNY"),
            price: Some(4.25),
            loss: Some(102),
            min_to_win: Some(5.0),
            ..MacroValues::default()
        };
        let filled = substitute(&urls.loss, &values);
        let (path, query) = filled["http://127.0.0.1:9".len()..]
            .split_once('?')
            .expect("query");
        assert_eq!(notice_kind(path), Some(NoticeKind::Loss));
        let notice = parse_notice(query).expect("parses");
        assert_eq!(notice.auction_id, "auc 1");
        assert_eq!(notice.bid_id, "b&3");
        assert_eq!(notice.loss_reason, Some(102));
        assert_eq!(notice.min_to_win, Some(5.0));
        let win = substitute(&urls.win, &values);
        let notice = parse_notice(win.split_once('?').expect("query").1).expect("parses");
        assert_eq!(notice.price, Some(4.25));
        assert_eq!(notice.currency, "CNY");
    }

    #[test]
    fn bad_queries_are_refused() {
        assert_eq!(parse_notice("price=1"), None);
        assert_eq!(parse_notice(&"a".repeat(MAX_NOTICE_QUERY + 1)), None);
        let notice = parse_notice("auction=a&bid=b&price=NaN&reason=x").expect("ids present");
        assert_eq!((notice.price, notice.loss_reason), (None, None));
    }
}
