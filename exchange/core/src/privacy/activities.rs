//! What each party may do with the request's user, as Prebid's activity controls name it:
//! consent and regulation decide first ([`permissions`]), then the operator's rules
//! ([`Rules`], per bidder and per publisher) may only take more away.
//!
//! | activity | TCF (GDPR applies) | US opt-out | COPPA |
//! | --- | --- | --- | --- |
//! | `fetchBids` (a bidder is called) | purpose 2 (consent or LI) | allowed | allowed |
//! | `transmitUfpd` (user and device ids, segments, keywords) | purposes 1, 3, 4 | denied | denied |
//! | `transmitEids` (`user.eids`) | purposes 1, 3, 4 | denied | denied |
//! | `transmitPreciseGeo` (lat/lon, full IP) | special feature 1 | denied | denied |
//! | `useUserData` (the exchange's LTV, interests) | purposes 3, 4 | denied | denied |
//! | `stableId` (the exchange's user key: caps, uid cookie) | purposes 1, 7 | allowed | denied |
//!
//! Each purpose is checked for the party's TCF vendor id (a bidder's `tcf_vendor_id`, the
//! exchange's `[privacy] vendor_id`); a bidder without one may not be called under GDPR.
//! Without a TC string under GDPR every purpose is refused.

use super::consent::Consent;

/// Something a party may or may not do with the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activity {
    /// Call the bidder at all.
    FetchBids,
    /// Send user first-party data: user and device ids, segments, keywords, year of birth.
    TransmitUfpd,
    /// Send extended ids (`user.eids`).
    TransmitEids,
    /// Send precise geolocation and the full IP address.
    TransmitPreciseGeo,
    /// The exchange's own use of the user's data (purchase history, interests).
    UseUserData,
    /// The exchange keeps a stable id for the user (frequency caps, its cookie).
    StableId,
}

impl Activity {
    /// Every activity, in label order.
    pub const ALL: [Activity; 6] = [
        Self::FetchBids,
        Self::TransmitUfpd,
        Self::TransmitEids,
        Self::TransmitPreciseGeo,
        Self::UseUserData,
        Self::StableId,
    ];

    /// Stable label (config, debug view), Prebid's where Prebid has one.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FetchBids => "fetchBids",
            Self::TransmitUfpd => "transmitUfpd",
            Self::TransmitEids => "transmitEids",
            Self::TransmitPreciseGeo => "transmitPreciseGeo",
            Self::UseUserData => "useUserData",
            Self::StableId => "stableId",
        }
    }

    /// The activity a label names.
    pub fn parse(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == label)
    }
}

/// What one party may do: every activity allowed unless denied, with the first reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permissions {
    denied: [Option<&'static str>; Activity::ALL.len()],
}

impl Default for Permissions {
    fn default() -> Self {
        Self::all()
    }
}

impl Permissions {
    /// Everything allowed.
    pub const fn all() -> Self {
        Self {
            denied: [None; Activity::ALL.len()],
        }
    }

    /// Whether `activity` is allowed.
    pub fn allows(&self, activity: Activity) -> bool {
        self.denied[activity as usize].is_none()
    }

    /// Why `activity` is denied, if it is.
    pub fn reason(&self, activity: Activity) -> Option<&'static str> {
        self.denied[activity as usize]
    }

    /// Denies `activity` for `why`, unless it is already denied (the first reason stays).
    pub fn deny(&mut self, activity: Activity, why: &'static str) {
        let slot = &mut self.denied[activity as usize];
        if slot.is_none() {
            *slot = Some(why);
        }
    }

    /// Each denied activity with its reason.
    pub fn denials(&self) -> impl Iterator<Item = (Activity, &'static str)> + '_ {
        Activity::ALL
            .into_iter()
            .filter_map(|a| self.reason(a).map(|why| (a, why)))
    }
}

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party<'a> {
    /// The exchange itself (its campaigns), with its TCF vendor id, if it has one.
    Exchange(Option<u16>),
    /// A bidder, by name, with its TCF vendor id, if configured.
    Bidder(&'a str, Option<u16>),
}

/// What consent and regulation let `party` do.
pub fn permissions(consent: &Consent, party: Party<'_>) -> Permissions {
    let mut p = Permissions::all();
    let user_activities = [
        Activity::TransmitUfpd,
        Activity::TransmitEids,
        Activity::TransmitPreciseGeo,
        Activity::UseUserData,
    ];
    if consent.coppa {
        for activity in user_activities {
            p.deny(activity, "coppa");
        }
        p.deny(Activity::StableId, "coppa");
    }
    if consent.gdpr {
        let vendor = match party {
            Party::Exchange(vendor) => vendor,
            Party::Bidder(_, Some(vendor)) => Some(vendor),
            Party::Bidder(_, None) => {
                p.deny(Activity::FetchBids, "gdpr: the bidder has no tcf_vendor_id");
                for activity in user_activities {
                    p.deny(activity, "gdpr: the bidder has no tcf_vendor_id");
                }
                return p;
            }
        };
        match &consent.tcf {
            None => {
                for activity in Activity::ALL {
                    if activity != Activity::FetchBids || matches!(party, Party::Bidder(..)) {
                        p.deny(activity, "gdpr: no valid TC string");
                    }
                }
            }
            Some(tcf) => {
                let purpose = |n| tcf.purpose(n, vendor);
                if !purpose(2) {
                    p.deny(
                        Activity::FetchBids,
                        "tcf: purpose 2 (basic ads) not allowed",
                    );
                }
                let (one, three, four) = (purpose(1), purpose(3), purpose(4));
                for activity in [Activity::TransmitUfpd, Activity::TransmitEids] {
                    if !one {
                        p.deny(activity, "tcf: purpose 1 (store and access) not allowed");
                    } else if !three || !four {
                        p.deny(
                            activity,
                            "tcf: purposes 3 and 4 (personalised ads) not allowed",
                        );
                    }
                }
                if !three || !four {
                    p.deny(
                        Activity::UseUserData,
                        "tcf: purposes 3 and 4 (personalised ads) not allowed",
                    );
                }
                if !tcf.special_feature(1, vendor) {
                    p.deny(
                        Activity::TransmitPreciseGeo,
                        "tcf: special feature 1 (precise geolocation) not opted in",
                    );
                }
                if !one {
                    p.deny(
                        Activity::StableId,
                        "tcf: purpose 1 (store and access) not allowed",
                    );
                } else if !purpose(7) {
                    p.deny(
                        Activity::StableId,
                        "tcf: purpose 7 (measurement) not allowed",
                    );
                }
            }
        }
    }
    if consent.us_opt_out {
        for activity in user_activities {
            p.deny(
                activity,
                "us: opted out of sale, sharing or targeted advertising",
            );
        }
    }
    p
}

/// One operator rule: when its conditions hold, it denies its activity (rules can only
/// take permissions away; consent and regulation are never overridden).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The activity it denies (`None`: every activity).
    pub activity: Option<Activity>,
    /// Parties it applies to, by name (`exchange` for the exchange's own campaigns); empty:
    /// every party.
    pub parties: Vec<String>,
    /// Publishers (`site/app.publisher.id`) it applies to; empty: every publisher.
    pub publishers: Vec<String>,
    /// GPP sections whose presence in `regs.gpp_sid` it needs; empty: any request.
    pub gpp_sids: Vec<i32>,
    /// Its label in reasons (`rules[3]`).
    pub label: &'static str,
}

/// The operator's rules, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    /// The rules.
    pub rules: Vec<Rule>,
}

impl Rules {
    /// Applies every matching rule to `permissions` for `party` on a request from
    /// `publisher` with `gpp_sids` in force.
    pub fn apply(
        &self,
        permissions: &mut Permissions,
        party: &str,
        publisher: Option<&str>,
        gpp_sids: &[i32],
    ) {
        for rule in &self.rules {
            let party_matches = rule.parties.is_empty() || rule.parties.iter().any(|p| p == party);
            let publisher_matches = rule.publishers.is_empty()
                || publisher.is_some_and(|id| rule.publishers.iter().any(|p| p == id));
            let sid_matches =
                rule.gpp_sids.is_empty() || rule.gpp_sids.iter().any(|s| gpp_sids.contains(s));
            if !(party_matches && publisher_matches && sid_matches) {
                continue;
            }
            match rule.activity {
                Some(activity) => permissions.deny(activity, rule.label),
                None => Activity::ALL
                    .into_iter()
                    .for_each(|a| permissions.deny(a, rule.label)),
            }
        }
    }
}
