//! `[[bidders]]` and `[fanout]`: the external bidders (DSPs) the exchange calls, and how
//! it budgets their time, judges their health and sends their notices.

use super::ExchangeConfig;
use serde::Deserialize;
use std::collections::HashSet;

/// Most bidders one exchange fans out to: each costs an encode, a socket and a decode
/// per request, and the request deadline does not grow with them.
pub const MAX_BIDDERS: usize = 64;
/// Longest bidder name (it is a metric label and a seat name).
const MAX_NAME_BYTES: usize = 32;

/// A media type a bidder accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaType {
    /// `imp.banner`.
    Banner,
    /// `imp.native`.
    Native,
    /// `imp.video`.
    Video,
    /// `imp.audio`.
    Audio,
}

/// One external bidder.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BidderConfig {
    /// Unique name: `[a-z0-9_-]`, at most 32 bytes. Seat in responses, metric label.
    pub name: String,
    /// Bid endpoint, `http://host:port/path` (TLS is a sidecar's job: see README).
    pub endpoint: String,
    /// Longest wait for this bidder, ms; the request's own deadline may cut it shorter.
    pub timeout_ms: u64,
    /// Requests per second sent at most; 0 means no limit. Requests over it skip the bidder.
    pub max_qps: u32,
    /// Multiplier on its prices when ranking (e.g. 0.9 for a bidder that bills 10% late
    /// or often discrepant). The price it pays is unchanged.
    pub bid_adjustment: f64,
    /// Currency it bids in: sent as `cur`, and its answers are converted from it.
    pub currency: String,
    /// Send request bodies gzip-compressed.
    pub gzip: bool,
    /// Media types it accepts; empty means all.
    pub media_types: Vec<MediaType>,
    /// Banner sizes it accepts, `"300x250"`; empty means any.
    pub sizes: Vec<String>,
    /// Countries it buys (ISO-3166-1 alpha-3, as `device.geo.country`); empty means all.
    pub countries: Vec<String>,
    /// Test mode: its requests carry `test: 1` and its bids are checked and counted but
    /// never win (for onboarding a DSP on live traffic).
    pub test: bool,
    /// Its IAB TCF vendor id: under GDPR it is called, and sent user data, only as the
    /// request's TC string allows this vendor (`[privacy]`); without one it is not called
    /// under GDPR.
    pub tcf_vendor_id: Option<u16>,
}

impl Default for BidderConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            endpoint: String::new(),
            timeout_ms: 150,
            max_qps: 0,
            bid_adjustment: 1.0,
            currency: "USD".to_owned(),
            gzip: false,
            media_types: Vec::new(),
            sizes: Vec::new(),
            countries: Vec::new(),
            test: false,
            tcf_vendor_id: None,
        }
    }
}

impl BidderConfig {
    /// Whether it accepts `media`.
    pub fn accepts(&self, media: MediaType) -> bool {
        self.media_types.is_empty() || self.media_types.contains(&media)
    }

    /// Its banner sizes as `(w, h)`; sizes that do not parse were refused by validation.
    pub fn parsed_sizes(&self) -> Vec<(i64, i64)> {
        self.sizes.iter().filter_map(|s| parse_size(s)).collect()
    }
}

/// Fan-out settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FanoutConfig {
    /// Name sent to bidders in the `x-exchange-name` header.
    pub exchange_name: String,
    /// Subtracted from the `tmax` a bidder is told, for the network round trip, ms.
    pub network_margin_ms: u64,
    /// Kept back from the publisher's `tmax` to finish the auction and answer, ms.
    pub answer_margin_ms: u64,
    /// A bidder that would get less `tmax` than this is not called, ms.
    pub min_bidder_tmax_ms: u64,
    /// Largest bidder response body read (after gunzip); larger is dropped as an error.
    pub max_response_bytes: usize,
    /// Idle keep-alive connections kept per bidder.
    pub pool_idle_per_bidder: usize,
    /// Consecutive failures (timeouts, errors) that open a bidder's circuit.
    pub circuit_failures: u32,
    /// How long an open circuit skips the bidder before probing it again, ms.
    pub circuit_open_ms: u64,
    /// Requests let through at once while half-open; one success closes the circuit.
    pub circuit_probes: u32,
    /// Retries of a notice (win, billing, loss) after a failed attempt.
    pub notice_retries: u32,
    /// Time allowed per notice attempt, ms.
    pub notice_timeout_ms: u64,
    /// Notices queued at most; when full, new ones are dropped and counted.
    pub notice_queue: usize,
}

impl Default for FanoutConfig {
    fn default() -> Self {
        Self {
            exchange_name: "rtb-exchange".to_owned(),
            network_margin_ms: 5,
            answer_margin_ms: 5,
            min_bidder_tmax_ms: 10,
            max_response_bytes: 256 * 1024,
            pool_idle_per_bidder: 64,
            circuit_failures: 5,
            circuit_open_ms: 2_000,
            circuit_probes: 1,
            notice_retries: 2,
            notice_timeout_ms: 1_000,
            notice_queue: 16_384,
        }
    }
}

/// `"300x250"` → `(300, 250)`.
pub fn parse_size(text: &str) -> Option<(i64, i64)> {
    let (w, h) = text.split_once('x')?;
    let (w, h) = (w.trim().parse().ok()?, h.trim().parse().ok()?);
    (w > 0 && h > 0 && w <= 10_000 && h <= 10_000).then_some((w, h))
}

/// Checks `[[bidders]]` and `[fanout]`; errors are `(field path, message)`.
pub(super) fn validate(config: &ExchangeConfig) -> Result<(), (String, String)> {
    let fanout = &config.fanout;
    let err = |field: &str, message: &str| Err((field.to_owned(), message.to_owned()));
    if config.bidders.len() > MAX_BIDDERS {
        return err("bidders", &format!("at most {MAX_BIDDERS} bidders"));
    }
    if fanout.exchange_name.is_empty() || fanout.exchange_name.len() > 64 {
        return err("fanout.exchange_name", "must be 1..=64 bytes");
    }
    if fanout.network_margin_ms + fanout.answer_margin_ms >= config.limits.tmax_max_ms {
        return err(
            "fanout.answer_margin_ms",
            "network_margin_ms + answer_margin_ms must stay below limits.tmax_max_ms",
        );
    }
    if !(1024..=16 * 1024 * 1024).contains(&fanout.max_response_bytes) {
        return err(
            "fanout.max_response_bytes",
            "must be between 1 KiB and 16 MiB",
        );
    }
    if fanout.circuit_failures == 0 || fanout.circuit_probes == 0 || fanout.circuit_open_ms == 0 {
        return err(
            "fanout.circuit_failures",
            "circuit_failures, circuit_probes and circuit_open_ms must be > 0",
        );
    }
    if fanout.notice_timeout_ms == 0 || fanout.notice_queue == 0 || fanout.notice_retries > 10 {
        return err(
            "fanout.notice_timeout_ms",
            "need notice_timeout_ms > 0, notice_queue > 0, notice_retries <= 10",
        );
    }
    let mut names = HashSet::new();
    for (i, bidder) in config.bidders.iter().enumerate() {
        let at = |key: &str| format!("bidders[{i}]({}).{key}", bidder.name);
        let fail = |key: &str, message: String| Err((at(key), message));
        let name_ok = !bidder.name.is_empty()
            && bidder.name.len() <= MAX_NAME_BYTES
            && bidder
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_ok {
            return fail(
                "name",
                format!("{:?}: use 1..={MAX_NAME_BYTES} of [a-z0-9_-]", bidder.name),
            );
        }
        if !names.insert(bidder.name.as_str()) {
            return fail("name", "another bidder has this name".to_owned());
        }
        match bidder.endpoint.parse::<http::Uri>() {
            Ok(uri) if uri.scheme_str() == Some("http") && uri.host().is_some() => {}
            Ok(uri) if uri.scheme_str() == Some("https") => {
                return fail("endpoint", "https is not spoken by the bidder client; put a TLS sidecar in front and use http".to_owned());
            }
            _ => {
                return fail(
                    "endpoint",
                    format!(
                        "{:?} is not an http://host[:port]/path URL",
                        bidder.endpoint
                    ),
                )
            }
        }
        if bidder.timeout_ms == 0 || bidder.timeout_ms > config.limits.tmax_max_ms {
            return fail(
                "timeout_ms",
                format!(
                    "must be 1..={} (limits.tmax_max_ms)",
                    config.limits.tmax_max_ms
                ),
            );
        }
        if !bidder.bid_adjustment.is_finite()
            || bidder.bid_adjustment <= 0.0
            || bidder.bid_adjustment > 10.0
        {
            return fail("bid_adjustment", "must be in (0, 10]".to_owned());
        }
        if config.rate_of(&bidder.currency).is_none() {
            return fail(
                "currency",
                format!("{} has no rate in fx_rates", bidder.currency),
            );
        }
        if let Some(bad) = bidder.sizes.iter().find(|s| parse_size(s).is_none()) {
            return fail("sizes", format!("{bad:?} is not WxH"));
        }
        if let Some(bad) = bidder
            .countries
            .iter()
            .find(|c| c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return fail(
                "countries",
                format!("{bad:?} is not an ISO-3166-1 alpha-3 code"),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<ExchangeConfig, String> {
        ExchangeConfig::from_toml(text, "x.toml").map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_bidder_entry_loads() {
        let config = load(
            r#"
            [fx_rates]
            CNY = 7.1
            [[bidders]]
            name = "dsp-a"
            endpoint = "http://127.0.0.1:9001/bid"
            timeout_ms = 80
            max_qps = 500
            bid_adjustment = 0.95
            currency = "CNY"
            gzip = true
            media_types = ["banner", "video"]
            sizes = ["300x250", "728x90"]
            countries = ["CHN", "USA"]
            test = true
            "#,
        )
        .expect("valid");
        let bidder = &config.bidders[0];
        assert!(bidder.accepts(MediaType::Video) && !bidder.accepts(MediaType::Native));
        assert_eq!(bidder.parsed_sizes(), [(300, 250), (728, 90)]);
    }

    #[test]
    fn each_bad_value_names_its_bidder_and_key() {
        let cases = [
            (
                "name = \"DSP A\"\nendpoint = \"http://a/b\"",
                "bidders[0](DSP A).name",
            ),
            (
                "name = \"a\"\nendpoint = \"ftp://a/b\"",
                "bidders[0](a).endpoint",
            ),
            ("name = \"a\"\nendpoint = \"https://a/b\"", "TLS sidecar"),
            (
                "name = \"a\"\nendpoint = \"http://a/b\"\ntimeout_ms = 0",
                "bidders[0](a).timeout_ms",
            ),
            (
                "name = \"a\"\nendpoint = \"http://a/b\"\nbid_adjustment = -1.0",
                "bid_adjustment",
            ),
            (
                "name = \"a\"\nendpoint = \"http://a/b\"\ncurrency = \"XYZ\"",
                "XYZ has no rate",
            ),
            (
                "name = \"a\"\nendpoint = \"http://a/b\"\nsizes = [\"300by250\"]",
                "bidders[0](a).sizes",
            ),
            (
                "name = \"a\"\nendpoint = \"http://a/b\"\ncountries = [\"cn\"]",
                "bidders[0](a).countries",
            ),
            (
                "name = \"a\"\nendpoint = \"http://a/b\"\nmedia_types = [\"popunder\"]",
                "popunder",
            ),
            (
                "name = \"a\"\nendpoint = \"http://a/b\"\ntimeout = 5",
                "timeout",
            ),
        ];
        for (entry, expected) in cases {
            let error = load(&format!("[[bidders]]\n{entry}")).expect_err(entry);
            assert!(error.contains(expected), "{entry}: {error}");
        }
        let twice = "[[bidders]]\nname = \"a\"\nendpoint = \"http://a/b\"\n".repeat(2);
        assert!(load(&twice)
            .expect_err("duplicate")
            .contains("another bidder"));
    }

    #[test]
    fn sizes_parse_strictly() {
        assert_eq!(parse_size("300x250"), Some((300, 250)));
        assert_eq!(parse_size("0x250"), None);
        assert_eq!(parse_size("300"), None);
    }
}
