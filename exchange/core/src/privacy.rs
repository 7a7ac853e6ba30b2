//! Privacy: the request's consent and regulation signals, read once ([`consent`]), what
//! each party may do with its user ([`activities`]: consent first, then the operator's
//! rules), and the outgoing request cut to a bidder's permissions ([`scrub`]).
//!
//! The endpoint reads a [`Privacy`] once per request; the exchange's own permissions decide
//! its user key (frequency caps, its cookie) and whether LTV and interests are read, and
//! each bidder's decide whether it is called and what it gets.

pub mod activities;
pub mod consent;
pub mod dp;
pub mod scrub;
pub mod tc_string;

pub use activities::{permissions, Activity, Party, Permissions, Rule, Rules};
pub use consent::{Consent, Tcf};

use bidder_sdk::openrtb::BidRequest;

/// How the exchange reads privacy signals (`[privacy]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrivacySettings {
    /// Whether GDPR applies when a request does not say (`regs.gdpr` absent).
    pub gdpr_default: bool,
    /// The exchange's own TCF vendor id (none: its purposes are checked without a vendor).
    pub vendor_id: Option<u16>,
    /// Never use user data for the exchange's own campaigns (`context.contextual_only`).
    pub contextual_only: bool,
    /// The operator's activity rules.
    pub rules: Rules,
}

/// One request's privacy: its signals and the exchange's own permissions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Privacy {
    /// What the request said.
    pub consent: Consent,
    /// What the exchange itself may do.
    pub own: Permissions,
}

/// The party name rules use for the exchange's own campaigns.
pub const EXCHANGE_PARTY: &str = "exchange";

impl Privacy {
    /// Reads `request` once.
    pub fn read(request: &BidRequest, settings: &PrivacySettings) -> Self {
        let consent = Consent::read(request, settings.gdpr_default);
        let mut own = permissions(&consent, Party::Exchange(settings.vendor_id));
        if settings.contextual_only {
            own.deny(Activity::UseUserData, "context.contextual_only");
            own.deny(Activity::StableId, "context.contextual_only");
        }
        if request.device.as_ref().and_then(|d| d.dnt) == Some(1) {
            own.deny(Activity::StableId, "device.dnt");
        }
        apply_rules(&settings.rules, &mut own, EXCHANGE_PARTY, request);
        Self { consent, own }
    }

    /// What bidder `name` (TCF vendor `vendor`) may do on `request` (the one read).
    pub fn bidder(
        &self,
        request: &BidRequest,
        name: &str,
        vendor: Option<u16>,
        rules: &Rules,
    ) -> Permissions {
        let mut p = permissions(&self.consent, Party::Bidder(name, vendor));
        apply_rules(rules, &mut p, name, request);
        p
    }
}

/// `rules` for `party` on `request` (its publisher and GPP sections in force).
fn apply_rules(rules: &Rules, permissions: &mut Permissions, party: &str, request: &BidRequest) {
    if rules.rules.is_empty() {
        return;
    }
    let publisher = crate::publishers::publisher_id(request);
    let gpp_sids = request
        .regs
        .as_ref()
        .map_or(&[][..], |r| r.gpp_sid.as_slice());
    rules.apply(permissions, party, publisher, gpp_sids);
}

#[cfg(test)]
mod tests;
