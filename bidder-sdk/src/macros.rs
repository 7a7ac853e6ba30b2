//! OpenRTB substitution macros (`${AUCTION_PRICE}` and friends, spec 2.6 §4.4), shared
//! by the exchange (filling a DSP's `nurl`/`burl`/`lurl`/`adm`) and the SDK (filling
//! the notice URLs it generates, and parsing them back).
//!
//! Only the upper-case names the spec defines are substituted; anything else between
//! `${` and `}` (including lower-case `${auction_price}`) is left exactly as it was.
//! A known macro without a value becomes the empty string, as the spec asks. Values are
//! percent-encoded, so an id cannot break the URL it lands in.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Characters kept as they are in a substituted value (RFC 3986 unreserved).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Longest template substituted; longer ones are returned unchanged (a DSP's notice URL
/// or markup larger than this is not something to rewrite on a hot path).
pub const MAX_TEMPLATE_BYTES: usize = 256 * 1024;

/// Values for the OpenRTB macros; `None` substitutes the empty string.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MacroValues<'a> {
    /// `${AUCTION_ID}`: the BidRequest id.
    pub auction_id: Option<&'a str>,
    /// `${AUCTION_BID_ID}`: the BidResponse `bidid`, else the bid's id.
    pub bid_id: Option<&'a str>,
    /// `${AUCTION_IMP_ID}`: the imp id.
    pub imp_id: Option<&'a str>,
    /// `${AUCTION_SEAT_ID}`: the seat of the bid.
    pub seat_id: Option<&'a str>,
    /// `${AUCTION_AD_ID}`: the bid's `adid`.
    pub ad_id: Option<&'a str>,
    /// `${AUCTION_PRICE}`: the clearing price, in the bid's currency.
    pub price: Option<f64>,
    /// `${AUCTION_CURRENCY}`: the bid's currency.
    pub currency: Option<&'a str>,
    /// `${AUCTION_MBR}`: market bid ratio (clearing price / bid price).
    pub mbr: Option<f64>,
    /// `${AUCTION_LOSS}`: loss reason code (see [`crate::openrtb::enums::loss_reason`]).
    pub loss: Option<i32>,
    /// `${AUCTION_MIN_TO_WIN}`: the lowest price that would have won, bid currency.
    pub min_to_win: Option<f64>,
    /// `${AUCTION_MULTIPLIER}`: DOOH impression multiplier.
    pub multiplier: Option<f64>,
    /// `${AUCTION_IMP_TS}`: when the impression happened, Unix ms.
    pub imp_ts: Option<i64>,
}

/// Replaces every OpenRTB macro in `template` by its value.
///
/// ```
/// use bidder_sdk::macros::{substitute, MacroValues};
/// let url = "https://dsp.example/win?p=${AUCTION_PRICE}&imp=${AUCTION_IMP_ID}&x=${auction_price}";
/// let values = MacroValues { price: Some(1.25), imp_id: Some("1 a"), ..MacroValues::default() };
/// assert_eq!(
///     substitute(url, &values),
///     "https://dsp.example/win?p=1.25&imp=1%20a&x=${auction_price}"
/// );
/// ```
pub fn substitute(template: &str, values: &MacroValues<'_>) -> String {
    expand(template, values, false)
}

/// Like [`substitute`], but a macro without a value is left in place for a later pass
/// (the SDK fills the ids it knows; the exchange fills the price later).
///
/// ```
/// use bidder_sdk::macros::{substitute_present, MacroValues};
/// let values = MacroValues { bid_id: Some("b7"), ..MacroValues::default() };
/// assert_eq!(
///     substitute_present("bid=${AUCTION_BID_ID}&p=${AUCTION_PRICE}", &values),
///     "bid=b7&p=${AUCTION_PRICE}"
/// );
/// ```
pub fn substitute_present(template: &str, values: &MacroValues<'_>) -> String {
    expand(template, values, true)
}

fn expand(template: &str, values: &MacroValues<'_>, keep_missing: bool) -> String {
    if template.len() > MAX_TEMPLATE_BYTES || !template.contains("${") {
        return template.to_owned();
    }
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        let filled = match value_of(name, values) {
            Lookup::Value(value) => {
                out.push_str(&value);
                true
            }
            Lookup::Missing => !keep_missing,
            Lookup::NotAMacro => false,
        };
        if !filled {
            out.push_str(&rest[start..start + 2 + end + 1]);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// What a macro name resolves to.
enum Lookup {
    /// The encoded value.
    Value(String),
    /// An OpenRTB macro without a value.
    Missing,
    /// Not an OpenRTB macro: leave it alone.
    NotAMacro,
}

fn value_of(name: &str, values: &MacroValues<'_>) -> Lookup {
    let text = |value: Option<&str>| {
        value.map_or(Lookup::Missing, |v| {
            Lookup::Value(utf8_percent_encode(v, UNRESERVED).to_string())
        })
    };
    let number = |value: Option<f64>| {
        value
            .filter(|v| v.is_finite())
            .map_or(Lookup::Missing, |v| Lookup::Value(format_price(v)))
    };
    let integer =
        |value: Option<i64>| value.map_or(Lookup::Missing, |v| Lookup::Value(v.to_string()));
    match name {
        "AUCTION_ID" => text(values.auction_id),
        "AUCTION_BID_ID" => text(values.bid_id),
        "AUCTION_IMP_ID" => text(values.imp_id),
        "AUCTION_SEAT_ID" => text(values.seat_id),
        "AUCTION_AD_ID" => text(values.ad_id),
        "AUCTION_CURRENCY" => text(values.currency),
        "AUCTION_PRICE" => number(values.price),
        "AUCTION_MBR" => number(values.mbr),
        "AUCTION_MIN_TO_WIN" => number(values.min_to_win),
        "AUCTION_MULTIPLIER" => number(values.multiplier),
        "AUCTION_LOSS" => integer(values.loss.map(i64::from)),
        "AUCTION_IMP_TS" => integer(values.imp_ts),
        _ => Lookup::NotAMacro,
    }
}

/// A price as OpenRTB URLs carry it: decimal, at most six places, no trailing zeros.
pub fn format_price(price: f64) -> String {
    let mut text = format!("{:.6}", (price * 1e6).round() / 1e6);
    while text.ends_with('0') {
        text.pop();
    }
    if text.ends_with('.') {
        text.pop();
    }
    if text == "-0" {
        text = "0".into();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_macro_is_substituted() {
        let values = MacroValues {
            auction_id: Some("a"),
            bid_id: Some("b"),
            imp_id: Some("i"),
            seat_id: Some("s"),
            ad_id: Some("ad"),
            price: Some(2.5),
            currency: Some("CNY"),
            mbr: Some(0.8),
            loss: Some(102),
            min_to_win: Some(3.010001),
            multiplier: Some(12.0),
            imp_ts: Some(1_700_000_000_000),
        };
        let template = "${AUCTION_ID}|${AUCTION_BID_ID}|${AUCTION_IMP_ID}|${AUCTION_SEAT_ID}|\
            ${AUCTION_AD_ID}|${AUCTION_PRICE}|${AUCTION_CURRENCY}|${AUCTION_MBR}|${AUCTION_LOSS}|\
            ${AUCTION_MIN_TO_WIN}|${AUCTION_MULTIPLIER}|${AUCTION_IMP_TS}";
        assert_eq!(
            substitute(template, &values),
            "a|b|i|s|ad|2.5|CNY|0.8|102|3.010001|12|1700000000000"
        );
    }

    #[test]
    fn unknown_and_lower_case_macros_stay_and_missing_values_empty() {
        let values = MacroValues::default();
        assert_eq!(
            substitute(
                "x=${AUCTION_PRICE}&y=${auction_price}&z=${OTHER}&w=${",
                &values
            ),
            "x=&y=${auction_price}&z=${OTHER}&w=${"
        );
    }

    #[test]
    fn values_cannot_break_the_url() {
        let values = MacroValues {
            imp_id: Some("1&admin=true#x"),
            ..MacroValues::default()
        };
        assert_eq!(
            substitute("u?imp=${AUCTION_IMP_ID}", &values),
            "u?imp=1%26admin%3Dtrue%23x"
        );
    }

    #[test]
    fn prices_are_short_decimals() {
        assert_eq!(format_price(1.0), "1");
        assert_eq!(
            format_price(2.0 + 0.01),
            "2.01",
            "2.0099999999999998 in binary"
        );
        assert_eq!(format_price(0.0000004), "0");
        assert_eq!(format_price(12.345678), "12.345678");
    }
}
