//! Native ads: reads the Native Ads request carried as a string in `imp.native.request`
//! (1.0–1.2, with or without the `native` root) and assembles the response markup
//! from a native creative's assets.

use crate::campaign::Creative;
use serde_json::{json, Value};

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

    /// Native response markup (JSON text) for `creative`, with `click_url` as the link.
    pub fn render(&self, creative: &Creative, click_url: &str) -> String {
        let assets: Vec<Value> = self
            .assets
            .iter()
            .filter_map(|asset| {
                fill(asset, creative).map(|mut value| {
                    value["id"] = json!(asset.id);
                    value
                })
            })
            .collect();
        let body = json!({ "ver": "1.2", "assets": assets, "link": { "url": click_url } });
        let document = if self.wrapped {
            json!({ "native": body })
        } else {
            body
        };
        document.to_string()
    }
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

fn fill(asset: &Asset, creative: &Creative) -> Option<Value> {
    match &asset.kind {
        AssetKind::Title { len } => {
            let text = truncate(&creative.title, *len)?;
            Some(json!({ "title": { "text": text } }))
        }
        AssetKind::Image { kind, wmin, hmin } => {
            if *kind == IMAGE_ICON {
                let icon = creative.icon_url.as_ref()?;
                return Some(json!({ "img": { "url": icon } }));
            }
            (creative.w >= *wmin && creative.h >= *hmin).then(|| {
                json!({ "img": { "url": creative.image_url, "w": creative.w, "h": creative.h } })
            })
        }
        AssetKind::Data { kind, len } => {
            let source = match *kind {
                DATA_SPONSORED => creative.brand.as_deref(),
                DATA_DESC => creative.description.as_deref(),
                DATA_PRICE | DATA_SALEPRICE => creative.price_text.as_deref(),
                DATA_CTATEXT => creative.cta.as_deref(),
                _ => None,
            }?;
            Some(json!({ "data": { "value": truncate(source, *len)? } }))
        }
        AssetKind::Unsupported => None,
    }
}

/// Cuts `text` to at most `len` characters; `None` for empty text.
fn truncate(text: &str, len: Option<usize>) -> Option<String> {
    if text.is_empty() {
        return None;
    }
    Some(match len {
        Some(len) if len > 0 => text.chars().take(len).collect(),
        _ => text.to_owned(),
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
