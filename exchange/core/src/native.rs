//! Native ads: reads the Native Ads request carried as a string in `imp.native.request`
//! (1.0–1.2, with or without the `native` root) and assembles the response markup
//! from a native creative's assets.

use crate::campaign::Creative;
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;

/// Most assets read from one native request.
pub const MAX_NATIVE_ASSETS: usize = 32;
/// Longest native request string parsed.
pub const MAX_NATIVE_REQUEST_BYTES: usize = 16 * 1024;

/// Image asset types (Native 1.2 table 7.4).
const IMAGE_ICON: i64 = 1;
/// Data asset types (Native 1.2 table 7.3).
const DATA_SPONSORED: i64 = 1;
const DATA_DESC: i64 = 2;
const DATA_PRICE: i64 = 6;
const DATA_SALEPRICE: i64 = 7;
const DATA_CTATEXT: i64 = 12;

#[derive(Debug, Clone, PartialEq)]
enum AssetKind {
    Title { len: Option<usize> },
    Image { kind: i64, wmin: u32, hmin: u32 },
    Data { kind: i64, len: Option<usize> },
    Unsupported,
}

#[derive(Debug, Clone, PartialEq)]
struct Asset {
    id: i64,
    required: bool,
    kind: AssetKind,
}

/// The assets a native slot asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct NativeSpec {
    assets: Vec<Asset>,
    wrapped: bool,
}

impl NativeSpec {
    /// Parses a native request string; `None` when it is not a usable native request
    /// (the slot then gets no native ads, the request is still served).
    pub fn parse(request: &str) -> Option<Self> {
        if request.len() > MAX_NATIVE_REQUEST_BYTES {
            return None;
        }
        let root: Value = serde_json::from_str(request).ok()?;
        let (body, wrapped) = match root.get("native") {
            Some(inner) => (inner, true),
            None => (&root, false),
        };
        let assets = body.get("assets")?.as_array()?;
        let assets = assets
            .iter()
            .take(MAX_NATIVE_ASSETS)
            .filter_map(parse_asset)
            .collect::<Vec<_>>();
        (!assets.is_empty()).then_some(Self { assets, wrapped })
    }

    /// Whether `creative` can supply every required asset.
    pub fn fits(&self, creative: &Creative) -> bool {
        self.assets
            .iter()
            .filter(|a| a.required)
            .all(|a| fill(a, creative).is_some())
    }

    /// The native response (`adm`) for `creative`, linking to `click_url`: every
    /// asset the creative supplies, in the request's order and wrapping.
    pub fn render(&self, creative: &Creative, click_url: &str) -> String {
        let body = NativeResponse {
            ver: "1.2",
            assets: self
                .assets
                .iter()
                .filter_map(|asset| fill(asset, creative))
                .collect(),
            link: Link { url: click_url },
        };
        let written = if self.wrapped {
            serde_json::to_string(&Wrapped { native: body })
        } else {
            serde_json::to_string(&body)
        };
        // Strings and integers only: serialising cannot fail.
        written.unwrap_or_default()
    }
}

/// The Native Ads response object, written straight from the creative's strings.
#[derive(Serialize)]
struct NativeResponse<'a> {
    ver: &'static str,
    assets: Vec<FilledAsset<'a>>,
    link: Link<'a>,
}

/// The 1.0 response root (`{"native": …}`), when the request had it.
#[derive(Serialize)]
struct Wrapped<'a> {
    native: NativeResponse<'a>,
}

#[derive(Serialize)]
struct Link<'a> {
    url: &'a str,
}

/// One response asset: its id and the one part the creative filled.
#[derive(Serialize)]
struct FilledAsset<'a> {
    id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<TitleText<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    img: Option<Image<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<DataValue<'a>>,
}

#[derive(Serialize)]
struct TitleText<'a> {
    text: Cow<'a, str>,
}

#[derive(Serialize)]
struct Image<'a> {
    url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    w: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    h: Option<u32>,
}

#[derive(Serialize)]
struct DataValue<'a> {
    value: Cow<'a, str>,
}

fn parse_asset(asset: &Value) -> Option<Asset> {
    let id = asset.get("id")?.as_i64()?;
    let required = asset.get("required").and_then(Value::as_i64) == Some(1);
    let dimension = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_u64)
            .map_or(0, |n| n.min(u32::MAX as u64) as u32)
    };
    let kind = if let Some(title) = asset.get("title") {
        AssetKind::Title {
            len: title.get("len").and_then(Value::as_u64).map(|n| n as usize),
        }
    } else if let Some(img) = asset.get("img") {
        AssetKind::Image {
            kind: img.get("type").and_then(Value::as_i64).unwrap_or(3),
            wmin: dimension(img, "wmin"),
            hmin: dimension(img, "hmin"),
        }
    } else if let Some(data) = asset.get("data") {
        AssetKind::Data {
            kind: data.get("type").and_then(Value::as_i64).unwrap_or(0),
            len: data.get("len").and_then(Value::as_u64).map(|n| n as usize),
        }
    } else {
        AssetKind::Unsupported
    };
    Some(Asset { id, required, kind })
}

fn fill<'a>(asset: &Asset, creative: &'a Creative) -> Option<FilledAsset<'a>> {
    let mut filled = FilledAsset {
        id: asset.id,
        title: None,
        img: None,
        data: None,
    };
    match &asset.kind {
        AssetKind::Title { len } => {
            filled.title = Some(TitleText {
                text: truncate(&creative.title, *len)?,
            });
        }
        AssetKind::Image { kind, wmin, hmin } => {
            filled.img = Some(if *kind == IMAGE_ICON {
                Image {
                    url: creative.icon_url.as_deref()?,
                    w: None,
                    h: None,
                }
            } else if creative.w >= *wmin && creative.h >= *hmin {
                Image {
                    url: &creative.image_url,
                    w: Some(creative.w),
                    h: Some(creative.h),
                }
            } else {
                return None;
            });
        }
        AssetKind::Data { kind, len } => {
            let source = match *kind {
                DATA_SPONSORED => creative.brand.as_deref(),
                DATA_DESC => creative.description.as_deref(),
                DATA_PRICE | DATA_SALEPRICE => creative.price_text.as_deref(),
                DATA_CTATEXT => creative.cta.as_deref(),
                _ => None,
            }?;
            filled.data = Some(DataValue {
                value: truncate(source, *len)?,
            });
        }
        AssetKind::Unsupported => return None,
    }
    Some(filled)
}

/// Cuts `text` to at most `len` characters; `None` for empty text.
fn truncate(text: &str, len: Option<usize>) -> Option<Cow<'_, str>> {
    if text.is_empty() {
        return None;
    }
    Some(match len {
        Some(len) if len > 0 && text.chars().nth(len).is_some() => {
            Cow::Owned(text.chars().take(len).collect())
        }
        _ => Cow::Borrowed(text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::{CreativeKind, MarkupTemplate};

    fn creative() -> Creative {
        Creative {
            id: "n1".into(),
            kind: CreativeKind::Native,
            w: 1200,
            h: 627,
            image_url: "https://img.example/main.jpg".into(),
            landing_url: "https://shop.example/p".into(),
            title: "婴儿纸尿裤 超薄透气".into(),
            description: Some("夜用不漏".into()),
            brand: Some("暖芽".into()),
            price_text: None,
            cta: Some("立即购买".into()),
            icon_url: None,
            markup: std::sync::Arc::new(MarkupTemplate::parse("")),
            attr: vec![],
            secure: true,
        }
    }

    #[test]
    fn fills_required_assets_and_truncates_titles() {
        let spec = NativeSpec::parse(
            r#"{"native":{"ver":"1.1","assets":[
            {"id":1,"required":1,"title":{"len":4}},
            {"id":2,"required":1,"img":{"type":3,"wmin":600,"hmin":300}},
            {"id":3,"data":{"type":2}},{"id":4,"data":{"type":6}}]}}"#,
        )
        .expect("valid");
        assert!(spec.fits(&creative()));
        let adm: Value =
            serde_json::from_str(&spec.render(&creative(), "https://click")).expect("json");
        let assets = adm["native"]["assets"].as_array().expect("assets");
        assert_eq!(assets.len(), 3, "price asset is optional and absent");
        assert_eq!(assets[0]["title"]["text"], "婴儿纸尿");
        assert_eq!(adm["native"]["link"]["url"], "https://click");
    }

    #[test]
    fn renders_each_filled_asset_under_its_own_name() {
        let spec = NativeSpec::parse(
            r#"{"assets":[{"id":7,"img":{"type":1}},{"id":1,"title":{"len":90}},
            {"id":2,"img":{"type":3}},{"id":3,"data":{"type":1}},{"id":4,"data":{"type":12,"len":2}}]}"#,
        )
        .expect("valid");
        let adm = spec.render(&creative(), "https://click/?a=\"b\"");
        assert_eq!(
            adm,
            r#"{"ver":"1.2","assets":[{"id":1,"title":{"text":"婴儿纸尿裤 超薄透气"}},{"id":2,"img":{"url":"https://img.example/main.jpg","w":1200,"h":627}},{"id":3,"data":{"value":"暖芽"}},{"id":4,"data":{"value":"立即"}}],"link":{"url":"https://click/?a=\"b\""}}"#,
            "no icon (the creative has none), no wrapping root, strings escaped"
        );
    }

    #[test]
    fn unmet_required_asset_does_not_fit() {
        let spec = NativeSpec::parse(r#"{"assets":[{"id":1,"required":1,"data":{"type":6}}]}"#)
            .expect("valid");
        assert!(!spec.fits(&creative()));
    }

    #[test]
    fn placeholders_and_garbage_are_not_native_specs() {
        assert_eq!(NativeSpec::parse("..."), None);
        assert_eq!(NativeSpec::parse(r#"{"assets":"x"}"#), None);
        assert_eq!(NativeSpec::parse(&"[".repeat(100_000)), None);
    }
}
