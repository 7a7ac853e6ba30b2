//! The supply chain (IAB SupplyChain object 1.0): every seller a request passed through,
//! read from `source.schain` (OpenRTB 2.6) or `source.ext.schain` (2.5), checked, and
//! extended with the exchange's own node before it goes to bidders.
//!
//! The exchange's node says who it bought the request from: `asi` is the exchange's own
//! advertising-system domain (`[supply_chain] asi`, the domain of its `sellers.json`), `sid`
//! the publisher's id (its `seller_id` there), `rid` the id of the request the exchange
//! sends, `hp` 1. The chain stays complete only when everything before the exchange is
//! known: the incoming chain says it is complete, or, with no incoming chain, the
//! publisher registry knows the seller, owns the inventory (`seller_type` publisher or
//! both) and the site or app is registered for it.
//!
//! A chain that breaks the specification (no `nodes`, a node without `asi` or `sid`, a
//! version other than 1.0, …) is never forwarded as if it were true: the caller refuses
//! the request or replaces the chain by the exchange's node alone, marked incomplete
//! (`[supply_chain] invalid`).

use crate::publishers::{self, Registry, SellerType};
pub use crate::url_host::is_domain;
use bidder_sdk::openrtb::{BidRequest, Json};
use serde_json::Map;

/// The only SupplyChain version there is.
pub const VERSION: &str = "1.0";
/// Most nodes read from a request (a longer chain is refused as invalid).
pub const MAX_NODES: usize = 20;
/// Longest `sid` (the specification's limit).
pub const MAX_SID_BYTES: usize = 64;
/// Longest `asi`, `rid`, `name` or `domain`.
pub const MAX_TEXT_BYTES: usize = 253;

/// Why an incoming chain is not a valid SupplyChain object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainProblem {
    /// Not a JSON object.
    NotAnObject,
    /// `complete` missing or not 0 or 1.
    Complete,
    /// `ver` missing or not "1.0".
    Version,
    /// `nodes` missing, empty or not an array.
    Nodes,
    /// More than [`MAX_NODES`] nodes.
    TooManyNodes,
    /// A node is not an object.
    Node,
    /// A node's `asi` is missing or not a domain.
    Asi,
    /// A node's `sid` is missing, empty, too long or not printable.
    Sid,
    /// A node's `hp` is not 0 or 1.
    Hp,
    /// A node's `rid`, `name` or `domain` is not a bounded printable string.
    Text,
}

impl ChainProblem {
    /// Stable label (metrics, the debug view, errors).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotAnObject => "not_an_object",
            Self::Complete => "complete",
            Self::Version => "version",
            Self::Nodes => "nodes",
            Self::TooManyNodes => "too_many_nodes",
            Self::Node => "node",
            Self::Asi => "asi",
            Self::Sid => "sid",
            Self::Hp => "hp",
            Self::Text => "text",
        }
    }

    /// What the specification wants, for the error message.
    pub fn rule(self) -> &'static str {
        match self {
            Self::NotAnObject => "a SupplyChain object",
            Self::Complete => "complete is 0 or 1",
            Self::Version => "ver is \"1.0\"",
            Self::Nodes => "nodes is a non-empty array",
            Self::TooManyNodes => "at most 20 nodes",
            Self::Node => "each node is an object",
            Self::Asi => "asi is the advertising system's domain",
            Self::Sid => "sid is 1-64 printable characters",
            Self::Hp => "hp is 0 or 1",
            Self::Text => "rid, name and domain are printable strings of at most 253 bytes",
        }
    }
}

/// An invalid incoming chain: the field at fault and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainError {
    /// The field, e.g. `source.schain.nodes[1].sid`.
    pub field: String,
    /// What is wrong with it.
    pub problem: ChainProblem,
}

/// What the request brought.
#[derive(Debug, Clone, PartialEq)]
pub enum Upstream<'a> {
    /// No chain: the publisher sold to the exchange directly, or did not say.
    Absent,
    /// A valid chain.
    Valid(&'a Map<String, Json>),
    /// A chain that breaks the specification.
    Invalid(ChainError),
}

/// Whether the chain the bidders get goes back to the inventory's owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainStatus {
    /// Complete: every seller back to the owner is named.
    Complete,
    /// Incomplete: some seller before the exchange is not known.
    Incomplete,
    /// The request's chain was invalid; the exchange's node stands alone, incomplete.
    Invalid,
}

impl ChainStatus {
    /// Every status, in label order.
    pub const ALL: [ChainStatus; 3] = [Self::Complete, Self::Incomplete, Self::Invalid];

    /// Stable label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Incomplete => "incomplete",
            Self::Invalid => "invalid",
        }
    }
}

/// The chain bidders get, and what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The SupplyChain object for `source.schain`.
    pub chain: Json,
    /// Complete, incomplete or rebuilt from an invalid one.
    pub status: ChainStatus,
    /// The incoming chain's problem, when it was invalid.
    pub problem: Option<ChainError>,
}

/// The request's chain: `source.schain`, else `source.ext.schain`, checked.
pub fn read(request: &BidRequest) -> Upstream<'_> {
    let Some(source) = &request.source else {
        return Upstream::Absent;
    };
    let (value, field) = match (
        &source.schain,
        source.ext.as_ref().and_then(|e| e.get("schain")),
    ) {
        (Some(chain), _) if !chain.is_null() => (chain, "source.schain"),
        (_, Some(chain)) if !chain.is_null() => (chain, "source.ext.schain"),
        _ => return Upstream::Absent,
    };
    match check(value, field) {
        Ok(chain) => Upstream::Valid(chain),
        Err(error) => Upstream::Invalid(error),
    }
}

/// Checks one SupplyChain object against the specification (1.0).
pub fn check<'a>(value: &'a Json, field: &str) -> Result<&'a Map<String, Json>, ChainError> {
    let fail = |at: String, problem| ChainError { field: at, problem };
    let chain = value
        .as_object()
        .ok_or_else(|| fail(field.to_owned(), ChainProblem::NotAnObject))?;
    if !matches!(chain.get("complete").and_then(Json::as_i64), Some(0 | 1)) {
        return Err(fail(format!("{field}.complete"), ChainProblem::Complete));
    }
    if chain.get("ver").and_then(Json::as_str) != Some(VERSION) {
        return Err(fail(format!("{field}.ver"), ChainProblem::Version));
    }
    let nodes = chain
        .get("nodes")
        .and_then(Json::as_array)
        .filter(|nodes| !nodes.is_empty())
        .ok_or_else(|| fail(format!("{field}.nodes"), ChainProblem::Nodes))?;
    if nodes.len() > MAX_NODES {
        return Err(fail(format!("{field}.nodes"), ChainProblem::TooManyNodes));
    }
    for (i, node) in nodes.iter().enumerate() {
        let at = format!("{field}.nodes[{i}]");
        let node = node
            .as_object()
            .ok_or_else(|| fail(at.clone(), ChainProblem::Node))?;
        let text = |name: &str| node.get(name).and_then(Json::as_str);
        if !text("asi").is_some_and(is_domain) {
            return Err(fail(format!("{at}.asi"), ChainProblem::Asi));
        }
        if !text("sid").is_some_and(|sid| printable(sid, MAX_SID_BYTES)) {
            return Err(fail(format!("{at}.sid"), ChainProblem::Sid));
        }
        if let Some(hp) = node.get("hp") {
            if !matches!(hp.as_i64(), Some(0 | 1)) {
                return Err(fail(format!("{at}.hp"), ChainProblem::Hp));
            }
        }
        for name in ["rid", "name", "domain"] {
            if let Some(value) = node.get(name) {
                if !value.as_str().is_some_and(|v| printable(v, MAX_TEXT_BYTES)) {
                    return Err(fail(format!("{at}.{name}"), ChainProblem::Text));
                }
            }
        }
    }
    Ok(chain)
}

/// Whether the exchange's node alone, with no incoming chain, names every seller: the
/// registry knows the publisher, it owns the inventory, and the site or app is its own.
pub fn direct_sale_is_complete(registry: &Registry, request: &BidRequest) -> bool {
    let Some(publisher) = publishers::publisher_id(request).and_then(|id| registry.get(id)) else {
        return false;
    };
    matches!(
        publisher.seller_type,
        SellerType::Publisher | SellerType::Both
    ) && registry.source_registered(request)
}

/// The chain bidders get: the incoming nodes (when valid) and the exchange's own, `asi`
/// with the request's publisher as `sid` and `rid` = `request_id` (the id the bidders see).
pub fn outgoing(
    upstream: &Upstream<'_>,
    registry: &Registry,
    request: &BidRequest,
    asi: &str,
    request_id: &str,
) -> Outgoing {
    let sid = publishers::publisher_id(request)
        .filter(|id| printable(id, MAX_SID_BYTES))
        .unwrap_or("unknown");
    let mut own = Map::new();
    own.insert("asi".to_owned(), Json::from(asi));
    own.insert("sid".to_owned(), Json::from(sid));
    own.insert("rid".to_owned(), Json::from(request_id));
    own.insert("hp".to_owned(), Json::from(1));
    let (mut chain, complete, status, problem) = match upstream {
        Upstream::Valid(given) => {
            let complete = given.get("complete").and_then(Json::as_i64) == Some(1);
            let status = if complete {
                ChainStatus::Complete
            } else {
                ChainStatus::Incomplete
            };
            ((*given).clone(), complete, status, None)
        }
        Upstream::Absent => {
            let complete = direct_sale_is_complete(registry, request);
            let status = if complete {
                ChainStatus::Complete
            } else {
                ChainStatus::Incomplete
            };
            (Map::new(), complete, status, None)
        }
        Upstream::Invalid(error) => (Map::new(), false, ChainStatus::Invalid, Some(error.clone())),
    };
    let mut nodes = match chain.remove("nodes") {
        Some(Json::Array(nodes)) => nodes,
        _ => Vec::new(),
    };
    nodes.push(Json::Object(own));
    chain.insert("complete".to_owned(), Json::from(u8::from(complete)));
    chain.insert("nodes".to_owned(), Json::Array(nodes));
    chain.insert("ver".to_owned(), Json::from(VERSION));
    Outgoing {
        chain: Json::Object(chain),
        status,
        problem,
    }
}

fn printable(text: &str, max: usize) -> bool {
    (1..=max).contains(&text.len()) && !text.chars().any(char::is_control)
}

#[cfg(test)]
mod tests;
