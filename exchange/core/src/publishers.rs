//! The publisher registry: who may sell through the exchange, from where, and under which
//! placements and sub-ids — as the affiliate unions keep them (Taobao Union's PID and
//! positionId, JD Union's subUnionId, Duoduo Jinbao's custom_parameters). Data, not code:
//! read from the file `publishers` names in `exchange.toml`, validated, and swapped with the
//! campaign snapshot.
//!
//! ```toml
//! [[publishers]]
//! id = "p1"                          # site.publisher.id / app.publisher.id
//! name = "Mama Reviews"
//! domains = ["mama.example"]         # the site and its subdomains
//! bundles = ["com.mama.reviews"]     # app bundles
//!
//! [[publishers.placements]]
//! id = "home-top"                    # imp.tagid
//! kind = "site_slot"                 # site_slot, app_slot, live_room, social_group, creator_link
//!
//! [[publishers.sub_ids]]
//! id = "wechat-group-7"              # imp.ext.sub_id or ext.sub_id, ≤ 64 characters
//! kind = "channel"                   # channel or member
//! ```
//!
//! A request names its publisher the OpenRTB way (`site.publisher.id` / `app.publisher.id`),
//! its placement by `imp.tagid`, and its sub-id by `imp.ext.sub_id` (or `ext.sub_id` for
//! every imp). With a registry, traffic whose publisher is unknown or whose domain or bundle
//! is not registered for it is still answered, but marked `source_mismatch` (JD Union's
//! invalid code 14) in what it produces. Without one, nothing is marked.

use crate::campaign::CampaignError;
use crate::url_host::site_host;
use bidder_sdk::openrtb::{BidRequest, Imp, Json};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;

/// Largest registry file read.
pub const MAX_REGISTRY_BYTES: u64 = 16 * 1024 * 1024;

/// Longest publisher, placement or sub-id id.
pub const MAX_ID_BYTES: usize = 64;

/// Where a placement shows the exchange's ads or links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlacementKind {
    /// An ad slot on a site.
    SiteSlot,
    /// An ad slot in an app.
    AppSlot,
    /// A live-streaming room.
    LiveRoom,
    /// A social group (WeChat, QQ, Telegram…).
    SocialGroup,
    /// A creator's (KOC's) link in a note or post.
    CreatorLink,
}

/// What the publisher is to the inventory it sells, as `sellers.json` says it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SellerType {
    /// It owns the sites and apps it sells (the default).
    #[default]
    Publisher,
    /// It resells other owners' inventory.
    Intermediary,
    /// Both.
    Both,
}

impl SellerType {
    /// The `sellers.json` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Publisher => "PUBLISHER",
            Self::Intermediary => "INTERMEDIARY",
            Self::Both => "BOTH",
        }
    }
}

/// Who a sub-id stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubIdKind {
    /// A channel of the publisher's (a group, a feed, a campaign of theirs).
    Channel,
    /// A member (an individual promoter under the publisher).
    Member,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    #[serde(default)]
    publishers: Vec<PublisherSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublisherSpec {
    id: String,
    name: String,
    #[serde(default)]
    domains: Vec<String>,
    #[serde(default)]
    bundles: Vec<String>,
    #[serde(default)]
    placements: Vec<PlacementSpec>,
    #[serde(default)]
    sub_ids: Vec<SubIdSpec>,
    #[serde(default)]
    buyer_accounts: Vec<String>,
    #[serde(default)]
    statement_token_sha256: Option<String>,
    #[serde(default)]
    seller_type: SellerType,
    #[serde(default)]
    confidential: bool,
    #[serde(default)]
    business_domain: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlacementSpec {
    id: String,
    #[serde(default)]
    name: String,
    kind: PlacementKind,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubIdSpec {
    id: String,
    #[serde(default)]
    name: String,
    kind: SubIdKind,
}

/// A registered placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Display name.
    pub name: String,
    /// What it is.
    pub kind: PlacementKind,
}

/// A registered sub-id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubId {
    /// Display name.
    pub name: String,
    /// Who it stands for.
    pub kind: SubIdKind,
}

/// A registered publisher.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Publisher {
    /// Display name.
    pub name: String,
    /// Registered site domains (lower case); their subdomains count too.
    pub domains: Vec<String>,
    /// Registered app bundles.
    pub bundles: Vec<String>,
    /// Placements by id (`imp.tagid`).
    pub placements: HashMap<String, Placement>,
    /// Sub-ids by id.
    pub sub_ids: HashMap<String, SubId>,
    /// Shop accounts known to be the publisher's own (as advertisers report buyers): an
    /// order they place through the publisher's own links is a self-purchase, held.
    pub buyer_accounts: Vec<String>,
    /// SHA-256 of the bearer token the publisher downloads its statements with (the
    /// registry holds no secret); none: only the operator reads them.
    pub statement_token_sha256: Option<[u8; 32]>,
    /// What it is to its inventory (`sellers.json` `seller_type`).
    pub seller_type: SellerType,
    /// `sellers.json` names neither it nor its domain.
    pub confidential: bool,
    /// Its business domain for `sellers.json` (default: its first site domain).
    pub business_domain: Option<String>,
}

/// The registry (empty: none configured, and nothing is marked).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    publishers: HashMap<String, Publisher>,
}

/// Who sold one imp: the identity every URL and record of it carries. Borrowed from the
/// request on the request path (no copy per imp), owned when read back from a notice.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Provenance<'a> {
    /// `site/app.publisher.id`, as sent.
    pub publisher: Option<Cow<'a, str>>,
    /// `imp.tagid`, as sent.
    pub placement: Option<Cow<'a, str>>,
    /// `imp.ext.sub_id`, else `ext.sub_id`.
    pub sub_id: Option<Cow<'a, str>>,
    /// The registry does not know the publisher, or not this domain or bundle for it.
    pub source_mismatch: bool,
    /// The page's IAB tier-1 category, the key outcomes are learned under
    /// (`learning::page_category`); filled by the endpoint, signed as `pc`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_category: Option<u16>,
}

/// 1–64 letters, digits, `-`, `_`, `.` or `:`.
pub fn is_id(value: &str) -> bool {
    (1..=MAX_ID_BYTES).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

impl Registry {
    /// Compiles registry text (TOML); `file` names it in errors, each with its field.
    pub fn parse(text: &str, file: &str) -> Result<Self, Vec<CampaignError>> {
        let error = |field: String, message: &str| CampaignError::new(file, &field, message);
        let spec: RegistryFile =
            toml::from_str(text).map_err(|e| vec![error(String::new(), e.message())])?;
        let mut errors = Vec::new();
        let mut registry = Self::default();
        let id_rule = "1–64 letters, digits, '-', '_', '.' or ':'";
        for (i, spec) in spec.publishers.into_iter().enumerate() {
            let field = format!("publishers[{i}]({})", spec.id);
            if !is_id(&spec.id) {
                errors.push(error(format!("{field}.id"), id_rule));
            }
            if spec.name.trim().is_empty() {
                errors.push(error(format!("{field}.name"), "a name is required"));
            }
            let mut publisher = Publisher {
                name: spec.name,
                seller_type: spec.seller_type,
                confidential: spec.confidential,
                ..Publisher::default()
            };
            if let Some(domain) = &spec.business_domain {
                let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
                if !crate::url_host::is_domain(&domain) {
                    errors.push(error(format!("{field}.business_domain"), "a host name"));
                }
                publisher.business_domain = Some(domain);
            }
            for (j, domain) in spec.domains.iter().enumerate() {
                let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
                if domain.is_empty()
                    || domain.len() > 253
                    || !domain
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                {
                    errors.push(error(format!("{field}.domains[{j}]"), "a host name"));
                }
                publisher.domains.push(domain);
            }
            for (j, bundle) in spec.bundles.iter().enumerate() {
                if bundle.is_empty() || bundle.len() > 255 {
                    errors.push(error(format!("{field}.bundles[{j}]"), "1–255 characters"));
                }
                publisher.bundles.push(bundle.clone());
            }
            for (j, placement) in spec.placements.into_iter().enumerate() {
                let at = format!("{field}.placements[{j}]");
                if !is_id(&placement.id) {
                    errors.push(error(format!("{at}.id"), id_rule));
                }
                let entry = Placement {
                    name: placement.name,
                    kind: placement.kind,
                };
                if publisher.placements.insert(placement.id, entry).is_some() {
                    errors.push(error(at, "duplicate placement id"));
                }
            }
            for (j, sub_id) in spec.sub_ids.into_iter().enumerate() {
                let at = format!("{field}.sub_ids[{j}]");
                if !is_id(&sub_id.id) {
                    errors.push(error(format!("{at}.id"), id_rule));
                }
                let entry = SubId {
                    name: sub_id.name,
                    kind: sub_id.kind,
                };
                if publisher.sub_ids.insert(sub_id.id, entry).is_some() {
                    errors.push(error(at, "duplicate sub-id"));
                }
            }
            for (j, account) in spec.buyer_accounts.into_iter().enumerate() {
                if account.is_empty() || account.len() > 64 || account.chars().any(char::is_control)
                {
                    errors.push(error(
                        format!("{field}.buyer_accounts[{j}]"),
                        "1–64 printable bytes",
                    ));
                }
                publisher.buyer_accounts.push(account);
            }
            if let Some(hash) = &spec.statement_token_sha256 {
                publisher.statement_token_sha256 = crate::ledger::unhex::<32>(hash);
                if publisher.statement_token_sha256.is_none() {
                    errors.push(error(
                        format!("{field}.statement_token_sha256"),
                        "64 hex digits (sha256sum of the token)",
                    ));
                }
            }
            if registry.publishers.insert(spec.id, publisher).is_some() {
                errors.push(error(field, "duplicate publisher id"));
            }
        }
        if errors.is_empty() {
            Ok(registry)
        } else {
            Err(errors)
        }
    }

    /// Whether a registry is configured (holds any publisher).
    pub fn is_empty(&self) -> bool {
        self.publishers.is_empty()
    }

    /// Registered publishers.
    pub fn len(&self) -> usize {
        self.publishers.len()
    }

    /// A registered publisher.
    pub fn get(&self, id: &str) -> Option<&Publisher> {
        self.publishers.get(id)
    }

    /// Every publisher with its id, in id order.
    pub fn sorted(&self) -> Vec<(&str, &Publisher)> {
        let mut all: Vec<(&str, &Publisher)> = self
            .publishers
            .iter()
            .map(|(id, p)| (id.as_str(), p))
            .collect();
        all.sort_by_key(|(id, _)| *id);
        all
    }

    /// Whether the request's source is registered for its publisher (always, without a
    /// registry).
    pub fn source_registered(&self, request: &BidRequest) -> bool {
        if self.is_empty() {
            return true;
        }
        if let Some(site) = &request.site {
            let publisher = site.publisher.as_ref().and_then(|p| p.id.as_deref());
            let host = site_host(site.domain.as_deref(), site.page.as_deref());
            return match (publisher.and_then(|id| self.get(id)), host) {
                (Some(known), Some(host)) => known.domains.iter().any(|d| {
                    host == *d
                        || host
                            .strip_suffix(d.as_str())
                            .is_some_and(|rest| rest.ends_with('.'))
                }),
                _ => false,
            };
        }
        if let Some(app) = &request.app {
            let publisher = app.publisher.as_ref().and_then(|p| p.id.as_deref());
            return match (publisher.and_then(|id| self.get(id)), app.bundle.as_deref()) {
                (Some(known), Some(bundle)) => known.bundles.iter().any(|b| b == bundle),
                _ => false,
            };
        }
        // Digital out-of-home: no domain or bundle to check.
        true
    }
}

/// The publisher id a request names (`site` or `app`).
pub fn publisher_id(request: &BidRequest) -> Option<&str> {
    request
        .site
        .as_ref()
        .and_then(|s| s.publisher.as_ref())
        .or_else(|| request.app.as_ref().and_then(|a| a.publisher.as_ref()))
        .and_then(|p| p.id.as_deref())
}

/// The sub-id of `imp`: `imp.ext.sub_id`, else the request's `ext.sub_id`. `Err` names the
/// field when one is given but is not an id ([`is_id`]).
pub fn sub_id<'a>(request: &'a BidRequest, imp: &'a Imp) -> Result<Option<&'a str>, String> {
    let read = |ext: Option<&'a Json>, field: &str| -> Result<Option<&'a str>, String> {
        match ext.and_then(|e| e.get("sub_id")) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(id)) if is_id(id) => Ok(Some(id.as_str())),
            Some(_) => Err(field.to_owned()),
        }
    };
    match read(imp.ext.as_ref(), "imp.ext.sub_id")? {
        Some(id) => Ok(Some(id)),
        None => read(request.ext.as_ref(), "ext.sub_id"),
    }
}

/// The provenance of each imp of `request` under `registry`; `Err` names a malformed
/// sub-id (`imp[i].ext.sub_id` or `ext.sub_id`).
pub fn provenance<'r>(
    registry: &Registry,
    request: &'r BidRequest,
) -> Result<Vec<Provenance<'r>>, String> {
    let publisher = publisher_id(request).filter(|id| id.len() <= MAX_ID_BYTES);
    let source_mismatch = !registry.source_registered(request);
    request
        .imp
        .iter()
        .enumerate()
        .map(|(i, imp)| {
            let sub_id = sub_id(request, imp)
                .map_err(|field| field.replacen("imp.", &format!("imp[{i}]."), 1))?;
            Ok(Provenance {
                publisher: publisher.map(Cow::Borrowed),
                placement: imp
                    .tagid
                    .as_deref()
                    .filter(|t| !t.is_empty() && t.len() <= MAX_ID_BYTES)
                    .map(Cow::Borrowed),
                sub_id: sub_id.map(Cow::Borrowed),
                source_mismatch,
                page_category: None,
            })
        })
        .collect()
}

/// The signed fields naming who sold the imp: `pub`, `plc`, `sub`, `mm=1` for a source
/// the publisher registry does not have, and `pc`, the page's category.
pub(crate) fn push_signed<'a>(
    pairs: &mut Vec<(&'static str, &'a str)>,
    provenance: Option<&'a Provenance<'a>>,
) {
    let Some(provenance) = provenance else {
        return;
    };
    for (name, value) in [
        ("pub", &provenance.publisher),
        ("plc", &provenance.placement),
        ("sub", &provenance.sub_id),
    ] {
        if let Some(value) = value {
            pairs.push((name, value.as_ref()));
        }
    }
    if provenance.source_mismatch {
        pairs.push(("mm", "1"));
    }
    if let Some(text) = provenance
        .page_category
        .and_then(crate::context::category::category_text)
    {
        pairs.push(("pc", text));
    }
}

pub mod sellers;

#[cfg(test)]
mod tests;
