//! `ext.prebid.targeting`: the ad-server keys Prebid Server puts on bids (`hb_pb`,
//! `hb_bidder`, `hb_size`, per-bidder `hb_pb_<code>`…), with the price bucketed by the
//! request's price granularity — the named ones (`low`, `medium`, `high`, `auto`,
//! `dense`, as Prebid defines them) or custom `{precision, ranges}`. Amounts are handled
//! in millionths, so a bucket edge is never missed by a float rounding.

use bidder_sdk::openrtb::{Bid, Json};

/// Most custom ranges read.
const MAX_RANGES: usize = 32;

/// Longest targeting key (Prebid Server's default: ad servers truncate longer ones).
const MAX_KEY_CHARS: usize = 20;

/// A price range with its bucket increment, in millionths of a currency unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    min: u64,
    max: u64,
    increment: u64,
}

/// How prices become `hb_pb` strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granularity {
    precision: usize,
    ranges: Vec<Range>,
}

const fn micros(units: u64, hundredths: u64) -> u64 {
    units * 1_000_000 + hundredths * 10_000
}

impl Granularity {
    /// Prebid's named granularities.
    pub fn named(name: &str) -> Option<Self> {
        let range = |min, max, increment| Range {
            min,
            max,
            increment,
        };
        let ranges = match name {
            "low" => vec![range(0, micros(5, 0), micros(0, 50))],
            "medium" => vec![range(0, micros(20, 0), micros(0, 10))],
            "high" => vec![range(0, micros(20, 0), micros(0, 1))],
            "auto" => vec![
                range(0, micros(5, 0), micros(0, 5)),
                range(micros(5, 0), micros(10, 0), micros(0, 10)),
                range(micros(10, 0), micros(20, 0), micros(0, 50)),
            ],
            "dense" => vec![
                range(0, micros(3, 0), micros(0, 1)),
                range(micros(3, 0), micros(8, 0), micros(0, 5)),
                range(micros(8, 0), micros(20, 0), micros(0, 50)),
            ],
            _ => return None,
        };
        Some(Self {
            precision: 2,
            ranges,
        })
    }

    /// Reads `ext.prebid.targeting.pricegranularity`: a name, or `{precision, ranges:
    /// [{min?, max, increment}]}` with ascending, non-overlapping ranges. Absent: medium.
    pub fn parse(value: Option<&Json>) -> Result<Self, String> {
        let Some(value) = value else {
            return Ok(Self::named("medium").unwrap_or_else(|| unreachable!()));
        };
        if let Some(name) = value.as_str() {
            return Self::named(name)
                .ok_or_else(|| format!("unknown price granularity {name:?} (low, medium, high, auto, dense or custom ranges)"));
        }
        let object = value.as_object().ok_or("a name or {precision, ranges}")?;
        let precision = match object.get("precision") {
            None => 2,
            Some(p) => p
                .as_u64()
                .filter(|p| *p <= 5)
                .ok_or("precision: an integer 0 to 5")? as usize,
        };
        let list = object
            .get("ranges")
            .and_then(Json::as_array)
            .filter(|r| !r.is_empty() && r.len() <= MAX_RANGES)
            .ok_or(format!("ranges: 1 to {MAX_RANGES} ranges"))?;
        let amount = |range: &Json, key: &str| -> Result<Option<u64>, String> {
            match range.get(key) {
                None => Ok(None),
                Some(v) => v
                    .as_f64()
                    .filter(|x| x.is_finite() && *x >= 0.0 && *x <= 1e6)
                    .map(|x| Some((x * 1e6).round() as u64))
                    .ok_or(format!("ranges.{key}: a number from 0 to 1000000")),
            }
        };
        let mut ranges = Vec::with_capacity(list.len());
        let mut previous_max = 0;
        for range in list {
            let min = amount(range, "min")?.unwrap_or(previous_max);
            let max = amount(range, "max")?.ok_or("ranges.max is required")?;
            let increment = amount(range, "increment")?
                .filter(|i| *i > 0)
                .ok_or("ranges.increment: a positive number")?;
            if min < previous_max || max <= min {
                return Err("ranges must ascend without overlapping (min < max)".to_owned());
            }
            ranges.push(Range {
                min,
                max,
                increment,
            });
            previous_max = max;
        }
        Ok(Self { precision, ranges })
    }

    /// The bucket of `price`: rounded down to its range's increment, capped at the top of
    /// the last range; `0.00`-style zero below the first range.
    pub fn bucket(&self, price: f64) -> String {
        let amount = if price.is_finite() && price > 0.0 {
            // A millionth of tolerance: 0.3 arrives as 0.29999999999999999.
            (price * 1e6 + 1e-3).floor() as u64
        } else {
            0
        };
        let top = self.ranges.last().map_or(0, |r| r.max);
        let bucketed = if amount >= top {
            top
        } else {
            self.ranges
                .iter()
                .find(|r| amount >= r.min && amount < r.max)
                .map_or(0, |r| r.min + (amount - r.min) / r.increment * r.increment)
        };
        format!("{:.*}", self.precision, bucketed as f64 / 1e6)
    }
}

/// What the request asked for in `ext.prebid.targeting`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targeting {
    granularity: Granularity,
    include_winners: bool,
    include_bidder_keys: bool,
    include_format: bool,
}

impl Targeting {
    /// Reads `ext.prebid.targeting` (`None` when absent: no keys are set).
    pub fn parse(request_ext: Option<&Json>) -> Result<Option<Self>, (String, String)> {
        let Some(targeting) = request_ext
            .and_then(|e| e.get("prebid"))
            .and_then(|p| p.get("targeting"))
        else {
            return Ok(None);
        };
        let field = |name: &str| format!("ext.prebid.targeting.{name}");
        if !targeting.is_object() {
            return Err((
                field("").trim_end_matches('.').to_owned(),
                "an object".to_owned(),
            ));
        }
        let flag = |name: &str, default: bool| match targeting.get(name) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or((field(name), "true or false".to_owned())),
        };
        Ok(Some(Self {
            granularity: Granularity::parse(targeting.get("pricegranularity"))
                .map_err(|message| (field("pricegranularity"), message))?,
            include_winners: flag("includewinners", true)?,
            include_bidder_keys: flag("includebidderkeys", true)?,
            include_format: flag("includeformat", false)?,
        }))
    }

    /// Sets `bid.ext.prebid.targeting` on `bid`, seated under `seat`, of media `kind`;
    /// `winner` when it is its imp's highest bid.
    pub fn keys(&self, bid: &Bid, seat: &str, kind: &str, winner: bool) -> Json {
        let mut keys = serde_json::Map::new();
        let bucket = self.granularity.bucket(bid.price);
        let size = bid.w.zip(bid.h).map(|(w, h)| format!("{w}x{h}"));
        let mut put = |key: String, value: String| {
            let key: String = key.chars().take(MAX_KEY_CHARS).collect();
            keys.insert(key, Json::String(value));
        };
        if winner && self.include_winners {
            put("hb_pb".into(), bucket.clone());
            put("hb_bidder".into(), seat.to_owned());
            if let Some(size) = &size {
                put("hb_size".into(), size.clone());
            }
            if self.include_format {
                put("hb_format".into(), kind.to_owned());
            }
        }
        if self.include_bidder_keys {
            put(format!("hb_pb_{seat}"), bucket);
            put(format!("hb_bidder_{seat}"), seat.to_owned());
            if let Some(size) = size {
                put(format!("hb_size_{seat}"), size);
            }
            if self.include_format {
                put(format!("hb_format_{seat}"), kind.to_owned());
            }
        }
        Json::Object(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bucket(granularity: &str, price: f64) -> String {
        Granularity::named(granularity)
            .expect("named")
            .bucket(price)
    }

    #[test]
    fn named_granularities_bucket_as_prebid_does() {
        assert_eq!(bucket("low", 1.87), "1.50");
        assert_eq!(bucket("low", 7.0), "5.00", "capped");
        assert_eq!(bucket("medium", 1.87), "1.80");
        assert_eq!(bucket("medium", 0.3), "0.30", "no float shortfall");
        assert_eq!(bucket("medium", 25.0), "20.00");
        assert_eq!(bucket("high", 1.876), "1.87");
        assert_eq!(bucket("auto", 3.87), "3.85");
        assert_eq!(bucket("auto", 6.87), "6.80");
        assert_eq!(bucket("auto", 12.87), "12.50");
        assert_eq!(bucket("dense", 2.876), "2.87");
        assert_eq!(bucket("dense", 4.87), "4.85");
        assert_eq!(bucket("dense", 9.99), "9.50");
        assert_eq!(bucket("medium", 0.0), "0.00");
        assert_eq!(bucket("medium", f64::NAN), "0.00");
    }

    #[test]
    fn custom_ranges_are_read_and_checked() {
        let custom = Granularity::parse(Some(&json!({
            "precision": 1,
            "ranges": [{"max": 2, "increment": 0.5}, {"max": 10, "increment": 2}]
        })))
        .expect("valid");
        assert_eq!(custom.bucket(1.9), "1.5");
        assert_eq!(custom.bucket(5.5), "4.0");
        assert_eq!(custom.bucket(50.0), "10.0");
        assert_eq!(
            Granularity::parse(None).expect("default"),
            Granularity::named("medium").expect("medium")
        );
        for bad in [
            json!("fine"),
            json!({"ranges": []}),
            json!({"ranges": [{"max": 5, "increment": 0}]}),
            json!({"ranges": [{"max": 5, "increment": 0.1}, {"min": 4, "max": 8, "increment": 0.1}]}),
            json!({"precision": 9, "ranges": [{"max": 5, "increment": 0.1}]}),
            json!(7),
        ] {
            assert!(Granularity::parse(Some(&bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_follow_the_include_flags() {
        let ext = json!({"prebid": {"targeting": {"pricegranularity": "medium", "includebidderkeys": false, "includeformat": true}}});
        let targeting = Targeting::parse(Some(&ext)).expect("valid").expect("asked");
        let bid = Bid {
            price: 2.345,
            w: Some(300),
            h: Some(250),
            ..Bid::default()
        };
        let keys = targeting.keys(&bid, "exchange", "banner", true);
        assert_eq!(
            keys,
            json!({"hb_pb": "2.30", "hb_bidder": "exchange", "hb_size": "300x250", "hb_format": "banner"})
        );
        let all = Targeting::parse(Some(&json!({"prebid": {"targeting": {}}})))
            .expect("valid")
            .expect("asked");
        let keys = all.keys(&bid, "a-very-long-bidder-code", "banner", false);
        assert!(keys.get("hb_pb").is_none(), "not the winner");
        assert_eq!(keys["hb_pb_a-very-long-bi"], "2.30", "keys cut at 20 chars");
        assert_eq!(Targeting::parse(Some(&json!({"prebid": {}}))), Ok(None));
        assert!(Targeting::parse(Some(
            &json!({"prebid": {"targeting": {"includewinners": "yes"}}})
        ))
        .is_err());
    }
}
