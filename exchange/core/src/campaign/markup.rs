//! Banner markup templates: parsed once at index time into literal and macro segments,
//! rendered per winning bid with HTML-escaped values.

use std::fmt::Write;

/// Macros a template may use; anything else that looks like `${...}` stays literal so
/// that macros meant for other parties pass through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Macro {
    ClickUrl,
    ImageUrl,
    Title,
    Width,
    Height,
    AuctionId,
    AuctionBidId,
    AuctionImpId,
    AuctionPrice,
    AuctionCurrency,
}

impl Macro {
    const ALL: [(&'static str, Macro); 10] = [
        ("CLICK_URL", Macro::ClickUrl),
        ("IMAGE_URL", Macro::ImageUrl),
        ("TITLE", Macro::Title),
        ("WIDTH", Macro::Width),
        ("HEIGHT", Macro::Height),
        ("AUCTION_ID", Macro::AuctionId),
        ("AUCTION_BID_ID", Macro::AuctionBidId),
        ("AUCTION_IMP_ID", Macro::AuctionImpId),
        ("AUCTION_PRICE", Macro::AuctionPrice),
        ("AUCTION_CURRENCY", Macro::AuctionCurrency),
    ];
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Literal(String),
    Macro(Macro),
}

/// A pre-parsed markup template.
#[derive(Debug, Clone, PartialEq)]
pub struct MarkupTemplate {
    segments: Vec<Segment>,
}

/// The values substituted into a template for one bid.
#[derive(Debug, Clone, Copy)]
pub struct MarkupValues<'a> {
    /// Click-through URL.
    pub click_url: &'a str,
    /// Image URL.
    pub image_url: &'a str,
    /// Headline.
    pub title: &'a str,
    /// Creative width.
    pub w: u32,
    /// Creative height.
    pub h: u32,
    /// Auction (request) id.
    pub auction_id: &'a str,
    /// Bid id.
    pub bid_id: &'a str,
    /// Imp id.
    pub imp_id: &'a str,
    /// Clearing price (CPM).
    pub price: f64,
    /// Currency of the price.
    pub currency: &'a str,
}

/// The markup used when a banner creative gives none.
pub const DEFAULT_BANNER_MARKUP: &str = "<a href=\"${CLICK_URL}\" target=\"_blank\" rel=\"noopener\">\
<img src=\"${IMAGE_URL}\" width=\"${WIDTH}\" height=\"${HEIGHT}\" alt=\"${TITLE}\" style=\"border:0\"></a>";

impl MarkupTemplate {
    /// Splits a template into segments.
    pub fn parse(template: &str) -> Self {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            literal.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let known = after.find('}').and_then(|end| {
                let name = &after[..end];
                Macro::ALL
                    .iter()
                    .find(|(known, _)| *known == name)
                    .map(|(_, m)| (*m, end))
            });
            match known {
                Some((m, end)) => {
                    if !literal.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut literal)));
                    }
                    segments.push(Segment::Macro(m));
                    rest = &after[end + 1..];
                }
                None => {
                    literal.push_str("${");
                    rest = after;
                }
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        Self { segments }
    }

    /// Renders the template with the given values.
    pub fn render(&self, values: &MarkupValues<'_>) -> String {
        let mut out = String::with_capacity(256);
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Macro(m) => match m {
                    Macro::ClickUrl => escape_html(values.click_url, &mut out),
                    Macro::ImageUrl => escape_html(values.image_url, &mut out),
                    Macro::Title => escape_html(values.title, &mut out),
                    Macro::Width => push_display(&mut out, values.w),
                    Macro::Height => push_display(&mut out, values.h),
                    Macro::AuctionId => escape_html(values.auction_id, &mut out),
                    Macro::AuctionBidId => escape_html(values.bid_id, &mut out),
                    Macro::AuctionImpId => escape_html(values.imp_id, &mut out),
                    Macro::AuctionPrice => push_display(&mut out, values.price),
                    Macro::AuctionCurrency => escape_html(values.currency, &mut out),
                },
            }
        }
        out
    }
}

fn push_display(out: &mut String, value: impl std::fmt::Display) {
    // Writing into a String cannot fail.
    let _ = write!(out, "{value}");
}

/// Appends `text` with `& < > " '` escaped for an HTML attribute or text node.
pub fn escape_html(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> MarkupValues<'static> {
        MarkupValues {
            click_url: "https://shop.example/p?a=1&b=\"2\"",
            image_url: "https://img.example/x.jpg",
            title: "纸尿裤 <sale>",
            w: 300,
            h: 250,
            auction_id: "req-1",
            bid_id: "b1",
            imp_id: "1",
            price: 1.25,
            currency: "USD",
        }
    }

    #[test]
    fn default_markup_escapes_values() {
        let html = MarkupTemplate::parse(DEFAULT_BANNER_MARKUP).render(&values());
        assert!(
            html.contains("href=\"https://shop.example/p?a=1&amp;b=&quot;2&quot;\""),
            "{html}"
        );
        assert!(html.contains("width=\"300\" height=\"250\""), "{html}");
        assert!(html.contains("alt=\"纸尿裤 &lt;sale&gt;\""), "{html}");
    }

    #[test]
    fn unknown_and_unclosed_macros_stay_literal() {
        let template = MarkupTemplate::parse("${AUCTION_PRICE}|${OTHER}|${AUCTION_ID");
        assert_eq!(template.render(&values()), "1.25|${OTHER}|${AUCTION_ID");
    }
}
