//! `[supply_chain]`: the exchange's node in every supply chain it forwards, what it does
//! with invalid or incomplete chains, and the contact fields of its `sellers.json`.

use crate::supply_chain::is_domain;
use serde::Deserialize;
use std::path::PathBuf;

/// What to do with a request whose own `schain` breaks the specification.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidChain {
    /// Forward only the exchange's node, marked incomplete (the request is answered).
    #[default]
    Replace,
    /// Answer 400 naming the field.
    Refuse,
}

/// What to do when the chain bidders would get is incomplete.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncompleteChain {
    /// Send it with `complete: 0` (the mark the specification defines), counted.
    #[default]
    Mark,
    /// Answer with no bid (204; a Prebid call gets an empty 200).
    Refuse,
}

/// What to do with a request its domain's ads.txt (or app-ads.txt) does not authorise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unauthorised {
    /// Answer it, marked: counted, `bid.ext.ads_txt_unauthorised`, the debug view.
    #[default]
    Mark,
    /// Answer with no bid (204; a Prebid call gets an empty 200) and call no bidder.
    Refuse,
}

/// A `sellers.json` identifier.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identifier {
    /// e.g. `TAG-ID` or `DUNS`.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// The supply chain and `sellers.json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupplyChainConfig {
    /// The exchange's advertising-system domain: `asi` of its node, and where its
    /// `sellers.json` is served. Empty: chains are forwarded as the request gave them,
    /// without a node of the exchange's and unchecked.
    pub asi: String,
    /// A request's invalid chain: `replace` or `refuse`.
    pub invalid: InvalidChain,
    /// An incomplete outgoing chain: `mark` or `refuse`.
    pub incomplete: IncompleteChain,
    /// Folder of `<domain>.ads.txt` and `<domain>.app-ads.txt` files (fetched by the
    /// operator; the exchange never crawls), relative to the config file, re-read with
    /// every reload. Empty: no request-time check.
    pub ads_txt_dir: PathBuf,
    /// A request its domain's file does not authorise: `mark` or `refuse`.
    pub unauthorised: Unauthorised,
    /// `sellers.json` `contact_email`.
    pub contact_email: String,
    /// `sellers.json` `contact_address`.
    pub contact_address: String,
    /// `sellers.json` `identifiers`.
    pub identifiers: Vec<Identifier>,
}

impl SupplyChainConfig {
    /// Whether the exchange adds its node (an `asi` is configured).
    pub fn enabled(&self) -> bool {
        !self.asi.is_empty()
    }

    /// Checks the domain and the bounded texts.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let invalid = |field: &str, message: &str| Err((field.to_owned(), message.to_owned()));
        if self.enabled() && !is_domain(&self.asi) {
            return invalid(
                "supply_chain.asi",
                "the exchange's domain in lower case, e.g. exchange.example",
            );
        }
        if self.asi.bytes().any(|b| b.is_ascii_uppercase()) {
            return invalid(
                "supply_chain.asi",
                "lower case, as ads.txt lines compare it",
            );
        }
        if !self.ads_txt_dir.as_os_str().is_empty() && !self.enabled() {
            return invalid(
                "supply_chain.ads_txt_dir",
                "needs supply_chain.asi: the domain ads.txt lines name the exchange by",
            );
        }
        let bounded = |text: &str| text.len() <= 256 && !text.chars().any(char::is_control);
        if !bounded(&self.contact_email) || !bounded(&self.contact_address) {
            return invalid(
                "supply_chain.contact_email",
                "contact fields are at most 256 printable bytes",
            );
        }
        if self.identifiers.len() > 16
            || self
                .identifiers
                .iter()
                .any(|i| i.name.is_empty() || !bounded(&i.name) || !bounded(&i.value))
        {
            return invalid(
                "supply_chain.identifiers",
                "at most 16, each with a name and printable texts of at most 256 bytes",
            );
        }
        Ok(())
    }

    /// The ads.txt folder and the `asi` its lines are read for (none: no check).
    pub fn ads_txt(&self) -> Option<(PathBuf, String)> {
        (!self.ads_txt_dir.as_os_str().is_empty())
            .then(|| (self.ads_txt_dir.clone(), self.asi.clone()))
    }

    /// The `sellers.json` contact fields.
    pub fn contact(&self) -> crate::publishers::sellers::Contact {
        let text = |t: &str| (!t.is_empty()).then(|| t.to_owned());
        crate::publishers::sellers::Contact {
            email: text(&self.contact_email),
            address: text(&self.contact_address),
            identifiers: self
                .identifiers
                .iter()
                .map(|i| (i.name.clone(), i.value.clone()))
                .collect(),
        }
    }
}
