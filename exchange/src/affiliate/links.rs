//! Promotion links for placements that are not ad slots (a live room, a group post, a
//! creator's note): `POST /admin/links` makes one for a campaign + publisher + placement +
//! sub-id, valid for a set time — a signed link ([`crate::click::link_url`]), a short code
//! (`/s/{code}`, 8 random base-62 characters, kept in the affiliate database) and its QR
//! code (`/s/{code}.svg`, `/s/{code}.png`). A click on either is a click like any other
//! (`clicks_in`): recorded, judged, credited with the orders it brings.

use crate::click::{link_url, LinkFacts};
use crate::notice::Signer;
use crate::publishers::{is_id, Provenance};
use crate::receive::reply::{json, Body};
use crate::state::AppState;
use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use serde::Deserialize;
use std::borrow::Cow;
use std::sync::Arc;

/// Default validity of a link, hours (30 days).
const DEFAULT_VALID_HOURS: u32 = 720;
/// Longest validity of a link, hours (a year).
const MAX_VALID_HOURS: u32 = 8760;
/// Characters of a short code.
const CODE_LENGTH: usize = 8;
/// Pixels per QR module in the PNG, and modules of quiet zone around it.
const PNG_SCALE: usize = 8;

/// What `POST /admin/links` reads.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// The campaign promoted.
    pub campaign: String,
    /// Its creative whose landing page the link opens (default: the first).
    #[serde(default)]
    pub creative: Option<String>,
    /// The promoting publisher.
    pub publisher: String,
    /// Its placement (a live room, group, creator link).
    #[serde(default)]
    pub placement: Option<String>,
    /// A sub-id (channel or member).
    #[serde(default)]
    pub sub_id: Option<String>,
    /// Hours the link stays valid (1–8760; default 720).
    #[serde(default)]
    pub valid_hours: Option<u32>,
}

fn invalid(field: &str, message: &str) -> Response<Body> {
    json(
        StatusCode::BAD_REQUEST,
        &serde_json::json!({ "error": message, "field": field }),
    )
}

/// A new random short code.
fn new_code() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let bytes: [u8; CODE_LENGTH] = rand::random();
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// Answers `POST /admin/links` (the caller is the operator, or a portal on its behalf).
pub async fn create(state: Arc<AppState>, body: Bytes) -> Response<Body> {
    let Some(database) = state.affiliate.database.clone() else {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({ "error": "no affiliate database configured", "field": "affiliate.database" }),
        );
    };
    let mut deserializer = serde_json::Deserializer::from_slice(&body);
    let request: LinkRequest = match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(request) => request,
        Err(error) => {
            let field = error.path().to_string();
            return invalid(&field, &error.into_inner().to_string());
        }
    };
    let serving = state.serving();
    let Some(campaign) = serving.snapshot.campaign(&request.campaign) else {
        return invalid("campaign", "no such campaign is serving");
    };
    let creative = match &request.creative {
        Some(id) => campaign.creatives.iter().find(|c| &c.id == id),
        None => campaign.creatives.first(),
    };
    let Some(creative) = creative else {
        return invalid("creative", "the campaign has no such creative");
    };
    if !is_id(&request.publisher) {
        return invalid(
            "publisher",
            "need 1-64 letters, digits, '-', '_', '.' or ':'",
        );
    }
    let registry = &serving.snapshot.publishers;
    if !registry.is_empty() {
        let Some(publisher) = registry.get(&request.publisher) else {
            return invalid("publisher", "not in the publisher registry");
        };
        if let Some(placement) = &request.placement {
            if !publisher.placements.contains_key(placement) {
                return invalid(
                    "placement",
                    "not a placement of this publisher in the registry",
                );
            }
        }
    }
    for (field, value) in [
        ("placement", &request.placement),
        ("sub_id", &request.sub_id),
    ] {
        if value.as_deref().is_some_and(|v| !is_id(v)) {
            return invalid(field, "need 1-64 letters, digits, '-', '_', '.' or ':'");
        }
    }
    let hours = request.valid_hours.unwrap_or(DEFAULT_VALID_HOURS);
    if !(1..=MAX_VALID_HOURS).contains(&hours) {
        return invalid("valid_hours", "must be 1..=8760");
    }
    let now_ms = state.clock.now_millis();
    let expires = now_ms.div_euclid(1000) + i64::from(hours) * 3600;
    let commission_rate = match campaign.pricing {
        crate::campaign::Pricing::Cps {
            commission_rate, ..
        } => Some(commission_rate),
        _ => None,
    };
    let provenance = Provenance {
        publisher: Some(Cow::Borrowed(request.publisher.as_str())),
        placement: request.placement.as_deref().map(Cow::Borrowed),
        sub_id: request.sub_id.as_deref().map(Cow::Borrowed),
        source_mismatch: false,
        page_category: None,
    };
    let signer = Signer {
        keys: &state.notice_keys,
        expires,
    };
    let public_url = &state.config.public_url;
    // A code already taken (62^8 of them: rarely) is drawn again.
    for _ in 0..4 {
        let code = new_code();
        let url = link_url(
            &signer,
            public_url,
            &LinkFacts {
                link: &code,
                campaign: &campaign.id,
                creative: &creative.id,
                provenance: &provenance,
                commission_rate,
            },
        );
        let query = url
            .split_once('?')
            .map(|(_, q)| q.to_owned())
            .unwrap_or_default();
        let db = Arc::clone(&database);
        let stored = {
            let code = code.clone();
            let campaign = campaign.id.clone();
            let publisher = request.publisher.clone();
            tokio::task::spawn_blocking(move || {
                db.insert_link(&code, &query, &campaign, &publisher, expires * 1000, now_ms)
            })
            .await
        };
        match stored {
            Ok(Ok(true)) => {
                let short = format!("{public_url}/s/{code}");
                return json(
                    StatusCode::CREATED,
                    &serde_json::json!({
                        "code": code,
                        "url": url,
                        "short_url": short,
                        "qr_svg": format!("{short}.svg"),
                        "qr_png": format!("{short}.png"),
                        "expires": expires,
                    }),
                );
            }
            Ok(Ok(false)) => continue,
            _ => break,
        }
    }
    json(
        StatusCode::SERVICE_UNAVAILABLE,
        &serde_json::json!({ "error": "the link was not stored; retry", "field": "store" }),
    )
}

/// What `/s/{...}` asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ShortKind {
    /// The link itself (a click).
    #[default]
    Click,
    /// Its QR code as SVG.
    Svg,
    /// Its QR code as PNG.
    Png,
}

/// Splits `/s/{code}[.svg|.png]`; `None` for anything else.
pub fn short_path(path: &str) -> Option<(&str, ShortKind)> {
    let rest = path.strip_prefix("/s/")?;
    let (code, kind) = match rest.rsplit_once('.') {
        Some((code, "svg")) => (code, ShortKind::Svg),
        Some((code, "png")) => (code, ShortKind::Png),
        Some(_) => return None,
        None => (rest, ShortKind::Click),
    };
    (code.len() == CODE_LENGTH && code.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then_some((code, kind))
}

/// The QR code of `text` as SVG.
pub fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .build(),
    )
}

/// The QR code of `text` as a greyscale PNG (8 pixels per module, a quiet zone
/// of four modules).
pub fn qr_png(text: &str) -> Option<Vec<u8>> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    let modules = code.width();
    let colors = code.to_colors();
    let quiet = 4;
    let side = (modules + 2 * quiet) * PNG_SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != qrcode::Color::Dark {
            continue;
        }
        let (x, y) = (i % modules + quiet, i / modules + quiet);
        for dy in 0..PNG_SCALE {
            let row = (y * PNG_SCALE + dy) * side;
            pixels[row + x * PNG_SCALE..row + (x + 1) * PNG_SCALE].fill(0);
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().ok()?;
        writer.write_image_data(&pixels).ok()?;
    }
    Some(out)
}

/// Answers `/s/{code}` (the link's click), `/s/{code}.svg` and `/s/{code}.png`.
pub async fn short(
    state: Arc<AppState>,
    code: String,
    kind: ShortKind,
    headers: http::HeaderMap,
    peer: Option<std::net::IpAddr>,
) -> Response<Body> {
    let Some(database) = state.affiliate.database.clone() else {
        return gone();
    };
    let now_ms = state.clock.now_millis();
    let lookup = {
        let code = code.clone();
        tokio::task::spawn_blocking(move || database.link(&code)).await
    };
    let query = match lookup {
        Ok(Ok(Some((query, expires_ms)))) if expires_ms > now_ms => query,
        Ok(Ok(_)) => return gone(),
        _ => {
            return json(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({ "error": "link lookup failed; retry", "field": "store" }),
            )
        }
    };
    let short = format!("{}/s/{code}", state.config.public_url);
    let (body, content_type) = match kind {
        ShortKind::Click => {
            return super::clicks_in::receive_link(&state, &query, &headers, peer);
        }
        ShortKind::Svg => (qr_svg(&short).map(Bytes::from), "image/svg+xml"),
        ShortKind::Png => (qr_png(&short).map(Bytes::from), "image/png"),
    };
    let Some(body) = body else { return gone() };
    let mut response = Response::new(http_body_util::Full::new(body));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn gone() -> Response<Body> {
    json(
        StatusCode::GONE,
        &serde_json::json!({ "error": "no such link, or it has expired", "field": "code", "reason": "expired" }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_paths_name_a_code_and_a_kind() {
        assert_eq!(
            short_path("/s/Ab3dE6gH"),
            Some(("Ab3dE6gH", ShortKind::Click))
        );
        assert_eq!(
            short_path("/s/Ab3dE6gH.svg"),
            Some(("Ab3dE6gH", ShortKind::Svg))
        );
        assert_eq!(
            short_path("/s/Ab3dE6gH.png"),
            Some(("Ab3dE6gH", ShortKind::Png))
        );
        for bad in [
            "/s/",
            "/s/short",
            "/s/Ab3dE6gH.gif",
            "/s/Ab3dE6g!",
            "/x/Ab3dE6gH",
            "/s/Ab3dE6gH/x",
        ] {
            assert_eq!(short_path(bad), None, "{bad}");
        }
        assert!(short_path(&format!("/s/{}", new_code())).is_some());
    }

    #[test]
    fn the_qr_codes_decode_to_the_short_url() {
        let url = "https://ads.example/s/Ab3dE6gH";
        let svg = qr_svg(url).expect("svg");
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{svg}");
        let png = qr_png(url).expect("png");
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().expect("a png");
        let mut pixels = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut pixels).expect("a frame");
        let (width, height) = (info.width as usize, info.height as usize);
        // An independent decoder reads the picture back.
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
            pixels[y * width + x]
        });
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1, "one symbol");
        let (_, text) = grids[0].decode().expect("decodes");
        assert_eq!(text, url);
    }
}
